//! The plain arithmetics of the rule ([`super::rule`]): [`F32`], the CPU engine's and the
//! specification the kernels match, and [`Partials`], the charge's derivatives for the
//! trainer's backward pass.

use super::rule::{Arith, Slot, Spiking};

/// The sign bit of an f32.
const SIGN: u32 = 0x8000_0000;

/// Plain f32 arithmetic: the CPU engine and the specification the kernels match.
#[derive(Clone, Copy, Debug, Default)]
pub struct F32;

impl Arith for F32 {
    type V = f32;
    type P = f32;
    #[inline(always)]
    fn param(&self, _: Slot, value: f32) -> f32 {
        value
    }
    #[inline(always)]
    fn add(&self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(&self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul_p(&self, a: f32, p: f32) -> f32 {
        a * p
    }
    #[inline(always)]
    fn div_p(&self, a: f32, p: f32) -> f32 {
        a / p
    }
    #[inline(always)]
    fn add_p(&self, a: f32, p: f32) -> f32 {
        a + p
    }
    #[inline(always)]
    fn sub_p(&self, a: f32, p: f32) -> f32 {
        a - p
    }
    #[inline(always)]
    fn rsub_p(&self, a: f32, p: f32) -> f32 {
        p - a
    }
}

impl Spiking for F32 {
    type S = bool;
    #[inline(always)]
    fn above(&self, h: f32, th: f32) -> bool {
        h - th > 0.0
    }
    #[inline(always)]
    fn at_least(&self, h: f32, th: f32) -> bool {
        h >= th
    }
    #[inline(always)]
    fn never(&self, _: f32) -> bool {
        false
    }
    #[inline(always)]
    fn subtract(&self, h: f32, s: bool, th: f32) -> f32 {
        if s { h - th } else { h }
    }
    #[inline(always)]
    fn set(&self, h: f32, s: bool, v_r: f32) -> f32 {
        if s { v_r } else { h }
    }
    #[inline(always)]
    fn relu(&self, v: f32) -> f32 {
        if v > 0.0 { v } else { 0.0 }
    }
    #[inline(always)]
    fn count(&self, h: f32, th: f32) -> f32 {
        if h > 0.0 { (h / th).trunc() } else { f32::from_bits(h.to_bits() & SIGN) }
    }
    #[inline(always)]
    fn settle(&self, m: f32, s: bool, p: bool, th: f32) -> f32 {
        match (s, p) {
            (true, false) => m - th,
            (false, true) => m + th,
            _ => m,
        }
    }
}

/// Tangents `[∂/∂V, ∂/∂X]` of a value (forward-mode differentiation; parameters are constants).
#[derive(Clone, Copy, Debug, Default)]
pub struct Partials;

impl Arith for Partials {
    type V = [f32; 2];
    type P = f32;
    fn param(&self, _: Slot, value: f32) -> f32 {
        value
    }
    fn add(&self, a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
        [a[0] + b[0], a[1] + b[1]]
    }
    fn sub(&self, a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
        [a[0] - b[0], a[1] - b[1]]
    }
    fn mul_p(&self, a: [f32; 2], p: f32) -> [f32; 2] {
        [a[0] * p, a[1] * p]
    }
    fn div_p(&self, a: [f32; 2], p: f32) -> [f32; 2] {
        [a[0] / p, a[1] / p]
    }
    fn add_p(&self, a: [f32; 2], _: f32) -> [f32; 2] {
        a
    }
    fn sub_p(&self, a: [f32; 2], _: f32) -> [f32; 2] {
        a
    }
    fn rsub_p(&self, a: [f32; 2], _: f32) -> [f32; 2] {
        [-a[0], -a[1]]
    }
}

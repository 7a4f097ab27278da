//! The neuron layer on Flex (burn's CPU backend) on plain f32 slices instead of a dozen burn
//! tensor ops (and their allocations) per timestep: the forward is the CPU engine's
//! [`neuron_step`] (the rule specialised per kind, vectorised), timestep by timestep over chunks
//! of neurons in parallel; the backward recomputes the membrane trace with the engine's
//! [`neuron_recharge`] and runs the BPTT of [`super::bptt`] (same equations, same operation
//! order) with the surrogate and the reset rule chosen once per call, not per neuron.

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::TensorMetadata;
use rayon::prelude::*;

use super::{NeuronSpec, Surrogate, atan_derivative, sigmoid_derivative, triangle_derivative};
use crate::engine::cpu::kernels::{neuron_recharge, neuron_step};
use crate::model::neuron::Reset;
use crate::train::flex::{f32_values, tensor, zeroed};

/// Neurons per task.
const CHUNK: usize = 4096;

/// Spikes (or a readout's membrane) `[T, B, N]` of `x` `[T, B, N]` from `v0` `[B, N]`; `None`
/// where the tensors are not f32.
pub(crate) fn forward(spec: &NeuronSpec, x: &FlexTensor, v0: &FlexTensor) -> Option<FlexTensor> {
    let shape = x.shape();
    let (t_len, m) = (shape[0], shape[1] * shape[2]);
    let xs = f32_values(x)?;
    let mut mem = f32_values(v0)?.into_owned();
    let mut out: Vec<f32> = Vec::with_capacity(t_len * m);
    for (x_t, out_t) in xs.chunks_exact(m).zip(out.spare_capacity_mut()[..t_len * m].chunks_exact_mut(m)) {
        mem.par_chunks_mut(CHUNK).zip(x_t.par_chunks(CHUNK)).zip(out_t.par_chunks_mut(CHUNK)).for_each(|((mem, x), out)| {
            neuron_step(&spec.kind, mem, x, zeroed(out));
        });
    }
    // SAFETY: every timestep's `m` values were written (each chunk zeroed, then stepped).
    unsafe { out.set_len(t_len * m) };
    Some(tensor(out, [shape[0], shape[1], shape[2]]))
}

/// `(dL/dX [T, B, N], dL/dV0 [B, N])` from `dL/dS` (`grad`), as [`super::bptt::backward`];
/// `None` where the tensors are not f32.
pub(crate) fn backward(spec: &NeuronSpec, x: &FlexTensor, v0: &FlexTensor, spikes: &FlexTensor, grad: &FlexTensor) -> Option<(FlexTensor, FlexTensor)> {
    let shape = x.shape();
    let (t_len, m) = (shape[0], shape[1] * shape[2]);
    let (xs, ss, gs) = (f32_values(x)?, f32_values(spikes)?, f32_values(grad)?);
    let mut mem = f32_values(v0)?.into_owned();
    // The membrane before each reset, `[T, M]`.
    let mut h: Vec<f32> = Vec::with_capacity(t_len * m);
    for t in 0..t_len {
        let row = t * m..(t + 1) * m;
        let (x_t, s_t) = (&xs[row.clone()], &ss[row.clone()]);
        mem.par_chunks_mut(CHUNK).zip(h.spare_capacity_mut()[row].par_chunks_mut(CHUNK)).enumerate().for_each(|(c, (mem, h))| {
            let j = c * CHUNK..c * CHUNK + mem.len();
            neuron_recharge(&spec.kind, mem, &x_t[j.clone()], &s_t[j], zeroed(h));
        });
    }
    // SAFETY: every timestep's `m` values were written (each chunk zeroed, then recharged).
    unsafe { h.set_len(t_len * m) };
    let th = spec.v_th();
    let step = Step { spec, m, h: &h, s: &ss, g: &gs };
    // Written timestep by timestep below (every value once), so not zeroed first.
    let mut gx: Vec<f32> = Vec::with_capacity(t_len * m);
    let mut gv = vec![0.0f32; m];
    for t in (0..t_len).rev() {
        let gx_t = &mut gx.spare_capacity_mut()[t * m..(t + 1) * m];
        if !spec.kind.spikes() {
            step.run(t, gx_t, &mut gv, |_| 0.0, |gv, _, _, _| gv, true);
            continue;
        }
        match spec.surrogate {
            Surrogate::Triangle { gamma } => step.resets(t, gx_t, &mut gv, |u| triangle_derivative(gamma, u), th),
            Surrogate::Sigmoid { alpha } => step.resets(t, gx_t, &mut gv, |u| sigmoid_derivative(alpha, u), th),
            Surrogate::Atan { alpha } => step.resets(t, gx_t, &mut gv, |u| atan_derivative(alpha, u), th),
        }
    }
    // SAFETY: every timestep's `m` values were written (`Step::run` writes each once).
    unsafe { gx.set_len(t_len * m) };
    Some((tensor(gx, [shape[0], shape[1], shape[2]]), tensor(gv, [shape[1], shape[2]])))
}

/// One backward timestep's inputs: the trace `h`, the spikes `s` and `dL/dS` `g`, all `[T, M]`.
struct Step<'a> {
    spec: &'a NeuronSpec,
    m: usize,
    h: &'a [f32],
    s: &'a [f32],
    g: &'a [f32],
}

impl Step<'_> {
    /// [`Step::run`] with the reset's `∂V_t/∂H_t` term of the rule (see [`super::bptt`]).
    #[inline(always)]
    fn resets(&self, t: usize, gx: &mut [MaybeUninit<f32>], gv: &mut [f32], sg: impl Fn(f32) -> f32 + Sync, th: f32) {
        match (self.spec.rule().reset, self.spec.detach_reset) {
            (Reset::None, _) | (Reset::Soft | Reset::SoftSnntorch | Reset::SoftFloor, true) => self.run(t, gx, gv, sg, |gv, _, _, _| gv, false),
            (Reset::Soft | Reset::SoftSnntorch | Reset::SoftFloor, false) => self.run(t, gx, gv, sg, |gv, sg, _, _| gv * (-(sg * th) + 1.0), false),
            (Reset::Hard(_), true) => self.run(t, gx, gv, sg, |gv, _, s, _| gv * (-s + 1.0), false),
            (Reset::Hard(vr), false) => self.run(t, gx, gv, sg, |gv, sg, s, h| gv * ((-s + 1.0) + (-h + vr) * sg), false),
        }
    }

    /// Timestep `t`: `gH = gS·σ'(H − θ) + carry(gV, σ', S, H)` (a readout: `gS + gV`), then
    /// `gX_t = cx·gH`, `gV = cv·gH`; chunks of neurons in parallel.
    #[inline(always)]
    fn run(&self, t: usize, gx: &mut [MaybeUninit<f32>], gv: &mut [f32], sg: impl Fn(f32) -> f32 + Sync, carry: impl Fn(f32, f32, f32, f32) -> f32 + Sync, readout: bool) {
        let (cv, cx) = self.spec.charge_partials();
        let th = self.spec.v_th();
        let row = t * self.m;
        gx.par_chunks_mut(CHUNK).zip(gv.par_chunks_mut(CHUNK)).enumerate().for_each(|(c, (gx, gv))| {
            let j = row + c * CHUNK..row + c * CHUNK + gx.len();
            let lanes = Lanes { h: &self.h[j.clone()], s: &self.s[j.clone()], g: &self.g[j], gx, gv };
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was detected.
                return unsafe { lanes.run_avx2(&sg, &carry, [cx, cv, th], readout) };
            }
            lanes.run(&sg, &carry, [cx, cv, th], readout);
        });
    }
}

/// One chunk of neurons of one backward timestep: the trace, spikes and `dL/dS` in, `dL/dX`
/// out, `dL/dV` carried.
struct Lanes<'a> {
    h: &'a [f32],
    s: &'a [f32],
    g: &'a [f32],
    gx: &'a mut [MaybeUninit<f32>],
    gv: &'a mut [f32],
}

impl Lanes<'_> {
    /// [`Lanes::run`] built with AVX2 (the same operations per neuron: the same result).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(self, sg: &impl Fn(f32) -> f32, carry: &impl Fn(f32, f32, f32, f32) -> f32, partials: [f32; 3], readout: bool) {
        self.run(sg, carry, partials, readout)
    }

    /// The update of [`Step::run`] per neuron, written as one zipped pass so it vectorises.
    #[inline(always)]
    fn run(self, sg: &impl Fn(f32) -> f32, carry: &impl Fn(f32, f32, f32, f32) -> f32, [cx, cv, th]: [f32; 3], readout: bool) {
        let inputs = self.h.iter().zip(self.s).zip(self.g);
        for ((gx, gv), ((&h, &s), &g)) in self.gx.iter_mut().zip(self.gv.iter_mut()).zip(inputs) {
            let gh = if readout {
                g + *gv
            } else {
                let d = sg(h - th);
                g * d + carry(*gv, d, s, h)
            };
            gx.write(if cx == 1.0 { gh } else { gh * cx });
            *gv = if cv == 1.0 { gh } else { gh * cv };
        }
    }
}

//! The general sparse convolution of [`super::conv`]: any input values and channel counts (event
//! counts in a first layer, spikes in layers whose width is no multiple of 8). Binary spikes with
//! a multiple of 8 channels take [`super::conv_spikes`] instead, which keeps its weights in L1.
//!
//! The non-zero channels of every input pixel are listed once per sample ([`Nonzeros`]); each
//! output pixel of a block then adds the `nb`-wide weight row of every listed channel under every
//! tap (times the value unless every value is 1), in registers, and is stored once with the TEBN
//! scale applied. Rows come from wherever the block's weights are (L2 for wide layers).
//! 16-bit weights ([`super::precision`]) are widened per row (scalar conversions: this kernel
//! runs first layers and narrow ones, a small share of a network's work).

use super::conv::{Geometry, Task};
use super::precision::{Weight, dispatch};

/// The non-zero channels of every pixel of one sample (compressed rows).
#[derive(Default)]
pub struct Nonzeros {
    /// `start[p]..start[p + 1]` indexes the entries of pixel p.
    start: Vec<u32>,
    /// The entry's weight row within a tap of a block ([`super::conv::PackedConv::row`] of tap 0, times `nb`).
    offset: Vec<u32>,
    value: Vec<f32>,
    /// Every non-zero value is exactly 1 (spikes): no multiplications needed.
    binary: bool,
    /// The geometry the offsets were made for: channels, channels per weight chunk, taps, block width.
    layout: (usize, usize, usize, usize),
}

impl Nonzeros {
    /// Lists the non-zeros of `sample` (`[H·W, ci]`) for the weights of `g`.
    pub fn fill(&mut self, sample: &[f32], g: &Geometry) {
        let (ci, cw, kk, nb) = (g.ci(), g.cw(), g.k() * g.k(), g.nb());
        let (start, offset, value) = (&mut self.start, &mut self.offset, &mut self.value);
        start.clear();
        offset.clear();
        value.clear();
        start.push(0);
        let mut binary = true;
        // Each channel's row under tap 0, computed once rather than per value. (A branch-free
        // compaction, every value written and the slot advanced past non-zeros only, measured
        // slower: sew_resnet18's layer1.0.conv1 1.06–1.09 → 1.17–1.21 ms, 2026-12-07.)
        let offsets: Vec<u32> = (0..ci).map(|c| (((c / cw) * kk * cw + c % cw) * nb) as u32).collect();
        for px in sample.chunks_exact(ci) {
            for (&v, &o) in px.iter().zip(&offsets) {
                if v != 0.0 {
                    offset.push(o);
                    value.push(v);
                    binary &= v == 1.0;
                }
            }
            start.push(offset.len() as u32);
        }
        (self.binary, self.layout) = (binary, (ci, cw, kk, nb));
    }
}

/// Output pixels `t.pixels` of blocks `t.blocks` by the general sparse kernel.
pub fn task(t: &Task, nz: &Nonzeros, g: &Geometry) {
    assert!(nz.layout == (g.ci(), g.cw(), g.k() * g.k(), g.nb()) && nz.start.len() == g.si.h * g.si.w + 1);
    assert!(t.blocks.end <= g.p.blocks());
    #[cfg(target_arch = "x86_64")]
    if g.simd {
        // SAFETY: `g.simd` is only set where AVX2 and FMA were detected.
        return unsafe { dispatch!(g.stored(), task_avx2(t, nz, g)) };
    }
    dispatch!(g.stored(), task_generic(t, nz, g))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn task_avx2<W: Weight>(t: &Task, nz: &Nonzeros, g: &Geometry) {
    task_generic::<W>(t, nz, g)
}

#[inline(always)]
fn task_generic<W: Weight>(t: &Task, nz: &Nonzeros, g: &Geometry) {
    match (g.nb(), nz.binary) {
        (64, true) => blocks::<64, true, W>(t, nz, g),
        (64, false) => blocks::<64, false, W>(t, nz, g),
        (32, true) => blocks::<32, true, W>(t, nz, g),
        (32, false) => blocks::<32, false, W>(t, nz, g),
        (16, true) => blocks::<16, true, W>(t, nz, g),
        (16, false) => blocks::<16, false, W>(t, nz, g),
        (_, true) => blocks::<8, true, W>(t, nz, g),
        (_, false) => blocks::<8, false, W>(t, nz, g),
    }
}

#[inline(always)]
fn blocks<const N: usize, const BINARY: bool, W: Weight>(t: &Task, nz: &Nonzeros, g: &Geometry) {
    let (si, so, k, co) = (g.si, g.so, g.k(), g.co());
    assert_eq!(N, g.nb());
    // Every pixel's taps whose input pixel has non-zeros, found once for all blocks:
    // (input pixel, tap index), pixel i's at taps[first[i]..first[i + 1]].
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(t.pixels.len() * k * k);
    let mut first = Vec::with_capacity(t.pixels.len() + 1);
    for p in t.pixels.clone() {
        first.push(taps.len());
        let (oy, ox) = (p / so.w, p % so.w);
        for ky in 0..k {
            let Some(iy) = (oy * g.stride() + ky).checked_sub(g.pad()).filter(|&y| y < si.h) else { continue };
            for kx in 0..k {
                let Some(ix) = (ox * g.stride() + kx).checked_sub(g.pad()).filter(|&x| x < si.w) else { continue };
                let q = iy * si.w + ix;
                if nz.start[q + 1] > nz.start[q] {
                    taps.push((q, ky * k + kx));
                }
            }
        }
    }
    first.push(taps.len());
    for blk in t.blocks.clone() {
        let (w, bias) = g.block::<W>(blk);
        let bias: &[f32; N] = bias.first_chunk().expect("bias block of N lanes");
        let c0 = blk * N;
        let lanes = N.min(co - c0);
        for (i, p) in t.pixels.clone().enumerate() {
            let acc = gather::<N, BINARY, W>(&taps[first[i]..first[i + 1]], g.cw() * N, nz, w, bias).map(|a| a * g.scale);
            t.store_lanes(co, p, c0, &acc, lanes);
        }
    }
}

/// `bias + Σ` over the taps `(input pixel, tap index)` and the listed channels of each tap's
/// pixel of the `N`-wide weight rows (times the input value unless `BINARY`); a tap's rows start
/// at `tap · tap_len` from the entry's offset.
#[inline(always)]
fn gather<const N: usize, const BINARY: bool, W: Weight>(taps: &[(usize, usize)], tap_len: usize, nz: &Nonzeros, w: &[W], bias: &[f32; N]) -> [f32; N] {
    let mut acc = *bias;
    for &(pixel, tap) in taps {
        let base = tap * tap_len;
        let (from, to) = (nz.start[pixel] as usize, nz.start[pixel + 1] as usize);
        let (offsets, values) = (&nz.offset[from..to], &nz.value[from..to]);
        for (&o, &v) in offsets.iter().zip(values) {
            let at = base + o as usize;
            debug_assert!(at + N <= w.len());
            // SAFETY: every offset is a row of tap 0 (below `cw · nb` into its chunk of
            // `k² · cw · nb` floats) and every tap base below `k² · cw · nb`, for this geometry
            // (checked in `task`), so the row lies inside the block `w`.
            let row = unsafe { &*(w.as_ptr().add(at) as *const [W; N]) };
            if BINARY {
                for i in 0..N {
                    acc[i] += row[i].widen();
                }
            } else {
                for i in 0..N {
                    acc[i] += v * row[i].widen();
                }
            }
        }
    }
    acc
}

//! The CPU backend's fast convolution: the same equation as [`super::kernels::conv_scatter`]
//! (the specification, kept for tests), organised for the cache and the vector units.
//!
//! Weights are packed once per layer in blocks of `nb` (64) output channels,
//! `[block][tap][in][nb]`. Each timestep the input's density picks the kernel:
//! - **Winograd** F(2×2, 3×3) ([`super::winograd`]) for 3×3 stride-1 layers where it beats the
//!   sparse kernel ([`winograd_pays`]): average-pooled spikes always, spikes in wide layers;
//! - **sparse** (spikes elsewhere; any input with few non-zeros): the non-zero channels of every
//!   input pixel are listed once; each output pixel of a block then adds the `nb`-wide weight row
//!   of every listed channel under every tap (binary input: adds only), in registers, and is
//!   stored once with the TEBN scale applied;
//! - **dense** (other geometries with ≥ 40 % non-zero inputs): a register-blocked direct
//!   convolution over a zero-padded copy of the input, 6 output pixels × 16 channels per FMA tile
//!   ([`super::conv_dense`]).
//!
//! Work is split into (sample, pixel chunk, block group) tasks so small late layers still use
//! every thread and read each weight block once.
//! With dyadic weights every sum and product is exact, so all kernels equal the specification
//! bit for bit; otherwise they differ from it only in summation order (and fused multiply-adds,
//! which round once where the specification rounds twice). The large buffers (nonzero lists,
//! padded inputs, Winograd panels) live in [`ConvScratch`] and are reused; per step only a few
//! small per-task index vectors are allocated.

use std::ops::Range;

use rayon::prelude::*;

use super::conv_dense;
use super::winograd::{self, Winograd, WinogradScratch};
use crate::model::graph::{Conv, Shape};

/// Inputs with more than this fraction of non-zero values take the dense kernel.
const DENSE_ABOVE: f32 = 0.4;

/// One conv layer's weights in the kernels' layout.
pub struct PackedConv {
    ci: usize,
    co: usize,
    k: usize,
    stride: usize,
    pad: usize,
    /// Output channels per block: 8, 16, 32 or 64.
    nb: usize,
    blocks: usize,
    /// `[blocks][k·k][ci][nb]`, zero past `co`.
    weight: Vec<f32>,
    /// `[blocks·nb]`, zero past `co`.
    bias: Vec<f32>,
    /// The same weights for the Winograd kernel, where it applies.
    winograd: Option<Winograd>,
}

impl PackedConv {
    /// Packs PyTorch `[out, in, k, k]` weights.
    pub fn new(c: &Conv) -> Self {
        let (ci, co, k) = (c.in_ch, c.out_ch, c.kernel);
        let kk = k * k;
        // 64 lanes (eight AVX2 registers) unless the layer is narrower.
        let nb = [64, 32, 16, 8].into_iter().find(|&nb| nb / 2 < co.div_ceil(8) * 8).unwrap_or(8);
        let blocks = co.div_ceil(nb);
        let mut weight = vec![0.0; blocks * kk * ci * nb];
        for o in 0..co {
            let (blk, lane) = (o / nb, o % nb);
            for i in 0..ci {
                for t in 0..kk {
                    weight[((blk * kk + t) * ci + i) * nb + lane] = c.weight[(o * ci + i) * kk + t];
                }
            }
        }
        let mut bias = vec![0.0; blocks * nb];
        bias[..co].copy_from_slice(&c.bias);
        Self { ci, co, k, stride: c.stride, pad: c.padding, nb, blocks, weight, bias, winograd: Winograd::new(c) }
    }

    fn block(&self, blk: usize) -> (&[f32], &[f32]) {
        let len = self.k * self.k * self.ci * self.nb;
        (&self.weight[blk * len..(blk + 1) * len], &self.bias[blk * self.nb..(blk + 1) * self.nb])
    }
}

/// Per-timestep working memory, reused across layers and steps.
#[derive(Default)]
pub struct ConvScratch {
    nonzeros: Vec<Nonzeros>,
    padded: Vec<Vec<f32>>,
    winograd: WinogradScratch,
}

/// `out[b] = scale[b] · conv(input[b])` for every sample `b` (see the module doc).
/// `input`: `[B, Hi, Wi, Ci]`; `out`: `[B, Ho, Wo, Co]`; `scale`: one factor per sample (1 = none).
pub fn conv(input: &[f32], out: &mut [f32], si: Shape, so: Shape, p: &PackedConv, scale: &[f32], scratch: &mut ConvScratch) {
    let batch = scale.len();
    let input = &input[..batch * si.len()];
    // One pass counts each sample's non-zeros (inputs are large next to this; read them once).
    let nonzeros: Vec<usize> = input.chunks_exact(si.len()).map(|x| x.iter().filter(|&&v| v != 0.0).count()).collect();
    if let Some(w) = &p.winograd
        && winograd_pays(nonzeros.iter().sum::<usize>() as f32 / input.len() as f32, si.c, so.c)
    {
        return winograd::conv(input, out, si, so, w, &p.bias[..p.co], scale, &mut scratch.winograd);
    }
    let dense_ok = conv_dense::available();
    scratch.nonzeros.resize_with(batch, Nonzeros::default);
    scratch.padded.resize_with(batch, Vec::new);
    let mut dense = vec![false; batch];
    for (b, x) in input.chunks_exact(si.len()).enumerate() {
        dense[b] = dense_ok && nonzeros[b] as f32 > DENSE_ABOVE * x.len() as f32;
        if dense[b] {
            pad_input(x, si, p.pad, &mut scratch.padded[b]);
        } else {
            scratch.nonzeros[b].fill(x, si.c, p.nb);
        }
    }
    let plane = so.h * so.w;
    // Tasks are (sample, pixel chunk, block group): chunks of up to 96 pixels (whole dense
    // tiles) so a block's weights are reused from cache, and enough block groups for about
    // eight tasks per sample, so small late layers still split and read each block once.
    let chunk = plane.min(96).div_ceil(conv_dense::MR) * conv_dense::MR;
    let chunks = plane.div_ceil(chunk);
    let groups = 8usize.div_ceil(chunks).min(p.blocks);
    let per_group = p.blocks.div_ceil(groups);
    let (nonzeros, padded) = (&scratch.nonzeros, &scratch.padded);
    assert!(out.len() >= batch * plane * so.c);
    let out = OutPlanes { ptr: out.as_mut_ptr(), len: batch * plane * so.c, plane: plane * so.c };
    (0..batch * chunks * groups).into_par_iter().for_each(|task| {
        let (b, n, grp) = (task / (chunks * groups), task / groups % chunks, task % groups);
        let t = Task {
            out: &out,
            sample: b,
            pixels: n * chunk..((n + 1) * chunk).min(plane),
            blocks: grp * per_group..((grp + 1) * per_group).min(p.blocks),
        };
        let g = Geometry { si, so, p, scale: scale[b] };
        if dense[b] {
            conv_dense::task(&t, &padded[b], &g);
        } else {
            sparse_task(&t, &nonzeros[b], &g);
        }
    });
}

/// The output of every sample, `[B, Ho·Wo·Co]`, written by concurrent tasks.
pub struct OutPlanes {
    ptr: *mut f32,
    len: usize,
    plane: usize,
}

// SAFETY: tasks write disjoint (sample, pixel range, block range) rectangles (see `conv`), and
// `conv` holds the `&mut` output slice for as long as they run.
unsafe impl Sync for OutPlanes {}

/// One task's share of the output: pixels × blocks of output channels of one sample.
pub struct Task<'a> {
    out: &'a OutPlanes,
    pub sample: usize,
    pub pixels: Range<usize>,
    pub blocks: Range<usize>,
}

impl Task<'_> {
    /// [`Task::store`] of a whole block (a fixed-size copy, no `memcpy` call).
    #[inline(always)]
    pub fn store_block<const N: usize>(&self, co: usize, pixel: usize, c0: usize, values: &[f32; N]) {
        debug_assert!(self.pixels.contains(&pixel));
        let at = self.sample * self.out.plane + pixel * co + c0;
        assert!(c0 + N <= co && at + N <= self.out.len);
        // SAFETY: in bounds (asserted); no other task writes these elements (see `OutPlanes`).
        unsafe { (self.out.ptr.add(at) as *mut [f32; N]).write_unaligned(*values) }
    }

    /// Writes `values` to channels `c0..` of output pixel `pixel`, which must lie in this
    /// task's pixels and blocks.
    pub fn store(&self, co: usize, pixel: usize, c0: usize, values: &[f32]) {
        debug_assert!(self.pixels.contains(&pixel));
        let at = self.sample * self.out.plane + pixel * co + c0;
        assert!(c0 + values.len() <= co && at + values.len() <= self.out.len);
        // SAFETY: in bounds (asserted); no other task writes these elements (see `OutPlanes`).
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.out.ptr.add(at), values.len()) }
    }
}

/// Whether the Winograd kernel beats the sparse one at this input density. Measured on the
/// 2-core Zen 4 of BENCHMARKS.md (vgg11_48_legacy and vgg11_dvs, per layer, one thread), per
/// output pixel: the sparse kernel adds about 11 weight lanes per ns (`density · 9 · ci · co` of
/// them), 18 where a 64-channel block's weights (`ci · 9 · 64` floats) fit in half the L2, the
/// Winograd product does about `42 · ci / (ci + 16)` multiply-adds per ns (`4 · ci · co`; short
/// sums pay more for the tile stores) and its transforms take about `1.8 · (ci + co)` ns. So spikes (10–25 % non-zero) take the sparse kernel in narrow
/// layers and Winograd in wide ones; average-pooled spikes (≥ 40 %) always Winograd.
fn winograd_pays(density: f32, ci: usize, co: usize) -> bool {
    let (ci, co) = (ci as f32, co as f32);
    let sparse_rate = if ci * 9.0 * 64.0 * 4.0 <= 512.0 * 1024.0 { 18.0 } else { 11.0 };
    let sparse_ns = density * 9.0 * ci * co / sparse_rate;
    let winograd_ns = 4.0 * ci * co / (42.0 * ci / (ci + 16.0)) + 1.8 * (ci + co);
    sparse_ns > winograd_ns
}

/// What a task needs besides its input and output.
pub struct Geometry<'a> {
    pub si: Shape,
    pub so: Shape,
    pub p: &'a PackedConv,
    pub scale: f32,
}

impl Geometry<'_> {
    pub fn nb(&self) -> usize {
        self.p.nb
    }
    pub fn co(&self) -> usize {
        self.p.co
    }
    pub fn ci(&self) -> usize {
        self.p.ci
    }
    pub fn k(&self) -> usize {
        self.p.k
    }
    pub fn stride(&self) -> usize {
        self.p.stride
    }
    pub fn block(&self, blk: usize) -> (&[f32], &[f32]) {
        self.p.block(blk)
    }
    /// Width of the zero-padded input.
    pub fn padded_w(&self) -> usize {
        self.si.w + 2 * self.p.pad
    }
}

/// `[Hi + 2p, Wi + 2p, Ci]`, zero around the sample.
fn pad_input(x: &[f32], si: Shape, pad: usize, dst: &mut Vec<f32>) {
    let (wp, c) = (si.w + 2 * pad, si.c);
    dst.clear();
    dst.resize((si.h + 2 * pad) * wp * c, 0.0);
    for (y, row) in x.chunks_exact(si.w * c).enumerate() {
        let at = ((y + pad) * wp + pad) * c;
        dst[at..at + row.len()].copy_from_slice(row);
    }
}

/// The non-zero channels of every pixel of one sample (compressed rows).
#[derive(Default)]
pub struct Nonzeros {
    /// `start[p]..start[p + 1]` indexes the entries of pixel p.
    start: Vec<u32>,
    /// Channel × `nb`: the entry's weight row within a tap of a block.
    offset: Vec<u32>,
    value: Vec<f32>,
    /// Every non-zero value is exactly 1 (spikes): no multiplications needed.
    binary: bool,
    /// The channel count and block width the offsets were made for.
    channels: usize,
    nb: usize,
}

impl Nonzeros {
    fn fill(&mut self, sample: &[f32], channels: usize, nb: usize) {
        let (start, offset, value) = (&mut self.start, &mut self.offset, &mut self.value);
        start.clear();
        offset.clear();
        value.clear();
        start.push(0);
        let mut binary = true;
        for px in sample.chunks_exact(channels) {
            for (c, &v) in px.iter().enumerate() {
                if v != 0.0 {
                    offset.push((c * nb) as u32);
                    value.push(v);
                    binary &= v == 1.0;
                }
            }
            start.push(offset.len() as u32);
        }
        (self.binary, self.channels, self.nb) = (binary, channels, nb);
    }
}

/// Output pixels `pixels` (`out`: `[pixels, Co]`) by the sparse kernel.
fn sparse_task(t: &Task, nz: &Nonzeros, g: &Geometry) {
    assert!(nz.channels == g.ci() && nz.nb == g.nb() && nz.start.len() == g.si.h * g.si.w + 1);
    #[cfg(target_arch = "x86_64")]
    if conv_dense::available() {
        // SAFETY: `available` checked that this CPU has AVX2 and FMA.
        return unsafe { sparse_task_avx2(t, nz, g) };
    }
    sparse_task_generic(t, nz, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sparse_task_avx2(t: &Task, nz: &Nonzeros, g: &Geometry) {
    sparse_task_generic(t, nz, g)
}

#[inline(always)]
fn sparse_task_generic(t: &Task, nz: &Nonzeros, g: &Geometry) {
    match (g.nb(), nz.binary) {
        (64, true) => sparse_blocks::<64, true>(t, nz, g),
        (64, false) => sparse_blocks::<64, false>(t, nz, g),
        (32, true) => sparse_blocks::<32, true>(t, nz, g),
        (32, false) => sparse_blocks::<32, false>(t, nz, g),
        (16, true) => sparse_blocks::<16, true>(t, nz, g),
        (16, false) => sparse_blocks::<16, false>(t, nz, g),
        (_, true) => sparse_blocks::<8, true>(t, nz, g),
        (_, false) => sparse_blocks::<8, false>(t, nz, g),
    }
}

#[inline(always)]
fn sparse_blocks<const N: usize, const BINARY: bool>(t: &Task, nz: &Nonzeros, g: &Geometry) {
    let (si, so, k, co, ci) = (g.si, g.so, g.k(), g.co(), g.ci());
    assert_eq!(N, g.nb());
    // Every pixel's taps whose input pixel has non-zeros, found once for all blocks:
    // (input pixel, tap index), pixel i's at taps[first[i]..first[i + 1]].
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(t.pixels.len() * k * k);
    let mut first = Vec::with_capacity(t.pixels.len() + 1);
    for p in t.pixels.clone() {
        first.push(taps.len());
        let (oy, ox) = (p / so.w, p % so.w);
        for ky in 0..k {
            let Some(iy) = (oy * g.stride() + ky).checked_sub(g.p.pad).filter(|&y| y < si.h) else { continue };
            for kx in 0..k {
                let Some(ix) = (ox * g.stride() + kx).checked_sub(g.p.pad).filter(|&x| x < si.w) else { continue };
                let q = iy * si.w + ix;
                if nz.start[q + 1] > nz.start[q] {
                    taps.push((q, ky * k + kx));
                }
            }
        }
    }
    first.push(taps.len());
    for blk in t.blocks.clone() {
        let (w, bias) = g.block(blk);
        let bias: &[f32; N] = bias.first_chunk().expect("bias block of N lanes");
        let c0 = blk * N;
        let lanes = N.min(co - c0);
        for (i, p) in t.pixels.clone().enumerate() {
            let acc = gather::<N, BINARY>(&taps[first[i]..first[i + 1]], ci * N, nz, w, bias).map(|a| a * g.scale);
            if lanes == N {
                t.store_block(co, p, c0, &acc);
            } else {
                t.store(co, p, c0, &acc[..lanes]);
            }
        }
    }
}

/// `bias + Σ` over the taps `(input pixel, tap index)` and the listed channels of each tap's
/// pixel of the `N`-wide weight rows (times the input value unless `BINARY`); a tap's rows start
/// at `tap · tap_len`.
#[inline(always)]
fn gather<const N: usize, const BINARY: bool>(taps: &[(usize, usize)], tap_len: usize, nz: &Nonzeros, w: &[f32], bias: &[f32; N]) -> [f32; N] {
    let mut acc = *bias;
    // Every offset is below ci·N = tap_len and every tap base a multiple of it below
    // k²·ci·N = w.len() (checked in `sparse_task`), so every row read below lies inside `w`.
    assert!(w.len() >= N);
    for &(pixel, tap) in taps {
        let base = tap * tap_len;
        let (from, to) = (nz.start[pixel] as usize, nz.start[pixel + 1] as usize);
        let (offsets, values) = (&nz.offset[from..to], &nz.value[from..to]);
        for (&o, &v) in offsets.iter().zip(values) {
            let at = base + o as usize;
            debug_assert!(at + N <= w.len());
            // SAFETY: see above: `at + N <= w.len()`.
            let row = unsafe { &*(w.as_ptr().add(at) as *const [f32; N]) };
            if BINARY {
                for i in 0..N {
                    acc[i] += row[i];
                }
            } else {
                for i in 0..N {
                    acc[i] += v * row[i];
                }
            }
        }
    }
    acc
}


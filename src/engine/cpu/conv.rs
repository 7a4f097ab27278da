//! The CPU backend's fast convolution: the same equation as [`super::kernels::conv_scatter`]
//! (the specification, kept for tests), organised for the cache and the vector units.
//!
//! Weights are packed once per layer in blocks of `nb` (64) output channels and chunks of 8
//! input channels, `[block][ci/8][tap][8][nb]` (one chunk of a 3×3 kernel is 18 KB, an L1's
//! worth; layers whose width is no multiple of 8 have one chunk). Each timestep the input's
//! density picks the kernel:
//! - **Winograd** F(2×2, 3×3) or F(4×4, 3×3) ([`super::winograd`]) for 3×3 stride-1 layers where
//!   it beats the sparse kernels ([`super::conv_choice`]): average-pooled spikes;
//! - **spikes** ([`super::conv_spikes`], binary input, a multiple of 8 channels): adds of weight
//!   rows listed per (chunk, pixel) from a bit mask, chunk by chunk over a tile of pixels so the
//!   rows come from L1;
//! - **sparse** ([`super::conv_sparse`], other inputs with few non-zeros): the non-zero channels
//!   of every input pixel are listed; each output pixel adds (or multiplies and adds) the weight
//!   rows of every listed channel under every tap, in registers;
//! - **dense** (other geometries with ≥ 40 % non-zero inputs): a register-blocked direct
//!   convolution over a zero-padded copy of the input, 6 output pixels × 16 channels per FMA tile
//!   ([`super::conv_dense`]).
//!
//! Work is split into (block group, sample, pixel range) tasks so small late layers still use
//! every thread and each thread's consecutive tasks share a block's weights.
//! With dyadic weights every sum and product is exact, so all kernels equal the specification
//! bit for bit; otherwise they differ from it only in summation order (and fused multiply-adds,
//! which round once where the specification rounds twice). The large buffers (nonzero lists,
//! masks, padded inputs, Winograd panels) live in [`ConvScratch`] and are reused; per step only
//! a few small per-task index vectors are allocated.

use std::ops::Range;

use rayon::prelude::*;

use super::conv_choice::{SPIKES_DENSE_ABOVE, count, dense_pays, winograd_pays, winograd_tile};
use super::conv_dense;
use super::conv_sparse::{self, Nonzeros};
use super::conv_strip::{self, Rows};
use super::conv_strip_avx512;
use super::conv_lists::{self, TileRows};
use super::conv_spikes::{self, SpikeScratch};
use super::conv_store::OutPlanes;
pub use super::conv_store::{Fused, Task};
use super::precision::{Aligned, Precision, PrecisionError, Stored, Weight};
use super::winograd::{self, Winograd, WinogradScratch};
use crate::model::graph::{Conv, Shape};

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
    /// Input channels per chunk: 8 where `ci` is a multiple of 8, else `ci`.
    cw: usize,
    /// `[blocks][ci/cw][k·k][cw][nb]`, zero past `co`, starting on a cache line, in the
    /// backend's precision.
    weight: Stored,
    /// `[blocks·nb]`, zero past `co`.
    bias: Vec<f32>,
    /// The same weights for the Winograd kernel, where it applies.
    winograd: Option<Winograd>,
}

impl PackedConv {
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Packs PyTorch `[out, in, k, k]` weights in f32 for calls of any size.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(c: &Conv) -> Self {
        Self::with_precision(c, Precision::F32, "conv", (0, 0, 0)).expect("f32 holds every f32 weight")
    }

    /// Packs PyTorch `[out, in, k, k]` weights rounded to `precision` ([`super::precision`]) for
    /// calls of `calls` = (batch, output height, output width) (zeros: unknown), which pick the
    /// Winograd tile ([`winograd_tile`]); `tensor` names the weights in errors.
    pub fn with_precision(c: &Conv, precision: Precision, tensor: &str, calls: (usize, usize, usize)) -> Result<Self, PrecisionError> {
        Self::packed(c, precision, tensor, Err(calls))
    }

    /// Packs f32 weights with Winograd output tiles of `tile` × `tile` (2 or 4) wherever the
    /// layer takes Winograd at all, whatever [`winograd_tile`] would choose.
    #[cfg(test)]
    pub fn with_winograd_tile(c: &Conv, tile: usize) -> Self {
        Self::packed(c, Precision::F32, "conv", Ok(tile)).expect("f32 holds every f32 weight")
    }

    /// `tile`: the Winograd tile, or the calls to choose it for from the (rounded) weights.
    fn packed(c: &Conv, precision: Precision, tensor: &str, tile: Result<usize, (usize, usize, usize)>) -> Result<Self, PrecisionError> {
        let rounded;
        let c = if precision == Precision::F32 {
            c
        } else {
            rounded = Conv { weight: super::precision::round(tensor, &c.weight, precision)?, ..c.clone() };
            &rounded
        };
        // Chosen on the rounded weights, as an f32 run of the same values would.
        let tile = tile.unwrap_or_else(|calls| winograd_tile(c, precision, calls));
        let (ci, co, k) = (c.in_ch, c.out_ch, c.kernel);
        let kk = k * k;
        // 64 lanes (eight AVX2 registers) unless the layer is narrower.
        let nb = [64, 32, 16, 8].into_iter().find(|&nb| nb / 2 < co.div_ceil(8) * 8).unwrap_or(8);
        let blocks = co.div_ceil(nb);
        let cw = if ci.is_multiple_of(conv_spikes::CW) { conv_spikes::CW } else { ci };
        let mut w = Aligned::zeroed(blocks * kk * ci * nb);
        // Blocks in parallel (the trainer packs every layer twice per step).
        w.as_mut_slice().par_chunks_mut(kk * ci * nb).enumerate().for_each(|(blk, w)| {
            for o in blk * nb..co.min((blk + 1) * nb) {
                for i in 0..ci {
                    let first = p_row(ci, cw, kk, 0, i);
                    for (t, &v) in c.weight[(o * ci + i) * kk..][..kk].iter().enumerate() {
                        // p_row(ci, cw, kk, t, i): tap t's row lies t·cw rows further.
                        w[(first + t * cw) * nb + o % nb] = v;
                    }
                }
            }
        });
        let mut bias = vec![0.0; blocks * nb];
        bias[..co].copy_from_slice(&c.bias);
        Ok(Self { ci, co, k, stride: c.stride, pad: c.padding, nb, blocks, cw, weight: Stored::from_aligned(w, precision), bias, winograd: Winograd::new(c, precision == Precision::Bf16, tile) })
    }

    /// The Winograd output tile its weights were packed for, if the layer takes Winograd at all.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn winograd_tile(&self) -> Option<usize> {
        self.winograd.as_ref().map(Winograd::tile)
    }

    fn block<W: Weight>(&self, blk: usize) -> (&[W], &[f32]) {
        let len = self.k * self.k * self.ci * self.nb;
        (&self.weight.get::<W>()[blk * len..(blk + 1) * len], &self.bias[blk * self.nb..(blk + 1) * self.nb])
    }
}

/// The row of (tap `t`, input channel `i`) within a block: chunk, then tap, then channel.
fn p_row(ci: usize, cw: usize, kk: usize, t: usize, i: usize) -> usize {
    debug_assert!(i < ci && t < kk);
    ((i / cw) * kk + t) * cw + i % cw
}

/// Per-timestep working memory, reused across layers and steps.
#[derive(Default)]
pub struct ConvScratch {
    nonzeros: Vec<Nonzeros>,
    rows: Vec<Rows>,
    padded: Vec<Vec<f32>>,
    spikes: SpikeScratch,
    winograd: WinogradScratch,
}

/// `out[b] = scale[b] · conv(input[b])` for every sample `b` (see the module doc).
/// `input`: `[B, Hi, Wi, Ci]`; `out`: `[B, Ho, Wo, Co]`; `scale`: one factor per sample (1 = none).
pub fn conv(input: &[f32], out: &mut [f32], si: Shape, so: Shape, p: &PackedConv, scale: &[f32], scratch: &mut ConvScratch) {
    conv_with(input, out, si, so, p, scale, scratch, Mode::Auto);
}

/// [`conv`], then the neuron layer `fused` (if any) on its output in place ([`Fused`]): `out`
/// gets the neurons' outputs.
#[allow(clippy::too_many_arguments)]
pub fn conv_fused(input: &[f32], out: &mut [f32], si: Shape, so: Shape, p: &PackedConv, scale: &[f32], scratch: &mut ConvScratch, fused: Option<&Fused>) {
    conv_mode(input, out, si, so, p, scale, scratch, Mode::Auto, fused);
}

/// Which kernels [`conv_with`] may choose from (tests and measurements pin them).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) enum Mode {
    /// By the input's density and the cost model, as [`conv`] does.
    Auto,
    /// Winograd wherever it applies.
    Winograd,
    /// Never Winograd.
    NoWinograd,
    /// Never Winograd, and the AVX2 builds even where AVX-512 is present.
    Avx2,
    /// Never Winograd or the strip kernel (the dense or sparse kernels for few channels).
    NoStrip,
    /// The portable code only (the sparse kernels built without AVX2, no Winograd or dense
    /// kernel), as on a CPU without AVX2 and FMA.
    Portable,
}

/// The kernel a [`conv_with`] call ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Ran {
    /// No kernel: the input was all zeros.
    Silent,
    Winograd,
    Spikes,
    /// The strip kernel (sparse inputs of few channels).
    Strip,
    /// The general sparse kernel or the dense one, per sample.
    SparseOrDense,
}

/// [`conv`] with the kernels `mode` allows; returns the kernel that ran.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_with(input: &[f32], out: &mut [f32], si: Shape, so: Shape, p: &PackedConv, scale: &[f32], scratch: &mut ConvScratch, mode: Mode) -> Ran {
    conv_mode(input, out, si, so, p, scale, scratch, mode, None)
}

/// [`conv_with`], then the neurons of `fused` (as [`conv_fused`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_mode(input: &[f32], out: &mut [f32], si: Shape, so: Shape, p: &PackedConv, scale: &[f32], scratch: &mut ConvScratch, mode: Mode, fused: Option<&Fused>) -> Ran {
    let simd = mode != Mode::Portable && conv_dense::available();
    let batch = scale.len();
    let input = &input[..batch * si.len()];
    // One pass counts each sample's non-zeros and ones (inputs are large next to this; read them once).
    // In batches smaller than the thread count, each sample's passes (this count, the spike
    // masks, the strip kernel's lists) run in parallel pieces too: at batch 1 it is all the work.
    let split = batch < rayon::current_num_threads();
    let piece = if split { 1 << 14 } else { si.len() };
    let counts: Vec<(usize, usize)> = input.par_chunks_exact(si.len()).map(|x| x.par_chunks(piece).map(|x| count(x, simd)).reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))).collect();
    let nonzeros: usize = counts.iter().map(|c| c.0).sum();
    let binary = counts.iter().all(|&(nz, ones)| nz == ones);
    let density = nonzeros as f32 / input.len() as f32;
    if nonzeros == 0 {
        // Silent input (deep layers of a quiet network): every output is its bias.
        for (b, o) in out.chunks_exact_mut(so.len()).take(batch).enumerate() {
            let bias: Vec<f32> = p.bias[..p.co].iter().map(|v| v * scale[b]).collect();
            o.chunks_exact_mut(so.c).for_each(|px| px.copy_from_slice(&bias));
            if let Some(f) = fused {
                // SAFETY: this thread alone runs the layer's neurons here.
                unsafe { f.slice(b, 0, o) };
            }
        }
        return Ran::Silent;
    }
    let avx512 = simd && mode != Mode::Avx2 && super::conv_spikes_avx512::enabled();
    if simd
        && let Some(w) = &p.winograd
        && match mode {
            Mode::Auto => winograd_pays(density, binary, dense_pays(nonzeros, input.len(), si.c), si.c, so.c, batch * so.h * so.w, w.tile(), avx512),
            Mode::Winograd => true,
            Mode::NoWinograd | Mode::Avx2 | Mode::NoStrip | Mode::Portable => false,
        }
    {
        winograd::conv(input, out, si, so, w, &p.bias[..p.co], scale, &mut scratch.winograd, fused);
        return Ran::Winograd;
    }
    let plane = so.h * so.w;
    assert!(out.len() >= batch * plane * so.c);
    let planes = OutPlanes::new(out, batch, plane * so.c);
    let geometry = |b: usize| Geometry { si, so, p, scale: scale[b], simd, avx512 };
    if binary && conv_spikes::applies(&geometry(0)) && (!simd || density <= SPIKES_DENSE_ABOVE) {
        spikes(input, &planes, batch, plane, &geometry, &mut scratch.spikes, split);
        if let Some(f) = fused {
            f.pass(out);
        }
        return Ran::Spikes;
    }
    if mode != Mode::NoStrip && counts.iter().all(|c| conv_strip::pays(c.0, si.len(), &geometry(0))) {
        scratch.rows.resize_with(batch, Rows::default);
        // The AVX-512 build reads window masks, the portable one lists of non-zeros.
        let masks = conv_strip_avx512::applies(&geometry(0));
        scratch.rows[..batch].par_iter_mut().zip(input.par_chunks_exact(si.len())).for_each(|(r, x)| if masks { r.fill_bits(x, si, p.pad) } else { r.fill(x, si, split) });
        let rows = &scratch.rows;
        // One task per (sample, group of output rows, block).
        let (groups, blocks) = (so.h.div_ceil(conv_strip::ROWS), p.blocks);
        (0..batch * groups * blocks).into_par_iter().for_each(|task| {
            let (b, grp, blk) = (task / (groups * blocks), task / blocks % groups, task % blocks);
            let ys = grp * conv_strip::ROWS..((grp + 1) * conv_strip::ROWS).min(so.h);
            let t = Task { out: &planes, sample: b, pixels: ys.start * so.w..ys.end * so.w, blocks: blk..blk + 1 };
            if masks {
                conv_strip_avx512::task(&t, &rows[b], &input[b * si.len()..][..si.len()], &geometry(b));
            } else {
                conv_strip::task(&t, &rows[b], &geometry(b));
            }
        });
        if let Some(f) = fused {
            f.pass(out);
        }
        return Ran::Strip;
    }
    scratch.nonzeros.resize_with(batch, Nonzeros::default);
    scratch.padded.resize_with(batch, Vec::new);
    let dense: Vec<bool> = counts.iter().map(|c| simd && dense_pays(c.0, si.len(), si.c)).collect();
    // Per sample in parallel (a training batch has T·B of them).
    scratch.nonzeros[..batch].par_iter_mut().zip(scratch.padded[..batch].par_iter_mut()).zip(input.par_chunks_exact(si.len())).enumerate().for_each(|(b, ((nz, padded), x))| {
        if dense[b] {
            conv_dense::pad_input(x, si, p.pad, padded, split);
        } else {
            nz.fill(x, &geometry(b));
        }
    });
    // Pixel chunks of up to 96 pixels (whole dense tiles) so a block's weights are reused from
    // cache, and enough block groups for about eight tasks per sample, so small late layers
    // still split and read each block once.
    let chunk = plane.min(96).div_ceil(conv_dense::MR) * conv_dense::MR;
    let chunks = plane.div_ceil(chunk);
    let groups = 8usize.div_ceil(chunks).min(p.blocks);
    let per_group = p.blocks.div_ceil(groups);
    let (nonzeros, padded) = (&scratch.nonzeros, &scratch.padded);
    (0..batch * chunks * groups).into_par_iter().for_each(|task| {
        let (b, n, grp) = (task / (chunks * groups), task / groups % chunks, task % groups);
        let t = Task { out: &planes, sample: b, pixels: n * chunk..((n + 1) * chunk).min(plane), blocks: grp * per_group..((grp + 1) * per_group).min(p.blocks) };
        if dense[b] {
            conv_dense::task(&t, &padded[b], &geometry(b));
        } else {
            conv_sparse::task(&t, &nonzeros[b], &geometry(b));
        }
    });
    if let Some(f) = fused {
        f.pass(out);
    }
    Ran::SparseOrDense
}

/// Binary inputs by [`conv_spikes`]: masks per sample, row lists per (sample, tile), then one
/// task per (block, sample, tile), block-major so each thread's consecutive tasks share a block's
/// weights (across tiles and samples).
fn spikes<'a>(input: &[f32], out: &OutPlanes, batch: usize, plane: usize, geometry: &(dyn Fn(usize) -> Geometry<'a> + Sync), s: &mut SpikeScratch, split: bool) {
    let g = geometry(0);
    let (si, blocks) = (g.si, g.p.blocks);
    let tiles = plane.div_ceil(conv_spikes::TILE);
    let per_tile = plane.div_ceil(tiles);
    let tile = |n: usize| n * per_tile..((n + 1) * per_tile).min(plane);
    // Never shrink: layers share these, and a smaller layer must not free a larger one's lists.
    if s.masks.len() < batch {
        s.masks.resize_with(batch, Vec::new);
    }
    if s.tiles.len() < batch * tiles {
        s.tiles.resize_with(batch * tiles, TileRows::default);
    }
    s.masks[..batch].par_iter_mut().zip(input.par_chunks_exact(si.len())).for_each(|(m, x)| conv_spikes::masks(x, si, g.pad(), m, g.simd, split));
    let masks = &s.masks;
    // With fewer (sample, tile) lists than threads (a late layer at batch 1 is one tile), each
    // tile's lists are built in parts of its chunks in parallel.
    let (chunks, threads) = (si.c / conv_spikes::CW, rayon::current_num_threads());
    let parts = if batch * tiles < threads { threads.div_ceil(batch * tiles) } else { 1 };
    let lists: Vec<_> = s.tiles[..batch * tiles].iter_mut().enumerate().flat_map(|(i, r)| r.split(chunks, parts).map(move |(c, l)| (i, c, l))).collect();
    lists.into_par_iter().for_each(|(i, c, l)| conv_lists::tile_rows(tile(i % tiles), c, &masks[i / tiles], &g, l));
    let rows = &s.tiles;
    // The AVX-512 build adds two blocks' rows per pass over the lists (see `conv_spikes_avx512`).
    let per = if g.avx512 && g.nb() >= 16 { 2 } else { 1 };
    (0..blocks.div_ceil(per) * batch * tiles).into_par_iter().for_each(|task| {
        let (grp, i) = (task / (batch * tiles), task % (batch * tiles));
        let b = i / tiles;
        let t = Task { out, sample: b, pixels: tile(i % tiles), blocks: grp * per..(grp * per + per).min(blocks) };
        conv_spikes::task(&t, &rows[i], &geometry(b));
    });
}

/// What a task needs besides its input and output.
pub struct Geometry<'a> {
    pub si: Shape,
    pub so: Shape,
    pub p: &'a PackedConv,
    pub scale: f32,
    /// Run the AVX2 builds of the kernels (detected, and not turned off by [`conv_with`]).
    pub simd: bool,
    /// Run the spike kernel's AVX-512 build (where [`super::conv_spikes_avx512::enabled`]).
    pub avx512: bool,
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
    /// Input channels per chunk of the weights.
    pub fn cw(&self) -> usize {
        self.p.cw
    }
    pub fn k(&self) -> usize {
        self.p.k
    }
    pub fn stride(&self) -> usize {
        self.p.stride
    }
    /// Block `blk`'s weights `[ci/cw][k·k][cw][nb]` (stored as `W`) and bias `[nb]`.
    pub fn block<W: Weight>(&self, blk: usize) -> (&[W], &[f32]) {
        self.p.block(blk)
    }
    /// The weights of blocks `blocks`, `[blocks][ci/cw][k·k][cw][nb]`, contiguous.
    pub fn weights<W: Weight>(&self, blocks: Range<usize>) -> &[W] {
        let len = self.p.k * self.p.k * self.p.ci * self.p.nb;
        &self.p.weight.get::<W>()[blocks.start * len..blocks.end * len]
    }
    /// The precision the weights are stored in.
    pub fn stored(&self) -> &Stored {
        &self.p.weight
    }
    pub fn pad(&self) -> usize {
        self.p.pad
    }
    /// Width of the zero-padded input.
    pub fn padded_w(&self) -> usize {
        self.si.w + 2 * self.p.pad
    }
}

//! The spike convolution of [`super::conv`]: binary inputs (every value 0 or 1) with a multiple
//! of 8 input channels, the bulk of a spiking network's work. It only adds weight rows, and it
//! adds them from L1.
//!
//! A block's weights are packed in chunks of [`CW`] = 8 input channels, `[ci/8][tap][8][nb]`
//! ([`super::conv::PackedConv`]): one chunk of a 3×3 kernel at 64 lanes is 72 rows, 18 KB, and
//! fits in L1. Per sample the input becomes one bit per value, `[ci/8][H·W]` bytes with a zero
//! border as wide as the padding ([`masks`]);
//! per tile of output pixels every (chunk, pixel) gets the list of the rows it adds, one byte
//! each (`tap · 8 + channel`), written branch-free from the mask bytes through a table
//! ([`super::conv_lists`]). A task (one block of output channels over one tile)
//! then runs chunk by chunk: each pixel's accumulators come from the tile, take the listed
//! rows in registers and go back, while the chunk two ahead is prefetched into L2 (wide
//! layers stream their weights from memory). The last chunk stores them with the TEBN scale. So
//! a weight row comes from L2 once per tile and chunk instead of once per output pixel.
//! The row adds ([`add_rows`]) and the 3×3 row lists ([`super::conv_lists::emit`]) have AVX-512 builds in
//! [`super::conv_spikes_avx512`], bit for bit the same. Weights stored in 16 bits
//! ([`super::precision`]) are widened a chunk at a time into an L1 slab ([`blocks`]), so the
//! sums are those of f32 weights of the same values, in the same order.

use rayon::prelude::*;

use super::conv::{Geometry, Task};
use super::conv_lists::TileRows;
use super::precision::{Aligned, Weight, dispatch};
use crate::model::graph::Shape;

/// Input channels per chunk of weights (one mask byte).
pub const CW: usize = 8;
/// Output pixels per tile at most. Their accumulators (36 KB at 64 lanes) are swept in order
/// once per chunk, which the L2 prefetcher follows, while the chunk's weights (18 KB, read at
/// random) stay in L1; a 12×12 layer is one tile, so each block's weights are streamed once.
/// Measured on vgg11_48_legacy: 5 % faster than tiles of 48 (accumulators in L1 too) in the
/// 24×24 and 12×12 layers, the same in the others. Rechecked with the accumulators in a
/// per-thread buffer (2026-12-07 13:31 UTC, batch 1): tiles of 48 and 96 slower (features.7
/// 1.05–1.10 → 1.18–1.23 and 1.09–1.10 ms).
pub const TILE: usize = 144;
/// Chunks of weights ahead of the current one that are prefetched, for layers of more than
/// `PREFETCH_ABOVE` bytes of weights. (The non-temporal hint instead, for layers above 2 or 8 MB,
/// so that they would not evict the other layers' weights from L3: no faster, 2026-12-07.)
const PREFETCH_AHEAD: usize = 2;
const PREFETCH_ABOVE: usize = 512 << 10;

/// The spike kernel's working memory, reused across layers and steps.
#[derive(Default)]
pub struct SpikeScratch {
    /// One padded spike mask `[ci/8][H + 2p][W + 2p]` per sample ([`masks`]).
    pub masks: Vec<Vec<u8>>,
    /// The row lists of every (sample, tile).
    pub tiles: Vec<TileRows>,
}

thread_local! {
    /// Each thread's accumulators for [`blocks`]: [`TILE`] pixels of up to 128 lanes.
    static ACC: std::cell::RefCell<Aligned<f32>> = std::cell::RefCell::new(Aligned::zeroed(TILE * 128));
}

/// Whether the spike kernel handles a layer of these weights: chunks of [`CW`] channels and row
/// indices that fit a byte.
pub fn applies(g: &Geometry) -> bool {
    g.cw() == CW && g.k() * g.k() * CW <= 256
}

/// `dst` = the spike mask of one sample `x` (`[H·W, ci]`), with a border of `pad` zero pixels:
/// bit `j` of byte `c·Hp·Wp + (y + pad)·Wp + x + pad` says whether channel `8c + j` of pixel
/// (y, x) is non-zero (`Hp`, `Wp` = H, W + 2·pad), so every tap of every window lies inside.
/// With `split`, groups of image rows in parallel (for batches smaller than the thread count:
/// at batch 1 the sample is all the work there is).
pub fn masks(x: &[f32], si: Shape, pad: usize, dst: &mut Vec<u8>, simd: bool, split: bool) {
    dst.clear();
    dst.resize((si.h + 2 * pad) * (si.w + 2 * pad) * si.c / CW, 0);
    let wp = si.w + 2 * pad;
    let parts = if split { rayon::current_num_threads().min(si.h.div_ceil(MASK_ROWS)).max(1) } else { 1 };
    let per = si.h.div_ceil(parts);
    // Group g's rows of every chunk's plane.
    let mut groups: Vec<Vec<&mut [u8]>> = (0..parts).map(|_| Vec::with_capacity(si.c / CW)).collect();
    for plane in dst.chunks_exact_mut((si.h + 2 * pad) * wp) {
        for (g, rows) in plane[pad * wp..(pad + si.h) * wp].chunks_mut(per * wp).enumerate() {
            groups[g].push(rows);
        }
    }
    groups.into_par_iter().enumerate().for_each(|(g, mut planes)| {
        let x = &x[(g * per * si.w * si.c).min(x.len())..((g + 1) * per * si.w * si.c).min(x.len())];
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `simd` is only set where AVX2, FMA and POPCNT were detected.
            return unsafe { masks_avx2(x, si, pad, &mut planes) };
        }
        let _ = simd;
        masks_generic(x, si, pad, &mut planes)
    });
}

/// Image rows per group of [`masks`] at least.
const MASK_ROWS: usize = 4;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn masks_avx2(x: &[f32], si: Shape, pad: usize, planes: &mut [&mut [u8]]) {
    masks_generic(x, si, pad, planes)
}

/// The mask bytes of the image rows `x` into `planes` (each chunk's bytes of those rows).
#[inline(always)]
fn masks_generic(x: &[f32], si: Shape, pad: usize, planes: &mut [&mut [u8]]) {
    let wp = si.w + 2 * pad;
    for (y, row) in x.chunks_exact(si.w * si.c).enumerate() {
        for (xx, px) in row.chunks_exact(si.c).enumerate() {
            let q = y * wp + xx + pad;
            for (plane, v) in planes.iter_mut().zip(px.chunks_exact(CW)) {
                plane[q] = v.iter().enumerate().fold(0u8, |m, (j, &v)| m | (u8::from(v != 0.0) << j));
            }
        }
    }
}

/// Output pixels `t.pixels` of blocks `t.blocks` from the tile's row lists `r`.
pub fn task(t: &Task, r: &TileRows, g: &Geometry) {
    assert!(r.chunks() == g.ci() / CW && t.pixels.len() <= TILE);
    if g.avx512 {
        return super::conv_spikes_avx512::task(t, r, g);
    }
    #[cfg(target_arch = "x86_64")]
    if g.simd {
        // SAFETY: `g.simd` is only set where AVX2, FMA and POPCNT were detected.
        return unsafe { task_avx2(t, r, g) };
    }
    dispatch!(g.stored(), task_generic(t, r, g))
}

/// The AVX2 build: rows added by [`add_rows`] (which the compiler vectorises), 16-bit weights
/// widened by [`widen_ymm`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt,f16c")]
unsafe fn task_avx2(t: &Task, r: &TileRows, g: &Geometry) {
    #[target_feature(enable = "avx2,fma,popcnt,f16c")]
    unsafe fn of<W: Weight>(t: &Task, r: &TileRows, g: &Geometry) {
        // SAFETY (the closure): this function only runs with AVX2 and F16C.
        let widen = |s: &[W], d: &mut [f32]| unsafe { widen_ymm(s, d) };
        match g.nb() {
            64 => blocks::<64, 1, W>(t, r, g, add_rows, widen),
            32 => blocks::<32, 1, W>(t, r, g, add_rows, widen),
            16 => blocks::<16, 1, W>(t, r, g, add_rows, widen),
            _ => blocks::<8, 1, W>(t, r, g, add_rows, widen),
        }
    }
    // SAFETY: the same features.
    unsafe { dispatch!(g.stored(), of(t, r, g)) }
}

#[inline(always)]
fn task_generic<W: Weight>(t: &Task, r: &TileRows, g: &Geometry) {
    let widen = |s: &[W], d: &mut [f32]| d.iter_mut().zip(s).for_each(|(d, s)| *d = s.widen());
    match g.nb() {
        64 => blocks::<64, 1, W>(t, r, g, add_rows, widen),
        32 => blocks::<32, 1, W>(t, r, g, add_rows, widen),
        16 => blocks::<16, 1, W>(t, r, g, add_rows, widen),
        _ => blocks::<8, 1, W>(t, r, g, add_rows, widen),
    }
}

/// `sum = from + slab[row]` summed over `rows`, in order, `from` being `sum` itself where `None`
/// (the AVX2 and portable builds; every build adds each lane's rows in this order, so all give
/// the same bits).
#[inline(always)]
pub(super) fn add_rows<const N: usize>(sum: &mut [[f32; N]; 1], from: Option<&[[f32; N]; 1]>, slab: [&[[f32; N]]; 1], rows: &[u8]) {
    let mut s = from.map_or(sum[0], |f| f[0]);
    for &row in rows {
        let row = &slab[0][usize::from(row)];
        for j in 0..N {
            s[j] += row[j];
        }
    }
    sum[0] = s;
}

/// `d = s` widened to f32, 8 values at a time ([`Weight::load8`]); `s.len()` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[inline]
pub(super) unsafe fn widen_ymm<W: Weight>(s: &[W], d: &mut [f32]) {
    assert!(s.len() == d.len() && s.len().is_multiple_of(8));
    for (s, d) in s.chunks_exact(8).zip(d.chunks_exact_mut(8)) {
        // SAFETY: 8 values each side; AVX2 and F16C are present.
        unsafe { std::arch::x86_64::_mm256_storeu_ps(d.as_mut_ptr(), W::load8(s.as_ptr())) }
    }
}

/// One task with N-lane blocks of `W` weights, `P` blocks at once (every block of the task
/// when `P` > 1: the task has exactly `P`); `add` is [`add_rows`] in the build of the caller's
/// ISA, for `P` blocks' accumulators and slabs. 16-bit weights are widened (`widen`) a chunk at
/// a time into an f32 slab in L1, which the row adds then read as they read f32 weights: so a
/// chunk's weights come from L2 or memory in half the bytes, at the cost of one widening per
/// (block, chunk, tile).
#[inline(always)]
pub(super) fn blocks<const N: usize, const P: usize, W: Weight>(t: &Task, r: &TileRows, g: &Geometry, add: impl Fn(&mut [[f32; N]; P], Option<&[[f32; N]; P]>, [&[[f32; N]]; P], &[u8]), widen: impl Fn(&[W], &mut [f32])) {
    assert_eq!(N, g.nb());
    assert!(P == 1 || t.blocks.len() == P);
    let (co, n) = (g.co(), t.pixels.len());
    let slab_len = g.k() * g.k() * CW;
    // The pixels' accumulators, in a buffer each thread keeps (zeroing 73 KB per task, and
    // setting them to the bias in a pass before the first chunk, cost 5 % of vgg11_48_legacy's
    // step at batch 16 in memset and memmove: the first chunk's adds start from the bias instead).
    ACC.with_borrow_mut(|buf| {
        let acc = &mut buf.as_mut_slice().as_chunks_mut::<N>().0.as_chunks_mut::<P>().0[..n];
        // The layer's weights, in the order the tasks read them, and one chunk's cache lines; none
        // to prefetch where they all fit in half the L2 (they stay there from task to task).
        let all = g.weights::<W>(0..g.p.blocks());
        let all = if size_of_val(all) <= PREFETCH_ABOVE { &[] } else { all };
        let slab_lines = slab_len * N / line::<W>();
        let per_pixel = slab_lines.div_ceil(n);
        // The chunks this tile adds rows from (silent inputs skip the others, and do not fetch them).
        let chunks = r.chunks();
        let used: Vec<usize> = (0..chunks)
            .filter(|&c| {
                let (start, _) = r.chunk(c, n);
                start[0] < start[n]
            })
            .collect();
        // The widened chunks of 16-bit weights (f32 ones are read in place).
        let mut wide: [Option<Aligned<f32>>; P] = std::array::from_fn(|_| None);
        for first in t.blocks.clone().step_by(P) {
            let blks: [usize; P] = std::array::from_fn(|p| first + p);
            let parts = blks.map(|blk| g.block::<W>(blk));
            let bias = parts.map(|(_, bias)| *bias.first_chunk::<N>().expect("bias block of N lanes"));
            if used.is_empty() {
                acc.fill(bias);
            }
            for (u, &c) in used.iter().enumerate() {
                let stored = |p: usize| parts[p].0.as_chunks::<N>().0[c * slab_len..(c + 1) * slab_len].as_flattened();
                if W::as_f32(stored(0)).is_none() {
                    for (p, wide) in wide.iter_mut().enumerate() {
                        widen(stored(p), wide.get_or_insert_with(|| Aligned::zeroed(slab_len * N)).as_mut_slice());
                    }
                }
                let slabs: [&[[f32; N]]; P] = std::array::from_fn(|p| match W::as_f32(stored(p)) {
                    Some(f) => f.as_chunks::<N>().0,
                    None => wide[p].as_ref().expect("widened above").as_slice().as_chunks::<N>().0,
                });
                let (start, listed) = r.chunk(c, n);
                // The chunk used `PREFETCH_AHEAD` chunks later, here or in the next blocks (the same
                // thread's next task often adds the same tile's rows from them).
                let later = u + PREFETCH_AHEAD;
                let ahead = ((first + P * (later / used.len())) * chunks + used[later % used.len()]) * slab_lines;
                for (i, a) in acc.iter_mut().enumerate() {
                    let from = (i * per_pixel).min(slab_lines);
                    let len = per_pixel.min(slab_lines - from);
                    for p in 0..P {
                        let at = ahead + p * chunks * slab_lines + from;
                        prefetch(all, at..at + len);
                    }
                    let rows = &listed[start[i] as usize..start[i + 1] as usize];
                    if u == 0 {
                        add(a, Some(&bias), slabs, rows);
                    } else if !rows.is_empty() {
                        add(a, None, slabs, rows);
                    }
                }
            }
            for (a, px) in acc.iter().zip(t.pixels.clone()) {
                for (a, blk) in a.iter().zip(blks) {
                    let c0 = blk * N;
                    if N <= co - c0 {
                        t.store_scaled(co, px, c0, a, g.scale);
                    } else {
                        t.store(co, px, c0, &a.map(|v| v * g.scale)[..co - c0]);
                    }
                }
            }
        }
    });
}

/// Weights per 64-byte cache line.
const fn line<W>() -> usize {
    64 / size_of::<W>()
}

/// Asks for cache lines `lines` (of [`line`] weights) of `w` in L2, those that lie inside `w`.
#[inline(always)]
fn prefetch<W>(w: &[W], lines: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    for l in lines.start..lines.end.min(w.len() / line::<W>()) {
        // SAFETY: the address lies inside `w` (and a prefetch never faults anyway).
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(w.as_ptr().add(l * line::<W>()).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (w, lines);
}

//! The dense convolution kernel of [`super::conv`]: for inputs where most values are non-zero
//! (average-pooled spikes), skipping zeros costs more than multiplying by them.
//!
//! A direct convolution over the zero-padded input `[Hi + 2p, Wi + 2p, Ci]`: a tile of
//! [`MR`] output pixels × 16 output channels (blocks of 8 channels: `2·MR` pixels × 8) lives in
//! twelve AVX2 registers; for every tap and
//! input channel it loads one 16-wide weight row (`[block][ci/cw][tap][cw][nb]`, read in order)
//! and broadcasts each pixel's input value into a fused multiply-add (16-bit weights
//! ([`super::precision`]) widened as they are loaded). x86-64 with AVX2, FMA and F16C only
//! ([`available`]); elsewhere every input takes the sparse kernel.

use rayon::prelude::*;

use super::conv::{Geometry, Task};
use super::precision::dispatch;
use crate::model::graph::Shape;

/// Output pixels per tile.
pub const MR: usize = 6;

/// Whether this CPU runs the dense kernel (AVX2 and FMA; and POPCNT and F16C, which every such
/// CPU has, for the spike kernel's row lists and 16-bit weights).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("popcnt") && std::is_x86_feature_detected!("f16c");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The dense kernel's input: `[Hi + 2p, Wi + 2p, Ci]`, zero around the sample.
pub fn pad_input(x: &[f32], si: Shape, pad: usize, dst: &mut Vec<f32>, split: bool) {
    let (wp, c) = (si.w + 2 * pad, si.c);
    // Every element is written below (the buffer is shared by layers of other shapes), once: no
    // zeroing pass first.
    dst.resize((si.h + 2 * pad) * wp * c, 0.0);
    let row = |(yp, d): (usize, &mut [f32])| match yp.checked_sub(pad).filter(|&y| y < si.h) {
        None => d.fill(0.0),
        Some(y) => {
            let (left, rest) = d.split_at_mut(pad * c);
            let (inside, right) = rest.split_at_mut(si.w * c);
            left.fill(0.0);
            right.fill(0.0);
            inside.copy_from_slice(&x[y * si.w * c..(y + 1) * si.w * c]);
        }
    };
    // With `split` (a batch smaller than the thread count) rows in parallel: at batch 1 a
    // serial copy left the other threads idle (56×56×64: ~60 µs of a 0.3 ms layer on two).
    if split {
        dst.par_chunks_mut(wp * c).enumerate().for_each(row);
    } else {
        dst.chunks_mut(wp * c).enumerate().for_each(row);
    }
}

/// Output pixels `pixels` (`out`: `[pixels, Co]`) of one sample from its padded input.
/// Callers check [`available`] first.
pub fn task(t: &Task, padded: &[f32], g: &Geometry) {
    let wp = g.padded_w();
    assert_eq!(padded.len(), (g.si.h + wp - g.si.w) * wp * g.ci());
    #[cfg(target_arch = "x86_64")]
    {
        assert!(available(), "the dense conv kernel needs AVX2 and FMA");
        // SAFETY: AVX2, FMA and F16C are present (asserted); `tiles` keeps every access in bounds.
        unsafe { dispatch!(g.stored(), x86::tiles(t, padded, g)) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the dense conv kernel runs on x86-64 only ({:?} {padded:p} {:?})", t.pixels, g.si)
}

/// One [`MR`] × 16 tile of a matrix product: `tile[i][0..16] = Σ_c a[c / 8][i][c % 8] · b[c][0..16]`
/// (`a`: a packed `[ci/8, MR, 8]` panel, `b`: `[ci, 16]`, `ci` a multiple of 8). Callers check
/// [`available`].
pub fn gemm_tile16(a: &[f32], ci: usize, b: &[f32]) -> [[f32; 16]; MR] {
    gemm_tile16_isa(a, ci, b, super::conv_spikes_avx512::enabled())
}

/// [`gemm_tile16`] with its AVX-512 build (`avx512`, where [`super::conv_spikes_avx512::enabled`])
/// or its AVX2 one: the same bits.
pub fn gemm_tile16_isa(a: &[f32], ci: usize, b: &[f32], avx512: bool) -> [[f32; 16]; MR] {
    assert!(!avx512 || super::conv_spikes_avx512::enabled(), "the AVX-512 tile needs AVX-512F");
    assert!(a.len() >= ci * MR && b.len() >= ci * 16 && ci.is_multiple_of(8));
    let mut tile = [[0f32; 16]; MR];
    #[cfg(target_arch = "x86_64")]
    {
        assert!(available(), "the FMA tile needs AVX2 and FMA");
        // SAFETY: AVX2 and FMA are present (and AVX-512F where `enabled` says so); every read
        // is in bounds (asserted above).
        unsafe {
            if avx512 {
                x86_512::panel16(a.as_ptr(), ci, b.as_ptr(), &mut tile)
            } else {
                x86::panel16(a.as_ptr(), ci, b.as_ptr(), &mut tile)
            }
        }
    }
    tile
}

/// [`gemm_tile16`] of `P` 16-column weight panels `b` against the same `a`: with AVX-512
/// ([`super::conv_spikes_avx512::enabled`]) in one pass (`6·P` accumulators, so the FMAs do not
/// wait on each other, and each value of `a` broadcast once), else `P` AVX2 tiles. The same bits
/// either way. Written into `tiles` (every value), which the caller keeps across calls: neither
/// zeroed nor copied out per call.
///
/// `ahead`: weights a later call reads, whose cache lines are asked for in L2 while this one
/// runs (AVX-512 build only; it changes no value).
pub fn gemm_tiles16<const P: usize>(a: &[f32], ci: usize, b: [&[f32]; P], tiles: &mut [[[f32; 16]; MR]; P], ahead: &[f32]) {
    let avx512 = super::conv_spikes_avx512::enabled();
    if !avx512 {
        *tiles = b.map(|b| gemm_tile16_isa(a, ci, b, false));
        return;
    }
    assert!(a.len() >= ci * MR && b.iter().all(|b| b.len() >= ci * 16) && ci.is_multiple_of(8));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F, AVX2 and FMA are present (`enabled`); every read is in bounds (asserted).
    unsafe {
        x86_512::panel16_blocks(a.as_ptr(), ci, b.map(|b| b.as_ptr()), tiles, ahead.as_ptr(), ahead.len() / 16)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::precision::Weight;
    use super::{Geometry, MR, Task};

    /// Every tile of the task, block by block so a block's weights stay in cache.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tiles<W: Weight>(t: &Task, padded: &[f32], g: &Geometry) {
        // SAFETY: the caller guarantees the CPU features and the bounds documented above.
        unsafe {
            let (ci, co, k, s, wp, so) = (g.ci(), g.co(), g.k(), g.stride(), g.padded_w(), g.so);
            let nb = g.nb();
            // Offsets of the taps from a window's top-left corner in the padded input.
            let taps: Vec<usize> = (0..k * k).map(|t| ((t / k) * wp + t % k) * ci).collect();
            // Top-left corner of each output pixel's window; the last one repeats to fill a tile.
            let corners: Vec<usize> = t.pixels.clone().map(|p| ((p / so.w) * s * wp + (p % so.w) * s) * ci).collect();
            let max_corner = corners.iter().max().copied().unwrap_or(0);
            // Every input read is at corner + tap offset + channel < padded.len().
            assert!(max_corner + taps.last().copied().unwrap_or(0) + ci <= padded.len());
            let lanes_per_sub = if nb >= 16 { 16 } else { 8 };
            let avx512 = g.avx512 && std::is_x86_feature_detected!("avx512dq");
            let avx512vl = avx512 && std::is_x86_feature_detected!("avx512vl");
            let mut tile = [[0f32; 16]; MR];
            let mut pair = [[[0f32; 16]; MR]; 2];
            let mut quad = [[[0f32; 16]; MR]; 4];
            // With AVX-512, four or two 16-lane sub-blocks at a time where the block has them.
            let step = if avx512 && nb >= 64 {
                64
            } else if avx512 && nb >= 32 {
                32
            } else {
                lanes_per_sub
            };
            for blk in t.blocks.clone() {
                let (w, bias) = g.block::<W>(blk);
                for sub in (0..nb).step_by(step) {
                    let c0 = blk * nb + sub;
                    if c0 >= co {
                        break;
                    }
                    let lanes = lanes_per_sub.min(co - c0);
                    if lanes_per_sub == 8 {
                        // Eight lanes: twelve pixels at a time (twelve accumulators).
                        let rows = Rows { taps: &taps, ci, cw: g.cw(), w: w.as_ptr().add(sub), nb };
                        for (t0, chunk) in corners.chunks(2 * MR).enumerate() {
                            let a: [*const f32; 2 * MR] = std::array::from_fn(|i| padded.as_ptr().add(chunk[i.min(chunk.len() - 1)]));
                            if avx512vl {
                                tile8x2_512(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut pair);
                            } else {
                                tile8x2(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut pair);
                            }
                            for i in 0..chunk.len() {
                                let row = &pair[i / MR][i % MR];
                                let row = row.first_chunk::<8>().expect("eight lanes of sixteen");
                                t.store_lanes(co, t.pixels.start + t0 * 2 * MR + i, c0, row, lanes);
                            }
                        }
                        continue;
                    }
                    for (t0, chunk) in corners.chunks(MR).enumerate() {
                        let a: [*const f32; MR] = std::array::from_fn(|i| padded.as_ptr().add(chunk[i.min(chunk.len() - 1)]));
                        let wsub = w.as_ptr().add(sub);
                        let rows = Rows { taps: &taps, ci, cw: g.cw(), w: wsub, nb };
                        if step >= 32 {
                            // Sub-blocks' lanes past `co` hold zero weights (computed, not stored).
                            let tiles: &[[[f32; 16]; MR]] = if step == 64 {
                                super::x86_512::tile16_blocks(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut quad);
                                &quad
                            } else {
                                super::x86_512::tile16_blocks(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut pair);
                                &pair
                            };
                            for (half, tile) in tiles.iter().enumerate() {
                                let (c, n) = (c0 + 16 * half, (co.saturating_sub(c0 + 16 * half)).min(16));
                                for (i, row) in tile.iter().take(chunk.len()).enumerate().filter(|_| n > 0) {
                                    t.store_lanes(co, t.pixels.start + t0 * MR + i, c, row, n);
                                }
                            }
                            continue;
                        }
                        if lanes_per_sub == 16 && avx512 {
                            super::x86_512::tile16(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut tile);
                        } else {
                            tile16(&a, &rows, bias.as_ptr().add(sub), g.scale, &mut tile);
                        }
                        for (i, row) in tile.iter().take(chunk.len()).enumerate() {
                            t.store_lanes(co, t.pixels.start + t0 * MR + i, c0, row, lanes);
                        }
                    }
                }
            }
        }
    }

    /// A block's weight rows as the tiles read them: `[ci/cw][taps][cw]` rows of `nb` floats
    /// from `w`, the input of (tap, channel) at `taps[tap] + channel` from a window corner.
    pub(super) struct Rows<'a, W> {
        pub(super) taps: &'a [usize],
        pub(super) ci: usize,
        pub(super) cw: usize,
        pub(super) w: *const W,
        pub(super) nb: usize,
    }

    /// `tile[i][0..16] = scale · (bias + Σ_{tap, c} a[i][tap + c] · w[c / cw][tap][c % cw][0..16])`;
    /// `a[i]`: window corners.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile16<W: Weight>(a: &[*const f32; MR], r: &Rows<W>, bias: *const f32, scale: f32, tile: &mut [[f32; 16]; MR]) {
        // SAFETY: the caller guarantees the CPU features and the bounds documented above.
        unsafe {
            let b0 = _mm256_loadu_ps(bias);
            let b1 = _mm256_loadu_ps(bias.add(8));
            let mut acc = [[b0, b1]; MR];
            let mut wr = r.w;
            for c0 in (0..r.ci).step_by(r.cw) {
                for &off in r.taps {
                    let base: [*const f32; MR] = std::array::from_fn(|i| a[i].add(off + c0));
                    for c in 0..r.cw {
                        let w0 = W::load8(wr);
                        let w1 = W::load8(wr.add(8));
                        for i in 0..MR {
                            let x = _mm256_broadcast_ss(&*base[i].add(c));
                            acc[i][0] = _mm256_fmadd_ps(x, w0, acc[i][0]);
                            acc[i][1] = _mm256_fmadd_ps(x, w1, acc[i][1]);
                        }
                        wr = wr.add(r.nb);
                    }
                }
            }
            let sc = _mm256_set1_ps(scale);
            for i in 0..MR {
                _mm256_storeu_ps(tile[i].as_mut_ptr(), _mm256_mul_ps(acc[i][0], sc));
                _mm256_storeu_ps(tile[i].as_mut_ptr().add(8), _mm256_mul_ps(acc[i][1], sc));
            }
        }
    }

    /// [`super::gemm_tile16`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel16(a: *const f32, ci: usize, b: *const f32, tile: &mut [[f32; 16]; MR]) {
        // SAFETY: the caller guarantees the CPU features, `ci` rows of `b` and `ci · MR` floats of `a`.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            let (mut ar, mut br) = (a, b);
            for _ in 0..ci / 8 {
                for cc in 0..8 {
                    let w0 = _mm256_loadu_ps(br);
                    let w1 = _mm256_loadu_ps(br.add(8));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let x = _mm256_broadcast_ss(&*ar.add(i * 8 + cc));
                        acc[0] = _mm256_fmadd_ps(x, w0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(x, w1, acc[1]);
                    }
                    br = br.add(16);
                }
                ar = ar.add(MR * 8);
            }
            for i in 0..MR {
                _mm256_storeu_ps(tile[i].as_mut_ptr(), acc[i][0]);
                _mm256_storeu_ps(tile[i].as_mut_ptr().add(8), acc[i][1]);
            }
        }
    }

    /// [`tile16`] for 8-wide blocks, twelve pixels (`a`) at a time: twelve accumulators, so the
    /// FMAs do not wait on each other's results. Pixel `i` goes to `tiles[i / MR][i % MR][0..8]`.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile8x2<W: Weight>(a: &[*const f32; 2 * MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; 2]) {
        // SAFETY: as `tile16`'s.
        unsafe { tile8x2_body(a, r, bias, scale, tiles) }
    }

    /// [`tile8x2`] built with AVX-512VL: 32 vector registers, and the broadcasts folded into the
    /// FMAs. The same operations, so the same bits.
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
    unsafe fn tile8x2_512<W: Weight>(a: &[*const f32; 2 * MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; 2]) {
        // SAFETY: as `tile16`'s; the caller checked AVX-512VL.
        unsafe { tile8x2_body(a, r, bias, scale, tiles) }
    }

    #[inline(always)]
    unsafe fn tile8x2_body<W: Weight>(a: &[*const f32; 2 * MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; 2]) {
        // SAFETY: the caller guarantees the CPU features and the bounds documented above.
        unsafe {
            let mut acc = [_mm256_loadu_ps(bias); 2 * MR];
            let mut wr = r.w;
            for c0 in (0..r.ci).step_by(r.cw) {
                for &off in r.taps {
                    let base: [*const f32; 2 * MR] = std::array::from_fn(|i| a[i].add(off + c0));
                    for c in 0..r.cw {
                        let w0 = W::load8(wr);
                        for i in 0..2 * MR {
                            acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*base[i].add(c)), w0, acc[i]);
                        }
                        wr = wr.add(r.nb);
                    }
                }
            }
            let sc = _mm256_set1_ps(scale);
            for i in 0..2 * MR {
                _mm256_storeu_ps(tiles[i / MR][i % MR].as_mut_ptr(), _mm256_mul_ps(acc[i], sc));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[path = "conv_dense_avx512.rs"]
mod x86_512;

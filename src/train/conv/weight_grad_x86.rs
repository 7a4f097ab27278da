//! The register kernels of the weight gradient ([`super::weight_grad`]) for 1×1 and 3×3
//! kernels: a block of output channels' `k·k` tap sums stay in registers while every non-zero
//! input ([`Hit`]) adds its output-gradient vectors, `v · g` (or `g` where every value of the
//! plane is 1, the same value). AVX-512 takes blocks of 32 and 16 channels (up to 18 `zmm`
//! sums), AVX2 blocks of 8 (nine `ymm`); each lane takes the terms of the plain loops in the same
//! order, so every build gives the same bits. `SPIKESTREAM_CPU_ISA=avx2` keeps AVX2.

// The sums are arrays of registers indexed by tap and block in fully unrolled loops.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::flex::Dims;
use super::weight_grad::{ByChannel, Hit, by_channel_with, collect_with};

/// Adds the hits' terms to `acc` `[k·k, Co]` (`k` 1 or 3) for the leading output channels the
/// register kernels take; returns how many (the rest is left to the plain loops).
pub(super) fn add_hits(acc: &mut [f32], co: usize, k: usize, hits: &[Hit], g: &[f32], taps: &[usize], spikes: bool) -> usize {
    assert!(k == 1 || k == 3, "weight_grad_x86: k {k}");
    assert!(acc.len() >= k * k * co && taps.len() == k * k);
    // Every tap a hit names reads `Co` values inside `g` (`weight_grad::collect` builds the hits
    // from the plane's geometry); checked here once per call, not per load.
    let inside = |h: &Hit| {
        let tap = |ky: u8, kx: u8| taps[usize::from(ky) * k + usize::from(kx)];
        let empty = h.ky[0] > h.ky[1] || h.kx[0] > h.kx[1];
        empty || (h.hi >= tap(h.ky[1], h.kx[1]) && h.hi - tap(h.ky[0], h.kx[0]) + co <= g.len())
    };
    assert!(hits.iter().all(inside), "weight_grad_x86: a hit reads outside the output gradient");
    let mut o = 0;
    if crate::engine::cpu::avx512_enabled() {
        while co - o >= 32 {
            // SAFETY: AVX-512F detected; channels o..o + 32 of every sum row and of every tap's
            // output-gradient row lie inside `acc` and `g` (checked above).
            unsafe { block512::<2>(acc, co, o, k, hits, g, taps, spikes) };
            o += 32;
        }
        if co - o >= 16 {
            // SAFETY: as above, for channels o..o + 16.
            unsafe { block512::<1>(acc, co, o, k, hits, g, taps, spikes) };
            o += 16;
        }
    }
    if std::is_x86_feature_detected!("avx2") {
        while co - o >= 8 {
            // SAFETY: AVX2 detected; channels o..o + 8 as above.
            unsafe { block256(acc, co, o, k, hits, g, taps, spikes) };
            o += 8;
        }
    }
    o
}

/// `weight_grad::collect` with eight compares at a time.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn collect_avx2(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]], hits: &mut Vec<Hit>) -> bool {
    // SAFETY: AVX2 is enabled here.
    collect_with(xs, d, rows, cols, hits, |part| unsafe { nonzero_bits_avx2(part) })
}

/// `weight_grad::by_channel` with eight compares at a time.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn by_channel_avx2(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]]) -> ByChannel {
    // SAFETY: AVX2 is enabled here.
    by_channel_with(xs, d, rows, cols, |part| unsafe { nonzero_bits_avx2(part) })
}

/// Bit `b` set where `part[b]` (at most 64 values) is not zero.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn nonzero_bits_avx2(part: &[f32]) -> u64 {
    debug_assert!(part.len() <= 64);
    let (eights, rest) = part.as_chunks::<8>();
    let mut bits = 0u64;
    for (i, e) in eights.iter().enumerate() {
        // SAFETY: `e` is eight readable values; AVX2 is enabled. `NEQ_UQ`: not zero, NaN
        // included, as `v != 0.0`.
        let m = unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(_mm256_loadu_ps(e.as_ptr()), _mm256_setzero_ps())) };
        bits |= u64::from(m as u8) << (8 * i);
    }
    let first = 8 * eights.len();
    rest.iter().enumerate().fold(bits, |m, (b, &v)| m | (u64::from(v != 0.0) << (first + b)))
}

/// Whether tap `(ky, kx)` of `h` reads inside the output plane.
#[inline(always)]
fn reaches(h: &Hit, ky: usize, kx: usize) -> bool {
    (usize::from(h.ky[0])..=usize::from(h.ky[1])).contains(&ky) && (usize::from(h.kx[0])..=usize::from(h.kx[1])).contains(&kx)
}

/// Whether every tap of `h` reads inside the plane (an interior input).
#[inline(always)]
fn interior(h: &Hit, k: usize) -> bool {
    let last = (k - 1) as u8;
    h.ky == [0, last] && h.kx == [0, last]
}

/// Channels `o..o + 16·B` of the `K·K` tap sums in `K·K·B` `zmm` registers.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block512<const B: usize>(acc: &mut [f32], co: usize, o: usize, k: usize, hits: &[Hit], g: &[f32], taps: &[usize], spikes: bool) {
    // SAFETY: the caller checked the bounds (`add_hits`).
    unsafe {
        match (k, spikes) {
            (1, true) => sums512::<1, B, false>(acc, co, o, hits, g, taps),
            (1, false) => sums512::<1, B, true>(acc, co, o, hits, g, taps),
            (_, true) => sums512::<3, B, false>(acc, co, o, hits, g, taps),
            (_, false) => sums512::<3, B, true>(acc, co, o, hits, g, taps),
        }
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn sums512<const K: usize, const B: usize, const MUL: bool>(acc: &mut [f32], co: usize, o: usize, hits: &[Hit], g: &[f32], taps: &[usize]) {
    // SAFETY: the caller checked that channels o..o + 16·B of every tap row lie inside `acc` and
    // `g`; `reaches` keeps every load to a tap inside the plane.
    unsafe {
        let (a0, g0) = (acc.as_mut_ptr().add(o), g.as_ptr().add(o));
        let taps: [usize; 9] = std::array::from_fn(|t| if t < K * K { taps[t] } else { 0 });
        let mut s = [[_mm512_setzero_ps(); B]; 9];
        for t in 0..K * K {
            for b in 0..B {
                s[t][b] = _mm512_loadu_ps(a0.add(t * co + 16 * b));
            }
        }
        for h in hits {
            let v = _mm512_set1_ps(h.v);
            let full = interior(h, K);
            for t in 0..K * K {
                if full || reaches(h, t / K, t % K) {
                    let r = g0.add(h.hi - taps[t]);
                    for b in 0..B {
                        let x = _mm512_loadu_ps(r.add(16 * b));
                        s[t][b] = _mm512_add_ps(s[t][b], if MUL { _mm512_mul_ps(v, x) } else { x });
                    }
                }
            }
        }
        for t in 0..K * K {
            for b in 0..B {
                _mm512_storeu_ps(a0.add(t * co + 16 * b), s[t][b]);
            }
        }
    }
}

/// Channels `o..o + 8` of the `k·k` tap sums in `k·k` `ymm` registers.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn block256(acc: &mut [f32], co: usize, o: usize, k: usize, hits: &[Hit], g: &[f32], taps: &[usize], spikes: bool) {
    // SAFETY: the caller checked the bounds (`add_hits`).
    unsafe {
        match (k, spikes) {
            (1, true) => sums256::<1, false>(acc, co, o, hits, g, taps),
            (1, false) => sums256::<1, true>(acc, co, o, hits, g, taps),
            (_, true) => sums256::<3, false>(acc, co, o, hits, g, taps),
            (_, false) => sums256::<3, true>(acc, co, o, hits, g, taps),
        }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn sums256<const K: usize, const MUL: bool>(acc: &mut [f32], co: usize, o: usize, hits: &[Hit], g: &[f32], taps: &[usize]) {
    // SAFETY: as in `sums512`, for channels o..o + 8.
    unsafe {
        let (a0, g0) = (acc.as_mut_ptr().add(o), g.as_ptr().add(o));
        let taps: [usize; 9] = std::array::from_fn(|t| if t < K * K { taps[t] } else { 0 });
        let mut s = [_mm256_setzero_ps(); 9];
        for t in 0..K * K {
            s[t] = _mm256_loadu_ps(a0.add(t * co));
        }
        for h in hits {
            let v = _mm256_set1_ps(h.v);
            let full = interior(h, K);
            for t in 0..K * K {
                if full || reaches(h, t / K, t % K) {
                    let x = _mm256_loadu_ps(g0.add(h.hi - taps[t]));
                    s[t] = _mm256_add_ps(s[t], if MUL { _mm256_mul_ps(v, x) } else { x });
                }
            }
        }
        for t in 0..K * K {
            _mm256_storeu_ps(a0.add(t * co), s[t]);
        }
    }
}

//! The weight gradient of a stride-1 convolution on Flex,
//! `gW[o, c, ky, kx] = Σ_{n, y, x} x[n, c, y, x] · g[n, o, oy, ox]` (`oy = y + p − ky`,
//! `ox = x + p − kx`), summed over the non-zero inputs only: a spike (1) adds output-gradient
//! values without a multiply.
//!
//! Per non-zero input and kernel row, one contiguous run of output-gradient rows is added to the
//! sums (the taps of a kernel row are stored reversed for that). Threads take groups of input
//! channels, each owning its `[k, k, Co]` slices of the result, and every result value receives
//! its terms in one fixed order (sample, then input position in row order), so the result does
//! not depend on the thread count.
//!
//! The common output-channel counts (8, 16, 32, 64) are compile-time constants ([`sized`]), so
//! a tap's row add is straight-line code: width/8 training at one thread 70.3–70.8 → 71.7–72.9
//! samples/s (interleaved, 2026-12-07 03:25 UTC; same loss bits).
//!
//! Measured and not kept: 3×3 kernels register-tiled per 8 output channels (the 9 tap sums in
//! registers while a plane's non-zeros add their output-gradient vectors): no change in a width/8
//! training run (perf stat task-clock within noise, 2026-12-07 00:15 UTC). Nor did (01:26–01:31
//! UTC, same result bits): one input row's interior non-zeros added into `[3, 3, 8]` register
//! sums per channel block (loaded and stored once per row, perf: the loop went from 19 % to
//! 12 % of the step, but collecting the non-zeros and the edge columns took the rest back),
//! and that with rows outer and channels inner (the output-gradient rows kept in L1). Nor an
//! AVX-512 build adding 16 lanes at a time where `Co` is a multiple of 16 (02:47 UTC, Zen 5,
//! same bits): a width/8 training run went from 65–66 to 44–45 samples/s. Nor fewer channel
//! groups per thread (1 or 2 instead of 4, each group reads the whole output gradient once):
//! width/8 and width/4 runs at 1 and 2 threads within ±3 % (2026-12-07 04:52 UTC). Nor rows
//! outer and channels inner with the plain row adds (same bits; width/4 31.6–32.1 → 30.4–30.8
//! samples/s, 04:57 UTC).

use rayon::prelude::*;

use super::flex::Dims;

/// `gW` `[Co, Ci, k, k]` of a stride-1 convolution from `x` `[N, Ci, H, W]` and the output
/// gradient `g` `[N, Ho, Wo, Co]` (see the module doc). Tasks take groups of input channels and
/// run sample by sample, so a sample's output gradient is read from cache by every channel of
/// the group.
#[inline(never)]
pub(super) fn weight_grad(x: &[f32], g: &[f32], d: &Dims) -> Vec<f32> {
    let (co, k, kk) = (d.co, d.k, d.k * d.k);
    let per_task = d.ci.div_ceil(4 * rayon::current_num_threads()).max(1);
    let mut by_input = vec![0.0f32; d.ci * kk * co];
    by_input.par_chunks_mut(per_task * kk * co).enumerate().for_each(|(task, acc)| weight_grad_channels(x, g, d, task * per_task, acc));
    // `by_input` is `[Ci, ky, k − 1 − kx, Co]`.
    let mut gw = vec![0.0f32; by_input.len()];
    for c in 0..d.ci {
        for ky in 0..k {
            for kx in 0..k {
                let src = &by_input[((c * k + ky) * k + k - 1 - kx) * co..][..co];
                for (o, &v) in src.iter().enumerate() {
                    gw[((o * d.ci + c) * k + ky) * k + kx] = v;
                }
            }
        }
    }
    gw
}

/// `acc` `[c, ky, k − 1 − kx, Co]` = the weight gradients of input channels `first..` (as many
/// as `acc` holds), with AVX2 where the CPU has it (the same operations in the same order: the
/// same result).
fn weight_grad_channels(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected.
        return unsafe { weight_grad_avx2(x, g, d, first, acc) };
    }
    sized(x, g, d, first, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn weight_grad_avx2(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    sized(x, g, d, first, acc)
}

/// [`weight_grad_generic`] with the common output-channel counts as constants, so that each
/// tap's row add is straight-line code (`Co/8` vectors) instead of a counted loop.
#[inline(always)]
fn sized(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    match d.co {
        8 => weight_grad_generic::<8>(x, g, d, first, acc),
        16 => weight_grad_generic::<16>(x, g, d, first, acc),
        32 => weight_grad_generic::<32>(x, g, d, first, acc),
        64 => weight_grad_generic::<64>(x, g, d, first, acc),
        _ => weight_grad_generic::<0>(x, g, d, first, acc),
    }
}

/// With the taps of a kernel row stored in reverse, the output-gradient rows one input value
/// reaches under a kernel row (`ox = x + p − kx`, consecutive) and the weight rows they add to
/// are each one contiguous run. `CO` is `d.co` where it is one of [`sized`]'s constants, else 0.
#[inline(always)]
fn weight_grad_generic<const CO: usize>(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    let (k, co) = (d.k, d.co);
    let (plane_in, plane_out) = (d.si.h * d.si.w, d.so.len());
    if plane_in == 0 {
        return;
    }
    // Per input row: the (ky, oy) pairs it reaches; per input column: the first reversed tap
    // `k − 1 − kx`, the first output column and how many taps.
    let rows: Vec<Vec<(usize, usize)>> = (0..d.si.h).map(|y| (0..k).filter_map(|ky| out_index(y, ky, d.pad, d.so.h).map(|oy| (ky, oy))).collect()).collect();
    let cols: Vec<(usize, usize, usize)> = (0..d.si.w)
        .map(|xx| {
            let taps: Vec<(usize, usize)> = (0..k).filter_map(|kx| out_index(xx, kx, d.pad, d.so.w).map(|ox| (kx, ox))).collect();
            match (taps.first(), taps.last()) {
                (Some(&(_, ox_hi)), Some(&(kx_hi, ox_lo))) => {
                    debug_assert_eq!(ox_hi - ox_lo + 1, taps.len());
                    (k - 1 - kx_hi, ox_lo, taps.len())
                }
                _ => (0, 0, 0),
            }
        })
        .collect();
    for n in 0..d.n {
        let gs = &g[n * plane_out..][..plane_out];
        for (j, acc) in acc.chunks_exact_mut(k * k * co).enumerate() {
            let xs = &x[(n * d.ci + first + j) * plane_in..][..plane_in];
            for (y, row) in xs.chunks_exact(d.si.w).enumerate() {
                let reach = &rows[y];
                for (word, part) in row.chunks(64).enumerate() {
                    // The non-zero columns of 64 as bits (branch-free), then one step per set bit.
                    let mut bits = part.iter().enumerate().fold(0u64, |m, (b, &v)| m | (u64::from(v != 0.0) << b));
                    while bits != 0 {
                        let xx = word * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let v = row[xx];
                        let (tap0, ox0, taps) = cols[xx];
                        for &(ky, oy) in reach {
                            let run = &gs[(oy * d.so.w + ox0) * co..][..taps * co];
                            let dst = &mut acc[(ky * k + tap0) * co..][..taps * co];
                            if CO == 0 {
                                add_run(dst, run, v);
                            } else {
                                for (a, r) in dst.as_chunks_mut::<CO>().0.iter_mut().zip(run.as_chunks::<CO>().0) {
                                    add_row(a, r, v);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `a += r` (`v` = 1, a spike: no multiply) or `a += v·r`, eight lanes at a time: runs are as
/// short as 3 taps × 8 channels, too short for the compiler's unrolled loop, which would leave
/// them all to its scalar remainder.
#[inline(always)]
fn add_run(a: &mut [f32], r: &[f32], v: f32) {
    let ((a8, a_rest), (r8, r_rest)) = (a.as_chunks_mut::<8>(), r.as_chunks::<8>());
    if v == 1.0 {
        for (a, r) in a8.iter_mut().zip(r8) {
            for k in 0..8 {
                a[k] += r[k];
            }
        }
        for (a, r) in a_rest.iter_mut().zip(r_rest) {
            *a += r;
        }
    } else {
        for (a, r) in a8.iter_mut().zip(r8) {
            for k in 0..8 {
                a[k] += v * r[k];
            }
        }
        for (a, r) in a_rest.iter_mut().zip(r_rest) {
            *a += v * r;
        }
    }
}

/// [`add_run`] of one tap's `CO` values (a constant: unrolled, no remainder).
#[inline(always)]
fn add_row<const CO: usize>(a: &mut [f32; CO], r: &[f32; CO], v: f32) {
    if v == 1.0 {
        for k in 0..CO {
            a[k] += r[k];
        }
    } else {
        for k in 0..CO {
            a[k] += v * r[k];
        }
    }
}

/// The output position that input position `i` reaches under tap `t` at stride 1
/// (`o = i + p − t`), if any.
fn out_index(i: usize, t: usize, pad: usize, len: usize) -> Option<usize> {
    (i + pad).checked_sub(t).filter(|&o| o < len)
}


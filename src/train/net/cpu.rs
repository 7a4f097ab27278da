//! What the Flex kernels of this module ([`super::bn_flex`], [`super::pool`]) share: running a
//! loop compiled for AVX2 where the CPU has it ([`with_avx2`]), outputs written straight into
//! fresh memory in parallel ([`par_collect`]), and f32 sums in a fixed lane order ([`lanes`]).
//!
//! The AVX2 code runs the same operations in the same order as the baseline code (no FMA
//! contraction: Rust never contracts, and `fma` is not enabled), so results do not depend on
//! the CPU.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `f()`, compiled with AVX2 enabled where the CPU has it. `f` must be `#[inline(always)]`
/// (closures: `#[inline(always)] || …`) so that its body is inlined into, and compiled as part
/// of, the AVX2 function.
#[inline(always)]
pub(super) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `len` values, `chunk` at a time in parallel: chunk `i` holds what `values(i)` yields (exactly
/// as many values as the chunk has; the last chunk may be shorter), written into the vector's
/// fresh memory (no zeroing pass first) by a loop compiled for AVX2 where the CPU has it.
pub(crate) fn par_collect<T: Send, I: Iterator<Item = T>>(len: usize, chunk: usize, values: impl Fn(usize) -> I + Sync) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    if len > 0 {
        out.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, dst)| {
            let written = with_avx2(
                #[inline(always)]
                || write(dst, values(i)),
            );
            assert_eq!(written, dst.len(), "chunk {i}: the kernel gave {written} of its {} values", dst.len());
        });
    }
    // SAFETY: every chunk was written in full (checked above; a panic leaves `out` empty).
    unsafe { out.set_len(len) };
    out
}

/// Writes `values` into `dst` front to back; how many were written.
#[inline(always)]
fn write<T>(dst: &mut [MaybeUninit<T>], values: impl Iterator<Item = T>) -> usize {
    let mut n = 0;
    for (d, v) in dst.iter_mut().zip(values) {
        d.write(v);
        n += 1;
    }
    n
}

/// `Σ f(a_i, b_i)` (`K` sums of one call) over 16 f32 lanes (vectorised), the lanes summed in
/// f64 (the same result with or without AVX2: the lanes are fixed, not the vector width).
#[inline(always)]
pub(super) fn lanes<const K: usize>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; K]) -> [f64; K] {
    let mut acc = [[0.0f32; 16]; K];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let mut tail = [0.0f64; K];
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail.iter_mut().zip(f(x, y)).for_each(|(t, v)| *t += f64::from(v));
    }
    // One pass per sum over the (cache-resident) inputs: a single pass updating `K`
    // accumulators per lane gets vectorised across the sums (2 wide) instead of the lanes.
    for (k, acc) in acc.iter_mut().enumerate() {
        for (x, y) in ca.clone().zip(cb.clone()) {
            for l in 0..16 {
                acc[l] += f(x[l], y[l])[k];
            }
        }
    }
    std::array::from_fn(|k| acc[k].iter().map(|&v| f64::from(v)).sum::<f64>() + tail[k])
}

//! Average pooling on channel-last buffers: windows of `k × k` taps ([`avg_pool`], its rows
//! [`pool_row`], which the conv kernels' fused neuron pass also runs) and the global average
//! ([`global_avg_pool`]). Sums run in window order from zero, then one division: the bits of
//! PyTorch's `avg_pool2d` where the sums are exact (spikes), and one fixed order otherwise.

use rayon::prelude::*;

use crate::model::graph::{Pool, Shape};

/// `out[b, oy, ox, c] = (Σ_{ky,kx} in[b, oy·s + ky − p, ox·s + kx − p, c]) / divisor`, the sum
/// in window order; the divisor is `k²` with `count_include_pad`, else the valid taps.
pub fn avg_pool(input: &[f32], out: &mut [f32], batch: usize, si: Shape, so: Shape, p: &Pool) {
    out.par_chunks_mut(so.w * si.c).enumerate().take(batch * so.h).for_each(|(r, row)| {
        let (b, oy) = (r / so.h, r % so.h);
        let sample = &input[b * si.len()..(b + 1) * si.len()];
        #[cfg(target_arch = "x86_64")]
        if super::conv_spikes_avx512::enabled() {
            // SAFETY: AVX-512F (and AVX2, FMA) detected.
            return unsafe { pool_row_avx512(sample, 0, oy, row, si, so, p) };
        }
        pool_row(sample, 0, oy, row, si, so, p);
    });
}

/// [`pool_row`] built for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn pool_row_avx512(rows: &[f32], first: usize, oy: usize, row: &mut [f32], si: Shape, so: Shape, p: &Pool) {
    pool_row(rows, first, oy, row, si, so, p)
}

/// Output row `oy` of one sample's [`avg_pool`] into `row` (`[Wo, C]`), from `rows`: the sample's
/// input rows from image row `first` on, which must hold every row the windows read.
///
/// Each output pixel's window taps are listed (up to [`TAPS`] at a time), then summed sixteen channels at a time in a
/// local array the compiler keeps in registers (each lane from 0, its taps in window order, then
/// divided: the bits of a sum in memory). Summed into the output row in memory a tap at a time,
/// sew_resnet18's stem pool (64 channels, 112×112 → 56×56, 3×3 stride 2) at batch 1 took
/// 0.26–0.28 ms on one thread, summed so 0.17–0.19 ms (two threads: 0.13–0.14 → 0.07–0.10;
/// `bench --profile-steps 60`, three interleaved rounds, Zen 5, 2026-12-08). What is left waits
/// on its input, the stem's 3.2 MB of spikes.
#[inline(always)]
pub fn pool_row(rows: &[f32], first: usize, oy: usize, row: &mut [f32], si: Shape, so: Shape, p: &Pool) {
    let (c, window) = (si.c, p.kernel * p.kernel);
    // Up to TAPS taps are listed at a time on the stack: a larger window is summed in runs of
    // them, each run's partial sums kept in `dst` (an f32 stored and loaded again is the same
    // value, so the bits do not change), with no allocation whatever the model's kernel.
    let mut listed = [0usize; TAPS];
    for ox in 0..so.w {
        let dst = &mut row[ox * c..(ox + 1) * c];
        let (mut n, mut valid, mut started) = (0, 0, false);
        for ky in 0..p.kernel {
            let Some(iy) = (oy * p.stride + ky).checked_sub(p.padding).filter(|&y| y < si.h) else { continue };
            for kx in 0..p.kernel {
                let Some(ix) = (ox * p.stride + kx).checked_sub(p.padding).filter(|&x| x < si.w) else { continue };
                if n == TAPS {
                    add_taps(rows, &listed, dst, started, 1.0);
                    (n, started) = (0, true);
                }
                listed[n] = ((iy - first) * si.w + ix) * c;
                n += 1;
                valid += 1;
            }
        }
        let divisor = if p.count_include_pad { window as f32 } else { valid.max(1) as f32 };
        add_taps(rows, &listed[..n], dst, started, divisor);
    }
}

/// Window taps listed at a time by [`pool_row`].
const TAPS: usize = 64;

/// `dst = (from + Σ taps) / divisor` per lane, the taps (offsets of `dst.len()` values in `rows`)
/// in order, `from` 0 or, where `started`, `dst`'s own values; sixteen lanes at a time in a local
/// array the compiler keeps in a register.
#[inline(always)]
fn add_taps(rows: &[f32], taps: &[usize], dst: &mut [f32], started: bool, divisor: f32) {
    let c = dst.len();
    // Every tap's run of `c` values lies inside `rows` (checked once, not per lane block).
    assert!(taps.iter().all(|&at| at + c <= rows.len()), "pool window outside the rows given");
    let (blocks, rest) = dst.as_chunks_mut::<16>();
    for (j, d) in blocks.iter_mut().enumerate() {
        let mut acc = if started { *d } else { [0f32; 16] };
        for &at in taps {
            let src: &[f32; 16] = rows[at + 16 * j..][..16].try_into().expect("16 values");
            acc.iter_mut().zip(src).for_each(|(a, s)| *a += s);
        }
        *d = acc.map(|a| a / divisor);
    }
    let done = blocks.len() * 16;
    for (k, d) in rest.iter_mut().enumerate() {
        let from = if started { *d } else { 0.0 };
        *d = taps.iter().fold(from, |a, &at| a + rows[at + done + k]) / divisor;
    }
}

/// `out[b, c] = (Σ_{y,x} in[b, y, x, c]) / (H·W)`, summed in row-major order.
pub fn global_avg_pool(input: &[f32], out: &mut [f32], batch: usize, si: Shape) {
    let c = si.c;
    for b in 0..batch {
        let dst = &mut out[b * c..(b + 1) * c];
        dst.fill(0.0);
        for px in input[b * si.len()..(b + 1) * si.len()].chunks_exact(c) {
            dst.iter_mut().zip(px).for_each(|(d, s)| *d += s);
        }
        let n = (si.h * si.w) as f32;
        dst.iter_mut().for_each(|d| *d /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every output of `avg_pool` as the definition sums it, element by element.
    fn specification(x: &[f32], batch: usize, si: Shape, so: Shape, p: &Pool) -> Vec<f32> {
        let mut out = vec![0.0; batch * so.len()];
        for b in 0..batch {
            for oy in 0..so.h {
                for ox in 0..so.w {
                    for c in 0..si.c {
                        let (mut sum, mut valid) = (0.0f32, 0);
                        for ky in 0..p.kernel {
                            for kx in 0..p.kernel {
                                let (y, xx) = ((oy * p.stride + ky) as isize - p.padding as isize, (ox * p.stride + kx) as isize - p.padding as isize);
                                if y >= 0 && xx >= 0 && (y as usize) < si.h && (xx as usize) < si.w {
                                    sum += x[b * si.len() + (y as usize * si.w + xx as usize) * si.c + c];
                                    valid += 1;
                                }
                            }
                        }
                        let divisor = if p.count_include_pad { (p.kernel * p.kernel) as f32 } else { valid.max(1) as f32 };
                        out[b * so.len() + (oy * so.w + ox) * so.c + c] = sum / divisor;
                    }
                }
            }
        }
        out
    }

    /// The pool's rows (16-lane blocks in registers, a remainder of lanes, windows of more taps
    /// than it lists at a time: 81 and 100) equal the specification bit for bit on values whose sums
    /// round, with and without padding counted, on overlapping and non-overlapping windows.
    #[test]
    fn avg_pool_equals_the_specification() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.3
        };
        for (c, h, kernel, stride, padding) in [(64, 11, 3, 2, 1), (20, 8, 2, 2, 0), (3, 9, 3, 1, 1), (35, 12, 9, 3, 4), (16, 7, 7, 2, 3), (17, 10, 10, 1, 5)] {
            for count_include_pad in [true, false] {
                let p = Pool { kernel, stride, padding, count_include_pad };
                let si = Shape::new(c, h, h);
                let o = (h + 2 * padding - kernel) / stride + 1;
                let so = Shape::new(c, o, o);
                let batch = 2;
                let x: Vec<f32> = (0..batch * si.len()).map(|_| next()).collect();
                let mut out = vec![f32::NAN; batch * so.len()];
                avg_pool(&x, &mut out, batch, si, so, &p);
                let want = specification(&x, batch, si, so, &p);
                let differ = out.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                assert_eq!(differ, 0, "{c} channels, {h}×{h}, k{kernel} s{stride} p{padding}, count_include_pad {count_include_pad}");
            }
        }
    }
}

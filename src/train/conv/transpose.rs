//! `[N, rows, cols]` → `[N, cols, rows]`: the layout changes between burn's `[N, C, H·W]` and
//! the engine's `[N, H·W, C]` for convolutions of channel-first activations (evaluation's
//! folded network; training keeps its activations channel-last), four per convolution and step
//! (forward input and output, backward output gradient and input gradient).
//!
//! Samples run in parallel. Within a plane, 8×8 blocks are transposed in registers with AVX2
//! (eight row loads, three shuffle stages, eight row stores), the edges value by value; without
//! AVX2 the whole plane goes value by value. A transposition only moves values: every path gives
//! the same result. The destination is not zeroed first (every value is written once).

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `[n, rows, cols]` → `[n, cols, rows]`.
pub(super) fn transpose(src: &[f32], n: usize, rows: usize, cols: usize) -> Vec<f32> {
    let len = n * rows * cols;
    assert!(src.len() >= len, "transpose: {} values for {n}×{rows}×{cols}", src.len());
    let plane = (rows * cols).max(1);
    let mut dst = Vec::with_capacity(len);
    dst.spare_capacity_mut()[..len].par_chunks_mut(plane).zip(src[..len].par_chunks(plane)).for_each(|(d, s)| plane_into(s, d, rows, cols));
    // SAFETY: `plane_into` wrote every one of the `len` values (one plane per chunk).
    unsafe { dst.set_len(len) };
    dst
}

/// One `[rows, cols]` plane into `[cols, rows]`, writing every value of `d`.
fn plane_into(s: &[f32], d: &mut [MaybeUninit<f32>], rows: usize, cols: usize) {
    assert!(s.len() == rows * cols && d.len() == rows * cols);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        for r0 in (0..r8).step_by(8) {
            for c0 in (0..c8).step_by(8) {
                // SAFETY: AVX2 was detected; rows r0..r0+8 and columns c0..c0+8 lie inside the
                // plane (r0 + 8 ≤ rows, c0 + 8 ≤ cols), in `s` and in `d` (lengths asserted).
                unsafe { block8_avx2(s.as_ptr().add(r0 * cols + c0), cols, d.as_mut_ptr().add(c0 * rows + r0).cast(), rows) };
            }
        }
        scalar(s, d, rows, cols, r8..rows, 0..cols);
        scalar(s, d, rows, cols, 0..r8, c8..cols);
        return;
    }
    scalar(s, d, rows, cols, 0..rows, 0..cols);
}

/// `d[c, r] = s[r, c]` for the rows and columns given, in 8×8 tiles written a row at a time.
fn scalar(s: &[f32], d: &mut [MaybeUninit<f32>], rows: usize, cols: usize, rs: std::ops::Range<usize>, cs: std::ops::Range<usize>) {
    for r0 in rs.clone().step_by(8) {
        let r1 = (r0 + 8).min(rs.end);
        for c in cs.clone() {
            for r in r0..r1 {
                d[c * rows + r].write(s[r * cols + c]);
            }
        }
    }
}

/// The 8×8 block at `s` (row stride `ss`) transposed into `d` (row stride `ds`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block8_avx2(s: *const f32, ss: usize, d: *mut f32, ds: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller guarantees eight rows of eight values at `s` and `d`.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(s.add(i * ss)));
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
        let t: [__m256; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
            if i % 2 == 0 { _mm256_unpacklo_ps(a, b) } else { _mm256_unpackhi_ps(a, b) }
        });
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for j in 0..4 {
            _mm256_storeu_ps(d.add(j * ds), _mm256_permute2f128_ps::<0x20>(u[j], u[j + 4]));
            _mm256_storeu_ps(d.add((j + 4) * ds), _mm256_permute2f128_ps::<0x31>(u[j], u[j + 4]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_definition_at_every_edge() {
        for (n, rows, cols) in [(1, 8, 8), (2, 2, 2304), (3, 13, 21), (1, 16, 24), (2, 9, 8), (1, 1, 1), (4, 0, 5), (1, 64, 7)] {
            let src: Vec<f32> = (0..n * rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
            let got = transpose(&src, n, rows, cols);
            let want: Vec<f32> = (0..n).flat_map(|s| (0..cols).flat_map(move |c| (0..rows).map(move |r| (s, r, c)))).map(|(s, r, c)| src[(s * rows + r) * cols + c]).collect();
            assert_eq!(got, want, "{n}×{rows}×{cols}");
        }
    }
}

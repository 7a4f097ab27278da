//! The transforms of Winograd F(4×4, 3×3) for [`super::winograd`]: a 4×4 output tile from a 6×6
//! input window costs 36 multiply-adds per input and output channel, where F(2×2, 3×3) takes
//! 4 · 16 = 64 for the same 16 pixels and the direct convolution 144.
//!
//! Interpolation points 0, ±1, ±2 and ∞ (Lavin and Gray's F(4×4, 3×3)), with `G` scaled by 24 so
//! that every matrix has integer entries:
//! ```text
//!      ⎡4  0 −5  0  1  0⎤         ⎡ 6  0  0⎤        ⎡1  1  1  1  1  0⎤
//!      ⎢0 −4 −4  1  1  0⎥         ⎢−4 −4 −4⎥        ⎢0  1 −1  2 −2  0⎥
//! Bᵀ = ⎢0  4 −4 −1  1  0⎥  24·G = ⎢−4  4 −4⎥   Aᵀ = ⎢0  1  1  4  4  0⎥
//!      ⎢0 −2 −1  2  1  0⎥         ⎢ 1  2  4⎥        ⎣0  1 −1  8 −8  1⎦
//!      ⎢0  2 −1 −2  1  0⎥         ⎢ 1 −2  4⎥
//!      ⎣0  4  0 −5  0  1⎦         ⎣ 0  0 24⎦
//! ```
//! So the weights enter as `U' = 576 · U`, every intermediate is an integer combination of the
//! inputs' and weights' values, and the output transform ends with a division by 576: where
//! every intermediate fits f32's 24 bits the result is the exact one. The intermediates grow
//! up to 2²⁴ times the direct sum's terms, though (|Bᵀ| row sums 10, |24·G| 24, |Aᵀ| 19), so on
//! dyadic weights whose direct sums are exact they would round; [`super::conv_choice`] takes
//! F(4×4) only for layers whose weights already span more bits than f32 holds, whose sums
//! round in every kernel and order.
//!
//! Measured and not kept (2026-12-08 01:35 UTC, Zen 5, sew_resnet18 at batch 1, one thread, three
//! interleaved rounds): both transforms also built for AVX-512 (with VL, so the eight-lane vectors
//! get 32 registers; the same operations), the output transform without its zeroed `T` (whose
//! `memset` and the input transform's `memcpy` show in `perf` at ~1.3 % each): the 56×56
//! layers' conv1 0.59–0.71 → 0.69–0.82 ms with AVX-512, within noise without.

use super::conv_dense::MR;

/// `U' = (24·G) g (24·G)ᵀ` of one 3×3 kernel `g` (row-major), `[ξ = 6·r + x]`, exact in f64.
pub fn weights(g: &[f64]) -> [f64; 36] {
    let col = |a: f64, b: f64, c: f64| [6.0 * a, -4.0 * (a + b + c), -4.0 * (a - b + c), a + 2.0 * b + 4.0 * c, a - 2.0 * b + 4.0 * c, 24.0 * c];
    // t[r][x] = (G' g)[r][x]: each column of g through G'.
    let t: [[f64; 3]; 6] = {
        let cols: [[f64; 6]; 3] = std::array::from_fn(|x| col(g[x], g[3 + x], g[6 + x]));
        std::array::from_fn(|r| std::array::from_fn(|x| cols[x][r]))
    };
    let mut u = [0.0; 36];
    for (r, t) in t.iter().enumerate() {
        u[6 * r..6 * r + 6].copy_from_slice(&col(t[0], t[1], t[2]));
    }
    u
}

type V8 = [f32; 8];

/// `Bᵀ d` of six values (a column or a row of the window), eight channels at a time.
#[inline(always)]
fn bt(d: [V8; 6]) -> [V8; 6] {
    let f = |a: f32, x: V8, b: f32, y: V8| -> V8 { std::array::from_fn(|i| a * x[i] + b * y[i]) };
    let add = |x: V8, y: V8| -> V8 { std::array::from_fn(|i| x[i] + y[i]) };
    let (s12, d12) = (add(d[1], d[2]), f(1.0, d[1], -1.0, d[2]));
    let (s34, d34) = (add(d[3], d[4]), f(1.0, d[4], -1.0, d[3]));
    let d42 = f(1.0, d[4], -1.0, d[2]);
    let d31 = f(1.0, d[3], -1.0, d[1]);
    [
        add(f(4.0, d[0], -5.0, d[2]), d[4]),
        f(1.0, s34, -4.0, s12),
        f(1.0, d34, 4.0, d12),
        f(1.0, d42, 2.0, d31),
        f(1.0, d42, -2.0, d31),
        add(f(4.0, d[1], -5.0, d[3]), d[5]),
    ]
}

/// Lane `lane` of a group's panel `v` `[36][ci/8][MR][8]` = `(Bᵀ d B)[ξ]` for every channel:
/// `d[r][x]` the 6×6 window's pixels (`ci` each).
pub fn input(d: &[[&[f32]; 6]; 6], v: &mut [f32], lane: usize, ci: usize) {
    assert!(super::conv_dense::available(), "Winograd runs on CPUs with AVX2 and FMA only");
    // SAFETY: AVX2 and FMA are present (checked above).
    unsafe { input_avx2(d, v, lane, ci) }
}

/// [`input`] built for AVX2 (the same operations as portable code: no contraction into FMAs).
#[allow(clippy::needless_range_loop)] // r indexes the inner arrays of six arrays at once
#[target_feature(enable = "avx2,fma")]
unsafe fn input_avx2(d: &[[&[f32]; 6]; 6], v: &mut [f32], lane: usize, ci: usize) {
    let c8 = ci / 8;
    for cb in 0..c8 {
        let ld = |r: usize, x: usize| -> V8 { *d[r][x][cb * 8..].first_chunk().expect("8 channels") };
        // a[x][r] = (Bᵀ d)[r][x]
        let a: [[V8; 6]; 6] = std::array::from_fn(|x| bt(std::array::from_fn(|r| ld(r, x))));
        for r in 0..6 {
            for (x, val) in bt(std::array::from_fn(|x| a[x][r])).into_iter().enumerate() {
                let at = (((r * 6 + x) * c8 + cb) * MR + lane) * 8;
                v[at..at + 8].copy_from_slice(&val);
            }
        }
    }
}

/// One tile's outputs: `rows` holds up to four output rows of `stride` values, the tile's
/// pixels start at `at` in each, `co` values each, up to four inside the image (the rest of the
/// tile is not written); `((Aᵀ M A)[dy][j] / 576 + bias) · scale` there, `m` the tile's `M`
/// `[co/16][ξ][16]` (`co` rounded up to 16, as the products write it).
pub fn output(m: &[f32], rows: &mut [f32], stride: usize, at: usize, bias: &[f32], scale: f32) {
    let co = bias.len();
    let (h, w) = (rows.len() / stride, ((stride - at) / co).min(4));
    assert!(h <= 4 && rows.len() == h * stride && at + w * co <= stride && m.len() >= co.div_ceil(16) * 36 * 16);
    assert!(super::conv_dense::available(), "Winograd runs on CPUs with AVX2 and FMA only");
    // SAFETY: AVX2 and FMA are present (checked above); the slices' lengths were checked.
    unsafe { tile(m, rows, stride, at, (h, w), bias, scale) }
}

type V16 = [f32; 16];

/// Aᵀ's row `K` applied to six vectors.
#[inline(always)]
fn at<const K: usize>(v: &[V16; 6]) -> V16 {
    std::array::from_fn(|i| {
        let (s12, d12, s34, d34) = (v[1][i] + v[2][i], v[1][i] - v[2][i], v[3][i] + v[4][i], v[3][i] - v[4][i]);
        match K {
            0 => v[0][i] + s12 + s34,
            1 => d12 + 2.0 * d34,
            2 => s12 + 4.0 * s34,
            _ => d12 + 8.0 * d34 + v[5][i],
        }
    })
}

/// [`output`]'s `h` × `w` pixels, 16 channels at a time in AVX2 registers (the same operations
/// as portable code: no contraction into FMAs).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile(m: &[f32], rows: &mut [f32], stride: usize, at: usize, (h, w): (usize, usize), bias: &[f32], scale: f32) {
    let co = bias.len();
    for c0 in (0..co).step_by(16) {
        let n = (co - c0).min(16);
        let blk = &m[c0 / 16 * 36 * 16..][..36 * 16];
        // T = Aᵀ M (4 × 6), then each row of T times A.
        let mut t = [[[0.0; 16]; 6]; 4];
        for x in 0..6 {
            let col = all(&std::array::from_fn(|k| *blk[(6 * k + x) * 16..].first_chunk::<16>().expect("16 values")));
            for r in 0..4 {
                t[r][x] = col[r];
            }
        }
        let mut b = [0.0; 16];
        b[..n].copy_from_slice(&bias[c0..c0 + n]);
        for (r, t) in t.iter().enumerate().take(h) {
            for (j, y) in all(t).iter().enumerate().take(w) {
                let o = &mut rows[r * stride + at + j * co + c0..][..n];
                for (o, (y, b)) in o.iter_mut().zip(y.iter().zip(&b)) {
                    *o = (y / 576.0 + b) * scale;
                }
            }
        }
    }
}

/// Aᵀ applied to six vectors: its four rows.
#[inline(always)]
fn all(v: &[V16; 6]) -> [V16; 4] {
    [at::<0>(v), at::<1>(v), at::<2>(v), at::<3>(v)]
}

#[cfg(test)]
mod tests {
    /// One dimension of F(4, 3) on integers: `Aᵀ ((G' g) ⊙ (Bᵀ d)) / 24` equals the correlation.
    #[test]
    fn one_dimension_equals_the_correlation() {
        let g = [3.0, -2.0, 5.0];
        let d = [1.0, 4.0, -3.0, 2.0, 7.0, -1.0];
        let gg = super::weights(&[g[0], g[1], g[2], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // Row r of U' with only the first kernel row non-zero is 6 · (G' g)[r] · …; take the
        // 1-D transform directly instead: G' g.
        let gp = [6.0 * g[0], -4.0 * (g[0] + g[1] + g[2]), -4.0 * (g[0] - g[1] + g[2]), g[0] + 2.0 * g[1] + 4.0 * g[2], g[0] - 2.0 * g[1] + 4.0 * g[2], 24.0 * g[2]];
        assert_eq!(gg[0..6].iter().map(|v| v / 6.0).collect::<Vec<_>>(), gp.to_vec());
        let b: [f32; 6] = {
            let d8 = d.map(|v| [v as f32; 8]);
            super::bt(d8).map(|v| v[0])
        };
        let mm: [f32; 6] = std::array::from_fn(|i| b[i] * gp[i] as f32);
        for j in 0..4 {
            let want: f64 = (0..3).map(|k| g[k] * d[j + k]).sum();
            let (s12, d12, s34, d34) = (mm[1] + mm[2], mm[1] - mm[2], mm[3] + mm[4], mm[3] - mm[4]);
            let y = [mm[0] + s12 + s34, d12 + 2.0 * d34, s12 + 4.0 * s34, d12 + 8.0 * d34 + mm[5]][j];
            assert_eq!(f64::from(y) / 24.0, want, "output {j}");
        }
    }
}

//! The AVX-512 build of the strip convolution ([`super::conv_strip`]: sparse inputs of fewer
//! than 8 channels, such as an image stem or a first layer on event frames), by window masks.
//!
//! The input becomes one bit per value, with a zero border as wide as the padding
//! ([`Rows::fill_bits`]). An output pixel's window is then `k` runs of `k·ci` consecutive bits
//! (one per tap row), and bit `(ky·k + kx)·ci + c` of their concatenation is set where the
//! window's value at tap (ky, kx), channel c is non-zero, and that number is also the row of the
//! weights it adds (the packing of fewer than 8 channels, `[k·k][ci][lanes]`). A byte compress
//! under the mask (AVX-512 VBMI2) lists those rows in order, and the pixel's accumulators, in
//! registers, take each listed row times its value (fused multiply-adds). One loop per pixel
//! whose length is data, instead of the portable kernel's test per (listed value, pixel).
//!
//! Each output pixel receives its terms in window order (tap row, tap column, input channel),
//! zeros skipped, one rounding each: the portable strip kernel's order, so the same bits.
//!
//! Measured (2026-12-07 18:10 UTC, Zen 5, batch 1, one thread, `conv_tests::rates::strip_rates`,
//! caches flushed between calls, 10 % of the input values non-zero): sew_resnet18's ImageNet stem
//! (3 → 64, 7×7 stride 2 at 224×224) 1.17 → 0.57 ms, vgg11_dvs's first layer (2 → 64, 3×3 at
//! 128×128) 0.53 → 0.27 ms. In the whole network (`bench`, the layer with its fused neurons)
//! sew_resnet18's `conv1` 1.36 → 0.70 ms and its step 11.6 → 10.5 ms; vgg11_dvs's first layer
//! 0.93–0.97 → 0.71–0.73 ms. The portable loop's cost was not its adds but its bookkeeping per
//! listed value (~30 cycles each, whatever the number of lanes); the masks cost ~4 ns per tap
//! row and output pixel plus ~1.2 ns per listed row ([`super::conv_strip::pays`]).
//! Tried and dropped: the portable loop with one masked multiply-add per (listed value, pixel of
//! the strip) instead of the test: no faster (1.17 → 1.19 ms); tasks of whole rows (every block)
//! that ran the fused neurons on their rows right away (as Winograd does) instead of the pass
//! after all tasks: no faster (`conv1` with its neurons 0.65–0.68 → 0.67–0.70 ms, vgg11_dvs's
//! first layer 0.67 → 0.70–0.75 ms).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::conv::{Geometry, Task};
use super::conv_strip::Rows;
use crate::model::graph::Shape;

/// Whether [`task`] runs this layer: AVX-512 with VBMI2, f32 weights, blocks of 16, 32 or 64
/// lanes, a tap row of at most 57 values (`k·ci`: one unaligned 64-bit read holds it) and at
/// most 256 weight rows (`k²·ci`: a row is a byte).
pub fn applies(g: &Geometry) -> bool {
    g.avx512
        && super::conv_spikes_avx512::vbmi2()
        && g.stored().precision() == super::precision::Precision::F32
        && matches!(g.nb(), 16 | 32 | 64)
        && g.k() * g.ci() <= 57
        && g.k() * g.k() * g.ci() <= 256
        && g.cw() == g.ci()
}

impl Rows {
    /// The masks [`task`] reads: one bit per value of the sample `x` (`[H·W, ci]`), `[H+2p][W+2p][ci]`
    /// bits with the border of `pad` zero pixels, row-major, and a zero word after them (so a
    /// 64-bit read at any bit of them stays inside).
    pub fn fill_bits(&mut self, x: &[f32], si: Shape, pad: usize) {
        assert_eq!(x.len(), si.len());
        let wp = si.w + 2 * pad;
        let total = (si.h + 2 * pad) * wp * si.c;
        self.bits.clear();
        self.bits.resize(total.div_ceil(64) + 1, 0);
        for (y, row) in x.chunks_exact(si.w * si.c).enumerate() {
            let start = ((y + pad) * wp + pad) * si.c;
            for (i, run) in row.chunks(64).enumerate() {
                let m = run.iter().enumerate().fold(0u64, |m, (j, &v)| m | (((v != 0.0) as u64) << j));
                let (w, o) = ((start + 64 * i) / 64, (start + 64 * i) % 64);
                self.bits[w] |= m << o;
                if o > 0 {
                    self.bits[w + 1] |= m >> (64 - o);
                }
            }
        }
        self.set_shape(si);
    }
}

/// Bits `at..at + len` of `bits` (`len` ≤ 57), as the low bits of a word.
#[inline(always)]
fn field(bits: &[u64], at: usize, len: usize) -> u64 {
    let (w, o) = (at / 64, at % 64);
    // `hi << 1 << (63 − o)`: no shift by 64 where `o` is 0.
    let v = (bits[w] >> o) | ((bits[w + 1] << 1) << (63 - o));
    v & ((1u64 << len) - 1)
}

/// [`super::conv_strip::task`] for a layer [`applies`] holds for: `rows` holds the sample's
/// masks ([`Rows::fill_bits`]) and `x` its values.
pub fn task(t: &Task, rows: &Rows, x: &[f32], g: &Geometry) {
    assert!(applies(g), "the AVX-512 strip kernel needs AVX-512 VBMI2, f32 weights, 16, 32 or 64 lanes and small windows");
    assert!(rows.shape() == (g.ci(), g.si.h, g.si.w) && x.len() == g.si.len());
    let wp = g.si.w + 2 * g.pad();
    assert!(rows.bits.len() > ((g.si.h + 2 * g.pad()) * wp * g.ci()) / 64, "masks of this input");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `applies` holds only where AVX-512F, BW and VBMI2 (and AVX2, FMA) were detected.
    unsafe {
        match g.nb() {
            64 => blocks::<4, 64>(t, &rows.bits, x, g),
            32 => blocks::<2, 32>(t, &rows.bits, x, g),
            _ => blocks::<1, 16>(t, &rows.bits, x, g),
        }
    }
}

/// Blocks of `N` = `16·L` lanes: each pixel's accumulators are `L` registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2,fma,popcnt")]
unsafe fn blocks<const L: usize, const N: usize>(t: &Task, bits: &[u64], x: &[f32], g: &Geometry) {
    assert!(N == 16 * L && N == g.nb());
    let (si, so, k, s, pad, ci, co) = (g.si, g.so, g.k(), g.stride(), g.pad(), g.ci(), g.co());
    let (kc, wp) = (k * ci, si.w + 2 * pad);
    let rows = k * kc;
    // Each weight row's value, from the window's first value (tap (0, 0), channel 0).
    let off: Vec<isize> = (0..rows).map(|r| (((r / kc) * si.w + r % kc / ci) * ci + r % ci) as isize).collect();
    let iota: [u8; 64] = std::array::from_fn(|i| i as u8);
    // SAFETY: `iota` is 64 bytes.
    let iota = unsafe { _mm512_loadu_si512(iota.as_ptr() as *const _) };
    // A pixel's listed rows; each compress writes 64 bytes from the count so far.
    let mut list = [0u8; 256 + 64];
    let scale = _mm512_set1_ps(g.scale);
    assert!(t.pixels.start.is_multiple_of(so.w) && t.pixels.end.is_multiple_of(so.w));
    for blk in t.blocks.clone() {
        let (wts, bias) = g.block::<f32>(blk);
        assert!(bias.len() >= N && wts.len() == rows * N);
        let wptr = wts.as_ptr();
        // SAFETY: `bias` holds N = 16·L values (asserted).
        let b: [__m512; L] = std::array::from_fn(|l| unsafe { _mm512_loadu_ps(bias.as_ptr().add(16 * l)) });
        let (c0, lanes) = (blk * N, N.min(co - blk * N));
        for oy in t.pixels.start / so.w..t.pixels.end / so.w {
            for ox in 0..so.w {
                let p = oy * so.w + ox;
                // Per tap row, the rows (ky·k·ci + 0..k·ci) under its bits of the window.
                let mut n = 0;
                for ky in 0..k {
                    let f = field(bits, ((oy * s + ky) * wp + ox * s) * ci, kc);
                    let index = _mm512_add_epi8(iota, _mm512_set1_epi8((ky * kc) as i8));
                    // SAFETY: `n` ≤ (k − 1)·k·ci < 256, so the 64 bytes written lie in `list`.
                    unsafe { _mm512_storeu_si512(list.as_mut_ptr().add(n) as *mut _, _mm512_maskz_compress_epi8(f, index)) };
                    n += f.count_ones() as usize;
                }
                // The window's first value, (oy·s − pad, ox·s − pad), possibly outside the input:
                // only the listed (non-zero, so inside) values are read.
                let base = (((oy * s) as isize - pad as isize) * si.w as isize + (ox * s) as isize - pad as isize) * ci as isize;
                let mut acc = b;
                for &r in &list[..n] {
                    let r = r as usize;
                    let v = _mm512_set1_ps(x[(base + off[r]) as usize]);
                    // SAFETY: `r` < k²·ci rows of N lanes (the block's length, asserted).
                    let w = unsafe { wptr.add(r * N) };
                    for (l, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(v, unsafe { _mm512_loadu_ps(w.add(16 * l)) }, *a);
                    }
                }
                let mut out = [0f32; N];
                for (l, a) in acc.iter().enumerate() {
                    // SAFETY: `out` holds N = 16·L values.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * l), _mm512_mul_ps(*a, scale)) };
                }
                t.store_lanes(co, p, c0, &out, lanes);
            }
        }
    }
}

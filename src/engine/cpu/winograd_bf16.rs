//! Winograd's matrix products in bfloat16 for `--precision bf16` ([`super::precision`]) on CPUs
//! with AVX512_BF16: `vdpbf16ps` multiplies two bf16 pairs per f32 lane and adds both products to
//! an f32 accumulator, so one instruction does the work of two FMAs of [`super::conv_dense`]'s
//! f32 tile, and the transformed weights `U` take half the bytes.
//!
//! What it rounds: `U = G g Gᵀ` is computed in f64 from the (already bf16-rounded) weights and
//! rounded once more, to bf16; the transformed inputs `V = Bᵀ d B` are rounded to bf16 (exact for
//! average-pooled spikes: multiples of ¼ below 16 need at most 7 significant bits). Products are
//! exact and accumulate in f32. So a bf16 run differs from an f32 run on the rounded weights in
//! these layers (the rest of the model keeps that equality); its accuracy and spike rates are
//! measured beside its speed (BENCHMARKS.md, "Reduced precision").
//! Layouts: `U` `[16][co/16][ci/2][16]` of bf16 pairs (input channels `2p`, `2p + 1` of one output
//! lane in one 32-bit word, as `vdpbf16ps` pairs them); a panel `V` `[MR][ci]` of bf16.

use super::conv_dense::MR;

/// Whether the bf16 products run here: AVX-512F and AVX512_BF16 detected, and the AVX-512
/// builds allowed (`SPIKESTREAM_CPU_ISA`, [`super::conv_spikes_avx512::enabled`]).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::conv_spikes_avx512::enabled() && std::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `x` rounded to bfloat16, to nearest even (NaN stays NaN; a finite value past bf16's largest
/// becomes ±∞, as the hardware's conversions do). Branch-free, so loops over it vectorise.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { (b >> 16) as u16 | 0x40 } else { rounded }
}

/// `u`, blocks of `[ci][16]` f32 (`[16][cb][ci][16]` for a layer), as bf16 pairs `[ci/2][16]`
/// per block; `ci` even.
pub fn pack(u: &[f32], ci: usize) -> Vec<u32> {
    assert!(ci.is_multiple_of(2) && u.len().is_multiple_of(ci * 16));
    let mut out = super::precision::zeroed(u.len() / 2);
    for (src, dst) in u.chunks_exact(ci * 16).zip(out.chunks_exact_mut(ci / 2 * 16)) {
        for p in 0..ci / 2 {
            for lane in 0..16 {
                let (lo, hi) = (to_bf16(src[2 * p * 16 + lane]), to_bf16(src[(2 * p + 1) * 16 + lane]));
                dst[p * 16 + lane] = u32::from(lo) | u32::from(hi) << 16;
            }
        }
    }
    out
}

/// `N` [`MR`] × 16 tiles: `tile[j][i][o] = Σ_c a[i][c] · b[j][c / 2][o]` (the pair's half
/// `c % 2`), `a` a `[MR][ci]` bf16 panel, each `b[j]` `[ci/2][16]` pairs (`N` = 1 or 2 blocks of
/// output channels: two share each broadcast input pair). Callers check [`available`].
pub fn gemm_tiles16<const N: usize>(a: &[u16], ci: usize, b: [&[u32]; N], tile: &mut [[[f32; 16]; MR]; N]) {
    assert!(a.len() >= ci * MR && b.iter().all(|b| b.len() >= ci / 2 * 16) && ci.is_multiple_of(2) && (1..=2).contains(&N));
    #[cfg(target_arch = "x86_64")]
    {
        assert!(available(), "the bf16 Winograd product needs AVX512_BF16");
        // SAFETY: the features are present (asserted); every read is in bounds (asserted above).
        unsafe { x86::panel16::<N>(a.as_ptr(), ci, b.map(|b| b.as_ptr()), tile) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the bf16 Winograd product runs on x86-64 only ({} {ci} {} {})", a.len(), b.len(), tile.len());
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::MR;

    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn panel16<const N: usize>(a: *const u16, ci: usize, b: [*const u32; N], tile: &mut [[[f32; 16]; MR]; N]) {
        // SAFETY: the caller guarantees the features, `ci / 2` rows of 16 pairs in each `b` and
        // `MR · ci` values in `a`.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); N]; MR];
            for p in 0..ci / 2 {
                let w: [__m512bh; N] = std::array::from_fn(|j| std::mem::transmute(_mm512_loadu_si512(b[j].add(p * 16).cast())));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let pair = a.add(i * ci + 2 * p).cast::<i32>().read_unaligned();
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    for (acc, w) in acc.iter_mut().zip(w) {
                        *acc = _mm512_dpbf16_ps(*acc, x, w);
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                for (j, acc) in acc.iter().enumerate() {
                    _mm512_storeu_ps(tile[j][i].as_mut_ptr(), *acc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_nearest_even() {
        for (x, want) in [(1.0f32, 0x3f80u16), (-2.5, 0xc020), (f32::from_bits(0x3f80_8000), 0x3f80), (f32::from_bits(0x3f81_8000), 0x3f82), (f32::from_bits(0x3f80_8001), 0x3f81), (f32::MAX, 0x7f80), (f32::INFINITY, 0x7f80)] {
            assert_eq!(to_bf16(x), want, "{x:e}");
        }
        assert!(f32::from_bits(u32::from(to_bf16(f32::NAN)) << 16).is_nan());
    }

    /// Small integers (exact in bf16, products and sums exact in f32): the tile equals the
    /// plain sum bit for bit, with each channel paired to its own weight.
    #[test]
    fn tile_equals_the_plain_sum() {
        if !available() {
            eprintln!("skipped: no AVX512_BF16 here");
            return;
        }
        let ci = 24;
        let a: Vec<f32> = (0..MR * ci).map(|k| ((k * 7 % 11) as f32 - 5.0) * 0.25).collect();
        let b: Vec<f32> = (0..ci * 16).map(|k| ((k * 5 % 13) as f32 - 6.0) * 0.5).collect();
        let ab: Vec<u16> = a.iter().map(|&v| to_bf16(v)).collect();
        let bb = pack(&b, ci);
        let mut pair = [[[f32::NAN; 16]; MR]; 2];
        gemm_tiles16::<2>(&ab, ci, [&bb, &bb], &mut pair);
        let [tile, twice] = pair;
        assert_eq!(tile, twice);
        let mut one = [[[f32::NAN; 16]; MR]; 1];
        gemm_tiles16::<1>(&ab, ci, [&bb], &mut one);
        assert_eq!(one[0], tile);
        for (i, row) in tile.iter().enumerate() {
            for (o, &got) in row.iter().enumerate() {
                let want: f32 = (0..ci).map(|c| a[i * ci + c] * b[c * 16 + o]).sum();
                assert_eq!(got, want, "row {i} channel {o}");
            }
        }
    }
}

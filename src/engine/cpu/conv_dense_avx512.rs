//! The AVX-512 build of the dense kernel's tiles ([`super::x86`]'s `tile16` and `panel16`),
//! chosen at run time next to AVX2 where the spike kernel takes its AVX-512 build (the same
//! switch, `SPIKESTREAM_CPU_ISA`; the direct tiles also need AVX-512DQ): an output pixel's 16 channels are one `zmm`
//! register instead of two `ymm`, so each (tap, input channel) is six 512-bit FMAs instead of
//! twelve 256-bit ones. Zen 5 runs them at full width; Zen 4 splits them in two. Where a block
//! has 32 or more lanes, two or four 16-lane sub-blocks run together ([`tile16_blocks`]: twelve
//! accumulators, one broadcast for both).
//!
//! Bit for bit the AVX2 result: every lane starts from the same value and takes the same FMAs
//! in the same order, then the same scale.

use std::arch::x86_64::*;

use super::super::precision::Weight;
use super::MR;
use super::x86::Rows;

/// Sixteen consecutive weights widened: one load for f32, two eight-wide widenings otherwise.
#[inline(always)]
unsafe fn load16<W: Weight>(p: *const W) -> __m512 {
    // SAFETY: the caller guarantees 16 readable weights and the CPU features.
    unsafe {
        if size_of::<W>() == 4 {
            // The only 4-byte weight type is f32.
            _mm512_loadu_ps(p.cast::<f32>())
        } else {
            _mm512_insertf32x8::<1>(_mm512_castps256_ps512(W::load8(p)), W::load8(p.add(8)))
        }
    }
}

/// `tile16` of the AVX2 build with one `zmm` per pixel.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma,f16c")]
pub(super) unsafe fn tile16<W: Weight>(a: &[*const f32; MR], r: &Rows<W>, bias: *const f32, scale: f32, tile: &mut [[f32; 16]; MR]) {
    // SAFETY: the caller guarantees the CPU features and the bounds of the AVX2 build.
    unsafe {
        let mut acc = [_mm512_loadu_ps(bias); MR];
        let mut wr = r.w;
        for c0 in (0..r.ci).step_by(r.cw) {
            for &off in r.taps {
                let base: [*const f32; MR] = std::array::from_fn(|i| a[i].add(off + c0));
                for c in 0..r.cw {
                    let w = load16(wr);
                    for i in 0..MR {
                        acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(*base[i].add(c)), w, acc[i]);
                    }
                    wr = wr.add(r.nb);
                }
            }
        }
        let sc = _mm512_set1_ps(scale);
        for i in 0..MR {
            _mm512_storeu_ps(tile[i].as_mut_ptr(), _mm512_mul_ps(acc[i], sc));
        }
    }
}

/// `P` (2 or 4) `tile16`s side by side (output channels `sub..sub + 16·P` of the weight rows at
/// `r.w`): `6·P` accumulators, so both FMA pipes stay fed, and each input value is broadcast
/// once for all of them (per (tap, channel): `P` weight loads and six broadcasts for `6·P`
/// FMAs). With four, a 64-lane block's rows are read once per tile: two pairs walked each row
/// twice, and at batch 1 a wide layer's block (256→512: 1.2 MB) did not stay in L2 between
/// them. Each lane takes the same FMAs in the same order as in `tile16`: the same bits.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma,f16c")]
pub(super) unsafe fn tile16_blocks<W: Weight, const P: usize>(a: &[*const f32; MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; P]) {
    // SAFETY: the caller guarantees the CPU features, the bounds of the AVX2 build, and 16·P
    // lanes of weights and bias from `r.w` and `bias`.
    unsafe {
        let b: [__m512; P] = std::array::from_fn(|q| _mm512_loadu_ps(bias.add(16 * q)));
        let mut acc = [b; MR];
        let mut wr = r.w;
        for c0 in (0..r.ci).step_by(r.cw) {
            for &off in r.taps {
                let base: [*const f32; MR] = std::array::from_fn(|i| a[i].add(off + c0));
                for c in 0..r.cw {
                    let w: [__m512; P] = std::array::from_fn(|q| load16(wr.add(16 * q)));
                    for i in 0..MR {
                        let x = _mm512_set1_ps(*base[i].add(c));
                        for q in 0..P {
                            acc[i][q] = _mm512_fmadd_ps(x, w[q], acc[i][q]);
                        }
                    }
                    wr = wr.add(r.nb);
                }
            }
        }
        let sc = _mm512_set1_ps(scale);
        for i in 0..MR {
            for q in 0..P {
                _mm512_storeu_ps(tiles[q][i].as_mut_ptr(), _mm512_mul_ps(acc[i][q], sc));
            }
        }
    }
}

/// `panel16` of the AVX2 build (the Winograd products) with one `zmm` per row.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn panel16(a: *const f32, ci: usize, b: *const f32, tile: &mut [[f32; 16]; MR]) {
    // SAFETY: the caller guarantees the CPU features, `ci` rows of `b` and `ci · MR` floats of `a`.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); MR];
        let (mut ar, mut br) = (a, b);
        for _ in 0..ci / 8 {
            for cc in 0..8 {
                let w = _mm512_loadu_ps(br);
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*ar.add(i * 8 + cc)), w, *acc);
                }
                br = br.add(16);
            }
            ar = ar.add(MR * 8);
        }
        for i in 0..MR {
            _mm512_storeu_ps(tile[i].as_mut_ptr(), acc[i]);
        }
    }
}

/// `P` (2 or 4) [`panel16`]s sharing `a`'s broadcasts: `6·P` accumulators, so two FMA pipes
/// with four cycles of latency each stay fed (six wait on their own results), and `P` weight
/// loads per six broadcasts. Meanwhile the `ahead` cache lines from `pf` are asked for in L2, a
/// few per eight input channels (the weights of a later call, which would otherwise arrive at
/// memory latency while the FMAs wait). Each lane takes the same FMAs in the same order as in
/// `panel16`: the same bits.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn panel16_blocks<const P: usize>(a: *const f32, ci: usize, b: [*const f32; P], tiles: &mut [[[f32; 16]; MR]; P], pf: *const f32, ahead: usize) {
    // SAFETY: the caller guarantees the CPU features, `ci` rows of each `b` and `ci · MR` floats
    // of `a` (a prefetch reads nothing and never faults).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); P]; MR];
        let (mut ar, mut br) = (a, b);
        let per_step = ahead.div_ceil(ci / 8);
        let mut line = 0;
        for _ in 0..ci / 8 {
            for _ in 0..per_step.min(ahead - line) {
                _mm_prefetch::<_MM_HINT_T1>(pf.wrapping_add(16 * line).cast());
                line += 1;
            }
            for cc in 0..8 {
                let w = br.map(|p| _mm512_loadu_ps(p));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*ar.add(i * 8 + cc));
                    for q in 0..P {
                        acc[q] = _mm512_fmadd_ps(x, w[q], acc[q]);
                    }
                }
                br = br.map(|p| p.add(16));
            }
            ar = ar.add(MR * 8);
        }
        for (i, acc) in acc.iter().enumerate() {
            for q in 0..P {
                _mm512_storeu_ps(tiles[q][i].as_mut_ptr(), acc[q]);
            }
        }
    }
}

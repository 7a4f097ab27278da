//! The AVX-512 build of the dense kernel's tiles ([`super::x86`]'s `tile16` and `panel16`),
//! chosen at run time next to AVX2 where the spike kernel takes its AVX-512 build (the same
//! switch, `SPIKESTREAM_CPU_ISA`; the direct tiles also need AVX-512DQ): an output pixel's 16 channels are one `zmm`
//! register instead of two `ymm`, so each (tap, input channel) is six 512-bit FMAs instead of
//! twelve 256-bit ones. Zen 5 runs them at full width; Zen 4 splits them in two. Where a block
//! has 32 or more lanes, two 16-lane sub-blocks run together ([`tile16_pair`]: twelve
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

/// Two `tile16`s side by side (output channels `sub..sub + 16` and `sub + 16..sub + 32` of the
/// weight rows at `r.w`): twelve accumulators, so both FMA pipes stay fed, and each input value
/// is broadcast once for both. Each lane takes the same FMAs in the same order as in `tile16`.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma,f16c")]
pub(super) unsafe fn tile16_pair<W: Weight>(a: &[*const f32; MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; 2]) {
    // SAFETY: the caller guarantees the CPU features, the bounds of the AVX2 build, and 32
    // lanes of weights and bias from `r.w` and `bias`.
    unsafe {
        let mut acc = [[_mm512_loadu_ps(bias), _mm512_loadu_ps(bias.add(16))]; MR];
        let mut wr = r.w;
        for c0 in (0..r.ci).step_by(r.cw) {
            for &off in r.taps {
                let base: [*const f32; MR] = std::array::from_fn(|i| a[i].add(off + c0));
                for c in 0..r.cw {
                    let (w0, w1) = (load16(wr), load16(wr.add(16)));
                    for i in 0..MR {
                        let x = _mm512_set1_ps(*base[i].add(c));
                        acc[i][0] = _mm512_fmadd_ps(x, w0, acc[i][0]);
                        acc[i][1] = _mm512_fmadd_ps(x, w1, acc[i][1]);
                    }
                    wr = wr.add(r.nb);
                }
            }
        }
        let sc = _mm512_set1_ps(scale);
        for i in 0..MR {
            _mm512_storeu_ps(tiles[0][i].as_mut_ptr(), _mm512_mul_ps(acc[i][0], sc));
            _mm512_storeu_ps(tiles[1][i].as_mut_ptr(), _mm512_mul_ps(acc[i][1], sc));
        }
    }
}

/// Four `tile16`s side by side (a whole 64-lane block from `r.w`): twenty-four accumulators, so
/// each (tap, channel) loads four weight vectors and broadcasts six input values for 24 FMAs
/// (the pair: two and six for 12). Each lane takes the same FMAs in the same order as in
/// `tile16`, so the same bits.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma,f16c")]
pub(super) unsafe fn tile16_quad<W: Weight>(a: &[*const f32; MR], r: &Rows<W>, bias: *const f32, scale: f32, tiles: &mut [[[f32; 16]; MR]; 4]) {
    // SAFETY: the caller guarantees the CPU features, the bounds of the AVX2 build, and 64
    // lanes of weights and bias from `r.w` and `bias`.
    unsafe {
        let b: [__m512; 4] = std::array::from_fn(|q| _mm512_loadu_ps(bias.add(16 * q)));
        let mut acc = [b; MR];
        let mut wr = r.w;
        for c0 in (0..r.ci).step_by(r.cw) {
            for &off in r.taps {
                let base: [*const f32; MR] = std::array::from_fn(|i| a[i].add(off + c0));
                for c in 0..r.cw {
                    let w: [__m512; 4] = std::array::from_fn(|q| load16(wr.add(16 * q)));
                    for i in 0..MR {
                        let x = _mm512_set1_ps(*base[i].add(c));
                        for q in 0..4 {
                            acc[i][q] = _mm512_fmadd_ps(x, w[q], acc[i][q]);
                        }
                    }
                    wr = wr.add(r.nb);
                }
            }
        }
        let sc = _mm512_set1_ps(scale);
        for i in 0..MR {
            for q in 0..4 {
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

/// Two [`panel16`]s sharing `a`'s broadcasts: twelve accumulators, so two FMA pipes with four
/// cycles of latency each stay fed (six wait on their own results). Meanwhile the `ahead` cache
/// lines from `pf` are asked for in L2, a few per eight input channels (the weights of a later
/// call, which would otherwise arrive at memory latency while the FMAs wait).
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn panel16_pair(a: *const f32, ci: usize, b: [*const f32; 2], tiles: &mut [[[f32; 16]; MR]; 2], pf: *const f32, ahead: usize) {
    // SAFETY: the caller guarantees the CPU features, `ci` rows of each `b` and `ci · MR` floats
    // of `a` (a prefetch reads nothing and never faults).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
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
                    acc[0] = _mm512_fmadd_ps(x, w[0], acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, w[1], acc[1]);
                }
                br = br.map(|p| p.add(16));
            }
            ar = ar.add(MR * 8);
        }
        for (i, acc) in acc.iter().enumerate() {
            _mm512_storeu_ps(tiles[0][i].as_mut_ptr(), acc[0]);
            _mm512_storeu_ps(tiles[1][i].as_mut_ptr(), acc[1]);
        }
    }
}

/// Four [`panel16`]s sharing `a`'s broadcasts (24 accumulators: four weight loads and six
/// broadcasts per 24 FMAs), with [`panel16_pair`]'s prefetch of `ahead` lines from `pf`. Each
/// lane takes the same FMAs in the same order as in `panel16`: the same bits.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn panel16_quad(a: *const f32, ci: usize, b: [*const f32; 4], tiles: &mut [[[f32; 16]; MR]; 4], pf: *const f32, ahead: usize) {
    // SAFETY: the caller guarantees the CPU features, `ci` rows of each `b` and `ci · MR` floats
    // of `a` (a prefetch reads nothing and never faults).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 4]; MR];
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
                    for q in 0..4 {
                        acc[q] = _mm512_fmadd_ps(x, w[q], acc[q]);
                    }
                }
                br = br.map(|p| p.add(16));
            }
            ar = ar.add(MR * 8);
        }
        for (i, acc) in acc.iter().enumerate() {
            for q in 0..4 {
                _mm512_storeu_ps(tiles[q][i].as_mut_ptr(), acc[q]);
            }
        }
    }
}

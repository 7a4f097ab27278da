//! The AVX-512 build of the spike kernel's row adds ([`super::conv_spikes`]), chosen at run
//! time next to the AVX2 one: a pixel's 64 accumulator lanes are four `zmm` registers instead
//! of eight `ymm`, so each listed weight row is four load-adds instead of eight (Zen 4 runs a
//! 512-bit op as two 256-bit halves: the gain is in instructions, not in adder width).
//!
//! Two blocks of output channels go through each (chunk, pixel) row list together (eight
//! accumulator registers for 64-lane blocks, rows added from both blocks' slabs): a list's
//! length is data, so the loop's exit is a mispredicted branch about once per list, and one pass
//! for two blocks halves those passes and the accumulator round trips. vgg11_48_legacy at batch
//! 1, one thread (Zen 5, 2026-12-07): the spike layers 3.5 → 3.0 ms, features.2 0.77 → 0.62 and
//! features.7 1.24 → 1.02 ms; the step 6.2–6.7 → 5.6–6.3 ms.
//!
//! Bit for bit the AVX2 result: every lane adds the same rows in the same order, only more
//! lanes per instruction. 16-bit weights ([`super::precision`]) are widened per chunk as in AVX2. `SPIKESTREAM_CPU_ISA=avx2` keeps the AVX2 build on an AVX-512 CPU
//! (for comparisons); [`enabled`] reads it once.
//!
//! Measured and dropped (2026-12-07, Zen 5): the pixels of each chunk taken in the order of
//! their lists' lengths (a counting sort per tile and chunk, so the loop's exit would repeat and
//! be predicted), with or without the next accumulators prefetched: vgg11_48_legacy's spike
//! layers 5–15 % slower (features.2 0.58 → 0.67 ms, features.7 0.97 → 1.04 ms at batch 1);
//! the accumulators' sweep in pixel order, which the L2 prefetcher follows, matters more.
//! Two pixels' row lists added interleaved, eight
//! accumulators instead of four (the same bits), to hide the adds' latency: the spike layers got
//! 25–60 % slower (`bench --profile-steps 20`, e.g. 512→512 at 12×12: 1.20 → 1.56 ms).
//! The row loop unrolled by two (two indices loaded, then sixteen adds; the same order):
//! 8–12 % slower (2026-12-07 12:20 UTC, batch 1: features.2 0.60–0.61 → 0.68–0.69 ms,
//! features.7 1.01–1.04 → 1.13–1.14 ms).
//!
//! Where the time goes (2026-12-07 20:00–21:10 UTC, Zen 5, `conv_rates` at batch 1 with the
//! kernel changed by hand for each measurement, none kept): 256 → 256 at 24×24 at 15 % costs
//! about 35 cycles per pass of a (chunk, pixel) list for a pair of blocks, its share of the list
//! building included, plus 6.4 per listed row (eight `zmm` load-adds): lists cut or padded to a
//! fixed 4, 11 or 16 rows took 0.52, 0.92 and 1.18 ms against 0.93 ms for the data's own lengths
//! (10.8 rows on average). No part of the pass explains it alone: with every pixel's
//! accumulators in one slot that stays in L1, 0.97 → 0.93 ms; every pass starting from the bias
//! instead of loading them, 0.97 → 0.98; every chunk reading the first chunk's slab (never
//! leaving L1), 0.98 → 0.97; the pass without its prefetches, bounds checks and first-chunk
//! branch, 0.95–0.99 → 0.91–0.93. A C loop of the same passes
//! (`scripts/microbench/spike_rows_loop.c`: eight accumulators loaded, the listed rows of a
//! written 36 KB slab added, stored; no list building) ran 6.4 cycles per row
//! too and 84–89 per pass of 11 rows of varying length (78 where every length is 11: the
//! mispredicted exit), so the kernel's passes run within ~20 % of that loop, about half of it
//! the list building ([`tile_rows`]).
//!
//! Measured and dropped (2026-12-07 23:00 UTC, session 18): a list's indices read as 64-bit
//! words, each word one ahead of its rows, so that no weight load waits on its index's own
//! load. The C loop's passes take 12 % fewer cycles so (`spike_rows_loop 6 11 4.25 ahead`: 88
//! → 78 per pass), but the kernel built that way (inlined, the same bits) was slower at batch
//! 1 on one thread, three interleaved pairs each: features.2 0.59 → 0.61–0.63 ms, features.7
//! 0.95–0.96 → 0.99–1.01, features.12 0.84–0.85 → 0.88–0.89 (features.17 0.28–0.29 →
//! 0.27–0.28), the step 4.39–4.43 → 4.48–4.52 ms.

use super::conv::{Geometry, Task};
use super::conv_lists::{Lists, TileRows};

/// Whether the spike kernel runs its AVX-512 build: AVX-512F (and the AVX2 set the rest of the
/// kernel uses) detected, and `SPIKESTREAM_CPU_ISA` is not `avx2` (`auto`, `avx512` or unset:
/// whatever is detected; another value is named on stderr once and read as `auto`).
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        let isa = std::env::var("SPIKESTREAM_CPU_ISA").unwrap_or_default().trim().to_ascii_lowercase();
        match isa.as_str() {
            "avx2" => false,
            "" | "auto" | "avx512" => detected(),
            other => {
                eprintln!("SPIKESTREAM_CPU_ISA={other:?}: not avx2, avx512 or auto; using auto");
                detected()
            }
        }
    })
}

/// Whether this CPU has AVX-512F, AVX2, FMA and POPCNT.
pub fn detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512f") && super::conv_dense::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the row lists of 3×3 kernels take the AVX-512 VBMI2 build ([`tile_rows`]): detected
/// next to [`enabled`].
pub fn vbmi2() -> bool {
    static VBMI2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    return *VBMI2.get_or_init(|| detected() && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vbmi2"));
    #[cfg(not(target_arch = "x86_64"))]
    *VBMI2.get_or_init(|| false)
}

/// [`super::conv_lists::tile_rows`] of a 3×3 kernel with AVX-512 VBMI2: the first eight taps'
/// rows of a (chunk, pixel) are one byte compress of the indices 0..64 under its 64 mask bits
/// (bit `8·tap + channel` is row `8·tap + channel`, and the compress keeps their order), the
/// ninth tap's through the table. The same lists as the other builds. Callers check [`vbmi2`].
pub fn tile_rows(pixels: std::ops::Range<usize>, mask: &[u8], g: &Geometry, dst: &mut Lists) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(vbmi2() && g.k() == 3, "the AVX-512 row lists need AVX-512 VBMI2 and a 3×3 kernel");
        // SAFETY: the features are present (asserted).
        unsafe { x86::tile_rows(pixels, mask, g, dst) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the AVX-512 row lists run on x86-64 only ({pixels:?} {} {:?} {:p})", mask.len(), g.si, dst)
}

/// [`super::conv_spikes::task`] on AVX-512. Callers check [`detected`] first.
pub fn task(t: &Task, r: &TileRows, g: &Geometry) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(detected(), "the AVX-512 spike kernel needs AVX-512F, AVX2, FMA and POPCNT");
        // SAFETY: the features are present (asserted).
        unsafe { x86::task(t, r, g) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the AVX-512 spike kernel runs on x86-64 only ({:?} {:?})", t.pixels, g.si)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{__m512, __m512i, _mm512_add_ps, _mm512_loadu_ps, _mm512_maskz_compress_epi8, _mm512_setzero_ps, _mm512_storeu_ps, _mm512_storeu_si512};

    use super::super::conv::{Geometry, Task};
    use super::super::conv_lists::{Lists, MOST, SET_BITS, TileRows, tile_rows_generic};
    use super::super::conv_spikes::{add_rows, blocks, widen_ymm};
    use super::super::precision::{Weight, dispatch};

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2,fma,popcnt")]
    pub unsafe fn tile_rows(pixels: std::ops::Range<usize>, mask: &[u8], g: &Geometry, dst: &mut Lists) {
        // SAFETY (the closure): this function only runs with AVX-512 VBMI2.
        tile_rows_generic(pixels, mask, g, dst, |window, offset, base, out| unsafe { emit9(window, offset, base, out) })
    }

    /// The byte indices 0..64.
    const IOTA: [u8; 64] = {
        let mut v = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            v[i] = i as u8;
            i += 1;
        }
        v
    };

    /// [`super::super::conv_lists::emit`] of the nine taps of a 3×3 window (`offset`: each
    /// tap's offset, rows of three at `offset[0]`, `offset[3]`, `offset[6]`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    #[inline]
    unsafe fn emit9(window: &[u8], offset: &[usize], base: &[u64], out: &mut [u8; MOST]) -> usize {
        // The three mask bytes of a window row, as the low 24 bits (missing bytes read as zero,
        // as in `emit`; every tap lies inside the padded mask).
        let row = |o: usize| match window.get(o..o + 4) {
            Some(b) => u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes")) & 0xff_ffff),
            None => (0..3).fold(0, |m, j| m | u64::from(window.get(o + j).copied().unwrap_or(0)) << (8 * j)),
        };
        let (top, mid, bottom) = (row(offset[0]), row(offset[3]), row(offset[6]));
        let first8 = top | mid << 24 | bottom << 48;
        let ninth = (bottom >> 16) as u8;
        // SAFETY: IOTA is 64 bytes; `out` holds MOST ≥ 64 bytes.
        unsafe {
            let iota: __m512i = std::mem::transmute(IOTA);
            _mm512_storeu_si512(out.as_mut_ptr().cast(), _mm512_maskz_compress_epi8(first8, iota));
        }
        let k = first8.count_ones() as usize;
        out[k..k + 8].copy_from_slice(&(SET_BITS[usize::from(ninth)] + base[8]).to_le_bytes());
        k + ninth.count_ones() as usize
    }

    #[target_feature(enable = "avx512f,avx2,fma,popcnt,f16c")]
    pub unsafe fn task(t: &Task, r: &TileRows, g: &Geometry) {
        // SAFETY: the same features.
        unsafe { dispatch!(g.stored(), task_of(t, r, g)) }
    }

    #[target_feature(enable = "avx512f,avx2,fma,popcnt,f16c")]
    unsafe fn task_of<W: Weight>(t: &Task, r: &TileRows, g: &Geometry) {
        // SAFETY (each closure): this function only runs with AVX-512F, AVX2 and F16C.
        let widen = |s: &[W], d: &mut [f32]| unsafe { widen_ymm(s, d) };
        let pair = t.blocks.len() == 2;
        match (g.nb(), pair) {
            (64, true) => blocks::<64, 2, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            (32, true) => blocks::<32, 2, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            (16, true) => blocks::<16, 2, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            (64, false) => blocks::<64, 1, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            (32, false) => blocks::<32, 1, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            (16, false) => blocks::<16, 1, W>(t, r, g, |sum, from, slab, rows| unsafe { add_zmm(sum, from, slab, rows) }, widen),
            // One `ymm` already holds the block.
            _ => blocks::<8, 1, W>(t, r, g, add_rows, widen),
        }
    }

    /// `sum[p] = from[p] + slab[p][row]` summed over `rows`, in order, in `P · N / 16` registers
    /// (`from`: `sum` itself where `None`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_zmm<const N: usize, const P: usize>(sum: &mut [[f32; N]; P], from: Option<&[[f32; N]; P]>, slab: [&[[f32; N]]; P], rows: &[u8]) {
        const { assert!(N.is_multiple_of(16) && N * P <= 128) };
        let mut acc: [[__m512; 4]; P] = [[_mm512_setzero_ps(); 4]; P];
        let start: &[[f32; N]; P] = from.unwrap_or(sum);
        for (acc, sum) in acc.iter_mut().zip(start.iter()) {
            for (v, a) in acc.iter_mut().enumerate().take(N / 16) {
                // SAFETY: lanes 16v..16v + 16 lie inside `sum` (N / 16 registers).
                *a = unsafe { _mm512_loadu_ps(sum.as_ptr().add(16 * v)) };
            }
        }
        for &row in rows {
            for (acc, slab) in acc.iter_mut().zip(slab) {
                let w = slab[usize::from(row)].as_ptr();
                for (v, a) in acc.iter_mut().enumerate().take(N / 16) {
                    // SAFETY: as above, inside the row of N lanes.
                    *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(w.add(16 * v)) });
                }
            }
        }
        for (acc, sum) in acc.iter().zip(sum.iter_mut()) {
            for (v, a) in acc.iter().enumerate().take(N / 16) {
                // SAFETY: as for the loads.
                unsafe { _mm512_storeu_ps(sum.as_mut_ptr().add(16 * v), *a) };
            }
        }
    }
}

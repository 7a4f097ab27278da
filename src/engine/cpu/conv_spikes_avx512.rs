//! The AVX-512 build of the spike kernel's row adds ([`super::conv_spikes`]), chosen at run
//! time next to the AVX2 one: a pixel's 64 accumulator lanes are four `zmm` registers instead
//! of eight `ymm`, so each listed weight row is four load-adds instead of eight (Zen 4 runs a
//! 512-bit op as two 256-bit halves: the gain is in instructions, not in adder width).
//!
//! Bit for bit the AVX2 result: every lane adds the same rows in the same order, only more
//! lanes per instruction. `SPIKESTREAM_CPU_ISA=avx2` keeps the AVX2 build on an AVX-512 CPU
//! (for comparisons); [`enabled`] reads it once.

use super::conv::{Geometry, Task};
use super::conv_spikes::TileRows;

/// Whether the spike kernel runs its AVX-512 build: AVX-512F (and the AVX2 set the rest of the
/// kernel uses) detected, and `SPIKESTREAM_CPU_ISA` is not `avx2`.
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| detected() && std::env::var("SPIKESTREAM_CPU_ISA").map_or(true, |v| !v.eq_ignore_ascii_case("avx2")))
}

/// Whether this CPU has AVX-512F, AVX2, FMA and POPCNT.
pub fn detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512f") && super::conv_dense::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
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
    use std::arch::x86_64::{__m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_setzero_ps, _mm512_storeu_ps};

    use super::super::conv::{Geometry, Task};
    use super::super::conv_spikes::{TileRows, add_rows, blocks};

    #[target_feature(enable = "avx512f,avx2,fma,popcnt")]
    pub unsafe fn task(t: &Task, r: &TileRows, g: &Geometry) {
        match g.nb() {
            // SAFETY (each closure): this function only runs with AVX-512F.
            64 => blocks::<64>(t, r, g, |sum, slab, rows| unsafe { add_zmm(sum, slab, rows) }),
            32 => blocks::<32>(t, r, g, |sum, slab, rows| unsafe { add_zmm(sum, slab, rows) }),
            16 => blocks::<16>(t, r, g, |sum, slab, rows| unsafe { add_zmm(sum, slab, rows) }),
            // One `ymm` already holds the block.
            _ => blocks::<8>(t, r, g, add_rows),
        }
    }

    /// `sum += slab[row]` for every row of `rows`, in order, in `N / 16` registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_zmm<const N: usize>(sum: &mut [f32; N], slab: &[[f32; N]], rows: &[u8]) {
        const { assert!(N.is_multiple_of(16) && N <= 64) };
        let mut acc: [__m512; 4] = [_mm512_setzero_ps(); 4];
        for (v, a) in acc.iter_mut().enumerate().take(N / 16) {
            // SAFETY: lanes 16v..16v + 16 lie inside `sum` (N / 16 registers).
            *a = unsafe { _mm512_loadu_ps(sum.as_ptr().add(16 * v)) };
        }
        for &row in rows {
            let w = slab[usize::from(row)].as_ptr();
            for (v, a) in acc.iter_mut().enumerate().take(N / 16) {
                // SAFETY: as above, inside the row of N lanes.
                *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(w.add(16 * v)) });
            }
        }
        for (v, a) in acc.iter().enumerate().take(N / 16) {
            // SAFETY: as for the loads.
            unsafe { _mm512_storeu_ps(sum.as_mut_ptr().add(16 * v), *a) };
        }
    }
}

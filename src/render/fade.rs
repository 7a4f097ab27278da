//! A [`Decay`] for one τ as tables, exactly equal to [`Decay::level`] at every age in µs, so
//! painting a frame costs a few instructions a pixel instead of an `exp`.
//!
//! Ages up to the decay's horizon are cut into at most [`BUCKETS`] buckets (a power of two of
//! µs wide). Levels drop at most once in nearly every bucket (for the exponential a bucket is
//! at most τ/374 wide, its steepest step τ/120), so one word a bucket holds the palette index
//! of both polarities before and after that drop and the drop's offset in the bucket: a pixel
//! is one lookup, one comparison and a shift. The rare bucket where levels drop at two
//! different ages is marked and walked down the list of drop ages instead.

use super::canvas::Decay;
use super::palette::{LEVELS, index};

/// At most this many age buckets: 2^12 words, 32 KiB, so the table stays in L1/L2.
pub const BUCKETS: usize = 1 << 12;

/// A pixel of [`Fade::paint`] that no event has lit yet (a lit one is `t << 1 | on`).
pub const NEVER: u64 = u64::MAX;

/// A pixel of [`Fade::paint_narrow`] that no event has lit yet (a lit one is
/// `(t − base) << 1 | on`, `t − base` at most [`NARROW_MAX`]).
pub const NEVER32: u32 = u32::MAX;
/// The latest time past its base that a narrow pixel holds.
pub const NARROW_MAX: u64 = (1 << 31) - 2;
/// Narrow painting needs the horizon below this (its age and drop offset fit 32 bits).
const NARROW_HORIZON: u64 = 1 << 30;
/// A narrow bucket word whose levels drop at several ages (no level is 127).
const NARROW_SEVERAL: u32 = 127 | 127 << 7;

/// A bucket's drop offset when its levels drop at more than one age (walk [`Fade::drops`]).
const SEVERAL: u32 = u32::MAX;
/// A bucket's drop offset when its level does not drop inside it (its before and after
/// indices are equal, so the comparison does not matter).
const NONE: u32 = u32::MAX - 1;

pub struct Fade {
    /// Ages from here on are background.
    horizon: u64,
    shift: u32,
    /// Per bucket: bits 0–7 the OFF index at the bucket's start, 8–15 after its drop, 16–31
    /// the same for ON, 32–63 the drop's age minus the bucket's start ([`NONE`], [`SEVERAL`]).
    steps: Box<[u64; BUCKETS]>,
    /// `drops[l]`: the youngest age whose level is below `l` (`drops[0]` and past `LEVELS`:
    /// never).
    drops: Box<[u64; 256]>,
    /// [`Fade::steps`] in 32 bits, for [`Fade::paint_narrow`] (where the horizon is below
    /// [`NARROW_HORIZON`], so a drop offset fits 18 bits): bits 0–6 the level at the bucket's
    /// start, 7–13 after its drop, 14–31 the drop's offset (0 without one); [`NARROW_SEVERAL`].
    narrow: Option<Box<[u32; BUCKETS]>>,
}

impl Fade {
    pub fn new(decay: Decay, tau: f64) -> Self {
        let horizon = decay.horizon(tau);
        // The smallest bucket width (a power of two) that covers the horizon in BUCKETS.
        let shift = (64 - horizon.leading_zeros()).saturating_sub(BUCKETS.trailing_zeros());
        let drops: Box<[u64; 256]> = Box::new(std::array::from_fn(|l| {
            let l = l as u64;
            if l == 0 || l > u64::from(LEVELS) {
                return u64::MAX;
            }
            // The level is non-increasing in age: binary search for the first age below `l`.
            let (mut lo, mut hi) = (0u64, horizon);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if u64::from(decay.level(mid, tau)) < l { hi = mid } else { lo = mid + 1 }
            }
            lo
        }));
        let inks = |level: u8| u64::from(ink(false, level)) | u64::from(ink(true, level)) << 16;
        let steps = Box::new(std::array::from_fn(|b| {
            let start = (b as u64).checked_shl(shift).filter(|&s| s >> shift == b as u64).unwrap_or(u64::MAX).min(horizon);
            let end = start.saturating_add((1u64 << shift) - 1).min(horizon);
            let (first, last) = (level_at(&drops, start), level_at(&drops, end));
            let at = drops[usize::from(first)];
            // Every step of this bucket at one age: the drop from `first` lands on `last`.
            let drop = if first == last {
                NONE
            } else if level_at(&drops, at) == last && at - start < u64::from(NONE) {
                (at - start) as u32
            } else {
                SEVERAL
            };
            inks(first) | inks(last) << 8 | u64::from(drop) << 32
        }));
        let narrow = (horizon < NARROW_HORIZON).then(|| {
            let level = |off_index: u64| (off_index & 0xFF).saturating_sub(u64::from(LEVELS)) as u32;
            Box::new(std::array::from_fn(|b| {
                let v = steps[b];
                match (v >> 32) as u32 {
                    SEVERAL => NARROW_SEVERAL,
                    drop => level(v) | level(v >> 8) << 7 | if drop == NONE { 0 } else { drop << 14 },
                }
            }))
        });
        Self { horizon, shift, steps, drops, narrow }
    }

    /// Whether [`Fade::paint_narrow`] can paint this decay (its horizon is below 2^30 µs,
    /// about 18 minutes).
    pub fn paints_narrow(&self) -> bool {
        self.narrow.is_some()
    }

    /// The level (0 = background) of an event `dt` µs old.
    pub fn level(&self, dt: u64) -> u8 {
        level_at(&self.drops, dt.min(self.horizon))
    }

    /// The palette index of an event `age` µs old (`on`: 1 for ON, 0 for OFF).
    #[inline(always)]
    pub fn index(&self, age: u64, on: u64) -> u8 {
        let age = age.min(self.horizon);
        // The horizon's bucket is below BUCKETS (`shift` is chosen so), so the mask keeps
        // every age's bucket and spares a bounds check.
        let v = self.steps[(age >> self.shift) as usize & (BUCKETS - 1)];
        let drop = (v >> 32) as u32;
        if drop == SEVERAL {
            return ink(on == 1, self.level(age));
        }
        let offset = age & ((1u64 << self.shift) - 1);
        let after = u64::from(offset >= u64::from(drop));
        (v >> (16 * on + 8 * after)) as u8
    }
}

impl Fade {
    /// Paints `out[i]`, the palette index of pixel `i` at `render_t`, from `pixels[i]`, its
    /// latest event as `t << 1 | on` or [`NEVER`] (an event later than `render_t` counts as
    /// age 0). Four pixels at a time with AVX2 where the CPU has it, the same values.
    pub fn paint(&self, pixels: &[u64], render_t: u64, out: &mut [u8]) {
        assert_eq!(pixels.len(), out.len(), "one index a pixel");
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if render_t < 1 << 62 && std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected; the times fit the signed comparisons it needs.
            done = unsafe { self.paint_avx2(pixels, render_t, out) };
        }
        for (o, &s) in out[done..].iter_mut().zip(&pixels[done..]) {
            *o = self.pixel(s, render_t);
        }
    }

    /// One pixel of [`Fade::paint`], without a branch for the common pixel: a never-lit
    /// one's age is all ones, which [`Fade::index`] clamps to the horizon.
    #[inline(always)]
    fn pixel(&self, s: u64, render_t: u64) -> u8 {
        self.index(render_t.saturating_sub(s >> 1) | u64::from(s == NEVER).wrapping_neg(), s & 1)
    }

    /// [`Fade::paint`] of the pixels up to a multiple of 4 (returned), four to a vector: the
    /// same arithmetic as [`Fade::index`], the bucket's word gathered. Signed 64-bit compares
    /// stand for unsigned ones: every time and age is below 2^62 (`render_t` is; a lit pixel's
    /// `t` is below 2^63 and [`NEVER`] is handled apart) and drop offsets below 2^32.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn paint_avx2(&self, pixels: &[u64], render_t: u64, out: &mut [u8]) -> usize {
        use std::arch::x86_64::*;
        let n = pixels.len() / 4 * 4;
        let (rt, horizon, never) = (_mm256_set1_epi64x(render_t as i64), _mm256_set1_epi64x(self.horizon as i64), _mm256_set1_epi64x(-1));
        let buckets = _mm256_set1_epi64x(BUCKETS as i64 - 1);
        let (offsets, several) = (_mm256_set1_epi64x(((1u64 << self.shift) - 1) as i64), _mm256_set1_epi64x(i64::from(SEVERAL)));
        let (one, eight, shift) = (_mm256_set1_epi64x(1), _mm256_set1_epi64x(8), _mm_cvtsi32_si128(self.shift as i32));
        // Lane k's low byte to byte k of the low 32 bits (lanes 0–1 in the low half, 2–3 in the high).
        let pick = _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        for i in (0..n).step_by(4) {
            // SAFETY: i + 4 <= n <= pixels.len().
            let s = unsafe { _mm256_loadu_si256(pixels.as_ptr().add(i).cast()) };
            let t = _mm256_srli_epi64::<1>(s);
            let age = _mm256_andnot_si256(_mm256_cmpgt_epi64(t, rt), _mm256_sub_epi64(rt, t));
            let clamp = _mm256_or_si256(_mm256_cmpgt_epi64(age, horizon), _mm256_cmpeq_epi64(s, never));
            let age = _mm256_blendv_epi8(age, horizon, clamp);
            let bucket = _mm256_and_si256(_mm256_srl_epi64(age, shift), buckets);
            // SAFETY: every bucket is masked below BUCKETS, the table's length.
            let v = unsafe { _mm256_i64gather_epi64::<8>(self.steps.as_ptr().cast(), bucket) };
            let drop = _mm256_srli_epi64::<32>(v);
            if _mm256_movemask_epi8(_mm256_cmpeq_epi64(drop, several)) != 0 {
                // A bucket with several drop ages: these four the scalar way.
                for k in i..i + 4 {
                    out[k] = self.pixel(pixels[k], render_t);
                }
                continue;
            }
            let before = _mm256_cmpgt_epi64(drop, _mm256_and_si256(age, offsets));
            let amount = _mm256_add_epi64(_mm256_slli_epi64::<4>(_mm256_and_si256(s, one)), _mm256_andnot_si256(before, eight));
            let bytes = _mm256_shuffle_epi8(_mm256_srlv_epi64(v, amount), pick);
            let four = _mm_or_si128(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256::<1>(bytes));
            out[i..i + 4].copy_from_slice(&(_mm_cvtsi128_si32(four) as u32).to_le_bytes());
        }
        n
    }
}

impl Fade {
    /// [`Fade::paint`] of pixels stored narrow: `(t − base) << 1 | on` or [`NEVER32`], at
    /// `render_t`, which must be at most [`NARROW_MAX`] past `base` (and the fade
    /// [`Fade::paints_narrow`]). The same values; eight pixels at a time with AVX2.
    pub fn paint_narrow(&self, pixels: &[u32], base: u64, render_t: u64, out: &mut [u8]) {
        assert_eq!(pixels.len(), out.len(), "one index a pixel");
        let rt = u32::try_from(render_t.saturating_sub(base)).ok().filter(|&rt| u64::from(rt) <= NARROW_MAX).expect("the render time fits the narrow pixels");
        let table = self.narrow.as_deref().expect("a horizon below 2^30 µs");
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            done = unsafe { self.paint_narrow_avx2(table, pixels, rt, out) };
        }
        for (o, &s) in out[done..].iter_mut().zip(&pixels[done..]) {
            *o = self.pixel_narrow(s, rt);
        }
    }

    /// One pixel of [`Fade::paint_narrow`] (`rt`: the render time past the base).
    #[inline(always)]
    fn pixel_narrow(&self, s: u32, rt: u32) -> u8 {
        let age = if s == NEVER32 { u64::MAX } else { u64::from(rt.saturating_sub(s >> 1)) };
        self.index(age, u64::from(s & 1))
    }

    /// [`Fade::paint_narrow`] of the pixels up to a multiple of 8 (returned): the arithmetic
    /// of [`Fade::index`] on 32-bit lanes, the level looked up and made an index (ON: the
    /// level, OFF: `LEVELS` + the level, 0 stays 0). Ages are below 2^31 (`rt` and times
    /// are), so signed compares of offsets below 2^18 are exact.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn paint_narrow_avx2(&self, table: &[u32; BUCKETS], pixels: &[u32], rt: u32, out: &mut [u8]) -> usize {
        use std::arch::x86_64::*;
        let n = pixels.len() / 8 * 8;
        let (rtv, horizon, shift) = (_mm256_set1_epi32(rt as i32), _mm256_set1_epi32(self.horizon as i32), _mm_cvtsi32_si128(self.shift as i32));
        let (buckets, offsets) = (_mm256_set1_epi32(BUCKETS as i32 - 1), _mm256_set1_epi32(((1u32 << self.shift) - 1) as i32));
        let (seven, several, one, off, zero) = (_mm256_set1_epi32(127), _mm256_set1_epi32(NARROW_SEVERAL as i32), _mm256_set1_epi32(1), _mm256_set1_epi32(i32::from(LEVELS)), _mm256_setzero_si256());
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n <= pixels.len().
            let s = unsafe { _mm256_loadu_si256(pixels.as_ptr().add(i).cast()) };
            let t = _mm256_srli_epi32::<1>(s);
            // A never-lit pixel's age is all ones, clamped to the horizon.
            let age = _mm256_or_si256(_mm256_sub_epi32(rtv, _mm256_min_epu32(t, rtv)), _mm256_cmpeq_epi32(s, _mm256_set1_epi32(-1)));
            let age = _mm256_min_epu32(age, horizon);
            let bucket = _mm256_and_si256(_mm256_srl_epi32(age, shift), buckets);
            // SAFETY: every bucket is masked below BUCKETS, the table's length.
            let v = unsafe { _mm256_i32gather_epi32::<4>(table.as_ptr().cast(), bucket) };
            if _mm256_movemask_epi8(_mm256_cmpeq_epi32(v, several)) != 0 {
                for k in i..i + 8 {
                    out[k] = self.pixel_narrow(pixels[k], rt);
                }
                continue;
            }
            let before = _mm256_cmpgt_epi32(_mm256_srli_epi32::<14>(v), _mm256_and_si256(age, offsets));
            let level = _mm256_and_si256(_mm256_blendv_epi8(_mm256_srli_epi32::<7>(v), v, before), seven);
            // OFF (polarity bit 0) and lit: LEVELS more.
            let lit_off = _mm256_andnot_si256(_mm256_or_si256(_mm256_cmpeq_epi32(level, zero), _mm256_cmpeq_epi32(_mm256_and_si256(s, one), one)), off);
            let index = _mm256_add_epi32(level, lit_off);
            let words = _mm256_packus_epi32(index, index);
            let bytes = _mm256_packus_epi16(words, words);
            let eight = _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256::<1>(bytes));
            // SAFETY: i + 8 <= n <= out.len().
            unsafe { _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), eight) };
        }
        n
    }
}

/// The level at `dt` (at most the horizon): the levels `dt` has not dropped below.
fn level_at(drops: &[u64; 256], dt: u64) -> u8 {
    drops[1..=usize::from(LEVELS)].iter().take_while(|&&d| dt < d).count() as u8
}

/// The palette index of a polarity at `level` (0: the background).
fn ink(on: bool, level: u8) -> u8 {
    if level == 0 { 0 } else { index(on, level) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fade_table_equals_the_decay_at_every_age() {
        for decay in [Decay::Exponential, Decay::Linear, Decay::Window] {
            for tau in [1.0, 7.0, 1000.0, 200_000.0, 3.3e6, 1e13] {
                let fade = Fade::new(decay, tau);
                let h = decay.horizon(tau);
                let step = (h / 20_000).max(1);
                let edges = fade.drops[1..=usize::from(LEVELS)].iter().flat_map(|&d| [d.saturating_sub(1), d, d + 1]);
                for dt in (0..h + 10).step_by(step as usize).chain(edges).chain([h.saturating_mul(3), u64::MAX]) {
                    let level = decay.level(dt, tau);
                    assert_eq!(fade.level(dt), level, "{decay:?} tau {tau} age {dt}");
                    for on in [false, true] {
                        assert_eq!(fade.index(dt, u64::from(on)), ink(on, level), "{decay:?} tau {tau} age {dt} on {on}");
                    }
                }
            }
        }
    }

    #[test]
    fn painting_four_at_a_time_equals_one_at_a_time() {
        // Every kind of pixel: never lit, later than the frame (age 0), young, at the drops,
        // past the horizon; both polarities; lengths that leave a scalar tail.
        let render_t = 5_000_000u64;
        for (decay, tau) in [(Decay::Exponential, 200_000.0), (Decay::Linear, 3000.0), (Decay::Window, 1.0), (Decay::Exponential, 1e13)] {
            let fade = Fade::new(decay, tau);
            let mut ages: Vec<u64> = vec![0, 1, 2, fade.horizon - 1, fade.horizon, fade.horizon + 1, render_t];
            ages.extend(fade.drops[1..=usize::from(LEVELS)].iter().flat_map(|&d| [d.saturating_sub(1), d, d + 1]));
            ages.extend((0..997u64).map(|k| k * k * 7919 % fade.horizon.max(1)));
            let mut pixels: Vec<u64> = ages.iter().filter(|&&a| a <= render_t).flat_map(|&a| [(render_t - a) << 1, (render_t - a) << 1 | 1]).collect();
            pixels.extend([NEVER, (render_t + 5) << 1 | 1, (render_t + 5) << 1, NEVER, 0, 1]);
            for len in [pixels.len(), pixels.len() - 1, 3] {
                let mut out = vec![0u8; len];
                fade.paint(&pixels[..len], render_t, &mut out);
                let one: Vec<u8> = pixels[..len].iter().map(|&s| fade.pixel(s, render_t)).collect();
                assert_eq!(out, one, "{decay:?} tau {tau}");
                // And the pixel is the decay's level in the polarity's colour.
                for (&s, &o) in pixels[..len].iter().zip(&out) {
                    let level = if s == NEVER { 0 } else { decay.level(render_t.saturating_sub(s >> 1), tau) };
                    assert_eq!(o, ink(s & 1 == 1 && s != NEVER, level), "{decay:?} tau {tau} pixel {s}");
                }
            }
        }
    }

    #[test]
    fn painting_narrow_pixels_equals_painting_wide_ones() {
        let render_t = 5_000_000u64;
        for (decay, tau) in [(Decay::Exponential, 200_000.0), (Decay::Exponential, 3.0e8), (Decay::Linear, 3000.0), (Decay::Window, 1.0), (Decay::Exponential, 1e13)] {
            let fade = Fade::new(decay, tau);
            assert_eq!(fade.paints_narrow(), fade.horizon < NARROW_HORIZON, "{decay:?} tau {tau}");
            if !fade.paints_narrow() {
                continue;
            }
            let mut ages: Vec<u64> = vec![0, 1, 2, fade.horizon - 1, fade.horizon, fade.horizon + 1, render_t];
            ages.extend(fade.drops[1..=usize::from(LEVELS)].iter().flat_map(|&d| [d.saturating_sub(1), d, d + 1]));
            ages.extend((0..997u64).map(|k| k * k * 7919 % fade.horizon.max(1)));
            // Every time at or after `base` (the canvas widens for earlier ones), and a render
            // time before the base (every pixel then has age 0).
            for (base, render_t) in [(0, render_t), (render_t / 2, render_t), (render_t / 2, render_t / 4)] {
                let mut wide: Vec<u64> = ages.iter().filter(|&&a| a <= render_t && render_t - a >= base).flat_map(|&a| [(render_t - a) << 1, (render_t - a) << 1 | 1]).collect();
                wide.extend([NEVER, (render_t + 5) << 1 | 1, (render_t + 5) << 1, NEVER, base << 1, base << 1 | 1]);
                wide.extend((0..50u64).map(|k| (base + k * 9973) << 1 | (k & 1)));
                let narrow: Vec<u32> = wide.iter().map(|&s| if s == NEVER { NEVER32 } else { (((s >> 1) - base) << 1 | (s & 1)) as u32 }).collect();
                for len in [wide.len(), wide.len() - 3, 7] {
                    let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                    fade.paint(&wide[..len], render_t, &mut a);
                    fade.paint_narrow(&narrow[..len], base, render_t, &mut b);
                    assert_eq!(a, b, "{decay:?} tau {tau} base {base} render_t {render_t}");
                }
            }
        }
    }

    #[test]
    fn a_bucket_drops_once_except_rarely() {
        // The claim that makes the table fast: for the default exponential every bucket has
        // at most one drop age, so no pixel takes the walk.
        let fade = Fade::new(Decay::Exponential, 200_000.0);
        assert!(fade.steps.iter().all(|&v| (v >> 32) as u32 != SEVERAL));
        assert!(fade.steps.iter().any(|&v| ((v >> 32) as u32) < NONE), "some bucket drops");
    }
}

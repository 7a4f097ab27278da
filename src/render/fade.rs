//! A [`Decay`] for one τ as tables, exactly equal to [`Decay::level`] at every age in µs, so
//! painting a frame costs a few instructions a pixel instead of an `exp`.
//!
//! Ages up to the decay's horizon are cut into at most [`BUCKETS`] buckets. A bucket's levels
//! drop at most once in nearly every bucket (a bucket is narrower than a level step: τ/747
//! for the exponential against its steepest step τ/120), so one word a bucket holds the
//! palette index of both polarities before and after that drop and the drop's offset in the
//! bucket: a pixel is one lookup, one comparison and a shift. The rare bucket where levels drop
//! at two different ages is marked and walked down the list of drop ages instead.

use super::canvas::Decay;
use super::palette::{LEVELS, index};

/// At most this many age buckets: 2^12 words, 32 KiB, so the table stays in L1/L2.
pub const BUCKETS: usize = 1 << 12;

/// A bucket's drop offset when its levels drop at more than one age (walk [`Fade::drops`]).
const SEVERAL: u32 = u32::MAX;
/// A bucket's drop offset when its level does not drop inside it (no offset reaches it).
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
        Self { horizon, shift, steps, drops }
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
    fn a_bucket_drops_once_except_rarely() {
        // The claim that makes the table fast: for the default exponential every bucket has
        // at most one drop age, so no pixel takes the walk.
        let fade = Fade::new(Decay::Exponential, 200_000.0);
        assert!(fade.steps.iter().all(|&v| (v >> 32) as u32 != SEVERAL));
        assert!(fade.steps.iter().any(|&v| ((v >> 32) as u32) < NONE), "some bucket drops");
    }
}

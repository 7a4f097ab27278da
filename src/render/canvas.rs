//! Each pixel's latest event, and the frame it paints at a render time: the event's polarity
//! picks the colour, its age `Δt = t_render − t_event` the brightness through a [`Decay`]
//! (faery's three: `exponential` e^(−Δt/τ), `linear` 1 − Δt/(2τ) (2τ gives each event the same
//! light as the exponential), `window` 1 while Δt ≤ τ). Brightness is quantised to
//! [`LEVELS`] steps of the palette, so a frame is one byte a pixel.
//!
//! faery's fourth decay, `cumulative`, shows every event, not only the latest: each pixel holds
//! `Σ ±e^(−Δt/τ)` over its events (ON +1, OFF −1), and each frame is tone-mapped by the
//! magnitudes' quantiles (faery's defaults: the smallest non-zero value is dark, the 99th
//! percentile and above full), so a pixel's colour says how much happened there lately.

use super::RenderError;
use super::fade::{Fade, NARROW_MAX, NEVER, NEVER32};
use super::palette::{LEVELS, index};
use crate::events::{Event, Resolution};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decay {
    Exponential,
    Linear,
    Window,
    Cumulative,
}

/// Cumulative tone mapping: the quantiles of the non-zero magnitudes that map to dark and to
/// full brightness (faery's `minimum_clip` and `maximum_clip` defaults).
const CLIP: (f64, f64) = (0.0, 0.99);

impl Decay {
    /// The brightness level (0 = background) of an event `dt` µs old, for time constant `tau`.
    pub fn level(self, dt: u64, tau: f64) -> u8 {
        let dt = dt as f64;
        let v = match self {
            Decay::Exponential | Decay::Cumulative => (-dt / tau).exp(),
            Decay::Linear => (1.0 - dt / (2.0 * tau)).max(0.0),
            Decay::Window => f64::from(u8::from(dt <= tau)),
        };
        (v * f64::from(LEVELS)).round() as u8
    }

    /// The age beyond which an event is background, in µs (so painting skips old pixels
    /// without evaluating the decay).
    pub(super) fn horizon(self, tau: f64) -> u64 {
        let h = match self {
            // LEVELS·e^(−x) < 0.5 from x = ln(2·LEVELS).
            Decay::Exponential | Decay::Cumulative => tau * (2.0 * f64::from(LEVELS)).ln(),
            Decay::Linear => 2.0 * tau,
            Decay::Window => tau,
        };
        h.ceil().min(u64::MAX as f64) as u64 + 1
    }
}

/// The latest event of every pixel of a sensor.
pub struct Canvas {
    width: u16,
    height: u16,
    /// The pixel's latest event as `t << 1 | on` (one word, so an event touches one cache
    /// line); `NEVER` before its first. Empty while [`Canvas::narrow`] holds the events.
    last: Vec<u64>,
    /// The same narrow, `(t − base) << 1 | on` in 32 bits ([`NEVER32`] before the first),
    /// with `base` 16 s before the first event: half the memory, and twice the pixels a
    /// vector when painting. Used while every time fits (the first [`NARROW_MAX`] µs, 35
    /// minutes, past the base) and the decay paints narrow; then widened into `last` for good.
    narrow: Option<(Option<u64>, Vec<u32>)>,
    /// Events taken so far (for error messages).
    pushed: u64,
    /// With [`Decay::Cumulative`]: τ, and each pixel's signed sum at its latest event.
    cumulative: Option<(f64, Vec<f32>)>,
    /// Magnitudes of one frame, for the cumulative tone mapping's quantiles.
    scratch: Vec<f32>,
}

/// Event times must be below this to fit [`Canvas::last`]'s packing (2^63 − 1 µs is 292,000
/// years, so only a corrupt timestamp is refused).
const MAX_T: u64 = (NEVER >> 1) - 1;

impl Canvas {
    /// A blank canvas; its size is checked against [`crate::limits`] before allocating.
    pub fn new(sensor: Resolution) -> Result<Self, RenderError> {
        let n = crate::limits::tensor(|| format!("the {}x{} canvas", sensor.width, sensor.height), &[usize::from(sensor.height), usize::from(sensor.width)], 9)?;
        Ok(Self { width: sensor.width, height: sensor.height, last: Vec::new(), narrow: Some((None, vec![NEVER32; n])), pushed: 0, cumulative: None, scratch: Vec::new() })
    }

    /// A blank canvas that paints with `decay` (a cumulative one keeps a sum per pixel).
    pub fn with_decay(sensor: Resolution, decay: Decay, tau: f64) -> Result<Self, RenderError> {
        let mut canvas = Self::new(sensor)?;
        if decay == Decay::Cumulative {
            canvas.widen();
            canvas.cumulative = Some((tau, vec![0.0; canvas.last.len()]));
        }
        Ok(canvas)
    }

    /// Moves the events from the narrow words into `last` (for good).
    fn widen(&mut self) {
        if let Some((base, words)) = self.narrow.take() {
            let base = base.unwrap_or(0);
            self.last = words.iter().map(|&w| if w == NEVER32 { NEVER } else { (base + u64::from(w >> 1)) << 1 | u64::from(w & 1) }).collect();
        }
    }

    pub fn width(&self) -> usize {
        usize::from(self.width)
    }

    pub fn height(&self) -> usize {
        usize::from(self.height)
    }

    /// Takes events in order; one outside the sensor is an error naming it.
    pub fn push(&mut self, events: &[Event]) -> Result<(), RenderError> {
        let taken = self.push_narrow(events)?;
        if taken == events.len() {
            return Ok(());
        }
        // A time the narrow words cannot hold: the rest (and all later) wide.
        self.widen();
        self.push_wide(&events[taken..])
    }

    /// [`Canvas::push`] into the narrow words while each time fits; returns how many it took.
    fn push_narrow(&mut self, events: &[Event]) -> Result<usize, RenderError> {
        let Some((base, words)) = &mut self.narrow else { return Ok(0) };
        let Some(first) = events.first() else { return Ok(0) };
        let base = *base.get_or_insert(first.t.saturating_sub(16_000_000));
        for (k, e) in events.iter().enumerate() {
            let rel = e.t.wrapping_sub(base);
            if e.x >= self.width || e.y >= self.height || rel > NARROW_MAX {
                // Outside the sensor, or a time that does not fit: the wide path says which.
                self.pushed += k as u64;
                return Ok(k);
            }
            words[usize::from(e.y) * usize::from(self.width) + usize::from(e.x)] = (rel as u32) << 1 | u32::from(e.p);
        }
        self.pushed += events.len() as u64;
        Ok(events.len())
    }

    fn push_wide(&mut self, events: &[Event]) -> Result<(), RenderError> {
        for (k, e) in events.iter().enumerate() {
            if e.x >= self.width || e.y >= self.height || e.t > MAX_T {
                let index = self.pushed + k as u64;
                if e.t > MAX_T {
                    return Err(RenderError::Options(format!("event {index} has the time {} µs, beyond any recording (at most {MAX_T}); the file's timestamps are corrupt", e.t)));
                }
                return Err(RenderError::OutsideSensor { index, t: e.t, x: e.x, y: e.y, width: self.width, height: self.height });
            }
            let i = usize::from(e.y) * usize::from(self.width) + usize::from(e.x);
            if let Some((tau, sum)) = &mut self.cumulative {
                let kept = if self.last[i] == NEVER { 0.0 } else { sum[i] * decayed(e.t.saturating_sub(self.last[i] >> 1), *tau) };
                sum[i] = kept + if e.p { 1.0 } else { -1.0 };
            }
            self.last[i] = e.t << 1 | u64::from(e.p);
        }
        self.pushed += events.len() as u64;
        Ok(())
    }

    /// Paints the frame at `render_t` into `out` (`height × width` palette indices, resized).
    /// An event later than `render_t` (out of order) counts as age 0.
    pub fn paint(&mut self, render_t: u64, fade: &Fade, out: &mut Vec<u8>) {
        out.clear();
        if let Some((tau, sum)) = &self.cumulative {
            return paint_cumulative(&self.last, sum, *tau, render_t, &mut self.scratch, out);
        }
        if let Some((base, words)) = &self.narrow {
            let base = base.unwrap_or(render_t);
            if fade.paints_narrow() && render_t.saturating_sub(base) <= NARROW_MAX {
                out.resize(words.len(), 0);
                return fade.paint_narrow(words, base, render_t, out);
            }
            self.widen();
        }
        out.resize(self.last.len(), 0);
        fade.paint(&self.last, render_t, out);
    }
}

/// e^(−dt/τ) in f32.
fn decayed(dt: u64, tau: f64) -> f32 {
    (-(dt as f64) / tau).exp() as f32
}

/// The cumulative frame: each pixel's sum decayed to `render_t`, its magnitude tone-mapped
/// between the [`CLIP`] quantiles of the frame's non-zero magnitudes, its sign the polarity.
fn paint_cumulative(last: &[u64], sum: &[f32], tau: f64, render_t: u64, scratch: &mut Vec<f32>, out: &mut Vec<u8>) {
    // Each pixel's value at `render_t`, computed once (one exp a pixel) for both passes.
    let mut values: Vec<f32> = (0..last.len()).map(|i| if last[i] == NEVER { 0.0 } else { sum[i] * decayed(render_t.saturating_sub(last[i] >> 1), tau) }).collect();
    scratch.clear();
    scratch.extend(values.iter().map(|v| v.abs()).filter(|&v| v > 0.0));
    let quantile = |scratch: &mut Vec<f32>, q: f64| {
        let k = ((q * scratch.len() as f64) as usize).min(scratch.len() - 1);
        *scratch.select_nth_unstable_by(k, f32::total_cmp).1
    };
    let (lo, hi) = if scratch.is_empty() { (0.0, 1.0) } else { (quantile(scratch, CLIP.0), quantile(scratch, CLIP.1)) };
    out.extend(values.drain(..).map(|v| {
        if v == 0.0 {
            return 0;
        }
        let a = if hi > lo { ((v.abs() - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 1.0 };
        match (a * f32::from(LEVELS)).round() as u8 {
            0 => 0,
            level => index(v > 0.0, level),
        }
    }));
}

/// `src` (`height × width`) with every pixel repeated `scale × scale` times.
pub fn upscale(src: &[u8], width: usize, height: usize, scale: usize, out: &mut Vec<u8>) {
    out.clear();
    if scale == 1 {
        out.extend_from_slice(src);
        return;
    }
    out.reserve(src.len() * scale * scale);
    for row in src.chunks_exact(width).take(height) {
        let start = out.len();
        for &v in row {
            out.extend(std::iter::repeat_n(v, scale));
        }
        for _ in 1..scale {
            out.extend_from_within(start..start + width * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_fade_as_stated_and_stop_at_their_horizon() {
        let tau = 1000.0;
        assert_eq!(Decay::Exponential.level(0, tau), LEVELS);
        assert_eq!(Decay::Exponential.level(1000, tau), (f64::from(LEVELS) / std::f64::consts::E).round() as u8);
        assert_eq!(Decay::Linear.level(1000, tau), LEVELS / 2);
        assert_eq!(Decay::Linear.level(2000, tau), 0);
        assert_eq!((Decay::Window.level(1000, tau), Decay::Window.level(1001, tau)), (LEVELS, 0));
        for d in [Decay::Exponential, Decay::Linear, Decay::Window] {
            let h = d.horizon(tau);
            assert_eq!(d.level(h, tau), 0, "{d:?} at its horizon");
            // Painting skips pixels older than the horizon: none of them may still be lit.
            assert!((0..4 * h).all(|dt| d.level(dt, tau) == 0 || dt < h), "{d:?} lit past its horizon");
            assert!(d.level(h / 2, tau) > 0, "{d:?}: the horizon is too far");
        }
    }

    #[test]
    fn a_pixel_shows_its_latest_event_and_outside_events_are_refused() {
        let mut c = Canvas::new(Resolution::new(3, 2)).unwrap();
        c.push(&[Event::new(10, 1, 0, true), Event::new(20, 1, 0, false), Event::new(30, 2, 1, true)]).unwrap();
        let mut out = Vec::new();
        c.paint(30, &Fade::new(Decay::Window, 5.0), &mut out);
        assert_eq!(out, vec![0, 0, 0, 0, 0, index(true, LEVELS)]);
        c.paint(30, &Fade::new(Decay::Window, 10.0), &mut out);
        assert_eq!(out, vec![0, index(false, LEVELS), 0, 0, 0, index(true, LEVELS)]);
        let e = c.push(&[Event::new(40, 3, 0, true)]).unwrap_err().to_string();
        assert!(e.contains("event 3") && e.contains("3x2"), "{e}");
        // A time that cannot be packed with its polarity is refused, not wrapped.
        let e = c.push(&[Event::new(u64::MAX - 1, 0, 0, true)]).unwrap_err().to_string();
        assert!(e.contains("event 3") && e.contains("corrupt"), "{e}");
        let mut big = Vec::new();
        upscale(&out, 3, 2, 2, &mut big);
        assert_eq!(big.len(), 24);
        assert_eq!(&big[0..6], &[0, 0, out[1], out[1], 0, 0]);
        assert_eq!(&big[6..12], &big[0..6]);
    }

    #[test]
    fn times_the_narrow_words_cannot_hold_widen_the_canvas_and_paint_the_same() {
        // A canvas that starts narrow paints as one that was wide from the start, when an
        // event comes 16 s before the first (the base is then), when one comes beyond the
        // narrow words (35 minutes past the base), and when a render time does (widened while
        // pixels are lit: painted at every µs across the drops of their levels).
        let fade = Fade::new(Decay::Exponential, 200_000.0);
        let t0 = 20_000_000u64;
        let base = t0 - 16_000_000;
        for (late, widens) in [(t0 + 1_000_000, false), (100, true), (base + NARROW_MAX + 10, true), (base + NARROW_MAX - 3000, true)] {
            let mut narrow = Canvas::new(Resolution::new(4, 1)).unwrap();
            let mut wide = Canvas::new(Resolution::new(4, 1)).unwrap();
            wide.widen();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut lit = 0;
            for (events, from) in [(vec![Event::new(t0, 0, 0, true), Event::new(t0 + 50_000, 1, 0, false)], t0 + 50_000), (vec![Event::new(late, 2, 0, true), Event::new(late + 10, 3, 0, false)], late + 10)] {
                narrow.push(&events).unwrap();
                wide.push(&events).unwrap();
                for at in from..from + 8000 {
                    narrow.paint(at, &fade, &mut a);
                    wide.paint(at, &fade, &mut b);
                    assert_eq!(a, b, "late {late} at {at}");
                    lit += a.iter().filter(|&&i| i != 0).count();
                }
            }
            assert_eq!(narrow.narrow.is_none(), widens, "late {late}");
            assert!(lit > 0, "late {late}: nothing lit");
        }
    }

    #[test]
    fn cumulative_counts_every_event_and_tone_maps_by_quantile() {
        let tau = 1000.0;
        let mut c = Canvas::with_decay(Resolution::new(4, 1), Decay::Cumulative, tau).unwrap();
        // Pixel 0: three ON events at t = 100; pixel 1: one ON; pixel 2: two OFF; pixel 3: none.
        let on = |x| Event::new(100, x, 0, true);
        let off = |x| Event::new(100, x, 0, false);
        c.push(&[on(0), on(0), on(0), on(1), off(2), off(2)]).unwrap();
        let mut out = Vec::new();
        c.paint(100, &Fade::new(Decay::Cumulative, tau), &mut out);
        // Magnitudes 3, 1, 2: the smallest non-zero (1) is dark, the 99th percentile (3) full.
        assert_eq!(out, vec![index(true, LEVELS), 0, index(false, LEVELS / 2), 0]);
        // The sums decay together, so the picture is the same τ later …
        c.paint(1100, &Fade::new(Decay::Cumulative, tau), &mut out);
        assert_eq!(out, vec![index(true, LEVELS), 0, index(false, LEVELS / 2), 0]);
        // … and a new event adds to the decayed sum: pixel 1 at 1·e^(−1) + 1 ≈ 1.37.
        c.push(&[Event::new(1100, 1, 0, true)]).unwrap();
        c.paint(1100, &Fade::new(Decay::Cumulative, tau), &mut out);
        let (s0, s1) = (3.0 * (-1.0f32).exp(), (-1.0f32).exp() + 1.0);
        let s2 = 2.0 * (-1.0f32).exp();
        // Now the smallest magnitude is pixel 2's (0.74) and the largest pixel 1's (1.37).
        assert!(s1 > s0 && s0 > s2);
        let level = ((s0 - s2) / (s1 - s2) * f32::from(LEVELS)).round() as u8;
        assert_eq!(out, vec![index(true, level), index(true, LEVELS), 0, 0]);
    }
}

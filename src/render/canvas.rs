//! Each pixel's latest event, and the frame it paints at a render time: the event's polarity
//! picks the colour, its age `Δt = t_render − t_event` the brightness through a [`Decay`]
//! (faery's three: `exponential` e^(−Δt/τ), `linear` 1 − Δt/(2τ) (2τ gives each event the same
//! light as the exponential), `window` 1 while Δt ≤ τ). Brightness is quantised to
//! [`LEVELS`] steps of the palette, so a frame is one byte a pixel.

use super::RenderError;
use super::palette::{LEVELS, index};
use crate::events::{Event, Resolution};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decay {
    Exponential,
    Linear,
    Window,
}

impl Decay {
    /// The brightness level (0 = background) of an event `dt` µs old, for time constant `tau`.
    pub fn level(self, dt: u64, tau: f64) -> u8 {
        let dt = dt as f64;
        let v = match self {
            Decay::Exponential => (-dt / tau).exp(),
            Decay::Linear => (1.0 - dt / (2.0 * tau)).max(0.0),
            Decay::Window => f64::from(u8::from(dt <= tau)),
        };
        (v * f64::from(LEVELS)).round() as u8
    }

    /// The age beyond which an event is background, in µs (so painting skips old pixels
    /// without evaluating the decay).
    fn horizon(self, tau: f64) -> u64 {
        let h = match self {
            // LEVELS·e^(−x) < 0.5 from x = ln(2·LEVELS).
            Decay::Exponential => tau * (2.0 * f64::from(LEVELS)).ln(),
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
    /// Timestamp of the pixel's latest event; `NEVER` before its first.
    last: Vec<u64>,
    on: Vec<bool>,
    /// Events taken so far (for error messages).
    pushed: u64,
}

const NEVER: u64 = u64::MAX;

impl Canvas {
    /// A blank canvas; its size is checked against [`crate::limits`] before allocating.
    pub fn new(sensor: Resolution) -> Result<Self, RenderError> {
        let n = crate::limits::tensor(|| format!("the {}x{} canvas", sensor.width, sensor.height), &[usize::from(sensor.height), usize::from(sensor.width)], 9)?;
        Ok(Self { width: sensor.width, height: sensor.height, last: vec![NEVER; n], on: vec![false; n], pushed: 0 })
    }

    pub fn width(&self) -> usize {
        usize::from(self.width)
    }

    pub fn height(&self) -> usize {
        usize::from(self.height)
    }

    /// Takes events in order; one outside the sensor is an error naming it.
    pub fn push(&mut self, events: &[Event]) -> Result<(), RenderError> {
        for e in events {
            if e.x >= self.width || e.y >= self.height {
                return Err(RenderError::OutsideSensor { index: self.pushed, t: e.t, x: e.x, y: e.y, width: self.width, height: self.height });
            }
            let i = usize::from(e.y) * usize::from(self.width) + usize::from(e.x);
            self.last[i] = e.t;
            self.on[i] = e.p;
            self.pushed += 1;
        }
        Ok(())
    }

    /// Paints the frame at `render_t` into `out` (`height × width` palette indices, resized).
    /// An event later than `render_t` (out of order) counts as age 0.
    pub fn paint(&self, render_t: u64, fade: &Fade, out: &mut Vec<u8>) {
        out.clear();
        out.extend(self.last.iter().zip(&self.on).map(|(&t, &on)| {
            if t == NEVER {
                return 0;
            }
            match fade.level(render_t.saturating_sub(t)) {
                0 => 0,
                level => index(on, level),
            }
        }));
    }
}

/// [`Decay::level`] for one τ as a table, exactly: the level at the start of each of at most
/// 4096 age buckets, then the ages where the level drops, walked from there (the level never
/// rises with age, and a bucket is narrower than most steps, so this is one or two
/// comparisons a pixel instead of an `exp`).
pub struct Fade {
    horizon: u64,
    shift: u32,
    coarse: Vec<u8>,
    /// `drops[l]`: the youngest age whose level is below `l`.
    drops: Vec<u64>,
}

impl Fade {
    pub fn new(decay: Decay, tau: f64) -> Self {
        let horizon = decay.horizon(tau);
        let shift = (64 - horizon.leading_zeros()).saturating_sub(12);
        let coarse = (0..=horizon >> shift).map(|b| decay.level(b << shift, tau)).collect();
        let drops = (0..=u64::from(LEVELS))
            .map(|l| {
                // The level is non-increasing in age: binary search for the first age below `l`.
                let (mut lo, mut hi) = (0u64, horizon);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if u64::from(decay.level(mid, tau)) < l { hi = mid } else { lo = mid + 1 }
                }
                lo
            })
            .collect();
        Self { horizon, shift, coarse, drops }
    }

    pub fn level(&self, dt: u64) -> u8 {
        if dt >= self.horizon {
            return 0;
        }
        let mut level = self.coarse[(dt >> self.shift) as usize];
        while level > 0 && dt >= self.drops[usize::from(level)] {
            level -= 1;
        }
        level
    }
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
    fn the_fade_table_equals_the_decay_at_every_age() {
        for decay in [Decay::Exponential, Decay::Linear, Decay::Window] {
            for tau in [1.0, 7.0, 1000.0, 200_000.0, 3.3e6] {
                let fade = Fade::new(decay, tau);
                let h = decay.horizon(tau);
                let step = (h / 20_000).max(1);
                for dt in (0..h + 10).step_by(step as usize).chain(fade.drops.iter().flat_map(|&d| [d.saturating_sub(1), d, d + 1])) {
                    assert_eq!(fade.level(dt), decay.level(dt, tau), "{decay:?} tau {tau} age {dt}");
                }
            }
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
        let mut big = Vec::new();
        upscale(&out, 3, 2, 2, &mut big);
        assert_eq!(big.len(), 24);
        assert_eq!(&big[0..6], &[0, 0, out[1], out[1], 0, 0]);
        assert_eq!(&big[6..12], &big[0..6]);
    }
}

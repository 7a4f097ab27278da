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
    pub fn paint(&self, render_t: u64, decay: Decay, tau: f64, out: &mut Vec<u8>) {
        let horizon = decay.horizon(tau);
        out.clear();
        out.extend(self.last.iter().zip(&self.on).map(|(&t, &on)| {
            if t == NEVER {
                return 0;
            }
            let dt = render_t.saturating_sub(t);
            if dt >= horizon {
                return 0;
            }
            match decay.level(dt, tau) {
                0 => 0,
                level => index(on, level),
            }
        }));
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
    fn a_pixel_shows_its_latest_event_and_outside_events_are_refused() {
        let mut c = Canvas::new(Resolution::new(3, 2)).unwrap();
        c.push(&[Event::new(10, 1, 0, true), Event::new(20, 1, 0, false), Event::new(30, 2, 1, true)]).unwrap();
        let mut out = Vec::new();
        c.paint(30, Decay::Window, 5.0, &mut out);
        assert_eq!(out, vec![0, 0, 0, 0, 0, index(true, LEVELS)]);
        c.paint(30, Decay::Window, 10.0, &mut out);
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

//! Procedural scenes: what the synthetic camera looks at, as brightness per pixel at any time.
//!
//! A [`Scene`] is a static textured background plus one moving [`Content`]: a uniform shape with
//! a linear pose trajectory (position, angle, size) or a drifting grating. Rendering is analytic
//! and anti-aliased at the sub-pixel level (coverage from a signed distance for shapes, the
//! pixel box filter's attenuation for gratings), so an edge moving by a tenth of a pixel changes
//! the frame by a tenth. This module knows nothing about events or sensors.

mod background;
mod class;
mod shape;

pub use background::Background;
pub use class::Class;
pub use shape::{Shape, coverage};

use crate::rng::Rng;
use crate::events::Resolution;

/// Position (pixels), angle (radians, clockwise on screen since y points down) and size
/// (the shape's `R`, pixels); also used for their rates per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub x: f64,
    pub y: f64,
    pub angle: f64,
    pub size: f64,
}

/// A uniform shape whose brightness is the background's times `exp(log_contrast)`, at pose
/// `start + rate * t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Object {
    pub shape: Shape,
    pub log_contrast: f64,
    pub start: Pose,
    pub rate: Pose,
}

/// `log I = log background + amplitude * sin(kx x + ky y - omega t + phase)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grating {
    pub kx: f64,
    pub ky: f64,
    pub omega: f64,
    pub phase: f64,
    /// Log amplitude after the pixel's box filter.
    pub amplitude: f64,
}

impl Grating {
    /// A grating of log amplitude `amplitude`, as a unit pixel integrates it: averaging a
    /// sinusoid over a pixel multiplies it by `sinc(kx/2) sinc(ky/2)` (exact in the log domain,
    /// where the grating is defined).
    pub fn new(kx: f64, ky: f64, omega: f64, phase: f64, amplitude: f64) -> Self {
        let sinc = |u: f64| if u.abs() < 1e-9 { 1.0 } else { u.sin() / u };
        Self { kx, ky, omega, phase, amplitude: amplitude * sinc(kx / 2.0) * sinc(ky / 2.0) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Content {
    Object(Object),
    Grating(Grating),
}

/// Everything one recording shows.
#[derive(Clone, Debug)]
pub struct Scene {
    pub class: Class,
    pub resolution: Resolution,
    pub background: Background,
    pub content: Content,
}

impl Scene {
    /// Draws a random scene of `class`; `duration` (seconds) sets how far paths run.
    pub fn sample(class: Class, resolution: Resolution, duration: f64, rng: &mut Rng) -> Self {
        let background = Background::sample(resolution, rng);
        let (w, h) = (f64::from(resolution.width), f64::from(resolution.height));
        let content = class.sample(w / 2.0, h / 2.0, w.min(h), duration, rng);
        Self { class, resolution, background, content }
    }

    /// Writes the brightness at time `t` (seconds) into `frame` (`[height, width]`, row-major).
    pub fn render(&self, t: f64, frame: &mut [f32]) {
        frame.copy_from_slice(&self.background.intensity);
        match self.content {
            Content::Object(object) => self.render_object(&object, t, frame),
            Content::Grating(grating) => self.render_grating(&grating, t, frame),
        }
    }

    fn render_object(&self, object: &Object, t: f64, frame: &mut [f32]) {
        let (s, r) = (object.start, object.rate);
        let (x, y, angle) = (s.x + r.x * t, s.y + r.y * t, s.angle + r.angle * t);
        let size = (s.size + r.size * t).max(0.5);
        let gain = object.log_contrast.exp() - 1.0;
        let (sin, cos) = angle.sin_cos();
        let width = usize::from(self.resolution.width);
        // Only pixels within the shape's bounding circle (plus the one-pixel ramp) can change.
        let reach = object.shape.bound(size) + 1.0;
        let span = |centre: f64, limit: u16| {
            let lo = (centre - reach).floor().max(0.0) as usize;
            let hi = ((centre + reach).ceil().max(0.0) as usize).min(usize::from(limit));
            lo..hi
        };
        for py in span(y, self.resolution.height) {
            let dy = py as f64 + 0.5 - y;
            for px in span(x, self.resolution.width) {
                let dx = px as f64 + 0.5 - x;
                // Into the shape's frame: rotate by -angle.
                let (lx, ly) = (cos * dx + sin * dy, -sin * dx + cos * dy);
                let cover = coverage(object.shape.distance(lx, ly, size));
                if cover > 0.0 {
                    let i = py * width + px;
                    frame[i] *= (1.0 + cover * gain) as f32;
                }
            }
        }
    }

    fn render_grating(&self, g: &Grating, t: f64, frame: &mut [f32]) {
        // sin(kx x + ky y + p) = sin(kx x) cos(ky y + p) + cos(kx x) sin(ky y + p): one sine per
        // row and column instead of one per pixel.
        let width = usize::from(self.resolution.width);
        let phase_t = g.phase - g.omega * t;
        let columns: Vec<(f64, f64)> = (0..width).map(|x| (g.kx * (x as f64 + 0.5)).sin_cos()).collect();
        for (y, row) in frame.chunks_exact_mut(width).enumerate() {
            let (sin_row, cos_row) = (g.ky * (y as f64 + 0.5) + phase_t).sin_cos();
            for (value, &(sin_col, cos_col)) in row.iter_mut().zip(&columns) {
                let wave = sin_col * cos_row + cos_col * sin_row;
                *value *= ((g.amplitude * wave) as f32).exp();
            }
        }
    }
}

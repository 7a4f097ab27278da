//! The static textured background every scene is drawn over: a mean brightness times a smooth
//! log-domain texture of a few Gaussian blobs.
//!
//! Static, so it makes no events by itself; it makes the events of a moving edge vary along the
//! edge (as a real scene does) and keeps the object contrast from being one fixed number.

use crate::rng::Rng;
use crate::events::Resolution;

/// Brightness per pixel, row-major `[height, width]`, linear units (1.0 = bright).
#[derive(Clone, Debug)]
pub struct Background {
    pub intensity: Vec<f32>,
}

/// Blobs in the texture.
const BLOBS: usize = 6;

impl Background {
    /// Mean brightness 0.2–0.6; blobs with log amplitude up to ±0.15 and widths of 8–25 % of
    /// the smaller sensor side. Smooth at the pixel scale, so sampling at the pixel centre is
    /// already anti-aliased.
    pub fn sample(resolution: Resolution, rng: &mut Rng) -> Self {
        let (w, h) = (f64::from(resolution.width), f64::from(resolution.height));
        let scale = w.min(h);
        let mean = rng.range(0.2, 0.6);
        let blobs: Vec<[f64; 4]> = (0..BLOBS)
            .map(|_| {
                let sigma = rng.range(0.08, 0.25) * scale;
                [rng.range(0.0, w), rng.range(0.0, h), rng.sign() * rng.range(0.05, 0.15), 1.0 / (2.0 * sigma * sigma)]
            })
            .collect();
        let mut intensity = Vec::with_capacity(resolution.width as usize * resolution.height as usize);
        for y in 0..resolution.height {
            for x in 0..resolution.width {
                let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                let texture: f64 =
                    blobs.iter().map(|&[cx, cy, amplitude, inv_two_var]| amplitude * (-((px - cx).powi(2) + (py - cy).powi(2)) * inv_two_var).exp()).sum();
                intensity.push((mean * texture.exp()) as f32);
            }
        }
        Self { intensity }
    }
}

//! Background activity: shot-noise events, a Poisson process per pixel at a fixed rate with
//! random polarity, independent of the scene.
//!
//! Drawn from its own random stream, so changing the noise rate leaves the scene's events
//! untouched (the tests rely on that to measure the rate). Noise events do not reset the pixel
//! they land on; at the rates of real sensors (0.1–5 Hz per pixel) the difference is invisible.

use crate::rng::Rng;

/// Calls `emit(t, pixel, on)` for each noise event in `[0, duration_us)`, in time order.
/// `rate_hz` is per pixel; the union over `pixels` pixels is one Poisson process of rate
/// `rate_hz * pixels`, each event on a uniformly drawn pixel.
pub fn shot_noise(pixels: usize, rate_hz: f64, duration_us: f64, rng: &mut Rng, mut emit: impl FnMut(f64, usize, bool)) {
    let rate_per_us = rate_hz * pixels as f64 * 1e-6;
    if rate_per_us <= 0.0 || pixels == 0 {
        return;
    }
    let mut t = rng.exponential(rate_per_us);
    while t < duration_us {
        let pixel = rng.below(pixels as u32) as usize;
        emit(t, pixel, rng.chance(0.5));
        t += rng.exponential(rate_per_us);
    }
}

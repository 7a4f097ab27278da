//! The event-camera pixel model: log intensity against a per-pixel reference level, ON/OFF
//! thresholds with fixed-pattern mismatch, several events per crossing with interpolated
//! timestamps, and a refractory period.
//!
//! [`Camera`] is the sensor (immutable: thresholds per pixel, drawn once from a camera seed, so
//! every recording of a dataset sees the same fixed pattern); [`PixelState`] is one recording's
//! state (reference levels, last log intensity, last event time). Shot noise and timestamp
//! jitter are applied by the caller ([`super::noise`], [`super::simulate`]); scenes are not
//! known here.

use crate::rng::Rng;
use crate::events::Resolution;

/// Sensor parameters. Thresholds are in natural-log units of intensity.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CameraParams {
    /// Mean log-intensity increase that fires an ON event.
    pub threshold_on: f64,
    /// Mean log-intensity decrease that fires an OFF event.
    pub threshold_off: f64,
    /// Pixel-to-pixel standard deviation of both thresholds (fixed pattern).
    pub threshold_sigma: f64,
    /// After an event a pixel is blind for this long (µs); crossings in that time are lost.
    pub refractory_us: f64,
    /// Standard deviation of the Gaussian timestamp jitter (µs).
    pub jitter_us: f64,
    /// Background (shot) noise events per pixel per second, half ON, half OFF.
    pub noise_hz: f64,
    /// Dark level added before the logarithm, `log(I + log_floor)`: keeps dark pixels from
    /// having unbounded contrast, as the photoreceptor's dark current does.
    pub log_floor: f64,
}

impl Default for CameraParams {
    fn default() -> Self {
        Self { threshold_on: 0.2, threshold_off: 0.2, threshold_sigma: 0.03, refractory_us: 500.0, jitter_us: 50.0, noise_hz: 1.0, log_floor: 0.01 }
    }
}

/// No pixel's threshold is drawn below this, however large the mismatch.
const MIN_THRESHOLD: f64 = 0.02;

/// A sensor: resolution, parameters and the per-pixel thresholds (row-major `[height, width]`).
#[derive(Clone, Debug)]
pub struct Camera {
    pub resolution: Resolution,
    pub params: CameraParams,
    threshold_on: Vec<f32>,
    threshold_off: Vec<f32>,
    log_floor: f32,
}

impl Camera {
    pub fn new(resolution: Resolution, params: CameraParams, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let pixels = usize::from(resolution.width) * usize::from(resolution.height);
        let mut draw = |mean: f64| -> Vec<f32> { (0..pixels).map(|_| (mean + params.threshold_sigma * rng.gaussian()).max(MIN_THRESHOLD) as f32).collect() };
        let threshold_on = draw(params.threshold_on);
        let threshold_off = draw(params.threshold_off);
        Self { resolution, log_floor: params.log_floor as f32, params, threshold_on, threshold_off }
    }

    pub fn pixels(&self) -> usize {
        self.threshold_on.len()
    }

    fn log(&self, intensity: f32) -> f32 {
        (intensity + self.log_floor).ln()
    }
}

/// One recording's pixel state.
#[derive(Clone, Debug)]
pub struct PixelState {
    /// Log intensity at which each pixel last reset.
    reference: Vec<f32>,
    /// Intensity and log intensity of the last frame (the log is recomputed only on change).
    intensity: Vec<f32>,
    log: Vec<f32>,
    /// Time (µs) of each pixel's last event; the refractory period runs from there.
    last_event: Vec<f64>,
}

impl PixelState {
    /// Starts from the first frame. The reference levels are drawn uniformly inside each
    /// pixel's dead band `(L - θon, L + θoff)`, as the time since a real pixel's last reset is unknown; a reference
    /// equal to the first frame everywhere would make every pixel fire in lockstep.
    pub fn start(camera: &Camera, frame: &[f32], rng: &mut Rng) -> Self {
        let log: Vec<f32> = frame.iter().map(|&i| camera.log(i)).collect();
        let reference = log
            .iter()
            .zip(camera.threshold_on.iter().zip(&camera.threshold_off))
            .map(|(&l, (&on, &off))| l + rng.range(-f64::from(on), f64::from(off)) as f32)
            .collect();
        Self { reference, intensity: frame.to_vec(), log, last_event: vec![f64::NEG_INFINITY; frame.len()] }
    }

    /// Moves every pixel from the previous frame (at `t0` µs) to `frame` (at `t1` µs), the log
    /// intensity changing linearly in between, and calls `emit(t, pixel, on)` for each event in
    /// pixel order (each pixel's events in time order).
    ///
    /// For a pixel with reference `r` and thresholds `θon`, `θoff`: while `L(t1) ≥ r + θon` an
    /// ON crossing happens at the time `L` reaches `r + θon` and `r` moves up by `θon` (OFF
    /// likewise). A crossing within `refractory_us` of the pixel's last event still moves `r`
    /// but fires nothing: the pixel is held in reset and the change is lost.
    pub fn advance(&mut self, camera: &Camera, frame: &[f32], t0: f64, t1: f64, mut emit: impl FnMut(f64, usize, bool)) {
        let refractory = camera.params.refractory_us;
        let dt = t1 - t0;
        for (i, &intensity) in frame.iter().enumerate() {
            if intensity == self.intensity[i] {
                continue; // the reference is always within the dead band of the current level
            }
            self.intensity[i] = intensity;
            let (from, to) = (self.log[i], camera.log(intensity));
            self.log[i] = to;
            let (on, off) = (camera.threshold_on[i], camera.threshold_off[i]);
            loop {
                let reference = self.reference[i];
                let (level, polarity) = if to - reference >= on {
                    (reference + on, true)
                } else if reference - to >= off {
                    (reference - off, false)
                } else {
                    break;
                };
                self.reference[i] = level;
                let fraction = f64::from((level - from) / (to - from)).clamp(0.0, 1.0);
                let t = t0 + fraction * dt;
                if t - self.last_event[i] >= refractory {
                    self.last_event[i] = t;
                    emit(t, i, polarity);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-pixel camera without mismatch, its pixel reset exactly at the first frame.
    fn one_pixel(refractory_us: f64, first: f32) -> (Camera, PixelState) {
        let params = CameraParams { threshold_sigma: 0.0, refractory_us, ..CameraParams::default() };
        let camera = Camera::new(Resolution::new(1, 1), params, 0);
        let mut state = PixelState::start(&camera, &[first], &mut Rng::new(0));
        state.reference[0] = state.log[0];
        (camera, state)
    }

    fn events(camera: &Camera, state: &mut PixelState, to: f32, t0: f64, t1: f64) -> Vec<(f64, bool)> {
        let mut out = Vec::new();
        state.advance(camera, &[to], t0, t1, |t, _, on| out.push((t, on)));
        out
    }

    #[test]
    fn one_event_per_threshold_crossed_at_interpolated_times() {
        let (camera, mut state) = one_pixel(0.0, 0.5);
        let start = state.log[0];
        // Log intensity up by 1.05 over 1000 µs: five ON crossings, 0.2 apart in log.
        let brighter = (f64::from(start) + 1.05).exp() as f32 - 0.01;
        let got = events(&camera, &mut state, brighter, 0.0, 1000.0);
        assert_eq!(got.len(), 5, "{got:?}");
        for (k, &(t, on)) in got.iter().enumerate() {
            let want = 1000.0 * 0.2 * (k + 1) as f64 / 1.05;
            assert!(on && (t - want).abs() < 0.5, "event {k}: got {t}, expected ON at {want:.1}");
        }
        // Back down: the reference is 1.0 above the start, so four OFF crossings.
        let got = events(&camera, &mut state, 0.5, 1000.0, 2000.0);
        assert_eq!(got.iter().filter(|(_, on)| !on).count(), 4, "{got:?}");
    }

    #[test]
    fn refractory_period_drops_crossings_but_moves_the_reference() {
        let (camera, mut state) = one_pixel(300.0, 0.5);
        let start = state.log[0];
        let brighter = (f64::from(start) + 1.05).exp() as f32 - 0.01;
        // Crossings every ~190 µs; with 300 µs of refractory every other one fires.
        let got = events(&camera, &mut state, brighter, 0.0, 1000.0);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!((state.reference[0] - (start + 1.0)).abs() < 1e-5, "the reference follows all five crossings");
    }

    #[test]
    fn mismatch_has_the_configured_spread() {
        let params = CameraParams::default();
        let camera = Camera::new(Resolution::new(100, 100), params.clone(), 9);
        let n = camera.pixels() as f64;
        let mean = camera.threshold_on.iter().map(|&t| f64::from(t)).sum::<f64>() / n;
        let sd = (camera.threshold_on.iter().map(|&t| (f64::from(t) - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((mean - params.threshold_on).abs() < 0.002, "mean threshold {mean}");
        assert!((sd - params.threshold_sigma).abs() < 0.002, "threshold sd {sd}");
    }
}

//! One synthetic recording from a class and a seed: render the scene every `step_us`, run the
//! pixel model between frames, add jitter and shot noise, sort.
//!
//! [`Simulator`] holds what a dataset shares (validated configuration and the camera's fixed
//! pattern) and is `Sync`, so threads can record from one instance.

use super::camera::{Camera, CameraParams, PixelState};
use super::error::SimError;
use super::noise::shot_noise;
use crate::rng::{Rng, derive_seed};
use super::scene::{Class, Scene};
use crate::events::{Event, Resolution};

/// What every recording of a dataset shares.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimConfig {
    pub resolution: Resolution,
    /// Recording length; event timestamps lie in `[offset_us, offset_us + duration_us]`.
    pub duration_us: u64,
    /// Added to every timestamp (0: recordings start at t = 0).
    pub offset_us: u64,
    /// Render step (µs); the pixel model interpolates log intensity linearly between frames.
    pub step_us: f64,
    pub camera: CameraParams,
}

impl SimConfig {
    /// 300 ms at a 0.5 ms render step and the default camera.
    pub fn new(resolution: Resolution) -> Self {
        Self { resolution, duration_us: 300_000, offset_us: 0, step_us: 500.0, camera: CameraParams::default() }
    }

    pub fn validate(&self) -> Result<(), SimError> {
        let c = &self.camera;
        let r = self.resolution;
        let max_side = i16::MAX as u16; // AEDAT4 stores coordinates as i16
        if r.width == 0 || r.height == 0 || r.width > max_side || r.height > max_side {
            return Err(SimError::invalid("size", r, "each side 1 to 32767 pixels"));
        }
        if self.duration_us == 0 || self.duration_us > 3_600_000_000 {
            return Err(SimError::invalid("duration", format!("{} us", self.duration_us), "1 us to 1 hour"));
        }
        if self.offset_us.checked_add(self.duration_us).is_none_or(|end| end > i64::MAX as u64) {
            return Err(SimError::invalid("time offset", format!("{} us", self.offset_us), "offset + duration must fit a signed 64-bit µs timestamp"));
        }
        if !(self.step_us >= 1.0 && self.step_us <= self.duration_us as f64) {
            return Err(SimError::invalid("render step", format!("{} us", self.step_us), "1 us up to the duration"));
        }
        for (name, value) in [("ON threshold", c.threshold_on), ("OFF threshold", c.threshold_off), ("log floor", c.log_floor)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(SimError::invalid(name, value, "a positive number"));
            }
        }
        let non_negative = [
            ("threshold sigma", c.threshold_sigma),
            ("refractory period (us)", c.refractory_us),
            ("timestamp jitter (us)", c.jitter_us),
            ("noise rate (Hz per pixel)", c.noise_hz),
        ];
        for (name, value) in non_negative {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(SimError::invalid(name, value, "zero or a positive number"));
            }
        }
        Ok(())
    }
}

/// Independent random streams of one recording, so that changing one parameter (the noise
/// rate, the jitter) leaves the draws of the others as they were.
const STREAM_SCENE: u64 = 1;
const STREAM_PIXELS: u64 = 2;
const STREAM_JITTER: u64 = 3;
const STREAM_NOISE: u64 = 4;

/// A validated configuration and the camera it records with.
#[derive(Clone, Debug)]
pub struct Simulator {
    config: SimConfig,
    camera: Camera,
}

impl Simulator {
    /// `camera_seed` draws the threshold mismatch: one camera per dataset, like a real one.
    pub fn new(config: SimConfig, camera_seed: u64) -> Result<Self, SimError> {
        config.validate()?;
        let camera = Camera::new(config.resolution, config.camera.clone(), camera_seed);
        Ok(Self { config, camera })
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Draws the scene of one recording (what [`Simulator::record`] films for this seed).
    pub fn scene(&self, class: Class, seed: u64) -> Scene {
        let mut rng = Rng::new(derive_seed(seed, STREAM_SCENE));
        Scene::sample(class, self.config.resolution, self.config.duration_us as f64 * 1e-6, &mut rng)
    }

    /// The events of one recording of `class`, sorted by time (then x, y, polarity).
    /// Deterministic: the same simulator and seed give the same events.
    pub fn record(&self, class: Class, seed: u64) -> Vec<Event> {
        let scene = self.scene(class, seed);
        self.film(seed, &|t, frame| scene.render(t, frame))
    }

    /// The events of one recording of anything that gives the brightness of every pixel at a
    /// time (seconds): `render(t, frame)` fills `frame` (`[height, width]`, row-major). The
    /// seed draws the pixels' reference levels, the jitter and the noise.
    pub fn film(&self, seed: u64, render: &dyn Fn(f64, &mut [f32])) -> Vec<Event> {
        let config = &self.config;
        let width = usize::from(config.resolution.width);
        let duration = config.duration_us as f64;
        let jitter = config.camera.jitter_us;
        let mut jitter_rng = Rng::new(derive_seed(seed, STREAM_JITTER));
        let mut events = Vec::new();
        let mut push = |t: f64, pixel: usize, on: bool, jitter_rng: &mut Rng| {
            let t = if jitter > 0.0 { t + jitter * jitter_rng.gaussian() } else { t };
            let t = t.clamp(0.0, duration).round() as u64 + config.offset_us;
            events.push(Event::new(t, (pixel % width) as u16, (pixel / width) as u16, on));
        };

        let mut frame = vec![0f32; self.camera.pixels()];
        render(0.0, &mut frame);
        let mut pixels = PixelState::start(&self.camera, &frame, &mut Rng::new(derive_seed(seed, STREAM_PIXELS)));
        let steps = (duration / config.step_us).ceil() as u64;
        let mut t0 = 0.0;
        for k in 1..=steps {
            let t1 = (k as f64 * config.step_us).min(duration);
            render(t1 * 1e-6, &mut frame);
            pixels.advance(&self.camera, &frame, t0, t1, |t, pixel, on| push(t, pixel, on, &mut jitter_rng));
            t0 = t1;
        }
        let mut noise_rng = Rng::new(derive_seed(seed, STREAM_NOISE));
        shot_noise(frame.len(), config.camera.noise_hz, duration, &mut noise_rng, |t, pixel, on| {
            let t = t.round().min(duration) as u64 + config.offset_us;
            events.push(Event::new(t, (pixel % width) as u16, (pixel / width) as u16, on));
        });
        events.sort_unstable();
        events
    }
}

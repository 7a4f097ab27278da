//! The labelled classes and how a random scene of each is drawn.
//!
//! Classes come in time-reversal pairs (left/right, up/down, clockwise/counter-clockwise,
//! expand/contract). Playing a recording backwards while inverting its contrast gives the same
//! events per pixel and polarity, and every class draws bright-on-dark and dark-on-bright with
//! equal probability and symmetric start/end positions, so the two classes of a pair have the
//! same distribution of summed event-count images: only the order of events tells them apart.
//! The two grating classes differ in orientation only, which a summed count image of a
//! full-field drifting grating (near-uniform) does not show either.
//!
//! Lengths are fractions of the smaller sensor side `S`, so a class looks the same at 32x32 and
//! at 128x128.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use crate::rng::Rng;
use super::shape::Shape;
use super::{Content, Grating, Object, Pose};

/// A scene class, the label of a synthetic recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    BarLeft,
    BarRight,
    BarUp,
    BarDown,
    RotateCw,
    RotateCcw,
    Expand,
    Contract,
    GratingHorizontal,
    GratingVertical,
}

impl Class {
    pub const ALL: [Class; 10] = [
        Self::BarLeft,
        Self::BarRight,
        Self::BarUp,
        Self::BarDown,
        Self::RotateCw,
        Self::RotateCcw,
        Self::Expand,
        Self::Contract,
        Self::GratingHorizontal,
        Self::GratingVertical,
    ];

    /// The name used for folders and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::BarLeft => "bar_left",
            Self::BarRight => "bar_right",
            Self::BarUp => "bar_up",
            Self::BarDown => "bar_down",
            Self::RotateCw => "rotate_cw",
            Self::RotateCcw => "rotate_ccw",
            Self::Expand => "expand",
            Self::Contract => "contract",
            Self::GratingHorizontal => "grating_horizontal",
            Self::GratingVertical => "grating_vertical",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name.trim().to_ascii_lowercase().replace('-', "_"))
    }

    /// One line for `--list-classes`.
    pub fn description(self) -> &'static str {
        match self {
            Self::BarLeft => "a bar, roughly vertical, translating to the left",
            Self::BarRight => "a bar, roughly vertical, translating to the right",
            Self::BarUp => "a bar, roughly horizontal, translating up",
            Self::BarDown => "a bar, roughly horizontal, translating down",
            Self::RotateCw => "a bar, cross, triangle or square rotating clockwise (on screen, y down)",
            Self::RotateCcw => "a bar, cross, triangle or square rotating counter-clockwise",
            Self::Expand => "a disc or ring growing from its centre",
            Self::Contract => "a disc or ring shrinking towards its centre",
            Self::GratingHorizontal => "a full-field sinusoidal grating, stripes roughly horizontal, drifting up or down",
            Self::GratingVertical => "a full-field sinusoidal grating, stripes roughly vertical, drifting left or right",
        }
    }

    /// Draws the moving content of one recording. `(cx, cy)` is the sensor centre, `scale` the
    /// smaller sensor side in pixels, `duration` the recording length in seconds.
    pub(super) fn sample(self, cx: f64, cy: f64, scale: f64, duration: f64, rng: &mut Rng) -> Content {
        match self {
            Self::BarLeft => bar(-1.0, 0.0, cx, cy, scale, duration, rng),
            Self::BarRight => bar(1.0, 0.0, cx, cy, scale, duration, rng),
            Self::BarUp => bar(0.0, -1.0, cx, cy, scale, duration, rng),
            Self::BarDown => bar(0.0, 1.0, cx, cy, scale, duration, rng),
            Self::RotateCw => rotation(1.0, cx, cy, scale, rng),
            Self::RotateCcw => rotation(-1.0, cx, cy, scale, rng),
            Self::Expand => radial(1.0, cx, cy, scale, duration, rng),
            Self::Contract => radial(-1.0, cx, cy, scale, duration, rng),
            Self::GratingHorizontal => grating(FRAC_PI_2, scale, rng),
            Self::GratingVertical => grating(0.0, scale, rng),
        }
    }
}

/// Log contrast of an object against the background: 0.4–1.0, brighter or darker at random.
fn log_contrast(rng: &mut Rng) -> f64 {
    rng.sign() * rng.range(0.4, 1.0)
}

/// A point within ±`spread` `scale` of the sensor centre.
fn near_centre(cx: f64, cy: f64, scale: f64, spread: f64, rng: &mut Rng) -> (f64, f64) {
    (cx + rng.range(-spread, spread) * scale, cy + rng.range(-spread, spread) * scale)
}

/// A bar perpendicular to `(dx, dy)` (tilted up to ±12°), 0.6–1.0 S long, 0.06–0.16 S thick,
/// moving along `(dx, dy)` at 0.8–2.0 S/s. The path's midpoint, not its start, is drawn, so a
/// path and its reverse are equally likely in the two directions.
fn bar(dx: f64, dy: f64, cx: f64, cy: f64, scale: f64, duration: f64, rng: &mut Rng) -> Content {
    let shape = Shape::Bar { half_width: rng.range(0.03, 0.08) * scale };
    let half_length = rng.range(0.3, 0.5) * scale;
    let tilt = rng.range(-12f64, 12.0).to_radians();
    let speed = rng.range(0.8, 2.0) * scale;
    let (mx, my) = near_centre(cx, cy, scale, 0.15, rng);
    let travel = speed * duration;
    let angle = dy.atan2(dx) + tilt; // the bar's thin axis points along the motion
    Content::Object(Object {
        shape,
        log_contrast: log_contrast(rng),
        start: Pose { x: mx - dx * travel / 2.0, y: my - dy * travel / 2.0, angle, size: half_length },
        rate: Pose { x: dx * speed, y: dy * speed, angle: 0.0, size: 0.0 },
    })
}

/// A bar, cross, triangle or square of radius 0.25–0.4 S turning at 3–9 rad/s about its centre
/// (near the sensor centre) from a uniformly random angle. `sense` is +1 for clockwise on screen.
fn rotation(sense: f64, cx: f64, cy: f64, scale: f64, rng: &mut Rng) -> Content {
    let half_width = rng.range(0.04, 0.08) * scale;
    let shape = match rng.below(4) {
        0 => Shape::Bar { half_width },
        1 => Shape::Cross { half_width },
        2 => Shape::Triangle,
        _ => Shape::Square,
    };
    let size = rng.range(0.25, 0.4) * scale;
    let (x, y) = near_centre(cx, cy, scale, 0.12, rng);
    let angle = rng.range(0.0, TAU);
    let spin = sense * rng.range(3.0, 9.0);
    Content::Object(Object { shape, log_contrast: log_contrast(rng), start: Pose { x, y, angle, size }, rate: Pose { x: 0.0, y: 0.0, angle: spin, size: 0.0 } })
}

/// A disc or ring whose radius changes at 0.6–1.2 S/s around a mid radius of 0.18–0.3 S.
/// `sense` is +1 for growing.
fn radial(sense: f64, cx: f64, cy: f64, scale: f64, duration: f64, rng: &mut Rng) -> Content {
    let shape = if rng.chance(0.5) { Shape::Disc } else { Shape::Ring { half_width: rng.range(0.03, 0.06) * scale } };
    let middle = rng.range(0.18, 0.3) * scale;
    let speed = rng.range(0.6, 1.2) * scale;
    let (x, y) = near_centre(cx, cy, scale, 0.12, rng);
    let start = middle - sense * speed * duration / 2.0;
    Content::Object(Object {
        shape,
        log_contrast: log_contrast(rng),
        start: Pose { x, y, angle: 0.0, size: start },
        rate: Pose { x: 0.0, y: 0.0, angle: 0.0, size: sense * speed },
    })
}

/// A sinusoidal log-intensity grating whose stripes run at `orientation` (0 = vertical stripes,
/// π/2 = horizontal) ±15°, period 0.2–0.35 S, drifting across the stripes either way at 2–5
/// cycles/s, log amplitude 0.25–0.45.
fn grating(orientation: f64, scale: f64, rng: &mut Rng) -> Content {
    let wave_angle = orientation + rng.range(-15f64, 15.0).to_radians() + if rng.chance(0.5) { 0.0 } else { PI };
    let period = (rng.range(0.2, 0.35) * scale).max(4.0);
    let k = TAU / period;
    Content::Grating(Grating::new(k * wave_angle.cos(), k * wave_angle.sin(), TAU * rng.range(2.0, 5.0), rng.range(0.0, TAU), rng.range(0.25, 0.45)))
}

//! Accumulating events into count frames: each event adds 1 at `[frame, channel, y, x]`.
//! SpikingJelly and tonic both count (they do not clip to 0/1); channel 0 is OFF, 1 is ON.

use std::ops::Range;

use super::{FrameError, Frames};
use crate::events::{Event, Resolution};

/// How polarity maps to channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Two channels: 0 = OFF, 1 = ON (SpikingJelly, tonic with P = 2).
    Split,
    /// One channel counting both polarities.
    Merged,
    /// One channel, and an error if both polarities occur (tonic with P = 1).
    Single,
}

impl Polarity {
    pub fn channels(self) -> usize {
        match self {
            Polarity::Split => 2,
            Polarity::Merged | Polarity::Single => 1,
        }
    }
}

/// Bins `events[range]` into one frame per range. Events outside `sensor` are an error that
/// names the event.
pub fn bin_slices(events: &[Event], ranges: &[Range<usize>], sensor: Resolution, polarity: Polarity) -> Result<Frames, FrameError> {
    let (w, h) = (usize::from(sensor.width), usize::from(sensor.height));
    if polarity == Polarity::Single && events.iter().any(|e| e.p) && events.iter().any(|e| !e.p) {
        return Err(FrameError::TwoPolarities);
    }
    if w == 0 || h == 0 {
        return Err(FrameError::EmptySensor { width: w, height: h });
    }
    let mut frames = Frames::try_zeros(ranges.len(), polarity.channels(), h, w, || format!("{} frames of the {w}x{h} sensor", ranges.len()))?;
    for (i, range) in ranges.iter().enumerate() {
        accumulate(&events[range.clone()], range.start, frames.frame_mut(i), sensor, polarity)?;
    }
    Ok(frames)
}

/// Adds the counts of `events` (whose first index in the recording is `first_index`, for
/// messages) to one `[channels, h, w]` frame.
pub fn accumulate(events: &[Event], first_index: usize, frame: &mut [f32], sensor: Resolution, polarity: Polarity) -> Result<(), FrameError> {
    let (w, h) = (usize::from(sensor.width), usize::from(sensor.height));
    let plane = w * h;
    let on_offset = if polarity == Polarity::Split { plane } else { 0 };
    assert_eq!(frame.len(), plane * polarity.channels(), "frame buffer does not match the sensor");
    for (k, e) in events.iter().enumerate() {
        let (x, y) = (usize::from(e.x), usize::from(e.y));
        if x >= w || y >= h {
            return Err(FrameError::OutsideSensor { index: first_index + k, event: *e, width: w, height: h });
        }
        let index = if e.p { on_offset } else { 0 } + y * w + x;
        frame[index] += 1.0;
    }
    Ok(())
}

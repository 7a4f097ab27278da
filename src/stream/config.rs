//! [`StreamConfig`]: everything the streaming pipeline needs besides the source and the
//! backend, with the defaults for a model.

use std::path::PathBuf;
use std::time::Duration;

use super::lanes::lane_count;
use super::queue::Overload;
use super::resync::JumpBound;
use crate::events::Resolution;
use crate::frames::bin::Polarity;
use crate::frames::incremental::Close;
use crate::model::meta::Decode;

/// Everything the pipeline needs besides the source and the backend.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub close: Close,
    /// Wall-clock time without events after which the framer advances its clock.
    pub idle: Duration,
    pub overload: Overload,
    /// Frame queue capacity.
    pub queue: usize,
    /// A prediction every `hop` frames (⌈T/hop⌉ lanes).
    pub hop: usize,
    pub timesteps: usize,
    pub classes: usize,
    pub decode: Decode,
    /// The model's per-step input `[C, H, W]`.
    pub input: [usize; 3],
    /// `--sensor`: overrides what the stream says.
    pub sensor: Option<Resolution>,
    /// The model framing's sensor, used when the stream says nothing.
    pub fallback_sensor: Option<Resolution>,
    /// `(H, W)` to resize frames to (the model framing's `resize`).
    pub resize: Option<(usize, usize)>,
    pub polarity: Polarity,
    /// `--record`: every event received, as AEDAT4.
    pub record: Option<PathBuf>,
    /// `--stats`: a [`Snapshot`] this often.
    pub stats_every: Option<Duration>,
    /// How long one source poll may wait (bounds the reaction to the stop flag).
    pub poll: Duration,
    /// Event-time jumps beyond this are clock glitches: the stream resynchronises.
    pub jumps: JumpBound,
    /// Copies of the sensor and every event batch for consumers that must not slow the stream
    /// (`--render`, `--forward`).
    pub taps: Vec<super::tap::Tap>,
}

impl StreamConfig {
    /// Defaults for a model with `timesteps`, `classes` and per-step `input`.
    pub fn new(close: Close, timesteps: usize, classes: usize, input: [usize; 3]) -> Self {
        Self {
            close,
            idle: Duration::from_millis(100),
            overload: Overload::Block,
            queue: 8,
            hop: timesteps,
            timesteps,
            classes,
            decode: Decode::Mean,
            input,
            sensor: None,
            fallback_sensor: None,
            resize: None,
            polarity: Polarity::Split,
            record: None,
            stats_every: None,
            poll: Duration::from_millis(20),
            jumps: JumpBound::default(),
            taps: Vec::new(),
        }
    }

    pub fn lanes(&self) -> usize {
        lane_count(self.timesteps, self.hop)
    }
}

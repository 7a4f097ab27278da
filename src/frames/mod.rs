//! Events to tensors exactly as the training code did.
//!
//! Owns slicing a recording into frames ([`slicing`]: SpikingJelly's `split_by='number'|'time'`
//! and fixed-duration semantics of both versions, tonic's four `ToFrame` modes), accumulating
//! event counts into `[T, P, H, W]` f32 tensors ([`bin`]), torchvision's anti-aliased bilinear
//! resize ([`resize`]), training crops and flips ([`augment`]), the SpikFormer DVS policy
//! ([`spikformer`]), the incremental framer for streams ([`incremental`]), framing a file
//! batch by batch from the streaming reader ([`streamed`]) and pictures of frames
//! ([`picture`]). It does not decode bytes.

pub mod augment;
pub mod bin;
pub mod framing;
pub mod gpu_binning;
pub mod image;
pub mod incremental;
pub mod npy;
pub mod picture;
pub mod randaugment;
pub mod resize;
pub mod slicing;
pub mod spikformer;
pub mod timeline;
pub mod streamed;

pub use bin::{Polarity, bin_slices};
pub use slicing::{Slicing, slice};

use crate::events::Event;

/// A stack of frames, row-major `[frames, channels, height, width]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Frames {
    pub frames: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Frames {
    pub fn zeros(frames: usize, channels: usize, height: usize, width: usize) -> Self {
        Self { frames, channels, height, width, data: vec![0.0; frames * channels * height * width] }
    }

    /// Zeros of a shape that comes from outside (a header's sensor size, a frame count, a
    /// resize): refused by [`crate::limits::tensor`] when too large. `what` names the source.
    pub fn try_zeros(frames: usize, channels: usize, height: usize, width: usize, what: impl FnOnce() -> String) -> Result<Self, FrameError> {
        let len = crate::limits::tensor(what, &[frames, channels, height, width], 4)?;
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| FrameError::OutOfMemory { bytes: len as u64 * 4 })?;
        data.resize(len, 0.0);
        Ok(Self { frames, channels, height, width, data })
    }

    pub fn shape(&self) -> [usize; 4] {
        [self.frames, self.channels, self.height, self.width]
    }

    /// Values of one frame, `[channels, height, width]`.
    pub fn frame(&self, i: usize) -> &[f32] {
        let n = self.channels * self.height * self.width;
        &self.data[i * n..(i + 1) * n]
    }

    pub fn frame_mut(&mut self, i: usize) -> &mut [f32] {
        let n = self.channels * self.height * self.width;
        &mut self.data[i * n..(i + 1) * n]
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FrameError {
    #[error("event {index} (t={}, x={}, y={}) lies outside the {width}x{height} sensor; pass the right sensor size", event.t, event.x, event.y)]
    OutsideSensor { index: usize, event: Event, width: usize, height: usize },
    #[error("time bin {bin} of {bins} ([{t_from}, {t_to}) µs) has no event; SpikingJelly's split_by='time' fails here too (IndexError). Use split_by number, fewer frames, or a longer recording")]
    EmptyTimeBin { bin: usize, bins: usize, t_from: u64, t_to: u64 },
    #[error("cannot slice {what}: {reason}")]
    BadSlicing { what: &'static str, reason: String },
    #[error("events are not sorted by time (event {index} at t={t} follows t={previous}); time slicing needs sorted events")]
    Unsorted { index: usize, t: u64, previous: u64 },
    #[error("one polarity channel was asked for, but the events have both polarities (tonic refuses this too)")]
    TwoPolarities,
    #[error("the sensor size is {width}x{height}; a sensor needs at least one pixel (pass the right one with --sensor WxH)")]
    EmptySensor { width: usize, height: usize },
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error("the system refused {bytes} bytes for the frames")]
    OutOfMemory { bytes: u64 },
}

//! Inputs to samples: a recording framed as the model's `framing` metadata says, or frames
//! `[T, C, H, W]` / `[T, B, C, H, W]` (an `.npy` file or an array), each split into samples of
//! `[T, C, H, W]` checked against the model. Needs no backend, so it can run on many threads.

use std::path::Path;

use crate::events::Recording;
use crate::events::file::ReadOptions;
use crate::frames::framing::{Framing, FramingError};
use crate::frames::npy;

use super::SessionError;

/// One sample's frames, `[T, C, H, W]`.
pub type Sample = Vec<f32>;

/// Turns inputs into samples for one model (its framing, per-step input and timesteps).
#[derive(Clone, Debug)]
pub struct Loader {
    pub framing: Framing,
    /// Per-step input `[C, H, W]`.
    pub input: [usize; 3],
    pub timesteps: usize,
}

impl Loader {
    /// A recording (as [`crate::events::read_file`] returns it), framed: one sample.
    pub fn recording(&self, recording: &Recording) -> Result<Sample, SessionError> {
        let frames = self.framing.frames(recording, self.input)?;
        self.check_framed(frames.frames)?;
        Ok(frames.data)
    }

    /// Frames of `shape` `[T, C, H, W]` (one sample) or `[T, B, C, H, W]` (B samples).
    pub fn frames(&self, shape: &[usize], data: &[f32]) -> Result<Vec<Sample>, SessionError> {
        let [c, h, w] = self.input;
        let per = c * h * w;
        let (steps, batch) = match shape[..] {
            [st, cc, hh, ww] if [cc, hh, ww] == self.input => (st, 1),
            [st, b, cc, hh, ww] if [cc, hh, ww] == self.input => (st, b),
            _ => return Err(SessionError::Shape { got: shape.to_vec(), want: self.input }),
        };
        if steps != self.timesteps {
            return Err(SessionError::Steps { got: steps, timesteps: self.timesteps });
        }
        if data.len() != steps * batch * per {
            return Err(SessionError::Engine(crate::engine::EngineError::InputSize { what: format!("frames of shape {shape:?}"), expected: steps * batch * per, got: data.len() }));
        }
        let t = self.timesteps;
        Ok((0..batch).map(|b| (0..t).flat_map(|s| data[(s * batch + b) * per..(s * batch + b + 1) * per].iter().copied()).collect()).collect())
    }

    /// The samples of one file: an `.npy` array of frames, or an event recording framed (read
    /// batch by batch where the framing allows, so memory stays the frames plus one batch).
    /// Errors name the file.
    pub fn file(&self, path: &Path, options: ReadOptions) -> Result<Vec<Sample>, SessionError> {
        let named = |e: SessionError| SessionError::Input { path: path.to_path_buf(), source: Box::new(e) };
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
            let bytes = std::fs::read(path).map_err(|e| named(e.into()))?;
            let a = npy::read(&bytes).map_err(|e| named(e.into()))?;
            return self.frames(&a.shape, &a.data).map_err(named);
        }
        let frames = self.framing.frames_from_file(path, options, self.input).map_err(|e| match e {
            // A read error names the file and offset itself.
            FramingError::Read(e) => SessionError::Read(e),
            e => named(e.into()),
        })?;
        self.check_framed(frames.frames).map_err(named)?;
        Ok(vec![frames.data])
    }

    fn check_framed(&self, frames: usize) -> Result<(), SessionError> {
        if frames != self.timesteps {
            return Err(SessionError::FramingSteps { got: frames, timesteps: self.timesteps });
        }
        Ok(())
    }
}

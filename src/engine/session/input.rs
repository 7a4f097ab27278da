//! Inputs to samples: a recording framed as the model's `framing` metadata says, or frames
//! `[T, C, H, W]` / `[T, B, C, H, W]` (an `.npy` file or an array), each split into samples of
//! `[T, C, H, W]` checked against the model. For a static model: a PNG or JPEG image normalised
//! as the model's `mean` and `std` say, or `.npy` float arrays `[N, C, H, W]` / `[C, H, W]` of
//! values in `[0, 1]` (what torchvision's `ToTensor` gives), normalised the same way; each image
//! is one sample `[C, H, W]`. An input of the other kind is an error naming the file and the model's
//! input. Needs no backend, so it can run on many threads.

use std::path::Path;

use crate::events::Recording;
use crate::events::file::ReadOptions;
use crate::frames::framing::{Framing, FramingError};
use crate::frames::image::{self, Image};
use crate::frames::npy;
use crate::model::InputKind;

use super::SessionError;

/// One sample: its frames `[T, C, H, W]`, or for a static model one image `[C, H, W]`.
pub type Sample = Vec<f32>;

/// Turns inputs into samples for one model (its framing, per-step input and timesteps).
#[derive(Clone, Debug)]
pub struct Loader {
    pub framing: Framing,
    /// Per-step input `[C, H, W]`.
    pub input: [usize; 3],
    pub timesteps: usize,
    /// Event frames or static images.
    pub kind: InputKind,
}

impl Loader {
    /// A recording (as [`crate::events::read_file`] returns it), framed: one sample.
    pub fn recording(&self, recording: &Recording) -> Result<Sample, SessionError> {
        let frames = self.framing.frames(recording, self.input)?;
        self.check_framed(frames.frames)?;
        Ok(frames.data)
    }

    /// Frames of `shape` `[T, C, H, W]` (one sample) or `[T, B, C, H, W]` (B samples); for a
    /// static model, images `[C, H, W]` or `[N, C, H, W]` with values in `[0, 1]`, normalised.
    pub fn frames(&self, shape: &[usize], data: &[f32]) -> Result<Vec<Sample>, SessionError> {
        let [c, h, w] = self.input;
        let per = c * h * w;
        if let InputKind::Static { mean, std } = &self.kind {
            let n = match shape[..] {
                [cc, hh, ww] if [cc, hh, ww] == self.input => 1,
                [n, cc, hh, ww] if [cc, hh, ww] == self.input => n,
                _ => return Err(SessionError::ImageShape { what: "an array".into(), got: shape.to_vec(), want: self.input }),
            };
            if data.len() != n * per {
                return Err(SessionError::Engine(crate::engine::EngineError::InputSize { what: format!("images of shape {shape:?}"), expected: n * per, got: data.len() }));
            }
            return Ok(data.chunks_exact(per).map(|x| image::normalise(x, h * w, mean, std)).collect());
        }
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
        if self.kind.is_static() {
            return self.static_file(path).map_err(named);
        }
        // Only a regular file is sniffed: a pipe can be read once, by the event reader.
        if path.is_file() {
            let mut head = [0u8; 8];
            let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).map_err(|e| named(e.into()))?;
            if let Some(format) = image::sniff(&head[..n]) {
                let input = self.kind.input_text(self.input);
                return Err(named(SessionError::InputKind { what: format!("a {format} image"), input: format!("event frames {input}"), hint: " (give it event recordings or .npy frames [T, C, H, W])" }));
            }
        }
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

    /// One image normalised for the model (its shape checked; nothing is resized).
    pub fn image(&self, image: &Image) -> Result<Sample, SessionError> {
        let InputKind::Static { mean, std } = &self.kind else {
            let input = self.kind.input_text(self.input);
            return Err(SessionError::InputKind { what: "an image".into(), input: format!("event frames {input}"), hint: "" });
        };
        if image.shape() != self.input {
            let what = if image.channels == self.input[0] { "an image".to_string() } else { format!("a {}-channel image", image.channels) };
            return Err(SessionError::ImageShape { what, got: image.shape().to_vec(), want: self.input });
        }
        Ok(image.normalised(mean, std))
    }

    /// A static model's file: a PNG or JPEG image, or an `.npy` array (by content).
    fn static_file(&self, path: &Path) -> Result<Vec<Sample>, SessionError> {
        let bytes = std::fs::read(path)?;
        if image::sniff(&bytes).is_some() {
            let decoded = image::decode(&bytes).map_err(SessionError::ImageDecode)?;
            return Ok(vec![self.image(&decoded)?]);
        }
        if bytes.starts_with(b"\x93NUMPY") {
            let a = npy::read(&bytes)?;
            return self.frames(&a.shape, &a.data);
        }
        Err(SessionError::InputKind {
            what: "not a PNG, JPEG or .npy image array (an event recording?)".into(),
            input: self.kind.input_text(self.input),
            hint: " (a static model takes images; an event model takes recordings)",
        })
    }

    fn check_framed(&self, frames: usize) -> Result<(), SessionError> {
        if frames != self.timesteps {
            return Err(SessionError::FramingSteps { got: frames, timesteps: self.timesteps });
        }
        Ok(())
    }
}

//! What can go wrong opening or running a [`super::Session`]; every message names the file,
//! option or sample it is about.

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::frames::framing::FramingError;
use crate::frames::npy::NpyError;
use crate::gpu::GpuError;
use crate::limits::LimitError;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot load the model")]
    Model(#[source] ModelError),
    /// The model's framing metadata (the file is named).
    #[error("{file}")]
    Framing { file: String, #[source] source: FramingError },
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("--adapter names a GPU adapter; it cannot be combined with --backend cpu")]
    AdapterOnCpu,
    /// `--precision bf16|f16` with `--backend gpu` or `--adapter`: reduced precision is CPU-only.
    #[error("--precision {0} runs on the CPU backend only (the GPU backend computes in f32); use --backend cpu, or --precision f32 on the GPU")]
    PrecisionOnGpu(&'static str),
    #[error(transparent)]
    Precision(#[from] crate::engine::cpu::PrecisionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A logit overflowed; the hint names the largest weight of the model.
    #[error("{source}{hint}")]
    NonFinite { source: EngineError, hint: String },
    /// Reading or framing one input file.
    #[error("{}", path.display())]
    Input { path: PathBuf, #[source] source: Box<SessionError> },
    #[error(transparent)]
    Read(#[from] crate::events::ReadError),
    #[error(transparent)]
    Frames(#[from] FramingError),
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("frames of shape {got:?}; [T, {c}, {h}, {w}] or [T, B, {c}, {h}, {w}] expected", c = want[0], h = want[1], w = want[2])]
    Shape { got: Vec<usize>, want: [usize; 3] },
    #[error("{got} frames but the model runs {timesteps} timesteps")]
    Steps { got: usize, timesteps: usize },
    #[error("framing gives {got} frames but the model runs {timesteps} timesteps")]
    FramingSteps { got: usize, timesteps: usize },
    #[error(transparent)]
    Image(#[from] crate::frames::image::ImageError),
    /// A PNG or JPEG that cannot be decoded (inside [`SessionError::Input`], which names the file).
    #[error("{0}")]
    ImageDecode(String),
    /// An input of the other kind than the model's (an image for an event model, events or
    /// frames for a static one); `input` is the model's input as its metadata says.
    #[error("{what}, but the model's input is {input}{hint}")]
    InputKind { what: String, input: String, hint: &'static str },
    /// A static image or array whose shape is not the model's.
    #[error("{what} of shape {got:?}, but the model's input is static {c}x{h}x{w} (images are not resized)", c = want[0], h = want[1], w = want[2])]
    ImageShape { what: String, got: Vec<usize>, want: [usize; 3] },
}

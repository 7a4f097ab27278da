//! spikestream: event-camera recordings and live streams in, spiking-network decisions out.
//!
//! The library is organised by concept, following the data flow
//! `source → decoder → framer → engine → sink`:
//! - [`events`] owns the [`events::Event`] type, one sans-IO decoder per recorded format,
//!   format detection, the file and socket drivers and the writers.
//! - [`sim`] is a synthetic event camera: labelled recordings of procedural scenes.
//! - [`gpu`] is the wgpu device layer (adapter choice, kernels, buffers) the engine, GPU
//!   binning and the trainer share.
//! - [`rng`] is the crate's seeded random generator (simulator, model synthesis, augmentation,
//!   training order), hand-written so a seed means the same numbers whatever the dependencies.
//! - [`limits`] checks every size that comes from a file, a model or the command line before
//!   anything is allocated from it.
//! - [`plot`] draws the charts (confusion matrix, accuracy per timestep, spike rates, training
//!   curves) as PNG with an embedded font.
//! - [`render`] draws recordings as video frames (decays, palettes, a bitmap font) and writes
//!   GIF, PNG, Y4M or MP4.
//! - [`output`] writes every output file through a temporary and a rename, and cleans up on
//!   signals, so no command loses an existing file.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments and prints.
//!
//! # Use from Rust
//!
//! The crate root re-exports what most programs need: reading events ([`read_file`],
//! [`EventReader`]), framing them ([`Framing`]) and classifying them with a [`Session`], which
//! owns a model, its framing and a backend (`auto` picks a hardware GPU, else the CPU):
//!
//! ```
//! use spikestream::{Decode, ReadOptions, Session, SessionOptions, read_file};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo");
//! let options = SessionOptions { backend: spikestream::BackendChoice::Cpu, decode: Some(Decode::PerStep), top_k: 3, ..Default::default() };
//! let mut session = Session::open(dir.join("sim10_vgg48_legacy.safetensors"), options)?;
//! let recording = read_file(&dir.join("samples/expand/0080.aedat4"), ReadOptions::default())?;
//! let result = session.classify(&recording)?;
//! assert_eq!(result.logits.len(), session.timesteps()); // per-step logits [T][K]
//! assert_eq!(result.prediction.top_k.len(), 3);
//! println!("{} ({:.3})", result.prediction.class, result.prediction.score);
//! # Ok(()) }
//! ```
//!
//! [`Session::step`] takes one frame at a time and returns a [`Prediction`] whenever a window of
//! T frames completes; [`Session::classify_frames`] takes `[T, 2, H, W]` or `[T, B, 2, H, W]`
//! frames. `examples/classify.rs` and `examples/stream_tcp.rs` are complete programs.

pub mod events;
pub mod sim;
pub mod engine;
pub mod frames;
pub mod gpu;
pub mod limits;
pub mod model;
pub mod nir;
pub mod stream;
pub mod output;
pub mod plot;
pub mod render;
pub mod rng;
#[cfg(feature = "train")]
pub mod train;

pub use engine::session::{BackendChoice, Classification, Prediction, Ranked, Session, SessionError, SessionOptions};
pub use events::file::ReadOptions;
pub use events::{Event, EventReader, ReadError, Recording, Resolution, read_file};
pub use frames::Frames;
pub use frames::framing::Framing;
pub use model::Model;
pub use model::meta::Decode;

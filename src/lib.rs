//! spikestream: event-camera recordings and live streams in, spiking-network decisions out.
//!
//! The library is organised by concept, following the data flow
//! `source → decoder → framer → engine → sink`:
//! - [`events`] owns the [`events::Event`] type, one sans-IO decoder per recorded format,
//!   format detection, the file and socket drivers and the writers.
//! - [`sim`] is a synthetic event camera: labelled recordings of procedural scenes.
//! - [`gpu`] is the wgpu device layer (adapter choice, kernels, buffers) the engine, GPU
//!   binning and the trainer share.
//! - [`limits`] checks every size that comes from a file, a model or the command line before
//!   anything is allocated from it.
//! - [`output`] writes every output file through a temporary and a rename, and cleans up on
//!   signals, so no command loses an existing file.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments and prints.

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
#[cfg(feature = "train")]
pub mod train;

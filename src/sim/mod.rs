//! A synthetic event camera: labelled recordings of procedural scenes, for tests, the demo model
//! and stream replay.
//!
//! The pipeline, one module per stage: [`scene`] draws a random scene of a [`Class`] and renders
//! its brightness at any time (analytic sub-pixel anti-aliasing); [`camera`] turns the frames,
//! rendered every `step_us`, into events like a DVS pixel (log intensity, reference level,
//! mismatched ON/OFF thresholds, interpolated timestamps, refractory period); [`noise`] adds
//! shot noise; [`Simulator::record`] puts them together with timestamp jitter. [`dataset`]
//! plans and writes labelled AEDAT4 datasets in parallel. [`still`] films still images under
//! three saccades, as N-MNIST was recorded (`simulate --from-images`). Everything random comes
//! from the crate's hand-written generator ([`crate::rng`]), so a seed gives the same events
//! whatever the dependency versions.
//!
//! This module writes events; it does not read them, frame them or train on them.

pub mod camera;
pub mod dataset;
mod error;
pub mod noise;
pub mod scene;
mod simulator;
pub mod still;

pub use camera::{Camera, CameraParams};
pub use error::SimError;
pub use scene::{Class, Scene};
pub use simulator::{SimConfig, Simulator};

//! Live streaming: event sources in, a prediction every few frames out, as they arrive.
//!
//! Owns the live sources ([`source`]: DV network stream with reconnection, real-time replay of a
//! recording, stdin, UDP datagrams as faery sends them ([`udp`]), USB cameras behind the
//! `camera` feature), the threaded pipeline
//! ([`pipeline`]: source → framer → engine → output, joined by bounded `crossbeam-channel`
//! queues, with an overload policy and `--record`; configured by [`config`], its stages share
//! [`stage`]), the lanes that let a model trained on T frames predict every K frames
//! ([`lanes`]), and the latency and rate accounting ([`stats`]).
//! It decodes no format itself (the [`crate::events`] decoders do) and bins through
//! [`crate::frames::incremental`].

pub mod config;
pub mod lanes;
pub mod pipeline;
pub mod queue;
pub mod source;
pub mod stage;
pub mod stats;
pub mod tap;

mod dv;
mod engine_thread;
mod framer;
mod record;
mod source_thread;
pub mod resync;
mod replay;
mod stdin;
pub mod udp;
#[cfg(feature = "camera")]
pub mod camera;

pub use lanes::{Lanes, LanePrediction};
pub use config::StreamConfig;
pub use pipeline::run;
pub use stage::{Output, StreamPrediction};
pub use queue::Overload;
pub use source::{Source, SourceSpec, Status};
pub use stats::{Snapshot, Summary};

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::events::io::socket::StreamError as SocketError;
use crate::events::{DecodeError, Resolution};
use crate::frames::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("{what}: {source}")]
    Decode { what: String, source: DecodeError },
    #[error("{0}")]
    Format(String),
    #[error("the stream gives no sensor size and the model's framing names none; pass --sensor WxH")]
    NoSensor,
    #[error("the stream's sensor changed from {before} to {after} after reconnecting; restart the stream")]
    SensorChanged { before: Resolution, after: Resolution },
    #[error("frames are {got:?} but the model takes {want:?} per timestep; set the model's framing 'resize' (e.g. --framing '{{\"resize\":\"{}x{}\"}}') or check --sensor", want[1], want[2])]
    Shape { got: [usize; 3], want: [usize; 3] },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("recording to {path}: {source}")]
    Record { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("a pipeline thread panicked: {0}")]
    Panic(String),
    #[error("{0}")]
    Camera(String),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("{0}; the connection did not recover before the stream ended")]
    Lost(String),
}

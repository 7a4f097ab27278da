//! Pictures of a recording as it happens: video frames at a chosen rate where each pixel shows
//! its latest event faded by its age, as faery, Metavision and DV viewers draw them.
//!
//! - [`canvas`] holds each pixel's latest event and paints a frame at a render time with a
//!   [`Decay`] into palette indices (one byte a pixel, upscaled by an integer factor), through
//!   a [`fade`] table (a decay's exact level at every age, without an `exp` a pixel);
//! - [`palette`] turns indices into colours (grey background, ON light, OFF dark by default,
//!   or one of faery's scientific [`colormaps`]);
//! - [`text`] draws labels with an embedded 8×8 bitmap font (no system font);
//! - [`video`] writes the frames: GIF (its own fast [`lzw`] compression, [`lzw_streams`] for busy frames) and PNG through their crates, Y4M by hand (no codec),
//!   MP4 by piping raw frames to `ffmpeg` when it is on the PATH, both as [`yuv`] planes;
//! - [`schedule`] walks a recording (read batch by batch, bounded memory) and cuts it into
//!   frames of a fixed period.
//!
//! [`overlay`] draws a model's per-step decisions (computed by the caller with a
//! [`crate::Session`]) on the frames. It does not decode bytes ([`crate::events`]) or classify.

pub mod canvas;
pub mod colormaps;
pub mod fade;
pub mod live_thread;
pub mod lzw;
pub mod lzw_streams;
pub mod overlay;
pub mod palette;
pub mod schedule;
pub mod text;
pub mod video;
pub mod yuv;

pub use canvas::{Canvas, Decay};
pub use palette::Palette;
pub use schedule::{Live, RenderOptions, RenderStats, render_file};
pub use video::{Mp4Preset, VideoFormat, VideoWriter};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("event {index} (t={t}, x={x}, y={y}) lies outside the {width}x{height} sensor; pass the right sensor size with --sensor WxH")]
    OutsideSensor { index: u64, t: u64, x: u16, y: u16, width: u16, height: u16 },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error(transparent)]
    Read(#[from] crate::events::ReadError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("{path}: {what}: {error}")]
    Io { path: std::path::PathBuf, what: &'static str, error: std::io::Error },
    #[error("{0}")]
    Encoder(String),
}

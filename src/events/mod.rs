//! Events and everything that turns event-camera bytes into them.
//!
//! Owns the one [`Event`] type of the crate and, by role:
//! - the sans-IO side: the [`Decoder`] trait ([`decoder`]), the [`Format`] list ([`format`]),
//!   one decoder per recorded format in [`formats`] (each a state machine over `&[u8]` chunks
//!   that keeps its state between chunks), the table from a format to its decoder
//!   ([`registry`]) and detection from content ([`detect`]);
//! - the drivers in [`io`]: whole files ([`read_file`], memory-mapped), files in batches
//!   ([`EventReader`]), the DV network client (TCP / Unix socket) and opening inputs that may be
//!   pipes;
//! - the writers in [`write`] (CSV, NPY; AEDAT4 is written by [`formats::aedat4`]).
//!
//! It knows nothing about frames or models.

pub mod decoder;
pub mod detect;
pub mod error;
pub mod format;
pub mod formats;
pub mod io;
pub mod recording;
pub mod registry;
pub mod stats;
pub mod write;

pub use decoder::{Decoder, DecoderOptions};
pub use detect::{DETECT_BYTES, DetectError, Detecting, detect};
pub use error::{DecodeError, ReadError};
pub use format::{Aedat2Layout, Format};
pub use formats::{Aedat2Decoder, Aedat31Decoder, Aedat4Decoder, AtisDecoder, DatDecoder, Evt2Decoder, Evt3Decoder};
pub use io::file::{ReadOptions, read_bytes, read_file};
pub use io::reader::EventReader;
pub use recording::Recording;
pub use registry::new_decoder;
pub use stats::EventStats;
// The module paths from before `formats/` and `io/` existed, for code written against them.
pub use formats::aedat4;
pub use io::{file, input, reader, socket};

/// One event: a brightness change at pixel (`x`, `y`) at time `t`.
///
/// `t` is in microseconds, in the time base of the recording (absolute Unix time for DV/AEDAT4,
/// sensor time since start for most other formats). `p` is the polarity: `true` for ON (brighter),
/// `false` for OFF. Coordinates are raw sensor coordinates as the format stores them; axis flips
/// and transposes some datasets apply are explicit transforms elsewhere, never done here.
///
/// The layout (`t` at 0, `x` at 8, `y` at 10, `p` at 12, 16 bytes) equals the AEDAT4 on-disk
/// event struct, which keeps the AEDAT4 decoder a tight copy loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C)]
pub struct Event {
    pub t: u64,
    pub x: u16,
    pub y: u16,
    pub p: bool,
}

impl Event {
    pub const fn new(t: u64, x: u16, y: u16, p: bool) -> Self {
        Self { t, x, y, p }
    }
}

/// Sensor size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Resolution {
    pub width: u16,
    pub height: u16,
}

impl Resolution {
    pub const fn new(width: u16, height: u16) -> Self {
        Self { width, height }
    }

    /// Parses `WxH` (for example `640x480`).
    pub fn parse(text: &str) -> Option<Self> {
        let (w, h) = text.trim().split_once(['x', 'X'])?;
        let (width, height) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
        (width > 0 && height > 0).then_some(Self { width, height })
    }

    pub fn contains(&self, event: &Event) -> bool {
        event.x < self.width && event.y < self.height
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// An external trigger (Prophesee EXT_TRIGGER, DV trigger stream): a signal edge on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Trigger {
    pub t: u64,
    pub channel: u8,
    pub rising: bool,
}

//! Events and everything that turns event-camera bytes into them.
//!
//! Owns the one [`Event`] type of the crate, the sans-IO decoders (one module per format, each a
//! state machine over `&[u8]` chunks that keeps its state between chunks), format detection, the
//! file drivers (memory-mapped: whole in `file`, in batches in `reader`) and the DV network
//! driver (TCP / Unix socket), and the writers (AEDAT4, CSV, NPY). It knows nothing about frames
//! or models.

pub mod aedat2;
pub mod aedat31;
pub mod aedat4;
pub mod atis;
mod carry;
pub mod decoder;
pub mod detect;
pub mod error;
pub mod file;
pub mod input;
mod header;
mod records;
pub mod prophesee;
pub mod reader;
pub mod socket;
pub mod stats;
pub mod write;

pub use decoder::{Decoder, DecoderOptions, Format, new_decoder};
pub use error::{DecodeError, ReadError};
pub use file::{Recording, read_bytes, read_file};
pub use reader::EventReader;

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

//! AEDAT 4.0: DV / dv-processing files and the DV network stream.
//!
//! File: `#!AER-DAT4.0\r\n`, `u32` IOHeader length, IOHeader flatbuffer, then packets
//! (`i32 stream id`, `i32 size`, payload) up to the FileDataTable. The network stream is the same
//! without the version line and the table. Payloads are compressed per the IOHeader and hold a
//! size-prefixed flatbuffer; event packets (`EVTS`) are vectors of 16-byte structs
//! `{i64 t, i16 x, i16 y, bool p}`; a compressed event packet over 8 MiB is decoded a slice at a
//! time (`sliced.rs`), so its size does not set the memory. Trigger packets (`TRIG`) become
//! [`crate::events::Trigger`]s; frames, IMU samples and unknown stream types are skipped.
//!
//! Written here rather than with the `aedat` crate, which parses the IOHeader unchecked (UB on
//! malformed input), refuses files with stream types it does not know, allocates per packet and
//! has no socket timeouts; it stays a dev-dependency, as the test oracle.

mod compression;
mod decoder;
pub mod flatbuf;
mod ioheader;
mod packet;
mod parallel;
mod sliced;
mod writer;

pub use compression::Compression;
pub use decoder::Aedat4Decoder;
pub use ioheader::{IoHeader, StreamInfo, streams_xml};
pub use packet::DV_TRIGGER_TYPES;
pub use parallel::{Parallelism, set_parallelism};
pub use writer::{Aedat4Writer, WriterOptions};

/// The version line that starts every AEDAT 4.0 file.
pub const VERSION_LINE: &[u8; 14] = b"#!AER-DAT4.0\r\n";

/// Size of one event in an `EVTS` packet.
pub const EVENT_BYTES: usize = 16;

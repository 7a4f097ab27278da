//! Orchard's ATIS `.bin` format (N-MNIST, N-Caltech101): no header, 5 bytes per event:
//! byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity (1 = ON), timestamp (µs, 23 bits) =
//! `(byte2 & 0x7F) << 16 | byte3 << 8 | byte4`.
//!
//! Records with y == 240 are timestamp-overflow markers: like tonic (`read_mnist_file`, after
//! gorchard's event-Python) every later timestamp gains 2^13 µs and the marker is dropped.
//! The format has no resolution: N-MNIST is 34×34, N-Caltech101 crops vary (pass one).

use super::carry::{SpareWriter, pack};
use crate::events::decoder::DecoderOptions;
use crate::events::format::Format;
use crate::events::error::DecodeError;
use super::records::{RecordBody, RecordDecoder};
use crate::events::{Event, Trigger};

const OVERFLOW_MARKER_Y: u8 = 240;
const OVERFLOW_STEP: u64 = 1 << 13;

/// The ATIS `.bin` decoder.
pub type AtisDecoder = RecordDecoder<AtisBody, 5>;

/// ATIS `.bin` decoding state between chunks (the `RecordBody` of [`AtisDecoder`]).
#[derive(Default)]
pub struct AtisBody {
    time_offset: u64,
    overflow_markers: u64,
}

impl AtisDecoder {
    pub fn new(options: DecoderOptions) -> Self {
        RecordDecoder::with_body(None, options, AtisBody::default())
    }
}

impl RecordBody<5> for AtisBody {
    const FORMAT: Format = Format::AtisBin;
    const RECORD: &'static str = "ATIS event";

    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>, _triggers: &mut Vec<Trigger>) -> Result<(), DecodeError> {
        let (records, _) = records.as_chunks::<5>();
        let mut writer = SpareWriter::new(out, records.len());
        let (mut time_offset, mut markers) = (self.time_offset, 0u64);
        for &[x, y, b2, b3, b4] in records {
            if y == OVERFLOW_MARKER_Y {
                time_offset += OVERFLOW_STEP;
                markers += 1;
                continue;
            }
            let t = (u64::from(b2 & 0x7F) << 16) | (u64::from(b3) << 8) | u64::from(b4);
            writer.push_packed(t + time_offset, pack(x.into(), y.into(), b2 & 0x80 != 0));
        }
        self.time_offset = time_offset;
        self.overflow_markers += markers;
        Ok(())
    }

    fn metadata(&self) -> Vec<(String, String)> {
        vec![("overflow markers".into(), self.overflow_markers.to_string())]
    }
}

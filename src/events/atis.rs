//! Orchard's ATIS `.bin` format (N-MNIST, N-Caltech101): no header, 5 bytes per event:
//! byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity (1 = ON), timestamp (µs, 23 bits) =
//! `(byte2 & 0x7F) << 16 | byte3 << 8 | byte4`.
//!
//! Records with y == 240 are timestamp-overflow markers: like tonic (`read_mnist_file`, after
//! gorchard's event-Python) every later timestamp gains 2^13 µs and the marker is dropped.
//! The format has no resolution: N-MNIST is 34×34, N-Caltech101 crops vary (pass one).

use super::carry::SpareWriter;
use super::decoder::{Decoder, DecoderOptions, Format};
use super::error::DecodeError;
use super::records::{RecordBody, RecordStream};
use super::{Event, Resolution};

const OVERFLOW_MARKER_Y: u8 = 240;
const OVERFLOW_STEP: u64 = 1 << 13;

pub struct AtisDecoder {
    stream: RecordStream<5>,
    body: AtisBody,
}

#[derive(Default)]
struct AtisBody {
    options: DecoderOptions,
    time_offset: u64,
    overflow_markers: u64,
}

impl AtisDecoder {
    pub fn new(options: DecoderOptions) -> Self {
        Self { stream: RecordStream::new(Format::AtisBin, None), body: AtisBody { options, ..AtisBody::default() } }
    }
}

impl RecordBody<5> for AtisBody {
    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let mut writer = SpareWriter::new(out, records.len() / 5);
        for r in records.chunks_exact(5) {
            if r[1] == OVERFLOW_MARKER_Y {
                self.time_offset += OVERFLOW_STEP;
                self.overflow_markers += 1;
                continue;
            }
            let t = (u64::from(r[2] & 0x7F) << 16) | (u64::from(r[3]) << 8) | u64::from(r[4]);
            writer.push(Event { t: t + self.time_offset, x: u16::from(r[0]), y: u16::from(r[1]), p: r[2] & 0x80 != 0 });
        }
        Ok(())
    }
}

impl Decoder for AtisDecoder {
    fn format(&self) -> Format {
        Format::AtisBin
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.feed(&mut self.body, chunk, out)
    }

    fn finish(&mut self, _out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.finish(&mut self.body, "ATIS event")
    }

    fn resolution(&self) -> Option<Resolution> {
        self.body.options.resolution
    }

    fn metadata(&self) -> Vec<(String, String)> {
        vec![("overflow markers".into(), self.body.overflow_markers.to_string())]
    }
}

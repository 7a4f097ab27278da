//! Prophesee EVT 3.0: 16-bit little-endian words, type in bits 15–12, with OpenEB's timestamp
//! semantics (the reference `metavision_evt3_raw_file_decoder`):
//!
//! - words before the first EVT_TIME_HIGH are skipped;
//! - TIME_HIGH sets `base = high << 12` (plus 2^24 µs per loop of the 24-bit counter; a loop is
//!   counted when the new base is lower by at least 2^24 − 4096 − 10·4096) and `t = base`;
//! - TIME_LOW sets `t = base + low`; time is not clamped, so it may step back a few µs where the
//!   sensor's TIME_LOW does (expelliarmus instead adds 4096 µs there, and faery clamps).
//!
//! ADDR_Y (0x0) sets y; ADDR_X (0x2) emits one event; VECT_BASE_X (0x3) sets x base and polarity;
//! VECT_12 (0x4) / VECT_8 (0x5) emit one event per set bit and advance the base; EXT_TRIGGER
//! (0xA) records a trigger. Coordinates are kept raw: vectors may run past the sensor width.

use crate::events::carry::SpareWriter;
use crate::events::decoder::{Decoder, DecoderOptions, Format};
use crate::events::error::DecodeError;
use crate::events::header::TextHeader;
use crate::events::records::{RecordBody, RecordStream};
use crate::events::{Event, Resolution, Trigger};

use super::PropheseeHeader;

pub struct Evt3Decoder {
    stream: RecordStream<2>,
    body: Evt3Body,
}

#[derive(Default)]
struct Evt3Body {
    options: DecoderOptions,
    header: PropheseeHeader,
    started: bool,
    base: u64,
    time: u64,
    loops: u64,
    y: u16,
    base_x: u16,
    polarity: bool,
    triggers: Vec<Trigger>,
}

const MAX_BASE: u64 = ((1 << 12) - 1) << 12;
const LOOP: u64 = MAX_BASE + (1 << 12);
const LOOP_THRESHOLD: u64 = 10 << 12;
/// Words decoded per output reservation (each word yields at most 12 events).
const BLOCK_WORDS: usize = 1 << 16;

impl Evt3Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        Self {
            stream: RecordStream::new(Format::Evt3, Some(TextHeader::new(b'%', Some(b"% end")))),
            body: Evt3Body { options, ..Evt3Body::default() },
        }
    }
}

impl Evt3Body {
    #[inline]
    fn block(&mut self, words: &[u8], out: &mut Vec<Event>) {
        let mut writer = SpareWriter::new(out, words.len() / 2 * 12);
        for word in words.chunks_exact(2) {
            let w = u16::from_le_bytes([word[0], word[1]]);
            let value = w & 0x0FFF;
            if !self.started {
                if w >> 12 == 0x8 {
                    self.started = true;
                    self.base = u64::from(value) << 12;
                    self.time = self.base;
                }
                continue;
            }
            match w >> 12 {
                0x2 => writer.push(Event { t: self.time, x: value & 0x7FF, y: self.y, p: value & 0x800 != 0 }),
                0x0 => self.y = value & 0x7FF,
                0x6 => self.time = self.base + u64::from(value),
                0x4 | 0x5 => {
                    let (mut bits, width) = if w >> 12 == 0x4 { (value, 12) } else { (value & 0xFF, 8) };
                    while bits != 0 {
                        let b = bits.trailing_zeros() as u16;
                        bits &= bits - 1;
                        writer.push(Event { t: self.time, x: self.base_x.wrapping_add(b), y: self.y, p: self.polarity });
                    }
                    self.base_x = self.base_x.wrapping_add(width);
                }
                0x3 => {
                    self.base_x = value & 0x7FF;
                    self.polarity = value & 0x800 != 0;
                }
                0x8 => {
                    let mut base = (u64::from(value) << 12) + self.loops * LOOP;
                    if self.base > base && self.base - base >= MAX_BASE - LOOP_THRESHOLD {
                        base += LOOP;
                        self.loops += 1;
                    }
                    self.base = base;
                    self.time = base;
                }
                0xA => self.triggers.push(Trigger {
                    t: self.time,
                    channel: ((value >> 8) & 0xF) as u8,
                    rising: value & 1 == 1,
                }),
                _ => {}
            }
        }
    }
}

impl RecordBody<2> for Evt3Body {
    fn on_header(&mut self, header: &TextHeader) -> Result<(), DecodeError> {
        self.header = PropheseeHeader::parse(header);
        match self.header.evt_version().as_deref() {
            None | Some("3.0") | Some("3") => Ok(()),
            Some(other) => Err(DecodeError::Unsupported {
                format: Format::Evt3,
                reason: format!("the header declares EVT {other}, not EVT 3.0"),
            }),
        }
    }

    fn on_records(&mut self, records: &[u8], _offset: u64, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        for block in records.chunks(BLOCK_WORDS * 2) {
            self.block(block, out);
        }
        Ok(())
    }
}

impl Decoder for Evt3Decoder {
    fn format(&self) -> Format {
        Format::Evt3
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.feed(&mut self.body, chunk, out)
    }

    fn finish(&mut self, _out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.finish(&mut self.body, "EVT3 word")
    }

    fn resolution(&self) -> Option<Resolution> {
        self.body.options.resolution.or(self.body.header.resolution)
    }

    fn triggers(&self) -> &[Trigger] {
        &self.body.triggers
    }

    fn metadata(&self) -> Vec<(String, String)> {
        super::header::metadata(&self.body.header)
    }
}

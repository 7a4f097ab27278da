//! AEDAT 3.1 (cAER / libcaer; DVS128 Gesture): `#` header lines up to `#!END-HEADER`, then
//! packets, all little-endian. Each packet has a 28-byte header
//! `i16 type, i16 source, i32 eventSize, i32 eventTSOffset, i32 eventTSOverflow,
//!  i32 eventCapacity, i32 eventNumber, i32 eventValid` followed by `capacity × size` bytes.
//!
//! Only POLARITY packets (type 1) yield events: `u32 data` (bit 0 valid, bit 1 polarity,
//! bits 2–16 y, bits 17–31 x) and an `i32` timestamp at `eventTSOffset`; the 64-bit time is
//! `overflow << 31 | timestamp` (tonic ignores the overflow; SpikingJelly and libcaer apply it).
//! Other packet types are skipped by size. Events are decoded as they arrive, so a packet that
//! declares an absurd size costs no memory and a truncated one keeps its decoded events.

use super::carry::{SpareWriter, pack};
use crate::events::decoder::{Decoder, DecoderOptions};
use crate::events::format::Format;
use crate::events::error::DecodeError;
use super::text_header::{HeaderStep, TextHeader};
use crate::events::{Event, Resolution};

const PACKET_HEADER: usize = 28;
const POLARITY: i16 = 1;

pub struct Aedat31Decoder {
    options: DecoderOptions,
    header: TextHeader,
    source: Option<String>,
    source_resolution: Option<Resolution>,
    state: State,
    /// Bytes of an unfinished packet header or event.
    partial: Vec<u8>,
    consumed: u64,
    /// Offset of the current packet header, for messages.
    packet_offset: u64,
    invalid: u64,
}

#[derive(Clone, Copy, Debug)]
enum State {
    PacketHeader,
    Body { kind: i16, size: usize, ts_offset: usize, overflow: u64, remaining: u64 },
}

impl Aedat31Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        Self {
            options,
            header: TextHeader::new(b'#', Some(b"#!END-HEADER")),
            source: None,
            source_resolution: None,
            state: State::PacketHeader,
            partial: Vec::new(),
            consumed: 0,
            packet_offset: 0,
            invalid: 0,
        }
    }

    fn on_header(&mut self) {
        for line in self.header.lines() {
            if let Some(rest) = line.strip_prefix("Source ") {
                if let Some((_, name)) = rest.split_once(':') {
                    self.source = Some(name.trim().to_string());
                }
            }
        }
        self.source_resolution = self.source.as_deref().and_then(camera_resolution);
    }

    fn parse_packet_header(&mut self, h: &[u8]) -> Result<(), DecodeError> {
        let i16_at = |o: usize| i16::from_le_bytes([h[o], h[o + 1]]);
        let i32_at = |o: usize| i32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (kind, size, ts_offset, overflow, capacity) = (i16_at(0), i32_at(4), i32_at(8), i32_at(12), i32_at(16));
        let bad = |reason: String| Err(DecodeError::corrupt(Format::Aedat31, self.packet_offset, reason));
        if size <= 0 || capacity < 0 || overflow < 0 {
            return bad(format!("packet header with event size {size}, capacity {capacity}, overflow {overflow}"));
        }
        if kind == POLARITY && (size < 8 || ts_offset < 0 || ts_offset as i64 + 4 > size as i64) {
            return bad(format!("polarity packet with event size {size} and timestamp offset {ts_offset}"));
        }
        self.state = State::Body {
            kind,
            size: size as usize,
            ts_offset: ts_offset as usize,
            overflow: overflow as u64,
            remaining: capacity as u64 * size as u64,
        };
        Ok(())
    }

    fn polarity_events(&mut self, events: &[u8], size: usize, ts_offset: usize, overflow: u64, out: &mut Vec<Event>) {
        if (size, ts_offset) == (8, 4) {
            // libcaer's own layout: a fixed-size loop the compiler unrolls.
            let (records, _) = events.as_chunks::<8>();
            self.invalid += polarity(records.iter(), overflow, out, |&r| {
                let r = u64::from_le_bytes(r);
                (r as u32, (r >> 32) as u32 as i32)
            });
        } else {
            let o = ts_offset;
            self.invalid += polarity(events.chunks_exact(size), overflow, out, |e| {
                (u32::from_le_bytes([e[0], e[1], e[2], e[3]]), i32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]))
            });
        }
    }
}

/// Decodes polarity events (`fields` gives the data word and the timestamp of one); returns
/// how many were invalid (valid bit clear or negative timestamp) and skipped.
#[inline(always)]
fn polarity<R>(records: impl ExactSizeIterator<Item = R>, overflow: u64, out: &mut Vec<Event>, fields: impl Fn(R) -> (u32, i32)) -> u64 {
    let mut writer = SpareWriter::new(out, records.len());
    let mut invalid = 0;
    for r in records {
        let (data, ts) = fields(r);
        if data & 1 == 0 || ts < 0 {
            invalid += 1;
            continue;
        }
        let low = pack(((data >> 17) & 0x7FFF) as u16, ((data >> 2) & 0x7FFF) as u16, data & 2 != 0);
        writer.push_packed((overflow << 31) | ts as u64, low);
    }
    invalid
}

/// Sensor size of a camera named in `#Source N: <name>`.
fn camera_resolution(name: &str) -> Option<Resolution> {
    let n = name.to_ascii_lowercase();
    let known: [(&str, (u16, u16)); 6] = [
        ("dvs128", (128, 128)),
        ("davis240", (240, 180)),
        ("davis346", (346, 260)),
        ("davis640", (640, 480)),
        ("dvxplorer lite", (320, 240)),
        ("dvxplorer", (640, 480)),
    ];
    known.iter().find(|(k, _)| n.contains(k)).map(|&(_, (w, h))| Resolution::new(w, h))
}

impl Decoder for Aedat31Decoder {
    fn format(&self) -> Format {
        Format::Aedat31
    }

    fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if !self.header.is_done() {
            match self.header.feed(chunk) {
                Err(limit) => {
                    let declared = (self.header.len() + chunk.len()) as u64;
                    return Err(DecodeError::TooLarge { format: Format::Aedat31, what: "the text header", offset: 0, declared, limit: limit as u64 });
                }
                Ok(HeaderStep::NeedMore) => {
                    self.consumed += chunk.len() as u64;
                    return Ok(());
                }
                Ok(HeaderStep::Done(start)) => {
                    self.on_header();
                    self.consumed += start as u64;
                    chunk = &chunk[start..];
                }
            }
        }
        while !chunk.is_empty() {
            match self.state {
                State::PacketHeader => {
                    if self.partial.is_empty() {
                        self.packet_offset = self.consumed;
                    }
                    let take = (PACKET_HEADER - self.partial.len()).min(chunk.len());
                    self.partial.extend_from_slice(&chunk[..take]);
                    self.consumed += take as u64;
                    chunk = &chunk[take..];
                    if self.partial.len() == PACKET_HEADER {
                        let header = std::mem::take(&mut self.partial);
                        self.parse_packet_header(&header)?;
                    }
                }
                State::Body { kind, size, ts_offset, overflow, remaining } => {
                    let take = remaining.min(chunk.len() as u64) as usize;
                    let (mut body, rest) = chunk.split_at(take);
                    if kind == POLARITY {
                        if !self.partial.is_empty() {
                            let fill = (size - self.partial.len()).min(body.len());
                            self.partial.extend_from_slice(&body[..fill]);
                            body = &body[fill..];
                            if self.partial.len() == size {
                                let event = std::mem::take(&mut self.partial);
                                self.polarity_events(&event, size, ts_offset, overflow, out);
                            }
                        }
                        let whole = body.len() / size * size;
                        self.polarity_events(&body[..whole], size, ts_offset, overflow, out);
                        self.partial.extend_from_slice(&body[whole..]);
                    }
                    self.consumed += take as u64;
                    chunk = rest;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::PacketHeader
                    } else {
                        State::Body { kind, size, ts_offset, overflow, remaining }
                    };
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if !self.header.finish() || !self.header.is_done() {
            return Err(DecodeError::truncated(Format::Aedat31, "the text header (no #!END-HEADER line)", 0));
        }
        match self.state {
            State::PacketHeader if self.partial.is_empty() => Ok(()),
            State::PacketHeader => Err(DecodeError::truncated(Format::Aedat31, "a 28-byte packet header", self.packet_offset)),
            State::Body { remaining, .. } => Err(DecodeError::truncated(
                Format::Aedat31,
                format!("a packet ({remaining} bytes missing)"),
                self.packet_offset,
            )),
        }
    }

    fn resolution(&self) -> Option<Resolution> {
        self.options.resolution.or(self.source_resolution)
    }

    fn metadata(&self) -> Vec<(String, String)> {
        let mut m = vec![];
        if let Some(s) = &self.source {
            m.push(("source".into(), s.clone()));
        }
        m.push(("invalid events skipped".into(), self.invalid.to_string()));
        m
    }
}

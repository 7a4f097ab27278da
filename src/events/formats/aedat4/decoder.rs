//! The AEDAT4 state machine: version line, IOHeader, then packets, fed in chunks of any size.

use super::VERSION_LINE;
use super::compression::{Compression, Decompressor, bound};
use super::ioheader::IoHeader;
use super::packet;
use super::parallel::{self, Job, PacketKind, Pool};
use super::sliced::{SLICE_BYTES, SlicedPacket};
use crate::events::decoder::{Decoder, DecoderOptions};
use crate::events::format::Format;
use crate::events::error::DecodeError;
use crate::events::{Event, Resolution, Trigger};

/// Largest IOHeader accepted (real ones are about 1 KB).
const MAX_IOHEADER: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    VersionLine,
    HeaderLength,
    Header { len: usize },
    PacketHeader,
    Payload { stream_id: i32, size: usize },
    /// At the FileDataTable: the rest of the file is an index we do not need.
    DataTable,
    /// Inside a big event packet decoded a slice at a time (`sliced.rs`); its payload was
    /// consumed.
    Sliced,
}

pub struct Aedat4Decoder {
    format: Format,
    options: DecoderOptions,
    state: State,
    /// Start offset of the item the state is reading.
    offset: u64,
    pending: Vec<u8>,
    header: Option<IoHeader>,
    /// The stream whose events we decode: the first `EVTS` stream of the IOHeader.
    event_stream: Option<i32>,
    /// The `TRIG` streams, whose packets become `triggers`.
    trigger_streams: Vec<i32>,
    triggers: Vec<Trigger>,
    decompressor: Decompressor,
    /// Per-task state for [`Aedat4Decoder::parallel_run`].
    pool: Pool,
    /// The packet of [`State::Sliced`] and its payload's offset.
    sliced: Option<(SlicedPacket, u64)>,
    packets: u64,
    skipped_packets: u64,
}

impl Aedat4Decoder {
    /// For files, which start with the version line.
    pub fn file(options: DecoderOptions) -> Self {
        Self::new(Format::Aedat4, State::VersionLine, options)
    }

    /// For the DV network stream, which starts with the IOHeader length.
    pub fn stream(options: DecoderOptions) -> Self {
        Self::new(Format::Aedat4Stream, State::HeaderLength, options)
    }

    fn new(format: Format, state: State, options: DecoderOptions) -> Self {
        Self {
            format,
            options,
            state,
            offset: 0,
            pending: Vec::new(),
            header: None,
            event_stream: None,
            trigger_streams: Vec::new(),
            triggers: Vec::new(),
            decompressor: Decompressor::default(),
            pool: Pool::default(),
            sliced: None,
            packets: 0,
            skipped_packets: 0,
        }
    }

    pub fn io_header(&self) -> Option<&IoHeader> {
        self.header.as_ref()
    }

    fn need(&self) -> usize {
        match self.state {
            State::VersionLine => VERSION_LINE.len(),
            State::HeaderLength => 4,
            State::Header { len } => len,
            State::PacketHeader => 8,
            State::Payload { size, .. } => size,
            State::DataTable | State::Sliced => 0,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::corrupt(self.format, self.offset, reason)
    }

    /// Consumes the complete item of the current state.
    fn step(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let next = match self.state {
            State::VersionLine => {
                if bytes != VERSION_LINE {
                    return Err(self.corrupt("missing the #!AER-DAT4.0 version line"));
                }
                State::HeaderLength
            }
            State::HeaderLength => {
                let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                if u64::from(len) > MAX_IOHEADER || len < 8 {
                    return Err(DecodeError::TooLarge { format: self.format, what: "the IOHeader length", offset: self.offset, declared: len.into(), limit: MAX_IOHEADER });
                }
                State::Header { len: len as usize }
            }
            State::Header { .. } => {
                let header = IoHeader::parse(bytes).map_err(|e| self.corrupt(e))?;
                self.event_stream = header.streams.iter().find(|s| s.type_identifier == "EVTS").map(|s| s.id);
                self.trigger_streams = header.streams.iter().filter(|s| s.type_identifier == "TRIG").map(|s| s.id).collect();
                if self.format == Format::Aedat4Stream && self.trigger_streams.is_empty() {
                    // One stream per connection; DV may leave the type out of older headers.
                    self.event_stream = self.event_stream.or(header.streams.first().map(|s| s.id)).or(Some(0));
                }
                self.header = Some(header);
                State::PacketHeader
            }
            State::PacketHeader => {
                let stream_id = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let size = i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                let limit = crate::limits::max_packet_bytes() as u64;
                if size < 0 || size as u64 > limit {
                    return Err(DecodeError::TooLarge { format: self.format, what: "a packet header", offset: self.offset, declared: size as u64, limit });
                }
                State::Payload { stream_id, size: size as usize }
            }
            State::Payload { stream_id, .. } => {
                self.packets += 1;
                match self.kind(stream_id) {
                    PacketKind::Events if self.is_big(bytes)? => {
                        let packet = SlicedPacket::new(self.compression(), bytes, crate::limits::max_packet_bytes()).map_err(|e| self.corrupt(e))?;
                        self.sliced = Some((packet, self.offset));
                        self.offset += bytes.len() as u64;
                        self.state = State::Sliced;
                        return Ok(());
                    }
                    PacketKind::Events => self.event_packet(bytes, out)?,
                    PacketKind::Triggers => self.trigger_packet(bytes)?,
                    PacketKind::Other => self.skipped_packets += 1,
                }
                State::PacketHeader
            }
            State::DataTable => State::DataTable,
            State::Sliced => State::Sliced,
        };
        self.offset += bytes.len() as u64;
        self.state = next;
        if next == State::PacketHeader && self.header.as_ref().and_then(|h| h.data_table_position) == Some(self.offset) {
            self.state = State::DataTable;
        }
        Ok(())
    }

    /// Whether a compressed event payload may decompress past one slice ([`SLICE_BYTES`]).
    fn is_big(&self, payload: &[u8]) -> Result<bool, DecodeError> {
        let compression = self.compression();
        if compression == Compression::None {
            return Ok(false);
        }
        let bound = bound(compression, payload, crate::limits::max_packet_bytes()).map_err(|e| self.corrupt(format!("event packet: {e}")))?;
        Ok(bound > SLICE_BYTES)
    }

    /// Decodes slices of the packet of [`State::Sliced`] until it is done (`Ok(true)`, the
    /// state back at a packet header) or `most` events were appended since `out` held `before`.
    fn slices(&mut self, out: &mut Vec<Event>, before: usize, most: usize) -> Result<bool, DecodeError> {
        while let Some((packet, at)) = self.sliced.as_mut() {
            let at = *at;
            if packet.next(out).map_err(|e| DecodeError::corrupt(self.format, at, e))? {
                self.sliced = None;
                self.state = State::PacketHeader;
                if self.header.as_ref().and_then(|h| h.data_table_position) == Some(self.offset) {
                    self.state = State::DataTable;
                }
                return Ok(true);
            }
            if out.len() - before >= most {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn compression(&self) -> Compression {
        self.header.as_ref().map_or(Compression::None, |h| h.compression)
    }

    fn event_packet(&mut self, payload: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let compression = self.compression();
        packet::event_packet(&mut self.decompressor, compression, payload, crate::limits::max_packet_bytes(), out).map_err(|e| self.corrupt(e))
    }

    fn trigger_packet(&mut self, payload: &[u8]) -> Result<(), DecodeError> {
        let compression = self.compression();
        packet::trigger_packet(&mut self.decompressor, compression, payload, crate::limits::max_packet_bytes(), &mut self.triggers).map_err(|e| self.corrupt(e))
    }

    fn kind(&self, stream_id: i32) -> PacketKind {
        if Some(stream_id) == self.event_stream {
            PacketKind::Events
        } else if self.trigger_streams.contains(&stream_id) {
            PacketKind::Triggers
        } else {
            PacketKind::Other
        }
    }

    /// Decodes the run of whole packets at the start of `chunk` (the decoder being at a packet
    /// header) on the rayon pool, when it holds enough compressed event packets to pay off;
    /// returns the bytes used (0: left to the sequential path, which also reports bad packet
    /// headers). Output, counters and errors are those of the sequential path.
    fn parallel_run(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<usize, DecodeError> {
        let (width, compression) = (parallel::width(), self.compression());
        if width == 0 || compression == Compression::None {
            return Ok(0);
        }
        let table = self.header.as_ref().and_then(|h| h.data_table_position);
        let (mut jobs, mut at, mut event_packets) = (Vec::with_capacity(width), 0usize, 0);
        while jobs.len() < width {
            let Some(h) = chunk.get(at..at + 8) else { break };
            let (stream_id, size) = (i32::from_le_bytes([h[0], h[1], h[2], h[3]]), i32::from_le_bytes([h[4], h[5], h[6], h[7]]));
            let Some(payload) = usize::try_from(size).ok().filter(|&s| s <= crate::limits::max_packet_bytes()).and_then(|s| chunk.get(at + 8..at + 8 + s)) else { break };
            let kind = self.kind(stream_id);
            if kind == PacketKind::Events && bound(compression, payload, crate::limits::max_packet_bytes()).is_ok_and(|b| b > SLICE_BYTES) {
                break; // decoded a slice at a time by the sequential path
            }
            event_packets += usize::from(kind == PacketKind::Events);
            jobs.push(Job { offset: self.offset + at as u64 + 8, kind, payload });
            at += 8 + payload.len();
            if table == Some(self.offset + at as u64) {
                break;
            }
        }
        if event_packets < 2 {
            return Ok(0);
        }
        let result = self.pool.run(compression, crate::limits::max_packet_bytes(), &jobs, out, &mut self.triggers);
        let done = result.as_ref().err().map_or(jobs.len(), |(i, _)| i + 1);
        self.packets += done as u64;
        self.skipped_packets += jobs[..done].iter().filter(|j| j.kind == PacketKind::Other).count() as u64;
        if let Err((i, reason)) = result {
            return Err(DecodeError::corrupt(self.format, jobs[i].offset, reason));
        }
        self.offset += at as u64;
        if table == Some(self.offset) {
            self.state = State::DataTable;
        }
        Ok(at)
    }
}

impl Decoder for Aedat4Decoder {
    fn format(&self) -> Format {
        self.format
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.feed_some(chunk, out, usize::MAX).map(|_| ())
    }

    /// Stops between packets once `most` events were appended (a packet is decoded whole; its
    /// size is bounded by [`crate::limits::max_packet_bytes`]).
    fn feed_some(&mut self, whole: &[u8], out: &mut Vec<Event>, most: usize) -> Result<usize, DecodeError> {
        let (before, mut chunk) = (out.len(), whole);
        loop {
            if self.state == State::Sliced && !self.slices(out, before, most)? {
                return Ok(whole.len() - chunk.len());
            }
            if chunk.is_empty() {
                break;
            }
            if self.state == State::DataTable {
                return Ok(whole.len());
            }
            if out.len() - before >= most && self.pending.is_empty() {
                return Ok(whole.len() - chunk.len());
            }
            if self.state == State::PacketHeader && self.pending.is_empty() {
                let used = self.parallel_run(chunk, out)?;
                if used > 0 {
                    chunk = &chunk[used..];
                    continue;
                }
            }
            let need = self.need();
            if self.pending.is_empty() && chunk.len() >= need {
                let (item, rest) = chunk.split_at(need);
                chunk = rest;
                self.step(item, out)?;
                continue;
            }
            let take = (need - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() == need {
                let mut item = std::mem::take(&mut self.pending);
                let result = self.step(&item, out);
                item.clear();
                self.pending = item;
                result?;
            }
        }
        Ok(whole.len())
    }

    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if self.state == State::Sliced {
            self.slices(out, out.len(), usize::MAX)?;
        }
        let table = self.header.as_ref().and_then(|h| h.data_table_position);
        let what = match self.state {
            State::DataTable | State::Sliced => return Ok(()),
            // The header says where the data table starts: a file that ends before it was cut,
            // even when the cut fell exactly between two packets.
            State::PacketHeader if self.pending.is_empty() => match table {
                Some(expected) if expected > self.offset => {
                    return Err(DecodeError::EndsEarly { format: self.format, offset: self.offset, what: "the IOHeader places the data table", expected });
                }
                _ => return Ok(()),
            },
            State::VersionLine => "the version line".to_string(),
            State::HeaderLength => "the IOHeader length".to_string(),
            State::Header { len } => format!("the {len}-byte IOHeader"),
            State::PacketHeader => "an 8-byte packet header".to_string(),
            State::Payload { stream_id, size } => format!("the {size}-byte payload of a stream-{stream_id} packet"),
        };
        Err(DecodeError::truncated(self.format, what, self.offset))
    }

    fn resolution(&self) -> Option<Resolution> {
        let header = self.header.as_ref();
        let stream = header.and_then(|h| h.streams.iter().find(|s| Some(s.id) == self.event_stream));
        self.options.resolution.or(stream.and_then(|s| s.resolution))
    }

    fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    fn take_triggers(&mut self, out: &mut Vec<Trigger>) {
        out.append(&mut self.triggers);
    }

    fn metadata(&self) -> Vec<(String, String)> {
        let Some(h) = &self.header else { return Vec::new() };
        let mut m = vec![("compression".to_string(), h.compression.name().to_string())];
        for s in &h.streams {
            let res = s.resolution.map(|r| format!(" {r}")).unwrap_or_default();
            let src = s.source.as_deref().map(|s| format!(" from {s}")).unwrap_or_default();
            m.push((format!("stream {}", s.id), format!("{} '{}'{res}{src}", s.type_identifier, s.name)));
        }
        m.push(("packets".into(), self.packets.to_string()));
        m.push(("packets of other streams skipped".into(), self.skipped_packets.to_string()));
        m
    }
}

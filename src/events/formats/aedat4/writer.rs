//! Writes AEDAT 4.0 files that DV and dv-processing read: one event stream (id 0), packets of
//! at most `packet_events` events, optionally a trigger stream (id 1, declared up front or added
//! when the first trigger comes), and a FileDataTable so readers can seek by time.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::compression::{Compression, compress};
use super::flatbuf::Builder;
use super::ioheader::{IoHeader, streams_xml};
use super::{EVENT_BYTES, VERSION_LINE};
use crate::events::write::shift_tail;
use crate::events::{Event, Resolution, Trigger};

#[derive(Clone, Debug)]
pub struct WriterOptions {
    pub compression: Compression,
    pub resolution: Resolution,
    /// Camera name recorded as the stream's `source`.
    pub source: String,
    pub packet_events: usize,
}

impl WriterOptions {
    pub fn new(resolution: Resolution) -> Self {
        Self { compression: Compression::Lz4, resolution, source: "spikestream".into(), packet_events: 8192 }
    }
}

struct TableEntry {
    stream_id: i32,
    payload_offset: u64,
    size: i32,
    events: i64,
    t_start: i64,
    t_end: i64,
}

pub struct Aedat4Writer<W: Write + Seek> {
    out: W,
    options: WriterOptions,
    /// Bytes written so far = current file offset.
    position: u64,
    buffered: Vec<Event>,
    table: Vec<TableEntry>,
    triggers: bool,
}

const STREAM_ID: i32 = 0;
const TRIGGER_STREAM_ID: i32 = 1;

impl<W: Write + Seek> Aedat4Writer<W> {
    pub fn new(out: W, options: WriterOptions) -> io::Result<Self> {
        Self::create(out, options, false)
    }

    /// A writer whose file also has a trigger stream, for [`Aedat4Writer::write_triggers`].
    pub fn with_triggers(out: W, options: WriterOptions) -> io::Result<Self> {
        Self::create(out, options, true)
    }

    fn create(mut out: W, options: WriterOptions, triggers: bool) -> io::Result<Self> {
        let header = io_header(&options, triggers);
        out.write_all(VERSION_LINE)?;
        out.write_all(&(header.len() as u32).to_le_bytes())?;
        out.write_all(&header)?;
        let position = (VERSION_LINE.len() + 4 + header.len()) as u64;
        let packet_events = options.packet_events.max(1);
        Ok(Self { out, options: WriterOptions { packet_events, ..options }, position, buffered: Vec::new(), table: Vec::new(), triggers })
    }

    pub fn write_events(&mut self, events: &[Event]) -> io::Result<()> {
        for e in events {
            if e.t > i64::MAX as u64 || e.x > i16::MAX as u16 || e.y > i16::MAX as u16 {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("event {e:?} does not fit AEDAT4 (i64 t, i16 x/y)")));
            }
        }
        let mut rest = events;
        while !rest.is_empty() {
            let room = self.options.packet_events - self.buffered.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buffered.extend_from_slice(now);
            rest = later;
            if self.buffered.len() == self.options.packet_events {
                self.flush_packet()?;
            }
        }
        Ok(())
    }

    /// Writes one packet of the trigger stream; `channel` is written as the DV trigger type
    /// code (see [`super::DV_TRIGGER_TYPES`]), as the decoder reads it back. Needs a writer made
    /// by [`Aedat4Writer::with_triggers`].
    pub fn write_triggers(&mut self, triggers: &[Trigger]) -> io::Result<()> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        if !self.triggers {
            return Err(invalid("this AEDAT4 writer has no trigger stream (make it with Aedat4Writer::with_triggers)".into()));
        }
        if let Some(t) = triggers.iter().find(|t| t.t > i64::MAX as u64 || t.channel > i8::MAX as u8) {
            return Err(invalid(format!("trigger {t:?} does not fit AEDAT4 (i64 t, i8 type)")));
        }
        if triggers.is_empty() {
            return Ok(());
        }
        let span = (triggers[0].t as i64, triggers[triggers.len() - 1].t as i64);
        self.write_packet(TRIGGER_STREAM_ID, &trigger_packet(triggers), triggers.len(), span)
    }

    /// Writes the events buffered so far as a packet now, instead of waiting for
    /// `packet_events` of them: a live recording calls it so a quiet camera's events reach the
    /// file (and survive a kill) within a bounded time.
    pub fn flush_packet(&mut self) -> io::Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let span = (self.buffered[0].t as i64, self.buffered[self.buffered.len() - 1].t as i64);
        self.write_packet(STREAM_ID, &event_packet(&self.buffered), self.buffered.len(), span)?;
        self.buffered.clear();
        Ok(())
    }

    fn write_packet(&mut self, stream_id: i32, packet: &[u8], elements: usize, (t_start, t_end): (i64, i64)) -> io::Result<()> {
        let payload = compress(self.options.compression, packet)?;
        let size = i32::try_from(payload.len()).map_err(io::Error::other)?;
        // One write per packet: on an unbuffered file a kill leaves whole packets only (the
        // header's data table position stays -1 until `finish`, so readers walk the packets).
        let mut whole = Vec::with_capacity(8 + payload.len());
        whole.extend_from_slice(&stream_id.to_le_bytes());
        whole.extend_from_slice(&size.to_le_bytes());
        whole.extend_from_slice(&payload);
        self.out.write_all(&whole)?;
        self.table.push(TableEntry { stream_id, payload_offset: self.position + 8, size, events: elements as i64, t_start, t_end });
        self.position += 8 + payload.len() as u64;
        Ok(())
    }

    /// Writes the last packet and the data table, patches the IOHeader, returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_packet()?;
        let table_position = self.position;
        let table = compress(self.options.compression, &data_table(&self.table))?;
        self.out.write_all(&table)?;
        let patch = (VERSION_LINE.len() + 4 + IoHeader::POSITION_OFFSET) as u64;
        self.out.seek(SeekFrom::Start(patch))?;
        self.out.write_all(&(table_position as i64).to_le_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Read + Write + Seek> Aedat4Writer<W> {
    /// Adds the trigger stream to a writer made without one, after packets were written: the
    /// IOHeader grows, so the packets written so far move back (copied in place from the end).
    /// `convert` learns that a Prophesee input has triggers only when the first one arrives.
    pub fn add_trigger_stream(&mut self) -> io::Result<()> {
        if self.triggers {
            return Ok(());
        }
        let start = (VERSION_LINE.len() + 4) as u64;
        let old = io_header(&self.options, false).len() as u64;
        let header = io_header(&self.options, true);
        let by = (header.len() as u64).checked_sub(old).ok_or_else(|| io::Error::other("the IOHeader with a trigger stream is shorter"))?;
        shift_tail(&mut self.out, start + old, self.position, by)?;
        self.out.seek(SeekFrom::Start(VERSION_LINE.len() as u64))?;
        self.out.write_all(&(header.len() as u32).to_le_bytes())?;
        self.out.write_all(&header)?;
        self.position += by;
        self.out.seek(SeekFrom::Start(self.position))?;
        for entry in &mut self.table {
            entry.payload_offset += by;
        }
        self.triggers = true;
        Ok(())
    }
}

/// The IOHeader flatbuffer: the event stream, and the trigger stream if `triggers`.
fn io_header(options: &WriterOptions, triggers: bool) -> Vec<u8> {
    let trigger_stream = triggers.then_some(TRIGGER_STREAM_ID);
    let xml = streams_xml(STREAM_ID, trigger_stream, options.compression, options.resolution, &options.source);
    IoHeader::build(options.compression, -1, &xml)
}

/// A size-prefixed `EVTS` flatbuffer holding `events`.
pub fn event_packet(events: &[Event]) -> Vec<u8> {
    let mut b = Builder::default();
    b.bytes.reserve(32 + events.len() * EVENT_BYTES);
    b.u32(0).u32(16).raw(b"EVTS"); // size (patched), root table at 4 + 16 = 20
    b.u16(6).u16(8).u16(4).u16(0); // vtable at 12: 1 field at table+4; 2 bytes padding
    b.i32(20 - 12).u32(4); // table at 20; vector at 24 + 4
    b.u32(events.len() as u32);
    for e in events {
        b.i64(e.t as i64).u16(e.x).u16(e.y).raw(&[u8::from(e.p), 0, 0, 0]);
    }
    let size = b.len() as u32 - 4;
    b.patch_u32(0, size);
    b.bytes
}

/// A size-prefixed `TRIG` flatbuffer: a vector of `Trigger` tables `{timestamp: int64 (slot 0),
/// type: int8 (slot 1)}`, every scalar aligned from the payload start as flatbuffers verifiers
/// want.
fn trigger_packet(triggers: &[Trigger]) -> Vec<u8> {
    let mut b = Builder::default();
    b.u32(0).u32(16).raw(b"TRIG");
    b.u16(6).u16(8).u16(4).u16(0); // vtable at 12
    b.i32(20 - 12).u32(4); // table at 20, vector at 28
    b.u32(triggers.len() as u32);
    let slots = b.len();
    for _ in triggers {
        b.u32(0);
    }
    let vtable = b.len();
    b.u16(8).u16(16).u16(8).u16(4); // Trigger: 16-byte tables, timestamp at +8, type at +4
    b.align(8);
    for (i, t) in triggers.iter().enumerate() {
        let at = b.len();
        let slot = slots + 4 * i;
        b.patch_u32(slot, (at - slot) as u32);
        b.i32((at - vtable) as i32).raw(&[t.channel, 0, 0, 0]).i64(t.t as i64);
    }
    let size = b.len() as u32 - 4;
    b.patch_u32(0, size);
    b.bytes
}

/// A size-prefixed `FTAB` flatbuffer: one FileDataDefinition table per packet.
fn data_table(entries: &[TableEntry]) -> Vec<u8> {
    let mut b = Builder::default();
    b.u32(0).u32(16).raw(b"FTAB");
    b.u16(6).u16(8).u16(4).u16(0); // vtable at 12
    b.i32(20 - 12).u32(4); // table at 20, vector at 28
    b.u32(entries.len() as u32);
    let slots = b.len();
    for _ in entries {
        b.u32(0);
    }
    b.align(8);
    // FileDataDefinition vtable: ByteOffset, PacketInfo (struct), NumElements, TimestampStart, TimestampEnd.
    let vtable = b.len();
    b.u16(14).u16(48).u16(16).u16(4).u16(24).u16(32).u16(40).u16(0);
    b.align(8);
    for (i, e) in entries.iter().enumerate() {
        let at = b.len();
        let slot = slots + 4 * i;
        b.patch_u32(slot, (at - slot) as u32);
        b.i32((at - vtable) as i32).i32(e.stream_id).i32(e.size).u32(0);
        b.i64(e.payload_offset as i64).i64(e.events).i64(e.t_start).i64(e.t_end);
    }
    let size = b.len() as u32 - 4;
    b.patch_u32(0, size);
    b.bytes
}

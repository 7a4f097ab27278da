//! Event packets too big to decompress at once, decoded a slice at a time: a compressed packet
//! may declare up to the packet limit (64 MiB by default, more with `SPIKESTREAM_MAX_PACKET_MB`)
//! from a few KB of input, and decoded whole it sits in memory whole. Here zstd streams into a
//! slice-sized buffer and LZ4 goes block by block (at most 4 MiB), the flatbuffer header is
//! parsed once its bytes are in, and the records are handed out per slice, so the decoder can
//! stop between slices ([`crate::events::Decoder::feed_some`]) and memory stays one slice.
//!
//! Owns the streaming state of one packet; the decoder (`decoder.rs`) decides which packets go
//! here (only those whose bound is over [`SLICE_BYTES`]: real DV packets never do) and owns
//! offsets and errors; the records' validation is `packet.rs`'s.

use zstd::zstd_safe::{DCtx, InBuffer, OutBuffer};

use super::EVENT_BYTES;
use super::compression::{Compression, Lz4Cursor};
use super::flatbuf::{Table, u32_at};
use super::packet::append_records;
use crate::events::Event;

/// Decompressed bytes per slice; a packet whose bound is larger is decoded here.
pub(super) const SLICE_BYTES: usize = 8 << 20;
/// The flatbuffer's header (size prefix, root table, vtable, vector length) must be within
/// this many bytes of the packet's start.
const HEAD_MAX: usize = 64 << 10;

enum Source {
    Zstd { dctx: DCtx<'static>, pos: usize },
    Lz4(Lz4Cursor),
}

pub(super) struct SlicedPacket {
    payload: Vec<u8>,
    source: Source,
    limit: usize,
    /// Decompressed bytes so far.
    produced: usize,
    /// The first decompressed bytes, kept until the records are located.
    head: Vec<u8>,
    /// Decompressed positions `[start, end)` of the records, once known.
    records: Option<(usize, usize)>,
    /// A record split between two slices.
    carry: Vec<u8>,
    emitted: usize,
    scratch: Vec<u8>,
}

impl SlicedPacket {
    pub fn new(compression: Compression, payload: &[u8], limit: usize) -> Result<Self, String> {
        let source = match compression {
            Compression::Lz4 | Compression::Lz4High => Source::Lz4(Lz4Cursor::new(payload)?),
            Compression::Zstd | Compression::ZstdHigh => Source::Zstd { dctx: DCtx::create(), pos: 0 },
            Compression::None => return Err("an uncompressed packet is not sliced".into()),
        };
        let carry = Vec::with_capacity(EVENT_BYTES);
        Ok(Self { payload: payload.to_vec(), source, limit, produced: 0, head: Vec::new(), records: None, carry, emitted: 0, scratch: Vec::new() })
    }

    /// Decodes the next slice and appends its events to `out`: `Ok(true)` once the packet's
    /// last event is out. Errors are whole messages, as `packet.rs`'s.
    pub fn next(&mut self, out: &mut Vec<Event>) -> Result<bool, String> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.slice(&mut scratch, out);
        self.scratch = scratch;
        result
    }

    fn slice(&mut self, data: &mut Vec<u8>, out: &mut Vec<Event>) -> Result<bool, String> {
        let more = self.decompress(data).map_err(|e| format!("event packet: {e}"))?;
        let at = self.produced;
        self.produced += data.len();
        if self.produced > self.limit {
            return Err(format!("event packet: decompresses past the {}-byte packet limit (SPIKESTREAM_MAX_PACKET_MB raises it)", self.limit));
        }
        if self.records.is_none() {
            self.head.extend_from_slice(data);
            match locate(&self.head) {
                Ok(Some(records)) => {
                    self.records = Some(records);
                    let head = std::mem::take(&mut self.head);
                    self.take_records(&head, 0, out)?;
                }
                Ok(None) if more && self.head.len() < HEAD_MAX => return Ok(false),
                Ok(None) => return Err("event packet: the flatbuffer header is not in the packet's first bytes".into()),
                Err(e) if more && self.head.len() < HEAD_MAX => drop(e),
                Err(e) => return Err(format!("event packet: {e}")),
            }
        } else {
            self.take_records(data, at, out)?;
        }
        match self.records {
            Some((_, end)) if self.produced >= end => Ok(true),
            _ if !more => Err("event packet: the payload ends before its events do".into()),
            _ => Ok(false),
        }
    }

    /// Replaces `data` with the next decompressed bytes; `Ok(false)` when the payload ended.
    fn decompress(&mut self, data: &mut Vec<u8>) -> Result<bool, String> {
        data.clear();
        match &mut self.source {
            Source::Lz4(cursor) => cursor.next_block(&self.payload, data),
            Source::Zstd { dctx, pos } => {
                data.reserve(SLICE_BYTES);
                let mut input = InBuffer { src: &self.payload, pos: *pos };
                let mut output = OutBuffer::around(data);
                let mut ended = false;
                while output.pos() < output.capacity() && input.pos < self.payload.len() {
                    let hint = dctx.decompress_stream(&mut output, &mut input).map_err(|c| format!("corrupt zstd payload: {}", zstd::zstd_safe::get_error_name(c)))?;
                    if hint == 0 {
                        ended = true;
                        break;
                    }
                }
                let progress = output.pos() > 0;
                *pos = input.pos;
                Ok(progress || !(ended || *pos == self.payload.len()))
            }
        }
    }

    /// Appends the records among `bytes`, which start at decompressed position `at`.
    fn take_records(&mut self, bytes: &[u8], at: usize, out: &mut Vec<Event>) -> Result<(), String> {
        let Some((start, end)) = self.records else { return Ok(()) };
        let (from, to) = (start.max(at), end.min(at + bytes.len()));
        if from >= to {
            return Ok(());
        }
        let mut part = &bytes[from - at..to - at];
        if !self.carry.is_empty() {
            let take = (EVENT_BYTES - self.carry.len()).min(part.len());
            self.carry.extend_from_slice(&part[..take]);
            part = &part[take..];
            if self.carry.len() == EVENT_BYTES {
                let record: [u8; EVENT_BYTES] = self.carry[..].try_into().unwrap_or([0; EVENT_BYTES]);
                self.carry.clear();
                self.emit(&[record], out)?;
            }
        }
        let (whole, rest) = part.as_chunks::<EVENT_BYTES>();
        self.emit(whole, out)?;
        self.carry.extend_from_slice(rest);
        Ok(())
    }

    fn emit(&mut self, records: &[[u8; EVENT_BYTES]], out: &mut Vec<Event>) -> Result<(), String> {
        append_records(records, self.emitted, out)?;
        self.emitted += records.len();
        Ok(())
    }
}

/// The decompressed positions of the records of a size-prefixed `EVTS` flatbuffer whose first
/// bytes are `head`: `Ok(None)` while the header is not all there.
fn locate(head: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let Some(fb) = head.get(4..) else { return Ok(None) };
    let size = u32_at(head, 0, "size prefix").map_err(|e| e.to_string())? as usize;
    let table = Table::root(fb, b"EVTS").map_err(|e| e.to_string())?;
    let Some(vector) = table.vector_start(0).map_err(|e| e.to_string())? else { return Ok(Some((4, 4))) };
    let Ok(count) = u32_at(fb, vector, "vector length") else { return Ok(None) };
    let start = 4 + vector + 4;
    let end = (count as usize).checked_mul(EVENT_BYTES).and_then(|n| n.checked_add(start)).filter(|&e| e <= size.saturating_add(4));
    end.map(|end| Some((start, end))).ok_or_else(|| format!("the vector of {count} events runs past the {size}-byte flatbuffer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::formats::aedat4::{Aedat4Writer, WriterOptions};
    use crate::events::io::file::{ReadOptions, read_bytes};
    use crate::events::{EventReader, Resolution};

    /// Packets over one slice, in both codecs: the same events as written, whole, in small
    /// chunks, and in the streaming reader's batches, which stay near its batch bound.
    #[test]
    fn big_packets_decode_a_slice_at_a_time_to_the_same_events() {
        let events: Vec<Event> = (0..1_500_000u64).map(|i| Event::new(i / 3, (i * 7 % 640) as u16, (i * 13 % 480) as u16, i % 5 < 2)).collect();
        for compression in [Compression::Lz4, Compression::Zstd] {
            let options = WriterOptions { compression, packet_events: 700_000, ..WriterOptions::new(Resolution::new(640, 480)) };
            let mut w = Aedat4Writer::new(std::io::Cursor::new(Vec::new()), options).unwrap();
            w.write_events(&events).unwrap();
            let bytes = w.finish().unwrap().into_inner();
            let got = read_bytes(&bytes, "big.aedat4".as_ref(), ReadOptions::default()).unwrap();
            assert!(got.events == events, "{compression:?}: whole");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("big.aedat4");
            std::fs::write(&path, &bytes).unwrap();
            let mut reader = EventReader::open(&path, ReadOptions::default()).unwrap().with_chunk_bytes(4099);
            let (mut batch, mut all, mut largest) = (Vec::new(), Vec::new(), 0);
            while reader.next_batch(&mut batch).unwrap() {
                largest = largest.max(batch.len());
                all.extend_from_slice(&batch);
            }
            assert!(all == events, "{compression:?}: batches");
            assert!(largest < crate::events::io::reader::BATCH_EVENTS + SLICE_BYTES / EVENT_BYTES, "{compression:?}: a batch of {largest} events");
            // Byte flips and cuts through the big packets: an error or other events, never a
            // panic, and never more events than the packets hold.
            for k in 1..40usize {
                let mut bad = bytes.clone();
                let at = 1000 + k * 7919 % (bytes.len() - 2000);
                bad[at] ^= 1 << (k % 8);
                let cut = &bad[..bytes.len() - k * 997 % (bytes.len() / 2)];
                for input in [&bad[..], cut] {
                    let n = match read_bytes(input, "flip.aedat4".as_ref(), ReadOptions::default()) {
                        Ok(r) => r.events.len(),
                        Err(e) => e.partial().map_or(0, |p| p.events.len()),
                    };
                    assert!(n <= events.len(), "{compression:?}: flip at {at}");
                }
            }
        }
    }
}

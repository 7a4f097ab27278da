//! Packet payloads to events and triggers: the size-prefixed `EVTS` and `TRIG` flatbuffers.
//!
//! A compressed event packet is decompressed straight into the spare capacity of the caller's
//! event vector, where the 16-byte records already have the [`Event`] layout: the vector's
//! element data is moved down over the flatbuffer header (in cache, just written) and checked
//! in place, so each event is written to memory once. The decoder state machine
//! (`decoder.rs`) owns framing and errors' offsets; this module only knows one payload, and its
//! errors are whole messages to which `DecodeError` adds the offset.

use std::mem::MaybeUninit;

use super::EVENT_BYTES;
use super::compression::{Compression, Decompressor, bound};
use super::flatbuf::Table;
use crate::events::formats::carry::{SpareWriter, advise_huge_pages};
use crate::events::{Event, Trigger};

/// The root table of a size-prefixed flatbuffer with identifier `id`.
fn root<'a>(data: &'a [u8], id: &[u8; 4]) -> Result<Table<'a>, String> {
    let size = data.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let fb = data.get(4..4 + size).ok_or("size prefix runs past the payload")?;
    Table::root(fb, id).map_err(|e| e.to_string())
}

/// The event records of an uncompressed `EVTS` payload.
fn records(data: &[u8]) -> Result<&[[u8; EVENT_BYTES]], String> {
    let elements = root(data, b"EVTS")?.vector_bytes(0, EVENT_BYTES).map_err(|e| e.to_string())?.unwrap_or_default();
    Ok(elements.as_chunks::<EVENT_BYTES>().0)
}

/// A record as two little-endian words: t, then x | y << 16 | p << 32 (and padding above).
#[inline(always)]
fn words(e: [u8; EVENT_BYTES]) -> (u64, u64) {
    let e = u128::from_le_bytes(e);
    (e as u64, (e >> 64) as u64)
}

/// Index of the first record with a negative t, x or y (sign bits), if any.
fn first_bad(records: &[[u8; EVENT_BYTES]]) -> Option<usize> {
    records.iter().position(|&e| {
        let (t, low) = words(e);
        (t as i64) < 0 || low & 0x8000_8000 != 0
    })
}

/// The bits of a normal record's second word: x and y without their sign bits, p.
const NORMAL_LOW: u64 = 0x1_7FFF_7FFF;

/// x and y as stored; any non-zero p byte is ON; padding zeroed.
#[inline(always)]
fn normalise(low: u64) -> u64 {
    low & 0xFFFF_FFFF | u64::from(low & 0xFF_0000_0000 != 0) << 32
}

fn bad_event(records: &[[u8; EVENT_BYTES]], i: usize) -> String {
    bad_event_at(records, i, 0)
}

/// The message for bad record `i` of `records`, whose first is event `first` of its packet.
fn bad_event_at(records: &[[u8; EVENT_BYTES]], i: usize, first: usize) -> String {
    let (t, low) = words(records[i]);
    let (x, y) = (low as u16 as i16, (low >> 16) as u16 as i16);
    format!("event {} of the packet has t={}, x={x}, y={y}", first + i, t as i64)
}

/// Appends records of an `EVTS` vector that arrive a slice at a time (`sliced.rs`): one
/// validating pass, then a branch-free copy; `first` is the packet index of `records[0]`, for
/// messages. The records before a bad one are kept.
pub(super) fn append_records(records: &[[u8; EVENT_BYTES]], first: usize, out: &mut Vec<Event>) -> Result<(), String> {
    let bad = first_bad(records);
    let good = &records[..bad.unwrap_or(records.len())];
    SpareWriter::new(out, good.len()).push_all(good, |e| {
        let (t, low) = words(e);
        (t, normalise(low))
    });
    bad.map_or(Ok(()), |i| Err(bad_event_at(records, i, first)))
}

/// Appends the events of an uncompressed `EVTS` payload (one validating pass, then a
/// branch-free copy). On a bad event, the events before it are kept.
fn events_from_slice(data: &[u8], out: &mut Vec<Event>) -> Result<(), String> {
    let records = records(data).map_err(|e| format!("event packet: {e}"))?;
    let bad = first_bad(records);
    let good = &records[..bad.unwrap_or(records.len())];
    SpareWriter::new(out, good.len()).push_all(good, |e| {
        let (t, low) = words(e);
        (t, normalise(low))
    });
    bad.map_or(Ok(()), |i| Err(bad_event(records, i)))
}

/// Decompresses an `EVTS` payload into `out`'s spare capacity and appends its events there.
fn events_compressed(decompressor: &mut Decompressor, compression: Compression, payload: &[u8], limit: usize, out: &mut Vec<Event>) -> Result<(), String> {
    if cfg!(not(target_endian = "little")) {
        // The records are the `Event` layout only on little-endian targets.
        let data = decompressor.decompress(compression, payload, limit).map_err(|e| format!("event packet: {e}"))?;
        return events_from_slice(data, out);
    }
    let packet = |e: String| format!("event packet: {e}");
    let bytes = bound(compression, payload, limit).map_err(packet)?;
    let first = out.capacity() == 0;
    out.reserve(bytes.div_ceil(EVENT_BYTES));
    if first {
        advise_huge_pages(out);
    }
    let len = out.len();
    let spare = out.spare_capacity_mut();
    // SAFETY: the spare `Event` slots viewed as bytes (same memory, `u8` has no alignment
    // need); `reserve` made at least `bytes` of them.
    let spare = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<MaybeUninit<u8>>(), spare.len() * EVENT_BYTES) };
    let n = decompressor.decompress_into(compression, payload, &mut spare[..bytes]).map_err(packet)?;
    // SAFETY: `decompress_into` initialised the first `n` bytes.
    let data = unsafe { &mut *(std::ptr::from_mut(&mut spare[..n]) as *mut [u8]) };
    let (start, count) = {
        let records = records(data).map_err(packet)?;
        // An absent vector is an empty slice that need not point into `data` (fuzzing found a
        // packet without one: the offset wrapped and the copy below panicked).
        if records.is_empty() { (0, 0) } else { (records.as_ptr() as usize - data.as_ptr() as usize, records.len()) }
    };
    // The records to the start of the spare slots (8-aligned), over the flatbuffer header.
    data.copy_within(start..start + count * EVENT_BYTES, 0);
    let records = data[..count * EVENT_BYTES].as_chunks_mut::<EVENT_BYTES>().0;
    // Writers store p as 0 or 1 and zero padding, so one read-only pass (branch-free, it
    // vectorises) usually shows there is nothing to fix; else find the first bad event and
    // normalise the good ones before it.
    let odd = records.iter().fold(0, |acc, &e| {
        let (t, low) = words(e);
        acc | t & 1 << 63 | low & !NORMAL_LOW
    });
    let (good, message) = if odd == 0 {
        (count, None)
    } else {
        let bad = first_bad(records);
        let good = bad.unwrap_or(count);
        for r in &mut records[..good] {
            let (t, low) = words(*r);
            *r = (u128::from(t) | u128::from(normalise(low)) << 64).to_le_bytes();
        }
        (good, bad.map(|i| bad_event(records, i)))
    };
    // SAFETY: the first `good` spare slots now hold records whose t, x, y are the `Event`
    // fields (layout asserted in `carry.rs`; little-endian checked above) and whose p byte is 0
    // or 1 (`odd == 0` leaves no bit outside `NORMAL_LOW`, else `normalise`), so they are valid
    // `Event`s; `good * 16 <= n <= bytes`, within the reserved capacity.
    unsafe { out.set_len(len + good) };
    message.map_or(Ok(()), Err)
}

/// Appends the events of one `EVTS` packet payload as stored (compressed or not).
pub fn event_packet(decompressor: &mut Decompressor, compression: Compression, payload: &[u8], limit: usize, out: &mut Vec<Event>) -> Result<(), String> {
    match compression {
        Compression::None => events_from_slice(payload, out),
        _ => events_compressed(decompressor, compression, payload, limit, out),
    }
}

/// Appends the triggers of one `TRIG` packet payload as stored.
pub fn trigger_packet(decompressor: &mut Decompressor, compression: Compression, payload: &[u8], limit: usize, out: &mut Vec<Trigger>) -> Result<(), String> {
    let data = decompressor.decompress(compression, payload, limit).map_err(|e| format!("trigger packet: {e}"))?;
    triggers(data, out).map_err(|e| format!("trigger packet: {e}"))
}

/// Names of the DV `TriggerType` codes (dv-processing `trigger.fbs`), which AEDAT4 triggers keep
/// as [`Trigger::channel`].
pub const DV_TRIGGER_TYPES: [&str; 10] = [
    "TIMESTAMP_RESET",
    "EXTERNAL_SIGNAL_RISING_EDGE",
    "EXTERNAL_SIGNAL_FALLING_EDGE",
    "EXTERNAL_SIGNAL_PULSE",
    "EXTERNAL_GENERATOR_RISING_EDGE",
    "EXTERNAL_GENERATOR_FALLING_EDGE",
    "APS_FRAME_START",
    "APS_FRAME_END",
    "APS_EXPOSURE_START",
    "APS_EXPOSURE_END",
];

/// Appends the triggers of a (decompressed) `TRIG` payload: tables `{timestamp: int64,
/// type: int8}`. `channel` is the DV type code; `rising` is true for the types that start
/// something (rising edges, pulses, frame and exposure starts). Codes past the known ones are
/// kept as they are (newer DV may add some); negative codes and timestamps are errors.
fn triggers(data: &[u8], out: &mut Vec<Trigger>) -> Result<(), String> {
    let root = root(data, b"TRIG")?;
    let fb = |e: super::flatbuf::FbError| e.to_string();
    for (i, table) in root.table_vector(0).map_err(fb)?.into_iter().enumerate() {
        let t = table.i64(0, 0).map_err(fb)?;
        let code = table.i8(1, 0).map_err(fb)?;
        if t < 0 || code < 0 {
            return Err(format!("trigger {i} of the packet has t={t}, type={code}"));
        }
        out.push(Trigger { t: t as u64, channel: code as u8, rising: matches!(code, 1 | 3 | 4 | 6 | 8) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::formats::aedat4::compression::compress;
    use crate::events::formats::aedat4::writer::event_packet as build_packet;

    /// Records with p bytes other than 0/1, dirty padding, then a negative x: every path keeps
    /// the events before the bad one, p as "non-zero is ON", and names the bad event.
    #[test]
    fn odd_records_are_normalised_and_a_negative_field_stops_the_packet_in_every_compression() {
        let events: Vec<Event> = (0..40).map(|i| Event::new(100 + i, i as u16, 2 * i as u16, i % 2 == 0)).collect();
        let mut packet = build_packet(&events);
        let start = packet.len() - events.len() * EVENT_BYTES;
        packet[start + 3 * EVENT_BYTES + 12] = 7; // p byte 7 (event 3 is OFF as written)
        packet[start + 5 * EVENT_BYTES + 14] = 0xAB; // padding
        packet[start + 30 * EVENT_BYTES + 9] |= 0x80; // event 30: negative x
        let mut want = events[..30].to_vec();
        want[3].p = true;
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let payload = compress(compression, &packet).unwrap();
            let mut out = vec![Event::new(1, 1, 1, true)];
            let err = event_packet(&mut Decompressor::default(), compression, &payload, 1 << 20, &mut out).unwrap_err();
            assert!(err.starts_with("event 30 of the packet has t=130, x=-"), "{compression:?}: {err}");
            assert_eq!(out[1..], want[..], "{compression:?}");
            // Clean records take the read-only path and come out as written.
            let mut out = Vec::new();
            event_packet(&mut Decompressor::default(), compression, &compress(compression, &build_packet(&events)).unwrap(), 1 << 20, &mut out).unwrap();
            assert_eq!(out, events, "{compression:?}");
        }
    }
}

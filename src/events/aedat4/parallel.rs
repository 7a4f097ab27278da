//! Decoding a run of whole AEDAT4 packets on the rayon pool: packets are independent (each
//! payload is its own LZ4 or zstd frame), so each task decompresses and parses one packet into
//! its own buffers, then every task copies its events into its place in the caller's vector.
//! Order, partial output and errors are those of decoding the packets one by one.
//!
//! The decoder state machine (`decoder.rs`) finds the run and keeps offsets and counters; a
//! single-threaded pool (one core, or `taskset` to one) never comes here. The parallel path
//! costs about 40 % more CPU time in all (task buffers, the copy, idle workers) for the wall
//! time it saves on idle cores.

use rayon::prelude::*;

use super::compression::{Compression, Decompressor};
use super::packet;
use crate::events::carry::advise_huge_pages;
use crate::events::{Event, Trigger};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    Events,
    Triggers,
    Other,
}

/// One whole packet: its payload and the payload's offset in the input (for errors).
pub struct Job<'a> {
    pub offset: u64,
    pub kind: PacketKind,
    pub payload: &'a [u8],
}

#[derive(Default)]
struct Slot {
    decompressor: Decompressor,
    events: Vec<Event>,
    triggers: Vec<Trigger>,
    /// The packet's error, if any.
    error: Option<String>,
}

/// Per-task decompressors and buffers, kept between runs.
#[derive(Default)]
pub struct Pool {
    slots: Vec<Slot>,
}

/// Packets per run: a few per thread so uneven packets balance. 0 (decode sequentially) when
/// the pool has one thread, or when this decoder already runs inside a rayon task (as
/// `classify` reads files in parallel): the cores are busy, and the copy out of the task
/// buffers would be pure cost.
pub fn width() -> usize {
    match rayon::current_num_threads() {
        0 | 1 => 0,
        _ if rayon::current_thread_index().is_some() => 0,
        n => 4 * n,
    }
}

impl Pool {
    /// Decodes `jobs` (consecutive packets) and appends their events to `out` and triggers to
    /// `triggers`, in packet order. On the first bad packet, `Err((index, reason))` after
    /// appending what the packets before it and its own good events hold, as the sequential
    /// path does.
    pub fn run(&mut self, compression: Compression, limit: usize, jobs: &[Job], out: &mut Vec<Event>, triggers: &mut Vec<Trigger>) -> Result<(), (usize, String)> {
        if self.slots.len() < jobs.len() {
            self.slots.resize_with(jobs.len(), Slot::default);
        }
        let slots = &mut self.slots[..jobs.len()];
        slots.par_iter_mut().zip(jobs).for_each(|(slot, job)| {
            slot.events.clear();
            slot.triggers.clear();
            let result = match job.kind {
                PacketKind::Events => packet::event_packet(&mut slot.decompressor, compression, job.payload, limit, &mut slot.events),
                PacketKind::Triggers => packet::trigger_packet(&mut slot.decompressor, compression, job.payload, limit, &mut slot.triggers),
                PacketKind::Other => Ok(()),
            };
            slot.error = result.err();
        });
        let failed = slots.iter().position(|s| s.error.is_some());
        let used = &slots[..failed.map_or(jobs.len(), |i| i + 1)];
        let total: usize = used.iter().map(|s| s.events.len()).sum();
        let first = out.capacity() == 0;
        out.reserve(total);
        if first {
            advise_huge_pages(out);
        }
        let len = out.len();
        let mut spare = &mut out.spare_capacity_mut()[..total];
        let mut places = Vec::with_capacity(used.len());
        for slot in used {
            let (place, rest) = spare.split_at_mut(slot.events.len());
            places.push(place);
            spare = rest;
        }
        places.into_par_iter().zip(used).for_each(|(place, slot)| {
            place.write_copy_of_slice(&slot.events);
        });
        // SAFETY: the `total` spare slots after `len` were all written just above (the places
        // tile them), and `reserve` made room for them.
        unsafe { out.set_len(len + total) };
        for slot in used {
            triggers.extend_from_slice(&slot.triggers);
        }
        match failed {
            Some(i) => Err((i, self.slots[i].error.take().unwrap_or_default())),
            None => Ok(()),
        }
    }
}

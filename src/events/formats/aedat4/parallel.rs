//! Decoding a run of whole AEDAT4 packets on the rayon pool: packets are independent (each
//! payload is its own LZ4 or zstd frame), so each task decompresses and parses one packet into
//! its own buffers, then every task copies its events into its place in the caller's vector.
//! Order, partial output and errors are those of decoding the packets one by one.
//!
//! The decoder state machine (`decoder.rs`) finds the run and keeps offsets and counters;
//! [`Parallelism`] says when it comes here (by default only with 4 or more rayon threads). The
//! parallel path costs about 40 % more CPU time in all (task buffers, the copy, idle workers)
//! for the wall time it can save on idle cores.

use std::sync::atomic::{AtomicU8, Ordering};

use rayon::prelude::*;

use super::compression::{Compression, Decompressor};
use super::packet;
use crate::events::formats::carry::advise_huge_pages;
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

/// When AEDAT4 decoders decode runs of whole compressed packets on the rayon pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    /// With 4 or more rayon threads, outside rayon tasks (the default). On the 2-core machines
    /// this project is built on, under load, 2 threads decoded LZ4 slower in wall time than one
    /// (BENCHMARKS.md), and inside a rayon task (as `classify` reading files in parallel) the
    /// cores are busy already, so the copy out of the task buffers would be pure cost.
    Auto,
    Never,
    /// Whenever a chunk holds two or more whole event packets (tests use this to cover the path
    /// on any machine).
    Always,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets [`Parallelism`] for every AEDAT4 decoder of the process.
pub fn set_parallelism(mode: Parallelism) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// Packets per run: a few per thread so uneven packets balance; 0 to decode one by one.
pub fn width() -> usize {
    let threads = rayon::current_num_threads();
    match MODE.load(Ordering::Relaxed) {
        m if m == Parallelism::Never as u8 => 0,
        m if m == Parallelism::Always as u8 => 4 * threads.max(2),
        _ if threads < 4 || rayon::current_thread_index().is_some() => 0,
        _ => 4 * threads,
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

//! Where each frame starts and ends: half-open event-index ranges, computed exactly as the
//! reference code does (numbers in `../shared/reference/event-formats.md` §4, golden vectors in
//! `binning_golden.json`).
//!
//! The two references disagree on purpose-relevant details, so each is its own variant:
//! - SpikingJelly `split_by='number'`: `di = N // T`, frame i = `[i·di, (i+1)·di)`, the last
//!   frame takes the remainder; `split_by='time'`: `dt = (t_last − t_first) // T`, frame i holds
//!   events with `t_l ≤ t < t_l + dt`, the last frame also takes everything after, and an empty
//!   bin is an error (SpikingJelly raises IndexError);
//! - SpikingJelly fixed duration: 2.0.0 bins by `(t − t_min) // d` with the remainder in the last
//!   frame; 0.0.0.0.14 is greedy (each frame starts at its first event and takes `t − t_l ≤ d`);
//! - tonic `ToFrame`: `time_window`, `event_count`, `n_time_bins`, `n_event_bins`, each with
//!   overlap; windows are `[start, end)` found with `searchsorted(side='left')`, computed in f64
//!   like numpy, and events after the last window are dropped (often the very last event).

use std::ops::Range;

use super::FrameError;
use super::timeline::{Events, Timeline, time_ranges};
use crate::events::Event;

/// Which SpikingJelly release's fixed-duration semantics to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SjVersion {
    /// 2.0.0: bins of `(t − t_min) // duration`, remainder in the last frame.
    V2,
    /// 0.0.0.0.14 (the IMP-SNN pin's lineage): greedy windows starting at each frame's first event.
    Legacy,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slicing {
    /// SpikingJelly `split_by='number'` into `frames` frames.
    SjNumber { frames: usize },
    /// SpikingJelly `split_by='time'` into `frames` frames.
    SjTime { frames: usize },
    /// SpikingJelly `integrate_events_by_fixed_duration`.
    SjDuration { duration_us: u64, version: SjVersion },
    /// tonic `time_window` (µs) with `overlap` (µs).
    TonicTimeWindow { window: f64, overlap: f64, include_incomplete: bool },
    /// tonic `event_count` with `overlap` (events).
    TonicEventCount { count: usize, overlap: usize, include_incomplete: bool },
    /// tonic `n_time_bins` with `overlap` (fraction of a bin, in [0, 1)).
    TonicTimeBins { bins: usize, overlap: f64 },
    /// tonic `n_event_bins` with `overlap` (fraction of a bin, in [0, 1)).
    TonicEventBins { bins: usize, overlap: f64 },
}

/// The event-index range of every frame. Ranges are clipped to `events.len()`.
pub fn slice(events: &[Event], slicing: Slicing) -> Result<Vec<Range<usize>>, FrameError> {
    if let Some(ranges) = by_count(events.len(), slicing) {
        return ranges;
    }
    ranges(&mut Events::new(events), slicing)
}

/// The event-index range of every frame of a recording given as a [`Timeline`] (in memory or
/// read from a file pass by pass), clipped to its length.
pub fn ranges<T: Timeline>(timeline: &mut T, slicing: Slicing) -> Result<Vec<Range<usize>>, T::Error> {
    let n = timeline.stats().events;
    let ranges = match by_count(n, slicing) {
        Some(ranges) => ranges?,
        None => time_ranges(timeline, slicing).unwrap_or(Ok(Vec::new()))?,
    };
    Ok(clip(ranges, n))
}

fn clip(mut ranges: Vec<Range<usize>>, n: usize) -> Vec<Range<usize>> {
    for r in &mut ranges {
        *r = r.start.min(n)..r.end.min(n).max(r.start.min(n));
    }
    ranges
}

/// The ranges of the slicings that depend only on the event count `n` (SpikingJelly `number`,
/// tonic event count and event bins), `None` for those that need timestamps: a streaming reader
/// can frame a file from its count alone ([`super::framing::Framing::frames_from_file`]).
pub fn by_count(n: usize, slicing: Slicing) -> Option<Result<Vec<Range<usize>>, FrameError>> {
    matches!(slicing, Slicing::SjNumber { .. } | Slicing::TonicEventCount { .. } | Slicing::TonicEventBins { .. }).then(|| count_ranges(n, slicing))
}

fn count_ranges(n: usize, slicing: Slicing) -> Result<Vec<Range<usize>>, FrameError> {
    let bad = |what, reason: &str| Err(FrameError::BadSlicing { what, reason: reason.to_string() });
    let ranges: Vec<Range<usize>> = match slicing {
        Slicing::SjNumber { frames } => {
            if frames == 0 {
                return bad("by number", "zero frames");
            }
            let frames = frame_count("by number", frames as u64)?;
            let di = n / frames;
            (0..frames).map(|i| i * di..if i + 1 == frames { n } else { (i + 1) * di }).collect()
        }
        Slicing::TonicEventCount { count, overlap, include_incomplete } => {
            if count <= overlap {
                return bad("by event count", "event_count − overlap must be positive");
            }
            let stride = count - overlap;
            let k = count.min(n);
            let frames = frame_count("by event count", (if include_incomplete { (n - k).div_ceil(stride) + 1 } else { (n - k) / stride + 1 }) as u64)?;
            (0..frames).map(|i| i * stride..i * stride + k).collect()
        }
        Slicing::TonicEventBins { bins, overlap } => {
            if bins == 0 || !(0.0..1.0).contains(&overlap) {
                return bad("by event bins", "need bins > 0 and 0 ≤ overlap < 1");
            }
            let bins = frame_count("by event bins", bins as u64)?;
            let count = ((n / bins) as f64 * (1.0 + overlap)) as usize;
            let stride = (count as f64 * (1.0 - overlap)) as usize;
            (0..bins).map(|i| i * stride..i * stride + count).collect()
        }
        _ => Vec::new(),
    };
    Ok(clip(ranges, n))
}

/// A frame count computed from the slicing and the events, checked against
/// [`crate::limits::MAX_FRAMES`] before anything of that length is allocated.
pub(super) fn frame_count(what: &'static str, frames: u64) -> Result<usize, FrameError> {
    crate::limits::count(|| format!("the number of frames from slicing {what}"), frames, crate::limits::MAX_FRAMES).map_err(FrameError::from)
}

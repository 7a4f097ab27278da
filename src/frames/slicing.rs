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
    let n = events.len();
    let bad = |what, reason: &str| Err(FrameError::BadSlicing { what, reason: reason.to_string() });
    let mut ranges = match slicing {
        Slicing::SjTime { frames } => sj_time(events, frames)?,
        Slicing::SjDuration { duration_us, version } => {
            if duration_us == 0 {
                return bad("by duration", "zero duration");
            }
            match version {
                SjVersion::V2 => sj_duration_v2(events, duration_us)?,
                SjVersion::Legacy => sj_duration_legacy(events, duration_us)?,
            }
        }
        Slicing::TonicTimeWindow { window, overlap, include_incomplete } => {
            let stride = window - overlap;
            if !(stride > 0.0) {
                return bad("by time window", "time_window − overlap must be positive");
            }
            if n == 0 {
                return Ok(Vec::new());
            }
            check_sorted(events)?;
            let (start, end) = (events[0].t as f64, events[n - 1].t as f64);
            let k = (end - start - window) / stride + 1.0;
            let count = frame_count("by time window (window_us)", (if include_incomplete { k.ceil() } else { k.floor() }).max(1.0) as u64)?;
            (0..count)
                .map(|i| {
                    let s = i as f64 * stride + start;
                    search(events, s)..search(events, s + window)
                })
                .collect()
        }
        Slicing::TonicTimeBins { bins, overlap } => {
            if bins == 0 || !(0.0..1.0).contains(&overlap) {
                return bad("by time bins", "need bins > 0 and 0 ≤ overlap < 1");
            }
            let bins = frame_count("by time bins", bins as u64)?;
            if n == 0 {
                return Ok(vec![0..0; bins]);
            }
            check_sorted(events)?;
            let t0 = events[0].t;
            let dt = ((events[n - 1].t - t0) / bins as u64) as f64 * (1.0 + overlap);
            let stride = dt * (1.0 - overlap);
            (0..bins)
                .map(|i| {
                    let s = i as f64 * stride + t0 as f64;
                    search(events, s)..search(events, s + dt)
                })
                .collect()
        }
        Slicing::SjNumber { .. } | Slicing::TonicEventCount { .. } | Slicing::TonicEventBins { .. } => Vec::new(), // by_count above
    };
    for r in &mut ranges {
        *r = r.start.min(n)..r.end.min(n).max(r.start.min(n));
    }
    Ok(ranges)
}

/// The ranges of the slicings that depend only on the event count `n` (SpikingJelly `number`,
/// tonic event count and event bins), `None` for those that need timestamps: a streaming reader
/// can frame a file from its count alone ([`super::framing::Framing::frames_from_file`]).
pub fn by_count(n: usize, slicing: Slicing) -> Option<Result<Vec<Range<usize>>, FrameError>> {
    matches!(slicing, Slicing::SjNumber { .. } | Slicing::TonicEventCount { .. } | Slicing::TonicEventBins { .. }).then(|| count_ranges(n, slicing))
}

fn count_ranges(n: usize, slicing: Slicing) -> Result<Vec<Range<usize>>, FrameError> {
    let bad = |what, reason: &str| Err(FrameError::BadSlicing { what, reason: reason.to_string() });
    let mut ranges: Vec<Range<usize>> = match slicing {
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
    for r in &mut ranges {
        *r = r.start.min(n)..r.end.min(n).max(r.start.min(n));
    }
    Ok(ranges)
}

/// A frame count computed from the slicing and the events, checked against
/// [`crate::limits::MAX_FRAMES`] before anything of that length is allocated.
fn frame_count(what: &'static str, frames: u64) -> Result<usize, FrameError> {
    crate::limits::count(|| format!("the number of frames from slicing {what}"), frames, crate::limits::MAX_FRAMES).map_err(FrameError::from)
}

/// numpy `searchsorted(t, value, side='left')` with numpy's int64-vs-float64 comparison.
fn search(events: &[Event], value: f64) -> usize {
    events.partition_point(|e| (e.t as f64) < value)
}

fn check_sorted(events: &[Event]) -> Result<(), FrameError> {
    match events.windows(2).position(|w| w[1].t < w[0].t) {
        None => Ok(()),
        Some(i) => Err(FrameError::Unsorted { index: i + 1, t: events[i + 1].t, previous: events[i].t }),
    }
}

fn sj_time(events: &[Event], frames: usize) -> Result<Vec<Range<usize>>, FrameError> {
    let n = events.len();
    if frames == 0 || n == 0 {
        return Err(FrameError::BadSlicing { what: "by time", reason: format!("{frames} frames of {n} events") });
    }
    let frames = frame_count("by time", frames as u64)?;
    let t0 = events[0].t;
    let dt = events[n - 1].t.saturating_sub(t0) / frames as u64;
    let mut ranges = Vec::with_capacity(frames);
    for i in 0..frames {
        let (t_l, t_r) = (t0 + dt * i as u64, t0 + dt * (i as u64 + 1));
        // SpikingJelly masks t_l <= t < t_r and takes the first and last index of the mask.
        let first = events.iter().position(|e| e.t >= t_l && e.t < t_r);
        let last = events.iter().rposition(|e| e.t >= t_l && e.t < t_r);
        match (first, last) {
            (Some(a), Some(b)) => ranges.push(a..b + 1),
            _ => return Err(FrameError::EmptyTimeBin { bin: i, bins: frames, t_from: t_l, t_to: t_r }),
        }
    }
    ranges[frames - 1].end = n;
    Ok(ranges)
}

fn sj_duration_v2(events: &[Event], duration: u64) -> Result<Vec<Range<usize>>, FrameError> {
    let n = events.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    check_sorted(events)?;
    let t_min = events[0].t;
    let span = events[n - 1].t - t_min;
    let frames = span.div_ceil(duration);
    if frames == 0 {
        return Err(FrameError::BadSlicing { what: "by duration", reason: "all events share one timestamp (SpikingJelly 2.0.0 fails here too)".into() });
    }
    let frames = frame_count("by duration (duration_us)", frames)?;
    let mut ranges = Vec::with_capacity(frames);
    let mut start = 0;
    for i in 0..frames - 1 {
        let end = events.partition_point(|e| (e.t - t_min) / duration <= i as u64);
        ranges.push(start..end);
        start = end;
    }
    ranges.push(start..n);
    Ok(ranges)
}

fn sj_duration_legacy(events: &[Event], duration: u64) -> Result<Vec<Range<usize>>, FrameError> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < events.len() {
        frame_count("by duration (duration_us)", ranges.len() as u64 + 1)?;
        let t_l = events[start].t;
        let end = start + events[start..].iter().position(|e| e.t.saturating_sub(t_l) > duration).unwrap_or(events.len() - start);
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

//! The time-based slicings (SpikingJelly `split_by='time'` and fixed duration, tonic time
//! windows and time bins) as passes over a recording's timestamps, so that a file can be framed
//! without holding its events: the same ranges from events in memory ([`Events`]) and from a
//! file read batch by batch ([`super::streamed::FileTimeline`]).
//!
//! Each slicing needs the recording's length, first and last timestamps and whether it is
//! sorted ([`TimeStats`], from one pass), then at most one more pass in event order that finds
//! the frame boundaries; memory is the ranges, bounded by [`crate::limits::MAX_FRAMES`]. The
//! rules (numbers in `../shared/reference/event-formats.md` §4) are documented on
//! [`super::Slicing`]; this module owns how they are computed.

use std::ops::Range;

use super::slicing::{SjVersion, Slicing, frame_count};
use super::FrameError;
use crate::events::Event;

/// What one pass over the timestamps tells before any frame boundary is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeStats {
    pub events: usize,
    pub first: u64,
    pub last: u64,
    /// The first event earlier than the one before it: (index, t, previous t).
    pub unsorted: Option<(usize, u64, u64)>,
}

impl TimeStats {
    /// Takes the next timestamp in event order.
    pub fn push(&mut self, t: u64) {
        if self.events == 0 {
            self.first = t;
        } else if t < self.last && self.unsorted.is_none() {
            self.unsorted = Some((self.events, t, self.last));
        }
        self.last = t;
        self.events += 1;
    }

    fn check_sorted(&self) -> Result<(), FrameError> {
        match self.unsorted {
            None => Ok(()),
            Some((index, t, previous)) => Err(FrameError::Unsorted { index, t, previous }),
        }
    }
}

/// A recording's timestamps, in event order, as often as a slicing needs them.
pub trait Timeline {
    type Error: From<FrameError>;
    fn stats(&self) -> TimeStats;
    /// Calls `f(index, t)` for every event, in order.
    fn pass(&mut self, f: &mut dyn FnMut(usize, u64)) -> Result<(), Self::Error>;
}

/// Events in memory as a [`Timeline`].
pub struct Events<'a> {
    events: &'a [Event],
    stats: TimeStats,
}

impl<'a> Events<'a> {
    pub fn new(events: &'a [Event]) -> Self {
        let mut stats = TimeStats::default();
        events.iter().for_each(|e| stats.push(e.t));
        Self { events, stats }
    }
}

impl Timeline for Events<'_> {
    type Error = FrameError;
    fn stats(&self) -> TimeStats {
        self.stats
    }
    fn pass(&mut self, f: &mut dyn FnMut(usize, u64)) -> Result<(), FrameError> {
        self.events.iter().enumerate().for_each(|(i, e)| f(i, e.t));
        Ok(())
    }
}

/// The event-index range of every frame of a time-based slicing (`None` for the count-based
/// ones, which [`super::slicing::by_count`] computes from the length alone). Not yet clipped.
pub fn time_ranges<T: Timeline>(timeline: &mut T, slicing: Slicing) -> Option<Result<Vec<Range<usize>>, T::Error>> {
    let s = timeline.stats();
    let bad = |what, reason: &str| Err(FrameError::BadSlicing { what, reason: reason.to_string() }.into());
    Some(match slicing {
        Slicing::SjTime { frames } => sj_time(timeline, frames),
        Slicing::SjDuration { duration_us: 0, .. } => bad("by duration", "zero duration"),
        Slicing::SjDuration { duration_us, version: SjVersion::V2 } => sj_duration_v2(timeline, duration_us),
        Slicing::SjDuration { duration_us, version: SjVersion::Legacy } => sj_duration_legacy(timeline, duration_us),
        Slicing::TonicTimeWindow { window, overlap, include_incomplete } => {
            let stride = window - overlap;
            if !(stride > 0.0) {
                return Some(bad("by time window", "time_window − overlap must be positive"));
            }
            if s.events == 0 {
                return Some(Ok(Vec::new()));
            }
            (|| {
                s.check_sorted()?;
                let (start, end) = (s.first as f64, s.last as f64);
                let k = (end - start - window) / stride + 1.0;
                let count = frame_count("by time window (window_us)", (if include_incomplete { k.ceil() } else { k.floor() }).max(1.0) as u64)?;
                Ok((0..count).map(|i| i as f64 * stride + start).collect::<Vec<_>>())
            })()
            .map_err(T::Error::from)
            .and_then(|starts| windows(timeline, &starts, window))
        }
        Slicing::TonicTimeBins { bins, overlap } => {
            if bins == 0 || !(0.0..1.0).contains(&overlap) {
                return Some(bad("by time bins", "need bins > 0 and 0 ≤ overlap < 1"));
            }
            (|| {
                let bins = frame_count("by time bins", bins as u64)?;
                if s.events > 0 {
                    s.check_sorted()?;
                }
                Ok(bins)
            })()
            .map_err(T::Error::from)
            .and_then(|bins| {
                if s.events == 0 {
                    return Ok(vec![0..0; bins]);
                }
                let dt = ((s.last - s.first) / bins as u64) as f64 * (1.0 + overlap);
                let stride = dt * (1.0 - overlap);
                let starts: Vec<f64> = (0..bins).map(|i| i as f64 * stride + s.first as f64).collect();
                windows(timeline, &starts, dt)
            })
        }
        Slicing::SjNumber { .. } | Slicing::TonicEventCount { .. } | Slicing::TonicEventBins { .. } => return None,
    })
}

/// tonic's windows `[searchsorted(s), searchsorted(s + width))` for every start `s`, with
/// numpy's `searchsorted(side='left')` on sorted timestamps: the number of events whose
/// timestamp, as f64 (numpy compares int64 with float64 so), is below the value.
fn windows<T: Timeline>(timeline: &mut T, starts: &[f64], width: f64) -> Result<Vec<Range<usize>>, T::Error> {
    let mut values: Vec<(f64, usize)> = Vec::with_capacity(starts.len() * 2);
    for (i, &s) in starts.iter().enumerate() {
        values.push((s, 2 * i));
        values.push((s + width, 2 * i + 1));
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = timeline.stats().events;
    let mut below = vec![n; values.len()];
    let mut next = 0;
    timeline.pass(&mut |i, t| {
        while next < values.len() && (t as f64) >= values[next].0 {
            below[values[next].1] = i;
            next += 1;
        }
    })?;
    Ok((0..starts.len()).map(|i| below[2 * i]..below[2 * i + 1]).collect())
}

/// SpikingJelly `split_by='time'`: `dt = (t_last − t_first) // T`; frame i runs from the first
/// to the last event with `t_l ≤ t < t_l + dt` (SpikingJelly takes the first and last index of
/// that mask, so unsorted events between them count too), the last frame also takes every
/// event after; an empty bin is an error, as SpikingJelly's IndexError.
fn sj_time<T: Timeline>(timeline: &mut T, frames: usize) -> Result<Vec<Range<usize>>, T::Error> {
    let s = timeline.stats();
    if frames == 0 || s.events == 0 {
        return Err(FrameError::BadSlicing { what: "by time", reason: format!("{frames} frames of {} events", s.events) }.into());
    }
    let frames = frame_count("by time", frames as u64)?;
    let (t0, dt) = (s.first, s.last.saturating_sub(s.first) / frames as u64);
    let mut bounds: Vec<Option<(usize, usize)>> = vec![None; frames];
    if dt > 0 {
        timeline.pass(&mut |i, t| {
            if t >= t0 {
                let bin = (t - t0) / dt;
                if bin < frames as u64 {
                    let b = &mut bounds[bin as usize];
                    *b = Some(b.map_or((i, i), |(first, _)| (first, i)));
                }
            }
        })?;
    }
    let mut ranges = Vec::with_capacity(frames);
    for (i, b) in bounds.iter().enumerate() {
        match b {
            Some((first, last)) => ranges.push(*first..last + 1),
            None => {
                let t_from = t0 + dt * i as u64;
                return Err(FrameError::EmptyTimeBin { bin: i, bins: frames, t_from, t_to: t_from + dt }.into());
            }
        }
    }
    ranges[frames - 1].end = s.events;
    Ok(ranges)
}

/// SpikingJelly 2.0.0 fixed duration: frame i holds the events with `(t − t_min) // d == i`,
/// the last frame the remainder; sorted events only.
fn sj_duration_v2<T: Timeline>(timeline: &mut T, duration: u64) -> Result<Vec<Range<usize>>, T::Error> {
    let s = timeline.stats();
    if s.events == 0 {
        return Ok(Vec::new());
    }
    s.check_sorted()?;
    let frames = (s.last - s.first).div_ceil(duration);
    if frames == 0 {
        return Err(FrameError::BadSlicing { what: "by duration", reason: "all events share one timestamp (SpikingJelly 2.0.0 fails here too)".into() }.into());
    }
    let frames = frame_count("by duration (duration_us)", frames)?;
    let mut counts = vec![0usize; frames];
    timeline.pass(&mut |_, t| counts[(((t - s.first) / duration) as usize).min(frames - 1)] += 1)?;
    let mut start = 0;
    Ok(counts
        .iter()
        .map(|&c| {
            start += c;
            start - c..start
        })
        .collect())
}

/// SpikingJelly 0.0.0.0.14 fixed duration: greedy, each frame starts at its first event and
/// takes the events with `t − t_l ≤ d` (saturating, so an earlier event stays in the frame).
fn sj_duration_legacy<T: Timeline>(timeline: &mut T, duration: u64) -> Result<Vec<Range<usize>>, T::Error> {
    let n = timeline.stats().events;
    let (mut ranges, mut start, mut t_l, mut refused) = (Vec::new(), 0, 0, None);
    timeline.pass(&mut |i, t| {
        if refused.is_some() {
            return;
        }
        if i == 0 {
            t_l = t;
        } else if t.saturating_sub(t_l) > duration {
            match frame_count("by duration (duration_us)", ranges.len() as u64 + 2) {
                Ok(_) => ranges.push(start..i),
                Err(e) => refused = Some(e),
            }
            (start, t_l) = (i, t);
        }
    })?;
    if let Some(e) = refused {
        return Err(e.into());
    }
    if n > 0 {
        ranges.push(start..n);
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::slice;

    /// The rules as SpikingJelly and tonic state them, over the whole event array (the code
    /// this module replaced): scans and binary searches instead of passes.
    fn direct(events: &[Event], slicing: Slicing) -> Result<Vec<Range<usize>>, FrameError> {
        let n = events.len();
        let search = |v: f64| events.partition_point(|e| (e.t as f64) < v);
        Ok(match slicing {
            Slicing::SjTime { frames } => {
                let t0 = events[0].t;
                let dt = events[n - 1].t.saturating_sub(t0) / frames as u64;
                let mut ranges = Vec::new();
                for i in 0..frames as u64 {
                    let (t_l, t_r) = (t0 + dt * i, t0 + dt * (i + 1));
                    let first = events.iter().position(|e| e.t >= t_l && e.t < t_r);
                    let last = events.iter().rposition(|e| e.t >= t_l && e.t < t_r);
                    match (first, last) {
                        (Some(a), Some(b)) => ranges.push(a..b + 1),
                        _ => return Err(FrameError::EmptyTimeBin { bin: i as usize, bins: frames, t_from: t_l, t_to: t_r }),
                    }
                }
                ranges[frames - 1].end = n;
                ranges
            }
            Slicing::SjDuration { duration_us: d, version: SjVersion::Legacy } => {
                let (mut ranges, mut start) = (Vec::new(), 0);
                while start < n {
                    let t_l = events[start].t;
                    let end = start + events[start..].iter().position(|e| e.t.saturating_sub(t_l) > d).unwrap_or(n - start);
                    ranges.push(start..end);
                    start = end;
                }
                ranges
            }
            Slicing::SjDuration { duration_us: d, version: SjVersion::V2 } => {
                let t_min = events[0].t;
                let frames = (events[n - 1].t - t_min).div_ceil(d) as usize;
                if frames == 0 {
                    return Err(FrameError::BadSlicing { what: "by duration", reason: "all events share one timestamp (SpikingJelly 2.0.0 fails here too)".into() });
                }
                let mut start = 0;
                let mut ranges: Vec<_> = (0..frames - 1)
                    .map(|i| {
                        let end = events.partition_point(|e| (e.t - t_min) / d <= i as u64);
                        let r = start..end;
                        start = end;
                        r
                    })
                    .collect();
                ranges.push(start..n);
                ranges
            }
            Slicing::TonicTimeWindow { window, overlap, include_incomplete } => {
                let (start, end, stride) = (events[0].t as f64, events[n - 1].t as f64, window - overlap);
                let k = (end - start - window) / stride + 1.0;
                let count = (if include_incomplete { k.ceil() } else { k.floor() }).max(1.0) as usize;
                (0..count).map(|i| search(i as f64 * stride + start)..search(i as f64 * stride + start + window)).collect()
            }
            Slicing::TonicTimeBins { bins, overlap } => {
                let t0 = events[0].t;
                let dt = ((events[n - 1].t - t0) / bins as u64) as f64 * (1.0 + overlap);
                let stride = dt * (1.0 - overlap);
                (0..bins).map(|i| search(i as f64 * stride + t0 as f64)..search(i as f64 * stride + t0 as f64 + dt)).collect()
            }
            _ => unreachable!("count-based"),
        })
    }

    #[test]
    fn passes_give_the_ranges_the_rules_state_on_random_recordings() {
        let mut rng = crate::rng::Rng::new(7);
        let time = [
            Slicing::SjTime { frames: 5 },
            Slicing::SjDuration { duration_us: 40, version: SjVersion::V2 },
            Slicing::SjDuration { duration_us: 40, version: SjVersion::Legacy },
            Slicing::TonicTimeWindow { window: 55.0, overlap: 20.0, include_incomplete: false },
            Slicing::TonicTimeWindow { window: 55.0, overlap: 20.0, include_incomplete: true },
            Slicing::TonicTimeBins { bins: 4, overlap: 0.3 },
        ];
        let mut checked = 0;
        for round in 0..300 {
            let n = 1 + rng.below(60) as usize;
            let mut t = 0u64;
            let events: Vec<Event> = (0..n)
                .map(|_| {
                    t += rng.below(12) as u64;
                    // Every third recording has a few timestamps that step back.
                    let back = if round % 3 == 0 && rng.below(8) == 0 { rng.below(30) as u64 } else { 0 };
                    Event::new(t.saturating_sub(back), 0, 0, true)
                })
                .collect();
            let sorted = events.windows(2).all(|w| w[0].t <= w[1].t);
            for slicing in time {
                let needs_sorted = !matches!(slicing, Slicing::SjTime { .. } | Slicing::SjDuration { version: SjVersion::Legacy, .. });
                let got = slice(&events, slicing);
                if needs_sorted && !sorted {
                    assert!(matches!(got, Err(FrameError::Unsorted { .. })), "{slicing:?} on unsorted events: {got:?}");
                    continue;
                }
                match direct(&events, slicing) {
                    Ok(want) => {
                        let want: Vec<_> = want.into_iter().map(|r| r.start.min(n)..r.end.min(n).max(r.start.min(n))).collect();
                        assert_eq!(got.as_ref().ok(), Some(&want), "{slicing:?} on {:?}", events.iter().map(|e| e.t).collect::<Vec<_>>());
                        checked += 1;
                    }
                    Err(e) => assert_eq!(got, Err(e), "{slicing:?}"),
                }
            }
        }
        assert!(checked > 1000, "only {checked} comparisons ran");
    }
}

//! Frames straight from a recording file, without holding its events: a 2 GB EVT2 file read
//! whole took 10 GB of memory to make a few frames.
//!
//! [`FileTimeline::open`] takes the number of events, the first and last timestamps and the
//! sensor size from a first pass of the streaming [`EventReader`] (decoding, keeping nothing).
//! Count-based slicing needs nothing more; time-based slicing finds its frame boundaries in a
//! second pass ([`super::timeline`]); [`bin_file`] bins a last pass batch by batch into the
//! frames whose event-index ranges each batch meets. Memory is the output tensor plus one batch
//! (about 16 MiB) whatever the size of the file. Owns the passes; the ranges and the binning
//! rule are [`super::slicing`]'s, [`super::timeline`]'s and [`super::bin`]'s.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::bin::{Polarity, accumulate};
use super::timeline::{TimeStats, Timeline};
use super::{FrameError, Frames, Slicing};
use crate::events::ReadOptions;
use crate::events::{EventReader, ReadError, Resolution};

/// What a pass over a file can report.
#[derive(Debug, thiserror::Error)]
pub enum FileFramesError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Frames(#[from] FrameError),
}

/// Whether `path` can be read twice (a regular file); a pipe delivers its bytes once, so its
/// callers read it whole instead.
pub fn rereadable(path: &Path) -> bool {
    matches!(crate::events::io::input::InputKind::of(path), Ok(crate::events::io::input::InputKind::File))
}

/// A recording file as a [`Timeline`]: [`FileTimeline::open`] reads it once for its length,
/// first and last timestamps and sensor size, and every further pass decodes it again batch by
/// batch, keeping only the timestamps of one batch.
pub struct FileTimeline {
    path: PathBuf,
    options: ReadOptions,
    stats: TimeStats,
    resolution: Option<Resolution>,
}

impl FileTimeline {
    pub fn open(path: &Path, options: ReadOptions) -> Result<Self, ReadError> {
        let mut timeline = Self { path: path.to_path_buf(), options, stats: TimeStats::default(), resolution: None };
        let mut stats = TimeStats::default();
        timeline.resolution = timeline.read(&mut |_, t| stats.push(t))?;
        timeline.stats = stats;
        Ok(timeline)
    }

    /// The number of events.
    pub fn events(&self) -> usize {
        self.stats.events
    }

    /// The sensor size from the header or the read options.
    pub fn resolution(&self) -> Option<Resolution> {
        self.resolution
    }

    /// The time from the first event to the last.
    pub fn span(&self) -> u64 {
        self.stats.last.saturating_sub(self.stats.first)
    }

    /// The frames' event-index ranges for `slicing` ([`super::slicing::ranges`]): no further
    /// pass for the count-based slicings, one for the time-based ones.
    pub fn ranges(&mut self, slicing: Slicing) -> Result<Vec<Range<usize>>, FileFramesError> {
        super::slicing::ranges(self, slicing)
    }

    fn read(&self, f: &mut dyn FnMut(usize, u64)) -> Result<Option<Resolution>, ReadError> {
        let mut reader = EventReader::open(&self.path, self.options)?;
        let (mut batch, mut at) = (Vec::new(), 0);
        while reader.next_batch(&mut batch)? {
            batch.iter().enumerate().for_each(|(i, e)| f(at + i, e.t));
            at += batch.len();
        }
        Ok(reader.resolution())
    }
}

impl Timeline for FileTimeline {
    type Error = FileFramesError;
    fn stats(&self) -> TimeStats {
        self.stats
    }
    fn pass(&mut self, f: &mut dyn FnMut(usize, u64)) -> Result<(), FileFramesError> {
        self.read(f)?;
        Ok(())
    }
}

/// Bins the events of `path` into one frame per range of event indices (in any order; they may
/// overlap), reading it batch by batch.
/// Events outside `sensor` are an error naming the event, as in [`super::bin_slices`].
pub fn bin_file(path: &Path, options: ReadOptions, ranges: &[Range<usize>], sensor: Resolution, polarity: Polarity) -> Result<Frames, FileFramesError> {
    bin_batches(EventReader::open(path, options)?, ranges, sensor, polarity)
}

fn bin_batches(mut reader: EventReader, ranges: &[Range<usize>], sensor: Resolution, polarity: Polarity) -> Result<Frames, FileFramesError> {
    let (w, h) = (usize::from(sensor.width), usize::from(sensor.height));
    if w == 0 || h == 0 {
        return Err(FrameError::EmptySensor { width: w, height: h }.into());
    }
    let mut frames = Frames::try_zeros(ranges.len(), polarity.channels(), h, w, || format!("{} frames of the {w}x{h} sensor", ranges.len()))?;
    let (mut batch, mut at) = (Vec::new(), 0usize);
    let (mut on, mut off) = (false, false);
    // Frames in the order of their first event (SpikingJelly's time bins of unsorted events
    // need not start in frame order); those before `first` ended before the current batch.
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut first = 0;
    while reader.next_batch(&mut batch)? {
        let end = at + batch.len();
        if polarity == Polarity::Single {
            on |= batch.iter().any(|e| e.p);
            off |= batch.iter().any(|e| !e.p);
            if on && off {
                return Err(FrameError::TwoPolarities.into());
            }
        }
        while first < order.len() && ranges[order[first]].end <= at {
            first += 1;
        }
        for &i in &order[first..] {
            let r = &ranges[i];
            if r.start >= end {
                break;
            }
            let (from, to) = (r.start.max(at), r.end.min(end));
            if from < to {
                accumulate(&batch[from - at..to - at], from, frames.frame_mut(i), sensor, polarity)?;
            }
        }
        at = end;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::events::formats::aedat4::{Aedat4Writer, WriterOptions};
    use crate::frames::slicing::SjVersion;
    use crate::frames::{bin_slices, slice};

    #[test]
    fn file_passes_give_the_frames_of_the_whole_recording_for_every_slicing() {
        let sensor = Resolution::new(20, 10);
        let events: Vec<Event> = (0..5000u64).map(|i| Event::new(i * 3, (i * 7 % 20) as u16, (i * 3 % 10) as u16, i % 3 == 0)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.aedat4");
        let options = WriterOptions { packet_events: 300, ..WriterOptions::new(sensor) };
        let mut w = Aedat4Writer::new(std::fs::File::create(&path).unwrap(), options).unwrap();
        w.write_events(&events).unwrap();
        w.finish().unwrap();
        let mut timeline = FileTimeline::open(&path, ReadOptions::default()).unwrap();
        assert_eq!((timeline.events(), timeline.resolution(), timeline.span()), (5000, Some(sensor), 4999 * 3));
        for slicing in [
            Slicing::SjNumber { frames: 7 },
            Slicing::TonicEventCount { count: 700, overlap: 200, include_incomplete: true },
            Slicing::TonicEventBins { bins: 6, overlap: 0.5 },
            Slicing::SjTime { frames: 9 },
            Slicing::SjDuration { duration_us: 1000, version: SjVersion::V2 },
            Slicing::SjDuration { duration_us: 1000, version: SjVersion::Legacy },
            Slicing::TonicTimeWindow { window: 2000.0, overlap: 500.0, include_incomplete: false },
            Slicing::TonicTimeWindow { window: 2000.0, overlap: 500.0, include_incomplete: true },
            Slicing::TonicTimeBins { bins: 5, overlap: 0.25 },
        ] {
            let ranges = slice(&events, slicing).unwrap();
            assert_eq!(timeline.ranges(slicing).unwrap(), ranges, "{slicing:?}");
            let want = bin_slices(&events, &ranges, sensor, Polarity::Split).unwrap();
            let got = bin_file(&path, ReadOptions::default(), &ranges, sensor, Polarity::Split).unwrap();
            assert_eq!(got, want, "{slicing:?}");
            // Many small batches: ranges that span several batches and batches several ranges.
            let reader = EventReader::open(&path, ReadOptions::default()).unwrap().with_chunk_bytes(997);
            assert_eq!(bin_batches(reader, &ranges, sensor, Polarity::Split).unwrap(), want, "{slicing:?} in small batches");
        }
    }

    #[test]
    fn unsorted_timestamps_frame_from_a_file_as_in_memory() {
        // Every 50th timestamp jumps 20 ms ahead: SpikingJelly's time bins then start out of frame
        // order (a late event opens a later bin before the earlier bin's first event).
        let sensor = Resolution::new(8, 8);
        let events: Vec<Event> = (0..3000u64).map(|i| Event::new(i * 10 + if i % 50 == 7 { 20_000 } else { 0 }, (i % 8) as u16, (i / 8 % 8) as u16, i % 2 == 0)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.aedat4");
        let mut w = Aedat4Writer::new(std::fs::File::create(&path).unwrap(), WriterOptions { packet_events: 256, ..WriterOptions::new(sensor) }).unwrap();
        w.write_events(&events).unwrap();
        w.finish().unwrap();
        let mut timeline = FileTimeline::open(&path, ReadOptions::default()).unwrap();
        for slicing in [Slicing::SjTime { frames: 4 }, Slicing::SjDuration { duration_us: 2500, version: SjVersion::Legacy }] {
            let ranges = slice(&events, slicing).unwrap();
            assert!(ranges.windows(2).any(|w| w[1].start < w[0].start) || !matches!(slicing, Slicing::SjTime { .. }), "the case needs out-of-order starts: {ranges:?}");
            assert_eq!(timeline.ranges(slicing).unwrap(), ranges, "{slicing:?}");
            let want = bin_slices(&events, &ranges, sensor, Polarity::Split).unwrap();
            let reader = EventReader::open(&path, ReadOptions::default()).unwrap().with_chunk_bytes(501);
            assert_eq!(bin_batches(reader, &ranges, sensor, Polarity::Split).unwrap(), want, "{slicing:?}");
        }
        assert!(matches!(timeline.ranges(Slicing::TonicTimeBins { bins: 3, overlap: 0.0 }), Err(FileFramesError::Frames(FrameError::Unsorted { index: 8, .. }))));
    }
}

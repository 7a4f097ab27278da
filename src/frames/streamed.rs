//! Frames straight from a recording file, without holding its events: a 2 GB EVT2 file read
//! whole took 10 GB of memory to make a few frames.
//!
//! Count-based slicing ([`super::slicing::by_count`]) needs only the number of events, so
//! [`count_events`] takes it from a first pass of the streaming [`EventReader`] (decoding,
//! keeping nothing), and [`bin_file`] bins a second pass batch by batch into the frames whose
//! event-index ranges each batch meets. Memory is the output tensor plus one batch (about
//! 16 MiB) whatever the size of the file. Time-based slicing needs the timestamps; its callers
//! read the recording whole. Owns the two passes; the ranges and the binning rule are
//! [`super::slicing`]'s and [`super::bin`]'s.

use std::ops::Range;
use std::path::Path;

use super::bin::{Polarity, accumulate};
use super::{FrameError, Frames};
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

/// The number of events in `path` and its sensor size (from the header or `options`).
pub fn count_events(path: &Path, options: ReadOptions) -> Result<(usize, Option<Resolution>), ReadError> {
    let mut reader = EventReader::open(path, options)?;
    let mut batch = Vec::new();
    let mut events = 0;
    while reader.next_batch(&mut batch)? {
        events += batch.len();
    }
    Ok((events, reader.resolution()))
}

/// Bins the events of `path` into one frame per range of event indices (ranges sorted by their
/// start, as every count-based slicing makes them; they may overlap), reading it batch by batch.
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
    // Ranges before `first` ended before the current batch.
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
        while first < ranges.len() && ranges[first].end <= at {
            first += 1;
        }
        for (i, r) in ranges.iter().enumerate().skip(first) {
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
    use crate::frames::{Slicing, bin_slices, slice};

    #[test]
    fn two_passes_give_the_frames_of_the_whole_recording_for_every_count_slicing() {
        let sensor = Resolution::new(20, 10);
        let events: Vec<Event> = (0..5000u64).map(|i| Event::new(i * 3, (i * 7 % 20) as u16, (i * 3 % 10) as u16, i % 3 == 0)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.aedat4");
        let options = WriterOptions { packet_events: 300, ..WriterOptions::new(sensor) };
        let mut w = Aedat4Writer::new(std::fs::File::create(&path).unwrap(), options).unwrap();
        w.write_events(&events).unwrap();
        w.finish().unwrap();
        assert_eq!(count_events(&path, ReadOptions::default()).unwrap(), (5000, Some(sensor)));
        for slicing in [
            Slicing::SjNumber { frames: 7 },
            Slicing::TonicEventCount { count: 700, overlap: 200, include_incomplete: true },
            Slicing::TonicEventBins { bins: 6, overlap: 0.5 },
        ] {
            let ranges = slice(&events, slicing).unwrap();
            let want = bin_slices(&events, &ranges, sensor, Polarity::Split).unwrap();
            let got = bin_file(&path, ReadOptions::default(), &ranges, sensor, Polarity::Split).unwrap();
            assert_eq!(got, want, "{slicing:?}");
            // Many small batches: ranges that span several batches and batches several ranges.
            let reader = EventReader::open(&path, ReadOptions::default()).unwrap().with_chunk_bytes(997);
            assert_eq!(bin_batches(reader, &ranges, sensor, Polarity::Split).unwrap(), want, "{slicing:?} in small batches");
        }
    }
}

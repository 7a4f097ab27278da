//! Labelled datasets of synthetic recordings: which files to write (class, index, split, seed)
//! and writing them as AEDAT4, in parallel across files.
//!
//! Every file's seed is derived from the dataset seed, the class name and the file index only,
//! so a file is the same whatever the thread count, the split or the other classes chosen, and
//! one file can be regenerated alone. Printing and progress bars belong to the caller.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::error::SimError;
use crate::rng::{derive_seed, hash_name};
use super::scene::Class;
use super::simulator::Simulator;
use crate::events::formats::aedat4::{Aedat4Writer, Compression, WriterOptions};
use crate::events::{Event, Resolution};

/// Tag of the camera's stream, apart from every class name hash.
const CAMERA_TAG: u64 = 0xCA3E_7A00;

/// The seed of the camera (threshold mismatch) of the dataset made with `seed`.
pub fn camera_seed(seed: u64) -> u64 {
    derive_seed(seed, CAMERA_TAG)
}

/// The seed of recording `index` of `class` in the dataset made with `seed`.
pub fn recording_seed(seed: u64, class: Class, index: usize) -> u64 {
    derive_seed(derive_seed(seed, hash_name(class.name())), index as u64)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "test",
        }
    }
}

/// One file to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub class: Class,
    pub index: usize,
    pub split: Option<Split>,
    pub seed: u64,
    /// Relative to the dataset folder: `[split/]class/NNNN.aedat4`.
    pub path: PathBuf,
}

/// The files of a dataset: `per_class` recordings of each class, indices `0..per_class`. With
/// `train_fraction`, the first `round(fraction * per_class)` indices of each class go to
/// `train/`, the rest to `test/`.
pub fn plan(classes: &[Class], per_class: usize, train_fraction: Option<f64>, seed: u64) -> Vec<Item> {
    let digits = per_class.saturating_sub(1).to_string().len().max(4);
    let train = train_fraction.map(|f| ((f * per_class as f64).round() as usize).min(per_class));
    let mut items = Vec::with_capacity(classes.len() * per_class);
    for &class in classes {
        for index in 0..per_class {
            let split = train.map(|n| if index < n { Split::Train } else { Split::Test });
            let mut path = PathBuf::new();
            if let Some(split) = split {
                path.push(split.name());
            }
            path.push(class.name());
            path.push(format!("{index:0digits$}.aedat4"));
            items.push(Item { class, index, split, seed: recording_seed(seed, class, index), path });
        }
    }
    items
}

/// Writes `events` as an AEDAT4 file (of a dataset folder being filled; a file standing alone
/// goes through [`crate::output::AtomicOutput`] and [`encode_aedat4`]).
pub fn write_aedat4(path: &Path, events: &[Event], resolution: Resolution, compression: Compression) -> Result<(), SimError> {
    let io = |source| SimError::Io { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(io)?;
    encode_aedat4(BufWriter::new(file), events, resolution, compression).map(drop).map_err(io)
}

/// Writes `events` as AEDAT4 to `out`, the simulator's way (source `spikestream-sim`).
pub fn encode_aedat4<W: Write + Seek>(out: W, events: &[Event], resolution: Resolution, compression: Compression) -> std::io::Result<W> {
    let mut options = WriterOptions::new(resolution);
    options.compression = compression;
    options.source = "spikestream-sim".into();
    let mut writer = Aedat4Writer::new(out, options)?;
    writer.write_events(events)?;
    writer.finish()
}

/// What was written for one item.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    pub events: usize,
    pub on: usize,
}

/// Records and writes every item under `root` with `threads` workers (at least one), calling
/// `progress(done)` after each file. Stops at the first error and returns it; on success the
/// result is in item order.
pub fn write_dataset(
    simulator: &Simulator,
    items: &[Item],
    root: &Path,
    compression: Compression,
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Written>, SimError> {
    let jobs = Jobs { root, resolution: simulator.config().resolution, compression, threads, progress };
    jobs.run(items, |item| &item.path, |item| Ok(simulator.record(item.class, item.seed)))
}

/// Where and how a batch of recordings is written.
pub struct Jobs<'a> {
    pub root: &'a Path,
    pub resolution: Resolution,
    pub compression: Compression,
    pub threads: usize,
    pub progress: &'a (dyn Fn(usize) + Sync),
}

impl Jobs<'_> {
    /// Records every item (`record`) and writes it to `root/path(item)` as AEDAT4, in
    /// parallel; the first error stops the work and is returned.
    pub fn run<T: Sync>(&self, items: &[T], path: impl Fn(&T) -> &Path + Sync, record: impl Fn(&T) -> Result<Vec<Event>, SimError> + Sync) -> Result<Vec<Written>, SimError> {
        let root = self.root;
        let mut folders: Vec<PathBuf> = items.iter().filter_map(|i| path(i).parent().map(|p| root.join(p))).collect();
        folders.sort();
        folders.dedup();
        for folder in &folders {
            std::fs::create_dir_all(folder).map_err(|source| SimError::Io { path: folder.clone(), source })?;
        }
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<Written, SimError>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.threads.clamp(1, items.len().max(1)) {
                scope.spawn(|| {
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let result = record(item).and_then(|events| {
                            write_aedat4(&root.join(path(item)), &events, self.resolution, self.compression)
                                .map(|()| Written { events: events.len(), on: events.iter().filter(|e| e.p).count() })
                        });
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        results.lock().unwrap_or_else(|poison| poison.into_inner())[i] = Some(result);
                        (self.progress)(done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|poison| poison.into_inner());
        results.into_iter().flatten().collect()
    }
}

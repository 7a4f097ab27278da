//! Frames computed once per sample and kept on disk as `.npy`, in a folder keyed by the framing
//! (its JSON and the input shape), so a changed framing never reads stale frames. Writes go to a
//! temporary name and are renamed, so an interrupted run leaves no half file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::discover::Sample;
use crate::events::ReadOptions;
use crate::events::read_file;
use crate::frames::framing::Framing;
use crate::frames::{Frames, npy};

pub struct FrameCache {
    dir: PathBuf,
    framing: Framing,
    input: [usize; 3],
}

/// FNV-1a, 64 bits: a stable name for a key string.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

impl FrameCache {
    /// A cache under `root` for frames made by `framing` (`framing_json` is its metadata text).
    pub fn new(root: &Path, framing: Framing, framing_json: &str, input: [usize; 3]) -> Self {
        let key = format!("{framing_json}|{input:?}");
        Self { dir: root.join(format!("frames-{:016x}", fnv(&key))), framing, input }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sample: &Sample) -> PathBuf {
        let key = format!("{}|{:?}", sample.path.display(), sample.window);
        let stem = sample.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        self.dir.join(format!("{stem}-{:016x}.npy", fnv(&key)))
    }

    /// The frames `[T, C, H, W]` of `sample`, from the cache or computed (and stored).
    pub fn get(&self, sample: &Sample) -> Result<Frames> {
        let path = self.entry(sample);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(array) = npy::read(&bytes) {
                if let [t, c, h, w] = array.shape[..] {
                    if [c, h, w] == self.input {
                        return Ok(Frames { frames: t, channels: c, height: h, width: w, data: array.data });
                    }
                }
            }
        }
        let frames = self.compute(sample)?;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let out = crate::output::AtomicOutput::create(&path)?;
        npy::write_f32(std::io::BufWriter::new(out.file()), &[frames.frames, frames.channels, frames.height, frames.width], &frames.data)
            .with_context(|| format!("writing {}", path.display()))?;
        // A cache entry can be made again: no fsync per sample.
        out.commit_unsynced()?;
        Ok(frames)
    }

    fn compute(&self, sample: &Sample) -> Result<Frames> {
        let mut recording = read_file(&sample.path, ReadOptions::default()).with_context(|| format!("reading {}", sample.path.display()))?;
        if let Some((start, end)) = sample.window {
            recording.events.retain(|e| e.t >= start && e.t < end);
        }
        self.framing.frames(&recording, self.input).with_context(|| format!("framing {}", sample.path.display()))
    }
}

impl super::FrameSource for FrameCache {
    fn get(&self, sample: &Sample) -> Result<Frames> {
        FrameCache::get(self, sample)
    }
}

//! Batches: a seeded shuffle per epoch, frames from a [`FrameSource`] (the [`FrameCache`] of
//! event frames, or static images) loaded and augmented on the rayon pool, laid out
//! `[T, B, C, H, W]` (time-major, as the network takes them), and prefetched by a producer
//! thread so loading overlaps the training step. A static image is augmented, then normalised
//! and repeated at every timestep (direct encoding).

use std::sync::Arc;

use anyhow::Result;
use crossbeam_channel::{Receiver, bounded};
use rayon::prelude::*;

#[cfg(doc)]
use super::cache::FrameCache;
use super::discover::{Sample, seeded_shuffle};
use super::flips::LabelFlips;
use crate::frames::Frames;
use crate::frames::augment::CropFlip;
use crate::frames::randaugment::RandAugment;
use crate::frames::spikformer::SpikFormerOp;

/// Training-time augmentation of the reference's 48×48 pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Augment {
    None,
    /// Zero-pad by `padding`, random crop back to size, horizontal flip with p = 0.5 (and a
    /// vertical one where the loader's [`LabelFlips`] turn it on; labels follow them).
    CropFlip { padding: usize },
    /// The reference's N-Caltech101 48×48 train pipeline: horizontal flip with p = 0.5 (when
    /// `flip`), then `SpikFormerDVS` (one op per sample, [`SpikFormerOp`]).
    SpikFormer { flip: bool },
}

pub struct Batch {
    /// `[T, B, C, H, W]` row-major.
    pub x: Vec<f32>,
    pub shape: [usize; 5],
    pub labels: Vec<usize>,
}

/// Where a sample's frames come from.
pub trait FrameSource: Send + Sync {
    /// The frames `[T, C, H, W]` of `sample` (a static image: one frame of values in `[0, 1]`).
    fn get(&self, sample: &Sample) -> Result<Frames>;

    /// For static images: the per-channel mean and std to normalise with after augmentation,
    /// and the timesteps to repeat the image over.
    fn direct(&self) -> Option<(&[f32], &[f32], usize)> {
        None
    }
}

pub struct Loader {
    cache: Arc<dyn FrameSource>,
    samples: Arc<Vec<Sample>>,
    pub batch_size: usize,
    augment: Augment,
    /// Label swaps of mirror-image classes and vertical flips (`None`: labels never change).
    flips: Option<Arc<LabelFlips>>,
    /// RandAugment of static images, after crop and flip, before normalisation.
    randaugment: Option<RandAugment>,
    seed: u64,
}

/// The splitmix64 output that follows state `z` (a stateless mixer for per-epoch and per-sample seeds).
fn splitmix(mut z: u64) -> u64 {
    crate::rng::splitmix64(&mut z)
}

impl Loader {
    pub fn new(cache: Arc<dyn FrameSource>, samples: Vec<Sample>, batch_size: usize, augment: Augment, seed: u64) -> Self {
        Self { cache, samples: Arc::new(samples), batch_size: batch_size.max(1), augment, flips: None, randaugment: None, seed }
    }

    /// RandAugment on static images (torchvision's order: crop, flip, RandAugment, normalise).
    pub fn with_randaugment(mut self, policy: RandAugment) -> Self {
        self.randaugment = Some(policy);
        self
    }

    /// Flips that swap the labels of mirror-image classes (and turn on vertical flips).
    pub fn with_flips(mut self, flips: LabelFlips) -> Self {
        self.flips = Some(Arc::new(flips));
        self
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.samples.len().div_ceil(self.batch_size)
    }

    /// Computes every sample's frames once (in parallel), so the first epoch is not I/O-bound.
    pub fn warm_cache(&self) -> Result<()> {
        self.samples.par_iter().try_for_each(|s| self.cache.get(s).map(|_| ()))
    }

    /// The batches of `epoch` (shuffled when `shuffle`), produced ahead on a thread.
    pub fn epoch(&self, epoch: usize, shuffle: bool) -> Receiver<Result<Batch>> {
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        if shuffle {
            seeded_shuffle(&mut order, self.seed ^ splitmix(epoch as u64));
        }
        let (tx, rx) = bounded(2);
        let (cache, samples, batch_size, augment, seed) = (Arc::clone(&self.cache), Arc::clone(&self.samples), self.batch_size, self.augment, self.seed);
        let (flips, randaugment) = (self.flips.clone(), self.randaugment);
        std::thread::spawn(move || {
            for chunk in order.chunks(batch_size) {
                let policy = Policy { augment, flips: flips.as_deref(), randaugment };
                let batch = make_batch(cache.as_ref(), &samples, chunk, &policy, seed ^ splitmix(epoch as u64 + 1));
                if tx.send(batch).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// What a training batch's samples go through.
struct Policy<'a> {
    augment: Augment,
    flips: Option<&'a LabelFlips>,
    randaugment: Option<RandAugment>,
}

fn make_batch(cache: &dyn FrameSource, samples: &[Sample], chunk: &[usize], policy: &Policy, seed: u64) -> Result<Batch> {
    let Policy { augment, flips, randaugment } = *policy;
    let vflip = flips.is_some_and(|f| f.v.is_some());
    let drawn: Vec<(Frames, usize)> = chunk
        .par_iter()
        .map(|&i| {
            let f = cache.get(&samples[i])?;
            let mut state = splitmix(seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let mut next = || {
                state = splitmix(state);
                state
            };
            let (f, hflip, vflipped) = match augment {
                Augment::None => (f, false, false),
                Augment::CropFlip { padding } => {
                    let draw = CropFlip::sample(padding, vflip, &mut next);
                    (draw.apply(&f), draw.flip, draw.vflip)
                }
                Augment::SpikFormer { flip } => {
                    let hflip = flip && next() & 1 == 1;
                    let flipped = if hflip { CropFlip { padding: 0, dy: 0, dx: 0, flip: true, vflip: false }.apply(&f) } else { f };
                    (SpikFormerOp::sample(flipped.height, flipped.width, &mut next).apply(&flipped), hflip, false)
                }
            };
            let label = flips.map_or(samples[i].label, |m| m.label(samples[i].label, hflip, vflipped));
            let f = match (cache.direct(), randaugment) {
                (Some((mean, std, t)), Some(ra)) => repeat(&ra.apply(&f, next), mean, std, t),
                (Some((mean, std, t)), None) => repeat(&f, mean, std, t),
                (None, _) => f,
            };
            Ok((f, label))
        })
        .collect::<Result<_>>()?;
    let (frames, labels): (Vec<Frames>, Vec<usize>) = drawn.into_iter().unzip();
    let b = frames.len();
    let (t, c, h, w) = (frames[0].frames, frames[0].channels, frames[0].height, frames[0].width);
    let per_step = c * h * w;
    let mut x = vec![0.0f32; t * b * per_step];
    for (bi, f) in frames.iter().enumerate() {
        anyhow::ensure!(f.frames == t, "samples have different frame counts ({} and {})", t, f.frames);
        for ti in 0..t {
            let dst = (ti * b + bi) * per_step;
            x[dst..dst + per_step].copy_from_slice(&f.data[ti * per_step..(ti + 1) * per_step]);
        }
    }
    Ok(Batch { x, shape: [t, b, c, h, w], labels })
}

/// A static image `[1, C, H, W]` normalised per channel and repeated at `t` timesteps.
fn repeat(f: &Frames, mean: &[f32], std: &[f32], t: usize) -> Frames {
    let one = crate::frames::image::normalise(&f.data, f.height * f.width, mean, std);
    let data = (0..t).flat_map(|_| one.iter().copied()).collect();
    Frames { frames: t, channels: f.channels, height: f.height, width: f.width, data }
}

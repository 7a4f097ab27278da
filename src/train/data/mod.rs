//! Training data: recordings in the layouts people download them in, turned into frames once
//! (cached on disk, keyed by the framing), then served in seeded, augmented batches by a loader
//! thread pool. Static datasets (images for direct encoding) are held in memory instead
//! ([`images`]).
//!
//! Layouts ([`discover`]):
//! - `DIR/{train,test}/<class>/<file>` (what `spikestream simulate --split` writes; N-MNIST's
//!   `Train`/`Test` too);
//! - `DIR/<class>/<file>` class folders: CIFAR10-DVS (`cifar10_<class>_<i>.aedat`: i < 100 is
//!   test, the 48×48 rule of the reference), N-Caltech101 / N-MNIST `.bin` folders and any other
//!   tree (per class, a seeded shuffle of the sorted files, the last 10 % for test);
//! - DVS128 Gesture: `user*_*.aedat` + `_labels.csv` cut into labelled windows, split by
//!   `trials_to_train.txt` / `trials_to_test.txt`.

mod cache;
mod gesture;
mod discover;
mod flips;
pub mod images;
mod loader;

pub use cache::FrameCache;
use gesture::discover_gesture;
pub use discover::{Dataset, Sample, discover};
pub use flips::{FlipSpec, LabelFlips, parse_pairs};
pub use loader::{Augment, Batch, FrameSource, Loader};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::frames::framing::Framing;
use crate::model::{InputKind, ModelMeta};

/// A dataset found at a path: its samples and, for a static dataset, its images in memory
/// (`[C, H, W]` each, values in `[0, 1]`).
pub struct Opened {
    pub dataset: Dataset,
    pub images: Option<(Vec<Vec<f32>>, [usize; 3])>,
}

/// Finds the dataset at `data` (any layout of [`discover`], or [`images`]' `.npz` files).
pub fn open(data: &Path) -> Result<Opened> {
    let npz = data.extension().is_some_and(|e| e == "npz") || data.join("train.npz").is_file();
    let found = if npz { None } else { Some(discover(data)?) };
    if !images::is_static(data, found.as_ref()) {
        return Ok(Opened { dataset: found.expect("a folder layout"), images: None });
    }
    let (dataset, imgs, shape) = images::load(data, found)?;
    if dataset.train.is_empty() {
        bail!("{}: no training images", data.display());
    }
    Ok(Opened { dataset, images: Some((imgs, shape)) })
}

impl Opened {
    /// Where the frames of `meta`'s model come from: the static images, or event frames cached
    /// under `cache` (default `DATA/.spikestream-cache`). A static model with event data (or the
    /// other way round) is an error naming both.
    pub fn source(&mut self, data: &Path, meta: &ModelMeta, cache: Option<PathBuf>) -> Result<Arc<dyn FrameSource>> {
        let input = meta.input_kind.input_text(meta.input);
        match (&meta.input_kind, self.images.take()) {
            (InputKind::Static { mean, std }, Some((imgs, shape))) => {
                if shape != meta.input {
                    bail!("{}: images of {shape:?} (C, H, W) but the model's input is {input}", data.display());
                }
                Ok(Arc::new(images::ImageSet::new(imgs, shape, mean.clone(), std.clone(), meta.timesteps)))
            }
            (InputKind::Static { .. }, None) => bail!("{}: event recordings, but the model's input is {input} (images)", data.display()),
            (InputKind::Events, Some(_)) => bail!("{}: static images, but the model's input is event frames {input}", data.display()),
            (InputKind::Events, None) => {
                let framing = Framing::from_json(meta.framing.as_ref(), meta.timesteps)?;
                let framing_json = meta.framing.as_ref().map(|f| f.to_string()).unwrap_or_default();
                let root = cache.unwrap_or_else(|| data.join(".spikestream-cache"));
                Ok(Arc::new(FrameCache::new(&root, framing, &framing_json, meta.input)))
            }
        }
    }
}

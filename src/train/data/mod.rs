//! Training data: recordings in the layouts people download them in, turned into frames once
//! (cached on disk, keyed by the framing), then served in seeded, augmented batches by a loader
//! thread pool.
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
mod loader;

pub use cache::FrameCache;
use gesture::discover_gesture;
pub use discover::{Dataset, Sample, discover};
pub use loader::{Augment, Batch, Loader};

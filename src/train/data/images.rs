//! Static datasets for direct encoding: image folders (`DIR/{train,test}/<class>/*.png|jpg`, or
//! class folders, as [`super::discover`] finds them) and NumPy `.npz` arrays (`x` `[N, C, H, W]`
//! uint8 or float in `[0, 1]`, `y` `[N]` integer labels; `DIR/train.npz` + `DIR/test.npz`, or one
//! `FILE.npz` split 90/10 per class with a fixed seed). Every image is held in memory as values
//! in `[0, 1]` (what `ToTensor` gives); the loader augments them, then normalises with the
//! model's `mean` and `std` and feeds the same image at every timestep ([`super::FrameSource`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use rayon::prelude::*;

use super::discover::{Dataset, Sample, seeded_shuffle};
use super::loader::FrameSource;
use crate::frames::Frames;
use crate::frames::image;
use crate::frames::npy::{self, Stored};

/// Whether `data` is a static dataset: an `.npz` file, a folder with `train.npz`, or a folder
/// whose first training sample is a PNG or JPEG image.
pub fn is_static(data: &Path, dataset: Option<&Dataset>) -> bool {
    if data.extension().is_some_and(|e| e == "npz") || data.join("train.npz").is_file() {
        return true;
    }
    let Some(first) = dataset.and_then(|d| d.train.first()) else { return false };
    let mut head = [0u8; 8];
    std::fs::File::open(&first.path).and_then(|mut f| f.read(&mut head)).is_ok_and(|n| image::sniff(&head[..n]).is_some())
}

/// Images in memory, `[C, H, W]` each, values in `[0, 1]`; samples index them by `item`.
pub struct ImageSet {
    pub shape: [usize; 3],
    images: Vec<Vec<f32>>,
    mean: Vec<f32>,
    std: Vec<f32>,
    timesteps: usize,
}

/// The classes, samples and images of a static dataset (`dataset`: the folder layout already
/// discovered, for image folders).
pub fn load(data: &Path, dataset: Option<Dataset>) -> Result<(Dataset, Vec<Vec<f32>>, [usize; 3])> {
    if data.extension().is_some_and(|e| e == "npz") {
        let (x, y, shape) = read_npz(data)?;
        let classes = class_names(&y);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.len()];
        y.iter().enumerate().for_each(|(i, &l)| by_class[l].push(i));
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (label, mut items) in by_class.into_iter().enumerate() {
            seeded_shuffle(&mut items, label as u64);
            let n_test = (items.len() / 10).max(usize::from(items.len() > 1));
            let split = items.len() - n_test;
            for (k, i) in items.into_iter().enumerate() {
                let s = Sample { path: data.to_path_buf(), label, window: None, item: Some(i) };
                if k < split { train.push(s) } else { test.push(s) }
            }
        }
        return Ok((Dataset { classes, train, test, layout: "one .npz (a seeded 90/10 split per class)" }, x, shape));
    }
    if data.join("train.npz").is_file() {
        let (x, y, shape) = read_npz(&data.join("train.npz"))?;
        let (mut xt, yt, shape_t) = if data.join("test.npz").is_file() { read_npz(&data.join("test.npz"))? } else { (Vec::new(), Vec::new(), shape) };
        ensure!(shape_t == shape, "{}: images of {shape_t:?} but train.npz has {shape:?}", data.join("test.npz").display());
        let classes = class_names(&y.iter().chain(&yt).copied().collect::<Vec<_>>());
        let sample = |path: PathBuf, label: usize, i: usize| Sample { path, label, window: None, item: Some(i) };
        let train = y.iter().enumerate().map(|(i, &l)| sample(data.join("train.npz"), l, i)).collect();
        let test = yt.iter().enumerate().map(|(i, &l)| sample(data.join("test.npz"), l, x.len() + i)).collect();
        let mut images = x;
        images.append(&mut xt);
        return Ok((Dataset { classes, train, test, layout: "train.npz and test.npz" }, images, shape));
    }
    let mut dataset = dataset.context("an image-folder dataset")?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for s in dataset.train.iter_mut().chain(dataset.test.iter_mut()) {
        s.item = Some(paths.len());
        paths.push(s.path.clone());
    }
    let images: Vec<image::Image> = paths.par_iter().map(|p| image::read(p).map_err(anyhow::Error::from)).collect::<Result<_>>()?;
    let shape = images[0].shape();
    if let Some((p, i)) = paths.iter().zip(&images).find(|(_, i)| i.shape() != shape) {
        bail!("{}: an image of {:?} (C, H, W) but {} is {shape:?}; a static dataset's images share one size", p.display(), i.shape(), paths[0].display());
    }
    Ok((dataset, images.into_iter().map(|i| i.data).collect(), shape))
}

/// Class names of integer labels `0..=max`: "0", "1", ….
fn class_names(y: &[usize]) -> Vec<String> {
    (0..=y.iter().copied().max().unwrap_or(0)).map(|i| i.to_string()).collect()
}

/// `x` `[N, C, H, W]` (uint8 → /255; float as it is) and `y` `[N]` of an `.npz` file.
fn read_npz(path: &Path) -> Result<(Vec<Vec<f32>>, Vec<usize>, [usize; 3])> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{}: not an .npz (zip) archive", path.display()))?;
    let mut member = |name: &str| -> Result<(npy::Array, Stored)> {
        let mut entry = zip.by_name(&format!("{name}.npy")).with_context(|| format!("{}: no array '{name}' (an .npz of x [N, C, H, W] and y [N] is expected)", path.display()))?;
        // The declared size bounds what is read (a zip header can claim anything).
        let size = crate::limits::count(|| format!("{}: array '{name}' bytes", path.display()), entry.size(), crate::limits::max_tensor_bytes())?;
        let mut bytes = Vec::with_capacity(size);
        entry.by_ref().take(size as u64).read_to_end(&mut bytes).with_context(|| format!("{}: reading array '{name}'", path.display()))?;
        npy::read_typed(&bytes, true).with_context(|| format!("{}: array '{name}'", path.display()))
    };
    let (x, x_kind) = member("x")?;
    let (y, y_kind) = member("y")?;
    let [n, c, h, w] = x.shape[..] else { bail!("{}: x has shape {:?}; [N, C, H, W] expected", path.display(), x.shape) };
    ensure!(c == 1 || c == 3, "{}: x has {c} channels; a static input has 1 or 3", path.display());
    ensure!(y.shape == [n] && y_kind != Stored::Float, "{}: y has shape {:?} ({y_kind:?}); [{n}] integer labels expected", path.display(), y.shape);
    let scale = if x_kind == Stored::U8 { 255.0 } else { 1.0 };
    let labels: Vec<usize> = y.data.iter().map(|&v| if v >= 0.0 && v < 1e6 { Ok(v as usize) } else { Err(v) }).collect::<Result<_, _>>().map_err(|v| anyhow::anyhow!("{}: label {v} in y; labels are 0, 1, …", path.display()))?;
    let per = c * h * w;
    Ok((x.data.chunks_exact(per.max(1)).map(|img| img.iter().map(|v| v / scale).collect()).collect(), labels, [c, h, w]))
}

impl ImageSet {
    pub fn new(images: Vec<Vec<f32>>, shape: [usize; 3], mean: Vec<f32>, std: Vec<f32>, timesteps: usize) -> Self {
        Self { shape, images, mean, std, timesteps }
    }
}

/// Per-channel mean and standard deviation of `images` (`[C, H, W]` each), as the CIFAR
/// constants are computed: over every pixel of the training set.
pub fn channel_stats(images: &[Vec<f32>], shape: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let [c, h, w] = shape;
    let plane = h * w;
    let (mut sum, mut sq) = (vec![0f64; c], vec![0f64; c]);
    for img in images {
        for (i, &v) in img.iter().enumerate() {
            sum[i / plane] += f64::from(v);
            sq[i / plane] += f64::from(v) * f64::from(v);
        }
    }
    let n = (images.len() * plane).max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq.iter().zip(&mean).map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-3)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

impl FrameSource for ImageSet {
    fn get(&self, sample: &Sample) -> Result<Frames> {
        let [c, h, w] = self.shape;
        let img = sample.item.and_then(|i| self.images.get(i)).with_context(|| format!("{}: no image for this sample", sample.path.display()))?;
        Ok(Frames { frames: 1, channels: c, height: h, width: w, data: img.clone() })
    }

    fn direct(&self) -> Option<(&[f32], &[f32], usize)> {
        Some((&self.mean, &self.std, self.timesteps))
    }
}

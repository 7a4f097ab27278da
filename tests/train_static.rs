//! Training on static images (feature `train`, burn's Flex CPU backend), direct encoding: a tiny
//! image folder and the same images as `.npz` arrays; `train` writes a static model (`input:
//! static CxHxW`, the training set's per-channel mean and std, `decode last` for LTS) that
//! `eval` and `classify` run; the loader's crop-and-flip augmentation is seeded and pads with
//! black before normalising, as torchvision's `RandomCrop(padding=4)` on a PIL image does; its
//! label-aware flips give a mirrored image the mirror class's label, and its RandAugment is seeded.
#![cfg(feature = "train")]

mod static_common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use spikestream::model::{InputKind, MetaOverrides, Model};
use spikestream::train::data::images::{ImageSet, channel_stats};
use spikestream::train::data::{Augment, FlipSpec, LabelFlips, Loader, Sample, parse_pairs};
use static_common::{pixels, planar, write_png};

fn spikestream(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    assert!(out.status.success(), "spikestream {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Class `left` lights the left half of a 16x16 grey image, `right` the right half, with seeded
/// noise: `DIR/{train,test}/<class>/NN.png`. Returns the training images (`[1, 16, 16]`, [0, 1]).
fn image_folder(dir: &Path) -> Vec<Vec<f32>> {
    let mut train = Vec::new();
    for (k, class) in ["left", "right"].iter().enumerate() {
        for (split, n) in [("train", 8), ("test", 3)] {
            let d = dir.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let noise = pixels(100 * k as u64 + 10 * n as u64 + i as u64, 256);
                let px: Vec<u8> = (0..256).map(|p| if (p % 16 < 8) == (k == 0) { 160 + noise[p] / 4 } else { noise[p] / 4 }).collect();
                write_png(&d.join(format!("{i:02}.png")), 16, 16, png::ColorType::Grayscale, &px);
                if split == "train" {
                    train.push(planar(&px, 1));
                }
            }
        }
    }
    train
}

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train", "--arch", "sew_resnet18", "--width-div", "16", "--timesteps", "2", "--loss", "lts", "--epochs", "1", "--batch", "4", "--lr", "0.05",
        "--warmup-epochs", "0", "--device", "flex", "--quiet", "--seed", "3", "--data", data, "--out", out,
    ]
}

#[test]
fn one_epoch_on_an_image_folder_writes_a_static_model_that_eval_and_classify_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let train_images = image_folder(&data);
    let out = tmp.path().join("static.safetensors");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let printed = spikestream(&train_args(d, o));
    assert!(printed.contains("best epoch 1 of 1"), "{printed}");
    let model = Model::load(&out, &MetaOverrides::default()).unwrap();
    assert_eq!(model.meta.input, [1, 16, 16]);
    assert_eq!(model.meta.classes, ["left", "right"]);
    assert!(model.meta.framing.is_none());
    assert_eq!(model.meta.decode, spikestream::Decode::Last, "LTS reads the last timestep");
    let (mean, std) = channel_stats(&train_images, [1, 16, 16]);
    assert_eq!(model.meta.input_kind, InputKind::Static { mean: mean.clone(), std: std.clone() });
    assert!(mean[0] > 0.2 && mean[0] < 0.5 && std[0] > 0.1, "{mean:?} {std:?}");
    let report: serde_json::Value = serde_json::from_str(&spikestream(&["eval", o, d, "--json", "--device", "flex"])).unwrap();
    assert_eq!(report["samples"], 6);
    assert_eq!(report["accuracy_at"].as_array().unwrap().len(), 2);
    let classified = spikestream(&["classify", o, &format!("{d}/test"), "--labels-from-dirs", "--backend", "cpu", "--json"]);
    let c: serde_json::Value = serde_json::from_str(&classified).unwrap();
    assert_eq!(c["results"].as_array().unwrap().len(), 6);
    assert!(c["accuracy"].as_f64().is_some(), "{classified}");
}

/// An `.npy` body of `descr` with `shape` and raw little-endian `data`.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = spikestream::events::write::npy::npy_header(descr, shape);
    out.extend_from_slice(data);
    out
}

fn write_npz(path: &Path, x: &[u8], n: usize, labels: &[i64]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("x.npy", stored).unwrap();
    zip.write_all(&npy("'|u1'", &[n, 1, 16, 16], x)).unwrap();
    let deflated = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("y.npy", deflated).unwrap();
    zip.write_all(&npy("'<i8'", &[labels.len()], &labels.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())).unwrap();
    zip.finish().unwrap();
}

#[test]
fn npz_arrays_train_like_the_image_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("npz");
    std::fs::create_dir_all(&data).unwrap();
    let n = 10;
    let x: Vec<u8> = pixels(9, n * 256);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
    write_npz(&data.join("train.npz"), &x, n, &labels);
    write_npz(&data.join("test.npz"), &x[..4 * 256], 4, &labels[..4]);
    let out = tmp.path().join("npz.safetensors");
    spikestream(&train_args(data.to_str().unwrap(), out.to_str().unwrap()));
    let model = Model::load(&out, &MetaOverrides::default()).unwrap();
    assert_eq!(model.meta.classes, ["0", "1"]);
    let train: Vec<Vec<f32>> = x.chunks(256).map(|c| planar(c, 1)).collect();
    let (mean, std) = channel_stats(&train, [1, 16, 16]);
    assert_eq!(model.meta.input_kind, InputKind::Static { mean, std }, "uint8 x is divided by 255");
    // One FILE.npz: a seeded 90/10 split per class (at least one test image per class).
    let one = tmp.path().join("one.npz");
    write_npz(&one, &x, n, &labels);
    let opened = spikestream::train::data::open(&one).unwrap();
    assert_eq!((opened.dataset.train.len(), opened.dataset.test.len()), (8, 2));
    assert_eq!(opened.dataset.test.iter().map(|s| s.label).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(opened.images.as_ref().map(|(imgs, shape)| (imgs.len(), *shape)), Some((n, [1, 16, 16])));
    // A y of the wrong length is refused naming the file and the array.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    write_npz(&bad.join("train.npz"), &x, n, &labels[..3]);
    let err = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(train_args(bad.to_str().unwrap(), out.to_str().unwrap())).output().unwrap();
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && stderr.contains("train.npz") && stderr.contains("y has shape [3]"), "{stderr}");
}

#[test]
fn static_augmentation_is_seeded_and_pads_black_before_normalising() {
    let images: Vec<Vec<f32>> = (0..4).map(|i| vec![1.0; 64].into_iter().map(|v: f32| v - 0.01 * i as f32).collect()).collect();
    let samples: Vec<Sample> = (0..4).map(|i| Sample { path: "mem".into(), label: i % 2, window: None, item: Some(i) }).collect();
    let set = |t| Arc::new(ImageSet::new(images.clone(), [1, 8, 8], vec![0.5], vec![0.25], t));
    let batch = |seed: u64| {
        let loader = Loader::new(set(3), samples.clone(), 4, Augment::CropFlip { padding: 4 }, seed);
        loader.epoch(0, true).recv().unwrap().unwrap()
    };
    let (a, b, c) = (batch(1), batch(1), batch(2));
    assert_eq!(a.shape, [3, 4, 1, 8, 8], "the image at each of T = 3 steps");
    assert_eq!(a.x, b.x, "same seed, same batch");
    assert_ne!(a.x, c.x, "another seed crops elsewhere");
    let step = 4 * 64;
    assert_eq!(a.x[..step], a.x[step..2 * step], "every timestep is the same image");
    // Padding is black (0) before normalisation: (0 - 0.5) / 0.25 = -2; image pixels are near 2.
    assert!(a.x.iter().any(|&v| v == -2.0), "a crop reaches into the padding");
    assert!(a.x.iter().all(|&v| v == -2.0 || v > 1.8), "{:?}", &a.x[..16]);
    let plain = Loader::new(set(1), samples.clone(), 4, Augment::None, 1).epoch(0, false).recv().unwrap().unwrap();
    assert_eq!(plain.x[..64].to_vec(), vec![2.0; 64], "(1 - 0.5) / 0.25");
}

#[test]
fn label_aware_flips_give_a_mirrored_image_the_mirror_class() {
    // Four classes of 8x8 images, one bright pixel one step in from a corner: top-left,
    // top-right, bottom-left, bottom-right (a crop of padding 1 moves it by at most 1). A horizontal flip turns tl into tr (and bl into br), a vertical one tl into bl.
    let classes: Vec<String> = ["tl", "tr", "bl", "br"].iter().map(|s| s.to_string()).collect();
    let corner = |k: usize| (if k >= 2 { 6 * 8 } else { 8 }) + if k % 2 == 1 { 6 } else { 1 };
    let images: Vec<Vec<f32>> = (0..64).map(|i| (0..64).map(|p| if p == corner(i % 4) { 1.0 } else { 0.0 }).collect()).collect();
    let samples: Vec<Sample> = (0..64).map(|i| Sample { path: "mem".into(), label: i % 4, window: None, item: Some(i) }).collect();
    let set = Arc::new(ImageSet::new(images, [1, 8, 8], vec![0.0], vec![1.0], 1));
    let spec = FlipSpec {
        h_swap: parse_pairs("--flip-swap", "tl=tr,bl=br").unwrap(),
        vflip: true,
        v_swap: parse_pairs("--vflip-swap", "tl=bl,tr=br").unwrap(),
    };
    let flips = LabelFlips::resolve(&spec, &classes).unwrap();
    let loader = Loader::new(set, samples.clone(), 64, Augment::CropFlip { padding: 1 }, 5).with_flips(flips);
    let batch = loader.epoch(0, true).recv().unwrap().unwrap();
    let mut checked = 0;
    for (b, &label) in batch.labels.iter().enumerate() {
        let img = &batch.x[b * 64..(b + 1) * 64];
        let p = img.iter().position(|&v| v == 1.0).expect("the pixel stays inside");
        let (y, x) = (p / 8, p % 8);
        let seen = if y >= 4 { 2 } else { 0 } + if x >= 4 { 1 } else { 0 };
        assert_eq!(classes[label], classes[seen], "sample {b}: the bright pixel is at ({y}, {x}) but the label says {}", classes[label]);
        checked += 1;
    }
    assert_eq!(checked, 64);
    // Without the swaps, a flipped image keeps its label: some labels then disagree with the image.
    let set = Arc::new(ImageSet::new((0..64).map(|i| (0..64).map(|p| if p == corner(i % 4) { 1.0 } else { 0.0 }).collect()).collect(), [1, 8, 8], vec![0.0], vec![1.0], 1));
    let plain = Loader::new(set, samples, 64, Augment::CropFlip { padding: 1 }, 5).epoch(0, true).recv().unwrap().unwrap();
    let wrong = plain.labels.iter().enumerate().filter(|&(b, &label)| {
        let img = &plain.x[b * 64..(b + 1) * 64];
        img.iter().position(|&v| v == 1.0).is_some_and(|p| (if p / 8 >= 4 { 2 } else { 0 } + if p % 8 >= 4 { 1 } else { 0 }) != label)
    });
    assert!(wrong.count() > 0, "plain horizontal flips move pixels without changing labels");
}

#[test]
fn randaugment_is_seeded_recorded_in_the_model_and_its_flag_checked() {
    let images: Vec<Vec<f32>> = (0..8).map(|i| (0..3 * 64).map(|p| ((p * 7 + i * 13) % 256) as f32 / 255.0).collect()).collect();
    let samples: Vec<Sample> = (0..8).map(|i| Sample { path: "mem".into(), label: i % 2, window: None, item: Some(i) }).collect();
    let set = || Arc::new(ImageSet::new(images.clone(), [3, 8, 8], vec![0.0; 3], vec![1.0; 3], 1));
    let policy = spikestream::frames::randaugment::RandAugment::parse("--randaugment", "2:9").unwrap();
    let batch = |ra: bool, seed: u64| {
        let loader = Loader::new(set(), samples.clone(), 8, Augment::None, seed);
        let loader = if ra { loader.with_randaugment(policy) } else { loader };
        loader.epoch(0, false).recv().unwrap().unwrap()
    };
    let (plain, a, b, c) = (batch(false, 1), batch(true, 1), batch(true, 1), batch(true, 2));
    assert_eq!(a.x, b.x, "same seed, same images");
    assert_ne!(a.x, plain.x, "RandAugment changed some image");
    assert_ne!(a.x, c.x, "another seed, other ops");
    assert!(a.x.iter().all(|v| (0.0..=1.0).contains(v)), "mean 0, std 1: values stay in [0, 1]");

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    image_folder(&data);
    let out = tmp.path().join("ra.safetensors");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut args = train_args(d, o);
    args.extend(["--randaugment", "2:9"]);
    spikestream(&args);
    let bytes = std::fs::read(&out).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["__metadata__"]["train_randaugment"], "2:9");
    let mut bad = train_args(d, o);
    bad.extend(["--randaugment", "2:40"]);
    let e = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(&bad).output().unwrap();
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("--randaugment"), "{}", String::from_utf8_lossy(&e.stderr));
}

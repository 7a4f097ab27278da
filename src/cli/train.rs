//! `spikestream train` and `spikestream eval`: IMP-SNN training in burn (feature `train`) and
//! evaluation of a model file on a dataset folder. Without the feature both commands say how
//! to build it.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture of a fresh model: vgg11_48_legacy, vgg11_dvs, sew_resnet18.
    #[arg(long, default_value = "vgg11_48_legacy")]
    pub arch: String,
    /// Dataset folder: DIR/{train,test}/<class>/…, DIR/<class>/… (CIFAR10-DVS, N-Caltech101,
    /// N-MNIST, simulator output) or a DVS128 Gesture folder; static images (a static model,
    /// direct encoding): the same folders of PNG/JPEG files, DIR with train.npz and test.npz, or
    /// one FILE.npz (x [N,C,H,W] uint8 or float in [0,1], y [N]).
    #[arg(long)]
    pub data: PathBuf,
    /// The model file to write (best epoch); a checkpoint, optimiser state and CSV log go next to it.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub timesteps: usize,
    /// Per-step input size HxW; frames are resized to it when the sensor differs (static image
    /// datasets keep their images' size: they are not resized).
    #[arg(long, default_value = "48x48")]
    pub size: String,
    /// Divide every channel width of the architecture by this (1 = the paper's widths).
    #[arg(long, default_value_t = 1)]
    pub width_div: usize,
    /// Learnable initial membrane potential.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub imp: String,
    /// sdt, tet, tet-s[:ε] (label-smoothed TET, ε = 0.01) or lts (last timestep only).
    #[arg(long, default_value = "tet-s")]
    pub loss: String,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// sgd (momentum 0.9) or adamw.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Multiply the IMP parameters' learning rate by this (1 = the reference; any other value is a
    /// deviation from it, recorded in the model's metadata as `imp_lr_mult`).
    #[arg(long, default_value_t = 1.0)]
    pub imp_lr_mult: f32,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 1)]
    pub warmup_epochs: usize,
    /// Clip the gradient's global L2 norm (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub clip: f32,
    /// Stop after this many optimiser steps (0: none).
    #[arg(long, default_value_t = 0)]
    pub max_steps: usize,
    /// Training augmentation: crop-flip (random crop with --crop-padding and horizontal flip),
    /// spikformer (horizontal flip, then the reference's SpikFormerDVS policy: identity, shear,
    /// translate, rotate or cutout per sample) or none.
    #[arg(long, default_value = "crop-flip", value_parser = ["crop-flip", "spikformer", "none"])]
    pub augment: String,
    /// Padding of the random crop of --augment crop-flip (0: no crop/flip augmentation).
    #[arg(long, default_value_t = 4)]
    pub crop_padding: usize,
    /// Classes a horizontal flip turns into each other, swapped with the image (A=B,C=D; e.g.
    /// bar_left=bar_right,rotate_cw=rotate_ccw for the simulator's classes).
    #[arg(long, default_value = "")]
    pub flip_swap: String,
    /// Also flip vertically with p = 0.5 (crop-flip augmentation).
    #[arg(long)]
    pub vflip: bool,
    /// RandAugment N:M for static image datasets (N ops per image at magnitude bin M of 31, e.g.
    /// 2:9, torchvision's op space), after the crop and flip.
    #[arg(long)]
    pub randaugment: Option<String>,
    /// Classes a vertical flip turns into each other (A=B,…; implies --vflip).
    #[arg(long, default_value = "")]
    pub vflip_swap: String,
    /// Dropout before the classifier (default: 0.25 for vgg11_48_legacy as the reference, else 0).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Surrogate gradient: triangle[:γ], sigmoid[:α], atan[:α] (default: the reference's per neuron).
    #[arg(long)]
    pub surrogate: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from this model file instead of fresh weights.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Continue from the checkpoint next to --out.
    #[arg(long)]
    pub resume: bool,
    /// Frame cache folder (default: DATA/.spikestream-cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// auto, flex (CPU) or wgpu.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Sensor size WxH for formats without a header (N-MNIST 34x34, N-Caltech101 240x180).
    #[arg(long, value_parser = super::parse_resolution)]
    pub sensor: Option<spikestream::events::Resolution>,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    pub model: PathBuf,
    /// Dataset folder or .npz (its test split is evaluated; --split train for the training split).
    pub data: PathBuf,
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    pub split: String,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long)]
    pub cache: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long)]
    pub json: bool,
    /// Write the confusion matrix, accuracy per timestep and spike rates as PNG to this folder.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<std::path::PathBuf>,
}

#[cfg(not(feature = "train"))]
pub fn run_train(_: TrainArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("this spikestream was built without training; build with `cargo build --release --features train`")
}

#[cfg(not(feature = "train"))]
pub fn run_eval(_: EvalArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("this spikestream was built without training; build with `cargo build --release --features train`")
}

#[cfg(feature = "train")]
pub use with_train::{run_eval, run_train};

#[cfg(feature = "train")]
mod with_train {
    use std::process::ExitCode;

    use anyhow::{Context, Result};
    use spikestream::frames::randaugment::RandAugment;
    use spikestream::model::{MetaOverrides, Model};
    use spikestream::train::data::{Augment, FlipSpec, Loader, parse_pairs};
    use spikestream::train::eval::evaluate;
    use spikestream::train::loss::{Loss, Readout};
    use spikestream::train::net::{FoldedNet, TrainOptions};
    use spikestream::train::neuron::Surrogate;
    use spikestream::train::optim::OptimizerKind;
    use spikestream::train::{TrainConfig, device, train};

    use super::{EvalArgs, TrainArgs};

    fn size(text: &str) -> Result<(usize, usize)> {
        let (h, w) = text.split_once(['x', 'X']).with_context(|| format!("--size {text}: expected HxW, e.g. 48x48"))?;
        Ok((h.trim().parse()?, w.trim().parse()?))
    }

    pub fn run_train(a: TrainArgs) -> Result<ExitCode> {
        crate::cli::heap::keep_freed_memory();
        let surrogate = a.surrogate.as_deref().map(Surrogate::parse).transpose().map_err(anyhow::Error::msg)?;
        let dropout = a.dropout.unwrap_or(if a.arch == "vgg11_48_legacy" { 0.25 } else { 0.0 });
        let cfg = TrainConfig {
            data: a.data,
            out: a.out.clone(),
            init: a.init,
            resume: a.resume,
            arch: a.arch,
            timesteps: a.timesteps,
            size: size(&a.size)?,
            width_div: a.width_div,
            imp: a.imp == "on",
            loss: Loss::parse(&a.loss).map_err(anyhow::Error::msg)?,
            optimizer: OptimizerKind::parse(&a.optimizer).map_err(anyhow::Error::msg)?,
            lr: a.lr,
            imp_lr_mult: a.imp_lr_mult,
            weight_decay: a.weight_decay,
            warmup_epochs: a.warmup_epochs,
            clip_norm: a.clip,
            epochs: a.epochs,
            batch: a.batch,
            max_steps: a.max_steps,
            augment: match a.augment.as_str() {
                "spikformer" => Augment::SpikFormer { flip: true },
                "crop-flip" if a.crop_padding > 0 => Augment::CropFlip { padding: a.crop_padding },
                _ => Augment::None,
            },
            flips: FlipSpec { h_swap: parse_pairs("--flip-swap", &a.flip_swap)?, vflip: a.vflip, v_swap: parse_pairs("--vflip-swap", &a.vflip_swap)? },
            randaugment: a.randaugment.as_deref().map(|v| RandAugment::parse("--randaugment", v)).transpose()?,
            options: TrainOptions { surrogate, detach_reset: None, dropout, ..TrainOptions::default() },
            seed: a.seed,
            cache: a.cache,
            sensor: a.sensor.map(|r| (r.width, r.height)),
            progress: !a.quiet,
        };
        if !(a.imp_lr_mult.is_finite() && a.imp_lr_mult >= 0.0) {
            anyhow::bail!("--imp-lr-mult {}: expected a finite number >= 0", a.imp_lr_mult);
        }
        let dev = device(&a.device)?;
        let summary = train(&cfg, &dev)?;
        match &summary.best {
            Some((epoch, r)) => outln!(
                "{}: best epoch {} of {}, test accuracy {:.4} ({} samples); {} steps, {:.1} samples/s",
                a.out.display(),
                epoch + 1,
                summary.epochs_run,
                r.accuracy,
                r.samples,
                summary.steps,
                summary.samples_per_s
            )?,
            None => outln!("{}: {} epochs, {} steps (no test split), {:.1} samples/s", a.out.display(), summary.epochs_run, summary.steps, summary.samples_per_s)?,
        }
        for layer in &summary.imp_drift {
            println!("{}", layer.line());
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn run_eval(a: EvalArgs) -> Result<ExitCode> {
        crate::cli::heap::keep_freed_memory();
        let model = Model::load(&a.model, &MetaOverrides::default())?;
        let mut opened = spikestream::train::data::open(&a.data)?;
        let dataset = opened.dataset.clone();
        if dataset.classes.len() != model.meta.num_classes {
            anyhow::bail!("{} has {} classes but the model has {}", a.data.display(), dataset.classes.len(), model.meta.num_classes);
        }
        let cache = opened.source(&a.data, &model.meta, a.cache)?;
        let samples = if a.split == "train" { dataset.train } else { dataset.test };
        let loader = Loader::new(cache, samples, a.batch, Augment::None, 0);
        let readout = if model.meta.decode == spikestream::model::meta::Decode::Last { Readout::Last } else { Readout::Mean };
        let classes = model.meta.classes.clone();
        let dev = device(&a.device)?;
        let mut net = FoldedNet::new(model, &TrainOptions::default(), &dev);
        let report = evaluate(&mut net, &loader, readout, &dev)?;
        if let Some(dir) = &a.plot {
            std::fs::create_dir_all(dir).with_context(|| format!("--plot {}: cannot create the folder", dir.display()))?;
            spikestream::plot::confusion_matrix(&dir.join("confusion.png"), &classes, &report.confusion)?;
            spikestream::plot::accuracy_per_step(&dir.join("accuracy_per_step.png"), &report.accuracy_at)?;
            spikestream::plot::spike_rates(&dir.join("spike_rates.png"), &report.spike_rates)?;
            eprintln!("wrote confusion.png, accuracy_per_step.png, spike_rates.png to {}", dir.display());
        }
        if a.json {
            outln!("{}", serde_json::to_string_pretty(&report)?).ok();
            return Ok(ExitCode::SUCCESS);
        }
        outln!("{} on {} ({} split, {} samples): accuracy {:.4}", a.model.display(), a.data.display(), a.split, report.samples, report.accuracy).ok();
        outln!("accuracy at every timestep: {}", report.accuracy_at.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" ")).ok();
        outln!("spike rates: {}", report.spike_rates.iter().map(|(n, r)| format!("{n} {r:.3}")).collect::<Vec<_>>().join(", ")).ok();
        outln!("confusion (rows: true class, columns: predicted):").ok();
        let width = classes.iter().map(String::len).max().unwrap_or(4).max(4);
        for (i, row) in report.confusion.iter().enumerate() {
            outln!("  {:>width$} {}", classes[i], row.iter().map(|n| format!("{n:>4}")).collect::<String>()).ok();
        }
        Ok(ExitCode::SUCCESS)
    }
}

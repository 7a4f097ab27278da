//! The training loop: data, model, optimiser and schedule from a [`TrainConfig`]; per epoch a
//! progress bar (loss, accuracy, samples/s), a CSV log row, evaluation on the test split with the
//! engine's folded weights, a checkpoint (model + optimiser state, for `--resume`) and the best
//! epoch's model file with full metadata.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};

use super::data::images::channel_stats;
use super::data::{Augment, FlipSpec, LabelFlips, Loader};
use super::drift::{ImpStart, LayerDrift};
use super::eval::{EvalReport, evaluate};
use super::loss::Loss;
use super::start::{InputSpec, framing_for, initial_model};
use super::net::{FoldedNet, TrainNet, TrainOptions};
use super::optim::{Optimizer, OptimizerKind, cosine_lr};
use crate::frames::randaugment::RandAugment;
use crate::model::{MetaOverrides, Model};

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub out: PathBuf,
    /// Start from this model file (fine-tuning) instead of a fresh `arch`.
    pub init: Option<PathBuf>,
    /// Continue from the checkpoint written next to `out`.
    pub resume: bool,
    pub arch: String,
    pub timesteps: usize,
    /// Per-step input height and width (frames are resized to it when the sensor differs).
    pub size: (usize, usize),
    pub width_div: usize,
    pub imp: bool,
    pub loss: Loss,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Learning-rate multiplier of the IMP parameters (1 as the reference; other values are a
    /// deviation from it, recorded in the model's metadata as `imp_lr_mult`).
    pub imp_lr_mult: f32,
    pub weight_decay: f32,
    pub warmup_epochs: usize,
    pub clip_norm: f32,
    pub epochs: usize,
    pub batch: usize,
    /// Stop after this many optimiser steps in all (0: no limit), for smoke runs.
    pub max_steps: usize,
    pub augment: Augment,
    /// Label-aware flips (mirror-image classes swap labels; vertical flips), by class name.
    pub flips: FlipSpec,
    /// RandAugment of static images (after crop and flip).
    pub randaugment: Option<RandAugment>,
    pub options: TrainOptions,
    pub seed: u64,
    pub cache: Option<PathBuf>,
    /// Sensor `(width, height)` for recordings whose format has no header (N-MNIST, N-Caltech101).
    pub sensor: Option<(u16, u16)>,
    pub progress: bool,
}

/// What a run did, for callers and tests.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub epochs_run: usize,
    pub steps: usize,
    /// Mean training loss of each epoch.
    pub losses: Vec<f64>,
    /// Loss of every step.
    pub step_losses: Vec<f64>,
    pub best: Option<(usize, EvalReport)>,
    pub samples_per_s: f64,
    /// How far each IMP tensor moved from the run's start (empty without IMP).
    pub imp_drift: Vec<LayerDrift>,
}

/// What one optimiser step returns.
pub struct StepOutput {
    pub loss: f64,
    /// `[T, B, K]` logits of the forward (before the update).
    pub logits: Tensor<3>,
    /// Spikes per neuron layer of the forward (see [`super::net::Forward::spikes`]).
    pub spikes: Vec<(usize, Tensor<1>, usize)>,
}

/// One training step on a batch `x` `[T, B, C, H, W]` (on the autodiff device of `net`): forward
/// in train mode, `loss`, backward, and `optim`'s update at `lr`. The loop of [`train`] and the
/// step-by-step comparison with PyTorch (`tests/train_reference.rs`) both call it.
pub fn train_step(net: &mut TrainNet, optim: &mut Optimizer, loss: Loss, x: Tensor<5>, labels: &[usize], lr: f64) -> Result<StepOutput> {
    // On a thread of rayon's pool, the ops' parallel loops start where they are called; from
    // outside it, each one hands its work to the pool and parks the caller until it is done.
    if rayon::current_thread_index().is_none() {
        return rayon::scope(|_| train_step(net, optim, loss, x, labels, lr));
    }
    net.training = true;
    let out = net.forward(x);
    let value = loss.compute(out.logits.clone(), labels);
    let loss_value = f64::from(value.clone().into_scalar::<f32>());
    if !loss_value.is_finite() {
        bail!("the loss became {loss_value} at step {}; lower --lr or set --clip", optim.step);
    }
    let grads = value.backward();
    optim.step(&mut net.params, &grads, lr);
    Ok(StepOutput { loss: loss_value, logits: out.logits.inner(), spikes: out.spikes.into_iter().map(|(i, s, n)| (i, s.inner(), n)).collect() })
}

fn paths(out: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (sibling(out, "ckpt.safetensors"), sibling(out, "optim.safetensors"), sibling(out, "log.csv"))
}

/// `MODEL.<suffix>` next to the model file `out`.
pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", out.with_extension("").display()))
}

pub fn train(cfg: &TrainConfig, device: &Device) -> Result<TrainSummary> {
    let mut opened = super::data::open(&cfg.data)?;
    let dataset = opened.dataset.clone();
    let (ckpt_path, optim_path, log_path) = paths(&cfg.out);
    let model_bytes = if cfg.resume {
        std::fs::read(&ckpt_path).with_context(|| format!("--resume: reading {}", ckpt_path.display()))?
    } else {
        let input = match &opened.images {
            // Normalised with the training images' per-channel statistics (as CIFAR's constants).
            Some((images, shape)) => {
                let train: Vec<Vec<f32>> = dataset.train.iter().filter_map(|s| s.item.map(|i| images[i].clone())).collect();
                let (mean, std) = channel_stats(&train, *shape);
                InputSpec::Static { shape: *shape, mean, std }
            }
            None => InputSpec::Events { framing_json: framing_for(cfg, &dataset.train[0].path)? },
        };
        initial_model(cfg, &dataset.classes, &input)?
    };
    device.seed(cfg.seed);
    let ad = device.clone().autodiff();
    let mut net = TrainNet::from_bytes(&model_bytes, &cfg.out.display().to_string(), &ad, cfg.options.clone())?;
    if net.meta.num_classes != dataset.classes.len() {
        bail!("the model has {} classes but {} has {}", net.meta.num_classes, cfg.data.display(), dataset.classes.len());
    }
    let cache = opened.source(&cfg.data, &net.meta, cfg.cache.clone())?;
    let mut train_loader = Loader::new(Arc::clone(&cache), dataset.train.clone(), cfg.batch, cfg.augment, cfg.seed);
    if cfg.flips != FlipSpec::default() {
        if cfg.augment == Augment::None {
            bail!("--flip-swap/--vflip/--vflip-swap need flip augmentation (--augment crop-flip with --crop-padding > 0, or spikformer)");
        }
        if matches!(cfg.augment, Augment::SpikFormer { .. }) && (cfg.flips.vflip || !cfg.flips.v_swap.is_empty()) {
            bail!("--vflip/--vflip-swap: vertical flips are part of --augment crop-flip, not spikformer");
        }
        train_loader = train_loader.with_flips(LabelFlips::resolve(&cfg.flips, &dataset.classes)?);
        net.params.metadata.insert("train_flips".into(), flips_json(&cfg.flips));
    }
    if let Some(ra) = cfg.randaugment {
        if cache.direct().is_none() {
            bail!("--randaugment: RandAugment is for static image datasets; {} holds event recordings", cfg.data.display());
        }
        train_loader = train_loader.with_randaugment(ra);
        net.params.metadata.insert("train_randaugment".into(), format!("{}:{}", ra.ops, ra.magnitude));
    }
    let test_loader = Loader::new(Arc::clone(&cache), dataset.test.clone(), cfg.batch, Augment::None, cfg.seed);
    train_loader.warm_cache()?;
    test_loader.warm_cache()?;

    let mut optim = Optimizer::new(cfg.optimizer, cfg.weight_decay, cfg.clip_norm);
    optim.imp_lr_mult = cfg.imp_lr_mult;
    if cfg.imp_lr_mult != 1.0 {
        net.params.metadata.insert("imp_lr_mult".into(), cfg.imp_lr_mult.to_string());
    }
    let mut imp_start = ImpStart::capture(&net.params)?;
    let mut start_epoch = 0;
    let mut best: Option<(usize, EvalReport)> = None;
    if cfg.resume {
        let state: HashMap<String, String> = net.params.metadata.clone();
        let train_state: serde_json::Value = serde_json::from_str(state.get("train_state").map(String::as_str).unwrap_or("{}"))?;
        start_epoch = train_state["epoch"].as_u64().unwrap_or(0) as usize;
        let step = train_state["step"].as_u64().unwrap_or(0) as usize;
        let optim_bytes = std::fs::read(&optim_path).with_context(|| format!("--resume: reading {}", optim_path.display()))?;
        let st = safetensors::SafeTensors::deserialize(&optim_bytes)?;
        let tensors: Vec<(String, Vec<f32>)> = st.tensors().into_iter().map(|(n, v)| (n, v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())).collect();
        if let Some(start) = ImpStart::from_state(&tensors) {
            imp_start = start;
        }
        optim.restore(step, tensors, &net.params);
        if let Some(acc) = train_state["best_accuracy"].as_f64() {
            best = Some((train_state["best_epoch"].as_u64().unwrap_or(0) as usize, EvalReport { samples: 0, accuracy: acc, accuracy_at: vec![], confusion: vec![], spike_rates: vec![] }));
        }
    }
    let steps_per_epoch = train_loader.batches_per_epoch();
    let total_steps = steps_per_epoch * cfg.epochs;
    let warmup = steps_per_epoch * cfg.warmup_epochs;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("opening {}", log_path.display()))?;
    if !cfg.resume {
        log.set_len(0)?;
        writeln!(log, "epoch,train_loss,train_accuracy,test_accuracy,lr,seconds,samples_per_s,imp_drift")?;
    }
    let mut summary = TrainSummary { epochs_run: 0, steps: optim.step, losses: vec![], step_losses: vec![], best: None, samples_per_s: 0.0, imp_drift: vec![] };
    let drift_path = sibling(&cfg.out, "imp_drift.json");
    let mut drift_log: Vec<serde_json::Value> = match (cfg.resume, std::fs::read_to_string(&drift_path)) {
        (true, Ok(text)) => serde_json::from_str(&text).with_context(|| format!("--resume: reading {}", drift_path.display()))?,
        _ => Vec::new(),
    };
    let readout = cfg.loss.readout();
    let started = Instant::now();
    let mut samples_seen = 0usize;
    for epoch in start_epoch..cfg.epochs {
        let bar = super::progress::epoch_bar(cfg.progress, steps_per_epoch, epoch, cfg.epochs);
        let epoch_start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = cfg.lr;
        for batch in train_loader.epoch(epoch, true) {
            let batch = batch?;
            let x = Tensor::<5>::from_data(TensorData::new(batch.x, batch.shape), &ad);
            lr = cosine_lr(cfg.lr, optim.step, warmup, total_steps);
            let step = train_step(&mut net, &mut optim, cfg.loss, x, &batch.labels, lr).with_context(|| format!("epoch {epoch}"))?;
            let loss_value = step.loss;
            let preds = predictions(step.logits, readout)?;
            correct += preds.iter().zip(&batch.labels).filter(|(p, y)| p == y).count();
            seen += batch.labels.len();
            samples_seen += batch.labels.len();
            loss_sum += loss_value * batch.labels.len() as f64;
            summary.step_losses.push(loss_value);
            let rate = seen as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {:.4}  acc {:.3}  {:.1} samples/s", loss_sum / seen as f64, correct as f64 / seen as f64, rate));
            bar.inc(1);
            if cfg.max_steps > 0 && optim.step >= cfg.max_steps {
                break;
            }
        }
        bar.finish_and_clear();
        let seconds = epoch_start.elapsed().as_secs_f64();
        let epoch_loss = loss_sum / seen.max(1) as f64;
        summary.losses.push(epoch_loss);
        summary.epochs_run += 1;
        // Evaluate the model file as the engine will load it.
        net.training = false;
        let mut meta = net.params.metadata.clone();
        meta.remove("train_state");
        let model_bytes = net.params.to_safetensors(&meta)?;
        let model = Model::from_bytes(&model_bytes, &cfg.out.display().to_string(), &MetaOverrides::default())?;
        let mut folded = FoldedNet::new(model, &cfg.options, device);
        let report = if test_loader.is_empty() { None } else { Some(evaluate(&mut folded, &test_loader, readout, device)?) };
        let test_acc = report.as_ref().map(|r| r.accuracy);
        let drift = imp_start.measure(&net.params)?;
        let drift_mean = overall_drift(&drift);
        writeln!(
            log,
            "{epoch},{epoch_loss:.6},{:.6},{},{lr:.6e},{seconds:.2},{:.2},{}",
            correct as f64 / seen.max(1) as f64,
            test_acc.map_or(String::new(), |a| format!("{a:.6}")),
            seen as f64 / seconds,
            drift_mean.map_or(String::new(), |d| format!("{d:.6e}"))
        )?;
        if !drift.is_empty() {
            drift_log.push(serde_json::json!({"epoch": epoch, "step": optim.step, "imp_lr_mult": cfg.imp_lr_mult, "layers": drift}));
            crate::output::write_atomic(&drift_path, serde_json::to_string_pretty(&drift_log)?.as_bytes())?;
        }
        summary.imp_drift = drift;
        log.flush()?;
        plot_log(&log_path)?;
        if cfg.progress {
            eprintln!(
                "epoch {}/{}: loss {epoch_loss:.4}, train accuracy {:.3}, test accuracy {}, {:.1} samples/s",
                epoch + 1,
                cfg.epochs,
                correct as f64 / seen.max(1) as f64,
                test_acc.map_or("-".into(), |a| format!("{a:.3}")),
                seen as f64 / seconds
            );
        }
        let improved = match (&report, &best) {
            (Some(r), Some((_, b))) => r.accuracy > b.accuracy,
            (Some(_), None) => true,
            (None, _) => true,
        };
        if improved {
            crate::output::write_atomic(&cfg.out, &model_bytes)?;
            if let Some(r) = report {
                best = Some((epoch, r));
            }
        }
        // Checkpoint: model + train state, optimiser state.
        let mut ckpt_meta = meta.clone();
        let best_acc = best.as_ref().map(|(_, r)| r.accuracy);
        ckpt_meta.insert("train_state".into(), serde_json::json!({"epoch": epoch + 1, "step": optim.step, "best_epoch": best.as_ref().map(|b| b.0), "best_accuracy": best_acc}).to_string());
        net.params.metadata = ckpt_meta.clone();
        crate::output::write_atomic(&ckpt_path, &net.params.to_safetensors(&ckpt_meta)?)?;
        write_optimizer(&optim_path, &optim, &imp_start)?;
        if cfg.max_steps > 0 && optim.step >= cfg.max_steps {
            break;
        }
    }
    summary.steps = optim.step;
    summary.best = best;
    summary.samples_per_s = samples_seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok(summary)
}

/// Mean `|IMP − init|` over every IMP value of the network (none without IMP).
fn overall_drift(layers: &[LayerDrift]) -> Option<f64> {
    let n: usize = layers.iter().map(|l| l.values).sum();
    (n > 0).then(|| layers.iter().map(|l| l.mean_abs * l.values as f64).sum::<f64>() / n as f64)
}

fn write_optimizer(path: &Path, optim: &Optimizer, imp_start: &ImpStart) -> Result<()> {
    let mut state = optim.state();
    state.extend(imp_start.state());
    let bytes: Vec<(String, Vec<u8>, usize)> = state.iter().map(|(n, d)| (n.clone(), d.iter().flat_map(|v| v.to_le_bytes()).collect(), d.len())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> =
        bytes.iter().map(|(n, b, len)| Ok((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*len], b)?))).collect::<Result<_, safetensors::SafeTensorError>>()?;
    Ok(crate::output::write_atomic(path, &safetensors::serialize(views, None)?)?)
}

/// Predicted class per sample of `[T, B, K]` logits.
fn predictions(logits: Tensor<3>, readout: super::loss::Readout) -> Result<Vec<usize>> {
    let [t_len, b, k] = logits.dims();
    let data = logits.into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
    Ok((0..b)
        .map(|bi| {
            let mut acc = vec![0.0f32; k];
            let steps: Vec<usize> = match readout {
                super::loss::Readout::Mean => (0..t_len).collect(),
                super::loss::Readout::Last => vec![t_len - 1],
            };
            for t in steps {
                acc.iter_mut().zip(&data[(t * b + bi) * k..(t * b + bi + 1) * k]).for_each(|(a, v)| *a += v);
            }
            crate::engine::run::argmax(&acc)
        })
        .collect())
}

/// `MODEL.curves.png` beside the CSV log: loss and accuracies per epoch, redrawn after each
/// epoch from the log (so a resumed run's curves include the earlier epochs).
fn plot_log(log_path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(log_path).with_context(|| format!("reading {}", log_path.display()))?;
    let (mut loss, mut train_acc, mut test_acc) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let Some(epoch) = f.first().and_then(|v| v.parse::<f64>().ok()) else { continue };
        let x = epoch + 1.0;
        let push = |i: usize, into: &mut Vec<(f64, f64)>| {
            if let Some(v) = f.get(i).and_then(|v| v.parse::<f64>().ok()) {
                into.push((x, v));
            }
        };
        push(1, &mut loss);
        push(2, &mut train_acc);
        push(3, &mut test_acc);
    }
    let name = log_path.to_string_lossy();
    let out = std::path::PathBuf::from(format!("{}.curves.png", name.strip_suffix(".log.csv").unwrap_or(&name)));
    crate::plot::training_curves(&out, &loss, &train_acc, &test_acc)?;
    Ok(())
}

/// The flips a model was trained with, for its metadata (`train_flips`).
fn flips_json(f: &FlipSpec) -> String {
    let pairs = |p: &[(String, String)]| p.iter().map(|(a, b)| serde_json::json!([a, b])).collect::<Vec<_>>();
    serde_json::json!({ "h_swap": pairs(&f.h_swap), "vflip": f.vflip || !f.v_swap.is_empty(), "v_swap": pairs(&f.v_swap) }).to_string()
}

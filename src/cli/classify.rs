//! `spikestream classify MODEL INPUT... [--json] [--top-k K] [--decode mean|last|per-step]
//! [--backend auto|gpu|cpu] [--compare] [--labels-from-dirs]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use spikestream::engine::run::argmax;
use spikestream::engine::{Decoded, Prediction, run_frames};
use spikestream::events::detect::{DETECT_BYTES, detect};
use spikestream::frames::framing::{Framing, FramingError};
use spikestream::frames::npy;
use spikestream::limits::{MAX_BATCH, count};
use spikestream::model::Model;

use super::model_args::{BackendChoice, ModelArgs, open_backend};
use super::InputArgs;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum DecodeArg {
    Mean,
    Last,
    PerStep,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Event files, folders (searched recursively) or .npy frames [T,2,H,W] / [T,B,2,H,W].
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 1)]
    pub top_k: usize,
    /// How logits become a prediction (default: the model's decode metadata).
    #[arg(long, value_enum)]
    pub decode: Option<DecodeArg>,
    /// The parent folder of each input is its label; report accuracy and a confusion matrix.
    #[arg(long)]
    pub labels_from_dirs: bool,
    /// Run on both GPU and CPU and report the largest difference.
    #[arg(long)]
    pub compare: bool,
    /// Samples per engine batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[command(flatten)]
    pub input: InputArgs,
}

struct Sample {
    path: PathBuf,
    label: Option<usize>,
    /// `[T, C, H, W]`
    frames: Vec<f32>,
}

/// What the report needs of a sample.
pub(super) struct SampleRef {
    pub path: PathBuf,
    pub label: Option<usize>,
}

/// The files to classify: those named, and in each folder named, every event recording or
/// `.npy` array below it (by content: `simulate.json`, READMEs and the like are skipped, and
/// how many were is said on stderr, also with `--json`, whose stdout stays the report).
fn collect_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found).with_context(|| format!("{}: cannot list", input.display()))?;
            found.sort();
            let (kept, skipped): (Vec<PathBuf>, Vec<PathBuf>) = found.into_iter().partition(|p| is_recording(p));
            if let Some(example) = skipped.first() {
                eprintln!("note: {}: skipped {} file(s) that are not event recordings or .npy frames, e.g. {}", input.display(), skipped.len(), example.display());
            }
            files.extend(kept);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether a file found in a folder walk starts like an `.npy` array or a recording of a
/// format spikestream detects (the first [`DETECT_BYTES`], or the whole file when shorter).
fn is_recording(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return true };
    let mut head = Vec::new();
    if file.take(DETECT_BYTES as u64).read_to_end(&mut head).is_err() {
        return true; // let the real read report it
    }
    head.starts_with(b"\x93NUMPY") || detect(&head).is_ok()
}

fn load(path: &Path, model: &Model, framing: &Framing, args: &ClassifyArgs) -> anyhow::Result<Vec<Sample>> {
    let [c, h, w] = model.meta.input;
    let t = model.meta.timesteps;
    let label = if args.labels_from_dirs {
        let dir = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let index = model.meta.classes.iter().position(|cl| *cl == dir);
        Some(index.with_context(|| format!("{}: folder '{dir}' is not one of the model's classes {:?}", path.display(), model.meta.classes))?)
    } else {
        None
    };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        let a = npy::read(&std::fs::read(path).with_context(|| path.display().to_string())?).with_context(|| path.display().to_string())?;
        let per = c * h * w;
        let (steps, batch) = match a.shape[..] {
            [st, cc, hh, ww] if [cc, hh, ww] == [c, h, w] => (st, 1),
            [st, b, cc, hh, ww] if [cc, hh, ww] == [c, h, w] => (st, b),
            _ => bail!("{}: frames of shape {:?}; [T, {c}, {h}, {w}] or [T, B, {c}, {h}, {w}] expected", path.display(), a.shape),
        };
        if steps != t {
            bail!("{}: {steps} frames but the model runs {t} timesteps", path.display());
        }
        return Ok((0..batch)
            .map(|b| {
                let frames = (0..t).flat_map(|s| a.data[(s * batch + b) * per..(s * batch + b + 1) * per].iter().copied()).collect();
                Sample { path: path.to_path_buf(), label, frames }
            })
            .collect());
    }
    // Read batch by batch where the framing allows: memory stays the frames plus one batch.
    let frames = framing.frames_from_file(path, args.input.read_options(), model.meta.input).map_err(|e| match e {
        FramingError::Read(e) => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(path.display().to_string()),
    })?;
    if frames.frames != t {
        bail!("{}: framing gives {} frames but the model runs {t} timesteps", path.display(), frames.frames);
    }
    Ok(vec![Sample { path: path.to_path_buf(), label, frames: frames.data }])
}

/// `[B][T, C, H, W]` → `[T, B, C, H, W]`.
fn interleave(samples: &[Sample], t: usize) -> Vec<f32> {
    let per = samples[0].frames.len() / t;
    let mut out = Vec::with_capacity(per * t * samples.len());
    for s in 0..t {
        for sample in samples {
            out.extend_from_slice(&sample.frames[s * per..(s + 1) * per]);
        }
    }
    out
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let framing = Framing::from_json(model.meta.framing.as_ref(), model.meta.timesteps).with_context(|| args.model.model_file.display().to_string())?;
    let decode = match args.decode {
        Some(DecodeArg::Mean) => Decoded::Mean,
        Some(DecodeArg::Last) => Decoded::Last,
        Some(DecodeArg::PerStep) => Decoded::PerStep,
        None => model.meta.decode.into(),
    };
    let batch = count(|| "--batch".into(), args.batch as u64, MAX_BATCH)?;
    model.graph.check_batch(batch, "--batch")?;
    let files = collect_inputs(&args.inputs)?;
    if files.is_empty() {
        bail!("no input files");
    }
    let t = model.meta.timesteps;
    let k = model.meta.num_classes;
    let bar = super::progress::bar(files.len() as u64, "classifying");
    let mut backend = args.model.open_backend(&model.graph, batch, !args.json)?;
    let mut other = if args.compare { Some(open_backend(BackendChoice::Cpu, &model.graph, batch, false)?) } else { None };
    let mut results: Vec<(SampleRef, Vec<f32>, Vec<Vec<f32>>)> = Vec::new();
    let mut largest_difference = 0f32;
    for chunk in files.chunks(batch) {
        let loaded: Vec<anyhow::Result<Vec<Sample>>> = chunk.par_iter().map(|p| load(p, &model, &framing, &args)).collect();
        let samples: Vec<Sample> = loaded.into_iter().collect::<anyhow::Result<Vec<_>>>()?.into_iter().flatten().collect();
        for group in samples.chunks(batch) {
            let pred = run_group(&mut *backend, group, t, k, decode, &model.graph)?;
            if let Some(cpu) = other.as_mut() {
                let reference = run_group(&mut **cpu, group, t, k, decode, &model.graph)?;
                for (a, b) in pred.per_step.iter().flatten().flatten().zip(reference.per_step.iter().flatten().flatten()) {
                    largest_difference = largest_difference.max((a - b).abs());
                }
            }
            for (b, sample) in group.iter().enumerate() {
                let steps = pred.per_step.iter().map(|s| s[b].clone()).collect();
                results.push((SampleRef { path: sample.path.clone(), label: sample.label }, pred.scores[b].clone(), steps));
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    super::classify_report::print(&args, &model, decode, &results, other.as_ref().map(|_| largest_difference))?;
    Ok(ExitCode::SUCCESS)
}

fn run_group(backend: &mut dyn spikestream::engine::Backend, group: &[Sample], t: usize, k: usize, decode: Decoded, graph: &spikestream::model::Graph) -> anyhow::Result<Prediction> {
    // The backend has a fixed batch; pad a short group with empty frames.
    let b = backend.batch();
    let mut frames = interleave(group, t);
    if group.len() < b {
        let per = graph.input.len();
        let mut padded = vec![0.0; t * b * per];
        for s in 0..t {
            padded[s * b * per..s * b * per + group.len() * per].copy_from_slice(&frames[s * group.len() * per..(s + 1) * group.len() * per]);
        }
        frames = padded;
    }
    run_frames(backend, &frames, t, k, decode).map_err(|e| {
        let names: Vec<String> = group.iter().map(|s| s.path.display().to_string()).collect();
        let hint = match (&e, graph.largest_weight()) {
            (spikestream::engine::EngineError::NonFinite { .. }, Some((tensor, v))) => format!(" (the largest |weight| is {v:e}, in tensor '{tensor}')"),
            _ => String::new(),
        };
        anyhow::Error::new(e).context(format!("{}{hint}", names.join(", ")))
    })
}

pub(super) fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let p = softmax(scores);
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    idx.into_iter().take(k.max(1)).map(|i| (i, p[i])).collect()
}

pub(super) fn predicted(scores: &[f32]) -> usize {
    argmax(scores)
}

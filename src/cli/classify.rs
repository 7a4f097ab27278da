//! `spikestream classify MODEL INPUT... [--json | --jsonl] [--top-k K] [--decode mean|last|per-step]
//! [--backend auto|gpu|cpu] [--compare] [--labels-from-dirs] [--shard I/N] [--skip-errors]
//! [--resume OUT.jsonl]`: a thin caller of [`Session`], which frames, batches and decodes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use rayon::prelude::*;
use spikestream::engine::session::{Loader, Sample};
use spikestream::limits::{MAX_BATCH, count};
use spikestream::{Classification, Decode, Session, SessionError, SessionOptions};

use super::InputArgs;
use super::classify_inputs::{Shard, collect_inputs, parse_shard};
use super::classify_jsonl::{Sink, resume};
use super::model_args::ModelArgs;

/// Exit status of a run that went through but could not classify some inputs (`--skip-errors`).
const SOME_FAILED: u8 = 3;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Event files, folders (searched recursively) or .npy frames [T,2,H,W] / [T,B,2,H,W]; for a
    /// static model, PNG/JPEG images, folders of them, or .npy float32 arrays [N,C,H,W].
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// One JSON line per input on stdout as soon as it is classified (no summary).
    #[arg(long)]
    pub jsonl: bool,
    #[arg(long, default_value_t = 1)]
    pub top_k: usize,
    /// How logits become a prediction (default: the model's decode metadata).
    #[arg(long, value_enum)]
    pub decode: Option<Decode>,
    /// The parent folder of each input is its label; report accuracy and a confusion matrix.
    #[arg(long)]
    pub labels_from_dirs: bool,
    /// Run on both GPU and CPU and report the largest difference.
    #[arg(long, conflicts_with_all = ["jsonl", "resume", "precision"])]
    pub compare: bool,
    #[command(flatten)]
    pub precision: super::model_args::PrecisionArg,
    /// Samples per engine batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Classify only part I of N (from 0): the inputs sorted by path, the k-th to shard k mod N.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// An input that cannot be read or classified is reported (an error record) and the run goes
    /// on; the exit status is then 3.
    #[arg(long)]
    pub skip_errors: bool,
    /// JSON lines appended to OUT.jsonl, skipping the inputs it already holds (implies --jsonl).
    #[arg(long, value_name = "OUT.jsonl", conflicts_with = "json")]
    pub resume: Option<PathBuf>,
    /// Write charts to this folder: the confusion matrix (with labels), accuracy per timestep
    /// (with labels and --decode per-step) and spike rates per layer, as PNG.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// What the report needs of a sample.
pub(super) struct SampleRef {
    pub path: PathBuf,
    pub label: Option<usize>,
}

/// One input, read: its label and samples, or why it could not be.
struct Loaded {
    path: PathBuf,
    result: anyhow::Result<(Option<usize>, Vec<Sample>)>,
}

fn load(path: &Path, loader: &Loader, classes: &[String], args: &ClassifyArgs) -> anyhow::Result<(Option<usize>, Vec<Sample>)> {
    let label = if args.labels_from_dirs {
        let dir = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let index = classes.iter().position(|cl| *cl == dir);
        Some(index.with_context(|| format!("{}: folder '{dir}' is not one of the model's classes {classes:?}", path.display()))?)
    } else {
        None
    };
    Ok((label, loader.file(path, args.input.read_options())?))
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let batch = count(|| "--batch".into(), args.batch as u64, MAX_BATCH)?;
    let jsonl = args.jsonl || args.resume.is_some();
    let options = SessionOptions { batch, decode: args.decode, top_k: args.top_k, precision: args.precision.precision, ..SessionOptions::default() };
    let mut session = args.model.open_session(options, !args.json && !jsonl)?;
    let mut files = collect_inputs(&args.inputs)?;
    if files.is_empty() {
        bail!("no input files");
    }
    if let Some(shard) = args.shard {
        files = shard.select(files);
    }
    let mut sink = None;
    if jsonl {
        let (s, done) = match &args.resume {
            Some(out) => {
                spikestream::output::refuse_same_file(&files[..], out)?;
                resume(out)?
            }
            None => (Sink::Stdout, Default::default()),
        };
        files.retain(|f| !done.contains(&f.display().to_string()));
        sink = Some(s);
    }
    let mut other = if args.compare { Some(session.on_cpu()?) } else { None };
    let loader = session.loader().clone();
    let classes = session.classes().to_vec();
    let bar = super::progress::bar(files.len() as u64, "classifying");
    let mut results: Vec<(SampleRef, Classification)> = Vec::new();
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    let mut largest_difference = 0f32;
    for chunk in files.chunks(batch) {
        let loaded: Vec<Loaded> = chunk.par_iter().map(|p| Loaded { path: p.clone(), result: load(p, &loader, &classes, &args) }).collect();
        let mut inputs = Vec::new();
        let mut errors = Vec::new();
        for l in loaded {
            match l.result {
                Ok((label, samples)) => inputs.push((SampleRef { path: l.path, label }, samples)),
                Err(e) if args.skip_errors => errors.push((l.path, e)),
                Err(e) => return Err(e),
            }
        }
        let outcomes = classify_inputs(&mut session, other.as_mut(), &inputs, args.skip_errors, &mut largest_difference)?;
        for ((sample, _), outcome) in inputs.into_iter().zip(outcomes) {
            match outcome {
                Ok(done) => {
                    if let Some(s) = sink.as_mut() {
                        s.line(&super::classify_report::record(&sample, &done, &classes, session.decode()))?;
                    }
                    results.extend(done.into_iter().map(|c| (SampleRef { path: sample.path.clone(), label: sample.label }, c)));
                }
                Err(e) => errors.push((sample.path, e)),
            }
        }
        for (path, e) in errors {
            let text = super::describe(&e);
            eprintln!("error: {text}");
            if let Some(s) = sink.as_mut() {
                s.line(&serde_json::json!({"file": path.display().to_string(), "error": text}))?;
            }
            failed.push((path, text));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if !jsonl {
        super::classify_report::print(&args, &classes, session.decode(), &results, &failed, other.as_ref().map(|_| largest_difference), &session.spike_rates())?;
    }
    if let Some(dir) = &args.plot {
        super::classify_report::plot(dir, &classes, session.decode(), &results, &session.spike_rates())?;
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(SOME_FAILED) })
}

/// Classifies the samples of `inputs` a batch at a time (and on `other` too, for `--compare`);
/// per input, its classifications or, with `skip`, why it failed (a failing batch is retried a
/// sample at a time, so only the inputs at fault fail). Errors name the inputs of the batch.
fn classify_inputs(session: &mut Session, mut other: Option<&mut Session>, inputs: &[(SampleRef, Vec<Sample>)], skip: bool, diff: &mut f32) -> anyhow::Result<Vec<anyhow::Result<Vec<Classification>>>> {
    let owners: Vec<usize> = inputs.iter().enumerate().flat_map(|(i, (_, s))| std::iter::repeat_n(i, s.len())).collect();
    let samples: Vec<&[f32]> = inputs.iter().flat_map(|(_, s)| s.iter().map(Vec::as_slice)).collect();
    let mut out: Vec<anyhow::Result<Vec<Classification>>> = inputs.iter().map(|_| Ok(Vec::new())).collect();
    let name = |i: usize| inputs[i].0.path.display().to_string();
    let b = session.batch();
    for (g, group) in samples.chunks(b).enumerate() {
        let who = &owners[g * b..g * b + group.len()];
        let tries: Vec<(&[usize], &[&[f32]])> = match run_group(session, other.as_deref_mut(), group, diff) {
            Ok(done) => {
                deliver(&mut out, who, done);
                continue;
            }
            Err(e) if !skip => {
                let mut names: Vec<String> = who.iter().map(|&i| name(i)).collect();
                names.dedup();
                return Err(named(e, &names));
            }
            Err(_) => who.chunks(1).zip(group.chunks(1)).collect(),
        };
        for (who, sample) in tries {
            match run_group(session, other.as_deref_mut(), sample, diff) {
                Ok(done) => deliver(&mut out, who, done),
                Err(e) => out[who[0]] = Err(named(e, &[name(who[0])])),
            }
        }
    }
    Ok(out)
}

fn deliver(out: &mut [anyhow::Result<Vec<Classification>>], who: &[usize], done: Vec<Classification>) {
    for (&i, c) in who.iter().zip(done) {
        if let Ok(v) = &mut out[i] {
            v.push(c);
        }
    }
}

/// One batch on the session, and on the reference for `--compare` (largest logit difference).
fn run_group(session: &mut Session, other: Option<&mut Session>, group: &[&[f32]], diff: &mut f32) -> Result<Vec<Classification>, SessionError> {
    let done = session.classify_samples(group)?;
    if let Some(cpu) = other {
        let reference = cpu.classify_samples(group)?;
        for (a, b) in done.iter().zip(&reference) {
            for (x, y) in a.logits.iter().flatten().zip(b.logits.iter().flatten()) {
                *diff = diff.max((x - y).abs());
            }
        }
    }
    Ok(done)
}

/// The error of a batch, naming its inputs (and, for overflowing logits, the largest weight).
fn named(e: SessionError, names: &[String]) -> anyhow::Error {
    match e {
        SessionError::NonFinite { source, hint } => anyhow::Error::new(source).context(format!("{}{hint}", names.join(", "))),
        e => anyhow::Error::new(e).context(names.join(", ")),
    }
}

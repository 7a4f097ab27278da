//! `spikestream simulate`: synthetic labelled recordings from the simulator in
//! `spikestream::sim`, as a dataset folder (`DIR/[train|test/]CLASS/NNNN.aedat4`) or one file.
//! Parses and resolves the arguments, shows progress and prints the summary; the simulation and
//! the file layout are the library's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use spikestream::events::Resolution;
use spikestream::events::formats::aedat4::Compression;
use spikestream::output::{AtomicDir, AtomicOutput, OutputError, refuse_existing};
use spikestream::sim::dataset::{camera_seed, encode_aedat4, plan, recording_seed, write_dataset};
use spikestream::sim::{CameraParams, Class, SimConfig, Simulator};

use super::limits;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Where to write: a folder for a dataset, a .aedat4 file with --class.
    #[arg(long, required_unless_present = "list_classes")]
    pub out: Option<PathBuf>,
    /// Write one recording of this class to --out instead of a dataset (see --list-classes).
    #[arg(long)]
    pub class: Option<String>,
    /// With --class: which recording to write; index N with seed S is the file N of the dataset
    /// made with --seed S.
    #[arg(long, default_value_t = 0, requires = "class")]
    pub index: usize,
    /// Print the classes and what each shows, then exit.
    #[arg(long)]
    pub list_classes: bool,
    /// Recordings per class.
    #[arg(long, default_value_t = 100, conflicts_with = "class")]
    pub per_class: usize,
    /// Only these classes, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', conflicts_with = "class")]
    pub classes: Vec<String>,
    /// Write the first FRACTION of each class to DIR/train/, the rest to DIR/test/.
    #[arg(long, value_name = "FRACTION", conflicts_with = "class")]
    pub split: Option<f64>,
    /// Seed of the dataset: the same seed and parameters give byte-identical files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sensor size WxH.
    #[arg(long, default_value = "64x64", value_parser = super::parse_resolution, conflicts_with = "from_images")]
    pub size: Resolution,
    /// Film every PNG under this folder under three saccades (as N-MNIST was recorded) into
    /// --out, keeping the folder structure (classes, splits); the sensor is the image size
    /// plus the saccade on every side.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["class", "per_class", "classes", "split"])]
    pub from_images: Option<PathBuf>,
    /// With --from-images: the side of the saccade triangle, pixels.
    #[arg(long, default_value_t = 3.0)]
    pub saccade_px: f64,
    /// Recording length in milliseconds.
    #[arg(long, default_value_t = 300.0)]
    pub duration_ms: f64,
    /// Timestamp of the recording's start in µs (events are in [t0, t0 + duration]).
    #[arg(long, default_value_t = 0)]
    pub t0_us: u64,
    /// Render step in µs: the scene is drawn this often, log intensity interpolated between.
    #[arg(long, default_value_t = 500.0)]
    pub step_us: f64,
    /// Shot-noise events per pixel per second.
    #[arg(long, default_value_t = CameraParams::default().noise_hz)]
    pub noise_hz: f64,
    /// ON and OFF contrast threshold (log intensity), unless --threshold-on/--threshold-off.
    #[arg(long, default_value_t = CameraParams::default().threshold_on)]
    pub threshold: f64,
    #[arg(long)]
    pub threshold_on: Option<f64>,
    #[arg(long)]
    pub threshold_off: Option<f64>,
    /// Pixel-to-pixel standard deviation of the thresholds.
    #[arg(long, default_value_t = CameraParams::default().threshold_sigma)]
    pub threshold_sigma: f64,
    /// Refractory period in µs.
    #[arg(long, default_value_t = CameraParams::default().refractory_us)]
    pub refractory_us: f64,
    /// Standard deviation of the timestamp jitter in µs.
    #[arg(long, default_value_t = CameraParams::default().jitter_us)]
    pub jitter_us: f64,
    /// AEDAT4 compression: none, lz4 or zstd.
    #[arg(long, default_value = "lz4", value_parser = parse_compression)]
    pub compression: Compression,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Replace an existing recording, or the dataset in a non-empty folder (only a folder
    /// `simulate` wrote, with its simulate.json; the old dataset is removed, never mixed in).
    #[arg(long)]
    pub force: bool,
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    match Compression::from_name(s) {
        Some(c @ (Compression::None | Compression::Lz4 | Compression::Zstd)) => Ok(c),
        _ => Err(format!("unknown compression '{s}'; none, lz4 or zstd")),
    }
}

fn parse_class(name: &str) -> anyhow::Result<Class> {
    Class::from_name(name).with_context(|| {
        let names: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
        format!("unknown class '{name}'; one of {}", names.join(", "))
    })
}

impl SimulateArgs {
    pub(super) fn config(&self) -> anyhow::Result<SimConfig> {
        if !(self.duration_ms > 0.0 && self.duration_ms <= 3.6e6) {
            bail!("--duration-ms {} is out of range; give 0.001 to 3600000", self.duration_ms);
        }
        Ok(SimConfig {
            resolution: self.size,
            duration_us: (self.duration_ms * 1000.0).round().max(1.0) as u64,
            offset_us: self.t0_us,
            step_us: self.step_us,
            camera: CameraParams {
                threshold_on: self.threshold_on.unwrap_or(self.threshold),
                threshold_off: self.threshold_off.unwrap_or(self.threshold),
                threshold_sigma: self.threshold_sigma,
                refractory_us: self.refractory_us,
                jitter_us: self.jitter_us,
                noise_hz: self.noise_hz,
                ..CameraParams::default()
            },
        })
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.list_classes {
        for class in Class::ALL {
            outln!("{:<20} {}", class.name(), class.description())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out.clone() else { bail!("--out is required") };
    check_memory(&args)?;
    if let Some(images) = &args.from_images {
        return super::simulate_images::run(&args, images, &out);
    }
    let simulator = Simulator::new(args.config()?, camera_seed(args.seed))?;
    match &args.class {
        Some(name) => record_one(&args, &simulator, parse_class(name)?, &out),
        None => record_dataset(&args, &simulator, &out),
    }
}

fn record_one(args: &SimulateArgs, simulator: &Simulator, class: Class, out: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    refuse_existing(out, args.force, "a recording")?;
    let events = simulator.record(class, recording_seed(args.seed, class, args.index));
    let output = AtomicOutput::create(out)?;
    let file = std::io::BufWriter::new(output.file());
    let written = encode_aedat4(file, &events, args.size, args.compression).and_then(|w| w.into_inner().map_err(|e| e.into_error()));
    written.with_context(|| format!("{}: write failed", out.display()))?;
    output.commit()?;
    let on = events.iter().filter(|e| e.p).count();
    if args.json {
        let summary = serde_json::json!({"out": out, "class": class.name(), "index": args.index, "seed": args.seed, "events": events.len(), "on": on});
        outln!("{summary}")?;
    } else {
        eprintln!("wrote {} events ({on} ON) of {} to {} in {:.2?}", events.len(), class.name(), out.display(), started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

fn record_dataset(args: &SimulateArgs, simulator: &Simulator, out: &Path) -> anyhow::Result<ExitCode> {
    limits::count("--per-class", args.per_class as u64, 1, 1_000_000, "recordings per class")?;
    if let Some(t) = args.threads {
        limits::count("--threads", t as u64, 1, 1024, "worker threads")?;
    }
    check_dataset_target(out, args.force)?;
    if let Some(f) = args.split.filter(|f| !(*f > 0.0 && *f < 1.0)) {
        bail!("--split {f} is out of range; give the train fraction, between 0 and 1 (for example 0.8)");
    }
    let classes = if args.classes.is_empty() { Class::ALL.to_vec() } else { args.classes.iter().map(|n| parse_class(n)).collect::<anyhow::Result<_>>()? };
    let items = plan(&classes, args.per_class, args.split, args.seed);
    // Filled beside OUT and renamed into place at the end: an interrupted run leaves nothing,
    // and --force replaces the old dataset whole instead of mixing the two.
    let folder = AtomicDir::create(out)?;
    write_manifest(args, simulator, &classes, folder.path())?;

    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = Instant::now();
    let progress = Progress::new(items.len());
    let written = write_dataset(simulator, &items, folder.path(), args.compression, threads, &|done| progress.update(done))?;
    progress.finish();
    folder.commit(args.force)?;
    let elapsed = started.elapsed();

    let events: usize = written.iter().map(|w| w.events).sum();
    let on: usize = written.iter().map(|w| w.on).sum();
    let (fewest, most) = written.iter().fold((usize::MAX, 0), |(lo, hi), w| (lo.min(w.events), hi.max(w.events)));
    let mean = events / written.len().max(1);
    if args.json {
        let summary = serde_json::json!({
            "out": out, "files": written.len(), "classes": classes.len(), "events": events, "on": on,
            "events_per_file_mean": mean, "events_per_file_min": fewest, "events_per_file_max": most,
            "seconds": elapsed.as_secs_f64(), "threads": threads,
        });
        outln!("{summary}")?;
    } else {
        outln!(
            "wrote {} files ({} classes x {}) to {} in {:.2?} on {threads} thread{}",
            written.len(),
            classes.len(),
            args.per_class,
            out.display(),
            elapsed,
            if threads == 1 { "" } else { "s" }
        )?;
        outln!("{events} events: {mean} per file (min {fewest}, max {most}), {:.1} % ON", 100.0 * on as f64 / events.max(1) as f64)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a sensor or noise rate whose simulation would not fit in memory: per pixel the
/// camera keeps two thresholds and each worker about 40 bytes of state; each noise event costs
/// about 32 bytes (the event and its sorting) in the worker recording it.
fn check_memory(a: &SimulateArgs) -> anyhow::Result<()> {
    let workers = if a.class.is_some() { 1 } else { a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())) as u64 };
    let pixels = u64::from(a.size.width) * u64::from(a.size.height);
    limits::memory("--size", &format!("simulating {pixels} pixels on {workers} workers"), limits::product(&[pixels, 8 + 40 * workers]))?;
    limits::real("--noise-hz", a.noise_hz, 0.0, 1e6, "shot-noise events per pixel per second")?;
    let noise_events = (pixels as f64 * a.noise_hz * a.duration_ms / 1e3).min(u64::MAX as f64) as u64;
    limits::memory("--noise-hz", &format!("about {noise_events} noise events per recording on {workers} workers"), limits::product(&[noise_events, 32, workers]))
}

/// Where a dataset may go: a new or empty folder, or with `--force` a folder holding a dataset
/// `simulate` wrote (its `simulate.json`), never some other folder's files.
pub(super) fn check_dataset_target(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.file_name().is_none() {
        bail!("--out {}: name the dataset folder (e.g. --out data/sim)", out.display());
    }
    let Ok(meta) = std::fs::symlink_metadata(out) else { return Ok(()) };
    if !meta.is_dir() {
        bail!("--out {}: exists and is not a folder; a dataset needs a folder (a single recording needs --class)", out.display());
    }
    let entries = std::fs::read_dir(out).with_context(|| format!("{}: cannot list", out.display()))?.count();
    if entries == 0 {
        return Ok(());
    }
    if !force {
        return Err(OutputError::Exists { path: out.to_path_buf(), what: format!("{entries} entries (a dataset?); new files would mix with them") }.into());
    }
    if !out.join("simulate.json").is_file() {
        bail!(
            "{}: is not a dataset written by simulate (no simulate.json), so --force does not replace it; choose another folder or empty it yourself",
            out.display()
        );
    }
    Ok(())
}

/// `DIR/simulate.json`: everything needed to regenerate the dataset, and its class list.
fn write_manifest(args: &SimulateArgs, simulator: &Simulator, classes: &[Class], out: &Path) -> anyhow::Result<()> {
    let manifest = serde_json::json!({
        "generator": format!("spikestream {} simulate", env!("CARGO_PKG_VERSION")),
        "seed": args.seed,
        "per_class": args.per_class,
        "split": args.split,
        "classes": classes.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "compression": args.compression.name(),
        "config": simulator.config(),
    });
    let path = out.join("simulate.json");
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("{}: cannot write", path.display()))
}

/// A one-line counter on stderr, redrawn at most ten times a second, and only on a terminal.
pub(super) struct Progress {
    total: usize,
    shown: Option<Mutex<Instant>>,
}

impl Progress {
    pub(super) fn new(total: usize) -> Self {
        let shown = std::io::stderr().is_terminal().then(|| Mutex::new(Instant::now() - Duration::from_secs(1)));
        Self { total, shown }
    }

    pub(super) fn update(&self, done: usize) {
        let Some(shown) = &self.shown else { return };
        let mut last = shown.lock().unwrap_or_else(|poison| poison.into_inner());
        if last.elapsed() >= Duration::from_millis(100) || done == self.total {
            *last = Instant::now();
            eprint!("\rsimulating {done}/{} recordings", self.total);
        }
    }

    pub(super) fn finish(&self) {
        if self.shown.is_some() {
            eprintln!();
        }
    }
}

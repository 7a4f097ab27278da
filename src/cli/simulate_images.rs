//! `spikestream simulate --from-images DIR --out DIR2`: every PNG under DIR filmed under three
//! saccades ([`spikestream::sim::still`]), written as DIR2/<same relative path>.aedat4, so an
//! image-folder dataset (`train/<class>/*.png`) becomes an event dataset with the same classes
//! and split: a neuromorphic version of real images, as N-MNIST was made from MNIST.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use spikestream::output::AtomicDir;
use spikestream::sim::SimConfig;
use spikestream::sim::dataset::{Jobs, camera_seed};
use spikestream::rng::{derive_seed, hash_name};
use spikestream::sim::still::{Saccades, load_png};
use spikestream::sim::{SimError, Simulator};

use super::limits;
use super::simulate::{Progress, SimulateArgs, check_dataset_target};

/// An image and the recording made of it, relative to the two roots.
struct Job {
    image: PathBuf,
    recording: PathBuf,
}

pub fn run(args: &SimulateArgs, images: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    limits::real("--saccade-px", args.saccade_px, 0.1, 1000.0, "how far the image moves in a saccade, pixels")?;
    check_dataset_target(out, args.force)?;
    let jobs = find_images(images)?;
    let Some(first) = jobs.first() else { bail!("{}: no .png images under it", images.display()) };
    let first_image = load_png(&images.join(&first.image))?;
    let sensor = Saccades::sensor_for(&first_image, args.saccade_px);
    let config = SimConfig { resolution: sensor, ..args.config()? };
    let simulator = Simulator::new(config, camera_seed(args.seed))?;
    let duration_s = simulator.config().duration_us as f64 * 1e-6;
    let folder = AtomicDir::create(out)?;
    let manifest = serde_json::json!({
        "generator": format!("spikestream {} simulate --from-images", env!("CARGO_PKG_VERSION")),
        "from_images": images, "images": jobs.len(), "saccade_px": args.saccade_px, "seed": args.seed,
        "compression": args.compression.name(), "config": simulator.config(),
    });
    std::fs::write(folder.path().join("simulate.json"), serde_json::to_string_pretty(&manifest)? + "\n").context("writing simulate.json")?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let progress = Progress::new(jobs.len());
    let started = Instant::now();
    let (iw, ih) = (first_image.width, first_image.height);
    let record = |job: &Job| -> Result<_, SimError> {
        let path = images.join(&job.image);
        let image = load_png(&path)?;
        if (image.width, image.height) != (iw, ih) {
            return Err(SimError::Image { path, why: format!("{}x{} pixels, but the first image is {iw}x{ih}; every image of a dataset must have one size", image.width, image.height) });
        }
        let scene = Saccades::new(image, sensor, args.saccade_px, duration_s);
        Ok(simulator.film(derive_seed(args.seed, hash_name(&job.image.to_string_lossy())), &|t, frame| scene.render(t, frame)))
    };
    let run = Jobs { root: folder.path(), resolution: sensor, compression: args.compression, threads, progress: &|done| progress.update(done) };
    let written = run.run(&jobs, |j| &j.recording, record)?;
    progress.finish();
    folder.commit(args.force)?;
    let events: usize = written.iter().map(|w| w.events).sum();
    outln!(
        "wrote {} recordings ({iw}x{ih} images on a {}x{} sensor, saccades of {} px) to {} in {:.2?}; {} events per recording on average",
        written.len(),
        sensor.width,
        sensor.height,
        args.saccade_px,
        out.display(),
        started.elapsed(),
        events / written.len().max(1)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Every `.png` under `root`, sorted, with the recording path beside it (`.aedat4`).
fn find_images(root: &Path) -> anyhow::Result<Vec<Job>> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}: cannot list", dir.display()))? {
            let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
            let name = rel.join(entry.file_name());
            if entry.file_type().with_context(|| format!("{}", entry.path().display()))?.is_dir() {
                stack.push(name);
            } else if name.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
                found.push(Job { recording: name.with_extension("aedat4"), image: name });
            }
        }
    }
    found.sort_by(|a, b| a.image.cmp(&b.image));
    limits::count("--from-images", found.len() as u64, 0, 10_000_000, "images in the folder")?;
    Ok(found)
}

//! `spikestream frames FILE --frames T --split-by number|time [--size HxW] --out OUT.npy
//! [--png DIR] [--sheet OUT.png]`: what the model sees, as a tensor and as pictures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use spikestream::events::read_file;
use spikestream::frames::picture::{contact_sheet, frame_rgb, peak, write_png};
use spikestream::events::{Event, Resolution};
use spikestream::frames::slicing::SjVersion;
use spikestream::frames::streamed::{FileFramesError, FileTimeline, bin_file, rereadable};
use spikestream::frames::{Frames, Polarity, Slicing, bin_slices, npy, resize::resize, slice};
use spikestream::output::{AtomicOutput, refuse_same_file};

use super::{InputArgs, limits};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitBy {
    /// SpikingJelly split_by='number': equal event counts, the last frame takes the remainder.
    Number,
    /// SpikingJelly split_by='time': equal time spans (an empty span is an error, as in SpikingJelly).
    Time,
    /// SpikingJelly fixed duration (--duration-us; --sj-version picks 2.0.0 or 0.0.0.0.14 semantics).
    Duration,
    /// tonic ToFrame(time_window=--window-us, overlap=--overlap µs).
    TonicTimeWindow,
    /// tonic ToFrame(event_count=--event-count, overlap=--overlap events).
    TonicEventCount,
    /// tonic ToFrame(n_time_bins=--frames, overlap=--overlap fraction).
    TonicTimeBins,
    /// tonic ToFrame(n_event_bins=--frames, overlap=--overlap fraction).
    TonicEventBins,
}

#[derive(Args, Debug)]
pub struct FramesArgs {
    /// The recording to bin.
    pub file: PathBuf,
    /// Number of frames T (number, time and the tonic bin modes).
    #[arg(long, default_value_t = 10)]
    pub frames: usize,
    #[arg(long, value_enum, default_value = "number")]
    pub split_by: SplitBy,
    /// Resize every frame to HxW with torchvision's antialiased bilinear filter (e.g. 48x48).
    #[arg(long, value_parser = parse_hw)]
    pub size: Option<(usize, usize)>,
    /// One channel counting both polarities instead of OFF/ON channels.
    #[arg(long)]
    pub merge_polarity: bool,
    #[arg(long)]
    pub duration_us: Option<u64>,
    #[arg(long)]
    pub window_us: Option<f64>,
    #[arg(long)]
    pub event_count: Option<usize>,
    /// Overlap: µs (time window), events (event count) or a fraction of a bin (bin modes).
    #[arg(long, default_value_t = 0.0)]
    pub overlap: f64,
    #[arg(long)]
    pub include_incomplete: bool,
    /// SpikingJelly release whose fixed-duration semantics to follow: 2 or legacy.
    #[arg(long, default_value = "2")]
    pub sj_version: String,
    /// Write the float32 tensor [T, C, H, W] here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write one PNG per frame into this folder (ON red, OFF blue).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Write all frames in one contact sheet PNG.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

fn parse_hw(s: &str) -> Result<(usize, usize), String> {
    let (h, w) = s.split_once(['x', 'X']).ok_or_else(|| format!("'{s}' is not HxW"))?;
    match (h.trim().parse(), w.trim().parse()) {
        (Ok(h), Ok(w)) if h > 0 && w > 0 => Ok((h, w)),
        _ => Err(format!("'{s}' is not HxW")),
    }
}

fn slicing(a: &FramesArgs) -> anyhow::Result<Slicing> {
    fn need<T>(v: Option<T>, flag: &str, mode: SplitBy) -> anyhow::Result<T> {
        v.with_context(|| format!("--split-by {mode:?} needs {flag}"))
    }
    Ok(match a.split_by {
        SplitBy::Number => Slicing::SjNumber { frames: a.frames },
        SplitBy::Time => Slicing::SjTime { frames: a.frames },
        SplitBy::Duration => Slicing::SjDuration {
            duration_us: need(a.duration_us, "--duration-us", a.split_by)?,
            version: if a.sj_version == "legacy" { SjVersion::Legacy } else { SjVersion::V2 },
        },
        SplitBy::TonicTimeWindow => Slicing::TonicTimeWindow { window: need(a.window_us, "--window-us", a.split_by)?, overlap: a.overlap, include_incomplete: a.include_incomplete },
        SplitBy::TonicEventCount => {
            Slicing::TonicEventCount { count: need(a.event_count, "--event-count", a.split_by)?, overlap: a.overlap as usize, include_incomplete: a.include_incomplete }
        }
        SplitBy::TonicTimeBins => Slicing::TonicTimeBins { bins: a.frames, overlap: a.overlap },
        SplitBy::TonicEventBins => Slicing::TonicEventBins { bins: a.frames, overlap: a.overlap },
    })
}

pub fn run(args: FramesArgs) -> anyhow::Result<ExitCode> {
    if args.out.is_none() && args.png.is_none() && args.sheet.is_none() {
        bail!("nothing to write: pass --out OUT.npy, --png DIR and/or --sheet OUT.png");
    }
    check_numbers(&args)?;
    for out in [&args.out, &args.sheet].into_iter().flatten() {
        refuse_same_file(&[&args.file], out)?;
    }
    let polarity = if args.merge_polarity { Polarity::Merged } else { Polarity::Split };
    let (slicing, options, file) = (slicing(&args)?, args.input.read_options(), || args.file.display().to_string());
    let no_sensor = || anyhow::anyhow!("{}: the sensor size is not in the header; pass --sensor WxH", args.file.display());
    // A file is framed batch by batch (a pass for its length and span, one for time-based
    // frame boundaries, one to bin: memory is the frames plus one batch); a pipe can be read
    // only once, so it is read whole.
    let (ranges, mut frames, events) = if rereadable(&args.file) {
        let mut timeline = FileTimeline::open(&args.file, options)?;
        let sensor = timeline.resolution().ok_or_else(no_sensor)?;
        check_frame_count(&args, timeline.events() as u64, timeline.span(), sensor, polarity)?;
        let from_file = |e| match e {
            FileFramesError::Read(e) => anyhow::Error::new(e),
            FileFramesError::Frames(e) => anyhow::Error::new(e).context(file()),
        };
        let ranges = timeline.ranges(slicing).map_err(from_file)?;
        let frames = bin_file(&args.file, options, &ranges, sensor, polarity).map_err(from_file)?;
        (ranges, frames, timeline.events())
    } else {
        let recording = read_file(&args.file, options)?;
        let sensor = recording.resolution.ok_or_else(no_sensor)?;
        check_frame_count(&args, recording.events.len() as u64, span(&recording.events), sensor, polarity)?;
        let ranges = slice(&recording.events, slicing).with_context(file)?;
        let frames = bin_slices(&recording.events, &ranges, sensor, polarity).with_context(file)?;
        (ranges, frames, recording.events.len())
    };
    if let Some((h, w)) = args.size {
        frames = resize(&frames, h, w).with_context(file)?;
    }
    let [t, c, h, w] = frames.shape();
    write_outputs(&args, &frames)?;
    let counts: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    eprintln!("{t} frames [{t}, {c}, {h}, {w}] from {events} events; events per frame {counts:?}");
    Ok(ExitCode::SUCCESS)
}

/// Flags whose value alone is out of range.
fn check_numbers(a: &FramesArgs) -> anyhow::Result<()> {
    limits::count("--frames", a.frames as u64, 1, 1_000_000, "frames T")?;
    if let Some(w) = a.window_us {
        limits::real("--window-us", w, 1.0, 1e15, "a time window in µs")?;
        limits::real("--overlap", a.overlap, 0.0, w - 1.0, "µs shared by neighbouring windows, less than --window-us")?;
    }
    if let Some(d) = a.duration_us {
        limits::count("--duration-us", d, 1, u64::MAX, "a frame duration in µs")?;
    }
    if let Some(n) = a.event_count {
        limits::count("--event-count", n as u64, 1, u64::MAX, "events per frame")?;
    }
    if let Some((h, w)) = a.size {
        limits::count("--size", (h.max(w)) as u64, 1, 16384, "frame side in pixels")?;
    }
    Ok(())
}

/// Refuses, before binning, a frame tensor larger than memory: `[frames, C, H, W]` f32, with the
/// frame count the slicing would give for these events (time windows: the recording's span over
/// the window's step).
/// The time from the first event to the last.
fn span(ev: &[Event]) -> u64 {
    match (ev.first(), ev.last()) {
        (Some(f), Some(l)) => l.t.saturating_sub(f.t),
        _ => 0,
    }
}

/// The frames the slicing would make (from the event count, and the span for time windows)
/// fit the memory limit; refused naming the flag otherwise.
fn check_frame_count(a: &FramesArgs, events: u64, span: u64, sensor: Resolution, polarity: Polarity) -> anyhow::Result<()> {
    let (flag, frames) = match a.split_by {
        SplitBy::TonicTimeWindow => {
            let w = a.window_us.unwrap_or(1.0);
            let step = (w - a.overlap).max(1.0);
            ("--window-us", (span as f64 / step).ceil() as u64 + 1)
        }
        SplitBy::Duration => ("--duration-us", span / a.duration_us.unwrap_or(1).max(1) + 1),
        SplitBy::TonicEventCount => ("--event-count", events / a.event_count.unwrap_or(1).max(1) as u64 + 1),
        _ => ("--frames", a.frames as u64),
    };
    let (h, w) = a.size.unwrap_or((usize::from(sensor.height), usize::from(sensor.width)));
    let (sh, sw) = (u64::from(sensor.height), u64::from(sensor.width));
    let c = polarity.channels() as u64;
    // The sensor-sized frames, plus the resized copy when --size is given.
    let bytes = limits::product(&[frames, c, sh, sw, 4]) + a.size.map_or(0, |_| limits::product(&[frames, c, h as u64, w as u64, 4]));
    limits::memory(flag, &format!("{}: {frames} frames of {c}x{sh}x{sw}", a.file.display()), bytes)
}

/// `--out`, `--png` and `--sheet`, each file through a temporary renamed into place, so a full
/// disk or a signal leaves the old file (and names the path).
fn write_outputs(args: &FramesArgs, frames: &Frames) -> anyhow::Result<()> {
    let [t, _, h, w] = frames.shape();
    if let Some(out) = &args.out {
        write_file(out, |f| npy::write_f32(f, &frames.shape(), &frames.data))?;
    }
    if let Some(dir) = &args.png {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let p = peak(frames);
        for i in 0..t {
            let path = dir.join(format!("frame_{i:03}.png"));
            refuse_same_file(&[&args.file], &path)?;
            write_file(&path, |f| write_png(f, w, h, &frame_rgb(frames, i, p)))?;
        }
    }
    if let Some(path) = &args.sheet {
        let (sw, sh, rgb) = contact_sheet(frames);
        write_file(path, |f| write_png(f, sw, sh, &rgb))?;
    }
    Ok(())
}

fn write_file(path: &Path, write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>) -> anyhow::Result<()> {
    let output = AtomicOutput::create(path)?;
    let mut buffered = std::io::BufWriter::new(output.file());
    write(&mut buffered).and_then(|()| buffered.flush()).with_context(|| format!("{}: write failed", path.display()))?;
    drop(buffered);
    output.commit()?;
    Ok(())
}

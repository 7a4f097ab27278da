//! `spikestream frames FILE --frames T --split-by number|time [--size HxW] --out OUT.npy
//! [--png DIR] [--sheet OUT.png]`: what the model sees, as a tensor and as pictures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use spikestream::events::read_file;
use spikestream::frames::picture::{contact_sheet, frame_rgb, peak, write_png};
use spikestream::frames::slicing::{SjVersion, by_count};
use spikestream::frames::streamed::{FileFramesError, bin_file, count_events};
use spikestream::frames::{Polarity, Slicing, bin_slices, npy, resize::resize, slice};

use super::InputArgs;

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
    let polarity = if args.merge_polarity { Polarity::Merged } else { Polarity::Split };
    let (slicing, options, file) = (slicing(&args)?, args.input.read_options(), || args.file.display().to_string());
    let no_sensor = || anyhow::anyhow!("{}: the sensor size is not in the header; pass --sensor WxH", args.file.display());
    // Count-based slicing frames the file batch by batch (memory: the frames plus one batch);
    // time-based slicing needs every timestamp and reads it whole.
    let (ranges, mut frames, events) = if by_count(0, slicing).is_some() {
        let (events, resolution) = count_events(&args.file, options)?;
        let sensor = resolution.ok_or_else(no_sensor)?;
        let ranges = by_count(events, slicing).unwrap_or(Ok(Vec::new())).with_context(file)?;
        let frames = bin_file(&args.file, options, &ranges, sensor, polarity).map_err(|e| match e {
            FileFramesError::Read(e) => anyhow::Error::new(e),
            FileFramesError::Frames(e) => anyhow::Error::new(e).context(file()),
        })?;
        (ranges, frames, events)
    } else {
        let recording = read_file(&args.file, options)?;
        let sensor = recording.resolution.ok_or_else(no_sensor)?;
        let ranges = slice(&recording.events, slicing).with_context(file)?;
        let frames = bin_slices(&recording.events, &ranges, sensor, polarity).with_context(file)?;
        (ranges, frames, recording.events.len())
    };
    if let Some((h, w)) = args.size {
        frames = resize(&frames, h, w).with_context(file)?;
    }
    let [t, c, h, w] = frames.shape();
    if let Some(out) = &args.out {
        let file = std::fs::File::create(out).with_context(|| format!("{}: cannot create", out.display()))?;
        npy::write_f32(file, &frames.shape(), &frames.data).with_context(|| out.display().to_string())?;
    }
    if let Some(dir) = &args.png {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let p = peak(&frames);
        for i in 0..t {
            let path = dir.join(format!("frame_{i:03}.png"));
            let file = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
            write_png(file, w, h, &frame_rgb(&frames, i, p))?;
        }
    }
    if let Some(path) = &args.sheet {
        let (sw, sh, rgb) = contact_sheet(&frames);
        write_png(std::fs::File::create(path).with_context(|| path.display().to_string())?, sw, sh, &rgb)?;
    }
    let counts: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    eprintln!("{t} frames [{t}, {c}, {h}, {w}] from {events} events; events per frame {counts:?}");
    Ok(ExitCode::SUCCESS)
}

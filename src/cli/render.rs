//! `spikestream render`: a recording as video (GIF, MP4 through ffmpeg, Y4M, PNG stills or
//! sequences), each pixel showing its latest event faded by age ([`spikestream::render`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use clap::Args;
use spikestream::frames::streamed::{FileTimeline, rereadable};
use spikestream::frames::timeline::Timeline;
use spikestream::output::refuse_same_file;
use spikestream::render::overlay::Decisions;
use spikestream::render::{Decay, Mp4Preset, Palette, RenderOptions, render_file};
use spikestream::render::Live;
use spikestream::stream::SourceSpec;
use spikestream::stream::source::{OpenOptions, Status, open};
use spikestream::{BackendChoice, Decode, Session, SessionOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use anyhow::Context;

use super::{InputArgs, limits};

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The recording (any readable format); or `--source` for a live stream.
    #[arg(required_unless_present = "source", conflicts_with = "source")]
    pub input: Option<PathBuf>,
    /// Render a live source instead, as `stream --source` takes it (tcp://HOST:PORT, udp://…,
    /// replay:FILE, -), until it ends or Ctrl-C.
    #[arg(long, value_parser = SourceSpec::parse, conflicts_with = "model")]
    pub source: Option<SourceSpec>,
    /// Output: .gif, .mp4 (needs ffmpeg on the PATH), .y4m, .png (the last frame) or
    /// NAME-%06d.png (every frame).
    #[arg(long)]
    pub out: PathBuf,
    /// Frames per second of event time (default 30); or give --frame-us.
    #[arg(long, conflicts_with = "frame_us")]
    pub fps: Option<f64>,
    /// Event time between frames, µs.
    #[arg(long)]
    pub frame_us: Option<f64>,
    /// How a pixel fades after its event: exponential e^(−Δt/τ), linear 1 − Δt/2τ, window (Δt ≤ τ),
    /// or cumulative (Σ ±e^(−Δt/τ) over all its events, tone-mapped per frame).
    #[arg(long, value_enum, default_value = "exponential")]
    pub decay: Decay,
    /// The decay's time constant τ, µs.
    #[arg(long, default_value_t = 200_000.0)]
    pub tau_us: f64,
    /// Colours: gray (grey background, ON light, OFF dark), dark, red-blue, paper, or one of
    /// faery's scientific colour maps (batlow, vik, roma, berlin, lajolla, …; a wrong name lists them all),
    /// or a file FILE.csv[:sequential|diverging|cyclic] of r,g,b rows (0…1 or 0…255; default diverging).
    #[arg(long, default_value = "gray", value_parser = Palette::parse)]
    pub colormap: Palette,
    /// x264's speed/size trade-off for .mp4: the default, ultrafast, is ~3.5× cheaper than
    /// veryfast at ~1.5× the size on event video (and plays everywhere: Constrained Baseline);
    /// veryfast for smaller files; slower presets barely shrink it further (BENCHMARKS.md).
    #[arg(long, value_enum, default_value = "ultrafast")]
    pub mp4_preset: Mp4Preset,
    /// Integer upscaling of each sensor pixel (default: 1, or enough for 320 pixels across on small sensors).
    #[arg(long)]
    pub scale: Option<usize>,
    /// Start this long after the first event: µs, or with a unit (2.5s, 300ms, 40us).
    #[arg(long, value_parser = parse_time, default_value = "0")]
    pub start: u64,
    /// Stop this long after the first event (same units).
    #[arg(long, value_parser = parse_time)]
    pub end: Option<u64>,
    /// Draw the time since the first event in the top-left corner.
    #[arg(long)]
    pub timecode: bool,
    /// Classify the recording with this model (as `classify --decode per-step` does) and draw,
    /// at every video frame, the last closed timestep's top classes and a confidence strip.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The true class, drawn beside the prediction.
    #[arg(long, requires = "model")]
    pub label: Option<String>,
    /// The true class is the name of the recording's folder.
    #[arg(long, requires = "model", conflicts_with = "label")]
    pub labels_from_dirs: bool,
    /// Classes listed in the overlay.
    #[arg(long, default_value_t = 3, requires = "model")]
    pub top_k: usize,
    /// Engine backend for --model: auto (a hardware GPU, else the CPU), gpu or cpu.
    #[arg(long, value_enum, default_value = "auto", requires = "model")]
    pub backend: BackendChoice,
    /// With --model: one JSON line per video frame on stdout (frame, t, step, top classes).
    #[arg(long, requires = "model")]
    pub json: bool,
    #[command(flatten)]
    pub input_args: InputArgs,
}

/// `2.5s`, `300ms`, `40us` or a plain number of µs.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => (&s[..at], &s[at..]),
        None => (s, "us"),
    };
    let scale = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "min" => 60e6,
        _ => return Err(format!("'{s}': the unit must be us, ms, s or min")),
    };
    let v: f64 = number.trim().parse().map_err(|_| format!("'{s}' is not a time like 2.5s, 300ms or 40us"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 1e15 {
        return Err(format!("'{s}' is out of range: give 0 to 1e15 µs"));
    }
    Ok((v * scale).round() as u64)
}

pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    if let Some(input) = &args.input {
        refuse_same_file(&[input], &args.out)?;
    }
    let period_us = match (args.fps, args.frame_us) {
        (Some(fps), _) => {
            limits::real("--fps", fps, 1e-3, 1e6, "frames per second of event time")?;
            1e6 / fps
        }
        (None, Some(us)) => {
            limits::real("--frame-us", us, 1.0, 1e12, "µs of event time between frames")?;
            us
        }
        (None, None) => 1e6 / 30.0,
    };
    limits::real("--tau-us", args.tau_us, 1.0, 1e12, "the decay's time constant in µs")?;
    if let Some(end) = args.end {
        anyhow::ensure!(end > args.start, "--end ({end} µs) must come after --start ({} µs)", args.start);
    }
    if let Some(scale) = args.scale {
        limits::count("--scale", scale as u64, 1, 64, "pixels per sensor pixel")?;
    }
    let options = RenderOptions { period_us, decay: args.decay, tau_us: args.tau_us, palette: args.colormap, scale: args.scale, start_us: args.start, end_us: args.end, mp4_preset: args.mp4_preset, timecode: args.timecode };
    let decisions = decisions(&args)?;
    let started = Instant::now();
    let Some(input) = &args.input else {
        let spec = args.source.clone().expect("clap: input or --source");
        if let SourceSpec::Replay(file) = &spec {
            refuse_same_file(&[file], &args.out)?;
        }
        return render_source(&spec, &args, options);
    };
    let stats = render_file(input, args.input_args.read_options(), &options, &args.out, &mut |info, image| {
        if let Some(d) = &decisions {
            let shown = d.draw(info, image);
            if args.json {
                outln!("{}", serde_json::to_string(&shown).unwrap_or_default()).map_err(|error| spikestream::render::RenderError::Io { path: "<stdout>".into(), what: "writing", error })?;
            }
        }
        Ok(())
    })?;
    let (frames, w, h) = (stats.frames, stats.width, stats.height);
    let secs = started.elapsed().as_secs_f64();
    let span = stats.last_t.zip(stats.first_t).map_or(0, |(l, f)| l.saturating_sub(f));
    let jumps = if stats.clock_jumps > 0 { format!("; {} clock jumps restarted the frame clock", stats.clock_jumps) } else { String::new() };
    eprintln!(
        "{}: {frames} frames {w}x{h} at {:.3} fps from {} events ({:.3} s of event time) in {secs:.2} s ({:.1}x real time){jumps}",
        args.out.display(),
        options.fps(),
        stats.events,
        span as f64 / 1e6,
        frames as f64 / options.fps() / secs.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}

/// With `--model`: the recording classified step by step, and when each step's frame closed.
fn decisions(args: &RenderArgs) -> anyhow::Result<Option<Decisions>> {
    let (Some(model), Some(input)) = (&args.model, &args.input) else { return Ok(None) };
    limits::count("--top-k", args.top_k as u64, 1, 100, "classes listed")?;
    if !rereadable(input) {
        bail!("{}: render --model reads the recording twice (to classify it and to draw it); give a file, not a pipe", input.display());
    }
    let options = SessionOptions { backend: args.backend, batch: 1, decode: Some(Decode::PerStep), top_k: args.top_k, ..SessionOptions::default() };
    let mut session = Session::open(model, options)?;
    if let Some(line) = session.backend_notice() {
        eprintln!("{line}");
    }
    let read = args.input_args.read_options();
    let classification = session.classify_file(input, read)?.remove(0);
    // Step i closes with the last event the framing puts in frame i.
    let mut timeline = FileTimeline::open(input, read)?;
    let ranges = timeline.ranges(session.framing().slicing)?;
    let mut last: Vec<(usize, usize)> = ranges.iter().enumerate().map(|(k, r)| (r.end.saturating_sub(1), k)).collect();
    last.sort_unstable();
    let mut closes = vec![0u64; ranges.len()];
    let mut next = 0;
    timeline.pass(&mut |i, t| {
        while next < last.len() && last[next].0 == i {
            closes[last[next].1] = t;
            next += 1;
        }
    })?;
    let truth = args.label.clone().or_else(|| {
        args.labels_from_dirs.then(|| input.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned())).flatten()
    });
    Ok(Some(Decisions { closes, logits: classification.logits, classes: session.classes().to_vec(), truth, top_k: args.top_k }))
}

/// `render --source`: a live source drawn as it arrives, until it ends or a signal stops it.
fn render_source(spec: &SourceSpec, args: &RenderArgs, options: RenderOptions) -> anyhow::Result<ExitCode> {
    let read = args.input_args.read_options();
    let open_options = OpenOptions { format: read.format, decoder: read.decoder, ..OpenOptions::default() };
    let mut source = open(spec, &open_options)?;
    let stop = Arc::new(AtomicBool::new(false));
    spikestream::output::signals::stop_gracefully(Arc::clone(&stop));
    let mut live = Live::new(&args.out, options);
    let mut batch = Vec::new();
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        batch.clear();
        let status = source.poll(&mut batch, Duration::from_millis(100))?;
        if !live.started() && !batch.is_empty() {
            let sensor = read.decoder.resolution.or(source.resolution()).with_context(|| format!("{}: the source gives no sensor size; pass --sensor WxH", source.describe()))?;
            live.start(sensor)?;
        }
        if !live.push(&batch, &mut |_, _| Ok(()))? {
            break;
        }
        match status {
            Status::Ended => break,
            Status::Lost { reason, retrying: false, .. } => {
                eprintln!("{}: {reason}", source.describe());
                break;
            }
            Status::Lost { reason, .. } | Status::Connected { message: reason, .. } => eprintln!("{}: {reason}", source.describe()),
            Status::Data | Status::Idle => {}
        }
    }
    let stats = live.finish(&mut |_, _| Ok(()))?;
    eprintln!("{}: {} frames {}x{} from {} events of {} in {:.2} s", args.out.display(), stats.frames, stats.width, stats.height, stats.events, source.describe(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

//! `spikestream stream MODEL --source SRC [--frame-us N | --frame-events N] [--hop K]
//! [--on-overload block|drop-oldest] [--reconnect] [--record OUT.aedat4] [--json] [--stats]`:
//! live predictions from a DV network stream, a replayed recording, stdin or a USB camera.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use spikestream::frames::incremental::Close;
use spikestream::frames::Slicing;
use spikestream::stream::resync::JumpBound;
use spikestream::stream::source::{Backoff, OpenOptions, Speed, open};
use spikestream::stream::stats::Ending;
use spikestream::stream::tap::TapMsg;
use spikestream::stream::udp::{UdpAddress, spawn_forward};
use spikestream::render::{Decay, Mp4Preset, Palette, RenderOptions};
use spikestream::stream::{Output, Overload, SourceSpec, StreamPrediction, Summary};
use spikestream::{Decode, SessionOptions};

use spikestream::output::{refuse_existing, refuse_same_file};

use super::model_args::ModelArgs;
use super::{InputArgs, limits};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OverloadArg {
    /// Wait for the engine (nothing dropped; latency grows).
    Block,
    /// Drop the oldest queued frame (latency bounded; drops counted).
    DropOldest,
}

#[derive(Args, Debug)]
pub struct StreamArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where events come from: tcp://HOST:PORT or unix:///PATH (a DV NetworkWriter),
    /// replay:FILE (any recording, played by its timestamps), - (stdin), camera[:SERIAL].
    #[arg(long, value_parser = SourceSpec::parse)]
    pub source: SourceSpec,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub precision: super::model_args::PrecisionArg,
    /// Replay speed: 1 = real time, 4 = four times faster, max = as fast as possible.
    #[arg(long, default_value = "1", value_parser = parse_speed)]
    pub speed: Speed,
    /// Close a frame every N µs of event time (default: the model framing's duration_us).
    #[arg(long, conflicts_with = "frame_events")]
    pub frame_us: Option<u64>,
    /// Close a frame every N events.
    #[arg(long)]
    pub frame_events: Option<usize>,
    /// With no event for this long (wall clock), advance the frames' event clock by the elapsed
    /// time, so a quiet scene still closes frames (time frames only).
    #[arg(long, default_value_t = 100)]
    pub idle_ms: u64,
    /// A prediction every K frames, with ⌈T/K⌉ lanes (default: T, one lane).
    #[arg(long)]
    pub hop: Option<usize>,
    /// Frames queued between framer and engine.
    #[arg(long, default_value_t = 8)]
    pub queue: usize,
    #[arg(long, value_enum, default_value = "block")]
    pub on_overload: OverloadArg,
    /// Reconnect a lost network stream (exponential backoff from 100 ms up to --reconnect-max-ms).
    #[arg(long)]
    pub reconnect: bool,
    #[arg(long, default_value_t = 5000)]
    pub reconnect_max_ms: u64,
    /// Save every incoming event to this AEDAT4 file (before any frame is dropped).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Replace an existing --record file.
    #[arg(long, requires = "record")]
    pub force: bool,
    /// JSON lines: t_start, t_end, class, index, score, latency_ms; a last line holds the summary.
    #[arg(long)]
    pub json: bool,
    /// Report rates, queue depths, drops and latencies on stderr every --stats-every seconds.
    #[arg(long)]
    pub stats: bool,
    #[arg(long, default_value_t = 5.0)]
    pub stats_every: f64,
    /// How logits become a prediction (default: the model's decode metadata).
    #[arg(long, value_parser = parse_decode)]
    pub decode: Option<Decode>,
    /// Render what the stream receives to this video (.gif, .mp4, .y4m, NAME-%06d.png) while
    /// it streams, with the latest prediction drawn; on its own thread, repeating frames
    /// (counted) rather than slowing the stream.
    #[arg(long, value_name = "OUT")]
    pub render: Option<PathBuf>,
    /// Send every event received to udp://HOST:PORT[?format=t64_x16_y16_on8|t32_x16_y15_on1]
    /// as faery and aestream do, on its own thread (a full queue drops batches, counted).
    #[arg(long, value_name = "udp://HOST:PORT", value_parser = parse_forward)]
    pub forward: Option<UdpAddress>,
    /// Frames per second of event time for --render.
    #[arg(long, default_value_t = 30.0, requires = "render")]
    pub render_fps: f64,
    /// An event time this far ahead of the last event is a clock glitch: the stream
    /// resynchronises (new windows from the event after it, the engine's lanes reset).
    #[arg(long, default_value_t = 10_000)]
    pub jump_forward_ms: u64,
    /// An event time this far behind the last event is a clock reset (cameras never step back).
    #[arg(long, default_value_t = 1_000)]
    pub jump_backward_ms: u64,
}

/// `mean` or `last` (a stream window has no per-step report).
fn parse_decode(s: &str) -> Result<Decode, String> {
    Decode::parse(s).filter(|d| *d != Decode::PerStep).ok_or_else(|| format!("'{s}' is not a decode; mean or last"))
}

fn parse_forward(s: &str) -> Result<UdpAddress, String> {
    UdpAddress::parse(s).unwrap_or_else(|| Err(format!("'{s}': --forward takes udp://HOST:PORT[?format=…]")))
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    Speed::parse(s).ok_or_else(|| format!("'{s}' is not a speed; a positive number (1 = real time) or max"))
}

pub fn run(args: StreamArgs) -> anyhow::Result<ExitCode> {
    check_numbers(&args)?;
    if let Some(record) = &args.record {
        if let SourceSpec::Replay(input) = &args.source {
            refuse_same_file(&[input], record)?;
        }
        refuse_existing(record, args.force, "data")?;
    }
    let options = SessionOptions { batch: 1, decode: args.decode, hop: args.hop, precision: args.precision.precision, ..SessionOptions::default() };
    let session = args.model.open_session(options, false)?;
    session.check_events("an event stream")?;
    let close = match (args.frame_us, args.frame_events, session.framing().slicing) {
        (Some(us), _, _) if us > 0 => Close::EveryMicros(us),
        (_, Some(n), _) if n > 0 => Close::EveryEvents(n),
        (Some(_), _, _) | (_, Some(_), _) => bail!("--frame-us and --frame-events must be positive"),
        (None, None, Slicing::SjDuration { duration_us, .. }) => Close::EveryMicros(duration_us),
        (None, None, _) => bail!(
            "say how frames close: --frame-us N (event time) or --frame-events N (event count); the model's framing \
             has no per-frame duration (its split_by divides a whole recording into T frames)"
        ),
    };
    let [c, h, w] = session.model().meta.input;
    let queued = limits::product(&[args.queue as u64 + 2, c as u64, h as u64, w as u64, 4]);
    limits::memory("--queue", &format!("{} queued frames of {c}x{h}x{w}", args.queue), queued)?;
    let mut config = session.stream_config(close);
    config.idle = Duration::from_millis(args.idle_ms.max(1));
    config.overload = match args.on_overload {
        OverloadArg::Block => Overload::Block,
        OverloadArg::DropOldest => Overload::DropOldest,
    };
    config.queue = args.queue.max(1);
    config.sensor = args.input.sensor;
    config.record = args.record.clone();
    config.stats_every = args.stats.then(|| Duration::from_secs_f64(args.stats_every.max(0.1)));
    config.jumps = JumpBound { forward_us: args.jump_forward_ms * 1000, backward_us: args.jump_backward_ms * 1000 };
    let render = match &args.render {
        Some(out) => {
            limits::real("--render-fps", args.render_fps, 0.1, 1000.0, "frames per second of event time")?;
            if let SourceSpec::Replay(input) = &args.source {
                refuse_same_file(&[input], out)?;
            }
            spikestream::render::VideoFormat::of(out)?;
            let options = RenderOptions { period_us: 1e6 / args.render_fps, decay: Decay::Exponential, tau_us: 200_000.0, palette: Palette::Gray, scale: None, start_us: 0, end_us: None, mp4_preset: Mp4Preset::Ultrafast, timecode: true };
            let (tap, thread) = spikestream::render::live_thread::spawn(out.clone(), options);
            config.taps.push(tap.clone());
            Some((tap, thread, out.clone()))
        }
        None => None,
    };

    let options = OpenOptions {
        format: args.input.format,
        decoder: args.input.read_options().decoder,
        speed: args.speed,
        reconnect: args.reconnect.then(|| Backoff { max: Duration::from_millis(args.reconnect_max_ms.max(100)), ..Backoff::default() }),
    };
    let source = open(&args.source, &options)?;
    if let Some(line) = session.backend_notice() {
        eprintln!("{line}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    // SIGINT, SIGTERM or SIGHUP ends the stream cleanly (the recording finished and renamed into
    // place); a second one while the pipeline winds down exits at once.
    spikestream::output::signals::stop_gracefully(Arc::clone(&stop));
    let classes = session.classes().to_vec();
    let json = args.json;
    let mut stdout_gone = false;
    let stop_on_pipe = Arc::clone(&stop);
    let forward = match &args.forward {
        Some(spec) => {
            let (tap, thread) = spawn_forward(spec.clone())?;
            config.taps.push(tap.clone());
            Some((tap, thread, spec.address.clone()))
        }
        None => None,
    };
    let render_tap = render.as_ref().map(|r| r.0.clone());
    let (summary, result) = session.run_stream(source, config, stop, |o| match o {
        Output::Prediction(p) => {
            if let Some(tap) = &render_tap {
                tap.send(TapMsg::Prediction { t_end: p.t_end, class: classes.get(p.class).cloned().unwrap_or_default(), score: p.score });
            }
            if !stdout_gone && print_prediction(&p, &classes, json).is_err() {
                // `spikestream stream … | head`: stop quietly.
                stdout_gone = true;
                stop_on_pipe.store(true, Ordering::SeqCst);
            }
        }
        Output::Stats(s) => {
            if json {
                eprintln!("{}", serde_json::json!({ "stats": s }));
            } else {
                eprintln!("{s}");
            }
        }
        Output::Notice(line) => eprintln!("note: {line}"),
    });
    drop(render_tap);
    print_summary(&summary, json && !stdout_gone);
    if let Some((tap, thread, address)) = forward {
        let dropped = tap.dropped();
        drop(tap);
        match thread.join() {
            Ok(Ok((events, datagrams))) => eprintln!("forwarded {events} events in {datagrams} datagrams to udp://{address} ({dropped} events dropped)"),
            Ok(Err(e)) => eprintln!("--forward udp://{address}: {e}"),
            Err(_) => eprintln!("--forward udp://{address}: the forward thread panicked"),
        }
    }
    if let Some((tap, thread, out)) = render {
        let dropped = tap.dropped();
        drop(tap);
        match thread.join() {
            Ok(Ok(r)) => eprintln!("rendered {} frames {}x{} to {} ({} repeated while the renderer was behind, {dropped} events dropped)", r.frames, r.width, r.height, out.display(), r.frames_repeated),
            Ok(Err(e)) => eprintln!("--render {}: {e}", out.display()),
            Err(_) => eprintln!("--render {}: the render thread panicked", out.display()),
        }
    }
    result?;
    if matches!(summary.ending, Ending::Stopped) && summary.events == 0 && matches!(args.source, SourceSpec::Dv(_) | SourceSpec::Udp(_)) {
        let why = if args.reconnect { " (it never connected)" } else { "" };
        eprintln!("error: nothing was received from {} before the stream was stopped{why}", summary.source);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Numbers that would overflow a `Duration` or allocate without bound, refused naming the flag.
fn check_numbers(a: &StreamArgs) -> anyhow::Result<()> {
    if let Speed::Factor(speed) = a.speed {
        limits::real("--speed", speed, 1e-3, 1e6, "event time per wall time; 1 = real time, or max")?;
    }
    limits::count("--queue", a.queue as u64, 1, 4096, "frames held between framer and engine")?;
    limits::real("--stats-every", a.stats_every, 0.1, 86_400.0, "seconds between reports")?;
    limits::count("--idle-ms", a.idle_ms, 1, 3_600_000, "ms of quiet before frames advance by wall time")?;
    limits::count("--reconnect-max-ms", a.reconnect_max_ms, 100, 3_600_000, "longest wait between reconnection attempts")?;
    limits::count("--jump-forward-ms", a.jump_forward_ms, 1, 86_400_000, "how far ahead an event time may jump before it is a glitch")?;
    limits::count("--jump-backward-ms", a.jump_backward_ms, 1, 86_400_000, "how far back an event time may step before it is a clock reset")?;
    if let Some(us) = a.frame_us {
        limits::count("--frame-us", us, 1, 3_600_000_000, "µs of event time per frame")?;
    }
    if let Some(n) = a.frame_events {
        limits::count("--frame-events", n as u64, 1, 1_000_000_000, "events per frame")?;
    }
    if let Some(k) = a.hop {
        limits::count("--hop", k as u64, 1, 1_000_000, "frames between predictions")?;
    }
    Ok(())
}

fn print_prediction(p: &StreamPrediction, classes: &[String], json: bool) -> std::io::Result<()> {
    let name = classes.get(p.class).cloned().unwrap_or_else(|| p.class.to_string());
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::json!({
            "t_start": p.t_start,
            "t_end": p.t_end,
            "class": name,
            "index": p.class,
            "score": p.score,
            "latency_ms": p.latency_ms,
            "window": p.window,
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{}..{} us  {name}  {:.3}  {:.2} ms", p.t_start, p.t_end, p.score, p.latency_ms)?;
    }
    out.flush()
}

fn print_summary(summary: &Summary, json: bool) {
    eprintln!("{summary}");
    if json {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::json!({ "summary": summary }));
        let _ = out.flush();
    }
}

/// `spikestream devices --cameras`: the USB event cameras `--source camera[:SERIAL]` can open.
#[cfg(feature = "camera")]
pub(super) fn list_cameras(json: bool) -> anyhow::Result<ExitCode> {
    // A sandbox without USB makes libusb fail: that is "no camera", with the reason.
    let (cameras, reason) = match spikestream::stream::camera::list() {
        Ok(c) => (c, None),
        Err(reason) => (Vec::new(), Some(reason)),
    };
    if json {
        outln!("{}", serde_json::json!({ "cameras": cameras, "note": reason }))?;
    } else if cameras.is_empty() {
        outln!("no cameras found{}", reason.map(|r| format!(" ({r})")).unwrap_or_default())?;
    } else {
        for c in &cameras {
            outln!("camera:{}  {}  {}", c.serial.as_deref().unwrap_or("?"), c.kind, c.connection)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Without the `camera` feature: how to get it.
#[cfg(not(feature = "camera"))]
pub(super) fn list_cameras(_json: bool) -> anyhow::Result<ExitCode> {
    bail!("{}", spikestream::stream::source::NO_CAMERA_FEATURE)
}

//! clap subcommands and their dispatch. Numerical work lives in the library; this folder parses,
//! resolves arguments into ready objects and prints.

/// `println!` for a command's output, as an `io::Result`: with `?`, a closed stdout
/// (`spikestream info MODEL | head`) ends the command as a broken pipe, which `main` treats as
/// success, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod bench;
mod classify;
mod classify_inputs;
mod classify_jsonl;
mod classify_report;
mod convert;
mod devices;
mod frames;
#[cfg(feature = "train")]
mod heap;
mod info;
mod inspect;
mod nir;
mod simulate;
mod simulate_images;
mod render;
mod stream;
mod train;
/// The command line's numbers, checked (`spikestream::limits::flags`).
use spikestream::limits::flags as limits;
mod model_args;
mod outputs;
mod progress;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use spikestream::events::Aedat2Layout;
use spikestream::events::ReadOptions;
use spikestream::events::{DecoderOptions, Format, Resolution};

#[derive(Parser, Debug)]
#[command(name = "spikestream", version, about = "Event-camera recordings and streams in, spiking-network decisions out")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Summarise a recording: format, resolution, events, time range, rate, polarity, order.
    Inspect(inspect::InspectArgs),
    /// Convert a recording to AEDAT4 (.aedat4), CSV (.csv) or NumPy (.npy), chosen by extension.
    Convert(convert::ConvertArgs),
    /// Write synthetic labelled recordings from the built-in event-camera simulator.
    Simulate(simulate::SimulateArgs),
    /// Bin a recording into frames [T, 2, H, W] as SpikingJelly or tonic would; write .npy and pictures.
    Frames(frames::FramesArgs),
    /// Classify recordings (files, folders, .npy frames) with an IMP-SNN model.
    Classify(classify::ClassifyArgs),
    /// Describe a model: architecture, parameters, IMP statistics, timesteps, classes, FLOPs.
    Info(info::InfoArgs),
    /// Per-timestep latency (p50/p99), throughput, FLOPs and spike rates of a model or a random preset.
    Bench(bench::BenchArgs),
    /// Render a recording as video (GIF, MP4, Y4M, PNG) with events fading by age.
    Render(render::RenderArgs),
    /// Live predictions from a DV network stream, a replayed recording, stdin or a USB camera.
    Stream(stream::StreamArgs),
    /// Turn a NIR graph (.nir) into a spikestream model file (classify/info/bench also load .nir directly).
    ImportNir(nir::ImportNirArgs),
    /// Write a model as a NIR graph (.nir): IF and LIF with hard reset exactly; --lossy for the rest.
    ExportNir(nir::ExportNirArgs),
    /// List the GPU adapters wgpu sees, with backend, type and limits.
    Devices(devices::DevicesArgs),
    /// Train an IMP-SNN on a dataset folder and write the model file (feature `train`).
    Train(train::TrainArgs),
    /// Accuracy, accuracy at every timestep, confusion matrix and spike rates of a model on a dataset (feature `train`).
    Eval(train::EvalArgs),
}

/// How to read an input recording; shared by every subcommand that reads one.
#[derive(Args, Debug, Clone, Default)]
pub struct InputArgs {
    /// Input format, when detection from content is not wanted
    /// (aedat4, aedat4-stream, aedat3.1, aedat2, evt2, evt3, dat, atis-bin).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Sensor size WxH, for formats whose header lacks it (N-MNIST .bin, old RAW, DAT); overrides the header.
    #[arg(long, value_parser = parse_resolution)]
    pub sensor: Option<Resolution>,
    /// AEDAT 2.0 address layout when the header names no known chip: dvs128 or davis.
    #[arg(long, value_parser = parse_layout)]
    pub aedat2_layout: Option<Aedat2Layout>,
}

impl InputArgs {
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            decoder: DecoderOptions { resolution: self.sensor, aedat2_layout: self.aedat2_layout },
        }
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format '{s}'; one of {}", names.join(", "))
    })
}

pub fn parse_resolution(s: &str) -> Result<Resolution, String> {
    Resolution::parse(s).ok_or_else(|| format!("'{s}' is not a size like 640x480"))
}

fn parse_layout(s: &str) -> Result<Aedat2Layout, String> {
    match s.to_ascii_lowercase().as_str() {
        "dvs128" => Ok(Aedat2Layout::Dvs128),
        "davis" => Ok(Aedat2Layout::Davis),
        _ => Err(format!("unknown layout '{s}'; dvs128 or davis")),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Frames(args) => frames::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Info(args) => info::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Render(args) => render::run(args),
        Command::Stream(args) => stream::run(args),
        Command::ImportNir(args) => nir::run_import(args),
        Command::ExportNir(args) => nir::run_export(args),
        Command::Devices(args) => devices::run(args),
        Command::Train(args) => train::run_train(args),
        Command::Eval(args) => train::run_eval(args),
    }
}

/// The error and its causes as one line, `outer: cause: root`, leaving out a cause whose text
/// the message already holds: library errors print their source inside their own message
/// (`{path}: {source}`), so anyhow's `{:#}` said every cause twice
/// (`…truncated: AEDAT4: …truncated`).
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// A closed stdout (`spikestream inspect x | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

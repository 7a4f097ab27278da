//! `spikestream convert IN OUT`: any readable recording to AEDAT4, CSV or NPY (by extension).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use spikestream::events::aedat4::{Aedat4Writer, Compression, WriterOptions};
use spikestream::events::write::{OutputKind, write_csv, write_npy};
use spikestream::events::{ReadError, Resolution, read_file};

use super::InputArgs;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The recording to read (any supported format).
    pub input: PathBuf,
    /// The file to write: .aedat4, .csv or .npy.
    pub output: PathBuf,
    /// AEDAT4 compression: none, lz4 or zstd.
    #[arg(long, default_value = "lz4", value_parser = parse_compression)]
    pub compression: Compression,
    /// On a truncated or corrupt input, write the events decoded before the problem (and still exit 1).
    #[arg(long)]
    pub partial: bool,
    #[command(flatten)]
    pub read: InputArgs,
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    match Compression::from_name(s) {
        Some(c @ (Compression::None | Compression::Lz4 | Compression::Zstd | Compression::ZstdHigh)) => Ok(c),
        _ => Err(format!("unknown compression '{s}'; none, lz4, zstd or zstd_high")),
    }
}

pub fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let Some(kind) = OutputKind::from_path(&args.output) else {
        bail!("{}: unknown output extension; use .aedat4, .csv or .npy", args.output.display());
    };
    let (recording, error) = match read_file(&args.input, args.read.read_options()) {
        Ok(r) => (r, None),
        Err(e @ ReadError::Decode { .. }) if args.partial => (e.partial().cloned().unwrap_or_default(), Some(e)),
        Err(e @ ReadError::Decode { .. }) => {
            let n = e.partial().map_or(0, |p| p.events.len());
            return Err(anyhow::Error::new(e).context(format!("nothing written; {n} events decoded before the error (--partial writes them)")));
        }
        Err(e) => return Err(e.into()),
    };
    let file = std::fs::File::create(&args.output).with_context(|| format!("{}: cannot create", args.output.display()))?;
    let events = &recording.events;
    match kind {
        OutputKind::Csv => write_csv(file, events),
        OutputKind::Npy => write_npy(file, events),
        OutputKind::Aedat4 => {
            let resolution = recording.resolution.map(Ok).unwrap_or_else(|| infer_resolution(&args, events))?;
            let mut options = WriterOptions::new(resolution);
            options.compression = args.compression;
            let mut writer = Aedat4Writer::new(std::io::BufWriter::new(file), options)?;
            writer.write_events(events)?;
            writer.finish().map(drop)
        }
    }
    .with_context(|| format!("{}: write failed", args.output.display()))?;
    eprintln!("wrote {} events to {}", events.len(), args.output.display());
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}\n(wrote the {} events decoded before it)", events.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// AEDAT4 needs a sensor size; refuse to guess one silently.
fn infer_resolution(args: &ConvertArgs, events: &[spikestream::events::Event]) -> anyhow::Result<Resolution> {
    let (w, h) = events.iter().fold((0u16, 0u16), |(w, h), e| (w.max(e.x), h.max(e.y)));
    bail!(
        "{}: the input header has no sensor size and AEDAT4 needs one; pass --sensor WxH (the events span {}x{})",
        args.input.display(),
        u32::from(w) + 1,
        u32::from(h) + 1
    )
}

//! `spikestream convert IN OUT`: any readable recording to AEDAT4, CSV or NPY (by extension),
//! read and written batch by batch so memory stays bounded whatever the size of the input.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, WriterOptions};
use spikestream::events::write::{CsvWriter, NpyWriter, OutputKind};
use spikestream::events::{Event, EventReader, Format, ReadError, Resolution, Trigger};
use spikestream::output::{AtomicOutput, refuse_same_file};

use super::InputArgs;
use spikestream::stream::udp::{UdpAddress, UdpSender};

/// `convert IN udp://…`: every event of IN in datagrams, in file order.
fn send_udp(args: &ConvertArgs, spec: UdpAddress) -> anyhow::Result<ExitCode> {
    let (format, address) = (spec.format.name(), spec.address.clone());
    let mut sender = UdpSender::connect(spec)?;
    let mut reader = EventReader::open(&args.input, args.read.read_options())?;
    let (mut batch, mut sent) = (Vec::new(), 0u64);
    while reader.next_batch(&mut batch)? {
        sender.send(&batch)?;
        sent += batch.len() as u64;
    }
    eprintln!("sent {sent} events in {} datagrams ({format}) to udp://{address}", sender.datagrams);
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The recording to read (any supported format).
    pub input: PathBuf,
    /// The file to write: .aedat4, .csv or .npy; or udp://HOST:PORT[?format=t64_x16_y16_on8|t32_x16_y15_on1&events_per_packet=N]
    /// to send the events as faery and aestream do (as fast as they decode).
    pub output: PathBuf,
    /// AEDAT4 compression: none, lz4 or zstd.
    #[arg(long, default_value = "lz4", value_parser = parse_compression)]
    pub compression: Compression,
    /// On a truncated or corrupt input, write the events decoded before the problem (and still exit 1).
    #[arg(long)]
    pub partial: bool,
    /// Replace OUT when it already holds an event recording.
    #[arg(long)]
    pub force: bool,
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
    if let Some(spec) = UdpAddress::parse(&args.output.to_string_lossy()) {
        return send_udp(&args, spec.map_err(anyhow::Error::msg)?);
    }
    let Some(kind) = OutputKind::from_path(&args.output) else {
        bail!("{}: unknown output extension; use .aedat4, .csv or .npy", args.output.display());
    };
    refuse_same_file(&[&args.input], &args.output)?;
    super::outputs::refuse_replacing_a_recording(&args.output, args.force)?;
    let mut reader = EventReader::open(&args.input, args.read.read_options())?;
    // Written beside OUT and renamed at the end: a failed conversion leaves OUT as it was.
    let output = AtomicOutput::create(&args.output)?;
    let file = output.try_clone_file()?;
    let write_failed = || format!("{}: write failed", args.output.display());
    let mut sink = match kind {
        OutputKind::Csv => Sink::Csv(CsvWriter::new(file).with_context(write_failed)?),
        OutputKind::Npy => Sink::Npy(NpyWriter::new(file).with_context(write_failed)?),
        OutputKind::Aedat4 => Sink::Aedat4Waiting { file, compression: args.compression },
    };
    let (mut batch, mut written) = (Vec::new(), 0u64);
    let error = loop {
        match reader.next_batch(&mut batch) {
            Ok(true) => {
                sink.write(&reader, &batch).with_context(write_failed)?;
                written += batch.len() as u64;
            }
            Ok(false) => break None,
            Err(e @ ReadError::Decode { .. }) => break Some(e),
            Err(e) => return Err(e.into()),
        }
    };
    let error = match error {
        Some(e) if !args.partial => {
            return Err(anyhow::Error::new(e).context(format!("nothing written; {written} events decoded before the error (--partial writes them)")));
        }
        other => other,
    };
    if let Some((w, h)) = sink.missing_size(&reader) {
        if let Some(e) = error {
            // Cut inside the header: the truncation is the problem, not the missing size.
            return Err(anyhow::Error::new(e).context(format!("nothing written; the input broke off before its header gave a sensor size ({written} events decoded)")));
        }
        bail!(
            "{}: the input header has no sensor size and AEDAT4 needs one; pass --sensor WxH (the events span {}x{})",
            args.input.display(),
            u32::from(w) + 1,
            u32::from(h) + 1
        );
    }
    sink.finish(&reader).with_context(write_failed)?;
    output.commit()?;
    eprintln!("wrote {written} events to {}", args.output.display());
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}\n(wrote the {written} events decoded before it)");
            Ok(ExitCode::FAILURE)
        }
    }
}

enum Sink {
    Csv(CsvWriter<File>),
    Npy(NpyWriter<File>),
    /// The AEDAT4 writer needs the sensor size for its header, known once the input's header
    /// was read: it starts with the first batch.
    Aedat4Waiting { file: File, compression: Compression },
    Aedat4(Aedat4Writer<File>),
    /// The first batch came without a sensor size: nothing is written, and the largest x and y
    /// go into the error.
    Aedat4NoSize { span: (u16, u16) },
}

impl Sink {
    fn write(&mut self, reader: &EventReader, events: &[Event]) -> anyhow::Result<()> {
        if let Sink::Aedat4Waiting { file, compression } = self {
            *self = match reader.resolution() {
                Some(resolution) => Sink::Aedat4(start_aedat4(file, *compression, resolution)?),
                None => Sink::Aedat4NoSize { span: (0, 0) },
            };
        }
        match self {
            Sink::Csv(w) => w.write(events)?,
            Sink::Npy(w) => w.write(events)?,
            Sink::Aedat4(w) => {
                w.write_events(events)?;
                if !reader.triggers().is_empty() {
                    w.add_trigger_stream()?;
                    let triggers: Vec<Trigger> = reader.triggers().iter().map(|t| dv_trigger(reader.format(), t)).collect();
                    w.write_triggers(&triggers)?;
                }
            }
            Sink::Aedat4NoSize { span } => *span = events.iter().fold(*span, |(w, h), e| (w.max(e.x), h.max(e.y))),
            Sink::Aedat4Waiting { .. } => unreachable!("replaced above"),
        }
        Ok(())
    }

    /// The largest x and y of the events, when the output is AEDAT4 and the input has no size.
    fn missing_size(&self, reader: &EventReader) -> Option<(u16, u16)> {
        match self {
            Sink::Aedat4NoSize { span } => Some(*span),
            Sink::Aedat4Waiting { .. } if reader.resolution().is_none() => Some((0, 0)),
            _ => None,
        }
    }

    fn finish(self, reader: &EventReader) -> anyhow::Result<()> {
        match self {
            Sink::Csv(w) => drop(w.finish()?),
            Sink::Npy(w) => drop(w.finish()?),
            Sink::Aedat4(w) => drop(w.finish()?),
            // An input without events: the writer starts here, from the header's size.
            Sink::Aedat4Waiting { file, compression } => match reader.resolution() {
                Some(resolution) => drop(start_aedat4(&file, compression, resolution)?.finish()?),
                None => bail!("no sensor size for the AEDAT4 header"),
            },
            Sink::Aedat4NoSize { .. } => bail!("no sensor size for the AEDAT4 header"),
        }
        Ok(())
    }
}

fn start_aedat4(file: &File, compression: Compression, resolution: Resolution) -> anyhow::Result<Aedat4Writer<File>> {
    let options = WriterOptions { compression, ..WriterOptions::new(resolution) };
    Ok(Aedat4Writer::new(file.try_clone()?, options)?)
}

/// A trigger as AEDAT4 stores it: the DV trigger type as `channel`. AEDAT4 inputs have it
/// already; Prophesee edges become EXTERNAL_SIGNAL_RISING_EDGE (1) or _FALLING_EDGE (2), and
/// their channel number is lost (DV triggers have none).
fn dv_trigger(input: Format, t: &Trigger) -> Trigger {
    match input {
        Format::Aedat4 | Format::Aedat4Stream => *t,
        _ => Trigger { channel: if t.rising { 1 } else { 2 }, ..*t },
    }
}

//! `spikestream inspect FILE [--json]`: the summary of a recording, read in batches.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spikestream::events::EventStats;
use spikestream::events::{EventReader, Format, ReadError, Resolution};

use super::InputArgs;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The recording to summarise.
    pub file: PathBuf,
    /// Print one JSON object (keys: format, width, height, events, t_first, t_last, on, monotonic, …).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    // Batch by batch, so memory stays bounded whatever the size of the file.
    let mut reader = EventReader::open(&args.file, args.input.read_options())?;
    let (mut stats, mut batch) = (EventStats::new(), Vec::new());
    let error = loop {
        match reader.next_batch(&mut batch) {
            Ok(true) => stats.add(&batch),
            Ok(false) => break None,
            Err(e @ ReadError::Decode { .. }) => break Some(e),
            Err(e) => return Err(e.into()),
        }
    };
    let summary = Summary { format: reader.format(), resolution: reader.resolution(), triggers: reader.trigger_count(), metadata: reader.metadata() };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", json(&args.file, &summary, &stats, error.as_ref()))?;
    } else {
        human(&mut out, &args.file, &summary, &stats)?;
    }
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}\n(the summary above covers the {} events decoded before it)", stats.events);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What the reader knows at the end, beside the event statistics.
struct Summary {
    format: Format,
    resolution: Option<Resolution>,
    triggers: u64,
    metadata: Vec<(String, String)>,
}

fn json(path: &std::path::Path, r: &Summary, s: &EventStats, error: Option<&ReadError>) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> =
        r.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::json!({
        "file": path.display().to_string(),
        "format": r.format.name(),
        "width": r.resolution.map(|r| r.width),
        "height": r.resolution.map(|r| r.height),
        "events": s.events,
        "t_first": s.t_first,
        "t_last": s.t_last,
        "duration_us": s.duration_us(),
        "rate_per_s": s.rate_per_s(),
        "on": s.on,
        "monotonic": s.monotonic,
        "backward_steps": s.backward_steps,
        "x_max": s.x_max,
        "y_max": s.y_max,
        "triggers": r.triggers,
        "metadata": metadata,
        "error": error.map(|e| e.to_string()),
    })
}

fn human(out: &mut impl Write, path: &std::path::Path, r: &Summary, s: &EventStats) -> std::io::Result<()> {
    let or_dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    writeln!(out, "file        {}", path.display())?;
    writeln!(out, "format      {}", r.format)?;
    match (r.resolution, s.x_max, s.y_max) {
        (Some(res), _, _) => writeln!(out, "resolution  {res}")?,
        (None, Some(x), Some(y)) => {
            writeln!(out, "resolution  unknown (not in the header; events span {}x{}; pass --sensor WxH)", u32::from(x) + 1, u32::from(y) + 1)?
        }
        _ => writeln!(out, "resolution  unknown")?,
    }
    writeln!(out, "events      {}", s.events)?;
    writeln!(out, "t_first     {} us", or_dash(s.t_first))?;
    writeln!(out, "t_last      {} us", or_dash(s.t_last))?;
    writeln!(out, "duration    {:.6} s", s.duration_us() as f64 / 1e6)?;
    match s.rate_per_s() {
        Some(rate) => writeln!(out, "mean rate   {:.3} Mev/s", rate / 1e6)?,
        None => writeln!(out, "mean rate   -")?,
    }
    let on_share = if s.events > 0 { 100.0 * s.on as f64 / s.events as f64 } else { 0.0 };
    writeln!(out, "on          {} ({on_share:.1}%)", s.on)?;
    if s.monotonic {
        writeln!(out, "monotonic   yes")?;
    } else {
        writeln!(out, "monotonic   no ({} backward steps)", s.backward_steps)?;
    }
    if r.triggers > 0 {
        writeln!(out, "triggers    {}", r.triggers)?;
    }
    for (k, v) in &r.metadata {
        writeln!(out, "  {k}: {v}")?;
    }
    Ok(())
}

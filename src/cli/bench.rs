//! `spikestream bench (MODEL | --arch NAME) [--batch B] [--timesteps T] [--backend …]
//! [--spike-rate R] [--json]`: per-timestep latency, throughput and napkin math.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use spikestream::engine::bench::{measure, random_input};
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model};

use super::model_args::{BackendChoice, open_backend};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A model file; or use --arch for a random model of a preset architecture.
    pub model: Option<PathBuf>,
    /// vgg11_48_legacy, vgg11_dvs or sew_resnet18 with seeded random weights.
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timesteps of the random model (default: 10, or the file's).
    #[arg(long)]
    pub timesteps: Option<usize>,
    /// Input CxHxW of the random model (default per arch: 2x48x48, 2x128x128, 3x224x224).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Divide the random model's channel widths by this.
    #[arg(long, default_value_t = 1)]
    pub width_div: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Fraction of input pixels with events in each frame.
    #[arg(long, default_value_t = 0.1)]
    pub spike_rate: f64,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timesteps to time.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let model = match (&args.model, &args.arch) {
        (Some(path), None) => Model::load(path, &MetaOverrides::default())?,
        (None, Some(arch)) => {
            let input = match (&args.input_shape, arch.as_str()) {
                (Some(s), _) => parse_chw(s)?,
                (None, "vgg11_48_legacy") => [2, 48, 48],
                (None, "vgg11_dvs") => [2, 128, 128],
                (None, _) => [3, 224, 224],
            };
            let spec = SynthSpec { arch: arch.clone(), num_classes: 10, timesteps: args.timesteps.unwrap_or(10), input, width_div: args.width_div, imp: true, seed: 7 };
            Model::from_bytes(&synth_model_bytes(&spec)?, &format!("random {arch}"), &MetaOverrides::default())?
        }
        _ => bail!("give a model file or --arch NAME (not both)"),
    };
    let graph = &model.graph;
    let mut backend = open_backend(args.backend, graph, args.batch.max(1), !args.json)?;
    let input = random_input(args.batch.max(1) * graph.input.len(), args.spike_rate, 42);
    let report = measure(&mut *backend, graph, &input, args.warmup, args.steps.max(1)).context("benchmark run")?;
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["adapter"] = serde_json::json!(report.backend);
        v["arch"] = serde_json::json!(model.meta.arch);
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("model      {} {} (input {}, T={})", model.meta.arch, args.model.as_ref().map_or("random weights".into(), |p| p.display().to_string()), graph.input, graph.timesteps);
    println!("backend    {}", report.backend);
    println!("batch      {}", report.batch);
    println!(
        "latency    p50 {:.3} ms  p99 {:.3} ms  min {:.3} ms per timestep ({} timed)",
        report.p50_ms_per_timestep, report.p99_ms_per_timestep, report.min_ms_per_timestep, report.timesteps_measured
    );
    println!("throughput {:.1} samples/s ({} timesteps per sample)", report.samples_per_s, graph.timesteps);
    println!(
        "napkin     {:.3} GFLOP per timestep dense -> {:.1} GFLOP/s dense-equivalent; {:.3} G synaptic ops actually needed ({:.1}% of dense MACs)",
        report.flops_per_timestep / 1e9,
        report.achieved_gflops,
        report.sops_per_timestep / 1e9,
        100.0 * report.sops_per_timestep / (report.flops_per_timestep / 2.0)
    );
    let rates: Vec<String> = report.spike_rates.iter().map(|(n, r)| format!("{n} {:.1}%", 100.0 * r)).collect();
    println!("spike rate {}", rates.join(", "));
    Ok(ExitCode::SUCCESS)
}

fn parse_chw(s: &str) -> anyhow::Result<[usize; 3]> {
    let d: Vec<usize> = s.split('x').map(|v| v.trim().parse()).collect::<Result<_, _>>().with_context(|| format!("'{s}' is not CxHxW"))?;
    d.try_into().map_err(|_| anyhow::anyhow!("'{s}' is not CxHxW"))
}

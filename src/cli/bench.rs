//! `spikestream bench (MODEL | --arch NAME) [--batch B] [--timesteps T] [--backend …]
//! [--spike-rate R] [--profile-steps N] [--trace OUT.json] [--json]`: per-timestep latency,
//! throughput and napkin math, time per layer (GPU timestamps where the adapter has them, the
//! wall clock per layer on the CPU backend), the loop's overhead over its kernels, and a Chrome
//! trace of it all.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use spikestream::engine::bench::{BenchOptions, BenchReport, measure, random_input};
use spikestream::engine::trace::Clock;
use spikestream::limits::{MAX_BATCH, MAX_PROFILE_STEPS, count};
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model};

use super::model_args::{BackendChoice, open_backend_on};
use spikestream::engine::gpu::ConvMode;

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
    /// Run on the GPU adapter whose name contains NAME (any kind; see `spikestream devices`).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// The GPU plan: `fused` (tiled convolutions with the neuron in the epilogue; the default)
    /// or the one-pass-per-layer plans it replaced (`sparse`, `dense`), for comparison.
    #[arg(long, value_enum, default_value = "fused")]
    pub gpu_plan: GpuPlan,
    #[command(flatten)]
    pub precision: super::model_args::PrecisionArg,
    /// Fraction of input pixels with events in each frame.
    #[arg(long, default_value_t = 0.1)]
    pub spike_rate: f64,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timesteps to time.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Timesteps then profiled per dispatch (GPU timestamps) or per layer (CPU); 0: none.
    #[arg(long, default_value_t = 20)]
    pub profile_steps: usize,
    /// Write every timed timestep and every profiled dispatch as Chrome trace events
    /// (chrome://tracing, https://ui.perfetto.dev).
    #[arg(long, value_name = "OUT.json")]
    pub trace: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub nir: super::nir::NirArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum GpuPlan {
    Fused,
    Sparse,
    Dense,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let model = match (&args.model, &args.arch) {
        (Some(path), None) => {
            // A .nir graph has no timesteps: --timesteps, else 10 as for a random model.
            let mut overrides = MetaOverrides::default();
            args.nir.apply(&mut overrides);
            if spikestream::nir::is_nir_path(path) {
                overrides.set("timesteps", args.timesteps.unwrap_or(10).to_string());
            }
            Model::load(path, &overrides)?
        }
        (None, Some(arch)) => {
            let input = match (&args.input_shape, arch.as_str()) {
                (Some(s), _) => parse_chw(s)?,
                (None, "vgg11_48_legacy") => [2, 48, 48],
                (None, "vgg11_dvs") => [2, 128, 128],
                (None, _) => [3, 224, 224],
            };
            // The random model's tensors are sized from these: checked before they are made.
            let per_layer = input.iter().try_fold(64usize, |a, &d| a.checked_mul(d));
            spikestream::limits::tensor(|| "--input-shape (a random model's first layers)".into(), &[per_layer.unwrap_or(usize::MAX)], 4)?;
            let timesteps = count(|| "--timesteps".into(), args.timesteps.unwrap_or(10) as u64, spikestream::limits::MAX_TIMESTEPS)?;
            let spec = SynthSpec { arch: arch.clone(), num_classes: 10, timesteps, input, width_div: count(|| "--width-div".into(), args.width_div as u64, 1 << 10)?, imp: true, seed: 7 };
            Model::from_bytes(&synth_model_bytes(&spec)?, &format!("random {arch}"), &MetaOverrides::default())?
        }
        _ => bail!("give a model file or --arch NAME (not both)"),
    };
    let graph = &model.graph;
    // Every count here sizes an allocation or a loop: checked before anything runs.
    let batch = count(|| "--batch".into(), args.batch as u64, MAX_BATCH)?;
    graph.check_batch(batch, "--batch")?;
    let measured = count(|| "--steps".into(), args.steps as u64, MAX_PROFILE_STEPS)?;
    if args.warmup as u64 > MAX_PROFILE_STEPS || args.profile_steps as u64 > MAX_PROFILE_STEPS {
        bail!("--warmup and --profile-steps must be at most {MAX_PROFILE_STEPS} (got {} and {})", args.warmup, args.profile_steps);
    }
    let mode = match args.gpu_plan {
        GpuPlan::Fused => ConvMode::Fused,
        GpuPlan::Sparse => ConvMode::Sparse,
        GpuPlan::Dense => ConvMode::Dense,
    };
    let mut backend = open_backend_on(args.backend, args.adapter.as_deref(), graph, batch, !args.json, mode, args.precision.precision)?;
    let input = random_input(batch * graph.input.len(), args.spike_rate, 42);
    let options = BenchOptions { warmup: args.warmup, measured, profiled: args.profile_steps, trace: args.trace.is_some() };
    let (report, trace) = measure(&mut *backend, graph, &input, options).context("benchmark run")?;
    if let (Some(path), Some(trace)) = (&args.trace, &trace) {
        trace.write(path).with_context(|| format!("cannot write the trace to {}", path.display()))?;
        if report.layer_clock.is_none() && !args.json {
            eprintln!("notice: {} has no timestamp queries; the trace holds the wall-clock timesteps only", report.adapter);
        }
    }
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["arch"] = serde_json::json!(model.meta.arch);
        if let Some(path) = &args.trace {
            v["trace"] = serde_json::json!(path.display().to_string());
        }
        outln!("{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("model      {} {} (input {}, T={})", model.meta.arch, args.model.as_ref().map_or("random weights".into(), |p| p.display().to_string()), graph.input, graph.timesteps)?;
    print_report(&report, args.profile_steps)?;
    if let (Some(path), Some(trace)) = (&args.trace, &trace) {
        outln!("trace      {} ({} events; open in chrome://tracing or https://ui.perfetto.dev)", path.display(), trace.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &BenchReport, profile_steps: usize) -> std::io::Result<()> {
    outln!("backend    {}{}", r.backend, if r.software_adapter { " (a software adapter: the CPU runs the shaders)" } else { "" })?;
    outln!("batch      {}", r.batch)?;
    outln!(
        "latency    p50 {:.3} ms  p99 {:.3} ms  min {:.3} ms per timestep, wall clock with device sync ({} timed)",
        r.p50_ms_per_timestep, r.p99_ms_per_timestep, r.min_ms_per_timestep, r.timesteps_measured
    )?;
    outln!("throughput {:.1} samples/s ({} timesteps per sample)", r.samples_per_s, r.model_timesteps)?;
    outln!(
        "napkin     {:.4} GFLOP per timestep dense -> {:.2} GFLOP/s dense-equivalent; {:.4} G synaptic ops per timestep actually needed ({:.1}% of dense MACs) -> {:.3} GSOP/s",
        r.flops_per_timestep / 1e9,
        r.achieved_gflops,
        r.sops_per_timestep / 1e9,
        100.0 * r.sops_per_timestep / (r.flops_per_timestep / 2.0),
        r.achieved_gsops
    )?;
    outln!("sequences  {:.3} ms per timestep, p50 of {} whole sequences (mean decode, no wait between steps)", r.sequence_ms_per_timestep_p50, r.sequences_timed)?;
    if let Some(ms) = r.layer_major_ms_per_timestep_p50 {
        outln!("           {ms:.3} ms per timestep in layer-major order (each layer over all T·B inputs at once)")?;
    }
    if let Some(p) = &r.plan {
        outln!(
            "plan       {} dispatches per step ({} without the head), {:.2} submits per step, {:.2} read-backs per sample; longest dependent chain {} trips; smallest grid {} workgroups (convolutions {}); {:.2} MB of global memory per step",
            p.stats.dispatches_per_step,
            p.dispatches_per_step_without_head,
            p.submits_per_step,
            p.readbacks_per_sample,
            p.stats.max_serial_trips,
            p.stats.min_workgroups,
            p.stats.min_conv_workgroups,
            p.stats.bytes_per_step as f64 / 1e6
        )?;
    }
    if let Some(bytes) = r.gpu_memory_bytes {
        outln!("memory     {:.2} MiB of GPU buffers (weights, state, scratch)", bytes as f64 / (1u64 << 20) as f64)?;
    }
    let rates: Vec<String> = r.spike_rates.iter().map(|(n, v)| format!("{n} {:.1}%", 100.0 * v)).collect();
    outln!("spike rate {}", rates.join(", "))?;
    match (r.layer_clock, r.kernel_ms_per_timestep_p50) {
        (Some(clock), Some(kernels)) => {
            outln!("layers     {}, p50 of {} profiled timesteps:", clock.describe(), r.timesteps_profiled)?;
            for l in &r.layers {
                let spikes = l.spike_rate.map_or(String::new(), |s| format!("  spikes {:.1}%", 100.0 * s));
                outln!("  {:<14} {:<22} {:>9.3} ms {:>5.1}%{spikes}", l.op, l.name, l.ms_p50, 100.0 * l.share)?;
            }
            print!("kernels    {kernels:.3} ms per timestep summed");
            match r.loop_overhead_ratio {
                Some(o) => {
                    let what = if clock == Clock::GpuTimestamps { "upload, encode, submit, wait, readback" } else { "input transpose, logits copy" };
                    let ms = r.loop_overhead_ms.unwrap_or(f64::NAN);
                    let min = r.loop_overhead_ratio_min.map_or(String::new(), |m| format!("; min / min {:+.1}%", 100.0 * m));
                    outln!("; the loop ({what}) adds {:+.1}% = {ms:+.3} ms (wall p50 / kernel p50 - 1{min})", 100.0 * o)?
                }
                None => outln!()?,
            }
        }
        _ if profile_steps > 0 && r.backend.starts_with("gpu") => outln!("layers     not profiled: {} has no timestamp queries", r.adapter)?,
        _ => outln!("layers     not profiled (--profile-steps 0)")?,
    }
    Ok(())
}

fn parse_chw(s: &str) -> anyhow::Result<[usize; 3]> {
    let d: Vec<usize> = s.split('x').map(|v| v.trim().parse()).collect::<Result<_, _>>().with_context(|| format!("'{s}' is not CxHxW"))?;
    d.try_into().map_err(|_| anyhow::anyhow!("'{s}' is not CxHxW"))
}

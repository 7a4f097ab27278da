//! Measuring per-timestep latency honestly: warm up, then time each synchronised timestep
//! (encode + submit + wait for the logits, or the CPU loop) and report percentiles, throughput
//! and the napkin math (FLOPs per timestep, the achieved rate, synaptic operations actually
//! done). Then profile some timesteps per dispatch (GPU timestamps) or per layer (CPU wall
//! clock) for the per-layer table, the loop overhead over the kernels and the trace
//! ([`super::trace`]). It opens no backend and prints nothing: the `bench` command does.

use std::time::Instant;

use super::trace::{Clock, LayerTime, StepProfile, Trace, layer_times, quantile};
use super::{Backend, EngineError};
use crate::model::Graph;

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// What the backend calls itself: `cpu (N threads)` or `gpu: ADAPTER (API, TYPE)`.
    pub backend: String,
    /// The GPU adapter (`name (API, type)`), or `cpu: ` and the CPU model.
    pub adapter: String,
    /// A CPU posing as a GPU (Mesa lavapipe / llvmpipe): its numbers say nothing about GPUs.
    pub software_adapter: bool,
    pub batch: usize,
    pub timesteps_measured: usize,
    /// Wall clock of one synchronised timestep (input upload to logits on the host).
    pub p50_ms_per_timestep: f64,
    pub p99_ms_per_timestep: f64,
    pub min_ms_per_timestep: f64,
    pub mean_ms_per_timestep: f64,
    /// Samples per second when each sample runs `model_timesteps` steps.
    pub samples_per_s: f64,
    pub model_timesteps: usize,
    pub flops_per_timestep: f64,
    pub achieved_gflops: f64,
    /// Synaptic operations per timestep actually needed: spikes × fan-out of the next layer.
    pub sops_per_timestep: f64,
    pub achieved_gsops: f64,
    pub spike_rates: Vec<(String, f64)>,
    /// Where `layers` and `kernel_ms_per_timestep_p50` come from; `None` if nothing was profiled.
    pub layer_clock: Option<Clock>,
    pub timesteps_profiled: usize,
    /// p50 over the profiled timesteps of the dispatches' (layers') summed times.
    pub kernel_ms_per_timestep_p50: Option<f64>,
    /// The same from GPU timestamps (`None` on the CPU backend or without timestamp queries).
    pub gpu_ms_per_timestep_p50: Option<f64>,
    /// What the timestep loop adds over its kernels: wall p50 ÷ kernel p50 − 1 (goal ≤ 0.05).
    pub loop_overhead_ratio: Option<f64>,
    /// The same in ms per timestep (wall p50 − kernel p50): what a faster device would not hide.
    pub loop_overhead_ms: Option<f64>,
    /// Fastest profiled timestep's kernel sum, and wall min ÷ that − 1: on a shared machine the
    /// minima are the least disturbed pair, a check on the p50 ratio.
    pub kernel_ms_per_timestep_min: Option<f64>,
    pub loop_overhead_ratio_min: Option<f64>,
    /// One entry per dispatch (GPU) or layer (CPU), in execution order.
    pub layers: Vec<LayerTime>,
    /// Buffers the GPU backend allocated (weights, state, scratch); `None` on the CPU.
    pub gpu_memory_bytes: Option<u64>,
    /// Whole sequences (`Backend::run`, `mean` decode, T steps from the IMP): wall clock per
    /// timestep, p50 over the sequences timed. The GPU encodes them without waiting per step.
    pub sequence_ms_per_timestep_p50: f64,
    pub sequences_timed: usize,
    /// The same sequences in layer-major order (each layer over all T·B inputs at once), where
    /// the backend has it (the GPU's fused plan).
    pub layer_major_ms_per_timestep_p50: Option<f64>,
    /// The GPU plan of a step with the head, and what the sequences did on the queue.
    #[serde(flatten)]
    pub plan: Option<PlanReport>,
}

/// The GPU plan in numbers: from the dispatches the engine runs, and counted submissions and
/// read-backs of the timed sequences.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PlanReport {
    #[serde(flatten)]
    pub stats: crate::engine::gpu::plan::PlanStats,
    /// Dispatches of a step without the head (`last` decode, all steps but the final one).
    pub dispatches_per_step_without_head: usize,
    pub submits_per_step: f64,
    /// Blocking read-backs per timestep of a sequence: 1/T when the logits are read once per
    /// sample.
    pub readbacks_per_step: f64,
    pub readbacks_per_sample: f64,
}

/// Runs whole sequences of the model's T steps (about `measured` steps in all, at least 3
/// sequences) and counts what they did on the queue.
fn time_sequences(backend: &mut dyn Backend, graph: &Graph, input: &[f32], measured: usize) -> Result<(f64, usize, Option<PlanReport>), EngineError> {
    let t = graph.timesteps.max(1);
    let frames: Vec<f32> = (0..t).flat_map(|_| input.iter().copied()).collect();
    let k = graph.num_classes();
    let decode = crate::model::meta::Decode::Mean;
    backend.run(&frames, t, k, decode)?; // warm-up: pipelines, history buffers
    let sequences = measured.div_ceil(t).max(3);
    let before = backend.io_counts();
    let mut times = Vec::with_capacity(sequences);
    for _ in 0..sequences {
        let start = Instant::now();
        backend.run(&frames, t, k, decode)?;
        times.push(start.elapsed().as_secs_f64() * 1e3 / t as f64);
    }
    let plan = match (backend.plan_stats(true), backend.plan_stats(false), before, backend.io_counts()) {
        (Some(stats), Some(body), Some(a), Some(z)) => {
            let steps = (sequences * t) as f64;
            Some(PlanReport {
                stats,
                dispatches_per_step_without_head: body.dispatches_per_step,
                submits_per_step: (z.submits - a.submits) as f64 / steps,
                readbacks_per_step: (z.readbacks - a.readbacks) as f64 / steps,
                readbacks_per_sample: (z.readbacks - a.readbacks) as f64 / sequences as f64,
            })
        }
        _ => None,
    };
    Ok((quantile(&mut times, 0.5), sequences, plan))
}

/// How long to run.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    pub warmup: usize,
    /// Timesteps timed by the wall clock.
    pub measured: usize,
    /// Timesteps then profiled per dispatch / layer (0: none).
    pub profiled: usize,
    /// Keep every timing for a Chrome trace.
    pub trace: bool,
}

/// Deterministic sparse input frames: each value is an event count, non-zero with
/// probability `rate` (1 or 2 events).
pub fn random_input(len: usize, rate: f64, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            if u < rate { if u < rate / 4.0 { 2.0 } else { 1.0 } } else { 0.0 }
        })
        .collect()
}

/// Runs `warmup`, then `measured` timed and `profiled` profiled timesteps interleaved (cycling
/// through the model's timestep indices, from a reset at each cycle, the head every step) on
/// `input` (`[B, C, H, W]`, reused every step). The trace is `Some` when `options.trace`.
pub fn measure(backend: &mut dyn Backend, graph: &Graph, input: &[f32], options: BenchOptions) -> Result<(BenchReport, Option<Trace>), EngineError> {
    let b = backend.batch();
    let t = graph.timesteps;
    let measured = options.measured.max(1);
    // Lane timestep indices made once: the timed loop allocates nothing of its own.
    let lane_steps: Vec<Vec<usize>> = (0..t).map(|i| vec![i; b]).collect();
    for i in 0..options.warmup {
        if i.is_multiple_of(t) {
            backend.reset_all();
        }
        backend.step(input, &lane_steps[i % t], true)?;
    }
    // Profiled steps are spread evenly among the timed ones, so that both see the same load
    // of the machine (the comparison of the two is the loop-overhead figure).
    let total = measured + options.profiled;
    let profile_at = |i: usize| options.profiled > 0 && (i * options.profiled) / total != ((i + 1) * options.profiled) / total;
    let mut can_profile = true;
    let mut times = Vec::with_capacity(measured);
    let mut starts = Vec::with_capacity(measured);
    let mut profiles: Vec<(f64, StepProfile)> = Vec::with_capacity(options.profiled);
    let mut counts = vec![0u64; graph.neuron_nodes().len()];
    let epoch = Instant::now();
    for i in 0..total {
        if i.is_multiple_of(t) {
            if i > 0 {
                for (c, n) in counts.iter_mut().zip(backend.spike_counts()?) {
                    *c += n;
                }
            }
            backend.reset_all();
        }
        let steps = &lane_steps[i % t];
        let start = Instant::now();
        if can_profile && profile_at(i) {
            match backend.profile_timestep(input, steps)? {
                Some(p) => {
                    profiles.push(((start - epoch).as_secs_f64() * 1e6, p));
                    continue;
                }
                // Nothing ran: a plain step keeps the sequence, uncounted.
                None => can_profile = false,
            }
        }
        backend.step(input, steps, true)?;
        if times.len() < measured {
            times.push(start.elapsed().as_secs_f64() * 1e3);
            starts.push((start - epoch).as_secs_f64() * 1e6);
        }
    }
    for (c, n) in counts.iter_mut().zip(backend.spike_counts()?) {
        *c += n;
    }
    backend.set_layer_major(false);
    let (sequence_ms, sequences, plan) = time_sequences(backend, graph, input, measured)?;
    let layer_major_ms = if backend.set_layer_major(true) { Some(time_sequences(backend, graph, input, measured)?.0) } else { None };

    let trace = options.trace.then(|| {
        let mut trace = Trace::new(&backend.describe(), profiles.first().map(|(_, p)| p.clock));
        for (i, (&start, &ms)) in starts.iter().zip(&times).enumerate() {
            trace.timestep(i, i % t, start, ms * 1e3);
        }
        for (i, (start, p)) in profiles.iter().enumerate() {
            trace.profiled(i, *start, p);
        }
        trace
    });

    let mut sorted = times.clone();
    let p50 = quantile(&mut sorted, 0.5);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let flops = 2.0 * graph.macs_per_timestep() as f64 * b as f64;
    let (spike_rates, sops) = spike_rates(graph, &counts, total, b);
    let profiles: Vec<StepProfile> = profiles.into_iter().map(|(_, p)| p).collect();
    let clock = profiles.first().map(|p| p.clock);
    let mut kernel_times: Vec<f64> = profiles.iter().map(StepProfile::kernel_ms).collect();
    let kernel_ms = (!profiles.is_empty()).then(|| quantile(&mut kernel_times, 0.5));
    let kernel_min = kernel_times.first().copied();
    let mut layers = layer_times(&profiles);
    for l in &mut layers {
        // A neuron layer, or a fused dispatch named "conv+neuron".
        let neuron = if l.op == "neuron" { Some(l.name.as_str()) } else { l.name.split_once('+').map(|(_, n)| n) };
        if let Some(neuron) = neuron {
            l.spike_rate = spike_rates.iter().find(|(n, _)| n == neuron).map(|(_, r)| *r);
        }
    }
    let backend_name = backend.describe();
    let report = BenchReport {
        adapter: adapter_of(&backend_name),
        software_adapter: backend_name.starts_with("gpu") && backend_name.ends_with(", Cpu)"),
        backend: backend_name,
        batch: b,
        timesteps_measured: measured,
        p50_ms_per_timestep: p50,
        p99_ms_per_timestep: quantile(&mut sorted, 0.99),
        min_ms_per_timestep: sorted[0],
        mean_ms_per_timestep: mean,
        samples_per_s: b as f64 / (mean * t as f64 / 1e3),
        model_timesteps: t,
        flops_per_timestep: flops,
        achieved_gflops: flops / (mean / 1e3) / 1e9,
        sops_per_timestep: sops,
        achieved_gsops: sops / (mean / 1e3) / 1e9,
        spike_rates,
        layer_clock: clock,
        timesteps_profiled: profiles.len(),
        kernel_ms_per_timestep_p50: kernel_ms,
        gpu_ms_per_timestep_p50: kernel_ms.filter(|_| clock == Some(Clock::GpuTimestamps)),
        loop_overhead_ratio: kernel_ms.filter(|&k| k > 0.0).map(|k| p50 / k - 1.0),
        loop_overhead_ms: kernel_ms.map(|k| p50 - k),
        kernel_ms_per_timestep_min: kernel_min,
        loop_overhead_ratio_min: kernel_min.filter(|&k| k > 0.0).map(|k| sorted[0] / k - 1.0),
        layers,
        gpu_memory_bytes: backend.device_memory_bytes(),
        sequence_ms_per_timestep_p50: sequence_ms,
        sequences_timed: sequences,
        layer_major_ms_per_timestep_p50: layer_major_ms,
        plan,
    };
    Ok((report, trace))
}

/// Spikes per neuron and timestep of each neuron layer, from spike counts (summed over the
/// `batch` lanes) over `steps` timesteps, and the synaptic operations per timestep of the whole
/// batch they cause downstream.
fn spike_rates(graph: &Graph, counts: &[u64], steps: usize, batch: usize) -> (Vec<(String, f64)>, f64) {
    let mut sops = 0.0;
    let rates = graph
        .neuron_nodes()
        .iter()
        .zip(counts)
        .map(|(&i, &c)| {
            let node = &graph.nodes[i];
            sops += c as f64 / steps as f64 * fan_out(graph, i + 1) as f64;
            (node.name.clone(), c as f64 / (steps * batch * node.shape.len()) as f64)
        })
        .collect();
    (rates, sops)
}

/// `describe()` is `gpu: ADAPTER` or `cpu (N threads)`.
fn adapter_of(describe: &str) -> String {
    match describe.strip_prefix("gpu: ") {
        Some(adapter) => adapter.to_string(),
        None => format!("cpu: {}", cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_string())),
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// Multiply-accumulates one unit of value `v` takes part in downstream (per element).
fn fan_out(graph: &Graph, v: usize) -> usize {
    use crate::model::graph::Op;
    graph
        .nodes
        .iter()
        .filter(|n| n.inputs.contains(&v))
        .map(|n| match &n.op {
            Op::Conv(c) => c.out_ch * c.kernel * c.kernel / (c.stride * c.stride),
            Op::Linear(l) => l.outputs,
            _ => 0,
        })
        .sum()
}

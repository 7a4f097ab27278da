//! Measuring per-timestep latency honestly: warm up, then time each synchronised timestep
//! (encode + submit + wait, or the CPU loop) and report percentiles, throughput and the napkin
//! math (FLOPs per timestep, the achieved rate, synaptic operations actually done).

use std::time::Instant;

use super::{Backend, EngineError};
use crate::model::Graph;

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub backend: String,
    pub batch: usize,
    pub timesteps_measured: usize,
    pub p50_ms_per_timestep: f64,
    pub p99_ms_per_timestep: f64,
    pub min_ms_per_timestep: f64,
    pub mean_ms_per_timestep: f64,
    /// Samples per second when each sample runs `model_timesteps` steps.
    pub samples_per_s: f64,
    pub flops_per_timestep: f64,
    pub achieved_gflops: f64,
    /// Synaptic operations per timestep actually needed: spikes × fan-out of the next layer.
    pub sops_per_timestep: f64,
    pub spike_rates: Vec<(String, f64)>,
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

/// Runs `warmup` then `measured` timesteps (cycling through the model's timestep indices, the
/// head every step) on `input` (`[B, C, H, W]`, reused every step).
pub fn measure(backend: &mut dyn Backend, graph: &Graph, input: &[f32], warmup: usize, measured: usize) -> Result<BenchReport, EngineError> {
    let b = backend.batch();
    let t = graph.timesteps;
    let step = |i: usize, backend: &mut dyn Backend| -> Result<(), EngineError> {
        if i % t == 0 {
            backend.reset_all();
        }
        backend.step(input, &vec![i % t; b], true)?;
        Ok(())
    };
    for i in 0..warmup {
        step(i, backend)?;
    }
    backend.reset_all();
    let mut times = Vec::with_capacity(measured);
    let mut measured_steps = 0;
    let mut counts = vec![0u64; graph.neuron_nodes().len()];
    for i in 0..measured {
        if i % t == 0 && i > 0 {
            for (c, n) in counts.iter_mut().zip(backend.spike_counts()?) {
                *c += n;
            }
        }
        let start = Instant::now();
        step(i, backend)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        measured_steps += 1;
    }
    for (c, n) in counts.iter_mut().zip(backend.spike_counts()?) {
        *c += n;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let flops = 2.0 * graph.macs_per_timestep() as f64 * b as f64;
    let neurons = graph.neuron_nodes();
    let mut sops = 0.0;
    let spike_rates = neurons
        .iter()
        .zip(&counts)
        .map(|(&i, &c)| {
            let node = &graph.nodes[i];
            let rate = c as f64 / (measured_steps * b * node.shape.len()) as f64;
            sops += rate * node.shape.len() as f64 * fan_out(graph, i + 1) as f64 * b as f64;
            (node.name.clone(), rate)
        })
        .collect();
    Ok(BenchReport {
        backend: backend.describe(),
        batch: b,
        timesteps_measured: measured_steps,
        p50_ms_per_timestep: pct(0.5),
        p99_ms_per_timestep: pct(0.99),
        min_ms_per_timestep: times[0],
        mean_ms_per_timestep: mean,
        samples_per_s: b as f64 / (mean * t as f64 / 1e3),
        flops_per_timestep: flops,
        achieved_gflops: flops / (mean / 1e3) / 1e9,
        sops_per_timestep: sops,
        spike_rates,
    })
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

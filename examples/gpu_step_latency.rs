//! Per-timestep latency of a mid-size spiking network on the GPU backend (each convolution
//! mode) and on the CPU backend, synchronised (logits read back every step).
//!
//! `cargo run --release --example gpu_step_latency [-- BATCH STEPS]`; `WGPU_BACKEND` /
//! `WGPU_ADAPTER_NAME` pick the adapter (lavapipe where there is no GPU).

use std::time::Instant;

use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuBackend, GpuContext};
use spikestream::model::graph::{Conv, Graph, Linear, Neuron, Op, Pool, Shape, out_size};
use spikestream::model::neuron::{NeuronKind, Reset};

struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn vec(&mut self, n: usize, r: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-r, r)).collect()
    }
}

/// Weight scale per layer that gives spike rates of roughly 5–25 %.
const GAIN: [f32; 4] = [2.6, 2.0, 1.5, 1.2];

/// 2×64×64 → conv 32 → LIF → pool → conv 64 → LIF → pool → conv 128 → LIF → pool → conv 128 →
/// LIF → GAP → linear 10: 4 convolutions, about 93 M multiply-accumulates per sample and step.
fn mid_size(rng: &mut Rng) -> Graph {
    let lif = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true };
    let mut g = Graph::new(Shape::new(2, 64, 64), 8);
    let mut v = 0;
    let mut s = g.input;
    for (i, &co) in [32usize, 64, 128, 128].iter().enumerate() {
        let ci = s.c;
        // Weights scaled so each layer fires a realistic few percent to tens of percent.
        let gain = GAIN[i] / ((ci * 9) as f32).sqrt();
        let weight = (0..co * ci * 9).map(|_| rng.uniform(-0.5 * gain, gain)).collect();
        let conv = Conv { in_ch: ci, out_ch: co, kernel: 3, stride: 1, padding: 1, weight, bias: rng.vec(co, 0.1), time_scale: Some(vec![1.0; 8]) };
        s = Shape::new(co, s.h, s.w);
        v = g.push(format!("conv{i}"), Op::Conv(conv), vec![v], s);
        v = g.push(format!("sn{i}"), Op::Neuron(Neuron { kind: lif, imp: Some(rng.vec(s.len(), 0.3)), arrays: Default::default() }), vec![v], s);
        if i < 3 {
            s = Shape::new(co, out_size(s.h, 2, 2, 0), out_size(s.w, 2, 2, 0));
            v = g.push(format!("pool{i}"), Op::AvgPool(Pool { kernel: 2, stride: 2, padding: 0, count_include_pad: true }), vec![v], s);
        }
    }
    v = g.push("gap", Op::GlobalAvgPool, vec![v], Shape::new(s.c, 1, 1));
    g.push("fc", Op::Linear(Linear { inputs: s.c, outputs: 10, weight: rng.vec(10 * s.c, 0.2), bias: vec![0.0; 10] }), vec![v], Shape::new(10, 1, 1));
    g.finish();
    g
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn measure(name: &str, backend: &mut dyn Backend, frames: &[Vec<f32>], steps: usize, macs: u64) {
    let batch = backend.batch();
    let lane_steps: Vec<usize> = (0..batch).map(|b| b % 8).collect();
    backend.step(&frames[0], &lane_steps, true).expect("warm-up step");
    let mut times = Vec::with_capacity(steps);
    for t in 0..steps {
        let lane_steps: Vec<usize> = (0..batch).map(|b| (t + b) % 8).collect();
        let start = Instant::now();
        backend.step(&frames[t % frames.len()], &lane_steps, true).expect("step");
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let p50 = percentile(&times, 0.5);
    let dense_gmacs = macs as f64 * batch as f64 / (p50 * 1e-3) / 1e9;
    println!("{name:<34} p50 {p50:8.2} ms  p99 {:8.2} ms  {:7.1} samples·steps/s  {dense_gmacs:6.2} dense GMAC/s", percentile(&times, 0.99), batch as f64 / (p50 * 1e-3));
}

/// GPU time of one 3×3 convolution (64 → 128 channels, 16×16, batch 4) reading spikes of a
/// given density, per convolution mode: the minimum over repeats of the timestamped dispatch.
fn sparsity_sweep(ctx: &std::sync::Arc<GpuContext>) {
    let s = Shape::new(64, 16, 16);
    let mut rng = Rng(7);
    let mut g = Graph::new(s, 1);
    // IF with v_th 1 and soft reset: an input of 1 is a spike, 0 is none, every step.
    let v = g.push("sn", Op::Neuron(Neuron { kind: NeuronKind::If { v_th: 1.0, reset: Reset::Hard(0.0) }, imp: None, arrays: Default::default() }), vec![0], s);
    let conv = Conv { in_ch: 64, out_ch: 128, kernel: 3, stride: 1, padding: 1, weight: rng.vec(128 * 64 * 9, 0.1), bias: rng.vec(128, 0.1), time_scale: None };
    g.push("conv", Op::Conv(conv), vec![v], Shape::new(128, 16, 16));
    g.finish();
    let batch = 4;
    println!("spike conv 64→128 3×3 on 16×16, batch 4 ({:.1} M MACs dense), GPU time per dispatch, min of 5:", (batch * 128 * 64 * 9 * 256) as f64 / 1e6);
    for density in [0.0, 0.02, 0.05, 0.1, 0.2, 0.5] {
        let input: Vec<f32> = (0..batch * s.len()).map(|_| if rng.uniform(0.0, 1.0) < density { 1.0 } else { 0.0 }).collect();
        let mut line = format!("  density {:4.0}%:", density * 100.0);
        for mode in [ConvMode::Dense, ConvMode::SkipZero, ConvMode::Sparse] {
            let mut gpu = GpuBackend::with_context(ctx.clone(), &g, batch, mode).expect("GPU backend");
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let times = gpu.profile_step(&input, &[0; 4]).expect("profile");
                // The convolution plus the packing it needs (if any); not the neuron.
                let ms: f64 = times.iter().filter(|(l, _)| !l.starts_with("neuron")).map(|(_, ms)| ms).sum();
                best = best.min(ms);
            }
            line += &format!("  {mode:?} {best:7.2} ms");
        }
        println!("{line}");
    }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let batch = args.first().copied().unwrap_or(4);
    let steps = args.get(1).copied().unwrap_or(20);
    let mut rng = Rng(0x5eed);
    let graph = mid_size(&mut rng);
    let macs = graph.macs_per_timestep();
    let frames: Vec<Vec<f32>> = (0..8).map(|_| (0..batch * graph.input.len()).map(|_| if rng.uniform(0.0, 1.0) < 0.2 { 1.0 } else { 0.0 }).collect()).collect();
    println!("graph: {} nodes, {:.1} M MACs per sample and step (dense), batch {batch}, {steps} timed steps", graph.nodes.len(), macs as f64 / 1e6);

    let mut cpu = CpuBackend::new(&graph, batch);
    measure(&cpu.describe(), &mut cpu, &frames, steps, macs);
    let counts = cpu.spike_counts().expect("counts");
    let rates: Vec<String> = graph
        .neuron_nodes()
        .iter()
        .zip(&counts)
        .map(|(&i, &c)| format!("{}: {:.1}%", graph.nodes[i].name, 100.0 * c as f64 / (graph.nodes[i].shape.len() * batch * (steps + 1)) as f64))
        .collect();
    println!("spike rates since start: {}", rates.join(", "));

    let ctx = match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            println!("no GPU: {e}");
            return;
        }
    };
    sparsity_sweep(&ctx);
    for mode in [ConvMode::Dense, ConvMode::SkipZero, ConvMode::Sparse] {
        let start = Instant::now();
        let mut gpu = GpuBackend::with_context(ctx.clone(), &graph, batch, mode).expect("GPU backend");
        let setup = start.elapsed().as_secs_f64();
        measure(&format!("{} {mode:?}", ctx.summary.name), &mut gpu, &frames, steps, macs);
        println!("{:<34} (upload + plan + pipeline compiles: {setup:.2} s)", "");
        if std::env::var_os("PROFILE").is_some() {
            let lane_steps: Vec<usize> = (0..batch).collect();
            let lane_steps: Vec<usize> = lane_steps.iter().map(|b| b % 8).collect();
            for (label, ms) in gpu.profile_step(&frames[0], &lane_steps).expect("profile") {
                println!("    {label:<28} {ms:9.3} ms");
            }
        }
    }
}

//! Each engine kernel alone (convolution on event counts, sparse convolution on spikes, neuron,
//! average pooling, linear) and one whole synchronised timestep, on the CPU backend and on the
//! GPU backend (whatever adapter wgpu picks: lavapipe where there is no GPU; without any
//! adapter the GPU half prints a notice and is skipped).
//!
//! A kernel is a one-layer graph run through `Backend::profile_timestep`, so both backends run
//! the same body: the time is the layer's own, from GPU timestamps (the non-zero packing a
//! sparse convolution needs included) or the CPU wall clock around the layer. The whole
//! timestep is the wall clock of `step` with the logits read back (encode + submit + wait), and
//! an empty timestep (one 1→1 linear layer) gives the loop's own cost per step.
//!
//! `cargo bench --bench kernels` (a few minutes on lavapipe); sizes are small so that
//! `cargo test --all-targets`, which runs every function once, takes seconds.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, black_box, measurement::WallTime};
use spikestream::engine::Backend;
use spikestream::engine::bench::random_input;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuBackend, GpuContext};
use spikestream::model::graph::{Conv, Graph, Linear, Neuron, Op, Pool, Shape};
use spikestream::model::neuron::{NeuronKind, Reset};
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model};

const BATCH: usize = 1;
/// Fraction of non-zero inputs (events in a frame, spikes in a layer).
const DENSITY: f64 = 0.1;

fn weights(n: usize, seed: u64) -> Vec<f32> {
    random_input(n, 1.0, seed).iter().enumerate().map(|(i, v)| if i % 3 == 0 { -0.1 * v } else { 0.07 * v }).collect()
}

/// IF neurons with threshold 1 and hard reset: a 0/1 input comes out as the same spikes, so the
/// layer after it sees binary input (the GPU then uses the accumulate-only sparse conv).
fn spikes_of(g: &mut Graph, v: usize, s: Shape) -> usize {
    g.push("spikes", Op::Neuron(Neuron { kind: NeuronKind::If { v_th: 1.0, reset: Reset::Hard(0.0) }, imp: None, arrays: Default::default() }), vec![v], s)
}

fn conv(ci: usize, co: usize, seed: u64) -> Op {
    Op::Conv(Conv { in_ch: ci, out_ch: co, kernel: 3, stride: 1, padding: 1, weight: weights(co * ci * 9, seed), bias: vec![0.01; co], time_scale: None })
}

/// One kernel: a graph whose layer named `layer` is the one timed, its input values, and
/// the GPU convolution mode.
struct Case {
    name: &'static str,
    graph: Graph,
    input: Vec<f32>,
    mode: ConvMode,
    /// Multiply-accumulates (dense) of the timed layer, for the throughput line.
    macs: u64,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    // conv: 2×48×48 event counts (1 or 2 where non-zero) → 16 channels, the first layer of the
    // 48×48 VGG at widths ÷ 4; the GPU runs the dense conv.wgsl.
    let s = Shape::new(2, 48, 48);
    let mut g = Graph::new(s, 4);
    g.push("layer", conv(2, 16, 1), vec![0], Shape::new(16, 48, 48));
    g.finish();
    out.push(Case { name: "conv 2→16 3x3 48x48 (event counts)", input: random_input(BATCH * s.len(), DENSITY, 11), mode: ConvMode::Dense, macs: g.macs_per_timestep(), graph: g });
    // sparse conv: 16×24×24 spikes → 32 channels; the GPU packs the non-zero bitmap first.
    let s = Shape::new(16, 24, 24);
    let mut g = Graph::new(s, 4);
    let v = spikes_of(&mut g, 0, s);
    g.push("layer", conv(16, 32, 2), vec![v], Shape::new(32, 24, 24));
    g.finish();
    let input = random_input(BATCH * s.len(), DENSITY, 12).iter().map(|v| v.min(1.0)).collect();
    out.push(Case { name: "sparse conv 16→32 3x3 24x24 (spikes)", input, mode: ConvMode::Sparse, macs: g.macs_per_timestep(), graph: g });
    // neuron: legacy LIF on 32×24×24 inputs.
    let s = Shape::new(32, 24, 24);
    let mut g = Graph::new(s, 4);
    g.push("layer", Op::Neuron(Neuron { kind: NeuronKind::LegacyLif { decay: 0.25, v_th: 0.5 }, imp: Some(weights(s.len(), 3)), arrays: Default::default() }), vec![0], s);
    g.finish();
    out.push(Case { name: "neuron legacy LIF 32x24x24", input: random_input(BATCH * s.len(), 0.5, 13), mode: ConvMode::Sparse, macs: 0, graph: g });
    // pooling: 2×2 average on 32×24×24 spikes.
    let mut g = Graph::new(s, 4);
    let v = spikes_of(&mut g, 0, s);
    g.push("layer", Op::AvgPool(Pool { kernel: 2, stride: 2, padding: 0, count_include_pad: true }), vec![v], Shape::new(32, 12, 12));
    g.finish();
    let input = random_input(BATCH * s.len(), DENSITY, 14).iter().map(|v| v.min(1.0)).collect();
    out.push(Case { name: "avg pool 2x2 32x24x24", input, mode: ConvMode::Sparse, macs: 0, graph: g });
    // linear: 2304 spikes (64×6×6 flattened, the 48×48 VGG's head at widths ÷ 8) → 10.
    let s = Shape::new(2304, 1, 1);
    let mut g = Graph::new(s, 4);
    let v = spikes_of(&mut g, 0, s);
    g.push("layer", Op::Linear(Linear { inputs: 2304, outputs: 10, weight: weights(2304 * 10, 4), bias: vec![0.0; 10] }), vec![v], Shape::new(10, 1, 1));
    g.finish();
    let input = random_input(BATCH * s.len(), DENSITY, 15).iter().map(|v| v.min(1.0)).collect();
    out.push(Case { name: "linear 2304→10 (spikes)", input, mode: ConvMode::Sparse, macs: g.macs_per_timestep(), graph: g });
    out
}

/// The timed layer's own time in one profiled timestep: its dispatch and, on the GPU, the
/// packing of its input.
fn layer_time(backend: &mut dyn Backend, input: &[f32]) -> Duration {
    let profile = backend.profile_timestep(input, &[0; BATCH]).expect("profiled step").expect("the backend can profile");
    let ms: f64 = profile.dispatches.iter().filter(|d| d.name == "layer" || d.op == "pack_nonzero").map(|d| d.ms).sum();
    Duration::from_secs_f64(ms / 1e3)
}

fn kernels(group: &mut BenchmarkGroup<WallTime>, make: &dyn Fn(&Graph, ConvMode) -> Box<dyn Backend>) {
    for case in cases() {
        let mut backend = make(&case.graph, case.mode);
        if case.macs > 0 {
            group.throughput(Throughput::Elements(case.macs * BATCH as u64));
        } else {
            group.throughput(Throughput::Elements((case.input.len()) as u64));
        }
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| layer_time(&mut *backend, &case.input)).sum());
        });
    }
}

/// The 48×48 VGG at widths ÷ 16 (T = 4), as `tests/bench_cli.rs` uses: one whole timestep.
fn small_model() -> Model {
    let spec = SynthSpec { arch: "vgg11_48_legacy".into(), num_classes: 10, timesteps: 4, input: [2, 48, 48], width_div: 16, imp: true, seed: 7 };
    Model::from_bytes(&synth_model_bytes(&spec).unwrap(), "bench model", &MetaOverrides::default()).unwrap()
}

fn timestep(group: &mut BenchmarkGroup<WallTime>, make: &dyn Fn(&Graph, ConvMode) -> Box<dyn Backend>) {
    let model = small_model();
    let input = random_input(BATCH * model.graph.input.len(), DENSITY, 42);
    let mut backend = make(&model.graph, ConvMode::default());
    group.throughput(Throughput::Elements(model.graph.macs_per_timestep() * BATCH as u64));
    let mut t = 0;
    group.bench_function("whole timestep vgg11_48_legacy /16 (wall, synchronised)", |b| {
        b.iter(|| {
            t = (t + 1) % 4;
            if t == 0 {
                backend.reset_all();
            }
            black_box(backend.step(&input, &[t; BATCH], true).unwrap())
        })
    });
    // The loop's floor: a timestep whose only kernel is a 1→1 linear layer costs what the
    // loop itself costs (input upload, encode, submit, wait, logits readback).
    let mut g = Graph::new(Shape::new(1, 1, 1), 4);
    g.push("layer", Op::Linear(Linear { inputs: 1, outputs: 1, weight: vec![1.0], bias: vec![0.0] }), vec![0], Shape::new(1, 1, 1));
    g.finish();
    let mut backend = make(&g, ConvMode::default());
    group.throughput(Throughput::Elements(1));
    group.bench_function("empty timestep, one 1→1 linear (the loop's own cost)", |b| b.iter(|| black_box(backend.step(&[1.0; BATCH], &[0; BATCH], true).unwrap())));
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = configure(&mut c, "cpu");
        let make = |g: &Graph, _: ConvMode| Box::new(CpuBackend::new(g, BATCH)) as Box<dyn Backend>;
        kernels(&mut group, &make);
        timestep(&mut group, &make);
        group.finish();
    }
    match GpuContext::new() {
        Err(e) => println!("notice: GPU kernel benches skipped: {e}"),
        Ok(ctx) if !ctx.summary.timestamps => println!("notice: GPU kernel benches skipped: {} has no timestamp queries", ctx.summary.name),
        Ok(ctx) => {
            let software = if ctx.summary.device_type == wgpu::DeviceType::Cpu { " (software adapter: the CPU runs the shaders)" } else { "" };
            println!("GPU benches on {}{software}", ctx.describe());
            let mut group = configure(&mut c, "gpu");
            let make = |g: &Graph, mode: ConvMode| Box::new(GpuBackend::with_context(Arc::clone(&ctx), g, BATCH, mode).unwrap()) as Box<dyn Backend>;
            kernels(&mut group, &make);
            timestep(&mut group, &make);
            group.finish();
        }
    }
    c.final_summary();
}

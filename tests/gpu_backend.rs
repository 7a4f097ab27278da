//! The GPU backend against the CPU backend (the specification), kernel by kernel and on whole
//! networks, and lane reset / skipped head / bad input behaviour on both backends (event binning
//! on the GPU: tests/gpu_binning.rs; naga validation of every shader: tests/shaders.rs).
//!
//! No GPU is needed: Mesa lavapipe runs the WGSL on the CPU (scripts/setup-lavapipe.sh). Without
//! any adapter these tests print "skipped: no GPU adapter", except under CI (env `CI` set),
//! where they fail. Sizes stay small: lavapipe's first pipeline compiles are slow.

mod gpu_common;

use gpu_common::{EXACT, REORDERED_SUM, Rng, Tolerance, assert_close, gpu, gpu_backend};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuContext};
use spikestream::engine::{Backend, EngineError};
use spikestream::model::graph::{Conv, Graph, Linear, Neuron, Op, Pool, Shape, out_size};
use spikestream::model::neuron::{Fire, NeuronKind, Reset};

#[allow(clippy::too_many_arguments)]
fn conv(rng: &mut Rng, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize, tebn: Option<usize>, dyadic: bool) -> Op {
    let w = |rng: &mut Rng, n: usize, r: f32| if dyadic { rng.vec(n, |g| g.dyadic(r)) } else { rng.vec(n, |g| g.uniform(-r, r)) };
    let weight = w(rng, out_ch * in_ch * kernel * kernel, 0.5);
    let bias = w(rng, out_ch, 0.25);
    let time_scale = tebn.map(|t| (0..t).map(|i| [1.0, 0.5, 1.5, 0.75][i % 4]).collect());
    Op::Conv(Conv { in_ch, out_ch, kernel, stride, padding, weight, bias, time_scale })
}

fn neuron(rng: &mut Rng, kind: NeuronKind, shape: Shape, imp: bool) -> Op {
    Neuron { kind, imp: imp.then(|| rng.vec(shape.len(), |g| g.dyadic(0.5))), arrays: Default::default() }.into_op()
}

trait IntoOp {
    fn into_op(self) -> Op;
}
impl IntoOp for Neuron {
    fn into_op(self) -> Op {
        Op::Neuron(self)
    }
}

fn conv_shape(graph: &Graph, v: usize, out_ch: usize, k: usize, s: usize, p: usize) -> Shape {
    let i = graph.value_shape(v);
    Shape::new(out_ch, out_size(i.h, k, s, p), out_size(i.w, k, s, p))
}

/// Runs `frames` (`[steps][B·C·H·W]`) on both backends with per-lane timestep indices
/// `(t + lane) % T` (a lane wraps to 0 → it is reset first), comparing logits and the spikes of
/// every neuron node at every step, and spike counts at the end.
fn compare_run(graph: &Graph, batch: usize, steps: usize, rng: &mut Rng, integer_input: bool, logits_tol: Tolerance, modes: &[ConvMode]) {
    let Some(ctx) = gpu() else { return };
    let n = batch * graph.input.len();
    let frames: Vec<Vec<f32>> =
        (0..steps).map(|_| if integer_input { rng.vec(n, |g| g.below(3) as f32) } else { rng.vec(n, |g| g.uniform(0.0, 2.0)) }).collect();
    for &mode in modes {
        let mut cpu = CpuBackend::new(graph, batch);
        let mut gpu = gpu_backend(&ctx, graph, batch, mode);
        let t_max = graph.timesteps;
        for (t, frame) in frames.iter().enumerate() {
            let lane_steps: Vec<usize> = (0..batch).map(|b| (t + b) % t_max).collect();
            let wrap: Vec<usize> = (0..batch).filter(|&b| t > 0 && lane_steps[b] == 0).collect();
            cpu.reset(&wrap);
            gpu.reset(&wrap);
            let want = t % 3 != 1; // some steps skip the head
            let (c, g) = (cpu.step(frame, &lane_steps, want).unwrap(), gpu.step(frame, &lane_steps, want).unwrap());
            assert_eq!(c.is_some(), g.is_some());
            if let (Some(c), Some(g)) = (c, g) {
                assert_close(&format!("{mode:?} step {t} logits"), &c, &g, logits_tol);
            }
            for i in graph.neuron_nodes() {
                let (c, g) = (cpu.last_spikes(i).unwrap(), gpu.last_spikes(i).unwrap());
                assert_close(&format!("{mode:?} step {t} spikes of {}", graph.nodes[i].name), &c, &g, EXACT);
            }
        }
        assert_eq!(cpu.spike_counts().unwrap(), gpu.spike_counts().unwrap(), "{mode:?} spike counts");
    }
}

const ALL_MODES: [ConvMode; 3] = [ConvMode::Dense, ConvMode::SkipZero, ConvMode::Sparse];

// ---------------------------------------------------------------------------------------------
// Shaders

/// Says which adapter the GPU tests run on (visible with `--nocapture`, and in CI logs).
#[test]
fn gpu_adapter_in_use() {
    let Some(ctx) = gpu() else { return };
    println!("GPU tests run on {}", ctx.describe());
    for a in GpuContext::adapters() {
        println!("  adapter: {a}");
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels, one layer at a time

/// Convolutions of every shape the presets use, on real-valued (non-spike) input.
#[test]
fn conv_matches_cpu() {
    let mut rng = Rng(1);
    for &(k, s, p) in &[(3, 1, 1), (1, 1, 0), (7, 2, 3), (3, 2, 1), (2, 2, 0)] {
        // SkipZero only once: each mode and shape is a pipeline lavapipe compiles (slowly).
        let modes: &[ConvMode] = if k == 3 && s == 1 { &ALL_MODES } else { &[ConvMode::Dense, ConvMode::Sparse] };
        for dyadic in [true, false] {
            let mut g = Graph::new(Shape::new(3, 11, 10), 3);
            let shape = conv_shape(&g, 0, 12, k, s, p);
            g.push("conv", conv(&mut rng, 3, 12, k, s, p, Some(3), dyadic), vec![0], shape);
            g.finish();
            let tol = if dyadic { EXACT } else { REORDERED_SUM };
            compare_run(&g, 2, 3, &mut rng, dyadic, tol, modes);
        }
    }
}

/// Convolutions reading spikes (the bit-packed, accumulate-only path), 40 channels (two words).
#[test]
fn spike_conv_matches_cpu() {
    let mut rng = Rng(2);
    for &(k, s, p) in &[(3, 1, 1), (1, 1, 0), (3, 2, 1)] {
        let mut g = Graph::new(Shape::new(40, 7, 6), 2);
        let kind = NeuronKind::If { v_th: 1.0, reset: Reset::Soft };
        let v = g.push("sn", neuron(&mut rng, kind, Shape::new(40, 7, 6), true), vec![0], Shape::new(40, 7, 6));
        let shape = conv_shape(&g, v, 9, k, s, p);
        g.push("conv", conv(&mut rng, 40, 9, k, s, p, None, true), vec![v], shape);
        g.finish();
        compare_run(&g, 3, 4, &mut rng, false, EXACT, &[ConvMode::Sparse, ConvMode::Dense]);
    }
}

/// A readout's membrane (not spikes) into a convolution and a convolution into a readout: the
/// GPU must neither take the membrane for 0/1 spikes (accumulate-only kernels) nor fuse the
/// readout into the conv's spike epilogue. Every conv mode against the CPU.
#[test]
fn readouts_are_not_treated_as_spikes() {
    let mut rng = Rng(9);
    let s = Shape::new(8, 6, 5);
    let mut g = Graph::new(s, 3);
    let li = g.push("li", neuron(&mut rng, NeuronKind::Li { k: 0.5, v_leak: 0.25 }, s, false), vec![0], s);
    let shape = conv_shape(&g, li, 8, 3, 1, 1);
    let c = g.push("conv", conv(&mut rng, 8, 8, 3, 1, 1, None, true), vec![li], shape);
    g.push("out", neuron(&mut rng, NeuronKind::Integrator, shape, false), vec![c], shape);
    g.finish();
    compare_run(&g, 2, 4, &mut rng, true, EXACT, &[ConvMode::Fused, ConvMode::Sparse, ConvMode::Dense]);
}

/// Every neuron rule, with and without IMP, on random (non-dyadic) currents: spikes (and the
/// readouts' membranes) bit for bit.
#[test]
fn neurons_match_cpu_bit_for_bit() {
    let kinds = [
        NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 },
        NeuronKind::LegacyLif { decay: 0.3, v_th: 0.7 },
        NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true },
        NeuronKind::Lif { tau: 3.0, v_th: 1.0, reset: Reset::Hard(0.1), decay_input: true },
        NeuronKind::Lif { tau: 1.7, v_th: 0.8, reset: Reset::Soft, decay_input: false },
        NeuronKind::Lif { tau: 2.5, v_th: 1.0, reset: Reset::Hard(-0.2), decay_input: false },
        NeuronKind::If { v_th: 1.0, reset: Reset::Soft },
        NeuronKind::If { v_th: 0.9, reset: Reset::Hard(0.0) },
        NeuronKind::If { v_th: 0.9, reset: Reset::None },
        NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: Fire::Above, reset: Reset::Soft },
        NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Above, reset: Reset::SoftSnntorch },
        NeuronKind::Leaky { beta: 0.6, v_th: 0.8, fire: Fire::Above, reset: Reset::Hard(0.0) },
        NeuronKind::Leaky { beta: 0.9, v_th: 1.1, fire: Fire::AtLeast, reset: Reset::Hard(-0.3) },
        NeuronKind::LifBox { k: 0.3, v_leak: 0.1, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) },
        NeuronKind::LifBox { k: 0.7, v_leak: -0.2, v_th: 0.6, fire: Fire::AtLeast, reset: Reset::Soft },
        NeuronKind::Li { k: 0.3, v_leak: 0.2 },
        NeuronKind::Integrator,
    ];
    let mut rng = Rng(3);
    for kind in kinds {
        for imp in [true, false] {
            let s = Shape::new(5, 9, 7);
            let mut g = Graph::new(s, 6);
            let v = g.push("sn", neuron(&mut rng, kind, s, imp), vec![0], s);
            g.push("sn2", neuron(&mut rng, kind, s, imp), vec![v], s);
            g.finish();
            compare_run(&g, 2, 8, &mut rng, false, EXACT, &[ConvMode::default()]);
        }
    }
}

#[test]
fn pooling_matches_cpu() {
    let mut rng = Rng(4);
    let s = Shape::new(6, 9, 8);
    for pool in [
        Pool { kernel: 2, stride: 2, padding: 0, count_include_pad: true },
        Pool { kernel: 3, stride: 2, padding: 1, count_include_pad: true },
        Pool { kernel: 3, stride: 2, padding: 1, count_include_pad: false },
    ] {
        let mut g = Graph::new(s, 2);
        let so = Shape::new(6, out_size(9, pool.kernel, pool.stride, pool.padding), out_size(8, pool.kernel, pool.stride, pool.padding));
        g.push("pool", Op::AvgPool(pool), vec![0], so);
        g.finish();
        // Same summation order as the CPU: exact even on random values.
        compare_run(&g, 2, 2, &mut rng, false, EXACT, &[ConvMode::default()]);
    }
    let mut g = Graph::new(s, 2);
    g.push("gap", Op::GlobalAvgPool, vec![0], Shape::new(6, 1, 1));
    g.finish();
    compare_run(&g, 2, 2, &mut rng, false, EXACT, &[ConvMode::default()]);
}

#[test]
fn linear_and_add_match_cpu() {
    let mut rng = Rng(5);
    for dyadic in [true, false] {
        let s = Shape::new(4, 3, 5);
        let mut g = Graph::new(s, 2);
        let a = g.push("add", Op::Add, vec![0, 0], s);
        let f = g.push("flatten", Op::Flatten, vec![a], Shape::new(60, 1, 1));
        let weight = if dyadic { rng.vec(7 * 60, |r| r.dyadic(0.5)) } else { rng.vec(7 * 60, |r| r.uniform(-0.5, 0.5)) };
        let bias = rng.vec(7, |r| r.dyadic(0.5));
        g.push("fc", Op::Linear(Linear { inputs: 60, outputs: 7, weight, bias }), vec![f], Shape::new(7, 1, 1));
        g.finish();
        compare_run(&g, 3, 2, &mut rng, dyadic, if dyadic { EXACT } else { REORDERED_SUM }, &[ConvMode::default()]);
    }
}

// ---------------------------------------------------------------------------------------------
// Whole networks: dyadic weights, integer inputs, lanes at different timesteps → bit for bit

fn lif() -> NeuronKind {
    NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true }
}

/// conv → neuron → pool → conv (TEBN) → neuron → flatten → linear.
fn vgg_like(rng: &mut Rng) -> Graph {
    let mut g = Graph::new(Shape::new(2, 12, 12), 4);
    let s1 = conv_shape(&g, 0, 8, 3, 1, 1);
    let c1 = g.push("features.0", conv(rng, 2, 8, 3, 1, 1, Some(4), true), vec![0], s1);
    let n1 = g.push("features.1", neuron(rng, NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 }, s1, true), vec![c1], s1);
    let sp = Shape::new(8, 6, 6);
    let p1 = g.push("features.2", Op::AvgPool(Pool { kernel: 2, stride: 2, padding: 0, count_include_pad: true }), vec![n1], sp);
    let s2 = conv_shape(&g, p1, 16, 3, 1, 1);
    let c2 = g.push("features.3", conv(rng, 8, 16, 3, 1, 1, Some(4), true), vec![p1], s2);
    let n2 = g.push("features.4", neuron(rng, lif(), s2, true), vec![c2], s2);
    let s3 = conv_shape(&g, n2, 12, 3, 2, 1);
    let c3 = g.push("features.5", conv(rng, 16, 12, 3, 2, 1, None, true), vec![n2], s3);
    let n3 = g.push("features.6", neuron(rng, NeuronKind::If { v_th: 1.0, reset: Reset::Hard(0.0) }, s3, false), vec![c3], s3);
    let f = g.push("flatten", Op::Flatten, vec![n3], Shape::new(s3.len(), 1, 1));
    let weight = rng.vec(5 * s3.len(), |r| r.dyadic(0.5));
    let bias = rng.vec(5, |r| r.dyadic(0.5));
    g.push("fc", Op::Linear(Linear { inputs: s3.len(), outputs: 5, weight, bias }), vec![f], Shape::new(5, 1, 1));
    g.finish();
    g
}

/// SEW residual: conv → neuron → conv → neuron, ADD with the block input, conv → GAP → linear.
fn sew_like(rng: &mut Rng) -> Graph {
    let mut g = Graph::new(Shape::new(2, 10, 10), 3);
    let s = conv_shape(&g, 0, 8, 3, 1, 1);
    let c0 = g.push("conv1", conv(rng, 2, 8, 3, 1, 1, None, true), vec![0], s);
    let n0 = g.push("sn1", neuron(rng, lif(), s, true), vec![c0], s);
    let c1 = g.push("layer1.0.conv1", conv(rng, 8, 8, 3, 1, 1, Some(3), true), vec![n0], s);
    let n1 = g.push("layer1.0.sn1", neuron(rng, lif(), s, true), vec![c1], s);
    let c2 = g.push("layer1.0.conv2", conv(rng, 8, 8, 3, 1, 1, Some(3), true), vec![n1], s);
    let n2 = g.push("layer1.0.sn2", neuron(rng, NeuronKind::If { v_th: 1.0, reset: Reset::Soft }, s, true), vec![c2], s);
    let a = g.push("layer1.0.add", Op::Add, vec![n2, n0], s);
    let s3 = conv_shape(&g, a, 16, 3, 2, 1);
    let c3 = g.push("layer2.0.conv1", conv(rng, 8, 16, 3, 2, 1, None, true), vec![a], s3);
    let n3 = g.push("layer2.0.sn1", neuron(rng, lif(), s3, true), vec![c3], s3);
    let gap = g.push("avgpool", Op::GlobalAvgPool, vec![n3], Shape::new(16, 1, 1));
    let f = g.push("flatten", Op::Flatten, vec![gap], Shape::new(16, 1, 1));
    let weight = rng.vec(4 * 16, |r| r.dyadic(0.5));
    let bias = rng.vec(4, |r| r.dyadic(0.5));
    g.push("fc", Op::Linear(Linear { inputs: 16, outputs: 4, weight, bias }), vec![f], Shape::new(4, 1, 1));
    g.finish();
    g
}

/// ResNet stem: 7×7/2 conv → neuron → 3×3/2 pad 1 avgpool (counting padding) → 1×1 conv →
/// neuron → GAP → linear.
fn stem_like(rng: &mut Rng) -> Graph {
    let mut g = Graph::new(Shape::new(2, 16, 14), 3);
    let s = conv_shape(&g, 0, 8, 7, 2, 3);
    let c = g.push("conv1", conv(rng, 2, 8, 7, 2, 3, Some(3), true), vec![0], s);
    let n = g.push("sn1", neuron(rng, lif(), s, true), vec![c], s);
    let sp = Shape::new(8, out_size(s.h, 3, 2, 1), out_size(s.w, 3, 2, 1));
    let p = g.push("maxpool", Op::AvgPool(Pool { kernel: 3, stride: 2, padding: 1, count_include_pad: true }), vec![n], sp);
    let s2 = conv_shape(&g, p, 16, 1, 1, 0);
    let c2 = g.push("layer1.0.conv1", conv(rng, 8, 16, 1, 1, 0, Some(3), true), vec![p], s2);
    let n2 = g.push("layer1.0.sn1", neuron(rng, NeuronKind::LegacyLif { decay: 0.25, v_th: 0.5 }, s2, true), vec![c2], s2);
    let gap = g.push("avgpool", Op::GlobalAvgPool, vec![n2], Shape::new(16, 1, 1));
    let weight = rng.vec(3 * 16, |r| r.dyadic(0.5));
    let bias = rng.vec(3, |r| r.dyadic(0.5));
    g.push("fc", Op::Linear(Linear { inputs: 16, outputs: 3, weight, bias }), vec![gap], Shape::new(3, 1, 1));
    g.finish();
    g
}

#[test]
fn vgg_like_network_is_bit_identical() {
    let mut rng = Rng(10);
    let g = vgg_like(&mut rng);
    compare_run(&g, 3, 7, &mut rng, true, EXACT, &ALL_MODES);
}

#[test]
fn sew_residual_network_is_bit_identical() {
    let mut rng = Rng(11);
    let g = sew_like(&mut rng);
    compare_run(&g, 2, 5, &mut rng, true, EXACT, &[ConvMode::Sparse]);
}

#[test]
fn resnet_stem_network_is_bit_identical() {
    let mut rng = Rng(12);
    let g = stem_like(&mut rng);
    compare_run(&g, 2, 5, &mut rng, true, EXACT, &[ConvMode::Sparse]);
}

// ---------------------------------------------------------------------------------------------
// Backend behaviour: one body, both backends

type Make<'a> = &'a mut dyn FnMut(&Graph) -> Box<dyn Backend>;

/// Runs a test body on the CPU backend and on the GPU backend (batch 2).
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn cpu() {
                let body: fn(Make) = $body;
                body(&mut |g: &Graph| Box::new(CpuBackend::new(g, 2)) as Box<dyn Backend>);
            }
            #[test]
            fn gpu() {
                let Some(ctx) = super::gpu() else { return };
                let body: fn(Make) = $body;
                body(&mut |g: &Graph| Box::new(gpu_backend(&ctx, g, 2, ConvMode::default())) as Box<dyn Backend>);
            }
        }
    };
}

fn tiny() -> Graph {
    let mut rng = Rng(20);
    let s = Shape::new(2, 4, 4);
    let mut g = Graph::new(s, 2);
    let v = g.push("sn", neuron(&mut rng, NeuronKind::If { v_th: 1.0, reset: Reset::Soft }, s, false), vec![0], s);
    let f = g.push("flatten", Op::Flatten, vec![v], Shape::new(32, 1, 1));
    g.push("fc", Op::Linear(Linear { inputs: 32, outputs: 2, weight: vec![1.0; 64], bias: vec![0.0, 1.0] }), vec![f], Shape::new(2, 1, 1));
    g.finish();
    g
}

on_both_backends!(reset_clears_one_lane, |make| {
    let g = tiny();
    let mut b = make(&g);
    let half = vec![0.5f32; 2 * 32];
    b.step(&half, &[0, 0], false).unwrap();
    b.reset(&[1]);
    // Lane 0 has 0.5 stored and fires everywhere; lane 1 starts again from 0 and does not.
    let logits = b.step(&half, &[1, 0], true).unwrap().unwrap();
    assert_eq!(logits, vec![32.0, 33.0, 0.0, 1.0]);
    assert_eq!(b.spike_counts().unwrap(), vec![32]);
    let spikes = b.last_spikes(0).unwrap();
    assert!(spikes[..32].iter().all(|&s| s == 1.0) && spikes[32..].iter().all(|&s| s == 0.0));
});

on_both_backends!(head_is_skipped_without_logits, |make| {
    let g = tiny();
    let mut b = make(&g);
    assert_eq!(b.step(&vec![0.0; 64], &[0, 1], false).unwrap(), None);
    assert_eq!(b.step(&vec![0.0; 64], &[1, 0], true).unwrap().map(|l| l.len()), Some(4));
});

on_both_backends!(bad_inputs_are_errors, |make| {
    let g = tiny();
    let mut b = make(&g);
    assert!(matches!(b.step(&[0.0; 3], &[0, 0], true), Err(EngineError::InputSize { .. })));
    assert!(matches!(b.step(&vec![0.0; 64], &[0], true), Err(EngineError::InputSize { .. })));
    assert!(matches!(b.step(&vec![0.0; 64], &[0, 2], true), Err(EngineError::Timestep { lane: 1, step: 2, .. })));
});

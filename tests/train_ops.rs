//! The trainer's custom ops against burn's own: the convolution (`train::conv`), forward and
//! gradients (input, weight, bias) against burn's autodiff of `conv2d` on Flex, for binary spike
//! inputs, pooled-spike inputs and dense inputs at the geometries the networks use (and the
//! fallbacks: stride 2, 1×1, channels no multiple of 8), the same on burn's wgpu backend
//! (lavapipe in CI); BatchNorm on batch statistics against burn's `batch_norm_train`; BatchNorm
//! with TEBN's scale in one op against the two ops; average pooling against burn's
//! `avg_pool2d`; and a training step of a whole network with the ops against the same step
//! through burn's.
#![cfg(feature = "train")]

mod common;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use spikestream::model::graph::Pool;
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::train::conv::{spike_conv2d, spike_conv2d_hwc};
use spikestream::train::loss::Loss;
use spikestream::train::net::{TrainNet, TrainOptions, avg_pool, batch_norm_tebn_train, batch_norm_train};
use spikestream::train::optim::{Optimizer, OptimizerKind};
use spikestream::train::train_step;

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// What the input holds.
#[derive(Clone, Copy, Debug)]
enum Input {
    /// 0 or 1 (spikes), about 30 % ones.
    Spikes,
    /// Multiples of 1/4 in [0, 1] (2×2-average-pooled spikes).
    Pooled,
    /// Uniform in [−1, 2] (not dyadic: results compared within a tolerance).
    Dense,
}

/// One convolution case: `[N, Ci, H, W]` input, `Co` outputs, kernel, stride, padding.
struct Case {
    n: usize,
    ci: usize,
    co: usize,
    hw: [usize; 2],
    k: usize,
    stride: usize,
    pad: usize,
}

/// A seeded generator of its own (burn's is global, and tests run in parallel).
struct Rng(u64);

impl Rng {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Dyadic values `m / 16`, `m` a whole number in [−8, 8] (exact in every sum here).
    fn dyadic(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| ((self.next() * 17.0).floor() - 8.0) / 16.0).collect()
    }

    fn input(&mut self, kind: Input, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| {
                let u = self.next();
                match kind {
                    Input::Spikes => f32::from(u8::from(u < 0.3)),
                    Input::Pooled => ((u * 8.0).floor() - 3.0).clamp(0.0, 4.0) / 4.0,
                    Input::Dense => u * 3.0 - 1.0,
                }
            })
            .collect()
    }
}

/// Which convolution [`run`] takes.
#[derive(Clone, Copy, PartialEq)]
enum Conv2d {
    Burn,
    Op,
    /// The op on channel-last activations (`x` and `y` permuted to and from `[N, H, W, C]`).
    OpHwc,
}

/// (output, dL/dx, dL/dw, dL/db) of `L = Σ y · r` through the op or burn's `conv2d`.
fn run(device: &Device, which: Conv2d, c: &Case, x: &[f32], w: &[f32], b: &[f32], r: &[f32]) -> [Vec<f32>; 4] {
    let ad = device.clone().autodiff();
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [c.n, c.ci, c.hw[0], c.hw[1]]), &ad).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(w.to_vec(), [c.co, c.ci, c.k, c.k]), &ad).require_grad();
    let b = Tensor::<1>::from_data(TensorData::new(b.to_vec(), [c.co]), &ad).require_grad();
    let options = ConvOptions::new([c.stride; 2], [c.pad; 2], [1, 1], 1);
    let y = match which {
        Conv2d::Op => spike_conv2d(x.clone(), w.clone(), Some(b.clone()), options),
        Conv2d::OpHwc => spike_conv2d_hwc(x.clone().permute([0, 2, 3, 1]), w.clone(), Some(b.clone()), options).permute([0, 3, 1, 2]),
        Conv2d::Burn => conv2d(x.clone(), w.clone(), Some(b.clone()), options),
    };
    let shape = y.dims();
    let r = Tensor::<4>::from_data(TensorData::new(r.to_vec(), shape), &ad);
    let grads = (y.clone() * r).sum().backward();
    [vec_of(y.inner()), vec_of(x.grad(&grads).unwrap()), vec_of(w.grad(&grads).unwrap()), vec_of(b.grad(&grads).unwrap())]
}

fn compare(what: &str, got: &[f32], want: &[f32], exact: bool) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    assert!(want.iter().any(|v| *v != 0.0), "{what}: the reference is all zero; the case tests nothing");
    if exact {
        // Equal values (a sum of zeros may be −0 on one side and +0 on the other).
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!("{what}: element {i}: op {} vs burn {}", got[i], want[i]);
        }
        return;
    }
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 2e-5 * scale, "{what}: max difference {worst} (scale {scale})");
}

fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("3x3 s1 p1, 16 -> 24 channels", Case { n: 6, ci: 16, co: 24, hw: [12, 10], k: 3, stride: 1, pad: 1 }),
        ("3x3 s1 p1, 3 -> 8 channels", Case { n: 4, ci: 3, co: 8, hw: [9, 9], k: 3, stride: 1, pad: 1 }),
        ("3x3 s2 p1, 8 -> 16 channels", Case { n: 4, ci: 8, co: 16, hw: [11, 12], k: 3, stride: 2, pad: 1 }),
        ("1x1 s1 p0, 8 -> 8 channels", Case { n: 3, ci: 8, co: 8, hw: [7, 5], k: 1, stride: 1, pad: 0 }),
        // Output-channel blocks of 32 + 8 and a 4-channel rest (the weight gradient's register
        // kernels and its plain loops), a kernel those kernels do not take, a 2-pixel plane.
        ("3x3 s1 p1, 5 -> 44 channels", Case { n: 2, ci: 5, co: 44, hw: [6, 7], k: 3, stride: 1, pad: 1 }),
        ("5x5 s1 p2, 4 -> 12 channels", Case { n: 2, ci: 4, co: 12, hw: [6, 5], k: 5, stride: 1, pad: 2 }),
        ("3x3 s1 p1, 6 -> 16 channels, 1×2 plane", Case { n: 3, ci: 6, co: 16, hw: [1, 2], k: 3, stride: 1, pad: 1 }),
    ]
}

fn op_case(device: &Device, backend: &str, exact_where_dyadic: bool) {
    let flex = Device::flex();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, c) in cases() {
        for kind in [Input::Spikes, Input::Pooled, Input::Dense] {
            let x = rng.input(kind, c.n * c.ci * c.hw[0] * c.hw[1]);
            let w = rng.dyadic(c.co * c.ci * c.k * c.k);
            let b = rng.dyadic(c.co);
            let [ho, wo] = c.hw.map(|s| (s + 2 * c.pad - c.k) / c.stride + 1);
            let r = rng.dyadic(c.n * c.co * ho * wo);
            let want = run(&flex, Conv2d::Burn, &c, &x, &w, &b, &r);
            let exact = exact_where_dyadic && !matches!(kind, Input::Dense);
            for (which, layout) in [(Conv2d::Op, "NCHW"), (Conv2d::OpHwc, "NHWC")] {
                let got = run(device, which, &c, &x, &w, &b, &r);
                for (part, (g, w)) in ["output", "dL/dx", "dL/dw", "dL/db"].iter().zip(got.iter().zip(&want)) {
                    compare(&format!("{name}, {kind:?} input, {layout} [{backend}]: {part}"), g, w, exact);
                }
            }
        }
    }
}

/// On Flex the op runs the engine's kernels: with dyadic values every sum is exact, so it
/// equals burn bit for bit; dense non-dyadic inputs within rounding.
#[test]
fn conv_op_equals_burn_autodiff_conv2d_on_flex() {
    op_case(&Device::flex(), "flex", true);
}

/// On burn's wgpu backend the op is burn's own conv2d (within rounding of the GPU's sums).
#[test]
fn conv_op_equals_burn_autodiff_conv2d_on_wgpu() {
    let Some(device) = wgpu_device("the conv op") else { return };
    op_case(&device, "wgpu", false);
}

/// BatchNorm on batch statistics (the fused Flex op) against burn's `batch_norm_train`:
/// output, statistics and the gradients of input, γ and β, within rounding (the op sums in f64).
#[test]
fn batch_norm_op_equals_burn_batch_norm_train_on_flex() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (n, c, h, w) = (6, 5, 7, 3);
    let x: Vec<f32> = rng.input(Input::Dense, n * c * h * w).iter().map(|v| v * 3.0 + 0.5).collect();
    let gamma: Vec<f32> = (0..c).map(|_| rng.next() + 0.5).collect();
    let beta = rng.dyadic(c);
    let r = rng.input(Input::Dense, n * c * h * w);
    let ad = Device::flex().autodiff();
    let run = |op: bool| -> Vec<Vec<f32>> {
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &ad).require_grad();
        let gt = Tensor::<1>::from_data(TensorData::new(gamma.clone(), [c]), &ad).require_grad();
        let bt = Tensor::<1>::from_data(TensorData::new(beta.clone(), [c]), &ad).require_grad();
        let (y, mean, var) = if op {
            let o = batch_norm_train(xt.clone(), gt.clone(), bt.clone(), 1e-5, false);
            (o.output, o.mean, o.variance)
        } else {
            let o = burn::tensor::module::batch_norm_train(xt.clone(), gt.clone(), bt.clone(), 1e-5);
            (o.output, o.mean, o.variance)
        };
        let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [n, c, h, w]), &ad);
        let grads = (y.clone() * rt).sum().backward();
        vec![vec_of(y.inner()), vec_of(mean.inner()), vec_of(var.inner()), vec_of(xt.grad(&grads).unwrap()), vec_of(gt.grad(&grads).unwrap()), vec_of(bt.grad(&grads).unwrap())]
    };
    let (got, want) = (run(true), run(false));
    for (part, (g, w)) in ["output", "mean", "variance", "dL/dx", "dL/dgamma", "dL/dbeta"].iter().zip(got.iter().zip(&want)) {
        compare(&format!("batch norm: {part}"), g, w, false);
    }
}

/// (output, then the gradients of each of `inputs`) of `L = Σ y · r`, `y = op(inputs)`; the
/// inputs are flat, `op` shapes them.
fn grads_of<const D: usize>(device: &Device, inputs: &[Vec<f32>], r: &[f32], op: impl Fn(&[Tensor<1>]) -> Tensor<D>) -> Vec<Vec<f32>> {
    let ad = device.clone().autodiff();
    let ts: Vec<Tensor<1>> = inputs.iter().map(|v| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &ad).require_grad()).collect();
    let y = op(&ts);
    let rt = Tensor::<1>::from_data(TensorData::new(r.to_vec(), [r.len()]), &ad).reshape(y.dims());
    let grads = (y.clone() * rt).sum().backward();
    let mut out = vec![vec_of(y.inner())];
    out.extend(ts.iter().map(|t| vec_of(t.grad(&grads).expect("a gradient for every input"))));
    out
}

/// BatchNorm followed by TEBN's per-timestep scale as one op, against the trainer's BN op then a
/// broadcast multiply (`scale_per_timestep`) and against burn's `batch_norm_train` then the
/// multiply: output and the gradients of x, γ, β and the scale, within rounding (the fused op
/// sums the scale's gradient per channel in f64). On wgpu the op is burn's ops composed.
fn tebn_case(device: &Device, backend: &str) {
    let mut rng = Rng(0x0f1e_2d3c_4b5a_6978);
    let (t, b, c, h, w) = (4, 3, 5, 6, 7);
    let n = t * b;
    let x: Vec<f32> = rng.input(Input::Dense, n * c * h * w).iter().map(|v| v * 2.0 - 0.25).collect();
    let gamma: Vec<f32> = (0..c).map(|_| rng.next() + 0.5).collect();
    let beta = rng.dyadic(c);
    let scale: Vec<f32> = (0..t).map(|_| rng.next() * 1.5 + 0.25).collect();
    let r = rng.input(Input::Dense, n * c * h * w);
    let inputs = [x, gamma, beta, scale];
    let scaled = |y: Tensor<4>, s: &Tensor<1>| (y.reshape([t, b * c * h * w]) * s.clone().reshape([t, 1])).reshape([n, c, h, w]);
    let x4 = |v: &[Tensor<1>]| v[0].clone().reshape([n, c, h, w]);
    let unfused = |v: &[Tensor<1>]| scaled(batch_norm_train(x4(v), v[1].clone(), v[2].clone(), 1e-5, false).output, &v[3]);
    let burns = |v: &[Tensor<1>]| scaled(burn::tensor::module::batch_norm_train(x4(v), v[1].clone(), v[2].clone(), 1e-5).output, &v[3]);
    let fused = |v: &[Tensor<1>]| batch_norm_tebn_train(x4(v), v[1].clone(), v[2].clone(), v[3].clone(), 1e-5, false).output;
    // Channel-last activations: permuted in and out.
    let fused_last = |v: &[Tensor<1>]| batch_norm_tebn_train(x4(v).permute([0, 2, 3, 1]), v[1].clone(), v[2].clone(), v[3].clone(), 1e-5, true).output.permute([0, 3, 1, 2]);
    let unscaled_last = |v: &[Tensor<1>]| scaled(batch_norm_train(x4(v).permute([0, 2, 3, 1]), v[1].clone(), v[2].clone(), 1e-5, true).output.permute([0, 3, 1, 2]), &v[3]);
    for (layout, got) in [("NCHW", grads_of(device, &inputs, &r, fused)), ("NHWC", grads_of(device, &inputs, &r, fused_last)), ("NHWC, unscaled op", grads_of(device, &inputs, &r, unscaled_last))] {
        for (oracle, want) in [("the BN op then the scale", grads_of(&Device::flex(), &inputs, &r, unfused)), ("burn's batch_norm_train then the scale", grads_of(&Device::flex(), &inputs, &r, burns))] {
            for (part, (g, w)) in ["output", "dL/dx", "dL/dgamma", "dL/dbeta", "dL/dscale"].iter().zip(got.iter().zip(&want)) {
                compare(&format!("BN + TEBN, {layout} [{backend}] vs {oracle}: {part}"), g, w, false);
            }
        }
    }
}

#[test]
fn batch_norm_with_tebn_scale_equals_the_two_ops_on_flex() {
    tebn_case(&Device::flex(), "flex");
}

#[test]
fn batch_norm_with_tebn_scale_equals_the_two_ops_on_wgpu() {
    let Some(device) = wgpu_device("the BN + TEBN op") else { return };
    tebn_case(&device, "wgpu");
}

/// burn's wgpu device, or `None` (a skip, outside CI) where there is no adapter.
fn wgpu_device(what: &str) -> Option<Device> {
    if spikestream::engine::gpu::GpuContext::adapters().is_empty() {
        assert!(!common::in_ci(), "no wgpu adapter in CI (scripts/setup-lavapipe.sh installs lavapipe)");
        eprintln!("SKIPPED: no wgpu adapter; {what} was not tested on wgpu here");
        return None;
    }
    Some(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

/// The pool op against burn's `avg_pool2d` and its backward, for the pools the networks use:
/// 2×2 tiles (even and odd sizes: uncovered rows and columns get no gradient), 3×3 tiles, and
/// the overlapping, padded pool of the SEW stem (burn's op on every backend). On Flex the tiled
/// pools sum in burn's order: equal bit for bit (`exact`), on spikes and on dense values.
fn pool_case(device: &Device, backend: &str, exact: bool) {
    let mut rng = Rng(0x5eed_f00d_9001);
    let pools = [(2, 2, 0, [12, 10]), (2, 2, 0, [9, 7]), (3, 3, 0, [9, 11]), (3, 2, 1, [9, 8])];
    for (kernel, stride, padding, [h, w]) in pools {
        let pool = Pool { kernel, stride, padding, count_include_pad: true };
        let options = burn::tensor::ops::AvgPoolOptions::new([kernel; 2]).with_stride([stride; 2]).with_padding([padding; 2]).with_count_include_pad(true);
        for kind in [Input::Spikes, Input::Dense] {
            let (n, c) = (3, 4);
            let x = rng.input(kind, n * c * h * w);
            let [ho, wo] = [h, w].map(|s| (s + 2 * padding - kernel) / stride + 1);
            let r = rng.input(Input::Dense, n * c * ho * wo);
            let inputs = [x];
            let x4 = |v: &[Tensor<1>]| v[0].clone().reshape([n, c, h, w]);
            let want = grads_of(&Device::flex(), &inputs, &r, |v| burn::tensor::module::avg_pool2d(x4(v), options.clone()));
            let first = grads_of(device, &inputs, &r, |v| avg_pool(x4(v), pool, false));
            // Channel-last: permuted in and out.
            let last = grads_of(device, &inputs, &r, |v| avg_pool(x4(v).permute([0, 2, 3, 1]), pool, true).permute([0, 3, 1, 2]));
            for (layout, got) in [("NCHW", first), ("NHWC", last)] {
                for (part, (g, wa)) in ["output", "dL/dx"].iter().zip(got.iter().zip(&want)) {
                    compare(&format!("avg pool {kernel}/{stride}/{padding} of {h}x{w}, {kind:?} input, {layout} [{backend}]: {part}"), g, wa, exact);
                }
            }
        }
    }
}

#[test]
fn pool_op_equals_burn_avg_pool2d_on_flex() {
    pool_case(&Device::flex(), "flex", true);
}

#[test]
fn pool_op_equals_burn_avg_pool2d_on_wgpu() {
    let Some(device) = wgpu_device("the pool op") else { return };
    pool_case(&device, "wgpu", false);
}

/// An SGD step of a narrow `vgg11_48_legacy` (binary, pooled and frame inputs to its
/// convolutions) with the ops (channel-last activations on Flex) and with burn's `conv2d` and
/// `batch_norm_train` (`TrainOptions::burn_ops`, channel-first): the same loss, and the same
/// update of every parameter within rounding (sums in another order). One step: after it, the
/// rounding differences flip a few spikes of the next forward, and the spiking network
/// amplifies those.
#[test]
fn a_training_step_with_the_ops_equals_one_with_burns() {
    let spec = SynthSpec { arch: "vgg11_48_legacy".into(), num_classes: 10, timesteps: 3, input: [2, 48, 48], width_div: 8, imp: true, seed: 5 };
    let (rates, updates) = step_with_and_without_the_ops(&spec, 4);
    // Spikes in every layer, so the binary-input kernels ran and the surrogate gradient flowed.
    assert!(rates.iter().all(|&r| r > 0.01 && r < 0.99), "spike rates {rates:?}");
    for (name, scale) in updates {
        if name.ends_with("conv.module.weight") {
            assert!(scale > 0.0, "{name}: not updated");
        }
    }
}

/// The same for the other two reference architectures, narrow: the global average pool and the
/// classifier's flatten (vgg11_dvs), the residual adds and strided convolutions (sew_resnet18)
/// on channel-last activations.
#[test]
fn a_training_step_with_the_ops_equals_one_with_burns_vgg11_dvs_and_sew() {
    for (arch, input, width_div) in [("vgg11_dvs", [2, 32, 32], 16), ("sew_resnet18", [3, 32, 32], 16)] {
        let spec = SynthSpec { arch: arch.into(), num_classes: 10, timesteps: 2, input, width_div, imp: true, seed: 5 };
        let (_, updates) = step_with_and_without_the_ops(&spec, 3);
        assert!(updates.iter().any(|(name, scale)| name.contains("conv") && *scale > 0.0), "{arch}: no convolution updated");
    }
}

/// One SGD step of `spec`'s model on `batch` random frames with the ops and with burn's; asserts
/// equal losses and updates (see [`a_training_step_with_the_ops_equals_one_with_burns`]);
/// returns the spike rates per layer and each parameter's largest update (burn's ops).
fn step_with_and_without_the_ops(spec: &SynthSpec, batch: usize) -> (Vec<f32>, Vec<(String, f32)>) {
    let bytes = synth_model_bytes(spec).unwrap();
    let device = Device::flex().autodiff();
    device.seed(3);
    let (t, [c, h, w]) = (spec.timesteps, spec.input);
    let x = Tensor::<5>::random([t, batch, c, h, w], Distribution::Uniform(0.0, 1.0), &device).lower_elem(0.25).float().mul_scalar(2.0);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 3 + 1) % spec.num_classes).collect();
    let values = |net: &TrainNet| -> Vec<(String, Vec<f32>)> { net.params.params.iter().map(|p| (p.name.clone(), vec_of(p.value.clone().inner()))).collect() };
    let mut runs = Vec::new();
    for burn_ops in [false, true] {
        let mut net = TrainNet::from_bytes(&bytes, "synth", &device, TrainOptions { burn_ops, ..TrainOptions::default() }).unwrap();
        let mut optim = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 5e-4, 0.0);
        let before = values(&net);
        let out = train_step(&mut net, &mut optim, Loss::parse("tet-s").unwrap(), x.clone(), &labels, 0.05).unwrap();
        let rates: Vec<f32> = out.spikes.into_iter().map(|(_, s, n)| vec_of(s).iter().sum::<f32>() / (t * n) as f32).collect();
        let updates: Vec<(String, Vec<f32>)> = values(&net).into_iter().zip(before).map(|((name, a), (_, b))| (name, a.iter().zip(&b).map(|(a, b)| a - b).collect())).collect();
        runs.push((out.loss, rates, updates));
    }
    let (op, burn) = (&runs[0], &runs[1]);
    let arch = &spec.arch;
    assert!((op.0 - burn.0).abs() <= 1e-6 * burn.0.abs().max(1.0), "{arch}: loss {} (ops) vs {} (burn's)", op.0, burn.0);
    let mut largest = Vec::new();
    for ((name, a), (_, b)) in op.2.iter().zip(&burn.2) {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-3 * scale.max(1e-6), "{arch}: {name}: update differs by {worst} (largest update {scale})");
        largest.push((name.clone(), scale));
    }
    (burn.1.clone(), largest)
}

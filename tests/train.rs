//! The trainer (feature `train`): the neuron op's gradients against burn's autodiff of plain
//! ops (Flex, and burn's wgpu backend running the engine's `neuron.wgsl` — lavapipe in CI), the
//! burn network in eval mode against the PyTorch parity fixtures bit for bit, the export round
//! trip, and a short training run that lowers the loss and writes a model the engine runs.
#![cfg(feature = "train")]

mod common;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use spikestream::frames::npy;
use spikestream::model::neuron::Fire;
use spikestream::model::{MetaOverrides, Model, NeuronKind, Reset};
use spikestream::train::net::{FoldedNet, TrainNet, TrainOptions};
use spikestream::train::neuron::reference::spike_layer_reference;
use spikestream::train::neuron::{NeuronSpec, Surrogate, spike_layer};

fn specs() -> Vec<(&'static str, NeuronSpec)> {
    let legacy = NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 };
    let lif = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true };
    let lif_hard = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Hard(0.0), decay_input: true };
    let lif_nodecay = NeuronKind::Lif { tau: 3.0, v_th: 0.8, reset: Reset::Soft, decay_input: false };
    let if_soft = NeuronKind::If { v_th: 1.0, reset: Reset::Soft };
    let if_hard = NeuronKind::If { v_th: 1.0, reset: Reset::Hard(-0.1) };
    vec![
        ("legacy lif, triangle, attached reset", NeuronSpec::reference_default(legacy)),
        ("sj lif soft, sigmoid, detached", NeuronSpec::reference_default(lif)),
        ("sj lif soft, sigmoid, attached", NeuronSpec { detach_reset: false, ..NeuronSpec::reference_default(lif) }),
        ("sj lif hard, sigmoid, detached", NeuronSpec::reference_default(lif_hard)),
        ("sj lif hard, atan, attached", NeuronSpec { kind: lif_hard, surrogate: Surrogate::Atan { alpha: 2.0 }, detach_reset: false }),
        ("sj lif no decay_input, triangle", NeuronSpec { kind: lif_nodecay, surrogate: Surrogate::Triangle { gamma: 0.5 }, detach_reset: true }),
        ("if soft, atan", NeuronSpec::reference_default(if_soft)),
        ("if hard v_reset -0.1, atan, detached", NeuronSpec { detach_reset: true, ..NeuronSpec::reference_default(if_hard) }),
        ("snntorch if (leaky β 1, >, subtract)", NeuronSpec::reference_default(NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: Fire::Above, reset: Reset::Soft })),
        ("snntorch leaky β 0.5, >, zero, attached", NeuronSpec { detach_reset: false, ..NeuronSpec::reference_default(NeuronKind::Leaky { beta: 0.5, v_th: 0.8, fire: Fire::Above, reset: Reset::Hard(0.0) }) }),
        ("leaky no reset, >=", NeuronSpec::reference_default(NeuronKind::Leaky { beta: 0.25, v_th: 1.0, fire: Fire::AtLeast, reset: Reset::None })),
        ("norse lif box, atan, attached", NeuronSpec::reference_default(NeuronKind::LifBox { k: 0.5, v_leak: 0.125, v_th: 0.5, fire: Fire::Above, reset: Reset::Hard(0.0) })),
        ("readout: norse li box", NeuronSpec::reference_default(NeuronKind::Li { k: 0.5, v_leak: 0.25 })),
        ("readout: exp_leak (snntorch synapse, sinabs li)", NeuronSpec::reference_default(NeuronKind::ExpLeak { alpha: 0.75 })),
        ("readout: integrator", NeuronSpec::reference_default(NeuronKind::Integrator)),
    ]
}

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// Forward spikes and gradients (input, initial membrane) of `op` on `device`, for a loss that
/// weights every spike differently.
fn run_op(device: &Device, spec: NeuronSpec, reference: bool, x: &[f32], v0: &[f32], w: &[f32], dims: [usize; 3]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [t, b, n] = dims;
    let ad = device.clone().autodiff();
    let x = Tensor::<3>::from_data(TensorData::new(x.to_vec(), [t, b, n]), &ad).require_grad();
    let v0 = Tensor::<2>::from_data(TensorData::new(v0.to_vec(), [b, n]), &ad).require_grad();
    let w = Tensor::<3>::from_data(TensorData::new(w.to_vec(), [t, b, n]), &ad);
    let s = if reference { spike_layer_reference(x.clone(), v0.clone(), spec) } else { spike_layer(x.clone(), v0.clone(), spec) };
    let grads = (s.clone() * w).sum().backward();
    (vec_of(s.inner()), vec_of(x.grad(&grads).expect("gradient of x")), vec_of(v0.grad(&grads).expect("gradient of v0")))
}

fn inputs(seed: u64, dims: [usize; 3]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [t, b, n] = dims;
    let device = Device::flex();
    device.seed(seed);
    let x = vec_of(Tensor::<3>::random([t, b, n], Distribution::Uniform(-0.5, 1.6), &device));
    let v0 = vec_of(Tensor::<2>::random([b, n], Distribution::Uniform(-0.2, 0.6), &device));
    let w = vec_of(Tensor::<3>::random([t, b, n], Distribution::Normal(0.0, 1.0), &device));
    (x, v0, w)
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 2e-5 * scale, "{what}: max difference {worst} (scale {scale})");
    assert!(want.iter().any(|v| *v != 0.0), "{what}: the reference gradient is all zero; the case tests nothing");
}

fn gradient_case(device: &Device, backend: &str) {
    let dims = [6, 3, 37];
    for (k, (name, spec)) in specs().into_iter().enumerate() {
        let (x, v0, w) = inputs(7 + k as u64, dims);
        let (s_op, gx_op, gv_op) = run_op(device, spec, false, &x, &v0, &w, dims);
        let (s_ref, gx_ref, gv_ref) = run_op(&Device::flex(), spec, true, &x, &v0, &w, dims);
        assert_eq!(s_op, s_ref, "{name} [{backend}]: forward spikes");
        if spec.kind.spikes() {
            let rate = s_ref.iter().sum::<f32>() / s_ref.len() as f32;
            assert!(rate > 0.05 && rate < 0.95, "{name}: spike rate {rate} leaves the surrogate untested");
        }
        assert_close(&format!("{name} [{backend}]: dL/dx"), &gx_op, &gx_ref);
        assert_close(&format!("{name} [{backend}]: dL/dv0 (IMP)"), &gv_op, &gv_ref);
    }
}

#[test]
fn neuron_op_gradients_equal_autodiff_of_plain_ops_on_flex() {
    gradient_case(&Device::flex(), "flex");
}

/// The same on burn's wgpu backend, where the forward is the engine's `shaders/neuron.wgsl`.
#[test]
fn neuron_op_gradients_equal_autodiff_of_plain_ops_on_wgpu() {
    if spikestream::engine::gpu::GpuContext::adapters().is_empty() {
        assert!(!common::in_ci(), "no wgpu adapter in CI (scripts/setup-lavapipe.sh installs lavapipe)");
        eprintln!("SKIPPED: no wgpu adapter; the WGSL neuron op was not tested here");
        return;
    }
    gradient_case(&Device::wgpu(burn::tensor::DeviceKind::DefaultDevice), "wgpu");
}

/// Runs an exact PyTorch parity fixture through the burn network (eval mode, folded weights,
/// Flex) and compares per-step logits and spikes per layer bit for bit.
fn fixture_case(name: &str) {
    let dir = common::data("parity");
    let model = Model::load(&dir.join(format!("{name}.safetensors")), &MetaOverrides::default()).unwrap();
    let expect: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    assert!(expect["exact"].as_bool().unwrap(), "{name} is not an exact fixture");
    let input = npy::read(&std::fs::read(dir.join(expect["input"].as_str().unwrap())).unwrap()).unwrap();
    let (t, b) = (expect["timesteps"].as_u64().unwrap() as usize, expect["batch"].as_u64().unwrap() as usize);
    let [c, h, w] = model.meta.input;
    let k = model.meta.num_classes;
    let device = Device::flex();
    let mut net = FoldedNet::new(model, &TrainOptions::default(), &device);
    let names: Vec<String> = net.graph().nodes.iter().map(|n| n.name.clone()).collect();
    let x = Tensor::<5>::from_data(TensorData::new(input.data, [t, b, c, h, w]), &device);
    let out = net.forward(x);
    let logits = vec_of(out.logits);
    let want: Vec<Vec<Vec<f64>>> = serde_json::from_value(expect["logits"].clone()).unwrap();
    for s in 0..t {
        for i in 0..b {
            for j in 0..k {
                let (g, w) = (logits[(s * b + i) * k + j], want[s][i][j] as f32);
                assert_eq!(g.to_bits(), w.to_bits(), "{name}: logit t={s} b={i} k={j}: burn {g} vs PyTorch {w}");
            }
        }
    }
    assert!(!out.spikes.is_empty());
    for (node, per_step, _) in out.spikes {
        let layer = &names[node];
        let got: Vec<u64> = vec_of(per_step).iter().map(|v| *v as u64).collect();
        let want: Vec<u64> = expect["spike_counts"][layer].as_array().unwrap_or_else(|| panic!("{name}: no counts for {layer}")).iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(got, want, "{name}: spikes per step of {layer}");
    }
}

#[test]
fn burn_eval_equals_pytorch_bit_for_bit_legacy_imp() {
    fixture_case("legacy_exact");
}

#[test]
fn burn_eval_equals_pytorch_bit_for_bit_legacy_no_imp() {
    fixture_case("legacy_noimp_exact");
}

#[test]
fn burn_eval_equals_pytorch_bit_for_bit_vgg11_dvs() {
    fixture_case("vgg11dvs_exact");
}

#[test]
fn burn_eval_equals_pytorch_bit_for_bit_sew_resnet18() {
    fixture_case("sew_cifar_exact");
}

/// Loading a model into the trainer and exporting it gives back the same tensors and metadata.
#[test]
fn export_round_trips_every_tensor() {
    for name in ["legacy_exact", "vgg11dvs_exact", "sew_cifar_exact"] {
        let path = common::data("parity").join(format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).unwrap();
        let net = TrainNet::from_bytes(&bytes, name, &Device::flex().autodiff(), TrainOptions::default()).unwrap();
        let out = net.to_safetensors().unwrap();
        let (a, b) = (safetensors::SafeTensors::deserialize(&bytes).unwrap(), safetensors::SafeTensors::deserialize(&out).unwrap());
        let canon = |n: &str| spikestream::model::store::canonical(n).to_string();
        let mut count = 0;
        for (n, view) in a.tensors() {
            if n.ends_with("num_batches_tracked") {
                continue;
            }
            let other = b.tensor(&canon(&n)).unwrap_or_else(|_| panic!("{name}: {n} missing after export"));
            assert_eq!(view.shape(), other.shape(), "{name}: shape of {n}");
            assert_eq!(view.data(), other.data(), "{name}: data of {n}");
            count += 1;
        }
        assert_eq!(count, b.len(), "{name}: the export has extra tensors");
        let m = Model::from_bytes(&out, name, &MetaOverrides::default()).unwrap();
        assert_eq!(m.meta.arch, Model::from_bytes(&bytes, name, &MetaOverrides::default()).unwrap().meta.arch);
    }
}

/// A training forward updates the BatchNorm running statistics as PyTorch does: momentum 0.1,
/// the batch mean over `T·B·H·W`, the unbiased batch variance (checked on the first BN layer
/// against statistics computed here from the convolution's output).
#[test]
fn training_forward_updates_running_statistics_as_pytorch() {
    let name = "vgg11dvs_exact";
    let bytes = std::fs::read(common::data("parity").join(format!("{name}.safetensors"))).unwrap();
    let device = Device::flex().autodiff();
    let mut net = TrainNet::from_bytes(&bytes, name, &device, TrainOptions::default()).unwrap();
    let conv_node = net.graph.nodes.iter().find(|n| n.sources.bn.is_some()).expect("a conv with BN").clone();
    let spikestream::model::graph::Op::Conv(conv) = &conv_node.op else { panic!("the first BN follows a conv") };
    let bn = conv_node.sources.bn.clone().unwrap();
    let [c, h, w] = net.meta.input;
    let (t, b) = (2, 3);
    let x = Tensor::<5>::random([t, b, c, h, w], Distribution::Uniform(0.0, 2.0), &device);
    let before_mean = vec_of(net.params.buffers[&format!("{bn}.running_mean")].1.clone());
    let before_var = vec_of(net.params.buffers[&format!("{bn}.running_var")].1.clone());
    // The convolution's output, channel by channel, from the same weights.
    let weight = net.params.get(conv_node.sources.weight.as_deref().unwrap()).reshape([conv.out_ch, conv.in_ch, conv.kernel, conv.kernel]);
    let bias = conv_node.sources.bias.as_deref().map(|n| net.params.get(n));
    let options = burn::tensor::ops::ConvOptions::new([conv.stride; 2], [conv.padding; 2], [1, 1], 1);
    let y = burn::tensor::module::conv2d(x.clone().reshape([t * b, c, h, w]), weight, bias, options);
    let [n, co, ho, wo] = y.dims();
    let y = vec_of(y.swap_dims(0, 1).reshape([co, n * ho * wo]));
    let count = (n * ho * wo) as f64;
    let _ = net.forward(x);
    let after_mean = vec_of(net.params.buffers[&format!("{bn}.running_mean")].1.clone());
    let after_var = vec_of(net.params.buffers[&format!("{bn}.running_var")].1.clone());
    for ch in 0..co {
        let v = &y[ch * n * ho * wo..(ch + 1) * n * ho * wo];
        let mean = v.iter().map(|&a| a as f64).sum::<f64>() / count;
        let unbiased = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / (count - 1.0);
        let want_mean = 0.9 * before_mean[ch] as f64 + 0.1 * mean;
        let want_var = 0.9 * before_var[ch] as f64 + 0.1 * unbiased;
        assert!((after_mean[ch] as f64 - want_mean).abs() <= 1e-5 * (1.0 + want_mean.abs()), "{bn} channel {ch}: running mean {} vs {want_mean}", after_mean[ch]);
        assert!((after_var[ch] as f64 - want_var).abs() <= 1e-4 * (1.0 + want_var.abs()), "{bn} channel {ch}: running var {} vs {want_var}", after_var[ch]);
    }
    // The statistics moved (the check above is not satisfied by leaving them alone).
    assert!(after_mean.iter().zip(&before_mean).any(|(a, b)| a != b), "{bn}: running mean unchanged");
}

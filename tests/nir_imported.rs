//! Neurons as the frameworks' own NIR import builds them (fixtures of
//! scripts/fixtures/nir_imported.py, committed in tests/data/nir_imported/; the script checks
//! that each framework's import of the file rebuilds the network it simulated):
//! - Sinabs' `from_nir`: IF as `IAFSqueeze(min_v_mem = −θ)` and LIF as `LIFSqueeze`, both with
//!   `MultiSpike` (several spikes per step, the output is the count), LI as `ExpLeakSqueeze`;
//!   read with `--nir-semantics sinabs`;
//! - snnTorch's `import_nir`: CubaLIF as `Synaptic` (a current `syn = α·syn + X` chained into
//!   `mem = β·mem + syn`, reset to zero); read with `--nir-semantics snntorch`.
//!
//! Dyadic weights: the output at every step and every firing layer's spikes (counts) at every
//! step bit for bit, on the CPU backend and on the WGSL kernels (lavapipe). Realistic weights:
//! the same classes and spike rates within 1 %.

mod common;
mod gpu_common;
mod nir_common;

use nir_common::{check_dyadic, frames, load, run};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::ConvMode;
use spikestream::model::graph::Op;
use spikestream::model::neuron::{Fire, NeuronKind, Reset};

const CASES: [&str; 2] = ["sinabs_from_nir", "snntorch_synaptic"];

#[test]
fn imported_neurons_match_each_framework_bit_for_bit_on_cpu_and_gpu() {
    let ctx = gpu_common::gpu();
    for name in CASES {
        let doc = nir_common::doc("nir_imported", name);
        let input = frames(&doc["input"]);
        let model = load(&doc, input.len());
        check_dyadic(name, &doc, "cpu", &run(&mut CpuBackend::new(&model.graph, 1), &model, &input));
        if let Some(ctx) = &ctx {
            for mode in [ConvMode::Fused, ConvMode::Dense, ConvMode::Sparse] {
                check_dyadic(name, &doc, "gpu", &run(&mut gpu_common::gpu_backend(ctx, &model.graph, 1, mode), &model, &input));
            }
        }
    }
}

#[test]
fn imported_neurons_give_the_frameworks_classes_and_spike_rates_within_one_percent() {
    let ctx = gpu_common::gpu();
    for name in CASES {
        nir_common::check_realistic("nir_imported", name, ctx.as_ref());
    }
}

#[test]
fn the_fixtures_exercise_what_they_claim() {
    let kinds = |name: &str| {
        let doc = nir_common::doc("nir_imported", name);
        let model = load(&doc, 6);
        model.graph.nodes.iter().filter_map(|n| if let Op::Neuron(x) = &n.op { Some(x.kind) } else { None }).collect::<Vec<_>>()
    };
    let sinabs = kinds("sinabs_from_nir");
    assert!(matches!(sinabs[0], NeuronKind::Leaky { beta: 1.0, fire: Fire::Count, reset: Reset::SoftFloor, .. }), "{sinabs:?}");
    assert!(matches!(sinabs[1], NeuronKind::Leaky { fire: Fire::Count, reset: Reset::Soft, .. }), "{sinabs:?}");
    assert!(matches!(sinabs[2], NeuronKind::ExpLeak { .. }), "{sinabs:?}");
    let snntorch = kinds("snntorch_synaptic");
    assert_eq!(snntorch[0], NeuronKind::ExpLeak { alpha: 0.5 });
    assert_eq!(snntorch[1], NeuronKind::Leaky { beta: 0.5, v_th: 0.5, fire: Fire::Above, reset: Reset::Hard(0.0) });
    // Several spikes in one step, and a membrane held at the floor, do occur in the dyadic fixture.
    let doc = nir_common::doc("nir_imported", "sinabs_from_nir");
    let counts = frames(&doc["layers"][0][1]);
    assert!(counts.iter().flatten().any(|&c| c >= 2.0), "no neuron fires twice in a step");
    // Without the floor the first layer's spikes differ: the floor is exercised.
    let mut model = load(&doc, 6);
    let first = model.graph.neuron_nodes()[0];
    if let Op::Neuron(n) = &mut model.graph.nodes[first].op {
        n.kind = NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::Soft };
    }
    let (_, layers) = run(&mut CpuBackend::new(&model.graph, 1), &model, &frames(&doc["input"]));
    assert!(layers[0] != counts, "the floor −θ never acts in this fixture");
}

/// The trainer takes the chained current-based neuron too: its forward (Flex, autodiff) gives
/// snnTorch's `Synaptic` outputs bit for bit, and the loss has a gradient through both layers
/// down to the first convolution.
#[cfg(feature = "train")]
#[test]
fn the_trainer_runs_and_differentiates_the_synaptic_chain() {
    use burn::tensor::{Device, Tensor, TensorData};
    use spikestream::train::net::{TrainNet, TrainOptions};
    let doc = nir_common::doc("nir_imported", "snntorch_synaptic");
    let input = frames(&doc["input"]);
    let options = spikestream::nir::ImportOptions { dt: Some(1e-4), semantics: spikestream::nir::semantics::Semantics::parse("snntorch"), timesteps: Some(input.len()) };
    let source = common::data("nir_imported/snntorch_synaptic.nir");
    let bytes = spikestream::nir::to_model_bytes(std::fs::read(&source).unwrap(), "snntorch_synaptic.nir", &options).unwrap();
    let device = Device::flex().autodiff();
    let mut net = TrainNet::from_bytes(&bytes, "snntorch_synaptic.safetensors", &device, TrainOptions::default()).unwrap();
    let x = Tensor::<5>::from_data(TensorData::new(input.concat(), [input.len(), 1, 2, 8, 8]), &device);
    let out = net.forward(x);
    let logits: Vec<f32> = out.logits.clone().inner().into_data().try_into_vec().unwrap();
    let want: Vec<f32> = frames(&doc["expected"]).concat();
    assert!(nir_common::same_bits(&logits, &want), "trainer forward {logits:?} vs snnTorch {want:?}");
    assert_eq!(out.spikes.len(), 2, "two spiking layers reported; the synapses are readouts");
    // A loss on the membrane-weighted outputs: the first conv's weights get a gradient.
    let grads = out.logits.sum().backward();
    let weight = net.params.get("0.weight");
    let g: Vec<f32> = weight.grad(&grads).expect("a gradient for the first conv").into_data().try_into_vec().unwrap();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|&v| v != 0.0), "first conv gradient {g:?}");
}

/// Per-neuron values with the counting neuron: Sinabs' per-neuron LIF fixture read as `from_nir`
/// builds it (`MultiSpike`) gives the same counts and outputs on the CPU and the WGSL kernels
/// (step by step through `neuron_steps` with `PER_NEURON`), and counts above 1 do occur. (The
/// fixture's own expected outputs are `SingleSpike`'s, read under `sinabs-single`.)
#[test]
fn per_neuron_counting_neurons_agree_on_cpu_and_gpu() {
    let mut doc = nir_common::doc("nir_per_neuron", "sinabs_lif_per_neuron");
    doc["semantics"] = "sinabs".into();
    let input = frames(&doc["input"]);
    let model = load(&doc, input.len());
    assert!(model.graph.nodes.iter().any(|n| matches!(&n.op, Op::Neuron(x) if x.kind.rule().fire == Fire::Count && !x.arrays.is_empty())));
    let (out_cpu, layers_cpu) = run(&mut CpuBackend::new(&model.graph, 1), &model, &input);
    assert!(layers_cpu.iter().flatten().flatten().any(|&c| c >= 2.0), "no count above 1: the case tests nothing");
    if let Some(ctx) = gpu_common::gpu() {
        let (out_gpu, layers_gpu) = run(&mut gpu_common::gpu_backend(&ctx, &model.graph, 1, ConvMode::default()), &model, &input);
        for (t, (a, b)) in out_cpu.iter().zip(&out_gpu).enumerate() {
            assert!(nir_common::same_bits(a, b), "output at t={t}: cpu {a:?}, gpu {b:?}");
        }
        for (l, (a, b)) in layers_cpu.iter().zip(&layers_gpu).enumerate() {
            for (t, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(nir_common::same_bits(x, y), "layer {l} at t={t}: cpu and gpu counts differ");
            }
        }
    }
}

/// `info` names each neuron layer's rule, so a user sees what the semantics made of the file.
#[test]
fn info_prints_each_neuron_rule() {
    let file = common::data("nir_imported/sinabs_from_nir.nir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spikestream")).args(["info", file.to_str().unwrap(), "--nir-semantics", "sinabs", "--timesteps", "6"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("leaky beta=1.0 fire=multi reset=soft_floor v_th=0.5"), "{text}");
    assert!(text.contains("exp_leak alpha="), "{text}");
}

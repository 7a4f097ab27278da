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

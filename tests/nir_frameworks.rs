//! NIR files exported by snnTorch, Norse, Sinabs and SpikingJelly themselves, against each
//! framework's own simulation (fixtures of scripts/fixtures/nir_frameworks.py, committed in
//! tests/data/nir_frameworks/: the heavy peers never run in CI).
//!
//! Dyadic networks (weights in 1/8, decays 1/2, event-count inputs): spikestream, reading the
//! file under the framework's `--nir-semantics`, gives the framework's output at every step and
//! the spikes of every spiking layer at every step bit for bit, on the CPU backend and on the
//! WGSL kernels (lavapipe). Realistic networks (float weights): the same predicted class for
//! every sample and every layer's spike rate within 1 % of the framework's.

mod common;
mod gpu_common;
mod nir_common;

use nir_common::{check_dyadic, frames, load, run};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::ConvMode;

fn doc(name: &str) -> serde_json::Value {
    nir_common::doc("nir_frameworks", name)
}

const DYADIC: [&str; 7] = ["snntorch_cnn", "spikingjelly_cnn", "spikingjelly_cnn_no_decay_input", "spikingjelly_residual", "sinabs_cnn", "norse_cnn", "norse_iaf"];

#[test]
fn dyadic_framework_exports_match_each_framework_bit_for_bit_on_cpu_and_gpu() {
    let ctx = gpu_common::gpu();
    for name in DYADIC {
        let doc = doc(name);
        let input = frames(&doc["input"]);
        let model = load(&doc, input.len());
        check_dyadic(name, &doc, "cpu", &run(&mut CpuBackend::new(&model.graph, 1), &model, &input));
        if let Some(ctx) = &ctx {
            check_dyadic(name, &doc, "gpu", &run(&mut gpu_common::gpu_backend(ctx, &model.graph, 1, ConvMode::default()), &model, &input));
        }
    }
}

#[test]
fn realistic_framework_exports_give_the_same_classes_and_spike_rates_within_one_percent() {
    let ctx = gpu_common::gpu();
    for name in DYADIC {
        nir_common::check_realistic("nir_frameworks", name, ctx.as_ref());
    }
}

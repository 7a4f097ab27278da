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
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::ConvMode;
use spikestream::model::Model;

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

/// Predicted class (argmax of the summed outputs, first index on ties) and per-layer spike rates.
fn classify(backend: &mut dyn Backend, model: &Model, samples: &[Vec<Vec<f32>>]) -> (Vec<usize>, Vec<f64>) {
    let spiking = model.graph.neuron_nodes();
    let mut spikes = vec![0u64; spiking.len()];
    let mut preds = Vec::new();
    for sample in samples {
        let (outputs, layers) = run(backend, model, sample);
        let mut total = vec![0.0f32; outputs[0].len()];
        for o in &outputs {
            total.iter_mut().zip(o).for_each(|(s, v)| *s += v);
        }
        let best = total.iter().enumerate().fold(0, |b, (i, v)| if *v > total[b] { i } else { b });
        preds.push(best);
        for (l, steps) in layers.iter().enumerate() {
            spikes[l] += steps.iter().flatten().filter(|&&s| s != 0.0).count() as u64;
        }
    }
    let steps = (samples.len() * samples[0].len()) as f64;
    let rates = spiking.iter().zip(&spikes).map(|(&n, &s)| s as f64 / (model.graph.nodes[n].shape.len() as f64 * steps)).collect();
    (preds, rates)
}

#[test]
fn realistic_framework_exports_give_the_same_classes_and_spike_rates_within_one_percent() {
    let ctx = gpu_common::gpu();
    for name in DYADIC {
        let name = format!("{name}_real");
        let doc = doc(&name);
        let samples: Vec<Vec<Vec<f32>>> = serde_json::from_value(doc["inputs"].clone()).unwrap();
        let model = load(&doc, samples[0].len());
        let want_preds: Vec<usize> = serde_json::from_value(doc["predictions"].clone()).unwrap();
        let want_rates = doc["rates"].as_array().unwrap();
        let check = |backend: &str, (preds, rates): (Vec<usize>, Vec<f64>)| {
            assert_eq!(preds, want_preds, "{name} [{backend}]: predicted classes");
            for (l, entry) in want_rates.iter().enumerate() {
                let (key, want) = (entry[0].as_str().unwrap(), entry[1].as_f64().unwrap());
                assert!((rates[l] - want).abs() <= 0.01 * want.max(1e-9), "{name} [{backend}] layer '{key}': spike rate {} vs the framework's {want}", rates[l]);
            }
        };
        check("cpu", classify(&mut CpuBackend::new(&model.graph, 1), &model, &samples));
        if let Some(ctx) = &ctx {
            check("gpu", classify(&mut gpu_common::gpu_backend(ctx, &model.graph, 1, ConvMode::default()), &model, &samples));
        }
    }
}

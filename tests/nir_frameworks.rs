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

use serde_json::Value;
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::ConvMode;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, SEMANTICS_KEY};

const DYADIC: [&str; 7] = ["snntorch_cnn", "spikingjelly_cnn", "spikingjelly_cnn_no_decay_input", "spikingjelly_residual", "sinabs_cnn", "norse_cnn", "norse_iaf"];

/// A committed fixture's JSON; a missing file fails the test.
fn doc(name: &str) -> Value {
    let path = common::data(&format!("nir_frameworks/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (committed fixtures; rerun scripts/fixtures/nir_frameworks.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(doc: &Value, timesteps: usize) -> Model {
    let mut o = MetaOverrides::default();
    o.set(SEMANTICS_KEY, doc["semantics"].as_str().unwrap());
    if let Some(dt) = doc["dt"].as_f64() {
        o.set(DT_KEY, dt.to_string());
    }
    o.set("timesteps", timesteps.to_string());
    let file = doc["nir"].as_str().unwrap();
    Model::load(&common::data(&format!("nir_frameworks/{file}")), &o).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn frames(v: &Value) -> Vec<Vec<f32>> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Per step: the output, and the spikes of every neuron layer that spikes (graph order).
type Trace = (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

fn run(backend: &mut dyn Backend, model: &Model, input: &[Vec<f32>]) -> Trace {
    let spiking: Vec<usize> = model.graph.neuron_nodes();
    backend.reset_all();
    let mut outputs = Vec::new();
    let mut layers = vec![Vec::new(); spiking.len()];
    for (t, f) in input.iter().enumerate() {
        outputs.push(backend.step(f, &[t], true).unwrap().unwrap());
        for (l, &node) in spiking.iter().enumerate() {
            layers[l].push(backend.last_spikes(node).unwrap());
        }
    }
    (outputs, layers)
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn check_dyadic(name: &str, doc: &Value, backend: &str, (outputs, layers): &Trace) {
    let want = frames(&doc["expected"]);
    assert_eq!(outputs.len(), want.len(), "{name} [{backend}]");
    for (t, (g, w)) in outputs.iter().zip(&want).enumerate() {
        assert!(same_bits(g, w), "{name} [{backend}] output at t={t}: {g:?}, the framework gives {w:?}");
    }
    let want_layers = doc["layers"].as_array().unwrap();
    // A non-spiking readout is a neuron node too, but the framework records spiking layers only.
    assert!(layers.len() >= want_layers.len(), "{name}: {} neuron layers for {} recorded", layers.len(), want_layers.len());
    for (l, entry) in want_layers.iter().enumerate() {
        let key = entry[0].as_str().unwrap();
        for (t, w) in frames(&entry[1]).iter().enumerate() {
            assert!(same_bits(&layers[l][t], w), "{name} [{backend}] layer '{key}' spikes at t={t} differ from the framework's");
        }
    }
}

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

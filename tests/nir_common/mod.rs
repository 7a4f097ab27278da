//! What the NIR fixture tests share: reading a committed fixture (`tests/data/nir_frameworks/`,
//! `tests/data/nir_per_neuron/`) and its model, running a backend over its input, and comparing
//! outputs and per-layer spikes with the framework's bit for bit.
#![allow(dead_code)]

use serde_json::Value;
use spikestream::engine::Backend;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, SEMANTICS_KEY};

use crate::common;

/// A committed fixture's JSON in `tests/data/{dir}/`; a missing file fails the test.
pub fn doc(dir: &str, name: &str) -> Value {
    let path = common::data(&format!("{dir}/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (committed fixtures; rerun scripts/fixtures/{}.py)", path.display(), script(dir)));
    let mut doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    doc["dir"] = Value::from(dir);
    doc
}

/// The script that writes the fixtures of `tests/data/{dir}/` (scripts/fixtures/{dir}.py).
fn script(dir: &str) -> &str {
    dir
}

/// The model of a fixture's NIR file, read under its semantics and dt.
pub fn load(doc: &Value, timesteps: usize) -> Model {
    let file = doc["nir"].as_str().unwrap();
    load_from(doc, &common::data(&format!("{}/{file}", doc["dir"].as_str().unwrap())), timesteps)
}

/// The model of the NIR file `path`, read under the fixture's semantics and dt.
pub fn load_from(doc: &Value, path: &std::path::Path, timesteps: usize) -> Model {
    let mut o = MetaOverrides::default();
    o.set(SEMANTICS_KEY, doc["semantics"].as_str().unwrap());
    if let Some(dt) = doc["dt"].as_f64() {
        o.set(DT_KEY, dt.to_string());
    }
    o.set("timesteps", timesteps.to_string());
    Model::load(path, &o).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn frames(v: &Value) -> Vec<Vec<f32>> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Per step: the output, and the spikes (or spike counts) of every neuron layer that fires
/// (graph order; readouts, such as a current-based neuron's synapse, left out).
pub type Trace = (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

/// The neuron nodes that fire, in graph order: the layers a framework records.
pub fn firing_nodes(model: &Model) -> Vec<usize> {
    use spikestream::model::graph::Op;
    model.graph.neuron_nodes().into_iter().filter(|&i| matches!(&model.graph.nodes[i].op, Op::Neuron(n) if n.kind.spikes())).collect()
}

pub fn run(backend: &mut dyn Backend, model: &Model, input: &[Vec<f32>]) -> Trace {
    let spiking = firing_nodes(model);
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

pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

pub fn check_dyadic(name: &str, doc: &Value, backend: &str, (outputs, layers): &Trace) {
    let want = frames(&doc["expected"]);
    assert_eq!(outputs.len(), want.len(), "{name} [{backend}]");
    for (t, (g, w)) in outputs.iter().zip(&want).enumerate() {
        assert!(same_bits(g, w), "{name} [{backend}] output at t={t}: {g:?}, the framework gives {w:?}");
    }
    let want_layers = doc["layers"].as_array().unwrap();
    // The output readout (LI, I) is not recorded by the framework as a spiking layer.
    assert!(layers.len() >= want_layers.len(), "{name}: {} firing layers for {} recorded", layers.len(), want_layers.len());
    for (l, entry) in want_layers.iter().enumerate() {
        let key = entry[0].as_str().unwrap();
        for (t, w) in frames(&entry[1]).iter().enumerate() {
            assert!(same_bits(&layers[l][t], w), "{name} [{backend}] layer '{key}' spikes at t={t} differ from the framework's");
        }
    }
}


/// Predicted class (argmax of the summed outputs, first index on ties) and per-layer spike rates
/// (spikes, counted with their multiplicity, per neuron and step) over `samples`.
pub fn classify(backend: &mut dyn Backend, model: &Model, samples: &[Vec<Vec<f32>>]) -> (Vec<usize>, Vec<f64>) {
    let spiking = firing_nodes(model);
    let mut spikes = vec![0f64; spiking.len()];
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
            spikes[l] += steps.iter().flatten().map(|&s| f64::from(s)).sum::<f64>();
        }
    }
    let steps = (samples.len() * samples[0].len()) as f64;
    let rates = spiking.iter().zip(&spikes).map(|(&n, &s)| s / (model.graph.nodes[n].shape.len() as f64 * steps)).collect();
    (preds, rates)
}

/// The realistic fixture `{name}_real` of `dir`: the framework's classes and spike rates within
/// 1 %, on the CPU and (with a GPU) the WGSL kernels.
pub fn check_realistic(dir: &str, name: &str, gpu: Option<&std::sync::Arc<spikestream::gpu::GpuContext>>) {
    use spikestream::engine::cpu::CpuBackend;
    let name = format!("{name}_real");
    let doc = doc(dir, &name);
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
    if let Some(ctx) = gpu {
        let mut backend = crate::gpu_common::gpu_backend(ctx, &model.graph, 1, spikestream::engine::gpu::ConvMode::default());
        check("gpu", classify(&mut backend, &model, &samples));
    }
}

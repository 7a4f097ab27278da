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

/// The script that writes the fixtures of `tests/data/{dir}/`.
fn script(dir: &str) -> &str {
    if dir == "nir_frameworks" { "nir_frameworks" } else { "nir_per_neuron" }
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

/// Per step: the output, and the spikes of every neuron layer that spikes (graph order).
pub type Trace = (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

pub fn run(backend: &mut dyn Backend, model: &Model, input: &[Vec<f32>]) -> Trace {
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
    // A non-spiking readout is a neuron node too, but the framework records spiking layers only.
    assert!(layers.len() >= want_layers.len(), "{name}: {} neuron layers for {} recorded", layers.len(), want_layers.len());
    for (l, entry) in want_layers.iter().enumerate() {
        let key = entry[0].as_str().unwrap();
        for (t, w) in frames(&entry[1]).iter().enumerate() {
            assert!(same_bits(&layers[l][t], w), "{name} [{backend}] layer '{key}' spikes at t={t} differ from the framework's");
        }
    }
}


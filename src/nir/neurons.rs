//! NIR neuron nodes as engine neuron layers: a first-order node (IF, LIF, LI, I, Threshold) is
//! one layer, a current-based one (CubaLIF, CubaLI) two, the synaptic current `<node>.synapse`
//! feeding the membrane `<node>` ([`super::cuba`]). Each neuron's parameters are discretised
//! under the semantics ([`super::semantics`]); a layer whose neurons end up with different
//! numbers keeps them as the tensors `<layer>.neuron.<key>` ([`NeuronArrays`]), a uniform layer
//! none.

use std::collections::HashMap;

use super::cuba::{Cuba, discretise_cuba};
use super::hdf5::RawNode;
use super::params::per_neuron;
use super::semantics::{NirNeuron, Semantics, discretise};
use crate::model::graph::Shape;
use crate::model::neuron::{NeuronArrays, NeuronKind};

/// One engine layer of a neuron node: its name, its rule (uniform part) and per-neuron arrays.
pub struct NeuronLayer {
    pub name: String,
    pub kind: NeuronKind,
    pub arrays: NeuronArrays,
}

/// The parameters a node kind reads, in order, and the value of each one the file may leave out.
fn keys(kind: &str) -> &'static [(&'static str, Option<f32>)] {
    match kind {
        "IF" => &[("r", None), ("v_threshold", None), ("v_reset", Some(0.0))],
        "LIF" => &[("tau", None), ("r", None), ("v_leak", Some(0.0)), ("v_threshold", None), ("v_reset", Some(0.0))],
        "LI" => &[("tau", None), ("r", None), ("v_leak", Some(0.0))],
        "I" => &[("r", None)],
        "CubaLIF" => &[("tau_syn", None), ("tau_mem", None), ("r", None), ("w_in", Some(1.0)), ("v_leak", Some(0.0)), ("v_threshold", None), ("v_reset", Some(0.0))],
        "CubaLI" => &[("tau_syn", None), ("tau_mem", None), ("r", None), ("w_in", Some(1.0)), ("v_leak", Some(0.0))],
        _ => &[("threshold", None)],
    }
}

/// One neuron's engine rules (one per layer) from its parameter values `v` (in [`keys`] order).
fn discretise_one(kind: &str, v: &[f32], semantics: Option<Semantics>, dt: Option<f64>) -> Result<Vec<NeuronKind>, String> {
    let first_order = match kind {
        "IF" => NirNeuron::If { r: v[0], v_threshold: v[1], v_reset: v[2] },
        "LIF" => NirNeuron::Lif { tau: v[0], r: v[1], v_leak: v[2], v_threshold: v[3], v_reset: v[4] },
        "LI" => NirNeuron::Li { tau: v[0], r: v[1], v_leak: v[2] },
        "I" => NirNeuron::Integrator { r: v[0] },
        "CubaLIF" | "CubaLI" => {
            let spike = (kind == "CubaLIF").then(|| (v[5], v[6]));
            let cuba = Cuba { tau_syn: v[0], tau_mem: v[1], r: v[2], w_in: v[3], v_leak: v[4], spike };
            return discretise_cuba(cuba, semantics, dt).map(Vec::from);
        }
        _ => NirNeuron::Threshold { threshold: v[0] },
    };
    discretise(first_order, semantics, dt).map(|k| vec![k])
}

/// The engine layers of the neuron node `node` (named `layer`) over `input`.
pub fn neuron_layers(node: &RawNode, layer: &str, input: Shape, semantics: Option<Semantics>, dt: Option<f64>) -> Result<Vec<NeuronLayer>, String> {
    let n = input.len();
    let values = keys(&node.kind)
        .iter()
        .map(|&(k, absent)| match absent {
            Some(x) if !node.params.contains_key(k) => Ok(vec![x; n]),
            _ => per_neuron(node, k, input),
        })
        .collect::<Result<Vec<Vec<f32>>, String>>()?;
    let names: Vec<String> = if node.kind.starts_with("Cuba") { vec![format!("{layer}.synapse"), layer.to_string()] } else { vec![layer.to_string()] };
    let uniform = values.iter().all(|v| v.iter().all(|x| x.to_bits() == v[0].to_bits()));
    let mut per_layer: Vec<Vec<NeuronKind>> = vec![Vec::with_capacity(n); names.len()];
    // Neurons with the same parameters (often whole channels, or all) are discretised once.
    let mut seen: HashMap<Vec<u32>, Vec<NeuronKind>> = HashMap::new();
    for i in 0..if uniform { 1 } else { n } {
        let v: Vec<f32> = values.iter().map(|x| x[i]).collect();
        let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        let kinds = match seen.get(&bits) {
            Some(k) => k.clone(),
            None => {
                let k = discretise_one(&node.kind, &v, semantics, dt).map_err(|e| if uniform { e } else { format!("neuron {i}: {e}") })?;
                seen.insert(bits, k.clone());
                k
            }
        };
        for (layer_kinds, kind) in per_layer.iter_mut().zip(kinds) {
            layer_kinds.push(kind);
        }
    }
    names
        .into_iter()
        .zip(per_layer)
        .map(|(name, kinds)| {
            let (kind, arrays) = NeuronArrays::split(&kinds)?;
            Ok(NeuronLayer { name, kind, arrays })
        })
        .collect()
}

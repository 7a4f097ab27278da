//! The engine's layer graph as a NIR graph (`export-nir`).
//!
//! Exact: convolutions (Conv2d), linear layers (Affine), average pools (AvgPool2d; the global
//! one as a window over the whole map), Flatten, additions (NIR sums several edges into one
//! node), IF and SpikingJelly LIF neurons with hard reset, written so that `--nir-semantics
//! spikingjelly` reads them back to the same rule: IF with `r = 1/dt` (as SpikingJelly writes and
//! requires it); LIF with `τ = τ'·dt`,
//! `v_leak = v_reset`, and `r = 1` with `decay_input`, `r = τ'` without (as SpikingJelly 2.0
//! writes `LIFNode(decay_input=False)`). The legacy LIF (`mem = β·V + X`, `>`, reset to 0,
//! snnTorch's Leaky) is written as snnTorch exports it: `τ = dt/(1 − β)`, `r = τ/dt`; snnTorch's
//! IF (Leaky with β = 1 and snnTorch's subtractive reset) as IF; Norse's IAF as IF and its LIF
//! box as LIF with `τ = dt/k`; the readouts as LI (`τ = dt/k`) and I; a current-based neuron's
//! two layers as one CubaLIF / CubaLI ([`super::cuba_export`]).
//!
//! Without a NIR field, refused unless `lossy`: soft (subtractive) reset, TEBN's per-timestep
//! scale and learned IMP. With `lossy` they go into the node's
//! metadata (which NIR consumers ignore) and [`Export::ignored`] lists them.

use std::collections::{BTreeMap, HashMap};

use super::hdf5::{Array, RawNode, Value};
use crate::model::graph::{Graph, Op};
use crate::model::neuron::{Fire, NeuronKind, Reset};

/// A graph ready to write, and what a NIR consumer will not see.
pub struct Export {
    pub top: RawNode,
    /// One line per dropped feature: `node 'x': …`.
    pub ignored: Vec<String>,
}

fn arr(shape: &[usize], data: Vec<f64>) -> Value {
    Value::Array(Array { shape: shape.to_vec(), data })
}

pub(super) fn filled(shape: &[usize], v: f32) -> Value {
    arr(shape, vec![f64::from(v); shape.iter().product()])
}

fn pair(v: usize) -> Value {
    arr(&[2], vec![v as f64; 2])
}

pub(super) fn node(kind: &str, params: Vec<(&str, Value)>) -> RawNode {
    RawNode { kind: kind.into(), params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), ..RawNode::default() }
}

/// Builds the NIR graph of `graph`; `dt` (seconds per timestep) sets the time constants.
/// An error names the layer and what has no NIR field.
pub fn export(graph: &Graph, dt: f64, lossy: bool) -> Result<Export, String> {
    let mut nodes: BTreeMap<String, RawNode> = BTreeMap::new();
    let mut ignored = Vec::new();
    // NIR node names of each value (an Add is the list of what it sums).
    let mut sources: Vec<Vec<String>> = vec![vec!["input".into()]];
    let mut edges = Vec::new();
    let dims = |s: crate::model::Shape| if s.is_vector() { vec![s.c] } else { vec![s.c, s.h, s.w] };
    nodes.insert("input".into(), node("Input", vec![("shape", arr(&[dims(graph.input).len()], dims(graph.input).iter().map(|&d| d as f64).collect()))]));
    // Synapse layers written, with the membrane after them, as one CubaLIF / CubaLI node.
    let mut merged: Vec<usize> = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        if i > 0 && merged.last() == Some(&(i - 1)) {
            // The membrane of that node: its value is the node's too.
            sources.push(sources[i].clone());
            continue;
        }
        if let Some(nir) = super::cuba_export::merged(graph, i, dt) {
            add_node(&mut nodes, &mut edges, &mut sources, &graph.nodes[i + 1].name, &n.inputs, nir)?;
            merged.push(i);
            continue;
        }
        let name = n.name.replace('/', "_");
        let input = graph.value_shape(n.inputs[0]);
        let mut drop = |what: String, key: &str, value: Value, nir: &mut RawNode| -> Result<(), String> {
            if !lossy {
                return Err(format!("layer '{}': {what} has no NIR field; pass --lossy to write it into the node's metadata, which NIR consumers ignore", n.name));
            }
            nir.metadata.insert(key.into(), value);
            ignored.push(format!("node '{name}': {what} (metadata '{key}')"));
            Ok(())
        };
        let nir = match &n.op {
            Op::Add => {
                sources.push(n.inputs.iter().flat_map(|&v| sources[v].clone()).collect());
                continue;
            }
            Op::Conv(c) => {
                let mut x = node("Conv2d", vec![
                    ("weight", arr(&[c.out_ch, c.in_ch, c.kernel, c.kernel], c.weight.iter().map(|&v| f64::from(v)).collect())),
                    ("bias", arr(&[c.out_ch], c.bias.iter().map(|&v| f64::from(v)).collect())),
                    ("stride", pair(c.stride)),
                    ("padding", pair(c.padding)),
                    ("dilation", pair(1)),
                    ("groups", arr(&[], vec![1.0])),
                    ("input_shape", arr(&[2], vec![input.h as f64, input.w as f64])),
                ]);
                if let Some(scale) = &c.time_scale {
                    drop("TEBN's per-timestep output scale".into(), "tebn_time_scale", arr(&[scale.len()], scale.iter().map(|&v| f64::from(v)).collect()), &mut x)?;
                }
                x
            }
            Op::Linear(l) => node("Affine", vec![
                ("weight", arr(&[l.outputs, l.inputs], l.weight.iter().map(|&v| f64::from(v)).collect())),
                ("bias", arr(&[l.outputs], l.bias.iter().map(|&v| f64::from(v)).collect())),
            ]),
            Op::AvgPool(p) => {
                if !p.count_include_pad && p.padding > 0 {
                    return Err(format!("layer '{}': average pooling that leaves padding out of the count has no NIR form", n.name));
                }
                node("AvgPool2d", vec![("kernel_size", pair(p.kernel)), ("stride", pair(p.stride)), ("padding", pair(p.padding))])
            }
            Op::GlobalAvgPool => {
                let hw = arr(&[2], vec![input.h as f64, input.w as f64]);
                node("AvgPool2d", vec![("kernel_size", hw.clone()), ("stride", hw), ("padding", pair(0))])
            }
            Op::Flatten => {
                let d = dims(input);
                node("Flatten", vec![("start_dim", arr(&[], vec![0.0])), ("end_dim", arr(&[], vec![-1.0])), ("input_type", arr(&[d.len()], d.iter().map(|&x| x as f64).collect()))])
            }
            Op::Neuron(neuron) => {
                let shape = dims(n.shape);
                let (mut x, soft) = match neuron.kinds(n.shape.len()) {
                    None => neuron_node(neuron.kind, &shape, dt, &n.name)?,
                    Some(kinds) => per_neuron_node(&kinds, neuron.kind, &shape, dt, &n.name)?,
                };
                if soft {
                    drop("subtractive (soft) reset".into(), "reset", Value::Text(vec!["subtract".into()]), &mut x)?;
                }
                if let Some(imp) = &neuron.imp {
                    drop("learned initial membrane potential (IMP)".into(), "imp", arr(&shape, imp.iter().map(|&v| f64::from(v)).collect()), &mut x)?;
                }
                x
            }
        };
        add_node(&mut nodes, &mut edges, &mut sources, &n.name, &n.inputs, nir)?;
    }
    let last = sources.last().cloned().unwrap_or_default();
    if last.len() != 1 || last[0] == "input" {
        return Err("the network must end in a layer (not an addition or the input itself) to be exported".into());
    }
    let out = graph.value_shape(graph.output());
    nodes.insert("output".into(), node("Output", vec![("shape", arr(&[1], vec![out.len() as f64]))]));
    edges.push((last[0].clone(), "output".into()));
    let mut top = RawNode { kind: "NIRGraph".into(), nodes, edges, ..RawNode::default() };
    top.metadata.insert("dt".into(), arr(&[], vec![dt]));
    // The semantics that reads every neuron back to its rule.
    let families: Vec<&[&str]> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            // A synapse merged into its CubaLIF: the membrane's family decides.
            Op::Neuron(_) if merged.contains(&i) => None,
            Op::Neuron(x) => family(&x.kind),
            _ => None,
        })
        .collect();
    let semantics = match families.first() {
        None => "spikingjelly",
        Some(first) => match first.iter().find(|s| families.iter().all(|f| f.contains(s))) {
            Some(s) => s,
            None => {
                let other = families.iter().find(|f| !f.contains(&first[0])).map_or("", |f| f[0]);
                return Err(format!("the network mixes neurons that only --nir-semantics {} reads back with ones that only {other} does; no one semantics reads both", first[0]));
            }
        },
    };
    top.metadata.insert("nir_semantics".into(), Value::Text(vec![semantics.into()]));
    Ok(Export { top, ignored })
}

/// Adds `nir` as the node of engine layer `layer`, with edges from what `inputs` (value ids)
/// hold; the layer's value is then that node. An error names a name used twice.
fn add_node(nodes: &mut BTreeMap<String, RawNode>, edges: &mut Vec<(String, String)>, sources: &mut Vec<Vec<String>>, layer: &str, inputs: &[usize], mut nir: RawNode) -> Result<(), String> {
    let name = layer.replace('/', "_");
    nir.metadata.insert("spikestream_layer".into(), Value::Text(vec![layer.to_string()]));
    for from in inputs.iter().flat_map(|&v| sources[v].clone()) {
        edges.push((from, name.clone()));
    }
    if nodes.insert(name.clone(), nir).is_some() || name == "input" || name == "output" {
        return Err(format!("layer name '{layer}' is used twice (or is 'input'/'output')"));
    }
    sources.push(vec![name]);
    Ok(())
}

/// The NIR node of one neuron rule over `shape`, and whether its reset is subtractive (which
/// NIR has no field for). The error names `layer`.
fn neuron_node(kind: NeuronKind, shape: &[usize], dt: f64, layer: &str) -> Result<(RawNode, bool), String> {
    Ok(match kind {
        NeuronKind::If { v_th, reset } if reset != Reset::None => {
            let vr = if let Reset::Hard(v) = reset { v } else { 0.0 };
            // r = 1/dt: NIR's `dv/dt = R·I` stepped by dt adds exactly the input, and
            // SpikingJelly's import requires it (snnTorch's and Norse's IFs below keep r = 1, as they do).
            let r = (1.0 / dt) as f32;
            (node("IF", vec![("r", filled(&shape, r)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, vr))]), !matches!(reset, Reset::Hard(_)))
        }
        NeuronKind::Lif { tau, v_th, reset, decay_input } if reset != Reset::None => {
            let vr = if let Reset::Hard(v) = reset { v } else { 0.0 };
            let tau_s = (f64::from(tau) * dt) as f32;
            // SpikingJelly's own convention: r = 1 with decay_input, r = τ' = τ/dt without.
            let r = if decay_input { 1.0 } else { tau };
            let x = node("LIF", vec![("tau", filled(&shape, tau_s)), ("r", filled(&shape, r)), ("v_leak", filled(&shape, vr)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, vr))]);
            (x, !matches!(reset, Reset::Hard(_)))
        }
        // Norse's IAF (`H = V + X`, `>`, reset to 0), which its import rebuilds from IF.
        NeuronKind::LegacyLif { decay, v_th } | NeuronKind::Leaky { beta: decay, v_th, fire: Fire::Above, reset: Reset::Hard(0.0) } if decay == 1.0 => {
            (node("IF", vec![("r", filled(&shape, 1.0)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        NeuronKind::LegacyLif { decay, v_th } | NeuronKind::Leaky { beta: decay, v_th, fire: Fire::Above, reset: Reset::Hard(0.0) } if decay < 1.0 => {
            let tau_s = (dt / (1.0 - f64::from(decay))) as f32;
            let r = (f64::from(tau_s) / dt) as f32;
            (node("LIF", vec![("tau", filled(&shape, tau_s)), ("r", filled(&shape, r)), ("v_leak", filled(&shape, 0.0)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        // snnTorch's IF: Leaky(β = 1) with subtractive reset, which its import rebuilds.
        NeuronKind::Leaky { beta, v_th, fire: Fire::Above, reset: Reset::SoftSnntorch } if beta == 1.0 => {
            (node("IF", vec![("r", filled(&shape, 1.0)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        NeuronKind::LifBox { k, v_leak, v_th, fire: Fire::Above, reset: Reset::Hard(0.0) } => {
            let tau_s = (dt / f64::from(k)) as f32;
            (node("LIF", vec![("tau", filled(&shape, tau_s)), ("r", filled(&shape, 1.0)), ("v_leak", filled(&shape, v_leak)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        NeuronKind::Li { k, v_leak } => {
            let tau_s = (dt / f64::from(k)) as f32;
            (node("LI", vec![("tau", filled(&shape, tau_s)), ("r", filled(&shape, 1.0)), ("v_leak", filled(&shape, v_leak))]), false)
        }
        NeuronKind::Integrator => (node("I", vec![("r", filled(&shape, 1.0))]), false),
        // Sinabs' forms, which its from_nir rebuilds: IAF (MultiSpike, floor −θ), LIF and
        // ExpLeak with τ in timesteps (α = exp(−1/τ)).
        NeuronKind::Leaky { beta, v_th, fire: Fire::Count, reset: Reset::SoftFloor } if beta == 1.0 => {
            (node("IF", vec![("r", filled(&shape, 1.0)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        NeuronKind::Leaky { beta, v_th, fire: Fire::Count | Fire::AtLeast, reset: Reset::Soft } if beta < 1.0 => {
            let tau = sinabs_tau(beta, layer)?;
            (node("LIF", vec![("tau", filled(&shape, tau)), ("r", filled(&shape, 1.0)), ("v_leak", filled(&shape, 0.0)), ("v_threshold", filled(&shape, v_th)), ("v_reset", filled(&shape, 0.0))]), false)
        }
        NeuronKind::ExpLeak { alpha } => (node("LI", vec![("tau", filled(&shape, sinabs_tau(alpha, layer)?)), ("r", filled(&shape, 1.0)), ("v_leak", filled(&shape, 0.0))]), false),
        NeuronKind::LegacyLif { decay, .. } | NeuronKind::Leaky { beta: decay, fire: Fire::Above, reset: Reset::Hard(0.0), .. } => {
            return Err(format!("layer '{}': a leaky neuron with decay {decay} (not below 1) has no NIR time constant", layer));
        }
        other => {
            let rule = other.rule();
            return Err(format!("layer '{}': a {} neuron firing on {} with reset {:?} has no NIR reading under any --nir-semantics", layer, other.name(), rule.fire.symbol(), rule.reset));
        }
    })
}

/// The NIR node of a layer whose neurons have their own parameters (`kinds`, `[C, H, W]`
/// order): each neuron's node, gathered into arrays of `shape`. Neurons whose rules become
/// different NIR nodes (an IF and a LIF, say) cannot share one node: an error says so.
fn per_neuron_node(kinds: &[NeuronKind], template: NeuronKind, shape: &[usize], dt: f64, layer: &str) -> Result<(RawNode, bool), String> {
    let mut seen: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut distinct: Vec<(RawNode, bool)> = Vec::new();
    let mut which = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let bits: Vec<u32> = template.keys().iter().map(|k| kind.get(k).unwrap_or(f32::NAN).to_bits()).collect();
        let i = match seen.get(&bits) {
            Some(&i) => i,
            None => {
                distinct.push(neuron_node(*kind, &[1], dt, layer)?);
                seen.insert(bits, distinct.len() - 1);
                distinct.len() - 1
            }
        };
        which.push(i);
    }
    let (first, soft) = &distinct[0];
    if let Some((other, _)) = distinct.iter().find(|(x, s)| x.kind != first.kind || s != soft) {
        return Err(format!("layer '{layer}': its neurons' parameters make both {} and {} NIR nodes, which one node cannot hold", first.kind, other.kind));
    }
    let mut node = first.clone();
    for (key, value) in node.params.iter_mut() {
        let data = which.iter().map(|&i| match &distinct[i].0.params[key] { Value::Array(a) => a.data[0], Value::Text(_) => f64::NAN }).collect();
        *value = arr(shape, data);
    }
    Ok((node, *soft))
}

/// The `τ` (timesteps) whose `exp(−1/τ)` in f32 is `decay` exactly, as Sinabs reads it back:
/// `−1/ln(decay)`, or the nearest f32 within 64 steps that reads back exactly.
fn sinabs_tau(decay: f32, layer: &str) -> Result<f32, String> {
    let reads = |tau: f32| (-1.0 / tau).exp() == decay;
    let start = (-1.0 / f64::from(decay).ln()) as f32;
    if start.is_finite() && start > 0.0 {
        for step in 0..64u32 {
            for tau in [f32::from_bits(start.to_bits() + step), f32::from_bits(start.to_bits() - step)] {
                if reads(tau) {
                    return Ok(tau);
                }
            }
        }
    }
    Err(format!("layer '{layer}': no τ gives Sinabs' decay exp(−1/τ) = {decay} exactly in f32"))
}

/// The `--nir-semantics` values that read a neuron back to its rule, the preferred first (none
/// for the readouts that every semantics but Sinabs reads alike).
fn family(kind: &NeuronKind) -> Option<&'static [&'static str]> {
    let rule = kind.rule();
    match *kind {
        NeuronKind::Leaky { .. } | NeuronKind::ExpLeak { .. } if rule.fire == Fire::Count || rule.reset == Reset::SoftFloor => Some(&["sinabs"]),
        NeuronKind::Leaky { fire: Fire::AtLeast, reset: Reset::Soft, .. } => Some(&["sinabs-single"]),
        NeuronKind::ExpLeak { .. } => Some(&["sinabs", "sinabs-single"]),
        NeuronKind::LegacyLif { decay, .. } | NeuronKind::Leaky { beta: decay, fire: Fire::Above, reset: Reset::Hard(0.0), .. } if decay == 1.0 => Some(&["norse"]),
        NeuronKind::LegacyLif { .. } | NeuronKind::Leaky { .. } => Some(&["snntorch"]),
        NeuronKind::LifBox { .. } => Some(&["norse"]),
        NeuronKind::Lif { .. } | NeuronKind::If { .. } => Some(&["spikingjelly"]),
        NeuronKind::Li { .. } | NeuronKind::Integrator => None,
    }
}

//! Lowering a NIR graph onto the engine's `graph` layer list (`src/model/arch/custom.rs`) and
//! its tensors, written as the bytes of a spikestream model file (safetensors).
//!
//! Nodes run in a topological order from the Input; a node with several incoming edges reads
//! their sum (NIRTorch's rule, which covers SEW residuals), built from `add` layers. Every
//! value is saved under its node's name and read back by `input`. SumPool2d and Scale become
//! convolutions (or linear layers) whose weights are 1 or the scale on the diagonal and 0
//! elsewhere, so their results are exact. Neurons become per-layer neuron rules
//! ([`super::semantics`]); parameters that differ between neurons become per-neuron tensors.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value as Json, json};

use super::hdf5::{RawNode, Value};
use super::params::{array, f32s, ints, scalar, shape_of_input, square, to_json, vector, window};
use super::neurons::neuron_layers;
use super::{DT_KEY, ImportOptions, NirError, SEMANTICS_KEY};
use crate::model::graph::Shape;

/// What lowering builds: the layer list, the tensors and the model metadata.
struct Lowered {
    layers: Vec<Json>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

/// Lowers the top node of a NIR file to model-file bytes.
pub fn lower(top: &RawNode, version: &str, file: &str, options: &ImportOptions) -> Result<Vec<u8>, NirError> {
    let graph_err = |reason: String| NirError::Graph { file: file.to_string(), reason };
    if top.kind != "NIRGraph" {
        return Err(graph_err(format!("the top node is a {}, not a NIRGraph", top.kind)));
    }
    let dt = match options.dt {
        Some(dt) => Some(dt),
        None => top.metadata.get("dt").and_then(|v| scalar(v)).filter(|d| d.is_finite() && *d > 0.0),
    };
    let order = order(top, file)?;
    let input_name = order.first().cloned().ok_or_else(|| graph_err("no nodes".into()))?;
    let input = &top.nodes[&input_name];
    let in_shape = shape_of_input(array(input, "shape").map_err(|r| node_err(file, &input_name, input, r))?).map_err(|r| node_err(file, &input_name, input, r))?;
    let preds = predecessors(top);
    let mut out = Lowered { layers: vec![json!({"op": "save", "as": input_name})], tensors: Vec::new() };
    let mut shapes: HashMap<String, Shape> = HashMap::from([(input_name.clone(), in_shape)]);
    let mut last = in_shape;
    for name in &order[1..] {
        let node = &top.nodes[name];
        let from = &preds[name.as_str()];
        let err = |reason: String| node_err(file, name, node, reason);
        if node.kind == "Output" {
            let want: usize = array(node, "shape").map_err(&err)?.data.iter().map(|&d| d.max(0.0) as usize).product();
            if want != last.len() {
                return Err(err(format!("declares {want} outputs but the network gives {last}")));
            }
            continue;
        }
        let input = shapes[&from[0]];
        for other in &from[1..] {
            if shapes[other] != input {
                return Err(err(format!("sums its inputs, but '{}' gives {} and '{other}' gives {}", from[0], input, shapes[other])));
            }
        }
        let layer = layer_name(name);
        for (k, other) in from.iter().enumerate().skip(1) {
            let mut add = json!({"op": "add", "name": format!("{layer}.sum{k}"), "from": other});
            if k == 1 {
                add["input"] = json!(from[0]);
            }
            out.layers.push(add);
        }
        let read = (from.len() == 1).then(|| from[0].clone());
        let shape = lower_node(&mut out, node, &layer, read, input, options, dt).map_err(&err)?;
        out.layers.push(json!({"op": "save", "as": name}));
        shapes.insert(name.clone(), shape);
        last = shape;
    }
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), "1".into());
    meta.insert("arch".into(), "graph".into());
    meta.insert("graph".into(), Json::Array(out.layers).to_string());
    meta.insert("input".into(), format!("{}x{}x{}", in_shape.c, in_shape.h, in_shape.w));
    meta.insert("num_classes".into(), last.len().to_string());
    meta.insert("nir_version".into(), version.to_string());
    meta.insert("nir_metadata".into(), Json::Object(top.metadata.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()).to_string());
    if let Some(dt) = dt {
        meta.insert(DT_KEY.into(), dt.to_string());
    }
    if let Some(t) = options.timesteps {
        meta.insert("timesteps".into(), t.to_string());
    }
    if let Some(s) = options.semantics {
        meta.insert(SEMANTICS_KEY.into(), s.name().into());
    }
    let bytes: Vec<Vec<u8>> = out.tensors.iter().map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut views = Vec::new();
    for ((name, shape, _), data) in out.tensors.iter().zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data).map_err(|e| graph_err(format!("tensor '{name}': {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::tensor::serialize(views, Some(meta)).map_err(|e| graph_err(format!("cannot write the model: {e}")))
}

fn node_err(file: &str, name: &str, node: &RawNode, reason: String) -> NirError {
    NirError::Node { file: file.to_string(), node: name.to_string(), kind: node.kind.clone(), reason }
}

/// The layer name for a NIR node; names that the model store would strip a prefix from
/// (`model.`, `module.`, …) get `nir.` in front.
fn layer_name(name: &str) -> String {
    if crate::model::store::canonical(name) == name { name.to_string() } else { format!("nir.{name}") }
}

/// Appends the layers of one node reading `read` (the current value when `None`); returns the
/// node's output shape.
fn lower_node(out: &mut Lowered, node: &RawNode, layer: &str, read: Option<String>, input: Shape, options: &ImportOptions, dt: Option<f64>) -> Result<Shape, String> {
    let mut push = |mut l: Json| {
        if let Some(r) = &read {
            l["input"] = json!(r);
        }
        out.layers.push(l);
    };
    match node.kind.as_str() {
        "Affine" | "Linear" => {
            let w = array(node, "weight")?;
            let [o, i] = w.shape[..] else { return Err(format!("weight of shape {:?}; [out, in] expected", w.shape)) };
            if i != input.len() {
                return Err(format!("weight [{o}, {i}] takes {i} inputs but receives {input}"));
            }
            push(json!({"op": "linear", "name": layer}));
            out.tensors.push((format!("{layer}.weight"), vec![o, i], f32s(w)));
            if node.kind == "Affine" {
                out.tensors.push((format!("{layer}.bias"), vec![o], f32s(&vector(node, "bias", o)?)));
            }
            Ok(Shape::new(o, 1, 1))
        }
        "Conv2d" => {
            let w = array(node, "weight")?;
            let [o, i, kh, kw] = w.shape[..] else { return Err(format!("weight of shape {:?}; [out, in, kh, kw] expected", w.shape)) };
            if kh != kw {
                return Err(format!("a {kh}x{kw} kernel: only square kernels are supported"));
            }
            if ints(node, "groups", 1)?.iter().any(|&g| g != 1) {
                return Err("groups other than 1 are not supported; split the convolution into one per group".into());
            }
            if ints(node, "dilation", 2)?.iter().any(|&d| d != 1) {
                return Err("dilation other than 1 is not supported".into());
            }
            let stride = square(node, "stride")?;
            let padding = square(node, "padding")?;
            if i != input.c {
                return Err(format!("weight takes {i} input channels but receives {input}"));
            }
            push(json!({"op": "conv", "name": layer, "kernel": kh, "stride": stride, "padding": padding, "bias": true}));
            out.tensors.push((format!("{layer}.weight"), vec![o, i, kh, kw], f32s(w)));
            out.tensors.push((format!("{layer}.bias"), vec![o], f32s(&vector(node, "bias", o)?)));
            Ok(Shape::new(o, window(input.h, kh, stride, padding, input)?, window(input.w, kh, stride, padding, input)?))
        }
        "SumPool2d" => {
            let (k, stride, padding) = (square(node, "kernel_size")?, square(node, "stride")?, square(node, "padding")?);
            let c = input.c;
            let n = crate::limits::tensor(|| format!("SumPool2d as a {c}-channel convolution"), &[c, c, k, k], 4).map_err(|e| e.to_string())?;
            let mut weight = vec![0.0f32; n];
            for ch in 0..c {
                weight[(ch * c + ch) * k * k..(ch * c + ch + 1) * k * k].fill(1.0);
            }
            push(json!({"op": "conv", "name": layer, "kernel": k, "stride": stride, "padding": padding, "bias": false}));
            out.tensors.push((format!("{layer}.weight"), vec![c, c, k, k], weight));
            Ok(Shape::new(c, window(input.h, k, stride, padding, input)?, window(input.w, k, stride, padding, input)?))
        }
        "AvgPool2d" => {
            let (k, stride, padding) = (square(node, "kernel_size")?, square(node, "stride")?, square(node, "padding")?);
            push(json!({"op": "avgpool", "name": layer, "kernel": k, "stride": stride, "padding": padding}));
            Ok(Shape::new(input.c, window(input.h, k, stride, padding, input)?, window(input.w, k, stride, padding, input)?))
        }
        "Flatten" => {
            let start = ints(node, "start_dim", 1)?[0];
            let end = ints(node, "end_dim", 1)?[0];
            // NIR counts dimensions without the batch, from `input_type` (else the value's own).
            let declared = match node.params.get("input_type").or(node.params.get("input_type.input")) {
                Some(Value::Array(a)) if a.data.iter().product::<f64>() as usize == input.len() => a.data.iter().map(|&d| d as usize).collect(),
                _ if input.is_vector() => vec![input.c],
                _ => vec![input.c, input.h, input.w],
            };
            let rank = declared.len() as i64;
            let lead: usize = declared.iter().take(start.clamp(0, rank) as usize).product();
            let full = (0..rank).contains(&start) && lead == 1 && (end == -1 || end == rank - 1);
            if !full {
                return Err(format!("start_dim {start}, end_dim {end} on {declared:?}: only a flatten into one vector (start_dim 0, end_dim -1) is supported"));
            }
            push(json!({"op": "flatten", "name": layer}));
            Ok(Shape::new(input.len(), 1, 1))
        }
        "Scale" => {
            let s = array(node, "scale")?;
            let channels = input.c;
            let values: Vec<f32> = match s.data.len() {
                1 => vec![s.data[0] as f32; channels],
                n if n == channels => f32s(s),
                n => return Err(format!("{n} scale values for {input}: one per channel (or one) is supported")),
            };
            let c = channels;
            let n = crate::limits::tensor(|| format!("Scale as a {c}x{c} diagonal"), &[c, c], 4).map_err(|e| e.to_string())?;
            let mut weight = vec![0.0f32; n];
            for (ch, v) in values.iter().enumerate() {
                weight[ch * c + ch] = *v;
            }
            if input.is_vector() {
                push(json!({"op": "linear", "name": layer}));
                out.tensors.push((format!("{layer}.weight"), vec![c, c], weight));
            } else {
                push(json!({"op": "conv", "name": layer, "kernel": 1, "stride": 1, "padding": 0, "bias": false}));
                out.tensors.push((format!("{layer}.weight"), vec![c, c, 1, 1], weight));
            }
            Ok(input)
        }
        "IF" | "LIF" | "Threshold" | "LI" | "I" | "CubaLIF" | "CubaLI" => lower_neuron(out, node, layer, read.as_deref(), input, options, dt),
        "Delay" => Err("Delay is not supported: the engine has no per-connection delay line; remove the delay or fold it into the input timing".into()),
        "NIRGraph" => Err("nested graphs are not supported; flatten the subgraph into the top graph".into()),
        "Conv1d" => Err("Conv1d is not supported; the engine runs 2-D convolutions".into()),
        "Input" => Err("a second Input: only one network input is supported".into()),
        other => Err(format!("node type '{other}' is not supported")),
    }
}

/// A NIR neuron node as its engine layers ([`neuron_layers`]): the first reads the node's input,
/// each further one the layer before it; per-neuron arrays become `{layer}.neuron.{key}` tensors.
fn lower_neuron(out: &mut Lowered, node: &RawNode, layer: &str, read: Option<&str>, input: Shape, options: &ImportOptions, dt: Option<f64>) -> Result<Shape, String> {
    let dims = if input.is_vector() { vec![input.c] } else { vec![input.c, input.h, input.w] };
    for (i, l) in neuron_layers(node, layer, input, options.semantics, dt)?.into_iter().enumerate() {
        let mut json = json!({"op": "neuron", "name": l.name, "neuron": l.kind.to_json()});
        if let (0, Some(r)) = (i, read) {
            json["input"] = json!(r);
        }
        out.layers.push(json);
        for (key, v) in l.arrays.params {
            out.tensors.push((format!("{}.neuron.{key}", l.name), dims.clone(), v));
        }
    }
    Ok(input)
}

/// Nodes from the Input to the Output in an order where every node follows its inputs.
fn order(top: &RawNode, file: &str) -> Result<Vec<String>, NirError> {
    let err = |reason: String| NirError::Graph { file: file.to_string(), reason };
    for (a, b) in &top.edges {
        for n in [a, b] {
            if !top.nodes.contains_key(n) {
                return Err(err(format!("edge {a} → {b} names '{n}', which is not a node")));
            }
        }
    }
    let of = |kind: &str| top.nodes.iter().filter(|(_, n)| n.kind == kind).map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let (inputs, outputs) = (of("Input"), of("Output"));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(err(format!("{} Input and {} Output nodes; exactly one of each is supported", inputs.len(), outputs.len())));
    }
    let mut indegree: BTreeMap<&str, usize> = top.nodes.keys().map(|k| (k.as_str(), 0)).collect();
    for (_, b) in &top.edges {
        *indegree.get_mut(b.as_str()).unwrap_or(&mut 0) += 1;
    }
    if indegree[inputs[0].as_str()] != 0 {
        return Err(err(format!("the Input '{}' has incoming edges", inputs[0])));
    }
    let mut ready: VecDeque<&str> = VecDeque::from([inputs[0].as_str()]);
    let mut order = Vec::new();
    while let Some(n) = ready.pop_front() {
        order.push(n.to_string());
        for (_, b) in top.edges.iter().filter(|(a, _)| a == n) {
            let d = indegree.get_mut(b.as_str()).ok_or_else(|| err(format!("edge to unknown node '{b}'")))?;
            *d -= 1;
            if *d == 0 {
                ready.push_back(b.as_str());
            }
        }
    }
    if let Some(stuck) = top.nodes.keys().find(|k| !order.contains(k)) {
        let reason = if indegree[stuck.as_str()] > 0 && top.edges.iter().any(|(_, b)| b == stuck) { "is on a cycle (recurrent connections are not supported) or fed by a node the Input does not reach" } else { "is not reached from the Input" };
        return Err(err(format!("node '{stuck}' {reason}")));
    }
    // Every node must lead to the Output, which then comes last and reads the last layer.
    let mut needed: Vec<&str> = vec![outputs[0].as_str()];
    let mut i = 0;
    while i < needed.len() {
        let n = needed[i];
        for (a, _) in top.edges.iter().filter(|(_, b)| b == n) {
            if !needed.contains(&a.as_str()) {
                needed.push(a);
            }
        }
        i += 1;
    }
    if let Some(dead) = order.iter().find(|n| !needed.contains(&n.as_str())) {
        return Err(err(format!("node '{dead}' does not lead to the Output; remove it")));
    }
    let into_output = top.edges.iter().filter(|(_, b)| *b == outputs[0]).count();
    if into_output != 1 {
        return Err(err(format!("the Output '{}' has {into_output} incoming edges; one is supported", outputs[0])));
    }
    Ok(order)
}

/// Incoming nodes of each node, in the file's edge order.
fn predecessors(top: &RawNode) -> HashMap<&str, Vec<String>> {
    let mut p: HashMap<&str, Vec<String>> = top.nodes.keys().map(|k| (k.as_str(), Vec::new())).collect();
    for (a, b) in &top.edges {
        if let Some(list) = p.get_mut(b.as_str()) {
            list.push(a.clone());
        }
    }
    p
}

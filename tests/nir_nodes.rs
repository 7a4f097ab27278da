//! NIR nodes one by one, in graphs written here with spikestream's own NIR writer: Scale and
//! Threshold compute what NIR defines (exactly), and every unsupported node, parameter or shape
//! is an error naming the node and what to do.

use std::collections::BTreeMap;

mod common;
mod gpu_common;

use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::hdf5::{Array, RawNode, Value};
use spikestream::nir::{ImportOptions, Semantics};

fn arr(shape: &[usize], data: &[f64]) -> Value {
    Value::Array(Array { shape: shape.to_vec(), data: data.to_vec() })
}

fn node(kind: &str, params: &[(&str, Value)]) -> RawNode {
    RawNode { kind: kind.into(), params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), ..RawNode::default() }
}

/// Input `[2, 4, 4]` → `middle` (in order) → Output, plus `extra` edges.
fn graph(middle: Vec<(&str, RawNode)>, out_len: usize, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut nodes: BTreeMap<String, RawNode> = BTreeMap::new();
    nodes.insert("input".into(), node("Input", &[("shape", arr(&[3], &[2.0, 4.0, 4.0]))]));
    nodes.insert("output".into(), node("Output", &[("shape", arr(&[1], &[out_len as f64]))]));
    let mut names = vec!["input".to_string()];
    for (name, n) in middle {
        nodes.insert(name.into(), n);
        names.push(name.into());
    }
    names.push("output".into());
    let mut edges: Vec<(String, String)> = names.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect();
    edges.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let top = RawNode { kind: "NIRGraph".into(), nodes, edges, ..RawNode::default() };
    spikestream::nir::write::to_bytes(&top, "1.0.8", "test.nir").unwrap()
}

fn import(bytes: Vec<u8>) -> Result<Model, String> {
    import_as(bytes, Semantics::Spikingjelly)
}

fn import_as(bytes: Vec<u8>, semantics: Semantics) -> Result<Model, String> {
    let options = ImportOptions { dt: Some(1e-3), semantics: Some(semantics), timesteps: Some(2) };
    let model = spikestream::nir::to_model_bytes(bytes, "test.nir", &options).map_err(|e| e.to_string())?;
    Model::from_bytes(&model, "test.nir", &MetaOverrides::default()).map_err(|e| e.to_string())
}

fn uniform(shape: &[usize], v: f64) -> Value {
    arr(shape, &vec![v; shape.iter().product()])
}

fn if_node(shape: &[usize], thresholds: Value) -> RawNode {
    node("IF", &[("r", uniform(shape, 1.0)), ("v_threshold", thresholds), ("v_reset", uniform(shape, 0.0))])
}

fn conv(groups: f64, dilation: f64) -> RawNode {
    node("Conv2d", &[
        ("weight", uniform(&[2, 2, 3, 3], 0.5)),
        ("bias", uniform(&[2], 0.0)),
        ("stride", arr(&[2], &[1.0, 1.0])),
        ("padding", arr(&[2], &[1.0, 1.0])),
        ("dilation", arr(&[2], &[dilation, dilation])),
        ("groups", arr(&[], &[groups])),
    ])
}

/// Flatten, then a 32x32 identity: the output in NIR's (C, H, W) order, whatever the backend's
/// internal layout of a feature map.
fn read_out() -> Vec<(&'static str, RawNode)> {
    let eye: Vec<f64> = (0..32 * 32).map(|i| f64::from(u8::from(i / 32 == i % 32))).collect();
    vec![("f", node("Flatten", &[("start_dim", arr(&[], &[0.0])), ("end_dim", arr(&[], &[-1.0]))])), ("eye", node("Linear", &[("weight", arr(&[32, 32], &eye))]))]
}

fn ramp() -> Vec<f32> {
    (0..32).map(|i| i as f32 / 8.0 - 1.0).collect()
}

#[test]
fn scale_and_threshold_compute_what_nir_defines_exactly() {
    let scale = node("Scale", &[("scale", arr(&[2], &[0.1, -3.0]))]);
    let model = import(graph([vec![("s", scale)], read_out()].concat(), 32, &[])).unwrap();
    let x = ramp();
    let out = CpuBackend::new(&model.graph, 1).step(&x, &[0], true).unwrap().unwrap();
    let want: Vec<f32> = x.iter().enumerate().map(|(i, v)| v * [0.1f32, -3.0][i / 16]).collect();
    assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    // Threshold: z = H(x − θ), strict.
    let th = node("Threshold", &[("threshold", uniform(&[2, 4, 4], 0.5))]);
    let model = import(graph([vec![("t", th)], read_out()].concat(), 32, &[])).unwrap();
    let out = CpuBackend::new(&model.graph, 1).step(&x, &[0], true).unwrap().unwrap();
    let want: Vec<f32> = x.iter().map(|&v| f32::from(u8::from(v > 0.5))).collect();
    assert_eq!(out, want, "x = 0.5 does not fire");
}

/// A CubaLIF over `[2, 4, 4]` with the given `tau_syn`, the rest uniform.
fn cuba(tau_syn: Value) -> RawNode {
    let u = |v: f64| uniform(&[2, 4, 4], v);
    node("CubaLIF", &[("tau_syn", tau_syn), ("tau_mem", u(1.0)), ("r", u(1.0)), ("v_leak", u(0.0)), ("v_threshold", u(1.0)), ("v_reset", u(0.0))])
}

/// A LIF over `[2, 4, 4]` with τ = 2 ms (τ' = 2 at the tests' dt = 1 ms) and the given `r`.
fn lif(r: Value) -> RawNode {
    let u = |v: f64| uniform(&[2, 4, 4], v);
    node("LIF", &[("tau", u(0.002)), ("r", r), ("v_leak", u(0.0)), ("v_threshold", u(1.0)), ("v_reset", u(0.0))])
}

#[test]
fn unsupported_nodes_and_parameters_are_errors_naming_the_node() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (graph(vec![("d", node("Delay", &[("delay", uniform(&[2, 4, 4], 1.0))]))], 32, &[]), "NIR node 'd' (Delay): Delay is not supported"),
        (graph(vec![("c", node("CubaLIF", &[("tau_mem", uniform(&[2, 4, 4], 1.0))]))], 32, &[]), "'c' (CubaLIF): no 'tau_syn'"),
        (graph(vec![("li", node("LI", &[("tau", uniform(&[2, 4, 4], 1.0)), ("r", uniform(&[2, 4, 4], 2.0)), ("v_leak", uniform(&[2, 4, 4], 0.0))]))], 32, &[]), "'li' (LI): r = 2: an LI takes r = 1"),
        (graph(vec![("i", node("I", &[("r", uniform(&[2, 4, 4], 0.5))]))], 32, &[]), "'i' (I): r = 0.5: an Integrator takes r = 1"),
        (graph(vec![("g", conv(2.0, 1.0))], 32, &[]), "'g' (Conv2d): groups other than 1"),
        (graph(vec![("k", conv(1.0, 2.0))], 32, &[]), "'k' (Conv2d): dilation other than 1"),
        // Per-neuron values are read (tests/nir_per_neuron.rs, and below for CubaLIF), but not
        // where they would give neurons of different forms (r = 1 and r = τ' under spikingjelly:
        // with and without decay_input); SpikingJelly imports no current-based neuron.
        (graph(vec![("c", cuba(arr(&[2, 4, 4], &(0..32).map(|i| 1.0 + f64::from(i)).collect::<Vec<_>>())))], 32, &[]), "'c' (CubaLIF): neuron 0: --nir-semantics spikingjelly: that framework does not import current-based neurons"),
        (graph(vec![("l", lif(arr(&[2, 4, 4], &(0..32).map(|i| f64::from(1 + i % 2)).collect::<Vec<_>>())))], 32, &[]), "'l' (LIF): neuron 1 is"),
        (graph(vec![("f", node("Flatten", &[("start_dim", arr(&[], &[1.0])), ("end_dim", arr(&[], &[-1.0]))]))], 32, &[]), "'f' (Flatten): start_dim 1"),
        (graph(vec![("a", if_node(&[2, 4, 4], uniform(&[2, 4, 4], 1.0))), ("b", if_node(&[2, 4, 4], uniform(&[2, 4, 4], 1.0)))], 32, &[("b", "a")]), "node 'a' is on a cycle"),
        (graph(vec![("p", node("AvgPool2d", &[("kernel_size", arr(&[2], &[2.0, 3.0])), ("stride", arr(&[2], &[2.0, 2.0])), ("padding", arr(&[2], &[0.0, 0.0]))]))], 32, &[]), "'p' (AvgPool2d): 'kernel_size' = [2.0, 3.0]"),
        (graph(vec![("x", node("Frobnicate", &[]))], 32, &[]), "'x' (Frobnicate): node type 'Frobnicate' is not supported"),
    ];
    for (bytes, want) in cases {
        let err = import(bytes).unwrap_err();
        assert!(err.starts_with("test.nir") && err.contains(want), "expected '{want}' in: {err}");
    }
}

#[test]
fn a_cuba_lif_with_per_neuron_values_keeps_them_on_its_synapse_layer() {
    use spikestream::model::graph::Op;
    use spikestream::model::neuron::{Fire, NeuronKind, Reset};
    // τ_syn alternates 2 ms and 4 ms (Norse's k_s = dt·(1/τ_syn) = 0.5, 0.25 at dt = 1 ms); the
    // membrane's τ_mem = 2 ms (k = 0.5) is uniform.
    let tau_syn: Vec<f64> = (0..32).map(|i| [0.002, 0.004][i % 2]).collect();
    let mut c = cuba(arr(&[2, 4, 4], &tau_syn));
    c.params.insert("tau_mem".into(), uniform(&[2, 4, 4], 0.002));
    let model = import_as(graph(vec![("c", c)], 32, &[]), Semantics::Norse).unwrap();
    let kinds: Vec<_> = model.graph.nodes.iter().filter_map(|n| if let Op::Neuron(x) = &n.op { Some((n.name.clone(), x.kind, x.arrays.params.len())) } else { None }).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!((kinds[0].0.as_str(), kinds[0].2), ("c.synapse", 1), "one per-neuron array (dt_tau) on the synapse: {kinds:?}");
    let membrane = NeuronKind::LifBox { k: 0.5, v_leak: 0.0, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) };
    assert_eq!((kinds[1].0.as_str(), kinds[1].1, kinds[1].2), ("c", membrane, 0));
    // Each neuron runs its own synapse: the spikes equal a neuron-by-neuron simulation (and come
    // back in [C, H, W] order, which a spatial output once did not on the CPU).
    let mut cpu = CpuBackend::new(&model.graph, 1);
    let mut gpu = gpu_common::gpu().map(|ctx| gpu_common::gpu_backend(&ctx, &model.graph, 1, Default::default()));
    let (mut i_syn, mut v) = (vec![0.0f32; 32], vec![0.0f32; 32]);
    for t in 0..2 {
        let x: Vec<f32> = (0..32).map(|i| ((i * 7 + t * 3) % 5) as f32 * 0.75).collect();
        let got = cpu.step(&x, &[t], true).unwrap().unwrap();
        let want: Vec<f32> = (0..32)
            .map(|i| {
                let synapse = NeuronKind::Li { k: [0.5, 0.25][i % 2], v_leak: 0.0 };
                synapse.step(&mut i_syn[i], x[i]);
                f32::from(u8::from(membrane.step(&mut v[i], i_syn[i])))
            })
            .collect();
        assert_eq!(got, want, "t={t}");
        if let Some(g) = gpu.as_mut() {
            assert_eq!(g.step(&x, &[t], true).unwrap().unwrap(), want, "t={t} [gpu]");
        }
    }
}

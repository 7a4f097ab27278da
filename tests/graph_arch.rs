//! The `graph` architecture: a custom residual net described by a JSON layer list in the
//! metadata loads into the expected layers and runs identically on both backends.

mod common;

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::model::graph::Op;
use spikestream::model::{MetaOverrides, Model};

fn dyadic(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| ((i * 2_654_435_761 + seed * 97) % 9) as f32 / 8.0 - 0.375).collect()
}

fn model() -> Vec<u8> {
    let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        ("c1.weight".into(), vec![4, 2, 3, 3], dyadic(72, 1)),
        ("c1.bias".into(), vec![4], vec![0.25; 4]),
        ("c2.weight".into(), vec![4, 4, 3, 3], dyadic(144, 2)),
        ("c2.bias".into(), vec![4], vec![0.5; 4]),
        ("n1.init_state".into(), vec![1, 4, 8, 8], dyadic(256, 3)),
        ("fc.weight".into(), vec![3, 64], dyadic(192, 4)),
        ("fc.bias".into(), vec![3], vec![0.0; 3]),
    ];
    for (k, v) in [("weight", 1.0), ("bias", 0.125), ("running_mean", 0.0), ("running_var", 1.0 - 1e-5)] {
        t.push((format!("b1.{k}"), vec![4], vec![v as f32; 4]));
    }
    let graph = r#"[{"op":"conv","name":"c1","kernel":3,"padding":1,"bn":"b1"},{"op":"neuron","name":"n1"},{"op":"save","as":"skip"},
        {"op":"conv","name":"c2","kernel":3,"padding":1},{"op":"neuron","name":"n2"},{"op":"add","from":"skip","name":"res"},
        {"op":"avgpool","kernel":2},{"op":"flatten"},{"op":"linear","name":"fc"}]"#;
    let meta: HashMap<String, String> = [
        ("format", "1"),
        ("arch", "graph"),
        ("graph", graph),
        ("timesteps", "3"),
        ("num_classes", "3"),
        ("input", "2x8x8"),
        ("neuron", r#"{"kind":"if","v_th":1.0,"reset":"soft"}"#),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = t.into_iter().map(|(n, s, d)| (n, s, d.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView)> = bytes.iter().map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn custom_residual_graph_loads_and_runs_the_same_on_both_backends() {
    let m = Model::from_bytes(&model(), "graph.safetensors", &MetaOverrides::default()).unwrap();
    let kinds: Vec<&str> = m.graph.nodes.iter().map(|n| n.op.kind()).collect();
    assert_eq!(kinds, ["conv", "neuron", "conv", "neuron", "add", "avgpool", "flatten", "linear"]);
    assert!(matches!(&m.graph.nodes[1].op, Op::Neuron(n) if n.imp.is_some()), "n1 has its IMP");
    assert_eq!(m.graph.nodes[4].inputs, vec![2, 4], "the residual adds n1's output to n2's");
    let input: Vec<f32> = (0..2 * 2 * 8 * 8).map(|i| (i * 7 % 5) as f32).collect();
    let mut cpu = CpuBackend::new(&m.graph, 2);
    let run = |b: &mut dyn Backend| -> Vec<Vec<f32>> { (0..3).map(|t| b.step(&input, &[t, t], true).unwrap().unwrap()).collect() };
    let want = run(&mut cpu);
    let fired: u64 = cpu.spike_counts().unwrap().iter().sum();
    assert!(fired > 0, "the test net should spike");
    match spikestream::engine::gpu::GpuBackend::new(&m.graph, 2) {
        Ok(mut gpu) => {
            let got = run(&mut gpu);
            assert_eq!(got, want, "GPU and CPU logits differ on exact arithmetic");
            assert_eq!(gpu.spike_counts().unwrap(), cpu.spike_counts().unwrap());
        }
        Err(e) if !common::in_ci() => eprintln!("skipped GPU half: no adapter ({e})"),
        Err(e) => panic!("no GPU adapter in CI: {e}"),
    }
}

#[test]
fn graph_errors_name_the_layer() {
    let bytes = model();
    let mut o = MetaOverrides::default();
    o.set("graph", r#"[{"op":"conv","name":"c1","kernel":3,"padding":1,"bn":"b1"},{"op":"teleport"}]"#);
    // The override contradicts the file's graph: refused.
    assert!(Model::from_bytes(&bytes, "g", &o).unwrap_err().to_string().contains("'graph'"));
}

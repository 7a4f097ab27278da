//! `--precision bf16|f16`, the CPU backend's 16-bit weights: on the dyadic parity fixtures, whose
//! weights both formats hold exactly, every spike and logit equals the f32 run bit for bit; on
//! the demo model and the realistic fixture, whose weights round, the predicted classes stay;
//! and the errors: an f16 weight overflow or a NaN names its tensor, the GPU backend refuses the
//! flag, clap rejects unknown formats. The kernels against f32 weights of the same values, per
//! build, are in the library's `conv_tests`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spikestream::engine::cpu::{CpuBackend, Precision};
use spikestream::engine::{Backend, run_frames};
use spikestream::frames::npy;
use spikestream::model::graph::Op;
use spikestream::model::{Graph, MetaOverrides, Model};

const REDUCED: [Precision; 2] = [Precision::Bf16, Precision::F16];

fn parity(name: &str) -> (Model, Vec<f32>, usize, usize) {
    let dir = common::data("parity");
    let model = Model::load(&dir.join(format!("{name}.safetensors")), &MetaOverrides::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expect: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let input = npy::read(&std::fs::read(dir.join(expect["input"].as_str().unwrap())).unwrap()).unwrap().data;
    let (t, b) = (expect["timesteps"].as_u64().unwrap() as usize, expect["batch"].as_u64().unwrap() as usize);
    (model, input, t, b)
}

/// Every conv and linear weight of the graph.
fn weights(g: &Graph) -> impl Iterator<Item = f32> + '_ {
    g.nodes.iter().flat_map(|n| match &n.op {
        Op::Conv(c) => c.weight.as_slice(),
        Op::Linear(l) => l.weight.as_slice(),
        _ => &[],
    }).copied()
}

/// Whether `p` holds `w` exactly.
fn holds(p: Precision, w: f32) -> bool {
    match p {
        Precision::F32 => true,
        Precision::Bf16 => half::bf16::from_f32(w).to_f32().to_bits() == w.to_bits(),
        Precision::F16 => half::f16::from_f32(w).to_f32().to_bits() == w.to_bits(),
    }
}

/// Logits of every step and the spikes of every neuron layer at every step, as bits.
fn trace(backend: &mut dyn Backend, graph: &Graph, input: &[f32], t: usize, b: usize) -> Vec<Vec<u32>> {
    let per = input.len() / t;
    backend.reset_all();
    let mut out = Vec::new();
    for s in 0..t {
        let logits = backend.step(&input[s * per..(s + 1) * per], &vec![s; b], true).unwrap().unwrap();
        out.push(logits.iter().map(|v| v.to_bits()).collect());
        for &node in &graph.neuron_nodes() {
            out.push(backend.last_spikes(node).unwrap().iter().map(|v| v.to_bits()).collect());
        }
    }
    out
}

#[test]
fn dyadic_fixtures_give_the_f32_bits_in_bf16_and_f16() {
    for name in ["legacy_exact", "legacy_noimp_exact", "vgg11dvs_exact", "sew_cifar_exact", "sew_cifar_noimp_exact"] {
        let (model, input, t, b) = parity(name);
        let g = &model.graph;
        let want = trace(&mut CpuBackend::new(g, b), g, &input, t, b);
        assert!(want.iter().step_by(g.neuron_nodes().len() + 1).flatten().any(|&v| f32::from_bits(v) != 0.0), "{name}: the logits are not all zero");
        for p in REDUCED {
            assert!(weights(g).all(|w| holds(p, w)), "{name}: a weight is not exact in {p:?} (the fixture must be dyadic)");
            let got = trace(&mut CpuBackend::with_precision(g, b, p).unwrap(), g, &input, t, b);
            let bad = want.iter().zip(&got).position(|(a, b)| a != b);
            assert!(bad.is_none(), "{name} {p:?}: output {bad:?} (logits every {} entries) differs from f32", g.neuron_nodes().len() + 1);
        }
    }
}

/// The demo model's shipped samples, `[T, B, C, H, W]`, and their number.
fn demo_samples(model: &Model) -> (Vec<f32>, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().flat_map(|c| std::fs::read_dir(c.unwrap().path()).unwrap().map(|f| f.unwrap().path())).collect();
    files.sort();
    let t = model.meta.timesteps;
    let framing = spikestream::frames::framing::Framing::from_json(model.meta.framing.as_ref(), t).unwrap();
    let per_sample: Vec<Vec<f32>> = files.iter().map(|f| framing.frames(&spikestream::events::read_file(f, Default::default()).unwrap(), model.meta.input).unwrap().data).collect();
    let per = per_sample[0].len() / t;
    let frames = (0..t).flat_map(|s| per_sample.iter().flat_map(move |x| x[s * per..(s + 1) * per].iter().copied())).collect();
    (frames, files.len())
}

#[test]
fn rounded_weights_keep_the_predictions() {
    let model = Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors"), &MetaOverrides::default()).unwrap();
    let (frames, n) = demo_samples(&model);
    let m = &model.meta;
    let classes = |p: Precision| {
        let out = run_frames(&mut CpuBackend::with_precision(&model.graph, n, p).unwrap(), &frames, m.timesteps, m.num_classes, m.decode).unwrap();
        ((0..n).map(|b| out.argmax(b)).collect::<Vec<_>>(), out.scores)
    };
    let (want, scores) = classes(Precision::F32);
    for p in REDUCED {
        assert!(weights(&model.graph).filter(|&w| !holds(p, w)).count() > 1000, "{p:?}: the demo model's weights must round");
        let (got, reduced) = classes(p);
        assert_eq!(got, want, "demo samples: {p:?} predictions differ from f32");
        assert!(reduced != scores, "{p:?}: the scores moved (the weights did round)");
    }
}

/// The realistic parity fixtures (random kaiming weights, untrained: top-1 margins of 0.015 and
/// 0.04 on legacy_realistic): every layer's spike rate within the tolerance the f32 engine keeps
/// against PyTorch (`engine_parity`: 0.01 + 2 % of the rate).
#[test]
fn realistic_fixtures_keep_their_spike_rates() {
    for name in ["legacy_realistic", "vgg11dvs_realistic"] {
        let (model, input, t, b) = parity(name);
        let m = &model.meta;
        let rates = |p: Precision| {
            let out = run_frames(&mut CpuBackend::with_precision(&model.graph, b, p).unwrap(), &input, t, m.num_classes, m.decode).unwrap();
            let nodes = model.graph.neuron_nodes();
            let rates: Vec<f64> = out.spike_counts.iter().zip(&nodes).map(|(&c, &i)| c as f64 / (model.graph.nodes[i].shape.len() * b * t) as f64).collect();
            (rates, out.scores)
        };
        let (want, scores) = rates(Precision::F32);
        for p in REDUCED {
            let (got, reduced) = rates(p);
            eprintln!("{name} {p:?}: rates {:?}", want.iter().zip(&got).map(|(a, b)| format!("{a:.4}/{b:.4}")).collect::<Vec<_>>());
            eprintln!("{name} {p:?}: largest score difference {}", scores.iter().flatten().zip(reduced.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max));
            for (layer, (a, r)) in want.iter().zip(&got).enumerate() {
                assert!((a - r).abs() <= 0.01 + 0.02 * a, "{name} {p:?}: layer {layer} fires at {r:.4}, {a:.4} in f32");
            }
        }
    }
}

#[test]
fn weights_the_format_cannot_hold_name_their_tensor() {
    let (mut model, ..) = parity("legacy_exact");
    let (i, name) = model.graph.nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, Op::Conv(_))).nth(1).map(|(i, n)| (i, n.name.clone())).unwrap();
    let set = |model: &mut Model, v: f32| match &mut model.graph.nodes[i].op {
        Op::Conv(c) => c.weight[5] = v,
        _ => unreachable!(),
    };
    set(&mut model, 1e5);
    let err = CpuBackend::with_precision(&model.graph, 1, Precision::F16).err().expect("1e5 overflows f16").to_string();
    for part in [&format!("tensor {name}.weight"), "index 5", "100000", "--precision f16", "or bf16"] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    assert!(CpuBackend::with_precision(&model.graph, 1, Precision::Bf16).is_ok(), "bf16 holds 1e5");
    set(&mut model, f32::NAN);
    let err = CpuBackend::with_precision(&model.graph, 1, Precision::Bf16).err().expect("NaN is refused").to_string();
    assert!(err.contains(&format!("tensor {name}.weight")) && err.contains("NaN"), "{err}");
}

fn spikestream(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo/sim10_vgg48_legacy.safetensors");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo/samples/bar_up");
const SMALL: &[&str] = &["bench", "--arch", "vgg11_48_legacy", "--width-div", "16", "--timesteps", "2", "--steps", "2", "--warmup", "1", "--profile-steps", "0"];

#[test]
fn the_flag_on_classify_stream_and_bench() {
    // The GPU backend refuses it, before looking for an adapter.
    let replay = format!("replay:{}", std::fs::read_dir(SAMPLE).unwrap().next().unwrap().unwrap().path().display());
    for args in [vec!["classify", DEMO, SAMPLE, "--backend", "gpu", "--precision", "bf16"], vec!["stream", DEMO, "--source", &replay, "--backend", "gpu", "--precision", "f16"], [SMALL, &["--backend", "gpu", "--precision", "f16"]].concat()] {
        let (ok, _, err) = spikestream(&args);
        assert!(!ok && err.contains("--precision") && err.contains("CPU backend only"), "{args:?}: {err}");
    }
    let (ok, _, err) = spikestream(&["classify", DEMO, SAMPLE, "--precision", "f8"]);
    assert!(!ok && err.contains("--precision"), "{err}");
    let (ok, _, err) = spikestream(&["classify", DEMO, SAMPLE, "--compare", "--precision", "bf16"]);
    assert!(!ok && err.contains("--precision"), "{err}");
    // `auto` runs it on the CPU and says so; the same classes as f32.
    let json = |extra: &[&str]| {
        let (ok, out, err) = spikestream(&[&["classify", DEMO, SAMPLE, "--json"], extra].concat());
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        (v, err)
    };
    let (f32_run, _) = json(&["--backend", "cpu"]);
    let (bf16_run, _) = json(&["--precision", "bf16"]);
    let classes = |v: &serde_json::Value| v.to_string().matches("\"class\":").count();
    assert!(classes(&f32_run) > 0, "{f32_run}");
    let predicted = |v: &serde_json::Value| v["results"].as_array().map(|r| r.iter().map(|s| s["prediction"]["class"].clone()).collect::<Vec<_>>());
    assert_eq!(predicted(&bf16_run), predicted(&f32_run));
    let rates = |v: &serde_json::Value| v["spike_rates"].as_array().map(|r| r.iter().map(|l| l["rate"].as_f64().unwrap()).collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(rates(&f32_run).len(), 8, "{f32_run}");
    assert!(rates(&f32_run).iter().zip(rates(&bf16_run)).all(|(a, b)| (a - b).abs() < 0.05), "{f32_run}\n{bf16_run}");
    let (ok, out, err) = spikestream(&[SMALL, &["--backend", "auto", "--precision", "bf16"]].concat());
    assert!(ok && out.contains("bf16 weights") && err.contains("--precision bf16 is CPU-only"), "{out}\n{err}");
}

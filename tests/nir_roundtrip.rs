//! NIR export and the CLI: `import-nir` writes a model file that `info` loads; `export-nir`
//! writes files that spikestream reads back to the same network (the dyadic fixtures' outputs
//! bit for bit) and that `nir.read` (nir 1.0.8, `SPIKESTREAM_PEER_PYTHON` from
//! scripts/setup-peers.sh; skipped locally without it, required on CI) accepts; what NIR has no
//! field for is refused unless `--lossy`, which prints what a consumer ignores.

mod common;

use std::process::Command;

use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, SEMANTICS_KEY};

fn spikestream(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn load(path: &std::path::Path, semantics: &str) -> Model {
    let mut o = MetaOverrides::default();
    o.set(SEMANTICS_KEY, semantics);
    o.set("timesteps", "6");
    Model::load(path, &o).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn outputs(model: &Model, fixture: &str) -> Vec<Vec<f32>> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::data(&format!("nir/{fixture}.json"))).unwrap()).unwrap();
    let frames: Vec<Vec<f32>> = serde_json::from_value(doc["input"].clone()).unwrap();
    let mut cpu = CpuBackend::new(&model.graph, 1);
    frames.iter().enumerate().map(|(t, f)| cpu.step(f, &[t], true).unwrap().unwrap()).collect()
}

/// `nir.read` on `path` through the light Python peer: the node names, or `None` when skipped.
fn nir_read(path: &std::path::Path) -> Option<Vec<String>> {
    let Some(python) = std::env::var_os("SPIKESTREAM_PEER_PYTHON") else {
        assert!(!common::in_ci(), "CI must run nir.read: scripts/test.sh sets SPIKESTREAM_PEER_PYTHON");
        eprintln!("skipped: SPIKESTREAM_PEER_PYTHON is not set (scripts/setup-peers.sh installs nir)");
        return None;
    };
    let script = "import sys, nir\ng = nir.read(sys.argv[1])\nprint(' '.join(sorted(g.nodes)))\nprint(len(g.edges))";
    let out = Command::new(python).args(["-c", script]).arg(path).output().unwrap();
    assert!(out.status.success(), "nir.read refused {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("").split_whitespace().map(str::to_string).collect())
}

#[test]
fn export_reads_back_to_the_same_outputs_and_passes_nir_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("dyadic_cnn", "spikingjelly"),
        ("dyadic_cnn", "snntorch"),
        ("dyadic_cnn", "norse"),
        ("dyadic_residual", "spikingjelly"),
        ("dyadic_residual", "snntorch"),
        ("dyadic_residual", "norse"),
        ("dyadic_li", "norse"),
        ("dyadic_integrator", "spikingjelly"),
        ("dyadic_cubalif", "norse"),
    ];
    for (fixture, semantics) in cases {
        let source = common::data(&format!("nir/{fixture}.nir"));
        let original = load(&source, semantics);
        let out = dir.path().join(format!("{fixture}_{semantics}.nir"));
        let (ok, stdout, stderr) = spikestream(&["export-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", semantics, "--timesteps", "6"]);
        assert!(ok, "{fixture} {semantics}: {stderr}");
        assert!(stdout.contains("NIR nodes"), "{stdout}");
        let back = load(&out, semantics);
        assert_eq!(back.meta.raw[DT_KEY], "0.001", "dt comes back from the exported metadata");
        let (a, b) = (outputs(&original, fixture), outputs(&back, fixture));
        assert!(a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len(), "{fixture} {semantics}: {a:?} vs {b:?}");
        if let Some(nodes) = nir_read(&out) {
            assert!(nodes.contains(&"input".to_string()) && nodes.contains(&"output".to_string()), "{nodes:?}");
            // One node per layer, but a current-based neuron's synapse and membrane are one node.
            let layers = original.graph.nodes.iter().filter(|n| n.op.kind() != "add" && !n.name.ends_with(".synapse")).count();
            assert_eq!(nodes.len(), layers + 2, "{nodes:?}");
        }
    }
}

#[test]
fn soft_reset_is_refused_unless_lossy_which_prints_what_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::data("nir/dyadic_residual.nir");
    let out = dir.path().join("soft.nir");
    // Read with one spike per step and no floor: IF with a subtractive reset, which NIR cannot say.
    let base = ["export-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", "sinabs-single", "--timesteps", "6"];
    let (ok, _, stderr) = spikestream(&base);
    assert!(!ok && stderr.contains("layer 'sn1'") && stderr.contains("soft") && stderr.contains("--lossy"), "{stderr}");
    assert!(!out.exists(), "nothing written on refusal");
    let (ok, _, stderr) = spikestream(&[&base[..], &["--lossy"]].concat());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("lossy: a NIR consumer ignores node 'sn1': subtractive (soft) reset"), "{stderr}");
    if let Some(nodes) = nir_read(&out) {
        assert!(nodes.contains(&"sn2".to_string()), "{nodes:?}");
    }
}

#[test]
fn sinabs_multi_spike_neurons_export_exactly_and_read_back_under_sinabs() {
    use spikestream::model::graph::Op;
    let dir = tempfile::tempdir().unwrap();
    let source = common::data("nir/dyadic_residual.nir");
    let out = dir.path().join("sinabs.nir");
    let (ok, _, stderr) = spikestream(&["export-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", "sinabs", "--timesteps", "6"]);
    assert!(ok && !stderr.contains("lossy"), "{stderr}");
    let kinds = |m: &Model| m.graph.nodes.iter().filter_map(|n| if let Op::Neuron(x) = &n.op { Some(x.kind) } else { None }).collect::<Vec<_>>();
    let (before, after) = (load(&source, "sinabs"), load(&out, "sinabs"));
    assert_eq!(kinds(&after), kinds(&before), "the same neurons read back under sinabs");
    if let Some(nodes) = nir_read(&out) {
        assert!(nodes.contains(&"sn2".to_string()), "{nodes:?}");
    }
}

#[test]
fn import_nir_writes_a_model_file_that_info_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.safetensors");
    let source = common::data("nir/cnn_sinabs.nir");
    let (ok, stdout, stderr) = spikestream(&["import-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", "sinabs", "--timesteps", "8"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("input 2x34x34, 10 outputs, semantics sinabs"), "{stdout}");
    let (ok, stdout, stderr) = spikestream(&["info", out.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["layers"].as_array().unwrap().iter().filter(|l| l["op"] == "neuron").count(), 5, "{info}");
    // The same graph as loading the .nir directly (one code path).
    let direct = load(&source, "sinabs");
    let imported = Model::load(&out, &MetaOverrides::default()).unwrap();
    assert!(direct.graph.nodes == imported.graph.nodes && direct.graph.input == imported.graph.input, "the imported file's graph differs from the .nir's");
    // No semantics: an error naming the flag, and nothing written.
    let bad = dir.path().join("bad.safetensors");
    let (ok, _, stderr) = spikestream(&["import-nir", source.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(!ok && stderr.contains("--nir-semantics") && !bad.exists(), "{stderr}");
}

#[test]
fn a_lif_without_decay_input_exports_exactly_as_spikingjelly_writes_it() {
    // SpikingJelly 2.0's own export of LIFNode(decay_input=False) (tests/data/nir_frameworks):
    // read, written back by export-nir without --lossy (r = τ/dt), and read again, it gives the
    // same outputs bit for bit.
    let source = common::data("nir_frameworks/spikingjelly_cnn_no_decay_input.nir");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::data("nir_frameworks/spikingjelly_cnn_no_decay_input.json")).unwrap()).unwrap();
    let dt = doc["dt"].as_f64().unwrap().to_string();
    let read = |path: &std::path::Path| {
        let mut o = MetaOverrides::default();
        o.set(SEMANTICS_KEY, "spikingjelly");
        o.set(DT_KEY, &dt);
        o.set("timesteps", "6");
        Model::load(path, &o).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let frames: Vec<Vec<f32>> = doc["input"].as_array().unwrap().iter().map(|f| f.as_array().unwrap().iter().flat_map(flatten).collect()).collect();
    let run = |model: &Model| -> Vec<Vec<f32>> {
        let mut cpu = CpuBackend::new(&model.graph, 1);
        frames.iter().enumerate().map(|(t, f)| cpu.step(f, &[t], true).unwrap().unwrap()).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("back.nir");
    let (ok, _, stderr) = spikestream(&["export-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", "spikingjelly", "--dt", &dt, "--timesteps", "6"]);
    assert!(ok, "{stderr}");
    let (a, b) = (run(&read(&source)), run(&read(&out)));
    assert!(!a.is_empty() && a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| x.to_bits() == y.to_bits()), "{a:?} vs {b:?}");
    if let Some(nodes) = nir_read(&out) {
        assert!(nodes.contains(&"output".to_string()), "{nodes:?}");
    }
}

/// The numbers of a nested JSON array, in order.
fn flatten(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(flatten).collect(),
        x => vec![x.as_f64().unwrap() as f32],
    }
}

/// A current-based neuron's two engine layers go back out as one CubaLIF / CubaLI node, which
/// reads back to the same layers and the same outputs bit for bit: Norse's chain (the dyadic
/// fixtures) and snnTorch's `Synaptic` (its own export, tests/data/nir_imported).
#[test]
fn current_based_neurons_export_as_one_node_and_read_back_the_same() {
    use spikestream::model::graph::Op;
    let dir = tempfile::tempdir().unwrap();
    let layers = |m: &Model| m.graph.nodes.iter().filter_map(|n| if let Op::Neuron(x) = &n.op { Some((n.name.clone(), x.kind)) } else { None }).collect::<Vec<_>>();
    let load_dt = |path: &std::path::Path, semantics: &str, dt: Option<&str>| {
        let mut o = MetaOverrides::default();
        o.set(SEMANTICS_KEY, semantics);
        if let Some(dt) = dt {
            o.set(DT_KEY, dt);
        }
        o.set("timesteps", "6");
        Model::load(path, &o).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let cases = [("nir/dyadic_cubalif", "norse", None), ("nir/dyadic_cubali", "norse", None), ("nir_imported/snntorch_synaptic", "snntorch", Some("0.0001"))];
    for (fixture, semantics, dt) in cases {
        let source = common::data(&format!("{fixture}.nir"));
        let out = dir.path().join(format!("{}.nir", fixture.replace('/', "_")));
        let mut args = vec!["export-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", semantics, "--timesteps", "6"];
        if let Some(dt) = dt {
            args.extend(["--dt", dt]);
        }
        let (ok, _, stderr) = spikestream(&args);
        assert!(ok && !stderr.contains("lossy"), "{fixture}: {stderr}");
        let (before, after) = (load_dt(&source, semantics, dt), load_dt(&out, semantics, None));
        assert_eq!(layers(&after), layers(&before), "{fixture}: the same two layers read back");
        assert!(layers(&after).iter().any(|(name, _)| name.ends_with(".synapse")), "{fixture}: read back through the current-based lowering");
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::data(&format!("{fixture}.json"))).unwrap()).unwrap();
        let frames: Vec<Vec<f32>> = serde_json::from_value(doc["input"].clone()).unwrap();
        let run = |m: &Model| {
            let mut cpu = CpuBackend::new(&m.graph, 1);
            frames.iter().enumerate().map(|(t, f)| cpu.step(f, &[t], true).unwrap().unwrap()).collect::<Vec<_>>()
        };
        let (a, b) = (run(&before), run(&after));
        assert!(a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| x.to_bits() == y.to_bits()), "{fixture}: outputs differ after the round trip");
        if let Some(nodes) = nir_read(&out) {
            assert!(!nodes.iter().any(|n| n.ends_with(".synapse")), "{fixture}: one node per neuron: {nodes:?}");
        }
    }
}

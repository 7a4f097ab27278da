//! Per-neuron NIR neuron parameters (snnTorch `Leaky` with β and θ per neuron, Norse
//! `LIFBoxCell` / `LIBoxCell` with τ, v_leak and θ per neuron, Sinabs `LIFSqueeze` with τ per
//! neuron read as `α = exp(−1/τ)`), against each framework's own
//! simulation (fixtures of scripts/fixtures/nir_per_neuron.py in tests/data/nir_per_neuron/):
//! outputs and every spiking layer's spikes per step bit for bit on the CPU backend and on the
//! WGSL kernels (lavapipe; step by step, and whole sequences step-major and layer-major). Then the storage: `import-nir` writes the arrays as tensors
//! `<layer>.neuron.<key>`, `info` shows them, loading checks their shape and values (the error
//! names the tensor), and `export-nir` writes them back.

mod common;
mod gpu_common;
mod nir_common;

use std::process::Command;

use nir_common::{check_dyadic, frames, load, run};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::{Backend, Decode};
use spikestream::engine::gpu::ConvMode;
use spikestream::model::graph::Op;
use spikestream::model::{MetaOverrides, Model};

const CASES: [&str; 3] = ["snntorch_per_neuron", "norse_per_neuron", "sinabs_lif_per_neuron"];

fn spikestream(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The per-neuron keys of every neuron layer, in graph order.
fn array_keys(model: &Model) -> Vec<Vec<&'static str>> {
    model.graph.nodes.iter().filter_map(|n| if let Op::Neuron(x) = &n.op { Some(x.arrays.params.iter().map(|(k, _)| *k).collect()) } else { None }).collect()
}

#[test]
fn per_neuron_framework_exports_match_each_framework_bit_for_bit_on_cpu_and_gpu() {
    let ctx = gpu_common::gpu();
    for name in CASES {
        let doc = nir_common::doc("nir_per_neuron", name);
        let input = frames(&doc["input"]);
        let model = load(&doc, input.len());
        let keys = array_keys(&model);
        let want: Vec<Vec<&str>> = match name {
            "snntorch_per_neuron" => vec![vec!["beta", "v_th"]; 2],
            "norse_per_neuron" => vec![vec!["dt_tau", "v_leak", "v_th"], vec!["dt_tau"]],
            _ => vec![vec!["beta"]; 2],
        };
        assert_eq!(keys, want, "{name}: the layers' per-neuron parameters");
        check_dyadic(name, &doc, "cpu", &run(&mut CpuBackend::new(&model.graph, 1), &model, &input));
        let Some(ctx) = &ctx else { continue };
        check_dyadic(name, &doc, "gpu", &run(&mut gpu_common::gpu_backend(ctx, &model.graph, 1, ConvMode::default()), &model, &input));
        // Whole sequences, step-major and layer-major (each neuron layer over all T steps in one
        // `neuron_steps` dispatch): the same outputs per step.
        let want = frames(&doc["expected"]);
        for layer_major in [false, true] {
            let mut gpu = gpu_common::gpu_backend(ctx, &model.graph, 1, ConvMode::default());
            assert!(gpu.set_layer_major(layer_major));
            let seq = gpu.run(&input.concat(), input.len(), want[0].len(), Decode::PerStep).unwrap();
            for (t, (got, w)) in seq.per_step.iter().zip(&want).enumerate() {
                assert!(nir_common::same_bits(&got[0], w), "{name} [gpu, layer-major {layer_major}] output at t={t}: {:?}, the framework gives {w:?}", got[0]);
            }
        }
    }
}

/// The model file's tensors, with `edit` applied to one of them, written to `path`.
fn rewrite(from: &std::path::Path, path: &std::path::Path, edit: impl Fn(&str, Vec<usize>, Vec<f32>) -> (Vec<usize>, Vec<f32>)) {
    let bytes = std::fs::read(from).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data: Vec<f32> = view.data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            let (shape, data) = edit(&name, view.shape().to_vec(), data);
            (name, shape, data.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors.iter().map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())).collect();
    std::fs::write(path, safetensors::tensor::serialize(views, meta.metadata().clone()).unwrap()).unwrap();
}

#[test]
fn import_nir_stores_the_arrays_as_tensors_that_info_shows_and_loading_checks() {
    let dir = tempfile::tempdir().unwrap();
    let doc = nir_common::doc("nir_per_neuron", "snntorch_per_neuron");
    let source = common::data("nir_per_neuron/snntorch_per_neuron.nir");
    let out = dir.path().join("per_neuron.safetensors");
    let (ok, _, stderr) = spikestream(&["import-nir", source.to_str().unwrap(), out.to_str().unwrap(), "--nir-semantics", "snntorch", "--dt", "0.0001", "--timesteps", "6"]);
    assert!(ok, "{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let beta = st.tensor("1.neuron.beta").expect("the conv layer's β per neuron");
    assert_eq!(beta.shape(), [4, 8, 8]);
    assert_eq!(st.tensor("5.neuron.v_th").expect("the linear layer's θ per neuron").shape(), [5]);
    let betas: Vec<f32> = beta.data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert!(betas.iter().all(|b| [0.5, 0.75, 0.25].contains(b)) && betas.contains(&0.25) && betas.contains(&0.75), "{betas:?}");
    // The file runs as the .nir does.
    let input = frames(&doc["input"]);
    let imported = Model::load(&out, &MetaOverrides::default()).unwrap();
    check_dyadic("snntorch_per_neuron (imported file)", &doc, "cpu", &run(&mut CpuBackend::new(&imported.graph, 1), &imported, &input));
    let (ok, stdout, stderr) = spikestream(&["info", out.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let layer = info["layers"].as_array().unwrap().iter().find(|l| l["name"] == "1").unwrap();
    assert_eq!(layer["per_neuron"]["beta"]["tensor"], "1.neuron.beta", "{layer}");
    assert_eq!((layer["per_neuron"]["beta"]["min"].as_f64(), layer["per_neuron"]["beta"]["max"].as_f64()), (Some(0.25), Some(0.75)), "{layer}");
    let (ok, stdout, _) = spikestream(&["info", out.to_str().unwrap()]);
    assert!(ok && stdout.contains("per-neuron beta [0.2500, 0.7500]"), "{stdout}");
    // A tensor of the wrong shape, and a value the rule refuses: errors naming the tensor.
    let bad = dir.path().join("bad.safetensors");
    rewrite(&out, &bad, |name, shape, data| if name == "1.neuron.beta" { (vec![3], data[..3].to_vec()) } else { (shape, data) });
    let err = Model::load(&bad, &MetaOverrides::default()).err().expect("a [3] β for a [4, 8, 8] layer").to_string();
    assert!(err.contains("1.neuron.beta"), "{err}");
    rewrite(&out, &bad, |name, shape, mut data| {
        if name == "5.neuron.beta" {
            data[2] = -0.5;
        }
        (shape, data)
    });
    let err = Model::load(&bad, &MetaOverrides::default()).err().expect("a negative β").to_string();
    assert!(err.contains("5.neuron.beta") && err.contains("neuron 2") && err.contains("beta"), "{err}");
}

#[test]
fn export_nir_writes_the_arrays_back() {
    let dir = tempfile::tempdir().unwrap();
    for (name, semantics) in [("snntorch_per_neuron", "snntorch"), ("norse_per_neuron", "norse")] {
        let doc = nir_common::doc("nir_per_neuron", name);
        let dt = doc["dt"].as_f64().unwrap().to_string();
        let source = common::data(&format!("nir_per_neuron/{name}.nir"));
        let back = dir.path().join(format!("{name}.nir"));
        let (ok, _, stderr) = spikestream(&["export-nir", source.to_str().unwrap(), back.to_str().unwrap(), "--nir-semantics", semantics, "--dt", &dt, "--timesteps", "6"]);
        assert!(ok, "{name}: {stderr}");
        let input = frames(&doc["input"]);
        let model = nir_common::load_from(&doc, &back, input.len());
        assert!(array_keys(&model).iter().any(|k| !k.is_empty()), "{name}: the written file lost the per-neuron parameters");
        check_dyadic(&format!("{name} (exported)"), &doc, "cpu", &run(&mut CpuBackend::new(&model.graph, 1), &model, &input));
    }
}

/// `train` runs neuron layers with one value per parameter: a model with per-neuron tensors is
/// refused, naming the tensor.
#[cfg(feature = "train")]
#[test]
fn train_refuses_per_neuron_parameters_by_name() {
    use spikestream::train::net::{TrainNet, TrainOptions};
    let source = common::data("nir_per_neuron/norse_per_neuron.nir");
    let options = spikestream::nir::ImportOptions { dt: Some(2f64.powi(-10)), semantics: spikestream::nir::semantics::Semantics::parse("norse"), timesteps: Some(6) };
    let bytes = spikestream::nir::to_model_bytes(std::fs::read(&source).unwrap(), "norse_per_neuron.nir", &options).unwrap();
    let device = burn::tensor::Device::flex().autodiff();
    let err = TrainNet::from_bytes(&bytes, "norse_per_neuron.safetensors", &device, TrainOptions::default()).err().expect("per-neuron parameters cannot be trained").to_string();
    assert!(err.contains("1.neuron.dt_tau") && err.contains("per-neuron"), "{err}");
}

//! Bad model files give errors that name the file, the tensor and the expected and found shapes,
//! never a panic.

mod common;

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model, ModelError};

fn spec() -> SynthSpec {
    SynthSpec { arch: "vgg11_48_legacy".into(), num_classes: 10, timesteps: 4, input: [2, 48, 48], width_div: 16, imp: true, seed: 1 }
}

/// The tensors and metadata of a valid small model.
fn parts() -> (Vec<(String, Vec<usize>, Vec<u8>)>, HashMap<String, String>) {
    let bytes = synth_model_bytes(&spec()).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    (tensors, meta.metadata().clone().unwrap())
}

fn build(tensors: &[(String, Vec<usize>, Vec<u8>)], meta: HashMap<String, String>) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors.iter().map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn load(bytes: &[u8]) -> Result<Model, ModelError> {
    Model::from_bytes(bytes, "bad.safetensors", &MetaOverrides::default())
}

#[test]
fn a_valid_file_loads_and_prefixes_are_stripped() {
    let (mut t, meta) = parts();
    for (name, ..) in &mut t {
        *name = format!("backbone.{name}");
    }
    t.push(("backbone.features.0.bn.bn.module.num_batches_tracked".into(), vec![], 1f32.to_le_bytes().to_vec()));
    let m = load(&build(&t, meta)).unwrap();
    assert_eq!(m.graph.num_classes(), 10);
}

#[test]
fn missing_tensor_is_named() {
    let (t, meta) = parts();
    let t: Vec<_> = t.into_iter().filter(|(n, ..)| n != "features.7.conv.module.weight").collect();
    let e = load(&build(&t, meta)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::MissingTensor { .. }), "{msg}");
    assert!(msg.contains("bad.safetensors") && msg.contains("features.7.conv.module.weight") && msg.contains("vgg11_48_legacy"), "{msg}");
}

#[test]
fn wrong_shape_names_tensor_expected_and_found() {
    let (mut t, meta) = parts();
    let i = t.iter().position(|(n, ..)| n == "features.2.conv.module.weight").unwrap();
    let (_, shape, data) = &t[i];
    // 4 output channels of 8 inputs instead of 8 of 4: same byte count, wrong layout.
    let swapped = vec![shape[1], shape[0], 3, 3];
    t[i] = ("features.2.conv.module.weight".into(), swapped, data.clone());
    let e = load(&build(&t, meta)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{msg}");
    assert!(msg.contains("features.2.conv.module.weight") && msg.contains("expected [*, 4, 3, 3]"), "{msg}");
}

#[test]
fn unknown_arch_and_missing_or_contradicting_metadata() {
    let (t, mut meta) = parts();
    meta.insert("arch".into(), "resnet9000".into());
    let e = load(&build(&t, meta.clone())).unwrap_err();
    assert!(matches!(e, ModelError::UnknownArch { .. }) && e.to_string().contains("resnet9000"), "{e}");
    meta.remove("arch");
    let e = load(&build(&t, meta.clone())).unwrap_err();
    assert!(e.to_string().contains("'arch' is missing") && e.to_string().contains("--arch"), "{e}");
    // Supplied on the command line, it loads.
    let mut o = MetaOverrides::default();
    o.set("arch", "vgg11_48_legacy");
    assert!(Model::from_bytes(&build(&t, meta.clone()), "x", &o).is_ok());
    // Contradicting the file is an error naming the key.
    meta.insert("arch".into(), "vgg11_48_legacy".into());
    o.set("arch", "vgg11_dvs");
    let e = Model::from_bytes(&build(&t, meta), "x", &o).unwrap_err();
    assert!(e.to_string().contains("'arch'") && e.to_string().contains("the file says"), "{e}");
}

#[test]
fn timesteps_must_match_the_tebn_scale() {
    let (t, mut meta) = parts();
    meta.insert("timesteps".into(), "6".into());
    let e = load(&build(&t, meta)).unwrap_err();
    assert!(e.to_string().contains("bn.te") && e.to_string().contains("expected [6, 1, 1, 1, 1]"), "{e}");
}

#[test]
fn nan_weight_is_reported_with_its_index() {
    let (mut t, meta) = parts();
    let i = t.iter().position(|(n, ..)| n == "classifier.module.1.bias").unwrap();
    t[i].2[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = load(&build(&t, meta)).unwrap_err();
    assert!(matches!(e, ModelError::NonFinite { index: 2, .. }) && e.to_string().contains("classifier.module.1.bias"), "{e}");
}

#[test]
fn truncated_and_garbage_files_are_parse_errors() {
    let (t, meta) = parts();
    let bytes = build(&t, meta);
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = load(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, ModelError::Parse { .. }) && e.to_string().contains("bad.safetensors"), "cut {cut}: {e}");
    }
    let e = Model::load(std::path::Path::new("/nonexistent/model.safetensors"), &MetaOverrides::default()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/model.safetensors"), "{e}");
}

#[test]
fn unused_tensors_suggest_a_wrong_arch() {
    let (mut t, meta) = parts();
    t.push(("layer9.0.conv.weight".into(), vec![1], 0f32.to_le_bytes().to_vec()));
    let e = load(&build(&t, meta)).unwrap_err();
    assert!(matches!(e, ModelError::Unused { .. }) && e.to_string().contains("layer9.0.conv.weight"), "{e}");
}

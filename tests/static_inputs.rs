//! Static inputs (direct encoding) in the model file and the engine: the `input: static CxHxW`
//! metadata with `mean` and `std`, and a static model's first layers computed once and reused
//! at every timestep, bit for bit equal to running the whole network on T copies of the image,
//! on the CPU backend and on the GPU backend (lavapipe in CI; skipped without an adapter outside
//! CI). Image files and `classify`: tests/static_files.rs.

mod gpu_common;
mod static_common;

use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuBackend};
use spikestream::engine::{Backend, run_frames};
use spikestream::model::{InputKind, MetaOverrides, Model};
use spikestream::{BackendChoice, Classification, Session, SessionOptions};
use static_common::{pixels, static_model};

const T: usize = 4;
const INPUT: [usize; 3] = [3, 16, 16];
const MEAN: &str = "[0.5, 0.45, 0.4]";
const STD: &str = "[0.25, 0.2, 0.3]";

fn load(bytes: &[u8]) -> Result<Model, spikestream::model::ModelError> {
    Model::from_bytes(bytes, "static.safetensors", &MetaOverrides::default())
}

#[test]
fn static_input_metadata_is_parsed_and_checked() {
    let model = load(&static_model("sew_resnet18", INPUT, T, MEAN, STD)).unwrap();
    assert_eq!(model.meta.input, INPUT);
    assert_eq!(model.meta.input_kind, InputKind::Static { mean: vec![0.5, 0.45, 0.4], std: vec![0.25, 0.2, 0.3] });
    assert_eq!(model.meta.input_kind.input_text(model.meta.input), "static 3x16x16");
    // One number applies to every channel; no mean/std means 0 and 1.
    let one = load(&static_common::model_bytes("sew_resnet18", INPUT, T, &[("input", "static 3x16x16"), ("mean", "0.5")])).unwrap();
    assert_eq!(one.meta.input_kind, InputKind::Static { mean: vec![0.5; 3], std: vec![1.0; 3] });
    let events = load(&static_common::model_bytes("sew_resnet18", [2, 16, 16], T, &[])).unwrap();
    assert_eq!(events.meta.input_kind, InputKind::Events);
    let bad = |changes: &[(&str, &str)], key: &str, why: &str| {
        let input = if changes.iter().any(|(k, _)| *k == "input") { INPUT } else { [2, 16, 16] };
        let err = load(&static_common::model_bytes("sew_resnet18", input, T, changes)).unwrap_err().to_string();
        assert!(err.contains(&format!("'{key}'")) || err.contains(key), "{err}");
        assert!(err.contains(why), "{err}");
        assert!(err.contains("static.safetensors"), "names the file: {err}");
    };
    bad(&[("input", "static 3x16x16"), ("mean", "[0.5, 0.5]")], "mean", "2 values for 3 channel(s)");
    bad(&[("input", "static 3x16x16"), ("std", "[1, 0, 1]")], "std", "above 0");
    bad(&[("input", "static 3x16x16"), ("std", "\"wide\"")], "std", "JSON list");
    bad(&[("input", "static 3x16x16"), ("framing", r#"{"split_by":"number"}"#)], "framing", "no framing");
    bad(&[("mean", "[0.5, 0.5]")], "mean", "static input");
    let two = static_common::model_bytes("sew_resnet18", [2, 16, 16], T, &[("input", "static 2x16x16")]);
    let err = load(&two).unwrap_err().to_string();
    assert!(err.contains("1 (grey) or 3 (RGB) channels"), "{err}");
}

/// `n` seeded images `[C, H, W]` with values in [0, 1].
fn images(n: usize, seed: u64) -> Vec<Vec<f32>> {
    (0..n).map(|i| pixels(seed + i as u64, INPUT.iter().product()).iter().map(|&b| f32::from(b) / 255.0).collect()).collect()
}

/// The whole graph run on T copies of each normalised image (`[T, B, C, H, W]`), `batch` at a
/// time, on `backend`: the per-step logits of every image.
fn recomputed(backend: &mut dyn Backend, session: &Session, normalised: &[Vec<f32>]) -> Vec<Vec<Vec<f32>>> {
    let (b, per, k) = (backend.batch(), INPUT.iter().product::<usize>(), session.model().meta.num_classes);
    let mut out = Vec::new();
    for group in normalised.chunks(b) {
        let mut frames = vec![0f32; T * b * per];
        for t in 0..T {
            for (i, img) in group.iter().enumerate() {
                frames[(t * b + i) * per..(t * b + i + 1) * per].copy_from_slice(img);
            }
        }
        let run = run_frames(backend, &frames, T, k, session.decode()).unwrap();
        out.extend((0..group.len()).map(|i| run.per_step.iter().map(|rows| rows[i].clone()).collect::<Vec<_>>()));
    }
    out
}

fn bits(logits: &[Vec<f32>]) -> Vec<u32> {
    logits.iter().flatten().map(|v| v.to_bits()).collect()
}

/// Five images on a batch of 3 (one full batch, one padded): the session's logits (first layers
/// once) against the whole network on T copies, bit for bit; spikes happen and images differ.
fn check_reuse(session: &mut Session, reference: &mut dyn Backend, expect_prefix: bool) {
    let imgs = images(5, 11);
    let normalised: Vec<Vec<f32>> = imgs.iter().map(|x| session.loader().frames(&[3, 16, 16], x).unwrap().remove(0)).collect();
    let got: Vec<Classification> = session.classify_samples(&normalised.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
    assert_eq!(session.static_prefix_layers() > 0, expect_prefix, "prefix layers: {}", session.static_prefix_layers());
    let want = recomputed(reference, session, &normalised);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.logits.len(), T);
        assert_eq!(bits(&g.logits), bits(w), "image {i}: reuse {:?} vs recompute {:?}", g.logits, w);
    }
    assert_ne!(bits(&got[0].logits), bits(&got[1].logits), "different images give different logits");
    assert!(session.spike_rates().iter().any(|(_, r)| *r > 0.0), "the network spikes: {:?}", session.spike_rates());
}

fn session(bytes: &[u8], backend: BackendChoice) -> Session {
    let options = SessionOptions { backend, batch: 3, ..SessionOptions::default() };
    Session::with_model(load(bytes).unwrap(), "static.safetensors", options).unwrap()
}

#[test]
fn first_layer_once_equals_recompute_on_cpu() {
    let bytes = static_model("sew_resnet18", INPUT, T, MEAN, STD);
    let mut s = session(&bytes, BackendChoice::Cpu);
    let mut reference = CpuBackend::new(&s.model().graph, 3);
    check_reuse(&mut s, &mut reference, true);
}

#[test]
fn a_first_layer_with_a_per_step_scale_runs_every_step_and_still_matches() {
    // vgg11_48_legacy: TEBN scales every convolution per timestep, so nothing is computed once.
    let bytes = static_model("vgg11_48_legacy", INPUT, T, MEAN, STD);
    let mut s = session(&bytes, BackendChoice::Cpu);
    let mut reference = CpuBackend::new(&s.model().graph, 3);
    check_reuse(&mut s, &mut reference, false);
}

#[test]
fn first_layer_once_equals_recompute_on_gpu() {
    let Some(ctx) = gpu_common::gpu() else { return };
    let bytes = static_model("sew_resnet18", INPUT, T, MEAN, STD);
    let mut s = session(&bytes, BackendChoice::Gpu);
    assert!(!s.describe_backend().starts_with("cpu"), "{}", s.describe_backend());
    let mut reference = GpuBackend::with_context(ctx, &s.model().graph, 3, ConvMode::default()).unwrap();
    check_reuse(&mut s, &mut reference, true);
}

#[test]
fn a_static_model_refuses_stream_frames_and_event_sessions_refuse_images() {
    let bytes = static_model("sew_resnet18", INPUT, T, MEAN, STD);
    let mut s = session(&bytes, BackendChoice::Cpu);
    let err = s.step(&vec![0.0; 3 * 16 * 16]).unwrap_err().to_string();
    assert!(err.contains("static 3x16x16"), "{err}");
    let image = spikestream::frames::image::Image { channels: 3, height: 16, width: 16, data: images(1, 3).remove(0) };
    let a = s.classify_image(&image).unwrap();
    let b = s.classify_frames(&[1, 3, 16, 16], &image.data).unwrap().remove(0);
    assert_eq!(a, b, "classify_image equals classify_frames of the same pixels");
    let small = spikestream::frames::image::Image { channels: 3, height: 8, width: 16, data: vec![0.0; 3 * 8 * 16] };
    let err = s.classify_image(&small).unwrap_err().to_string();
    assert!(err.contains("[3, 8, 16]") && err.contains("static 3x16x16"), "{err}");
    let events = static_common::model_bytes("sew_resnet18", [2, 16, 16], T, &[]);
    let mut e = session(&events, BackendChoice::Cpu);
    let grey = spikestream::frames::image::Image { channels: 2, height: 16, width: 16, data: vec![0.0; 2 * 16 * 16] };
    let err = e.classify_image(&grey).unwrap_err().to_string();
    assert!(err.contains("event frames 2x16x16"), "{err}");
}

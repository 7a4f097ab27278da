//! NIR import: the NIR paper's files (Sinabs CNN, NIR 0.2, superblock 0; Norse and Rockpool LIF)
//! and files written by `nir` 1.0.8 with gzip-compressed arrays load; the dyadic fixtures of
//! scripts/fixtures/nir_dyadic.py (a conv/LIF/sum-pool/affine network and a SEW-style residual
//! network, under every semantics that reads them, snnTorch's IF and Norse's LIF included; two
//! networks ending in a non-spiking LI or Integrator readout whose membrane is the output; CubaLIF
//! and CubaLI as Norse chains them) give the
//! NumPy reference's outputs bit for bit at every timestep, on the CPU backend
//! and on the WGSL kernels (lavapipe); unsupported semantics and damaged files are errors that
//! name the node or the HDF5 path, never panics.

mod common;
mod gpu_common;

use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::ConvMode;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, ImportOptions, SEMANTICS_KEY, Semantics};

fn options(semantics: Option<&str>, dt: Option<&str>, timesteps: usize) -> MetaOverrides {
    let mut o = MetaOverrides::default();
    if let Some(s) = semantics {
        o.set(SEMANTICS_KEY, s);
    }
    if let Some(d) = dt {
        o.set(DT_KEY, d);
    }
    o.set("timesteps", timesteps.to_string());
    o
}

fn load(name: &str, semantics: Option<&str>, dt: Option<&str>) -> Result<Model, String> {
    Model::load(&common::data(&format!("nir/{name}")), &options(semantics, dt, 8)).map_err(|e| e.to_string())
}

/// Per-step outputs of `backend` on `frames` (`[T][C·H·W]`).
fn outputs(backend: &mut dyn Backend, frames: &[Vec<f32>]) -> Vec<Vec<f32>> {
    backend.reset_all();
    frames.iter().enumerate().map(|(t, f)| backend.step(f, &[t], true).unwrap().unwrap()).collect()
}

#[test]
fn the_nir_paper_sinabs_cnn_loads_under_sinabs_semantics() {
    let model = load("cnn_sinabs.nir", Some("sinabs"), None).unwrap();
    assert_eq!(model.meta.input, [2, 34, 34]);
    assert_eq!(model.meta.num_classes, 10);
    assert_eq!(model.graph.neuron_nodes().len(), 5, "five IF layers");
    assert_eq!(model.meta.raw["nir_version"], "0.2.0");
    // It runs: one step of zeros gives the 10 biases' worth of logits (all finite).
    let mut cpu = CpuBackend::new(&model.graph, 1);
    let out = cpu.step(&vec![0.0; 2 * 34 * 34], &[0], true).unwrap().unwrap();
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn semantics_that_the_engine_cannot_express_are_refused_naming_the_node() {
    // Sinabs reads LI as ExpLeak, which takes v_leak = 0 (this file's is 0.25).
    let err = load("dyadic_li.nir", Some("sinabs"), Some("0.0009765625")).unwrap_err();
    assert!(err.contains("(LI)") && err.contains("v_leak = 0.25") && err.contains("ExpLeak"), "{err}");
    let err = load("dyadic_cubalif.nir", Some("sinabs"), None).unwrap_err();
    assert!(err.contains("does not import current-based neurons"), "{err}");
    let err = load("cnn_sinabs.nir", None, None).unwrap_err();
    assert!(err.contains("--nir-semantics"), "{err}");
    let err = load("lif_norse.nir", Some("spikingjelly"), None).unwrap_err();
    assert!(err.contains("--dt"), "{err}");
    // Rockpool writes r = 24.02: SpikingJelly has no input resistance, snnTorch divides θ by r·dt/τ.
    let err = load("lif_rockpool.nir", Some("spikingjelly"), Some("0.001")).unwrap_err();
    assert!(err.contains("r = 24.0"), "{err}");
    let err = load("lif_norse.nir", Some("bogus"), Some("0.001")).unwrap_err();
    assert!(err.contains("--nir-semantics 'bogus'"), "{err}");
}

#[test]
fn the_nir_paper_lif_files_discretise_as_documented() {
    use spikestream::model::graph::Op;
    use spikestream::model::neuron::{Fire, NeuronKind, Reset};
    let kind = |m: &Model| match &m.graph.nodes[m.graph.neuron_nodes()[0]].op {
        Op::Neuron(n) => n.kind,
        _ => unreachable!(),
    };
    // τ = 2.5 ms, dt = 1 ms: SpikingJelly's τ' = τ/dt = 2.5.
    let m = load("lif_norse.nir", Some("spikingjelly"), Some("0.001")).unwrap();
    assert_eq!(kind(&m), NeuronKind::Lif { tau: 2.5, v_th: 0.1, reset: Reset::Hard(0.0), decay_input: true });
    // snnTorch: β = 1 − dt/τ = 0.6, θ / (r·dt/τ) in f32 as NumPy computes it.
    let m = load("lif_rockpool.nir", Some("snntorch"), Some("0.001")).unwrap();
    let (r, tau, dt) = (24.019737f32, 0.0025f32, 0.001f32);
    assert_eq!(kind(&m), NeuronKind::Leaky { beta: 1.0 - dt / tau, v_th: 0.1 / (r * dt / tau), fire: Fire::Above, reset: Reset::Hard(0.0) });
    // Norse: LIFBoxCell with k = dt·(1/τ) in f32, firing on H − θ > 0, reset to 0.
    let m = load("lif_norse.nir", Some("norse"), Some("0.001")).unwrap();
    assert_eq!(kind(&m), NeuronKind::LifBox { k: 0.001f32 * (1.0 / 0.0025f32), v_leak: 0.0, v_th: 0.1, fire: Fire::Above, reset: Reset::Hard(0.0) });
    // Sinabs: LIFSqueeze(tau_mem = τ) counts τ in timesteps, α = exp(−1/τ) in f32, MultiSpike
    // (trunc(H/θ) spikes), subtract; sinabs-single: one spike when H ≥ θ.
    let m = load("lif_norse.nir", Some("sinabs"), None).unwrap();
    assert_eq!(kind(&m), NeuronKind::Leaky { beta: (-1.0f32 / 0.0025f32).exp(), v_th: 0.1, fire: Fire::Count, reset: Reset::Soft });
    let m = load("lif_norse.nir", Some("sinabs-single"), None).unwrap();
    assert_eq!(kind(&m), NeuronKind::Leaky { beta: (-1.0f32 / 0.0025f32).exp(), v_th: 0.1, fire: Fire::AtLeast, reset: Reset::Soft });
    // Sinabs' IF: IAFSqueeze(min_v_mem = −θ), MultiSpike.
    let m = load("cnn_sinabs.nir", Some("sinabs"), None).unwrap();
    assert!(matches!(kind(&m), NeuronKind::Leaky { beta: 1.0, fire: Fire::Count, reset: Reset::SoftFloor, .. }), "{:?}", kind(&m));
    // snnTorch's IF: Leaky(β = 1), firing on H − θ > 0, subtractive reset.
    let m = load("cnn_sinabs.nir", Some("snntorch"), None).unwrap();
    assert!(matches!(kind(&m), NeuronKind::Leaky { beta: 1.0, fire: Fire::Above, reset: Reset::SoftSnntorch, .. }), "{:?}", kind(&m));
}

#[test]
fn dyadic_fixtures_match_the_numpy_reference_bit_for_bit_on_cpu_and_gpu() {
    let ctx = gpu_common::gpu();
    let mut compared = 0;
    for name in ["dyadic_cnn", "dyadic_residual", "dyadic_li", "dyadic_integrator", "dyadic_cubalif", "dyadic_cubali"] {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::data(&format!("nir/{name}.json"))).unwrap()).unwrap();
        let frames: Vec<Vec<f32>> = serde_json::from_value::<Vec<Vec<f32>>>(doc["input"].clone()).unwrap();
        for (semantics, expected) in doc["expected"].as_object().unwrap() {
            let want: Vec<Vec<f32>> = serde_json::from_value(expected.clone()).unwrap();
            // The cnn's dt comes from the file's metadata (no --dt given); the residual has IF only.
            let model = load(&format!("{name}.nir"), Some(semantics), None).unwrap_or_else(|e| panic!("{name} {semantics}: {e}"));
            let check = |backend: &str, got: &[Vec<f32>]| {
                for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(g.len() == w.len() && g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} {semantics} [{backend}] t={t}: {g:?} vs {w:?}");
                }
            };
            check("cpu", &outputs(&mut CpuBackend::new(&model.graph, 1), &frames));
            if let Some(ctx) = &ctx {
                check("gpu", &outputs(&mut gpu_common::gpu_backend(ctx, &model.graph, 1, ConvMode::default()), &frames));
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 13, "cnn: spikingjelly, snntorch, norse; residual: those, sinabs and sinabs-single; li: norse; integrator: spikingjelly, norse; cubalif, cubali: norse");
}

#[test]
fn damaged_files_are_errors_naming_the_file_never_panics() {
    let bytes = std::fs::read(common::data("nir/dyadic_residual.nir")).unwrap();
    let opts = ImportOptions { dt: Some(1e-3), semantics: Some(Semantics::Spikingjelly), timesteps: None };
    assert!(spikestream::nir::to_model_bytes(bytes.clone(), "ok.nir", &opts).is_ok());
    for cut in [0, 8, 100, 512, 2048, bytes.len() / 2, bytes.len() - 1] {
        let err = spikestream::nir::to_model_bytes(bytes[..cut].to_vec(), "cut.nir", &opts).unwrap_err().to_string();
        assert!(err.starts_with("cut.nir"), "cut at {cut}: {err}");
    }
    // Flipped bytes: any outcome but a panic (a panic fails the test).
    let mut state = 15u64;
    for _ in 0..200 {
        let mut damaged = bytes.clone();
        for _ in 0..4 {
            let i = (spikestream::rng::splitmix64(&mut state) % damaged.len() as u64) as usize;
            damaged[i] ^= 1 << (state % 8);
        }
        let _ = spikestream::nir::to_model_bytes(damaged, "flipped.nir", &opts);
    }
}

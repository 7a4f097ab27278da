//! The model file a fresh training run starts from: the architecture with seeded weights (or
//! `--init`'s file), the dataset's classes, the framing of its recordings or the shape and
//! statistics of its images, and the decoding its loss implies.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::loss::Readout;
use super::run::TrainConfig;
use crate::model::synth::{SynthSpec, synth_model_bytes};

/// What a fresh run feeds the network: event frames of a framing (its JSON), or static images of
/// a shape with the training set's per-channel mean and std (direct encoding).
pub(super) enum InputSpec {
    Events { framing_json: String },
    Static { shape: [usize; 3], mean: Vec<f32>, std: Vec<f32> },
}

/// The model file a fresh run starts from: `arch` with seeded weights and the run's metadata.
pub(super) fn initial_model(cfg: &TrainConfig, classes: &[String], input: &InputSpec) -> Result<Vec<u8>> {
    if let Some(init) = &cfg.init {
        return std::fs::read(init).with_context(|| format!("reading {}", init.display()));
    }
    let spec = SynthSpec {
        arch: cfg.arch.clone(),
        num_classes: classes.len(),
        timesteps: cfg.timesteps,
        input: match input {
            InputSpec::Events { .. } => [2, cfg.size.0, cfg.size.1],
            InputSpec::Static { shape, .. } => *shape,
        },
        width_div: cfg.width_div,
        imp: cfg.imp,
        seed: cfg.seed,
    };
    let bytes = synth_model_bytes(&spec)?;
    let mut meta = safetensors::SafeTensors::read_metadata(&bytes)?.1.metadata().clone().unwrap_or_default();
    meta.insert("classes".into(), serde_json::to_string(classes)?);
    match input {
        InputSpec::Events { framing_json } => {
            meta.insert("framing".into(), framing_json.clone());
        }
        InputSpec::Static { shape: [c, h, w], mean, std } => {
            meta.insert("input".into(), format!("static {c}x{h}x{w}"));
            meta.insert("mean".into(), serde_json::to_string(mean)?);
            meta.insert("std".into(), serde_json::to_string(std)?);
        }
    }
    meta.insert("decode".into(), if cfg.loss.readout() == Readout::Last { "last" } else { "mean" }.into());
    rewrite_metadata(&bytes, meta)
}

/// The same tensors with new metadata.
pub(super) fn rewrite_metadata(bytes: &[u8], meta: HashMap<String, String>) -> Result<Vec<u8>> {
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let views = st.tensors();
    Ok(safetensors::serialize(views, Some(meta))?)
}

/// The framing of a run: SpikingJelly `number` slicing into T frames, resized to `size` when the
/// recordings' sensor differs.
pub(super) fn framing_for(cfg: &TrainConfig, first: &Path) -> Result<String> {
    let recording = crate::events::read_file(first, Default::default()).with_context(|| format!("reading {}", first.display()))?;
    let (width, height) = match (recording.resolution, cfg.sensor) {
        (_, Some(given)) => given,
        (Some(r), None) => (r.width, r.height),
        (None, None) => bail!("{}: the recording has no sensor size; pass --sensor WxH (N-MNIST: 34x34, N-Caltech101: 240x180)", first.display()),
    };
    let mut framing = serde_json::json!({"split_by": "number", "frames": cfg.timesteps, "polarity": "split", "sensor": format!("{width}x{height}")});
    if (usize::from(height), usize::from(width)) != cfg.size {
        framing["resize"] = format!("{}x{}", cfg.size.0, cfg.size.1).into();
    }
    Ok(framing.to_string())
}

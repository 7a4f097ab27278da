//! The model file's `__metadata__` (all strings), merged with what the command line supplies.

use std::collections::HashMap;

use serde::Serialize;

use super::ModelError;
use super::neuron::NeuronKind;

/// How predictions are read from per-timestep logits: the one decode type of the crate (model
/// metadata, the engine, `classify`, `stream` and [`crate::engine::Session`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Decode {
    /// Mean of the logits over timesteps (SDT/TET evaluation).
    Mean,
    /// Logits of the last timestep only (LTS evaluation; the head runs at the last step only).
    Last,
    /// The mean, and every timestep's logits are kept for the caller.
    PerStep,
}

impl Decode {
    /// `mean`, `last` or `per-step`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mean" => Some(Self::Mean),
            "last" => Some(Self::Last),
            "per-step" => Some(Self::PerStep),
            _ => None,
        }
    }

    /// Whether the head runs at step `t` of `timesteps`.
    pub fn head_at(self, t: usize, timesteps: usize) -> bool {
        self != Decode::Last || t + 1 == timesteps
    }

    /// The decoded logits `[K]` of one sample from its per-step logits (`rows`, in step order):
    /// the last row, or the sum in step order divided by `timesteps`.
    pub fn scores<'a>(self, rows: impl IntoIterator<Item = &'a [f32]>, classes: usize, timesteps: usize) -> Vec<f32> {
        let rows = rows.into_iter();
        match self {
            Decode::Last => rows.last().map(<[f32]>::to_vec).unwrap_or_default(),
            Decode::Mean | Decode::PerStep => {
                let mut sum = vec![0f32; classes];
                for r in rows {
                    sum.iter_mut().zip(r).for_each(|(a, v)| *a += v);
                }
                sum.into_iter().map(|v| v / timesteps as f32).collect()
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelMeta {
    pub format: String,
    pub arch: String,
    pub timesteps: usize,
    pub num_classes: usize,
    pub classes: Vec<String>,
    /// Per-sample input `[channels, height, width]`.
    pub input: [usize; 3],
    /// How events become frames (JSON object, kept verbatim), if the file says.
    pub framing: Option<serde_json::Value>,
    pub decode: Decode,
    /// The neuron rule, when the file overrides the arch's default.
    pub neuron: Option<NeuronKind>,
    /// Everything in `__metadata__`, for `info`.
    pub raw: HashMap<String, String>,
}

/// Metadata given on the command line; a value here fills a missing key or must agree.
#[derive(Clone, Debug, Default)]
pub struct MetaOverrides {
    pub values: HashMap<String, String>,
}

impl MetaOverrides {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }
}

const FLAGS: [(&str, &str); 7] =
    [("arch", "arch"), ("timesteps", "timesteps"), ("num_classes", "num-classes"), ("input", "input-shape"), ("decode", "decode"), ("classes", "classes"), ("framing", "framing")];

impl ModelMeta {
    pub fn resolve(file_meta: &HashMap<String, String>, overrides: &MetaOverrides, file: &str) -> Result<Self, ModelError> {
        let mut raw = file_meta.clone();
        for (k, v) in &overrides.values {
            match file_meta.get(k) {
                Some(existing) if existing != v => {
                    return Err(ModelError::BadMeta { file: file.into(), key: k.clone(), value: v.clone(), reason: format!("the file says '{existing}'") });
                }
                _ => {
                    raw.insert(k.clone(), v.clone());
                }
            }
        }
        let flag = |key: &str| FLAGS.iter().find(|(k, _)| *k == key).map_or(key, |(_, f)| f).to_string();
        let get = |key: &str| raw.get(key).map(String::as_str).ok_or_else(|| ModelError::MissingMeta { file: file.into(), key: key.into(), flag: flag(key) });
        let bad = |key: &str, value: &str, reason: &str| ModelError::BadMeta { file: file.into(), key: key.into(), value: value.into(), reason: reason.into() };
        let number = |key: &str| -> Result<usize, ModelError> {
            let v = get(key)?;
            v.trim().parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| bad(key, v, "a positive integer is expected"))
        };
        let arch = get("arch")?.to_string();
        let timesteps = number("timesteps")?;
        if timesteps as u64 > crate::limits::MAX_TIMESTEPS {
            return Err(bad("timesteps", &timesteps.to_string(), &format!("at most {} timesteps are supported", crate::limits::MAX_TIMESTEPS)));
        }
        let classes: Vec<String> = match raw.get("classes") {
            Some(c) => serde_json::from_str(c).map_err(|e| bad("classes", c, &format!("a JSON list of names is expected ({e})")))?,
            None => Vec::new(),
        };
        let num_classes = match raw.get("num_classes") {
            Some(_) => number("num_classes")?,
            None if !classes.is_empty() => classes.len(),
            None => return Err(ModelError::MissingMeta { file: file.into(), key: "num_classes".into(), flag: "num-classes".into() }),
        };
        if num_classes as u64 > crate::limits::MAX_CLASSES {
            return Err(bad("num_classes", &num_classes.to_string(), &format!("at most {} classes are supported", crate::limits::MAX_CLASSES)));
        }
        if !classes.is_empty() && classes.len() != num_classes {
            return Err(bad("classes", &raw["classes"], &format!("{} names for num_classes = {num_classes}", classes.len())));
        }
        let classes = if classes.is_empty() { (0..num_classes).map(|i| i.to_string()).collect() } else { classes };
        let input_text = get("input")?;
        let dims: Vec<usize> = input_text.split(['x', 'X']).filter_map(|d| d.trim().parse().ok()).collect();
        let input = match dims[..] {
            [c, h, w] if c > 0 && h > 0 && w > 0 => [c, h, w],
            _ => return Err(bad("input", input_text, "CxHxW expected, e.g. 2x48x48")),
        };
        crate::limits::tensor(|| "one input frame".into(), &input, 4).map_err(|e| bad("input", input_text, &e.to_string()))?;
        let decode = match raw.get("decode") {
            None => Decode::Mean,
            // `per-step` is a way to run a model, not a property of it.
            Some(d) => Decode::parse(d).filter(|d| *d != Decode::PerStep).ok_or_else(|| bad("decode", d, "mean or last"))?,
        };
        let framing = match raw.get("framing") {
            None => None,
            Some(f) => Some(serde_json::from_str(f).map_err(|e| bad("framing", f, &format!("a JSON object is expected ({e})")))?),
        };
        // Checked here so every command that loads the model refuses a framing that cannot work
        // (unknown keys' values, counts and sizes over the limits), naming the file and key.
        if let Some(f) = &framing {
            crate::frames::framing::Framing::from_json(Some(f), timesteps).map_err(|e| bad("framing", &raw["framing"], &e.to_string()))?;
        }
        let neuron = match raw.get("neuron") {
            None => None,
            Some(n) => Some(NeuronKind::from_json(n).map_err(|e| bad("neuron", n, &e))?),
        };
        Ok(Self { format: raw.get("format").cloned().unwrap_or_else(|| "1".into()), arch, timesteps, num_classes, classes, input, framing, decode, neuron, raw })
    }
}

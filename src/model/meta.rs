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

/// What a model's input is (metadata `input`, `mean`, `std`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InputKind {
    /// Event frames binned as the `framing` metadata says, a new frame at every timestep.
    Events,
    /// One image `[C, H, W]` (1 or 3 channels) fed unchanged at every timestep (direct
    /// encoding), normalised per channel as `(x − mean[c]) / std[c]` with `x` in `[0, 1]`
    /// (8-bit pixels divided by 255, as torchvision's `ToTensor` then `Normalize`).
    Static { mean: Vec<f32>, std: Vec<f32> },
}

impl InputKind {
    pub fn is_static(&self) -> bool {
        matches!(self, InputKind::Static { .. })
    }

    /// `static` (with `channels`) and the `mean` / `std` keys (a JSON list of one number per
    /// channel, or one number for all; default 0 and 1); an error is (key, value, reason).
    fn resolve(is_static: bool, channels: usize, mean: Option<&str>, std: Option<&str>, framing: Option<&str>) -> Result<Self, (&'static str, String, String)> {
        if !is_static {
            return match (mean, std) {
                (Some(v), _) => Err(("mean", v.into(), "mean and std apply to a static input ('input': 'static CxHxW') only".into())),
                (_, Some(v)) => Err(("std", v.into(), "mean and std apply to a static input ('input': 'static CxHxW') only".into())),
                _ => Ok(InputKind::Events),
            };
        }
        if channels != 1 && channels != 3 {
            return Err(("input", format!("static {channels}x…"), "a static input has 1 (grey) or 3 (RGB) channels".into()));
        }
        if let Some(f) = framing {
            return Err(("framing", f.into(), "a static input has no framing (framing makes frames of events)".into()));
        }
        let list = |key: &'static str, text: Option<&str>, default: f32| -> Result<Vec<f32>, (&'static str, String, String)> {
            let Some(text) = text else { return Ok(vec![default; channels]) };
            let bad = |why: &str| (key, text.to_string(), why.to_string());
            let values: Vec<f32> = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(a)) => a.iter().map(|v| v.as_f64().map(|x| x as f32)).collect::<Option<_>>().ok_or_else(|| bad("a JSON list of numbers is expected"))?,
                Ok(serde_json::Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN) as f32; channels],
                _ => return Err(bad("a number or a JSON list of one number per channel is expected")),
            };
            if values.len() != channels {
                return Err(bad(&format!("{} values for {channels} channel(s)", values.len())));
            }
            if values.iter().any(|v| !v.is_finite() || (key == "std" && *v <= 0.0)) {
                return Err(bad(if key == "std" { "every std must be a finite number above 0" } else { "every mean must be a finite number" }));
            }
            Ok(values)
        };
        Ok(InputKind::Static { mean: list("mean", mean, 0.0)?, std: list("std", std, 1.0)? })
    }

    /// The metadata text of `input` for a per-step shape: `2x48x48` or `static 3x32x32`.
    pub fn input_text(&self, [c, h, w]: [usize; 3]) -> String {
        if self.is_static() { format!("static {c}x{h}x{w}") } else { format!("{c}x{h}x{w}") }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelMeta {
    pub format: String,
    pub arch: String,
    pub timesteps: usize,
    pub num_classes: usize,
    pub classes: Vec<String>,
    /// Per-sample input `[channels, height, width]` of one timestep.
    pub input: [usize; 3],
    /// Event frames (a new frame every timestep) or one static image (direct encoding).
    pub input_kind: InputKind,
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
        let (is_static, dims_text) = match input_text.trim().strip_prefix("static") {
            Some(rest) => (true, rest),
            None => (false, input_text),
        };
        let dims: Vec<usize> = dims_text.split(['x', 'X']).map(|d| d.trim().parse().ok()).collect::<Option<_>>().unwrap_or_default();
        let input = match dims[..] {
            [c, h, w] if c > 0 && h > 0 && w > 0 => [c, h, w],
            _ => return Err(bad("input", input_text, "CxHxW expected (events, e.g. 2x48x48) or 'static CxHxW' (an image, e.g. static 3x32x32)")),
        };
        crate::limits::tensor(|| "one input frame".into(), &input, 4).map_err(|e| bad("input", input_text, &e.to_string()))?;
        let input_kind = InputKind::resolve(is_static, input[0], raw.get("mean").map(String::as_str), raw.get("std").map(String::as_str), raw.get("framing").map(String::as_str)).map_err(|(key, value, why)| bad(key, &value, &why))?;
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
        Ok(Self { format: raw.get("format").cloned().unwrap_or_else(|| "1".into()), arch, timesteps, num_classes, classes, input, input_kind, framing, decode, neuron, raw })
    }
}

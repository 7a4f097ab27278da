//! Name-resolved, shape-checked access to the tensors of a safetensors file.
//!
//! Names are the reference PyTorch state-dict names; the mmengine prefixes `backbone.` and
//! `head.` (and DataParallel's `module.`) are stripped, and `num_batches_tracked` is ignored.
//! Every tensor handed out is converted to f32 and checked for NaN/inf; the store remembers
//! which names were used so a file with tensors an architecture ignores is reported.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use safetensors::{Dtype, SafeTensors};

use super::ModelError;

/// One expected dimension: a fixed size, or any size (inferred from the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    Is(usize),
    Any,
}

/// A dense f32 tensor (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct TensorStore<'a> {
    file: String,
    arch: RefCell<String>,
    tensors: BTreeMap<String, safetensors::tensor::TensorView<'a>>,
    metadata: HashMap<String, String>,
    used: RefCell<Vec<String>>,
}

/// The reference name without the mmengine / DataParallel prefixes.
pub fn canonical(name: &str) -> &str {
    let mut n = name;
    for prefix in ["module.", "backbone.", "head.", "model."] {
        n = n.strip_prefix(prefix).unwrap_or(n);
    }
    n
}

impl<'a> TensorStore<'a> {
    pub fn parse(bytes: &'a [u8], file: &str) -> Result<Self, ModelError> {
        let parse = |reason: String| ModelError::Parse { file: file.to_string(), reason };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| parse(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| parse(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let key = canonical(&name).to_string();
            if tensors.insert(key.clone(), view).is_some() {
                return Err(ModelError::Inconsistent { file: file.into(), reason: format!("two tensors map to '{key}' once prefixes are removed") });
            }
        }
        Ok(Self { file: file.into(), arch: RefCell::new(String::new()), tensors, metadata: meta.metadata().clone().unwrap_or_default(), used: RefCell::new(Vec::new()) })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// Names the architecture in messages about missing or unused tensors.
    pub fn set_arch(&self, arch: &str) {
        *self.arch.borrow_mut() = arch.to_string();
    }

    /// The shape of tensor `name` as stored, without marking it used.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|v| v.shape().to_vec())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, whose shape must match `expected` (after dropping leading 1s of
    /// either side, so `[1, C, H, W]` matches `[C, H, W]`).
    pub fn get(&self, name: &str, expected: &[Dim]) -> Result<Tensor, ModelError> {
        self.optional(name, expected)?.ok_or_else(|| {
            let near: Vec<&String> = self.tensors.keys().filter(|k| k.ends_with(name.rsplit('.').next().unwrap_or(""))).take(3).collect();
            let hint = if near.is_empty() { String::new() } else { format!("; similar names in the file: {near:?}") };
            ModelError::MissingTensor { file: self.file.clone(), arch: self.arch.borrow().clone(), tensor: name.into(), hint }
        })
    }

    /// The number of dimensions of tensor `name`, if the file has it.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.tensors.get(name).map(|view| view.shape().len())
    }

    /// Like [`TensorStore::get`], but `None` when the file has no such tensor.
    pub fn optional(&self, name: &str, expected: &[Dim]) -> Result<Option<Tensor>, ModelError> {
        let Some(view) = self.tensors.get(name) else { return Ok(None) };
        self.used.borrow_mut().push(name.to_string());
        let shape = view.shape().to_vec();
        let squeeze = |s: &[usize]| s.iter().position(|&d| d != 1).map_or(s.len().saturating_sub(1), |i| i);
        let got = &shape[squeeze(&shape)..];
        let want_start = expected.iter().position(|d| *d != Dim::Is(1)).unwrap_or(expected.len().saturating_sub(1));
        let want = &expected[want_start..];
        let same = |got: &[usize], want: &[Dim]| got.len() == want.len() && got.iter().zip(want).all(|(g, w)| matches!(w, Dim::Any) || *w == Dim::Is(*g));
        // Unsqueezed too: a [1, 1] linear weight squeezes to [1] but is the [*, 1] asked for.
        let fits = same(got, want) || same(&shape, expected);
        if !fits {
            let expected = format!("[{}]", expected.iter().map(|d| match d { Dim::Is(n) => n.to_string(), Dim::Any => "*".into() }).collect::<Vec<_>>().join(", "));
            return Err(ModelError::ShapeMismatch { file: self.file.clone(), tensor: name.into(), expected, got: shape });
        }
        let data = to_f32(view.dtype(), view.data()).ok_or_else(|| ModelError::Dtype { file: self.file.clone(), tensor: name.into(), dtype: format!("{:?}", view.dtype()) })?;
        if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ModelError::NonFinite { file: self.file.clone(), tensor: name.into(), index, value });
        }
        Ok(Some(Tensor { shape, data }))
    }

    /// Fails when the file has tensors that no lookup used.
    pub fn check_all_used(&self) -> Result<(), ModelError> {
        let used = self.used.borrow();
        let unused: Vec<&String> = self.tensors.keys().filter(|k| !used.contains(k)).collect();
        match unused.first() {
            None => Ok(()),
            Some(example) => Err(ModelError::Unused { file: self.file.clone(), arch: self.arch.borrow().clone(), count: unused.len(), example: (*example).clone() }),
        }
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => return None,
    })
}

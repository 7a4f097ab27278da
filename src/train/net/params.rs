//! The trainable tensors and the BatchNorm running statistics of a network, by their reference
//! state-dict names, read from and written to the engine's model file (safetensors + metadata).
//! Every parameter is held flat (`Tensor<1>`) and reshaped where used, so the optimiser treats
//! them alike.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, TensorView};

use crate::model::store::canonical;

/// One learnable tensor.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    /// The shape in the file (PyTorch's).
    pub shape: Vec<usize>,
    pub value: Tensor<1>,
    /// Weight decay applies (not to IMP, TEBN scales, biases or BatchNorm affine parameters).
    pub decay: bool,
    /// A learned initial membrane potential (its learning rate is scaled by `--imp-lr-mult`, its
    /// drift reported).
    pub imp: bool,
}

/// Parameters and buffers of a network.
#[derive(Clone, Debug, Default)]
pub struct ParamSet {
    pub params: Vec<Param>,
    index: HashMap<String, usize>,
    /// BatchNorm running statistics (`…running_mean`, `…running_var`): file shape and value, on
    /// the device (updated there every training step; read back only when a file is written).
    pub buffers: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
    /// The file's `__metadata__`.
    pub metadata: HashMap<String, String>,
}

/// Whether weight decay applies to the tensor `name`: the reference configs exclude the IMP
/// `.mem` / `.init_state` and TEBN `.te`, and their common `paramwise_cfg` (`norm_decay_mult=0`,
/// `bias_decay_mult=0`, `reference/imp-snn.md` §7) BatchNorm γ/β and every bias.
pub fn decays(name: &str, is_bn_affine: bool) -> bool {
    !(name.ends_with(".mem") || name.ends_with(".init_state") || name.ends_with(".te") || name.ends_with(".bias") || is_bn_affine)
}

impl ParamSet {
    /// Reads every tensor of a safetensors model; `trainable(name)` says which are parameters (the
    /// rest are buffers), `bn_affine(name)` which are BatchNorm γ/β.
    pub fn from_bytes(bytes: &[u8], file: &str, device: &Device, bn_affine: &dyn Fn(&str) -> bool) -> Result<Self> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).with_context(|| format!("{file}: not a safetensors file"))?;
        let st = safetensors::SafeTensors::deserialize(bytes).with_context(|| format!("{file}: not a safetensors file"))?;
        let mut set = ParamSet { params: Vec::new(), index: HashMap::new(), buffers: BTreeMap::new(), metadata: meta.metadata().clone().unwrap_or_default() };
        let mut names: Vec<(String, TensorView)> = st.tensors();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (raw, view) in names {
            if raw.ends_with("num_batches_tracked") {
                continue;
            }
            let name = canonical(&raw).to_string();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                other => bail!("{file}: tensor '{name}' is {other:?}; training reads f32 models"),
            };
            let shape = view.shape().to_vec();
            if name.ends_with("running_mean") || name.ends_with("running_var") {
                let n = data.len();
                set.buffers.insert(name, (shape, Tensor::<1>::from_data(TensorData::new(data, [n]), device)));
            } else {
                set.push(name.clone(), shape, data, decays(&name, bn_affine(&name)), device);
            }
        }
        Ok(set)
    }

    pub fn push(&mut self, name: String, shape: Vec<usize>, data: Vec<f32>, decay: bool, device: &Device) {
        let n = data.len();
        let value = Tensor::<1>::from_data(TensorData::new(data, [n]), device).require_grad();
        self.index.insert(name.clone(), self.params.len());
        self.params.push(Param { name, shape, value, decay, imp: false });
    }

    /// Marks the parameter `name` as an IMP (no-op when absent).
    pub fn mark_imp(&mut self, name: &str) {
        if let Some(&i) = self.index.get(name) {
            self.params[i].imp = true;
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The parameter `name` (flat).
    pub fn get(&self, name: &str) -> Tensor<1> {
        self.params[self.index[name]].value.clone()
    }

    pub fn numel(&self) -> usize {
        self.params.iter().map(|p| p.shape.iter().product::<usize>()).sum()
    }

    /// The safetensors bytes of every parameter and buffer under its name, with `metadata`.
    pub fn to_safetensors(&self, metadata: &HashMap<String, String>) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for p in &self.params {
            let data = p.value.clone().inner().into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading {}: {e:?}", p.name))?;
            tensors.push((p.name.clone(), p.shape.clone(), data.iter().flat_map(|v| v.to_le_bytes()).collect()));
        }
        for (name, (shape, value)) in &self.buffers {
            let data = value.clone().into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading {name}: {e:?}"))?;
            tensors.push((name.clone(), shape.clone(), data.iter().flat_map(|v| v.to_le_bytes()).collect()));
        }
        let views: Vec<(String, TensorView)> =
            tensors.iter().map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?))).collect::<Result<_, safetensors::SafeTensorError>>()?;
        Ok(safetensors::serialize(views, Some(metadata.clone()))?)
    }
}

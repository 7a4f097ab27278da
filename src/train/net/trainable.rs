//! Train mode: the network's learnable tensors ([`ParamSet`]) under the reference layer rules —
//! convolution with bias, BatchNorm on batch statistics over `T·B` (running statistics updated
//! with momentum 0.1 and the unbiased variance, as PyTorch does), TEBN's per-timestep scale, the
//! IMP as the first membrane, dropout before the classifier.

use anyhow::{Context, Result};
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::params::ParamSet;
use super::{Forward, Layers, scale_per_timestep, walk};
use crate::model::graph::{Conv, Graph, Node, Op};
use crate::model::{MetaOverrides, Model, ModelMeta};
use crate::train::conv::{spike_conv2d, spike_conv2d_hwc};
use crate::train::neuron::{NeuronSpec, Surrogate};

const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f32 = 0.1;

/// Choices that are not in the model file.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Surrogate for every neuron layer (default: the reference's for the rule).
    pub surrogate: Option<Surrogate>,
    /// Detach the reset (default: the reference's for the rule).
    pub detach_reset: Option<bool>,
    /// Dropout before the classifier (the legacy VGG uses 0.25).
    pub dropout: f64,
    /// Convolutions, BatchNorm (+ TEBN scale) and average pools through burn's own `conv2d`,
    /// `batch_norm_train` (then a broadcast multiply) and `avg_pool2d` instead of the trainer's
    /// ops ([`crate::train::conv`], [`super::bn`], [`super::pool`]: fused kernels on Flex): the
    /// old path, for comparisons.
    pub burn_ops: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { surrogate: None, detach_reset: None, dropout: 0.0, burn_ops: false }
    }
}

/// The network in training form.
pub struct TrainNet {
    pub meta: ModelMeta,
    pub graph: std::sync::Arc<Graph>,
    pub params: ParamSet,
    pub specs: Vec<Option<NeuronSpec>>,
    pub options: TrainOptions,
    pub training: bool,
    device: Device,
}

/// The neuron rule of every neuron node, with the options' overrides.
pub fn neuron_specs(graph: &Graph, options: &TrainOptions) -> Vec<Option<NeuronSpec>> {
    graph
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Neuron(neuron) => {
                let mut spec = NeuronSpec::reference_default(neuron.kind);
                if let Some(s) = options.surrogate {
                    spec.surrogate = s;
                }
                if let Some(d) = options.detach_reset {
                    spec.detach_reset = d;
                }
                Some(spec)
            }
            _ => None,
        })
        .collect()
}

impl TrainNet {
    /// The network of a model file (`bytes`), its tensors on `device` (an autodiff device).
    pub fn from_bytes(bytes: &[u8], file: &str, device: &Device, options: TrainOptions) -> Result<Self> {
        let model = Model::from_bytes(bytes, file, &MetaOverrides::default()).with_context(|| format!("loading {file} for training"))?;
        for node in &model.graph.nodes {
            if let Op::Neuron(n) = &node.op
                && let Some((key, _)) = n.arrays.params.first()
            {
                anyhow::bail!("{file}: layer '{}' has per-neuron parameters (tensor '{}.neuron.{key}'); train runs neuron layers with one value per parameter, so train the network in its framework (or make the values uniform) and import it again", node.name, node.name);
            }
        }
        let bn_prefixes: Vec<String> = model.graph.nodes.iter().filter_map(|n| n.sources.bn.clone()).collect();
        let is_bn_affine = |name: &str| bn_prefixes.iter().any(|p| name == format!("{p}.weight") || name == format!("{p}.bias"));
        let mut params = ParamSet::from_bytes(bytes, file, device, &is_bn_affine)?;
        for imp in model.graph.nodes.iter().filter_map(|n| n.sources.imp.as_deref()) {
            params.mark_imp(imp);
        }
        let specs = neuron_specs(&model.graph, &options);
        for (node, spec) in model.graph.nodes.iter().zip(&specs) {
            if let Some(spec) = spec {
                spec.trainable().map_err(|e| anyhow::anyhow!("{file}: layer '{}': {e}", node.name))?;
            }
        }
        Ok(Self { meta: model.meta, graph: std::sync::Arc::new(model.graph), params, specs, options, training: true, device: device.clone() })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Per-timestep logits `[T, B, K]` of `x` `[T, B, C, H, W]` and the spike counts per layer.
    pub fn forward(&mut self, x: Tensor<5>) -> Forward {
        let graph = std::sync::Arc::clone(&self.graph);
        let specs = self.specs.clone();
        walk(&graph, &specs, x, self)
    }

    /// The model file of the current parameters (same names as the file it came from).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        self.params.to_safetensors(&self.params.metadata)
    }
}

impl Layers for TrainNet {
    fn conv(&mut self, _index: usize, node: &Node, conv: &Conv, x: Tensor<4>, timesteps: usize) -> Tensor<4> {
        let src = &node.sources;
        let weight_name = src.weight.as_deref().expect("conv nodes built from a file name their weight");
        let w = self.params.get(weight_name).reshape([conv.out_ch, conv.in_ch, conv.kernel, conv.kernel]);
        let bias = src.bias.as_ref().map(|b| self.params.get(b));
        let options = ConvOptions::new([conv.stride; 2], [conv.padding; 2], [1, 1], 1);
        let last = self.channels_last();
        let mut y = if self.options.burn_ops {
            conv2d(x, w, bias, options)
        } else if last {
            spike_conv2d_hwc(x, w, bias, options)
        } else {
            spike_conv2d(x, w, bias, options)
        };
        let mut scale = src.time_scale.as_ref().map(|te| self.params.get(te));
        if let Some(bn) = &src.bn {
            let gamma = self.params.get(&format!("{bn}.weight"));
            let beta = self.params.get(&format!("{bn}.bias"));
            let (mean_name, var_name) = (format!("{bn}.running_mean"), format!("{bn}.running_var"));
            if self.training {
                let [n, h, w] = if last { let [n, h, w, _] = y.dims(); [n, h, w] } else { let [n, _, h, w] = y.dims(); [n, h, w] };
                // TEBN's scale goes into the BN op (one op on Flex) unless burn's ops are asked for.
                let out = if self.options.burn_ops {
                    let o = batch_norm_train(y, gamma, beta, BN_EPS);
                    super::bn::BatchNormOut { output: o.output, mean: o.mean, variance: o.variance }
                } else if let Some(s) = scale.take() {
                    super::bn::batch_norm_tebn_train(y, gamma, beta, s, BN_EPS, last)
                } else {
                    super::bn::batch_norm_train(y, gamma, beta, BN_EPS, last)
                };
                let count = (n * h * w) as f32;
                // On the device, outside the autodiff graph: no read-back (and no sync) per step.
                let unbiased = count / (count - 1.0).max(1.0);
                for (name, batch, factor) in [(&mean_name, out.mean, 1.0), (&var_name, out.variance, unbiased)] {
                    if let Some((_, running)) = self.params.buffers.get_mut(name) {
                        *running = running.clone().mul_scalar(1.0 - BN_MOMENTUM) + batch.detach().mul_scalar(factor).mul_scalar(BN_MOMENTUM);
                    }
                }
                y = out.output;
            } else {
                let mean = self.params.buffers[&mean_name].1.clone();
                let var = self.params.buffers[&var_name].1.clone();
                y = batch_norm(y, gamma, beta, mean, var, BN_EPS);
            }
        }
        match scale {
            Some(s) => scale_per_timestep(y, s, timesteps),
            None => y,
        }
    }

    fn initial_membrane(&self, _index: usize, node: &Node, spec: &NeuronSpec, batch: usize) -> Tensor<2> {
        let (n, s) = (node.shape.len(), node.shape);
        match node.sources.imp.as_deref().filter(|name| self.params.contains(name)) {
            Some(name) if self.channels_last() => self.params.get(name).reshape([s.c, s.h, s.w]).permute([1, 2, 0]).reshape([1, n]).expand([batch, n]),
            Some(name) => self.params.get(name).reshape([1, n]).expand([batch, n]),
            None => Tensor::<2>::full([batch, n], spec.kind.rest(), &self.device),
        }
    }

    fn linear(&self, _index: usize, node: &Node, x: Tensor<2>) -> Tensor<2> {
        let Op::Linear(l) = &node.op else { unreachable!("linear() is called for linear nodes") };
        let w = self.params.get(node.sources.weight.as_deref().expect("linear weight name")).reshape([l.outputs, l.inputs]);
        let y = x.matmul(w.transpose());
        match &node.sources.bias {
            Some(b) => y + self.params.get(b).reshape([1, l.outputs]),
            None => y,
        }
    }

    fn dropout(&self) -> f64 {
        if self.training { self.options.dropout } else { 0.0 }
    }

    fn burn_ops(&self) -> bool {
        self.options.burn_ops
    }

    /// In training on Flex with the trainer's ops (its CPU kernels are channel-last).
    fn channels_last(&self) -> bool {
        self.training && !self.options.burn_ops && (self.device == Device::flex() || self.device == Device::flex().autodiff())
    }
}

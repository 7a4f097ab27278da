//! Eval mode with the engine's own weights: the [`Graph`] a model file loads into (BatchNorm
//! folded into the convolutions exactly as the engine folds it, TEBN scale applied to the folded
//! output), uploaded once. With exact (dyadic) arithmetic this gives the engine's spikes and
//! logits bit for bit; it is also what validation during training measures.

use std::collections::HashMap;

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use super::trainable::{TrainOptions, neuron_specs};
use super::{Forward, Layers, scale_per_timestep, walk};
use crate::model::graph::{Conv, Graph, Node, Op};
use crate::train::conv::spike_conv2d;
use crate::model::Model;
use crate::train::neuron::NeuronSpec;

pub struct FoldedNet {
    pub meta: crate::model::ModelMeta,
    graph: std::sync::Arc<Graph>,
    specs: Vec<Option<NeuronSpec>>,
    convs: HashMap<usize, (Tensor<4>, Tensor<1>, Option<Tensor<1>>)>,
    imps: HashMap<usize, Tensor<1>>,
    linears: HashMap<usize, (Tensor<2>, Tensor<1>)>,
    device: Device,
}

fn upload(data: &[f32], device: &Device) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(data.to_vec(), [data.len()]), device)
}

impl FoldedNet {
    pub fn new(model: Model, options: &TrainOptions, device: &Device) -> Self {
        let specs = neuron_specs(&model.graph, options);
        let (mut convs, mut imps, mut linears) = (HashMap::new(), HashMap::new(), HashMap::new());
        for (i, node) in model.graph.nodes.iter().enumerate() {
            match &node.op {
                Op::Conv(c) => {
                    let w = upload(&c.weight, device).reshape([c.out_ch, c.in_ch, c.kernel, c.kernel]);
                    convs.insert(i, (w, upload(&c.bias, device), c.time_scale.as_deref().map(|s| upload(s, device))));
                }
                Op::Neuron(n) => {
                    if let Some(imp) = &n.imp {
                        imps.insert(i, upload(imp, device));
                    }
                }
                Op::Linear(l) => {
                    linears.insert(i, (upload(&l.weight, device).reshape([l.outputs, l.inputs]), upload(&l.bias, device)));
                }
                _ => {}
            }
        }
        Self { meta: model.meta, graph: std::sync::Arc::new(model.graph), specs, convs, imps, linears, device: device.clone() }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Per-timestep logits `[T, B, K]` of `x` `[T, B, C, H, W]`.
    pub fn forward(&mut self, x: Tensor<5>) -> Forward {
        let graph = std::sync::Arc::clone(&self.graph);
        let specs = self.specs.clone();
        walk(&graph, &specs, x, self)
    }
}

impl Layers for FoldedNet {
    fn conv(&mut self, index: usize, _node: &Node, conv: &Conv, x: Tensor<4>, timesteps: usize) -> Tensor<4> {
        let (w, b, scale) = self.convs[&index].clone();
        let options = ConvOptions::new([conv.stride; 2], [conv.padding; 2], [1, 1], 1);
        // The engine's own kernels on Flex (`train::conv`), so evaluation runs what inference runs.
        let y = spike_conv2d(x, w, Some(b), options);
        match scale {
            Some(scale) => scale_per_timestep(y, scale, timesteps),
            None => y,
        }
    }

    fn initial_membrane(&self, index: usize, node: &Node, spec: &NeuronSpec, batch: usize) -> Tensor<2> {
        let n = node.shape.len();
        match self.imps.get(&index) {
            Some(imp) => imp.clone().reshape([1, n]).expand([batch, n]),
            None => Tensor::<2>::full([batch, n], spec.kind.rest(), &self.device),
        }
    }

    fn linear(&self, index: usize, _node: &Node, x: Tensor<2>) -> Tensor<2> {
        let (w, b) = self.linears[&index].clone();
        let outputs = w.dims()[0];
        x.matmul(w.transpose()) + b.reshape([1, outputs])
    }
}

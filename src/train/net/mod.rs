//! The engine's layer graph as a differentiable burn network.
//!
//! One walk over [`Graph`] nodes ([`walk`]) serves two weight sources ([`Layers`]): the trainable
//! parameters with batch-statistics BatchNorm and TEBN (one fused op on Flex,
//! [`batch_norm_tebn_train`]; [`TrainNet`], train mode), and the
//! engine's own folded weights ([`FoldedNet`], eval mode: BN folded exactly as the engine folds
//! it, so an exported model gives the engine's spikes). Activations are `[T·B, C, H, W]`,
//! time-major as in the reference (stateless layers run on the merged `T·B` batch); neuron
//! layers see `[T, B, C·H·W]`. Average pools run the trainer's op ([`avg_pool`]: one pass each
//! way on Flex) unless [`Layers::burn_ops`] asks for burn's.
//!
//! Where [`Layers::channels_last`] (training on Flex with the trainer's ops), activations are
//! `[T·B, H, W, C]` instead, the layout of the engine's CPU kernels: the convolution, BN and pool
//! ops take that layout, the IMP is permuted to `[H, W, C]` order, and the flatten before a
//! classifier permutes back to `[C, H, W]` order (which its weights read), so no convolution
//! transposes its input, output or gradients (width/4 training +7 % on 1 and 2 threads, width/8
//! +2–4 %, 2026-12-07).

mod bn;
mod bn_flex;
mod cpu;
mod folded;
mod params;
mod pool;
mod trainable;

pub use bn::{BatchNormOut, batch_norm_tebn_train, batch_norm_train};
pub(crate) use cpu::par_collect;
pub use folded::FoldedNet;
pub use params::{Param, ParamSet};
pub use pool::avg_pool;
pub use trainable::{TrainNet, TrainOptions};

use burn::tensor::Tensor;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;

use super::neuron::{NeuronSpec, spike_layer};
use crate::model::graph::{Conv, Graph, Node, Op};

/// Where the weights of the parameterised layers come from.
pub(crate) trait Layers {
    /// Convolution (+ BN + TEBN) of node `index` on `x` `[T·B, C, H, W]` (`[T·B, H, W, C]`
    /// where [`Layers::channels_last`]).
    fn conv(&mut self, index: usize, node: &Node, conv: &Conv, x: Tensor<4>, timesteps: usize) -> Tensor<4>;
    /// The membrane before the first step, `[B, N]`: the IMP broadcast over the batch, or rest
    /// (its `N` values in `[H, W, C]` order where [`Layers::channels_last`]).
    fn initial_membrane(&self, index: usize, node: &Node, spec: &NeuronSpec, batch: usize) -> Tensor<2>;
    /// Fully connected layer on `x` `[T·B, N]`.
    fn linear(&self, index: usize, node: &Node, x: Tensor<2>) -> Tensor<2>;
    /// Dropout probability before the classifier (train mode only).
    fn dropout(&self) -> f64 {
        0.0
    }
    /// burn's own ops instead of the trainer's (for comparisons; [`TrainOptions::burn_ops`]).
    fn burn_ops(&self) -> bool {
        false
    }
    /// Activations channel-last, `[T·B, H, W, C]`: the layout of the engine's CPU kernels, so
    /// the trainer's ops on Flex need no transposes.
    fn channels_last(&self) -> bool {
        false
    }
}

/// What one forward pass returns.
pub struct Forward {
    /// `[T, B, K]` per-timestep logits.
    pub logits: Tensor<3>,
    /// Per spiking neuron layer (readouts left out): graph node index, spikes at each timestep
    /// `[T]` (summed over the batch and the layer), and neurons per timestep (`B·N`).
    pub spikes: Vec<(usize, Tensor<1>, usize)>,
}

/// Runs `graph` on `x` `[T, B, C, H, W]`. `specs[i]` is the neuron rule of node `i`.
pub(crate) fn walk(graph: &Graph, specs: &[Option<NeuronSpec>], x: Tensor<5>, layers: &mut dyn Layers) -> Forward {
    let [t_len, b, c, h, w] = x.dims();
    let last = layers.channels_last();
    let x = x.reshape([t_len * b, c, h, w]);
    let mut values: Vec<Option<Tensor<4>>> = vec![Some(if last { x.permute([0, 2, 3, 1]) } else { x })];
    // A node's `[T·B, …]` shape in the walk's layout, and that of a vector of `n` values.
    let dims = |s: crate::model::graph::Shape| if last { [t_len * b, s.h, s.w, s.c] } else { [t_len * b, s.c, s.h, s.w] };
    let vector = |n: usize| if last { [t_len * b, 1, 1, n] } else { [t_len * b, n, 1, 1] };
    let mut spikes = Vec::new();
    let last_use = last_uses(graph);
    for (i, node) in graph.nodes.iter().enumerate() {
        let input = |k: usize, values: &mut Vec<Option<Tensor<4>>>| {
            let id = node.inputs[k];
            if last_use[id] == i { values[id].take() } else { values[id].clone() }.expect("value computed before use")
        };
        let s = node.shape;
        let out = match &node.op {
            Op::Conv(conv) => layers.conv(i, node, conv, input(0, &mut values), t_len),
            Op::Neuron(_) => {
                let spec = specs[i].as_ref().expect("a spec for every neuron node");
                let x = input(0, &mut values).reshape([t_len, b, s.len()]);
                let v0 = layers.initial_membrane(i, node, spec, b);
                let out = spike_layer(x, v0, *spec);
                // A readout's output is its membrane, not spikes: it has no rate to report.
                if spec.kind.spikes() {
                    spikes.push((i, out.clone().sum_dim(2).sum_dim(1).reshape([t_len]), b * s.len()));
                }
                out.reshape(dims(s))
            }
            Op::AvgPool(p) if layers.burn_ops() && !last => {
                let options = AvgPoolOptions::new([p.kernel, p.kernel])
                    .with_stride([p.stride, p.stride])
                    .with_padding([p.padding, p.padding])
                    .with_count_include_pad(p.count_include_pad);
                avg_pool2d(input(0, &mut values), options)
            }
            Op::AvgPool(p) => avg_pool(input(0, &mut values), *p, last),
            Op::GlobalAvgPool if last => {
                let x = input(0, &mut values);
                let [n, hh, ww, ch] = x.dims();
                x.reshape([n, hh * ww, ch]).mean_dim(1).reshape([n, 1, 1, ch])
            }
            Op::GlobalAvgPool => {
                let x = input(0, &mut values);
                let [n, ch, hh, ww] = x.dims();
                x.reshape([n, ch, hh * ww]).mean_dim(2).reshape([n, ch, 1, 1])
            }
            // The classifier's weights read `[C, H, W]` order.
            Op::Flatten if last => input(0, &mut values).permute([0, 3, 1, 2]).reshape(vector(s.len())),
            Op::Flatten => input(0, &mut values).reshape(vector(s.len())),
            Op::Linear(l) => {
                let mut x: Tensor<2> = input(0, &mut values).reshape([t_len * b, l.inputs]);
                let p = layers.dropout();
                if p > 0.0 {
                    x = dropout(x, p);
                }
                layers.linear(i, node, x).reshape(vector(l.outputs))
            }
            Op::Add => input(0, &mut values) + input(1, &mut values),
        };
        values.push(Some(out));
    }
    let k = graph.num_classes();
    let logits = values.pop().flatten().expect("the last node's output").reshape([t_len, b, k]);
    Forward { logits, spikes }
}

/// For each value, the index of the last node that reads it (so it can be moved, not cloned).
fn last_uses(graph: &Graph) -> Vec<usize> {
    let mut last = vec![usize::MAX; graph.nodes.len() + 1];
    for (i, node) in graph.nodes.iter().enumerate() {
        for &v in &node.inputs {
            last[v] = i;
        }
    }
    last
}

/// TEBN: multiplies the `[T·B, C, H, W]` activations of timestep `t` by `scale[t]`.
pub(crate) fn scale_per_timestep(y: Tensor<4>, scale: Tensor<1>, timesteps: usize) -> Tensor<4> {
    let [n, c, h, w] = y.dims();
    (y.reshape([timesteps, n / timesteps * c * h * w]) * scale.reshape([timesteps, 1])).reshape([n, c, h, w])
}

/// Inverted dropout: zero each value with probability `p`, scale the rest by `1/(1 − p)`.
fn dropout(x: Tensor<2>, p: f64) -> Tensor<2> {
    let keep = Tensor::<2>::random(x.shape(), burn::tensor::Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep / (1.0 - p)
}

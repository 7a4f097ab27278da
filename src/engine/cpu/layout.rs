//! Re-laying PyTorch-ordered weights and tensors out for the channel-last CPU kernels.

use super::conv::PackedConv;
use crate::model::graph::{Graph, Node, Op, Shape};

/// Per-node data in the CPU kernels' layout.
pub enum Prepared {
    /// Weights packed in output-channel blocks for [`super::conv`].
    Conv(PackedConv),
    /// IMP `[H, W, C]`, if any.
    Neuron { imp: Option<Vec<f32>> },
    /// Weights `[in, out]` with the input index in this backend's storage order.
    Linear { weight_t: Vec<f32> },
    None,
}

pub fn prepare(graph: &Graph, node: &Node) -> Prepared {
    match &node.op {
        Op::Conv(c) => Prepared::Conv(PackedConv::new(c)),
        Op::Neuron(n) => Prepared::Neuron {
            imp: n.imp.as_ref().map(|imp| {
                let s = node.shape;
                let mut out = vec![0.0; imp.len()];
                chw_to_hwc(imp, &mut out, s);
                out
            }),
        },
        Op::Linear(l) => {
            // Where does PyTorch index j of the flattened input live in our storage?
            let src = flatten_source(graph, node.inputs[0]);
            let mut w = vec![0.0; l.weight.len()];
            for o in 0..l.outputs {
                for j in 0..l.inputs {
                    let (c, rest) = (j / (src.h * src.w), j % (src.h * src.w));
                    let ours = rest * src.c + c;
                    w[ours * l.outputs + o] = l.weight[o * l.inputs + j];
                }
            }
            Prepared::Linear { weight_t: w }
        }
        _ => Prepared::None,
    }
}

/// Conv weights `[in, k, k, out]` (one contiguous output-channel row per input tap), the layout
/// of the specification [`super::kernels::conv_scatter`].
#[cfg(test)]
pub fn conv_weight_spec(c: &crate::model::graph::Conv) -> Vec<f32> {
    let (o, i, k) = (c.out_ch, c.in_ch, c.kernel);
    let mut w = vec![0.0; c.weight.len()];
    for co in 0..o {
        for ci in 0..i {
            for t in 0..k * k {
                w[(ci * k * k + t) * o + co] = c.weight[(co * i + ci) * k * k + t];
            }
        }
    }
    w
}

/// The spatial shape a flattened value came from (a vector for anything else).
fn flatten_source(graph: &Graph, value: usize) -> Shape {
    if value > 0 {
        let node = &graph.nodes[value - 1];
        if matches!(node.op, Op::Flatten) {
            return graph.value_shape(node.inputs[0]);
        }
    }
    Shape::new(graph.value_shape(value).len(), 1, 1)
}

fn chw_to_hwc(src: &[f32], dst: &mut [f32], s: Shape) {
    for c in 0..s.c {
        for p in 0..s.h * s.w {
            dst[p * s.c + c] = src[c * s.h * s.w + p];
        }
    }
}

pub fn nchw_to_nhwc(src: &[f32], dst: &mut [f32], b: usize, c: usize, h: usize, w: usize) {
    let n = c * h * w;
    for i in 0..b {
        chw_to_hwc(&src[i * n..(i + 1) * n], &mut dst[i * n..(i + 1) * n], Shape::new(c, h, w));
    }
}

pub fn nhwc_to_nchw(src: &[f32], dst: &mut [f32], b: usize, c: usize, h: usize, w: usize) {
    let n = c * h * w;
    for i in 0..b {
        for ch in 0..c {
            for p in 0..h * w {
                dst[i * n + ch * h * w + p] = src[i * n + p * c + ch];
            }
        }
    }
}

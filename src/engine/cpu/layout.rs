//! The CPU kernels' per-node data, prepared once from the PyTorch-ordered graph; the index
//! arithmetic it shares with the GPU backend is in [`crate::model::layout`].

use super::conv::PackedConv;
use crate::model::graph::{Graph, Node, Op};
use crate::model::layout;

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
        Op::Neuron(n) => Prepared::Neuron { imp: n.imp.as_ref().map(|imp| layout::chw_to_hwc(imp, node.shape)) },
        Op::Linear(l) => Prepared::Linear { weight_t: layout::linear_by_input(graph, node, l) },
        _ => Prepared::None,
    }
}

/// Conv weights `[in, k, k, out]` (one contiguous output-channel row per input tap), the layout
/// of the specification [`super::kernels::conv_scatter`].
#[cfg(test)]
pub fn conv_weight_spec(c: &crate::model::graph::Conv) -> Vec<f32> {
    layout::conv_taps_by_output(c, c.out_ch)
}

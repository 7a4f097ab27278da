//! The CPU kernels' per-node data, prepared once from the PyTorch-ordered graph; the index
//! arithmetic it shares with the GPU backend is in [`crate::model::layout`].

use super::conv::PackedConv;
use super::precision::{self, Precision, PrecisionError, Stored};
use crate::model::graph::{Graph, Node, Op};
use crate::model::layout;
use crate::model::neuron::{NeuronKind, Rule};

/// Per-node data in the CPU kernels' layout.
pub enum Prepared {
    /// Weights packed in output-channel blocks for [`super::conv`].
    Conv(PackedConv),
    /// The initial membrane `[H, W, C]` (IMP, or each neuron's rest with per-neuron arrays),
    /// if not the kind's rest; each neuron's rule `[H, W, C]` for a layer with per-neuron arrays.
    Neuron { imp: Option<Vec<f32>>, rules: Option<Vec<Rule>> },
    /// Weights `[in, out]` with the input index in this backend's storage order.
    Linear { weight_t: Stored },
    None,
}

/// The node's data with its conv and linear weights rounded to `p` (an error names the first
/// weight that format cannot hold, as `NODE.weight`), for steps of `batch` samples.
pub fn prepare(graph: &Graph, node: &Node, p: Precision, batch: usize) -> Result<Prepared, PrecisionError> {
    let tensor = format!("{}.weight", node.name);
    Ok(match &node.op {
        Op::Conv(c) => Prepared::Conv(PackedConv::with_precision(c, p, &tensor, (batch, node.shape.h, node.shape.w))?),
        Op::Neuron(n) => {
            let s = node.shape;
            let rules: Option<Vec<Rule>> = layout::neuron_kinds_hwc(n, s).map(|kinds| kinds.iter().map(NeuronKind::rule).collect());
            let imp = (n.imp.is_some() || rules.is_some()).then(|| layout::chw_to_hwc(&n.initial(s.len()), s));
            Prepared::Neuron { imp, rules }
        }
        Op::Linear(l) => Prepared::Linear { weight_t: Stored::new(&precision::round(&tensor, &layout::linear_by_input(graph, node, l), p)?, p) },
        _ => Prepared::None,
    })
}

/// Conv weights `[in, k, k, out]` (one contiguous output-channel row per input tap), the layout
/// of the specification [`super::kernels::conv_scatter`].
#[cfg(test)]
pub fn conv_weight_spec(c: &crate::model::graph::Conv) -> Vec<f32> {
    layout::conv_taps_by_output(c, c.out_ch)
}

//! PyTorch's channel-first order against the engines' channel-last storage: the weight
//! re-layouts and the activation transposes both backends share, so the CPU and GPU engines
//! read every weight at the same place.
//!
//! Owns index arithmetic only; packing for a particular kernel (the CPU's output-channel blocks,
//! the GPU's buffers) stays with its backend.

use super::graph::{Conv, Graph, Linear, Neuron, Node, Op, Shape};
use super::neuron::NeuronKind;

/// `[B, C, P]` → `[B, P, C]` (P = H·W): PyTorch's activations into channel-last storage.
pub fn nchw_to_nhwc(src: &[f32], dst: &mut [f32], b: usize, c: usize, p: usize) {
    for i in 0..b {
        let (s, d) = (&src[i * c * p..(i + 1) * c * p], &mut dst[i * c * p..(i + 1) * c * p]);
        for ch in 0..c {
            for q in 0..p {
                d[q * c + ch] = s[ch * p + q];
            }
        }
    }
}

/// `[B, P, C]` → `[B, C, P]`: channel-last storage back into PyTorch's order.
pub fn nhwc_to_nchw(src: &[f32], dst: &mut [f32], b: usize, c: usize, p: usize) {
    for i in 0..b {
        let (s, d) = (&src[i * c * p..(i + 1) * c * p], &mut dst[i * c * p..(i + 1) * c * p]);
        for ch in 0..c {
            for q in 0..p {
                d[ch * p + q] = s[q * c + ch];
            }
        }
    }
}

/// Network outputs as callers read them, `[C, H, W]` per sample, from the engines' `[H, W, C]`:
/// every `shape.len()` values of `v` are one sample's output (a vector output is unchanged).
pub fn output_to_chw(v: &mut Vec<f32>, shape: Shape) {
    if shape.h * shape.w == 1 || shape.c == 1 {
        return;
    }
    let mut out = vec![0.0; v.len()];
    nhwc_to_nchw(v, &mut out, v.len() / shape.len(), shape.c, shape.h * shape.w);
    *v = out;
}

/// A `[C, H, W]` tensor of `shape` (an IMP) as `[H, W, C]`.
pub fn chw_to_hwc(src: &[f32], shape: Shape) -> Vec<f32> {
    let mut dst = vec![0.0; src.len()];
    nchw_to_nhwc(src, &mut dst, 1, shape.c, shape.h * shape.w);
    dst
}

/// Each neuron's kind in channel-last order (`[H, W, C]`) for a layer with per-neuron
/// parameters, else `None`; the arrays were checked when the model was built.
pub fn neuron_kinds_hwc(n: &Neuron, shape: Shape) -> Option<Vec<NeuronKind>> {
    (!n.arrays.is_empty()).then(|| n.arrays.reordered(|v| chw_to_hwc(v, shape)).kinds(n.kind, shape.len()).expect("per-neuron arrays are checked when the model is built"))
}

/// Conv weights `[Co, Ci, K, K]` as `[Ci, K, K, out_stride]`: one contiguous output-channel row
/// per input tap, zero-padded from `Co` to `out_stride` channels (`out_stride >= Co`).
pub fn conv_taps_by_output(c: &Conv, out_stride: usize) -> Vec<f32> {
    let (o, i, k) = (c.out_ch, c.in_ch, c.kernel);
    let mut w = vec![0.0f32; i * k * k * out_stride];
    for co in 0..o {
        for ci in 0..i {
            for t in 0..k * k {
                w[(ci * k * k + t) * out_stride + co] = c.weight[(co * i + ci) * k * k + t];
            }
        }
    }
    w
}

/// Linear weights `[out, in]` as `[in, out]`, with the input index in channel-last storage
/// order: where a linear layer follows a flatten, PyTorch's input index `j` (over `[C, H, W]`)
/// lives at `(h·W + w)·C + c` in our storage.
pub fn linear_by_input(graph: &Graph, node: &Node, l: &Linear) -> Vec<f32> {
    let src = flatten_source(graph, node.inputs[0]);
    let mut w = vec![0.0f32; l.weight.len()];
    for o in 0..l.outputs {
        for j in 0..l.inputs {
            let (c, rest) = (j / (src.h * src.w), j % (src.h * src.w));
            w[(rest * src.c + c) * l.outputs + o] = l.weight[o * l.inputs + j];
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

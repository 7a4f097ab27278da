//! The network's weights on the GPU, uploaded once and read-only afterwards: convolution and
//! linear weights re-laid out for the kernels, TEBN scales, and each neuron layer's initial
//! membrane (the IMP, or the rest potential) that a lane reset copies into its state, and the
//! parameters of layers whose neurons have their own.

use crate::engine::EngineError;
use crate::gpu::GpuError;
use crate::model::graph::{Graph, Node, Op};
use crate::model::layout;
use crate::gpu::kernel::NeuronWords;
use crate::model::neuron::NeuronKind;

use crate::gpu::GpuContext;

/// Per-node weights in the kernels' layout (channel-last activations).
pub enum NodeWeights {
    /// `weight`: `[Ci, K, K, Co4·4]`; `bias`: `[Co4·4]` (Co4 = ⌈Co/4⌉, zero-padded so the
    /// kernels load 4 output channels as one vec4); `scale`: `[T]` TEBN scale, or `[1.0]` unread.
    /// `consts`: the bias `[Co4·4]` then the TEBN scale `[T]`, zero-padded to whole vec4s (the
    /// fused kernel's single constants binding).
    Conv { weight: wgpu::Buffer, bias: wgpu::Buffer, scale: wgpu::Buffer, consts: wgpu::Buffer, has_scale: bool },
    /// `weight`: `[in, out]`, rows in this backend's storage order of the input; `rows`: the
    /// same as `[out, in]` (the split-K GEMV reads along the reduction); `bias`: `[out]`.
    Linear { weight: wgpu::Buffer, rows: wgpu::Buffer, bias: wgpu::Buffer },
    /// `init`: `[H, W, C]`, the membrane of a lane after reset (IMP, or each neuron's rest).
    /// `params`: with `per_neuron`, each neuron's `(p0, p1, v_th, v_reset)` `[H, W, C]` (the
    /// kind's form, fire and reset are the layer's), else one vec4 that no kernel reads.
    Neuron { init: wgpu::Buffer, kind: NeuronKind, params: wgpu::Buffer, per_neuron: bool },
    None,
}

/// The loaded network on one device.
pub struct GpuModel {
    pub graph: Graph,
    pub nodes: Vec<NodeWeights>,
}

impl GpuModel {
    pub fn upload(ctx: &GpuContext, graph: &Graph) -> Result<Self, EngineError> {
        let nodes = graph.nodes.iter().map(|n| upload_node(ctx, graph, n)).collect::<Result<_, _>>()?;
        Ok(Self { graph: graph.clone(), nodes })
    }
}

fn bad(node: &Node, what: String) -> EngineError {
    GpuError::Plan(format!("node {} ({}): {what}", node.name, node.op.kind())).into()
}

fn upload_node(ctx: &GpuContext, graph: &Graph, node: &Node) -> Result<NodeWeights, EngineError> {
    let label = |what: &str| format!("{} {what}", node.name);
    Ok(match &node.op {
        Op::Conv(c) => {
            let (o, i, k) = (c.out_ch, c.in_ch, c.kernel);
            if c.weight.len() != o * i * k * k || c.bias.len() != o {
                return Err(bad(node, format!("weight has {} values and bias {}, expected {} and {o}", c.weight.len(), c.bias.len(), o * i * k * k)));
            }
            let o4 = 4 * o.div_ceil(4);
            let w = layout::conv_taps_by_output(c, o4);
            let mut bias = c.bias.clone();
            bias.resize(o4, 0.0);
            let scale = match &c.time_scale {
                Some(s) if s.len() < graph.timesteps => {
                    return Err(bad(node, format!("TEBN scale has {} timesteps, the model runs {}", s.len(), graph.timesteps)));
                }
                Some(s) => s.clone(),
                None => vec![1.0],
            };
            let mut consts = bias.clone();
            consts.extend_from_slice(&scale);
            consts.resize(consts.len().div_ceil(4) * 4, 0.0);
            NodeWeights::Conv {
                consts: ctx.storage_init(&label("conv bias and TEBN scale"), &consts),
                weight: ctx.storage_init(&label("conv weight"), &w),
                bias: ctx.storage_init(&label("conv bias"), &bias),
                scale: ctx.storage_init(&label("conv TEBN scale"), &scale),
                has_scale: c.time_scale.is_some(),
            }
        }
        Op::Linear(l) => {
            if l.weight.len() != l.inputs * l.outputs || l.bias.len() != l.outputs {
                return Err(bad(node, format!("weight has {} values and bias {}, expected {} and {}", l.weight.len(), l.bias.len(), l.inputs * l.outputs, l.outputs)));
            }
            let w = layout::linear_by_input(graph, node, l);
            let mut rows = vec![0.0f32; w.len()];
            for i in 0..l.inputs {
                for o in 0..l.outputs {
                    rows[o * l.inputs + i] = w[i * l.outputs + o];
                }
            }
            NodeWeights::Linear {
                weight: ctx.storage_init(&label("linear weight"), &w),
                rows: ctx.storage_init(&label("linear weight rows"), &rows),
                bias: ctx.storage_init(&label("linear bias"), &l.bias),
            }
        }
        Op::Neuron(n) => {
            let s = node.shape;
            if let Some(imp) = n.imp.as_ref().filter(|imp| imp.len() != s.len()) {
                return Err(bad(node, format!("IMP has {} values, expected {}", imp.len(), s.len())));
            }
            // The IMP, else each neuron's rest.
            let init = layout::chw_to_hwc(&n.initial(s.len()), s);
            // Each neuron's (p0, p1, v_th, v_reset) `[H, W, C]`, or one unread vec4.
            let per_neuron = layout::neuron_kinds_hwc(n, s).map_or_else(|| vec![NeuronWords::default()], |kinds| kinds.iter().map(NeuronWords::of).collect());
            let params: Vec<[f32; 4]> = per_neuron.iter().map(|w| [w.p0, w.p1, w.v_th, w.v_reset]).collect();
            NodeWeights::Neuron { init: ctx.storage_init(&label("neuron initial membrane"), &init), kind: n.kind, params: ctx.storage_init(&label("neuron parameters per neuron"), &params), per_neuron: !n.arrays.is_empty() }
        }
        _ => NodeWeights::None,
    })
}

//! One timestep as data: the list of dispatches (pipeline, bind group, workgroup counts) built
//! once per network and batch size, then encoded again at every step. Buffers never move, so
//! the bind groups made here stay valid for the backend's life.

use crate::engine::EngineError;
use crate::model::graph::{Graph, Op};

use super::context::GpuContext;
use super::kernel::{Constants, Kernel};
use super::kernel::neuron_params;
use super::model::{GpuModel, NodeWeights};
use super::state::{GpuState, Scratch};

/// How convolutions use the sparsity of their input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvMode {
    /// Multiply-accumulate every input, zeros included (`conv.wgsl`).
    Dense,
    /// `conv.wgsl` skipping zero inputs with a branch (the CPU backend's semantics; no faster
    /// on lavapipe, whose branches are masks).
    SkipZero,
    /// Every convolution input gets a bitmap of its non-zero values, packed once after the
    /// layer that made it; `conv_sparse.wgsl` walks the set bits, accumulate-only when the
    /// input is spikes.
    #[default]
    Sparse,
}

/// One compute dispatch of the plan.
pub struct Dispatch {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// Part of the head (skipped when no logits are wanted).
    pub head: bool,
}

pub struct Plan {
    pub dispatches: Vec<Dispatch>,
}

/// Records one dispatch: kernel, constants, layer name, buffers at bindings 0.., groups, head.
type Push<'a> = dyn FnMut(Kernel, Constants, &str, &[&wgpu::Buffer], [u32; 3], bool) + 'a;

/// Workgroups for `n` items at `per_group` each, capped at the API limit (kernels stride).
fn groups(n: usize, per_group: u32) -> u32 {
    (n.div_ceil(per_group as usize)).clamp(1, 65_535) as u32
}

/// Which values a sparse convolution reads (so they get a non-zero bitmap).
pub fn packed_values(graph: &Graph, mode: ConvMode) -> Vec<bool> {
    let mut packed = vec![false; graph.nodes.len() + 1];
    if mode == ConvMode::Sparse {
        for n in graph.nodes.iter().filter(|n| matches!(n.op, Op::Conv(_))) {
            packed[n.inputs[0]] = true;
        }
    }
    packed
}

/// Value `v` holds spikes (exactly 0 or 1).
fn is_spikes(graph: &Graph, v: usize) -> bool {
    v > 0 && matches!(graph.nodes[v - 1].op, Op::Neuron(_))
}

impl Plan {
    pub fn build(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, mode: ConvMode) -> Result<Self, EngineError> {
        let g = &model.graph;
        let b = state.batch;
        let mut dispatches = Vec::new();
        let mut push = |kernel: Kernel, constants: Constants, node: &str, buffers: &[&wgpu::Buffer], groups: [u32; 3], head: bool| {
            let label = format!("{} {node}", kernel.name());
            let pipeline = ctx.pipeline(kernel, &constants);
            let bind_group = ctx.bind(&label, &pipeline, buffers);
            dispatches.push(Dispatch { label, pipeline, bind_group, groups, head });
        };
        let pack = |v: usize, push: &mut Push| {
            let Some(bits) = &scratch.bits[v] else { return };
            let s = g.value_shape(v);
            let words = s.c.div_ceil(32);
            let total = b * s.h * s.w * words;
            let p = ctx.uniform(&format!("value {v} pack params"), &[s.c as u32, words as u32, total as u32]);
            let consumers_in_head = g.nodes.iter().filter(|m| m.inputs[0] == v && matches!(m.op, Op::Conv(_))).all(|m| m.head);
            let grid = [groups(total, Kernel::PackNonzero.workgroup_x()), 1, 1];
            let name = if v == 0 { "input" } else { g.nodes[v - 1].name.as_str() };
            push(Kernel::PackNonzero, Constants::default(), name, &[&p, scratch.value(v), bits], grid, consumers_in_head);
        };
        pack(0, &mut push);
        for (i, node) in g.nodes.iter().enumerate() {
            let (si, so) = (g.value_shape(node.inputs[0]), node.shape);
            let input = scratch.value(node.inputs[0]);
            let out = scratch.value(i + 1);
            let name = node.name.as_str();
            let uniform = |words: &[u32]| ctx.uniform(&format!("{name} params"), words);
            match (&node.op, &model.nodes[i]) {
                (Op::Conv(c), NodeWeights::Conv { weight, bias, scale, has_scale }) => {
                    // Each invocation: 4 output channels × 4 pixels along x.
                    let (co4, tiles_x) = (so.c.div_ceil(4), so.w.div_ceil(4));
                    let wg_o = (co4.next_power_of_two() as u32).clamp(1, 16);
                    let wg_p = 64 / wg_o;
                    let constants = Constants::default()
                        .with("K", c.kernel as u32)
                        .with("STRIDE", c.stride as u32)
                        .with("PAD", c.padding as u32)
                        .flag("HAS_SCALE", *has_scale)
                        .with("WG_O", wg_o)
                        .with("WG_P", wg_p);
                    let mut shape = [si.c, si.h, si.w, so.c, so.h, so.w, co4, tiles_x].map(|x| x as u32).to_vec();
                    let grid = [groups(co4, wg_o), groups(so.h * tiles_x, wg_p), b as u32];
                    match &scratch.bits[node.inputs[0]] {
                        Some(bits) => {
                            shape.push(si.c.div_ceil(32) as u32);
                            let p = uniform(&shape);
                            let constants = constants.flag("BINARY", is_spikes(g, node.inputs[0]));
                            push(Kernel::ConvSparse, constants, name, &[&p, bits, input, weight, bias, scale, &scratch.steps, out], grid, node.head);
                        }
                        None => {
                            let p = uniform(&shape);
                            let constants = constants.flag("SKIP_ZERO", mode != ConvMode::Dense);
                            push(Kernel::Conv, constants, name, &[&p, input, weight, bias, scale, &scratch.steps, out], grid, node.head);
                        }
                    }
                }
                (Op::Neuron(_), NodeWeights::Neuron { kind, .. }) => {
                    let n = so.len();
                    let index = state.count_index[i].expect("neuron nodes have a count column");
                    let words = neuron_params(kind, n, index, state.neuron_nodes);
                    let p = ctx.storage_init(&format!("{name} neuron params"), &words);
                    let mem = state.membranes[i].as_ref().expect("neuron nodes have a membrane");
                    // About 4 neurons per invocation: the parameters are loaded once for all of them.
                    let grid = [groups(n.div_ceil(4), Kernel::Neuron.workgroup_x()), b as u32, 1];
                    push(Kernel::Neuron, Constants::default(), name, &[input, mem, out, &state.counts, &p], grid, node.head);
                }
                (Op::AvgPool(pool), _) => {
                    let total = b * so.len();
                    let p = uniform(&[si.c, si.h, si.w, so.h, so.w, total].map(|x| x as u32));
                    let constants = Constants::default()
                        .with("K", pool.kernel as u32)
                        .with("STRIDE", pool.stride as u32)
                        .with("PAD", pool.padding as u32)
                        .flag("COUNT_PAD", pool.count_include_pad);
                    push(Kernel::AvgPool, constants, name, &[&p, input, out], [groups(total, 64), 1, 1], node.head);
                }
                (Op::GlobalAvgPool, _) => {
                    let total = b * si.c;
                    let p = uniform(&[si.c, si.h * si.w, total].map(|x| x as u32));
                    push(Kernel::GlobalAvgPool, Constants::default(), name, &[&p, input, out], [groups(total, 64), 1, 1], node.head);
                }
                (Op::Flatten, _) => {}
                (Op::Linear(l), NodeWeights::Linear { weight, bias }) => {
                    let p = uniform(&[l.inputs as u32, l.outputs as u32]);
                    push(Kernel::Linear, Constants::default(), name, &[&p, input, weight, bias, out], [groups(l.outputs, 64), b as u32, 1], node.head);
                }
                (Op::Add, _) => {
                    let total = b * so.len();
                    let p = uniform(&[total as u32]);
                    let other = scratch.value(node.inputs[1]);
                    push(Kernel::Add, Constants::default(), name, &[&p, input, other, out], [groups(total, 256), 1, 1], node.head);
                }
                (op, _) => return Err(EngineError::Gpu(format!("node {name} ({}) has no GPU weights", op.kind()))),
            }
            pack(i + 1, &mut push);
        }
        Ok(Self { dispatches })
    }

    /// Records the timestep (the body, plus the head when `head`) into `encoder`.
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, head: bool) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("timestep"), timestamp_writes: None });
        for d in self.dispatches.iter().filter(|d| head || !d.head) {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
    }
}

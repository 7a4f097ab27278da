//! One timestep as data: the list of dispatches (pipeline, bind group, workgroup counts) built
//! once per network and batch size, then encoded again at every step. Buffers never move, so
//! the bind groups made here stay valid for the backend's life. Each dispatch carries what it
//! costs ([`DispatchCost`]: workgroups, longest dependent chain, bytes), so `bench` reports the
//! plan the engine runs. [`ConvMode::Fused`] (the default) is built by [`super::plan_fused`];
//! the other modes, one pass per layer plus packing passes, here.

use crate::engine::EngineError;
use crate::model::graph::{Graph, Op};

use crate::gpu::GpuContext;
use crate::gpu::kernel::{Constants, Kernel};
use super::model::{GpuModel, NodeWeights};
use super::plan_fused::Order;
use super::state::{GpuState, Scratch};

/// How convolutions use the sparsity of their input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvMode {
    /// Tiled implicit-GEMM convolutions with the neuron, spike bits and counts fused into the
    /// epilogue and average pools folded into the loads; silent 32-channel blocks skipped per
    /// tile; split-K GEMV head (`conv_fused.wgsl`, `linear_gemv.wgsl`).
    #[default]
    Fused,
    /// Multiply-accumulate every input, zeros included (`conv.wgsl`).
    Dense,
    /// `conv.wgsl` skipping zero inputs with a branch (the CPU backend's semantics; no faster
    /// on lavapipe, whose branches are masks).
    SkipZero,
    /// Every convolution input gets a bitmap of its non-zero values, packed once after the
    /// layer that made it; `conv_sparse.wgsl` walks the set bits, accumulate-only when the
    /// input is spikes.
    Sparse,
}

/// What one dispatch costs, from the numbers that set its grid and loops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchCost {
    /// The longest chain of dependent loop trips any invocation runs (accumulations into one
    /// register, grid-stride iterations, reduction rounds).
    pub serial_trips: u64,
    /// Global memory the dispatch reads and writes, from its bindings' used sizes.
    pub bytes: u64,
    /// A convolution (the workgroup target applies to these).
    pub conv: bool,
}

/// One compute dispatch of the plan.
pub struct Dispatch {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// Part of the head (skipped when no logits are wanted).
    pub head: bool,
    pub cost: DispatchCost,
}

impl Dispatch {
    pub fn workgroups(&self) -> u64 {
        self.groups.iter().map(|&g| u64::from(g)).product()
    }
}

pub struct Plan {
    pub dispatches: Vec<Dispatch>,
    pub mode: ConvMode,
}

/// The plan of one timestep in numbers (`bench --json` reports these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanStats {
    pub dispatches_per_step: usize,
    pub max_serial_trips: u64,
    /// The smallest grid of any dispatch.
    pub min_workgroups: u64,
    /// The smallest grid of any convolution.
    pub min_conv_workgroups: u64,
    pub bytes_per_step: u64,
}

impl Plan {
    /// The numbers of a step with the head (`head`) or without.
    pub fn stats(&self, head: bool) -> PlanStats {
        let d: Vec<&Dispatch> = self.dispatches.iter().filter(|d| head || !d.head).collect();
        PlanStats {
            dispatches_per_step: d.len(),
            max_serial_trips: d.iter().map(|d| d.cost.serial_trips).max().unwrap_or(0),
            min_workgroups: d.iter().map(|d| d.workgroups()).min().unwrap_or(0),
            min_conv_workgroups: d.iter().filter(|d| d.cost.conv).map(|d| d.workgroups()).min().unwrap_or(0),
            bytes_per_step: d.iter().map(|d| d.cost.bytes).sum(),
        }
    }
}

/// Records one dispatch: kernel, constants, layer name, buffers at bindings 0.., groups, head,
/// cost.
pub type Push<'a> = dyn FnMut(Kernel, Constants, &str, &[&wgpu::Buffer], [u32; 3], bool, DispatchCost) + 'a;

/// A [`Push`] that compiles (or reuses) the pipeline, binds the buffers and appends the dispatch.
fn recorder<'a>(ctx: &'a GpuContext, out: &'a mut Vec<Dispatch>) -> impl FnMut(Kernel, Constants, &str, &[&wgpu::Buffer], [u32; 3], bool, DispatchCost) + 'a {
    move |kernel, constants, node, buffers, groups, head, cost| {
        let label = format!("{} {node}", kernel.name());
        let pipeline = ctx.pipeline(kernel, &constants);
        let bind_group = ctx.bind(&label, &pipeline, buffers);
        out.push(Dispatch { label, pipeline, bind_group, groups, head, cost });
    }
}

/// Workgroups for `n` items at `per_group` each, capped at the API limit (kernels stride).
pub fn groups(n: usize, per_group: u32) -> u32 {
    (n.div_ceil(per_group as usize)).clamp(1, 65_535) as u32
}

/// Grid-stride trips of `n` items over `groups` workgroups of `per_group` invocations.
pub fn stride_trips(n: usize, groups: u32, per_group: u32) -> u64 {
    n.div_ceil(groups as usize * per_group as usize).max(1) as u64
}

/// Bytes of whole bindings (the legacy per-layer buffers are exactly their values).
pub fn bound_bytes(buffers: &[&wgpu::Buffer]) -> u64 {
    buffers.iter().map(|b| b.size()).sum()
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

/// Value `v` holds spikes (exactly 0 or 1): a spiking neuron's output (not a readout's membrane).
fn is_spikes(graph: &Graph, v: usize) -> bool {
    v > 0 && matches!(&graph.nodes[v - 1].op, Op::Neuron(n) if n.kind.binary())
}

impl Plan {
    pub fn build(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, mode: ConvMode) -> Result<Self, EngineError> {
        let mut dispatches = Vec::new();
        let mut push = recorder(ctx, &mut dispatches);
        if mode == ConvMode::Fused {
            super::plan_fused::build(ctx, model, state, scratch, Order::StepMajor, &mut push)?;
        } else {
            build_layers(ctx, model, state, scratch, mode, &mut push)?;
        }
        drop(push);
        Ok(Self { dispatches, mode })
    }

    /// The fused plan of a whole sequence in layer-major order; `scratch` holds T·B lanes.
    pub fn build_layer_major(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, timesteps: usize) -> Result<Self, EngineError> {
        let mut dispatches = Vec::new();
        let mut push = recorder(ctx, &mut dispatches);
        super::plan_fused::build(ctx, model, state, scratch, Order::LayerMajor { timesteps }, &mut push)?;
        drop(push);
        Ok(Self { dispatches, mode: ConvMode::Fused })
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

/// One pass per layer (the modes before fusion; kept as the baseline the fused plan is
/// measured against).
fn build_layers(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, mode: ConvMode, push: &mut Push) -> Result<(), EngineError> {
        let g = &model.graph;
        let b = state.batch;
        let pack = |v: usize, push: &mut Push| {
            let Some(bits) = &scratch.bits[v] else { return };
            let s = g.value_shape(v);
            let words = s.c.div_ceil(32);
            let total = b * s.h * s.w * words;
            let p = ctx.uniform(&format!("value {v} pack params"), &[s.c as u32, words as u32, total as u32]);
            let consumers_in_head = g.nodes.iter().filter(|m| m.inputs[0] == v && matches!(m.op, Op::Conv(_))).all(|m| m.head);
            let grid = [groups(total, Kernel::PackNonzero.workgroup_x()), 1, 1];
            let name = if v == 0 { "input" } else { g.nodes[v - 1].name.as_str() };
            let cost = DispatchCost { serial_trips: 32 * stride_trips(total, grid[0], 64), bytes: bound_bytes(&[scratch.value(v), bits]), conv: false };
            push(Kernel::PackNonzero, Constants::default(), name, &[&p, scratch.value(v), bits], grid, consumers_in_head, cost);
        };
        pack(0, push);
        for (i, node) in g.nodes.iter().enumerate() {
            let (si, so) = (g.value_shape(node.inputs[0]), node.shape);
            let input = scratch.value(node.inputs[0]);
            let out = scratch.value(i + 1);
            let name = node.name.as_str();
            let uniform = |words: &[u32]| ctx.uniform(&format!("{name} params"), words);
            match (&node.op, &model.nodes[i]) {
                (Op::Conv(c), NodeWeights::Conv { weight, bias, scale, has_scale, .. }) => {
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
                    let trips = (si.c * c.kernel * c.kernel) as u64 * stride_trips(so.h * tiles_x, grid[1], wg_p);
                    let conv_cost = |bufs: &[&wgpu::Buffer]| DispatchCost { serial_trips: trips, bytes: bound_bytes(bufs), conv: true };
                    match &scratch.bits[node.inputs[0]] {
                        Some(bits) => {
                            shape.push(si.c.div_ceil(32) as u32);
                            let p = uniform(&shape);
                            let constants = constants.flag("BINARY", is_spikes(g, node.inputs[0]));
                            push(Kernel::ConvSparse, constants, name, &[&p, bits, input, weight, bias, scale, &scratch.steps, out], grid, node.head, conv_cost(&[bits, input, weight, bias, out]));
                        }
                        None => {
                            let p = uniform(&shape);
                            let constants = constants.flag("SKIP_ZERO", mode != ConvMode::Dense);
                            push(Kernel::Conv, constants, name, &[&p, input, weight, bias, scale, &scratch.steps, out], grid, node.head, conv_cost(&[input, weight, bias, out]));
                        }
                    }
                }
                (Op::Linear(l), NodeWeights::Linear { weight, bias, .. }) => {
                    let p = uniform(&[l.inputs as u32, l.outputs as u32]);
                    let cost = DispatchCost { serial_trips: l.inputs as u64, bytes: bound_bytes(&[input, weight, bias, out]), conv: false };
                    push(Kernel::Linear, Constants::default(), name, &[&p, input, weight, bias, out], [groups(l.outputs, 64), b as u32, 1], node.head, cost);
                }
                _ if super::passes::record(ctx, model, state, scratch, i, b, push)? => {}
                (op, _) => return Err(crate::gpu::GpuError::Plan(format!("node {name} ({}) has no GPU weights", op.kind())).into()),
            }
            pack(i + 1, push);
        }
        Ok(())
}

//! The passes every plan records the same way: an unfused neuron layer (one timestep; a layer
//! with per-neuron parameters as one step of [`neuron_steps`]), [`neuron_steps`], an average pool that is not folded, global average pooling and the residual add. The plans
//! (`plan.rs`, `plan_fused.rs`) hand every other op to their own builders.

use crate::engine::EngineError;
use crate::gpu::GpuContext;
use crate::gpu::kernel::{Constants, Kernel, NeuronWords, neuron_params};
use crate::model::graph::Op;

use super::model::{GpuModel, NodeWeights};
use super::plan::{DispatchCost, Push, bound_bytes, groups, stride_trips};
use super::state::{GpuState, Scratch};

/// Records node `i` for `lanes` lanes if it is one of the shared passes; `Ok(false)` otherwise.
pub fn record(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, i: usize, lanes: usize, push: &mut Push) -> Result<bool, EngineError> {
    let g = &model.graph;
    let node = &g.nodes[i];
    let (name, b) = (node.name.as_str(), lanes);
    let (si, so) = (g.value_shape(node.inputs[0]), node.shape);
    let (input, out) = (scratch.value(node.inputs[0]), scratch.value(i + 1));
    let uniform = |words: &[u32]| ctx.uniform(&format!("{name} params"), words);
    match (&node.op, &model.nodes[i]) {
        (Op::Neuron(_), NodeWeights::Neuron { per_neuron: true, .. }) => neuron_steps(ctx, model, state, i, (input, out), b, 1, push),
        (Op::Neuron(_), NodeWeights::Neuron { kind, .. }) => {
            let n = so.len();
            let index = state.count_index[i].expect("neuron nodes have a count column");
            let p = ctx.storage_init(&format!("{name} neuron params"), &neuron_params(kind, n, index, state.neuron_nodes));
            let mem = state.membranes[i].as_ref().expect("neuron nodes have a membrane");
            // About 4 neurons per invocation: the parameters are loaded once for all of them.
            let grid = [groups(n.div_ceil(4), Kernel::Neuron.workgroup_x()), b as u32, 1];
            let cost = DispatchCost { serial_trips: stride_trips(n, grid[0], 256), bytes: bound_bytes(&[input, out]) + 2 * mem.size(), conv: false };
            push(Kernel::Neuron, Constants::default(), name, &[input, mem, out, &state.counts, &p], grid, node.head, cost);
        }
        (Op::AvgPool(pool), _) => {
            let total = b * so.len();
            let p = uniform(&[si.c, si.h, si.w, so.h, so.w, total].map(|x| x as u32));
            let constants = Constants::default()
                .with("K", pool.kernel as u32)
                .with("STRIDE", pool.stride as u32)
                .with("PAD", pool.padding as u32)
                .flag("COUNT_PAD", pool.count_include_pad);
            let grid = [groups(total, 64), 1, 1];
            let cost = DispatchCost { serial_trips: (pool.kernel * pool.kernel) as u64 * stride_trips(total, grid[0], 64), bytes: bound_bytes(&[input, out]), conv: false };
            push(Kernel::AvgPool, constants, name, &[&p, input, out], grid, node.head, cost);
        }
        (Op::GlobalAvgPool, _) => {
            let total = b * si.c;
            let p = uniform(&[si.c, si.h * si.w, total].map(|x| x as u32));
            let grid = [groups(total, 64), 1, 1];
            let cost = DispatchCost { serial_trips: (si.h * si.w) as u64 * stride_trips(total, grid[0], 64), bytes: bound_bytes(&[input, out]), conv: false };
            push(Kernel::GlobalAvgPool, Constants::default(), name, &[&p, input, out], grid, node.head, cost);
        }
        (Op::Add, _) => {
            let total = b * so.len();
            let p = uniform(&[total as u32]);
            let other = scratch.value(node.inputs[1]);
            let grid = [groups(total, 256), 1, 1];
            let cost = DispatchCost { serial_trips: stride_trips(total, grid[0], 256), bytes: bound_bytes(&[input, other, out]), conv: false };
            push(Kernel::Add, Constants::default(), name, &[&p, input, other, out], grid, node.head, cost);
        }
        (Op::Flatten, _) => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// `Params` of shaders/neuron_steps.wgsl, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct StepsParams {
    n: u32,
    lanes: u32,
    steps: u32,
    count_index: u32,
    count_stride: u32,
    neuron: NeuronWords,
}

/// The `neuron_steps` dispatch of neuron node `i`: `steps` timesteps of `lanes` lanes, reading
/// `x` and writing `s` (`[steps, lanes, N]`). A layer with per-neuron parameters reads them from
/// its buffer (`PER_NEURON`); the others take the kind's constants.
pub fn neuron_steps(ctx: &GpuContext, model: &GpuModel, state: &GpuState, i: usize, (x, s): (&wgpu::Buffer, &wgpu::Buffer), lanes: usize, steps: usize, push: &mut Push) {
    let node = &model.graph.nodes[i];
    let NodeWeights::Neuron { kind, params, per_neuron, .. } = &model.nodes[i] else { unreachable!("node {} is a neuron node without neuron weights", node.name) };
    let n = node.shape.len();
    let index = state.count_index[i].expect("neuron nodes have a count column");
    let u = |v: usize| v as u32;
    let p = StepsParams { n: u(n), lanes: u(lanes), steps: u(steps), count_index: u(index), count_stride: u(state.neuron_nodes), neuron: NeuronWords::of(kind) };
    let p = ctx.uniform_struct(&format!("{} params", node.name), &p);
    let mem = state.membranes[i].as_ref().expect("neuron nodes have a membrane");
    let grid = [n.div_ceil(256) as u32, lanes as u32, 1];
    let cost = DispatchCost { serial_trips: steps as u64, bytes: bound_bytes(&[x, s, params]) + 2 * mem.size(), conv: false };
    push(Kernel::NeuronSteps, Constants::default().flag("PER_NEURON", *per_neuron), &node.name, &[&p, x, mem, s, &state.counts, params], grid, node.head, cost);
}

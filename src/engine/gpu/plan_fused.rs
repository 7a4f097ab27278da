//! The fused plan ([`super::ConvMode::Fused`]): one `conv_fused` dispatch per convolution with
//! its neuron (membrane in place, spikes, spike words, counts) in the epilogue and an average
//! pool before it folded into its loads; a split-K GEMV for linear layers that also sums the
//! logits over steps; the remaining ops (unfused neurons, pools read by non-convolutions,
//! global pooling, residual adds) as single passes. What merges is [`Fusion`]'s decision.
//!
//! [`Order::LayerMajor`] builds the same plan over all T·B inputs of a sequence at once: each
//! convolution runs once for every timestep (lane `t·B + b`, its TEBN scale from `t`) and writes
//! its currents, then one `neuron_steps` dispatch walks the T steps of each neuron. Tiles are
//! chosen for B lanes in both orders, so every sum is added in the same order and both orders
//! give the same bits.

use crate::engine::EngineError;
use crate::gpu::kernel::{Constants, Kernel, NeuronWords};
use crate::gpu::{GpuContext, GpuError};
use crate::model::graph::Op;

use super::fusion::{Fusion, Tile, chunks};
use super::model::{GpuModel, NodeWeights};
use super::plan::{DispatchCost, Push, bound_bytes};
use super::state::{GpuState, Scratch};

/// Value `v` holds spikes (exactly 0 or 1).
fn is_spikes(g: &crate::model::Graph, v: usize) -> bool {
    v > 0 && matches!(&g.nodes[v - 1].op, Op::Neuron(n) if n.kind.binary())
}

/// `Params` of shaders/conv_fused.wgsl, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    ci: u32,
    hi: u32,
    wi: u32,
    co: u32,
    ho: u32,
    wo: u32,
    sh: u32,
    sw: u32,
    in_bits: u32,
    in_words: u32,
    out_bits: u32,
    out_words: u32,
    px_tiles: u32,
    chunks: u32,
    count_index: u32,
    count_stride: u32,
    neuron: NeuronWords,
}

/// Which order a plan runs the network in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// One timestep of B lanes (streaming, and the default per-step plan).
    StepMajor,
    /// All T timesteps of B lanes, layer by layer (`scratch` holds T·B lanes).
    LayerMajor { timesteps: usize },
}

pub fn build(ctx: &GpuContext, model: &GpuModel, state: &GpuState, scratch: &Scratch, order: Order, push: &mut Push) -> Result<(), EngineError> {
    let g = &model.graph;
    let lanes = state.batch;
    let (b, steps_per_run) = match order {
        Order::StepMajor => (lanes, 1),
        Order::LayerMajor { timesteps } => (timesteps * lanes, timesteps),
    };
    let layer_major = matches!(order, Order::LayerMajor { .. });
    let f = Fusion::of(g);
    for (i, node) in g.nodes.iter().enumerate() {
        let name = node.name.as_str();
        let si = g.value_shape(node.inputs[0]);
        let so = node.shape;
        let input = scratch.value(node.inputs[0]);
        let out = scratch.value(i + 1);
        let uniform = |words: &[u32]| ctx.uniform(&format!("{name} params"), words);
        match (&node.op, &model.nodes[i]) {
            (Op::Conv(c), NodeWeights::Conv { weight, consts, has_scale, .. }) => {
                // The stored value read: the conv's input, or the pooled value's source.
                let (src, pool) = match f.pool_of[i] {
                    Some(p) => match &g.nodes[p].op {
                        Op::AvgPool(pool) => (g.nodes[p].inputs[0], pool.kernel),
                        _ => unreachable!("pool_of names pool nodes"),
                    },
                    None => (node.inputs[0], 1),
                };
                let ss = g.value_shape(src);
                // Layer-major: the conv writes its currents and the neuron runs after, over T.
                let neuron = f.neuron_of[i].filter(|_| !layer_major);
                let (out_value, mem, count_index, words) = match neuron {
                    Some(j) => {
                        let NodeWeights::Neuron { kind, .. } = &model.nodes[j] else {
                            return Err(GpuError::Plan(format!("node {} has no neuron weights", g.nodes[j].name)).into());
                        };
                        let mem = state.membranes[j].as_ref().expect("neuron nodes have a membrane");
                        let index = state.count_index[j].expect("neuron nodes have a count column");
                        (j + 1, mem, index, NeuronWords::of(kind))
                    }
                    None => (i + 1, &scratch.unused, 0, NeuronWords::default()),
                };
                let out = scratch.value(out_value);
                // Chosen for B lanes in both orders: the same sums in the same order.
                let tile = Tile::choose(so.h * so.w, so.c, c.in_ch, c.kernel, lanes);
                let in_bits = scratch.bit_offset[src];
                let out_bits = scratch.bit_offset[out_value].filter(|_| neuron.is_some());
                let n_chunks = chunks(g, i);
                let px_tiles = (so.h * so.w).div_ceil(tile.pixels());
                let u = |x: usize| x as u32;
                let params = ConvParams {
                    ci: u(c.in_ch),
                    hi: u(si.h),
                    wi: u(si.w),
                    co: u(so.c),
                    ho: u(so.h),
                    wo: u(so.w),
                    sh: u(ss.h),
                    sw: u(ss.w),
                    in_bits: u(in_bits.unwrap_or(0)),
                    in_words: u(c.in_ch.div_ceil(32)),
                    out_bits: u(out_bits.unwrap_or(0)),
                    out_words: u(so.c.div_ceil(32)),
                    px_tiles: u(px_tiles),
                    chunks: u(n_chunks),
                    count_index: u(count_index),
                    count_stride: u(state.neuron_nodes),
                    neuron: words,
                };
                let constants = Constants::default()
                    .with("K", c.kernel as u32)
                    .with("STRIDE", c.stride as u32)
                    .with("PAD", c.padding as u32)
                    .with("POOL", pool as u32)
                    .flag("HAS_SCALE", *has_scale)
                    .flag("BINARY", pool == 1 && is_spikes(g, src))
                    .flag("SKIP", in_bits.is_some())
                    .flag("NEURON", neuron.is_some())
                    .flag("BITS_OUT", out_bits.is_some())
                    .with("TP", tile.tp as u32)
                    .with("RP", tile.rp as u32)
                    .with("TC", tile.tc as u32)
                    .with("SK", tile.sk as u32);
                let grid = [(px_tiles * so.c.div_ceil(4).div_ceil(tile.tc)) as u32, b as u32, 1];
                let words_of = |v: usize| 4 * (b * g.value_shape(v).h * g.value_shape(v).w * g.value_shape(v).c.div_ceil(32)) as u64;
                let value_bytes = |v: usize| 4 * (b * g.value_shape(v).len()) as u64;
                let mut bytes = value_bytes(src) + weight.size() + consts.size() + value_bytes(out_value);
                if neuron.is_some() {
                    bytes += 2 * value_bytes(out_value); // membrane read and written
                }
                if in_bits.is_some() {
                    bytes += words_of(src);
                }
                if out_bits.is_some() {
                    bytes += words_of(out_value);
                }
                let cost = DispatchCost { serial_trips: tile.serial_trips(c.in_ch, c.kernel) as u64, bytes, conv: true };
                let p = ctx.uniform_struct(&format!("{name} params"), &params);
                let buffers = [&p, scratch.value(src), &scratch.spike_bits, weight, consts, &scratch.steps, mem, out, &state.counts];
                // "conv+neuron": the profile attaches the neuron's spike rate to this dispatch.
                let label = match neuron {
                    Some(j) => format!("{name}+{}", g.nodes[j].name),
                    None => name.to_string(),
                };
                push(Kernel::ConvFused, constants, &label, &buffers, grid, node.head, cost);
            }
            (Op::Neuron(_), _) if layer_major => super::passes::neuron_steps(ctx, model, state, i, (input, out), lanes, steps_per_run, push),
            (Op::Neuron(_), _) if f.fused_into[i].is_some() => {}
            (Op::AvgPool(_), _) if f.pool_folded[i] => {}
            (Op::Linear(l), NodeWeights::Linear { rows, bias, .. }) => {
                let p = uniform(&[l.inputs as u32, l.outputs as u32]);
                // The graph's output sums its logits over steps on the device.
                let accum = i + 1 == g.output() && !layer_major;
                let sum = if accum { &state.logit_sum } else { &scratch.unused };
                let cost = DispatchCost { serial_trips: l.inputs.div_ceil(64) as u64 + 6, bytes: bound_bytes(&[input, rows, bias, out]), conv: false };
                let constants = Constants::default().flag("ACCUM", accum);
                push(Kernel::LinearGemv, constants, name, &[&p, input, rows, bias, out, sum], [l.outputs as u32, b as u32, 1], node.head, cost);
            }
            _ if super::passes::record(ctx, model, state, scratch, i, b, push)? => {}
            (op, _) => return Err(GpuError::Plan(format!("node {name} ({}) has no GPU weights", op.kind())).into()),
        }
    }
    Ok(())
}

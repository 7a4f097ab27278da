//! The CPU reference backend: plain loops over channel-last (`[B, H, W, C]`) buffers, threads
//! over output rows with rayon. It is the specification the GPU kernels must match (each kernel
//! in [`kernels`] and `pool` documents its equation) and the fallback where no GPU adapter exists.
//!
//! The plain loops in [`kernels`] are the specification (average pools: `pool`, which sums each
//! window sixteen channels at a time, tested against the sum element by element); convolutions
//! run the fast kernels of `conv` (adds of L1-resident weight rows for binary spikes, Winograd
//! for dense enough 3×3 inputs such as pooled spikes, sparse row adds or an FMA tile
//! otherwise), which equal it bit for bit on dyadic weights. Linear layers scatter only the
//! non-zero inputs (a spike adds a weight row: no multiplication). Weights are stored in f32
//! or, opt-in, in 16 bits ([`precision`]). A neuron layer whose only input is a conv runs in
//! place on the conv's output (`conv_store`), its time counted in the conv's.

mod conv;
mod conv_choice;
mod conv_dense;
mod conv_lists;
mod conv_sparse;
mod conv_strip;
mod conv_strip_avx512;
mod conv_spikes;
mod conv_spikes_avx512;
mod conv_store;
#[cfg(test)]
mod conv_tests;
pub mod kernels;
mod layout;
mod pool;
pub mod precision;
mod winograd;
mod winograd_bf16;
mod winograd_f4;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::trace::{Clock, DispatchTime, StepProfile};
use super::{Backend, EngineError};
use crate::model::graph::{Graph, Node, Op};
use layout::{Prepared, prepare};
pub use precision::{Precision, PrecisionError};
use precision::Stored;
/// The fast convolution (`[B, H, W, C]` in and out, weights packed from a [`crate::model::graph::Conv`]),
/// for the trainer's convolution op on burn's CPU backend (`train::conv`).
#[cfg(feature = "train")]
pub(crate) use conv::{ConvScratch, PackedConv, conv as conv_hwc};
/// Whether the AVX-512 builds run (the CPU has them and `SPIKESTREAM_CPU_ISA` allows them).
#[cfg(all(feature = "train", target_arch = "x86_64"))]
pub(crate) use conv_spikes_avx512::enabled as avx512_enabled;

use conv_store::NEURON_PIECE;

pub struct CpuBackend {
    graph: Graph,
    prepared: Vec<Prepared>,
    batch: usize,
    /// Output of every value (index 0 = input), `[B, H, W, C]`.
    values: Vec<Vec<f32>>,
    /// Membrane potentials per node (empty for non-neurons), `[B, H, W, C]`.
    membranes: Vec<Vec<f32>>,
    /// Spike counts per node and lane.
    counts: Vec<Vec<u64>>,
    /// Per-layer wall times of the step being profiled (`profile_timestep`), else `None`.
    profile: Option<Vec<DispatchTime>>,
    /// Working memory of the conv kernels and the per-lane TEBN scale, reused every step.
    scratch: conv::ConvScratch,
    lane_scale: Vec<f32>,
    precision: Precision,
    /// Per node: a conv that runs the neuron layer after it on its output ([`fusable`]), and
    /// the average pool after that too ([`poolable`]).
    fuse: Vec<bool>,
    pool: Vec<bool>,
}

impl CpuBackend {
    /// The backend with f32 weights, the model's values unchanged.
    pub fn new(graph: &Graph, batch: usize) -> Self {
        Self::with_precision(graph, batch, Precision::F32).expect("f32 holds every f32 weight")
    }

    /// The backend with conv and linear weights stored in `precision` ([`precision`]); an error
    /// names the first weight that format cannot hold.
    pub fn with_precision(graph: &Graph, batch: usize, precision: Precision) -> Result<Self, PrecisionError> {
        let prepared: Vec<Prepared> = graph.nodes.iter().map(|n| prepare(graph, n, precision, batch)).collect::<Result<_, _>>()?;
        let mut values = vec![vec![0.0; batch * graph.input.len()]];
        values.extend(graph.nodes.iter().map(|n| vec![0.0; batch * n.shape.len()]));
        let membranes = graph.nodes.iter().map(|n| if matches!(n.op, Op::Neuron(_)) { vec![0.0; batch * n.shape.len()] } else { Vec::new() }).collect();
        let counts = graph.nodes.iter().map(|_| vec![0; batch]).collect();
        let fuse: Vec<bool> = (0..graph.nodes.len()).map(|i| fusable(graph, i)).collect();
        let pool = (0..graph.nodes.len()).map(|i| fuse[i] && poolable(graph, i + 2)).collect();
        let mut backend = Self { graph: graph.clone(), prepared, batch, values, membranes, counts, profile: None, scratch: Default::default(), lane_scale: vec![1.0; batch], precision, fuse, pool };
        backend.reset_all();
        Ok(backend)
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        let weights = if self.precision == Precision::F32 { String::new() } else { format!(", {} weights", self.precision.name()) };
        format!("cpu ({} threads{weights})", rayon::current_num_threads())
    }

    fn batch(&self) -> usize {
        self.batch
    }

    fn reset(&mut self, lanes: &[usize]) {
        for (i, node) in self.graph.nodes.iter().enumerate() {
            if let (Op::Neuron(n), Prepared::Neuron { imp, .. }) = (&node.op, &self.prepared[i]) {
                let len = node.shape.len();
                for &b in lanes {
                    let m = &mut self.membranes[i][b * len..(b + 1) * len];
                    match imp {
                        Some(imp) => m.copy_from_slice(imp),
                        None => m.fill(n.kind.rest()),
                    }
                }
            }
            for &b in lanes {
                self.counts[i][b] = 0;
            }
        }
    }

    fn step(&mut self, input: &[f32], steps: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
        // On a thread of rayon's pool, each layer's parallel loops start where they are called;
        // from outside it, each one hands its work to the pool and parks the caller.
        if rayon::current_thread_index().is_none() {
            return rayon::scope(|_| self.step(input, steps, logits));
        }
        let g = &self.graph;
        let (b, s) = (self.batch, g.input);
        super::check_step(g, b, input, steps)?;
        crate::model::layout::nchw_to_nhwc(input, &mut self.values[0], b, s.c, s.h * s.w);
        let epoch = self.profile.is_some().then(Instant::now);
        for i in 0..g.nodes.len() {
            let node = &g.nodes[i];
            if node.head && !logits {
                continue;
            }
            let started = epoch.map(|_| Instant::now());
            let (before, after) = self.values.split_at_mut(i + 1);
            let (out, next) = after.split_first_mut().expect("a value per node");
            let input = |k: usize| before[node.inputs[k]].as_slice();
            let in_shape = g.value_shape(node.inputs[0]);
            match (&node.op, &self.prepared[i]) {
                (Op::Conv(c), Prepared::Conv(packed)) => {
                    // Multiplying by 1 is exact, so a conv without TEBN takes scale 1.
                    let scale = &mut self.lane_scale;
                    scale.iter_mut().zip(steps).for_each(|(s, &t)| *s = c.time_scale.as_ref().map_or(1.0, |ts| ts[t]));
                    if self.fuse[i] {
                        // The neuron layer after it, on this conv's output in place, into that
                        // layer's value (this conv's own is not written).
                        let (Op::Neuron(n), Prepared::Neuron { rules, .. }) = (&g.nodes[i + 1].op, &self.prepared[i + 1]) else { unreachable!("fusable checked node {}", i + 1) };
                        let counts: Vec<AtomicU64> = (0..b).map(|_| AtomicU64::new(0)).collect();
                        let fused = conv::Fused::new(&n.kind, rules.as_deref(), &mut self.membranes[i + 1], node.shape.len(), &counts);
                        let (spikes, after) = next.split_first_mut().expect("the neuron layer's value");
                        // And the pool after it (`poolable`).
                        let pool = match (self.pool[i], g.nodes.get(i + 2)) {
                            (true, Some(Node { op: Op::AvgPool(p), shape, .. })) => Some((p, *shape)),
                            _ => None,
                        };
                        let done = AtomicBool::new(false);
                        let fused = match pool {
                            Some((p, so)) => fused.with_pool(p, node.shape, so, &mut after[0], &done),
                            None => fused,
                        };
                        conv::conv_fused(input(0), spikes, in_shape, node.shape, packed, scale, &mut self.scratch, Some(&fused));
                        // The kernels that leave the layer to Winograd's bands pool here.
                        if let Some((p, so)) = pool.filter(|_| !done.load(Ordering::Relaxed)) {
                            pool::avg_pool(spikes, &mut after[0], b, node.shape, so, p);
                        }
                        self.counts[i + 1].iter_mut().zip(counts).for_each(|(c, n)| *c += n.into_inner());
                    } else {
                        conv::conv(input(0), out, in_shape, node.shape, packed, scale, &mut self.scratch);
                    }
                }
                // Run by the conv before it (its time is that conv's).
                (Op::Neuron(_), _) if i > 0 && self.fuse[i - 1] => {}
                (Op::Neuron(n), Prepared::Neuron { rules, .. }) => {
                    let len = node.shape.len();
                    let spikes = n.kind.spikes();
                    // Per sample, in batches smaller than the thread count in pieces of
                    // NEURON_PIECE neurons (at batch 1 a layer's neurons are all the work).
                    let piece = if b < rayon::current_num_threads() { NEURON_PIECE } else { len };
                    let counts: Vec<u64> = self.membranes[i]
                        .par_chunks_mut(len)
                        .zip(out.par_chunks_mut(len))
                        .zip(input(0).par_chunks(len))
                        .map(|((m, o), x)| {
                            let pieces = m.par_chunks_mut(piece).zip(o.par_chunks_mut(piece)).zip(x.par_chunks(piece));
                            match rules {
                                None => pieces.map(|((m, o), x)| kernels::neuron_step(&n.kind, m, x, o)).sum(),
                                Some(rules) => pieces.zip(rules.par_chunks(piece)).map(|(((m, o), x), r)| kernels::neuron_step_each(r, spikes, m, x, o)).sum(),
                            }
                        })
                        .collect();
                    self.counts[i].iter_mut().zip(counts).for_each(|(c, n)| *c += n);
                }
                // Run with the neuron layer before it (its time is the conv's).
                (Op::AvgPool(_), _) if i > 1 && self.pool[i - 2] => {}
                (Op::AvgPool(p), _) => pool::avg_pool(input(0), out, b, in_shape, node.shape, p),
                (Op::GlobalAvgPool, _) => pool::global_avg_pool(input(0), out, b, in_shape),
                (Op::Flatten, _) => out.copy_from_slice(input(0)),
                (Op::Linear(l), Prepared::Linear { weight_t }) => match weight_t {
                    Stored::F32(w) => kernels::linear_scatter(input(0), out, b, l.inputs, l.outputs, w.as_slice(), &l.bias),
                    Stored::Bf16(w) => kernels::linear_scatter(input(0), out, b, l.inputs, l.outputs, w.as_slice(), &l.bias),
                    Stored::F16(w) => kernels::linear_scatter(input(0), out, b, l.inputs, l.outputs, w.as_slice(), &l.bias),
                },
                // In parallel pieces (serial, SEW ResNet-18's eight adds took 5 % of its batch-1
                // step on two threads).
                (Op::Add, _) => out.par_chunks_mut(NEURON_PIECE).zip(input(0).par_chunks(NEURON_PIECE).zip(input(1).par_chunks(NEURON_PIECE))).for_each(|(o, (a, c))| {
                    o.iter_mut().zip(a.iter().zip(c)).for_each(|(o, (a, c))| *o = a + c);
                }),
                (op, _) => unreachable!("node {} ({}) was prepared for another op", node.name, op.kind()),
            }
            if let (Some(epoch), Some(started), Some(p)) = (epoch, started, self.profile.as_mut()) {
                let start_ms = (started - epoch).as_secs_f64() * 1e3;
                p.push(DispatchTime { name: node.name.clone(), op: node.op.kind().into(), start_ms, ms: started.elapsed().as_secs_f64() * 1e3 });
            }
        }
        // The output in the caller's [B, C, H, W] order (a vector head is the same either way).
        Ok(logits.then(|| {
            let mut out = self.values[g.output()].clone();
            crate::model::layout::output_to_chw(&mut out, g.value_shape(g.output()));
            out
        }))
    }

    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
        Ok(self.graph.neuron_nodes().iter().map(|&i| self.counts[i].iter().sum()).collect())
    }

    fn last_spikes(&mut self, node: usize) -> Result<Vec<f32>, EngineError> {
        if self.fuse.get(node).copied().unwrap_or(false) {
            return Err(EngineError::NoValue { node: self.graph.nodes[node].name.clone() });
        }
        let s = self.graph.nodes[node].shape;
        let mut out = vec![0.0; self.batch * s.len()];
        crate::model::layout::nhwc_to_nchw(&self.values[node + 1], &mut out, self.batch, s.c, s.h * s.w);
        Ok(out)
    }

    fn profile_timestep(&mut self, input: &[f32], steps: &[usize]) -> Result<Option<StepProfile>, EngineError> {
        self.profile = Some(Vec::new());
        let result = self.step(input, steps, true);
        let dispatches = self.profile.take().unwrap_or_default();
        result.map(|_| Some(StepProfile { clock: Clock::CpuWall, dispatches }))
    }
}

/// Whether conv node `i` runs the neuron layer after it, in place on its output
/// ([`conv::Fused`]): that layer is its only reader, and neither is in the head (which may be
/// skipped alone).
fn fusable(g: &Graph, i: usize) -> bool {
    let (Some(node), Some(next)) = (g.nodes.get(i), g.nodes.get(i + 1)) else { return false };
    matches!(node.op, Op::Conv(_))
        && matches!(next.op, Op::Neuron(_))
        && next.inputs == [i + 1]
        && next.shape == node.shape
        && !node.head
        && !next.head
        && g.output() != i + 1
        && g.nodes.iter().enumerate().all(|(j, n)| j == i + 1 || !n.inputs.contains(&(i + 1)))
}

/// Whether node `j` is an average pool that the neuron layer before it (run by a conv,
/// [`fusable`]) can run on its pieces ([`conv::Fused::with_pool`]): it reads that layer and
/// nothing else, its windows do not overlap (kernel = stride, no padding), and it is no head.
fn poolable(g: &Graph, j: usize) -> bool {
    let Some(node) = g.nodes.get(j) else { return false };
    matches!(&node.op, Op::AvgPool(p) if p.kernel == p.stride && p.padding == 0 && p.kernel > 0) && node.inputs == [j] && !node.head && node.shape.c == g.nodes[j - 1].shape.c
}

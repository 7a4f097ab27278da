//! The GPU backend: the network's timesteps as WGSL compute shaders through wgpu.
//!
//! Owns the weights ([`model::GpuModel`]), the per-lane neuron state and per-step scratch
//! ([`state`]) and the per-timestep plan ([`plan::Plan`]); the device and the kernels come from
//! [`crate::gpu`]. Activations are channel-last (`[B, H, W, C]`) like the CPU backend's,
//! so output channels of one pixel sit side by side. Each step writes the input frames and the
//! lanes' timestep indices, encodes the plan, submits, and reads back only the logits when
//! asked; spike counts accumulate on the GPU until [`Backend::spike_counts`].

pub mod fusion;
pub mod layer_major;
pub mod model;
pub mod plan;
mod passes;
mod plan_fused;
pub mod profile;
mod sequence;
pub mod state;

use std::sync::Arc;

use super::{Backend, EngineError};
use crate::model::graph::Graph;
use crate::model::layout::{nchw_to_nhwc, nhwc_to_nchw};
pub use crate::gpu::{AdapterSummary, GpuContext, Kernel};
use model::GpuModel;
pub use plan::ConvMode;
use plan::{Plan, packed_values};
use state::{GpuState, Scratch};

pub struct GpuBackend {
    ctx: Arc<GpuContext>,
    model: GpuModel,
    state: GpuState,
    scratch: Scratch,
    plan: Plan,
    /// Host staging for the NCHW → NHWC input transpose.
    input: Vec<f32>,
    /// Per-step logits of a whole sequence and its read-back copy (made for the T last run).
    history: Option<sequence::History>,
    /// The layer-major plan for the T last run, and whether `run` uses it.
    layer_major: Option<layer_major::LayerMajor>,
    prefer_layer_major: bool,
}

impl GpuBackend {
    /// Opens the best GPU adapter ([`GpuContext::new`]) and uploads `graph` for `batch` lanes.
    pub fn new(graph: &Graph, batch: usize) -> Result<Self, EngineError> {
        Self::with_context(GpuContext::new()?, graph, batch, ConvMode::default())
    }

    /// On an already open device (pipelines compiled there are reused).
    pub fn with_context(ctx: Arc<GpuContext>, graph: &Graph, batch: usize, mode: ConvMode) -> Result<Self, EngineError> {
        if batch == 0 {
            return Err(crate::gpu::GpuError::Plan("batch size 0".into()).into());
        }
        let model = GpuModel::upload(&ctx, graph)?;
        let state = GpuState::new(&ctx, graph, batch);
        let fused_bits = if mode == ConvMode::Fused { fusion::Fusion::of(graph).bits } else { Vec::new() };
        let scratch = Scratch::new(&ctx, graph, batch, &packed_values(graph, mode), &fused_bits);
        let plan = Plan::build(&ctx, &model, &state, &scratch, mode)?;
        let input = vec![0.0; batch * graph.input.len()];
        let mut backend = Self { ctx, model, state, scratch, plan, input, history: None, layer_major: None, prefer_layer_major: mode == ConvMode::Fused };
        backend.reset_all();
        Ok(backend)
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn graph(&self) -> &Graph {
        &self.model.graph
    }

    /// The plan's dispatches, in order (labels name kernel and layer).
    pub fn dispatch_labels(&self) -> Vec<&str> {
        self.plan.dispatches.iter().map(|d| d.label.as_str()).collect()
    }

    /// Runs one timestep (with the head) with a timestamp around every dispatch and returns
    /// each dispatch's GPU time in milliseconds. The state advances as in a normal step.
    pub fn profile_step(&mut self, input: &[f32], steps: &[usize]) -> Result<Vec<(String, f64)>, EngineError> {
        self.upload(input, steps)?;
        Ok(profile::time_dispatches(&self.ctx, &self.plan, true)?.into_iter().map(|d| (format!("{} {}", d.op, d.name), d.ms)).collect())
    }

    /// Checks a step's arguments and writes the input frames and lane timesteps.
    fn upload(&mut self, input: &[f32], steps: &[usize]) -> Result<(), EngineError> {
        self.check(input, steps)?;
        let s = self.model.graph.input;
        nchw_to_nhwc(input, &mut self.input, self.state.batch, s.c, s.h * s.w);
        let steps: Vec<u32> = steps.iter().map(|&t| t as u32).collect();
        self.ctx.queue.write_buffer(self.scratch.value(0), 0, bytemuck::cast_slice(&self.input));
        self.ctx.queue.write_buffer(&self.scratch.steps, 0, bytemuck::cast_slice(&steps));
        Ok(())
    }

    fn check(&self, input: &[f32], steps: &[usize]) -> Result<(), EngineError> {
        super::check_step(&self.model.graph, self.state.batch, input, steps)
    }

    /// Reads value `v` (`[B, H, W, C]`) back to the host.
    fn read_value(&self, v: usize) -> Result<Vec<f32>, EngineError> {
        let len = self.state.batch * self.model.graph.value_shape(v).len();
        let bytes = self.ctx.read("value readback", self.scratch.value(v), 0, 4 * len as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn batch(&self) -> usize {
        self.state.batch
    }

    fn reset(&mut self, lanes: &[usize]) {
        let lanes: Vec<usize> = lanes.iter().copied().filter(|&b| b < self.state.batch).collect();
        self.state.reset(&self.ctx, &self.model, &lanes);
    }

    fn step(&mut self, input: &[f32], steps: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
        self.upload(input, steps)?;
        let mut encoder = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timestep") });
        self.plan.encode(&mut encoder, logits);
        if !logits {
            self.ctx.submit(encoder);
            // Reclaim finished submissions without waiting.
            let _ = self.ctx.device.poll(wgpu::PollType::Poll);
            return Ok(None);
        }
        let out = self.scratch.value(self.model.graph.output());
        let bytes = 4 * (self.state.batch * self.model.graph.num_classes()) as u64;
        encoder.copy_buffer_to_buffer(out, 0, &self.scratch.logits, 0, bytes);
        self.ctx.submit(encoder);
        let data = self.ctx.map_and_copy(&self.scratch.logits, bytes)?;
        let mut out = bytemuck::pod_collect_to_vec(&data);
        crate::model::layout::output_to_chw(&mut out, self.model.graph.value_shape(self.model.graph.output()));
        Ok(Some(out))
    }

    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
        let k = self.state.neuron_nodes;
        let bytes = self.ctx.read("spike counts readback", &self.state.counts, 0, 4 * (self.state.batch * k) as u64)?;
        let counts: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok((0..k).map(|j| (0..self.state.batch).map(|b| u64::from(counts[b * k + j])).sum()).collect())
    }

    fn last_spikes(&mut self, node: usize) -> Result<Vec<f32>, EngineError> {
        let s = self.model.graph.nodes[node].shape;
        let nhwc = self.read_value(node + 1)?;
        let mut out = vec![0.0; nhwc.len()];
        nhwc_to_nchw(&nhwc, &mut out, self.state.batch, s.c, s.h * s.w);
        Ok(out)
    }

    fn profile_timestep(&mut self, input: &[f32], steps: &[usize]) -> Result<Option<crate::engine::trace::StepProfile>, EngineError> {
        self.profile_timed(input, steps)
    }

    fn device_memory_bytes(&self) -> Option<u64> {
        Some(self.memory_bytes())
    }

    /// Layer-major where the fused plan and the device's memory allow, else step by step
    /// without waiting; both give the same bits.
    fn run(&mut self, frames: &[f32], timesteps: usize, classes: usize, decode: crate::model::meta::Decode) -> Result<crate::engine::run::RunOutput, EngineError> {
        if self.prefer_layer_major && self.layer_major_fits(timesteps) {
            self.run_layer_major(frames, timesteps, classes, decode)
        } else {
            self.run_sequence(frames, timesteps, classes, decode)
        }
    }

    /// Step by step without waiting (the layer-major order would need T copies of the input).
    fn run_repeated(&mut self, input: &[f32], timesteps: usize, classes: usize, decode: crate::model::meta::Decode) -> Result<crate::engine::run::RunOutput, EngineError> {
        self.run_sequence_with(&|_| input, timesteps, classes, decode)
    }

    fn set_layer_major(&mut self, on: bool) -> bool {
        self.prefer_layer_major = on && self.plan.mode == ConvMode::Fused;
        self.prefer_layer_major == on
    }

    fn plan_stats(&self, head: bool) -> Option<plan::PlanStats> {
        Some(self.plan.stats(head))
    }

    fn io_counts(&self) -> Option<crate::gpu::IoCounts> {
        Some(self.ctx.io_counts())
    }
}

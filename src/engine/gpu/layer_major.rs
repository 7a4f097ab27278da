//! Offline classification in layer-major order (`Backend::run` when all T frames are known):
//! the T·B inputs of a sequence are uploaded once, every layer runs over all of them in one
//! dispatch (T-times larger GEMMs), each neuron layer walks its T steps in one `neuron_steps`
//! dispatch, and the logits of every step and the spike counts come back in one read-back. The
//! result equals the step-major order bit for bit (`plan_fused`'s tiles are chosen for B lanes
//! in both). Sequences whose T·B buffers would not fit the device, or exceed
//! [`MAX_SCRATCH_BYTES`], run step-major instead.

use super::plan::Plan;
use super::state::Scratch;
use super::GpuBackend;
use crate::engine::EngineError;
use crate::model::meta::Decode;
use crate::engine::run::{RunOutput, decode_scores, per_step_len};
use crate::model::graph::Op;
use crate::model::layout::nchw_to_nhwc;

/// The most device memory the T·B activations of one layer-major sequence may take.
pub const MAX_SCRATCH_BYTES: u64 = 1 << 30;

/// The layer-major plan of one sequence length, built on first use and kept.
pub struct LayerMajor {
    timesteps: usize,
    scratch: Scratch,
    plan: Plan,
    readback: wgpu::Buffer,
    input: Vec<f32>,
}

impl LayerMajor {
    /// Dispatches per sequence.
    pub fn dispatches(&self) -> usize {
        self.plan.dispatches.len()
    }
}

impl GpuBackend {
    /// Whether T·B lanes of every activation fit the device and [`MAX_SCRATCH_BYTES`].
    pub fn layer_major_fits(&self, timesteps: usize) -> bool {
        let g = &self.model.graph;
        let lanes = (timesteps * self.state.batch) as u64;
        let limit = self.ctx.device.limits().max_storage_buffer_binding_size;
        let sizes: Vec<u64> = (0..=g.nodes.len())
            .filter(|&v| v == 0 || !matches!(g.nodes[v - 1].op, Op::Flatten))
            .map(|v| 4 * lanes * g.value_shape(v).len() as u64)
            .collect();
        sizes.iter().all(|&s| s <= limit) && sizes.iter().sum::<u64>() <= MAX_SCRATCH_BYTES
    }

    fn layer_major(&mut self, timesteps: usize) -> Result<&mut LayerMajor, EngineError> {
        if self.layer_major.as_ref().is_none_or(|l| l.timesteps != timesteps) {
            self.layer_major = None; // free the old buffers first
            let (g, b) = (&self.model.graph, self.state.batch);
            let lanes = timesteps * b;
            let scratch = Scratch::new(&self.ctx, g, lanes, &vec![false; g.nodes.len() + 1], &[]);
            let steps: Vec<u32> = (0..lanes).map(|l| (l / b) as u32).collect();
            self.ctx.queue.write_buffer(&scratch.steps, 0, bytemuck::cast_slice(&steps));
            let plan = Plan::build_layer_major(&self.ctx, &self.model, &self.state, &scratch, timesteps)?;
            let bytes = 4 * (lanes * g.num_classes() + b * self.state.neuron_nodes) as u64;
            let readback = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("layer-major logits and counts readback"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let input = vec![0.0; lanes * g.input.len()];
            self.layer_major = Some(LayerMajor { timesteps, scratch, plan, readback, input });
        }
        Ok(self.layer_major.as_mut().expect("made above"))
    }

    /// Dispatches of the layer-major plan for `timesteps` (built if needed).
    pub fn layer_major_dispatches(&mut self, timesteps: usize) -> Result<usize, EngineError> {
        Ok(self.layer_major(timesteps)?.dispatches())
    }

    /// See the module doc. `frames` is `[T, B, C, H, W]`.
    pub fn run_layer_major(&mut self, frames: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        per_step_len(frames, timesteps)?;
        let (b, k, nodes) = (self.state.batch, self.model.graph.num_classes(), self.state.neuron_nodes);
        let s = self.model.graph.input;
        if classes != k || frames.len() != timesteps * b * s.len() {
            return Err(EngineError::InputSize { what: format!("[{timesteps}, {b}, {}, {}, {}] frames", s.c, s.h, s.w), expected: timesteps * b * s.len(), got: frames.len() });
        }
        let out_value = self.model.graph.output();
        let lanes: Vec<usize> = (0..b).collect();
        let ctx = self.ctx.clone();
        let lm = self.layer_major(timesteps)?;
        nchw_to_nhwc(frames, &mut lm.input, timesteps * b, s.c, s.h * s.w);
        ctx.queue.write_buffer(lm.scratch.value(0), 0, bytemuck::cast_slice(&lm.input));
        let logits = 4 * (timesteps * b * k) as u64;
        let counts = 4 * (b * nodes) as u64;
        let out = lm.scratch.value(out_value).clone();
        let readback = lm.readback.clone();
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("sequence, layer-major") });
        self.state.encode_reset(&mut encoder, &self.model, &lanes);
        self.layer_major.as_ref().expect("made above").plan.encode(&mut encoder, true);
        encoder.copy_buffer_to_buffer(&out, 0, &readback, 0, logits);
        if counts > 0 {
            encoder.copy_buffer_to_buffer(&self.state.counts, 0, &readback, logits, counts);
        }
        ctx.submit(encoder);
        let bytes = ctx.map_and_copy(&readback, logits + counts)?;
        let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[..logits as usize]);
        crate::model::layout::output_to_chw(&mut values, self.model.graph.value_shape(out_value));
        let per_lane: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[logits as usize..]);
        let all: Vec<Vec<Vec<f32>>> = values.chunks(b * k).map(|step| step.chunks(k).map(<[f32]>::to_vec).collect()).collect();
        let scores = decode_scores(decode, &all, b, k, timesteps);
        let per_step = if decode == Decode::Last { all[timesteps - 1..].to_vec() } else { all };
        let spike_counts = (0..nodes).map(|j| (0..b).map(|l| u64::from(per_lane[l * nodes + j])).sum()).collect();
        Ok(RunOutput { scores, per_step, spike_counts })
    }
}

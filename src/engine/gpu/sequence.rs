//! A whole sequence on the GPU (`Backend::run`): every timestep is uploaded, encoded and
//! submitted without waiting (one submit per step); the head's logits are copied into a
//! per-step history on the device, and everything is read back once at the end. With the fused
//! plan the `mean` decode comes from the logits the head summed on the device; the other plans
//! sum the history on the host in the same order.

use super::GpuBackend;
use super::plan::ConvMode;
use crate::model::meta::Decode;
use crate::engine::run::{RunOutput, decode_scores, head_at, per_step_len};
use crate::engine::EngineError;

/// `[T, B, K]` f32 per-step logits and a `MAP_READ` buffer for them plus the summed logits.
pub struct History {
    timesteps: usize,
    steps: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl GpuBackend {
    fn history(&mut self, timesteps: usize) -> &History {
        let (b, k) = (self.state.batch, self.model.graph.num_classes());
        if self.history.as_ref().is_none_or(|h| h.timesteps != timesteps) {
            let bytes = 4 * (timesteps * b * k).max(1) as u64;
            let steps = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("per-step logits"),
                size: bytes,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let readback = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("sequence logits readback"),
                size: bytes + 4 * (b * k) as u64 + 4 * (b * self.state.neuron_nodes).max(1) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.history = Some(History { timesteps, steps, readback });
        }
        self.history.as_ref().expect("made above")
    }

    /// See the module doc. `frames` is `[T, B, C, H, W]`.
    pub fn run_sequence(&mut self, frames: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        let per = per_step_len(frames, timesteps)?;
        self.run_sequence_with(&|t| &frames[t * per..(t + 1) * per], timesteps, classes, decode)
    }

    /// [`Self::run_sequence`] with step `t`'s input `[B, C, H, W]` from `frame(t)`.
    pub fn run_sequence_with<'a>(&mut self, frame: &dyn Fn(usize) -> &'a [f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        let b = self.state.batch;
        let k = self.model.graph.num_classes();
        if classes != k {
            return Err(EngineError::InputSize { what: "classes of the model's head".into(), expected: k, got: classes });
        }
        let lanes: Vec<usize> = (0..b).collect();
        let row = 4 * (b * k) as u64;
        let out = self.scratch.value(self.model.graph.output()).clone();
        self.history(timesteps);
        let total = 4 * (timesteps * b * k) as u64;
        let counts = 4 * (b * self.state.neuron_nodes) as u64;
        let mut heads = Vec::new();
        for t in 0..timesteps {
            self.upload(frame(t), &vec![t; b])?;
            let head = head_at(decode, t, timesteps);
            let h = self.history.as_ref().expect("made above");
            let mut encoder = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timestep") });
            if t == 0 {
                // The lanes start from the learned initial state: reset inside the first step.
                self.state.encode_reset(&mut encoder, &self.model, &lanes);
            }
            self.plan.encode(&mut encoder, head);
            if head {
                encoder.copy_buffer_to_buffer(&out, 0, &h.steps, heads.len() as u64 * row, row);
                heads.push(t);
            }
            if t + 1 == timesteps {
                let used = heads.len() as u64 * row;
                if used > 0 {
                    encoder.copy_buffer_to_buffer(&h.steps, 0, &h.readback, 0, used);
                }
                // Layout: [T, B, K] logits, [B, K] their device sum, [B, nodes] spike counts.
                encoder.copy_buffer_to_buffer(&self.state.logit_sum, 0, &h.readback, total, row);
                if counts > 0 {
                    encoder.copy_buffer_to_buffer(&self.state.counts, 0, &h.readback, total + row, counts);
                }
            }
            self.ctx.submit(encoder);
        }
        let h = self.history.as_ref().expect("made above");
        let bytes = self.ctx.map_and_copy(&h.readback, total + row + counts)?;
        let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[..(total + row) as usize]);
        crate::model::layout::output_to_chw(&mut values, self.model.graph.value_shape(self.model.graph.output()));
        let lanes: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[(total + row) as usize..]);
        let nodes = self.state.neuron_nodes;
        let spike_counts = (0..nodes).map(|j| (0..b).map(|l| u64::from(lanes[l * nodes + j])).sum()).collect();
        let per_step: Vec<Vec<Vec<f32>>> =
            (0..heads.len()).map(|i| values[i * b * k..(i + 1) * b * k].chunks(k).map(<[f32]>::to_vec).collect()).collect();
        let scores = if self.plan.mode == ConvMode::Fused && decode != Decode::Last {
            // The head summed the logits on the device, in step order.
            let at = (total / 4) as usize;
            values[at..at + b * k].chunks(k).map(|s| s.iter().map(|v| v / timesteps as f32).collect()).collect()
        } else {
            decode_scores(decode, &per_step, b, k, timesteps)
        };
        Ok(RunOutput { scores, per_step, spike_counts })
    }
}

//! Per-dispatch GPU time of one timestep, from timestamp queries (one compute pass per
//! dispatch, a timestamp at its start and end), and the device memory a backend holds. For
//! `bench` and for finding the slow kernel; the normal step path encodes one pass and writes no
//! timestamps.

use super::GpuBackend;
use crate::gpu::GpuContext;
use super::model::NodeWeights;
use super::plan::Plan;
use crate::engine::EngineError;
use crate::engine::trace::{Clock, DispatchTime, StepProfile};

/// GPU time of each dispatch in plan order (the head's only with `head`). `start_ms` counts
/// from the first dispatch's start. An error when the device has no timestamp queries.
pub fn time_dispatches(ctx: &GpuContext, plan: &Plan, head: bool) -> Result<Vec<DispatchTime>, EngineError> {
    if !has_timestamps(ctx) {
        return Err(crate::gpu::GpuError::NoTimestamps { adapter: ctx.summary.name.clone() }.into());
    }
    let dispatches: Vec<_> = plan.dispatches.iter().filter(|d| head || !d.head).collect();
    let count = 2 * dispatches.len().max(1) as u32;
    let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("dispatch timestamps"), ty: wgpu::QueryType::Timestamp, count });
    let bytes = u64::from(count) * u64::from(wgpu::QUERY_SIZE);
    let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("timestamp resolve"),
        size: bytes,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timed timestep") });
    for (i, d) in dispatches.iter().enumerate() {
        let writes = wgpu::ComputePassTimestampWrites {
            query_set: &queries,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&d.label), timestamp_writes: Some(writes) });
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
    }
    encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
    ctx.submit(encoder);
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ctx.read("timestamp readback", &resolve, 0, bytes)?);
    let ms_per_tick = f64::from(ctx.queue.get_timestamp_period()) * 1e-6;
    let origin = ticks.first().copied().unwrap_or(0);
    Ok(dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| {
            // Labels are "<kernel> <layer>" (plan.rs).
            let (op, name) = d.label.split_once(' ').unwrap_or((d.label.as_str(), ""));
            DispatchTime {
                name: name.to_string(),
                op: op.to_string(),
                start_ms: ticks[2 * i].saturating_sub(origin) as f64 * ms_per_tick,
                ms: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * ms_per_tick,
            }
        })
        .collect())
}

fn has_timestamps(ctx: &GpuContext) -> bool {
    ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
}

impl GpuBackend {
    /// [`Backend::profile_timestep`](crate::engine::Backend::profile_timestep): `None` without
    /// timestamp queries.
    pub(super) fn profile_timed(&mut self, input: &[f32], steps: &[usize]) -> Result<Option<StepProfile>, EngineError> {
        if !has_timestamps(&self.ctx) {
            return Ok(None);
        }
        self.upload(input, steps)?;
        let dispatches = time_dispatches(&self.ctx, &self.plan, true)?;
        Ok(Some(StepProfile { clock: Clock::GpuTimestamps, dispatches }))
    }

    /// Bytes of the buffers this backend allocated: weights, neuron state, per-step scratch and
    /// the logits readback (the plan's small uniform parameter blocks are not counted).
    pub fn memory_bytes(&self) -> u64 {
        let weights: u64 = self
            .model
            .nodes
            .iter()
            .map(|n| match n {
                NodeWeights::Conv { weight, bias, scale, consts, .. } => weight.size() + bias.size() + scale.size() + consts.size(),
                NodeWeights::Linear { weight, rows, bias } => weight.size() + rows.size() + bias.size(),
                NodeWeights::Neuron { init, params, .. } => init.size() + params.size(),
                NodeWeights::None => 0,
            })
            .sum();
        let state: u64 = self.state.membranes.iter().flatten().map(wgpu::Buffer::size).sum::<u64>() + self.state.counts.size();
        let s = &self.scratch;
        let scratch = s.buffers.iter().map(wgpu::Buffer::size).sum::<u64>() + s.bits.iter().flatten().map(wgpu::Buffer::size).sum::<u64>() + s.steps.size() + s.logits.size();
        weights + state + scratch
    }
}

//! Per-dispatch GPU time of one timestep, from timestamp queries (one compute pass per
//! dispatch, a timestamp at its start and end). For `bench` and for finding the slow kernel;
//! the normal step path encodes one pass and writes no timestamps.

use super::context::GpuContext;
use super::plan::Plan;
use crate::engine::EngineError;

/// GPU time of each dispatch in plan order: (label, milliseconds).
pub fn time_dispatches(ctx: &GpuContext, plan: &Plan, head: bool) -> Result<Vec<(String, f64)>, EngineError> {
    if !ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Err(EngineError::Gpu(format!("{} has no timestamp queries", ctx.summary.name)));
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
    ctx.queue.submit([encoder.finish()]);
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ctx.read("timestamp readback", &resolve, 0, bytes)?);
    let ns_per_tick = f64::from(ctx.queue.get_timestamp_period());
    Ok(dispatches.iter().enumerate().map(|(i, d)| (d.label.clone(), ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * ns_per_tick * 1e-6)).collect())
}

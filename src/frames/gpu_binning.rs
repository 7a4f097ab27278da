//! Event binning on the GPU: a batch of events and one index range per frame in, count frames
//! `[frames, channels, H, W]` f32 out, equal to [`crate::frames::bin_slices`] (the CPU oracle).
//! Events travel as [`GpuEvent`], a `#[repr(C)]` upload type separate from
//! [`crate::events::Event`]; the kernel (`shaders/bin_events.wgsl`) adds counts with atomics.

use std::ops::Range;
use std::sync::Arc;

use crate::gpu::{Constants, GpuContext, GpuError, Kernel};
use crate::events::{Event, Resolution};
use crate::frames::{FrameError, Frames, Polarity};

/// One event as the GPU reads it (16 bytes): `yp` = y | (p << 16).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuEvent {
    pub t_lo: u32,
    pub t_hi: u32,
    pub x: u32,
    pub yp: u32,
}

impl From<&Event> for GpuEvent {
    fn from(e: &Event) -> Self {
        Self { t_lo: e.t as u32, t_hi: (e.t >> 32) as u32, x: u32::from(e.x), yp: u32::from(e.y) | (u32::from(e.p) << 16) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BinError {
    #[error(transparent)]
    Frames(#[from] FrameError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Bins events for one sensor and polarity mode on one device.
pub struct GpuBinner {
    ctx: Arc<GpuContext>,
    sensor: Resolution,
    polarity: Polarity,
}

impl GpuBinner {
    pub fn new(ctx: Arc<GpuContext>, sensor: Resolution, polarity: Polarity) -> Self {
        Self { ctx, sensor, polarity }
    }

    /// Frame `i` counts `events[ranges[i]]` (ranges may overlap). Errors as `bin_slices`:
    /// an event outside the sensor (the first in range order), or two polarities for `Single`.
    pub fn bin(&self, events: &[Event], ranges: &[Range<usize>]) -> Result<Frames, BinError> {
        let (w, h) = (usize::from(self.sensor.width), usize::from(self.sensor.height));
        let channels = self.polarity.channels();
        if self.polarity == Polarity::Single && events.iter().any(|e| e.p) && events.iter().any(|e| !e.p) {
            return Err(FrameError::TwoPolarities.into());
        }
        let bad_range = |reason: String| FrameError::BadSlicing { what: "events on the GPU", reason };
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > events.len()) {
            return Err(bad_range(format!("range {r:?} is outside the {} events", events.len())).into());
        }
        for r in ranges {
            if let Some(k) = events[r.clone()].iter().position(|e| usize::from(e.x) >= w || usize::from(e.y) >= h) {
                return Err(FrameError::OutsideSensor { index: r.start + k, event: events[r.start + k], width: w, height: h }.into());
            }
        }
        let mut frames = Frames::zeros(ranges.len(), channels, h, w);
        let total: usize = ranges.iter().map(|r| r.len()).sum();
        if total == 0 {
            return Ok(frames);
        }
        if total > u32::MAX as usize || frames.data.len() > u32::MAX as usize {
            return Err(bad_range(format!("{total} events into {} values is too many for one batch", frames.data.len())).into());
        }
        // Upload only the events the ranges cover.
        let base = ranges.iter().filter(|r| !r.is_empty()).map(|r| r.start).min().unwrap_or(0);
        let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
        let upload: Vec<GpuEvent> = events[base..end].iter().map(GpuEvent::from).collect();
        let mut first = 0u32;
        let table: Vec<[u32; 4]> = ranges
            .iter()
            .map(|r| {
                let row = [r.start.saturating_sub(base) as u32, r.len() as u32, first, 0];
                first += r.len() as u32;
                row
            })
            .collect();

        let ctx = &self.ctx;
        let plane = w * h;
        let on_offset = if self.polarity == Polarity::Split { plane } else { 0 };
        let params = ctx.uniform("bin_events params", &[w as u32, h as u32, (channels * plane) as u32, on_offset as u32, ranges.len() as u32, total as u32]);
        let events_buf = ctx.storage_init("bin_events events", &upload);
        let ranges_buf = ctx.storage_init("bin_events ranges", &table);
        let counts = ctx.storage("bin_events counts", frames.data.len());
        let out = ctx.storage("bin_events frames", frames.data.len());
        let convert_params = ctx.uniform("counts_to_f32 params", &[frames.data.len() as u32]);

        let bin = ctx.pipeline(Kernel::BinEvents, &Constants::default());
        let convert = ctx.pipeline(Kernel::CountsToF32, &Constants::default());
        let bin_group = ctx.bind("bin_events", &bin, &[&params, &events_buf, &ranges_buf, &counts]);
        let convert_group = ctx.bind("counts_to_f32", &convert, &[&convert_params, &counts, &out]);
        let groups = |n: usize| n.div_ceil(256).clamp(1, 65_535) as u32;
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("bin events") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("bin events"), timestamp_writes: None });
            pass.set_pipeline(&bin);
            pass.set_bind_group(0, &bin_group, &[]);
            pass.dispatch_workgroups(groups(total), 1, 1);
            pass.set_pipeline(&convert);
            pass.set_bind_group(0, &convert_group, &[]);
            pass.dispatch_workgroups(groups(frames.data.len()), 1, 1);
        }
        ctx.submit(encoder);
        let bytes = ctx.read("bin_events readback", &out, 0, 4 * frames.data.len() as u64)?;
        frames.data = bytemuck::pod_collect_to_vec(&bytes);
        Ok(frames)
    }
}

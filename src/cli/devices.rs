//! `spikestream devices [--json]`: the GPU adapters wgpu sees (backend, type, driver, limits),
//! which one `--backend auto` picks and why ([`spikestream::gpu::adapter`]'s rule).

use std::process::ExitCode;

use clap::Args;
use spikestream::gpu::{AdapterRequest, GpuContext, adapter::is_software};

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[arg(long)]
    pub json: bool,
    /// List USB event cameras instead (a build with --features camera).
    #[arg(long)]
    pub cameras: bool,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    if args.cameras {
        return super::stream::list_cameras(args.json);
    }
    let (choice, adapters) = GpuContext::choice(&AdapterRequest::from_env_or(AdapterRequest::Auto))?;
    let chosen = choice.index.map(|i| adapters[i].name.clone());
    if args.json {
        let list: Vec<serde_json::Value> = adapters
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name, "backend": format!("{:?}", a.backend), "type": format!("{:?}", a.device_type), "driver": a.driver,
                    "max_storage_buffer_binding_size": a.max_storage_buffer_binding_size, "max_buffer_size": a.max_buffer_size,
                    "max_compute_invocations_per_workgroup": a.max_compute_invocations_per_workgroup,
                    "max_storage_buffers_per_shader_stage": a.max_storage_buffers_per_shader_stage, "timestamp_queries": a.timestamps, "software": is_software(a),
                })
            })
            .collect();
        let auto = chosen.clone().unwrap_or_else(|| "cpu".into());
        outln!("{}", serde_json::json!({"adapters": list, "auto": auto, "auto_reason": choice.reason}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if adapters.is_empty() {
        outln!("no GPU adapter found; spikestream runs on the CPU backend (install a Vulkan driver, e.g. mesa-vulkan-drivers for lavapipe)")?;
    }
    for a in &adapters {
        let soft = if is_software(a) { ", software rasterizer" } else { "" };
        outln!("{} ({:?}, {:?}{soft}, driver {})", a.name, a.backend, a.device_type, a.driver)?;
        outln!(
            "    max storage binding {} MiB, max buffer {} MiB, {} invocations/workgroup, {} storage buffers/stage, timestamp queries {}",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_compute_invocations_per_workgroup,
            a.max_storage_buffers_per_shader_stage,
            if a.timestamps { "yes" } else { "no" }
        )?;
    }
    match chosen {
        Some(name) => outln!("--backend auto uses: {name} ({})", choice.reason)?,
        None => outln!("--backend auto uses the CPU backend: {}", choice.reason)?,
    }
    outln!("(probed: Vulkan, Metal, DX12; set WGPU_BACKEND=gl to probe OpenGL)")?;
    Ok(ExitCode::SUCCESS)
}

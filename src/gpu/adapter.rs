//! Which adapter a run uses: the one rule behind `--backend auto|gpu`, `--adapter NAME`,
//! `devices` and the trainer's `--device auto`.
//!
//! - Vulkan, Metal and DX12 are probed; GL only when `WGPU_BACKEND` asks for it (probing GL
//!   through EGL prints warnings and finds nothing a native API does not).
//! - `auto` takes the best hardware adapter (discrete, integrated, virtual GPU). A software
//!   rasterizer (llvmpipe/lavapipe, SwiftShader, WARP) runs the WGSL correctly but on the CPU,
//!   20–35× slower than the CPU backend, so `auto` never picks it: it falls back to the CPU
//!   backend and says why.
//! - `--backend gpu` takes the best adapter of any kind (software included); `--adapter NAME`
//!   (or `WGPU_ADAPTER_NAME`) the first whose name contains NAME, any kind.

use super::context::AdapterSummary;
use super::error::GpuError;

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterRequest {
    /// Hardware only; `None` from [`choose`] means "use the CPU backend".
    Auto,
    /// Any adapter, best first (software rasterizers included).
    Any,
    /// The first adapter whose name contains this (case-insensitive), any kind.
    Named(String),
}

impl AdapterRequest {
    /// `Named` when `WGPU_ADAPTER_NAME` is set (non-empty), else `default`.
    pub fn from_env_or(default: AdapterRequest) -> Self {
        match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(name) if !name.trim().is_empty() => AdapterRequest::Named(name),
            _ => default,
        }
    }
}

/// Keeps adapter probing quiet on a machine without a display. Probing Vulkan makes Mesa's
/// drivers ask libwayland for a display, which prints "XDG_RUNTIME_DIR is invalid or not set" on
/// every run where that variable is unset; spikestream draws nothing, so where neither it nor
/// `WAYLAND_DISPLAY` is set, `WAYLAND_DISPLAY` points at a socket path that does not exist and the
/// lookup fails silently. Call it first thing in `main`, before any thread starts (it changes the
/// environment).
pub fn quiet_headless_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        // SAFETY: called at the start of `main`, while the process has one thread.
        unsafe { std::env::set_var("WAYLAND_DISPLAY", "/nonexistent/spikestream-has-no-display") };
    }
}

/// The APIs probed: Vulkan, Metal, DX12, or what `WGPU_BACKEND` names (e.g. `gl`).
pub fn backends() -> wgpu::Backends {
    wgpu::Backends::PRIMARY.with_env()
}

/// A CPU rasterizer: reported as `Cpu`, or known by name where a driver reports otherwise.
pub fn is_software(a: &AdapterSummary) -> bool {
    let name = a.name.to_lowercase();
    a.device_type == wgpu::DeviceType::Cpu || ["llvmpipe", "lavapipe", "swiftshader", "basic render driver", "warp"].iter().any(|s| name.contains(s))
}

/// Higher is better: real GPUs before software ones, native APIs before GL.
pub fn rank(a: &AdapterSummary) -> (u8, u8) {
    let kind = match a.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    };
    let kind = if is_software(a) { 0 } else { kind };
    let api = match a.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 1,
        _ => 0,
    };
    (kind, api)
}

/// The decision and its reason, as `devices` and the notices print it.
#[derive(Clone, Debug)]
pub struct Choice {
    /// Index into the adapter list given to [`choose`]; `None` = the CPU backend.
    pub index: Option<usize>,
    pub reason: String,
}

/// Applies the rule to `adapters` (any order). `Err` only for a request that cannot be met
/// (`Any` with no adapter, `Named` with no match).
pub fn choose(adapters: &[AdapterSummary], request: &AdapterRequest) -> Result<Choice, GpuError> {
    let mut order: Vec<usize> = (0..adapters.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rank(&adapters[i])));
    let describe = |i: usize| format!("{} ({:?}, {:?})", adapters[i].name, adapters[i].backend, adapters[i].device_type);
    match request {
        AdapterRequest::Named(want) => {
            let w = want.to_lowercase();
            let i = order.iter().copied().find(|&i| adapters[i].name.to_lowercase().contains(&w));
            let i = i.ok_or_else(|| GpuError::AdapterNotFound { want: want.clone(), found: adapters.iter().map(|a| a.name.clone()).collect() })?;
            Ok(Choice { index: Some(i), reason: format!("{} matches the adapter asked for ({want:?})", describe(i)) })
        }
        AdapterRequest::Any => {
            let i = *order.first().ok_or(GpuError::NoAdapter)?;
            let soft = if is_software(&adapters[i]) { ", a software rasterizer: the CPU runs the shaders" } else { "" };
            Ok(Choice { index: Some(i), reason: format!("{} is the best adapter{soft}", describe(i)) })
        }
        AdapterRequest::Auto => {
            if let Some(i) = order.iter().copied().find(|&i| !is_software(&adapters[i])) {
                return Ok(Choice { index: Some(i), reason: format!("{} is a hardware GPU", describe(i)) });
            }
            let soft: Vec<&str> = adapters.iter().filter(|a| is_software(a)).map(|a| a.name.as_str()).collect();
            let reason = if soft.is_empty() {
                "no GPU adapter found".to_string()
            } else {
                format!(
                    "no hardware GPU; {} is a software rasterizer, slower than the CPU backend (--backend gpu uses it)",
                    soft.join(", ")
                )
            };
            Ok(Choice { index: None, reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: wgpu::DeviceType, backend: wgpu::Backend) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend,
            device_type,
            driver: String::new(),
            max_storage_buffer_binding_size: 1 << 27,
            max_buffer_size: 1 << 28,
            max_compute_invocations_per_workgroup: 256,
            max_storage_buffers_per_shader_stage: 8,
            timestamps: false,
        }
    }

    #[test]
    fn auto_never_picks_a_software_rasterizer() {
        let list = [adapter("llvmpipe (LLVM 19.1.7, 256 bits)", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan)];
        let c = choose(&list, &AdapterRequest::Auto).unwrap();
        assert_eq!(c.index, None);
        assert!(c.reason.contains("llvmpipe") && c.reason.contains("software"), "{}", c.reason);
        // Asked for explicitly, it is used.
        assert_eq!(choose(&list, &AdapterRequest::Any).unwrap().index, Some(0));
        assert_eq!(choose(&list, &AdapterRequest::Named("LLVMPIPE".into())).unwrap().index, Some(0));
    }

    #[test]
    fn auto_prefers_hardware_and_native_apis() {
        let list = [
            adapter("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan),
            adapter("Intel(R) UHD 770", wgpu::DeviceType::IntegratedGpu, wgpu::Backend::Gl),
            adapter("NVIDIA H100", wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan),
            adapter("Intel(R) UHD 770", wgpu::DeviceType::IntegratedGpu, wgpu::Backend::Vulkan),
        ];
        assert_eq!(choose(&list, &AdapterRequest::Auto).unwrap().index, Some(2));
        assert_eq!(choose(&list[..2], &AdapterRequest::Auto).unwrap().index, Some(1));
        assert_eq!(choose(&[list[1].clone(), list[3].clone()], &AdapterRequest::Auto).unwrap().index, Some(1));
        // SwiftShader reports itself as a CPU on some drivers and as Other on others.
        let swift = [adapter("SwiftShader Device (Subzero)", wgpu::DeviceType::Other, wgpu::Backend::Vulkan)];
        assert_eq!(choose(&swift, &AdapterRequest::Auto).unwrap().index, None);
    }

    #[test]
    fn impossible_requests_name_what_exists() {
        assert!(matches!(choose(&[], &AdapterRequest::Any), Err(GpuError::NoAdapter)));
        assert_eq!(choose(&[], &AdapterRequest::Auto).unwrap().reason, "no GPU adapter found");
        let list = [adapter("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan)];
        let e = choose(&list, &AdapterRequest::Named("radeon".into())).unwrap_err().to_string();
        assert!(e.contains("radeon") && e.contains("llvmpipe"), "{e}");
    }
}

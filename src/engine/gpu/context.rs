//! The GPU device: instance, adapter, device, queue and the pipeline cache, plus the few
//! buffer helpers every other part uses. It knows kernels only by [`Kernel`] and constants,
//! nothing about networks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::kernel::{Constants, Kernel};
use crate::engine::EngineError;

/// One adapter as `spikestream devices` lists it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    pub driver: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_shader_stage: u32,
    pub timestamps: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}, {:?}{}): storage binding {} MiB, buffer {} MiB, {} invocations/workgroup, {} storage buffers/stage{}",
            self.name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() { String::new() } else { format!(", {}", self.driver) },
            self.max_storage_buffer_binding_size >> 20,
            self.max_buffer_size >> 20,
            self.max_compute_invocations_per_workgroup,
            self.max_storage_buffers_per_shader_stage,
            if self.timestamps { ", timestamps" } else { "" },
        )
    }
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let (info, limits) = (adapter.get_info(), adapter.limits());
        Self {
            name: info.name,
            backend: info.backend,
            device_type: info.device_type,
            driver: [info.driver, info.driver_info].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" "),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            timestamps: adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }
}

type PipelineKey = (Kernel, Constants);

/// Adapter, device, queue and compiled pipelines. Shared (`Arc`) by every backend and binner
/// made on it, so each pipeline compiles once per process.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    modules: Mutex<HashMap<Kernel, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

/// Instance with the backends `WGPU_BACKEND` allows (all by default).
fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Higher is better: real GPUs before software ones, native APIs before GL.
fn rank(adapter: &wgpu::Adapter) -> (u8, u8) {
    let info = adapter.get_info();
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 1,
        _ => 0,
    };
    (kind, api)
}

const NO_ADAPTER: &str = "no GPU adapter found: install a Vulkan driver (on Debian/Ubuntu without a GPU, \
    Mesa lavapipe: scripts/setup-lavapipe.sh), check WGPU_BACKEND / WGPU_ADAPTER_NAME, or use --backend cpu";

impl GpuContext {
    /// Every adapter wgpu finds (restricted by `WGPU_BACKEND`), best first.
    pub fn adapters() -> Vec<AdapterSummary> {
        let mut all = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
        all.sort_by_key(|a| std::cmp::Reverse(rank(a)));
        all.iter().map(AdapterSummary::of).collect()
    }

    /// Opens the best adapter, or the first whose name contains `WGPU_ADAPTER_NAME`
    /// (case-insensitive); `WGPU_BACKEND` (vulkan, metal, dx12, gl) limits the APIs tried.
    pub fn new() -> Result<Arc<Self>, EngineError> {
        let mut all = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
        all.sort_by_key(|a| std::cmp::Reverse(rank(a)));
        let adapter = match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(want) if !want.is_empty() => {
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                let found = all.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&want.to_lowercase()));
                found.ok_or_else(|| EngineError::Gpu(format!("no adapter name contains WGPU_ADAPTER_NAME={want:?}; found {names:?}")))?
            }
            _ => all.into_iter().next().ok_or_else(|| EngineError::Gpu(NO_ADAPTER.into()))?,
        };
        Self::with_adapter(adapter)
    }

    /// Whether [`GpuContext::new`] failed because there is no adapter at all.
    pub fn is_no_adapter(error: &EngineError) -> bool {
        matches!(error, EngineError::Gpu(m) if m == NO_ADAPTER)
    }

    pub fn with_adapter(adapter: wgpu::Adapter) -> Result<Arc<Self>, EngineError> {
        let summary = AdapterSummary::of(&adapter);
        // Only what the engine uses: timestamps for `bench` where the adapter has them.
        let required_features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("spikestream"),
            required_features,
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| EngineError::Gpu(format!("cannot open {}: {e}", summary.name)))?;
        Ok(Arc::new(Self { adapter, device, queue, summary, modules: Mutex::default(), pipelines: Mutex::default() }))
    }

    /// `name (API, type)`.
    pub fn describe(&self) -> String {
        format!("gpu: {} ({:?}, {:?})", self.summary.name, self.summary.backend, self.summary.device_type)
    }

    /// The pipeline of `kernel` specialised with `constants`, compiled on first use.
    pub fn pipeline(&self, kernel: Kernel, constants: &Constants) -> wgpu::ComputePipeline {
        let key = (kernel, constants.clone());
        if let Some(p) = self.pipelines.lock().expect("pipeline cache lock").get(&key) {
            return p.clone();
        }
        let module = self
            .modules
            .lock()
            .expect("shader module lock")
            .entry(kernel)
            .or_insert_with(|| {
                self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.name()),
                    source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                })
            })
            .clone();
        let label = format!("{} [{constants}]", kernel.name());
        let values = constants.as_wgpu();
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: None,
            module: &module,
            entry_point: Some(Kernel::ENTRY),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &values, zero_initialize_workgroup_memory: true },
            cache: None,
        });
        self.pipelines.lock().expect("pipeline cache lock").entry(key).or_insert(pipeline).clone()
    }

    /// Number of pipelines compiled so far.
    pub fn pipelines_compiled(&self) -> usize {
        self.pipelines.lock().expect("pipeline cache lock").len()
    }

    /// A zeroed storage buffer of `len` 4-byte words (at least one).
    pub fn storage(&self, label: &str, words: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: 4 * words.max(1) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data` (at least one word).
    pub fn storage_init<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let padded;
        let contents = if bytes.is_empty() {
            padded = [0u8; 4];
            &padded[..]
        } else {
            bytes
        };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        })
    }

    /// A uniform buffer of u32 parameters, padded to 16 bytes.
    pub fn uniform(&self, label: &str, words: &[u32]) -> wgpu::Buffer {
        let mut data = words.to_vec();
        data.resize(words.len().div_ceil(4).max(1) * 4, 0);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(&data),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    /// Bind group 0 of `pipeline` with `buffers` at bindings 0, 1, … (whole buffers).
    pub fn bind(&self, label: &str, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> =
            buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout: &pipeline.get_bind_group_layout(0), entries: &entries })
    }

    /// Copies `bytes` bytes of `src` from `offset` to the host (one submit and a wait).
    pub fn read(&self, label: &str, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>, EngineError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        if bytes > 0 {
            encoder.copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
        }
        self.queue.submit([encoder.finish()]);
        self.map_and_copy(&staging, bytes)
    }

    /// Maps a `MAP_READ` buffer (waiting for the queue) and copies its first `bytes` bytes out.
    pub fn map_and_copy(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, EngineError> {
        let gpu = |e: &dyn std::fmt::Display| EngineError::Gpu(format!("reading back: {e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let slice = staging.slice(..bytes.max(4));
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| gpu(&e))?;
        rx.recv().map_err(|e| gpu(&e))?.map_err(|e| gpu(&e))?;
        let out = slice.get_mapped_range().map_err(|e| gpu(&e))?[..bytes as usize].to_vec();
        staging.unmap();
        Ok(out)
    }
}

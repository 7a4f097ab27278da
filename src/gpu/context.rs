//! The GPU device: instance, adapter, device, queue and the pipeline cache, plus the few
//! buffer helpers every other part uses. It knows kernels only by [`Kernel`] and constants,
//! nothing about networks. Which adapter opens is [`super::adapter`]'s rule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::adapter::{self, AdapterRequest, Choice};
use super::error::GpuError;
use super::kernel::{Constants, Kernel};

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
    pub fn of(adapter: &wgpu::Adapter) -> Self {
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
    counters: Counters,
}

/// Queue submissions and blocking read-backs since the device opened: `bench` divides them
/// by the steps it ran, so the per-step numbers are counted, not assumed.
#[derive(Debug, Default)]
struct Counters {
    submits: std::sync::atomic::AtomicU64,
    readbacks: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`GpuContext::io_counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounts {
    pub submits: u64,
    pub readbacks: u64,
}

/// Instance with the APIs [`adapter::backends`] allows.
fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = adapter::backends();
    wgpu::Instance::new(desc.with_env())
}

fn enumerate() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(adapter::backends()))
}

impl GpuContext {
    /// Every adapter wgpu finds on the probed APIs, best first.
    pub fn adapters() -> Vec<AdapterSummary> {
        let mut all: Vec<AdapterSummary> = enumerate().iter().map(AdapterSummary::of).collect();
        all.sort_by_key(|a| std::cmp::Reverse(adapter::rank(a)));
        all
    }

    /// What [`GpuContext::open`] would do for `request`, without opening a device.
    pub fn choice(request: &AdapterRequest) -> Result<(Choice, Vec<AdapterSummary>), GpuError> {
        let all = Self::adapters();
        Ok((adapter::choose(&all, request)?, all))
    }

    /// Opens the adapter `request` selects; `Ok(None)` when `Auto` finds no hardware GPU (the
    /// caller runs on the CPU backend; the [`Choice`] says why).
    pub fn open(request: &AdapterRequest) -> Result<(Option<Arc<Self>>, Choice), GpuError> {
        let adapters = enumerate();
        let summaries: Vec<AdapterSummary> = adapters.iter().map(AdapterSummary::of).collect();
        let choice = adapter::choose(&summaries, request)?;
        let Some(i) = choice.index else { return Ok((None, choice)) };
        let picked = adapters.into_iter().nth(i).expect("choice indexes the list");
        Ok((Some(Self::with_adapter(picked)?), choice))
    }

    /// An explicit GPU request: `WGPU_ADAPTER_NAME` if set, else the best adapter of any kind
    /// (software rasterizers included: this is how tests run the WGSL on lavapipe).
    pub fn new() -> Result<Arc<Self>, GpuError> {
        let (ctx, _) = Self::open(&AdapterRequest::from_env_or(AdapterRequest::Any))?;
        ctx.ok_or(GpuError::NoAdapter)
    }

    pub fn with_adapter(adapter: wgpu::Adapter) -> Result<Arc<Self>, GpuError> {
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
        .map_err(|e| GpuError::OpenDevice { adapter: summary.name.clone(), reason: e.to_string() })?;
        Ok(Arc::new(Self { adapter, device, queue, summary, modules: Mutex::default(), pipelines: Mutex::default(), counters: Counters::default() }))
    }

    /// Submits one command buffer (counted).
    pub fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.counters.submits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.queue.submit([encoder.finish()]);
    }

    /// Submissions and read-backs so far.
    pub fn io_counts(&self) -> IoCounts {
        use std::sync::atomic::Ordering::Relaxed;
        IoCounts { submits: self.counters.submits.load(Relaxed), readbacks: self.counters.readbacks.load(Relaxed) }
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

    /// A uniform buffer holding one `#[repr(C)]` parameter struct (4-byte fields).
    pub fn uniform_struct<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(bytemuck::bytes_of(value));
        self.uniform(label, &words)
    }

    /// Bind group 0 of `pipeline` with `buffers` at bindings 0, 1, … (whole buffers).
    pub fn bind(&self, label: &str, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> =
            buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout: &pipeline.get_bind_group_layout(0), entries: &entries })
    }

    /// Copies `bytes` bytes of `src` from `offset` to the host (one submit and a wait).
    pub fn read(&self, label: &str, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>, GpuError> {
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
        self.submit(encoder);
        self.map_and_copy(&staging, bytes)
    }

    /// Maps a `MAP_READ` buffer (waiting for the queue) and copies its first `bytes` bytes out.
    pub fn map_and_copy(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        self.counters.readbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let gpu = |e: &dyn std::fmt::Display| GpuError::Readback(e.to_string());
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

//! Arguments shared by the commands that load a model, resolved into a [`Model`] and a backend.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuBackend};
use spikestream::gpu::{AdapterRequest, GpuContext};
use spikestream::model::{Graph, MetaOverrides, Model};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU backend (a one-line notice names the choice).
    /// Software rasterizers (llvmpipe) are slower than the CPU backend and only used when asked.
    Auto,
    /// The best GPU adapter of any kind, software rasterizers included.
    Gpu,
    Cpu,
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model file (safetensors with spikestream metadata), or a NIR graph (.nir).
    pub model_file: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Run on the GPU adapter whose name contains NAME (any kind; see `spikestream devices`).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Metadata the file lacks: architecture (vgg11_48_legacy, vgg11_dvs, sew_resnet18, graph).
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long)]
    pub timesteps: Option<usize>,
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// Per-timestep input CxHxW, e.g. 2x48x48.
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Class names as a JSON list.
    #[arg(long)]
    pub classes: Option<String>,
    /// Framing as JSON, e.g. '{"split_by":"number","resize":"48x48"}'.
    #[arg(long)]
    pub framing: Option<String>,
    #[command(flatten)]
    pub nir: super::nir::NirArgs,
}

impl ModelArgs {
    pub fn overrides(&self) -> MetaOverrides {
        let mut o = MetaOverrides::default();
        if let Some(v) = &self.arch {
            o.set("arch", v);
        }
        if let Some(v) = self.timesteps {
            o.set("timesteps", v.to_string());
        }
        if let Some(v) = self.num_classes {
            o.set("num_classes", v.to_string());
        }
        if let Some(v) = &self.input_shape {
            o.set("input", v);
        }
        if let Some(v) = &self.classes {
            o.set("classes", v);
        }
        if let Some(v) = &self.framing {
            o.set("framing", v);
        }
        self.nir.apply(&mut o);
        o
    }

    pub fn load(&self) -> anyhow::Result<Model> {
        Model::load(&self.model_file, &self.overrides()).with_context(|| "cannot load the model".to_string())
    }
}

impl ModelArgs {
    /// The backend these arguments ask for (`--adapter` implies the GPU).
    pub fn open_backend(&self, graph: &Graph, batch: usize, notice: bool) -> anyhow::Result<Box<dyn Backend>> {
        open_backend_on(self.backend, self.adapter.as_deref(), graph, batch, notice, ConvMode::default())
    }
}

/// The backend asked for, without a named adapter.
pub fn open_backend(choice: BackendChoice, graph: &Graph, batch: usize, notice: bool) -> anyhow::Result<Box<dyn Backend>> {
    open_backend_on(choice, None, graph, batch, notice, ConvMode::default())
}

/// Applies [`spikestream::gpu::adapter`]'s rule. `auto` prints one notice line naming the
/// choice and why (`notice` = print it); `gpu` and `--adapter` fail when they cannot be met.
pub fn open_backend_on(choice: BackendChoice, adapter: Option<&str>, graph: &Graph, batch: usize, notice: bool, mode: ConvMode) -> anyhow::Result<Box<dyn Backend>> {
    let request = match (choice, adapter) {
        (BackendChoice::Cpu, Some(_)) => anyhow::bail!("--adapter names a GPU adapter; it cannot be combined with --backend cpu"),
        (BackendChoice::Cpu, None) => return Ok(Box::new(CpuBackend::new(graph, batch))),
        (_, Some(name)) => AdapterRequest::Named(name.to_string()),
        (BackendChoice::Gpu, None) => AdapterRequest::from_env_or(AdapterRequest::Any),
        (BackendChoice::Auto, None) => AdapterRequest::from_env_or(AdapterRequest::Auto),
    };
    let (ctx, why) = GpuContext::open(&request)?;
    let Some(ctx) = ctx else {
        if notice {
            eprintln!("notice: running on the CPU backend: {}", why.reason);
        }
        return Ok(Box::new(CpuBackend::new(graph, batch)));
    };
    if notice && choice == BackendChoice::Auto {
        eprintln!("notice: running on the GPU: {}", why.reason);
    }
    Ok(Box::new(GpuBackend::with_context(ctx, graph, batch, mode)?))
}

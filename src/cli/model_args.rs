//! Arguments shared by the commands that load a model, resolved into a [`Model`] and a backend.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use spikestream::engine::Backend;
use spikestream::engine::cpu::CpuBackend;
use spikestream::model::{Graph, MetaOverrides, Model};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BackendChoice {
    /// The best GPU adapter, else the CPU backend (with a notice).
    Auto,
    Gpu,
    Cpu,
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model file (safetensors with spikestream metadata).
    pub model_file: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
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
        o
    }

    pub fn load(&self) -> anyhow::Result<Model> {
        Model::load(&self.model_file, &self.overrides()).with_context(|| "cannot load the model".to_string())
    }
}

/// The backend asked for. `auto` falls back to the CPU with a one-line notice when no GPU
/// adapter can be used (`notice` = print it).
pub fn open_backend(choice: BackendChoice, graph: &Graph, batch: usize, notice: bool) -> anyhow::Result<Box<dyn Backend>> {
    match choice {
        BackendChoice::Cpu => Ok(Box::new(CpuBackend::new(graph, batch))),
        BackendChoice::Gpu => gpu(graph, batch),
        BackendChoice::Auto => match gpu(graph, batch) {
            Ok(b) => Ok(b),
            Err(e) => {
                if notice {
                    eprintln!("notice: no usable GPU ({e:#}); running on the CPU backend");
                }
                Ok(Box::new(CpuBackend::new(graph, batch)))
            }
        },
    }
}

fn gpu(graph: &Graph, batch: usize) -> anyhow::Result<Box<dyn Backend>> {
    Ok(Box::new(spikestream::engine::gpu::GpuBackend::new(graph, batch)?))
}

//! Arguments shared by the commands that load a model, resolved into a [`Model`], a backend or
//! a [`Session`] (which applies the backend rule: `spikestream::engine::session::backend`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use spikestream::engine::Backend;
use spikestream::engine::gpu::ConvMode;
use spikestream::engine::session::backend;
use spikestream::model::{Graph, MetaOverrides, Model};
use spikestream::{Session, SessionOptions};

pub use spikestream::BackendChoice;
pub use spikestream::engine::cpu::Precision;

/// `--precision`, for the commands that run the engine (classify, stream, bench).
#[derive(Args, Debug, Clone, Copy)]
pub struct PrecisionArg {
    /// Weight precision of the CPU backend: f32 (bit-exact), or bf16/f16 (weights rounded to
    /// nearest even and stored in 16 bits, sums in f32; CPU only, `auto` then runs on the CPU).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
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
    /// A session on the model with these arguments' backend, adapter and metadata; `options`
    /// gives the rest. The backend notice is printed when `notice`.
    pub fn open_session(&self, options: SessionOptions, notice: bool) -> anyhow::Result<Session> {
        let options = SessionOptions { backend: self.backend, adapter: self.adapter.clone(), overrides: self.overrides(), ..options };
        let session = Session::open(&self.model_file, options)?;
        if let (true, Some(line)) = (notice, session.backend_notice()) {
            eprintln!("{line}");
        }
        Ok(session)
    }
}

/// [`backend::open`], printing its notice when `notice` (`auto` names the choice and why;
/// `gpu` and `--adapter` fail when they cannot be met).
pub fn open_backend_on(choice: BackendChoice, adapter: Option<&str>, graph: &Graph, batch: usize, notice: bool, mode: ConvMode, precision: Precision) -> anyhow::Result<Box<dyn Backend>> {
    let (backend, line) = backend::open(choice, adapter, graph, batch, mode, precision)?;
    if let (true, Some(line)) = (notice, line) {
        eprintln!("{line}");
    }
    Ok(backend)
}

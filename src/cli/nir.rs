//! `import-nir IN.nir OUT.safetensors`, and the `--dt` / `--nir-semantics` arguments every
//! command that loads a model takes for a `.nir` file (they travel to
//! [`spikestream::model::Model::load`] as the metadata overrides `nir_dt` and `nir_semantics`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use spikestream::model::{MetaOverrides, Model};
use spikestream::nir::{DT_KEY, ImportOptions, SEMANTICS_KEY, Semantics};
use spikestream::output::{AtomicOutput, refuse_same_file};

/// How a NIR file's continuous-time neurons become the engine's discrete ones.
#[derive(Args, Debug, Clone, Default)]
pub struct NirArgs {
    /// Seconds per timestep for a .nir model's leaky neurons (default: the file's metadata `dt`).
    #[arg(long, value_name = "SECONDS")]
    pub dt: Option<f64>,
    /// The framework that exported a .nir model, which fixes the threshold comparison and the
    /// reset NIR leaves open: snntorch, norse, spikingjelly, sinabs (as its from_nir builds: several
    /// spikes per step, IF floored at −θ) or sinabs-single (one spike per step) (README, "NIR").
    #[arg(long, value_name = "FRAMEWORK", value_parser = parse_semantics)]
    pub nir_semantics: Option<Semantics>,
}

fn parse_semantics(s: &str) -> Result<Semantics, String> {
    Semantics::parse(s).ok_or_else(|| format!("'{s}': one of {}", Semantics::NAMES.join(", ")))
}

impl NirArgs {
    /// Adds the options to `overrides` as the model loader reads them.
    pub fn apply(&self, overrides: &mut MetaOverrides) {
        if let Some(dt) = self.dt {
            overrides.set(DT_KEY, dt.to_string());
        }
        if let Some(s) = self.nir_semantics {
            overrides.set(SEMANTICS_KEY, s.name());
        }
    }
}

#[derive(Args, Debug)]
pub struct ImportNirArgs {
    /// The NIR graph (HDF5, as `nir.write` makes it).
    pub input: PathBuf,
    /// The model file to write (safetensors with a `graph`, the NIR metadata and the discretisation).
    pub output: PathBuf,
    #[command(flatten)]
    pub nir: NirArgs,
    /// Timesteps to record in the model file (NIR has none; else give --timesteps when running it).
    #[arg(long)]
    pub timesteps: Option<usize>,
}

pub fn run_import(args: ImportNirArgs) -> anyhow::Result<ExitCode> {
    let name = args.input.display().to_string();
    let bytes = std::fs::read(&args.input).with_context(|| format!("{name}: cannot read"))?;
    let options = ImportOptions { dt: args.nir.dt, semantics: args.nir.nir_semantics, timesteps: args.timesteps };
    if let Some(t) = args.timesteps {
        spikestream::limits::count(|| "--timesteps".into(), t as u64, spikestream::limits::MAX_TIMESTEPS)?;
    }
    let model_bytes = spikestream::nir::to_model_bytes(bytes, &name, &options)?;
    // Built once before writing, so a file that cannot run is never written.
    let mut check = MetaOverrides::default();
    if args.timesteps.is_none() {
        check.set("timesteps", "1");
    }
    let model = Model::from_bytes(&model_bytes, &name, &check)?;
    refuse_same_file(&[&args.input], &args.output)?;
    let mut out = AtomicOutput::create(&args.output)?;
    out.file_mut().write_all(&model_bytes).with_context(|| format!("{}: cannot write", args.output.display()))?;
    out.commit()?;
    let neurons = model.graph.neuron_nodes().len();
    let [c, h, w] = model.meta.input;
    outln!(
        "{}: {} layers ({neurons} neuron layers), input {c}x{h}x{w}, {} outputs, semantics {}, dt {}",
        args.output.display(),
        model.graph.nodes.len(),
        model.meta.num_classes,
        options.semantics.map_or("none", Semantics::name),
        model.meta.raw.get(DT_KEY).map_or("none", String::as_str),
    )?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct ExportNirArgs {
    /// The model (as `info` loads it); `--dt` sets the NIR time constants (τ = τ'·dt; default
    /// the model's own `nir_dt`, else 0.001 s).
    #[command(flatten)]
    pub model: super::model_args::ModelArgs,
    /// The NIR file to write.
    #[arg(value_name = "OUT.nir")]
    pub output: PathBuf,
    /// Write what NIR has no field for (soft reset, TEBN scale, IMP) into node metadata, which
    /// NIR consumers ignore, instead of refusing; each is printed.
    #[arg(long)]
    pub lossy: bool,
}

pub fn run_export(args: ExportNirArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let dt = args.model.nir.dt.or_else(|| model.meta.raw.get(DT_KEY).and_then(|d| d.parse().ok())).unwrap_or(1e-3);
    if !(dt.is_finite() && dt > 0.0) {
        anyhow::bail!("--dt {dt}: a positive number of seconds is expected");
    }
    let source = args.model.model_file.display().to_string();
    let export = spikestream::nir::export::export(&model.graph, dt, args.lossy).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let bytes = spikestream::nir::write::to_bytes(&export.top, spikestream::nir::write::NIR_VERSION, &args.output.display().to_string())?;
    refuse_same_file(&[&args.model.model_file], &args.output)?;
    let mut out = AtomicOutput::create(&args.output)?;
    out.file_mut().write_all(&bytes).with_context(|| format!("{}: cannot write", args.output.display()))?;
    out.commit()?;
    for line in &export.ignored {
        eprintln!("lossy: a NIR consumer ignores {line}");
    }
    outln!("{}: {} NIR nodes, dt {dt}", args.output.display(), export.top.nodes.len())?;
    Ok(ExitCode::SUCCESS)
}

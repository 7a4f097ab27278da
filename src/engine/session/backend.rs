//! Which backend a session runs on: [`crate::gpu::adapter`]'s rule (`auto` never picks a
//! software rasterizer), and the CPU backend when no GPU is wanted or found.

use crate::engine::Backend;
use crate::engine::cpu::{CpuBackend, Precision};
use crate::engine::gpu::{ConvMode, GpuBackend};
use crate::gpu::{AdapterRequest, GpuContext};
use crate::model::Graph;

use super::SessionError;

/// The backend asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU backend (a one-line notice names the choice).
    /// Software rasterizers (llvmpipe) are slower than the CPU backend and only used when asked.
    #[default]
    Auto,
    /// The best GPU adapter of any kind, software rasterizers included.
    Gpu,
    Cpu,
}

/// A backend with `batch` slots for `graph`, and the notice line that says which one `auto`
/// chose and why (`None` where nothing was to choose). `adapter` (a name fragment) implies a GPU;
/// `gpu` and `adapter` fail when they cannot be met. A reduced `precision` runs on the CPU
/// (`auto` takes it, with a notice; `gpu` and `adapter` are refused).
pub fn open(choice: BackendChoice, adapter: Option<&str>, graph: &Graph, batch: usize, mode: ConvMode, precision: Precision) -> Result<(Box<dyn Backend>, Option<String>), SessionError> {
    let (mut backends, notice) = open_many(choice, adapter, &[graph], batch, mode, precision)?;
    Ok((backends.remove(0), notice))
}

/// One backend per graph, all on the same device (one GPU context), as [`open`] chooses it.
pub fn open_many(choice: BackendChoice, adapter: Option<&str>, graphs: &[&Graph], batch: usize, mode: ConvMode, precision: Precision) -> Result<(Vec<Box<dyn Backend>>, Option<String>), SessionError> {
    let cpu = |graphs: &[&Graph]| -> Result<Vec<Box<dyn Backend>>, SessionError> { graphs.iter().map(|g| Ok(Box::new(CpuBackend::with_precision(g, batch, precision)?) as Box<dyn Backend>)).collect() };
    let reduced = precision != Precision::F32;
    let request = match (choice, adapter) {
        (BackendChoice::Cpu, Some(_)) => return Err(SessionError::AdapterOnCpu),
        (BackendChoice::Cpu, None) => return Ok((cpu(graphs)?, None)),
        (BackendChoice::Gpu, _) | (_, Some(_)) if reduced => return Err(SessionError::PrecisionOnGpu(precision.name())),
        (BackendChoice::Auto, None) if reduced => return Ok((cpu(graphs)?, Some(format!("notice: running on the CPU backend: --precision {} is CPU-only", precision.name())))),
        (_, Some(name)) => AdapterRequest::Named(name.to_string()),
        (BackendChoice::Gpu, None) => AdapterRequest::from_env_or(AdapterRequest::Any),
        (BackendChoice::Auto, None) => AdapterRequest::from_env_or(AdapterRequest::Auto),
    };
    let (ctx, why) = GpuContext::open(&request)?;
    let Some(ctx) = ctx else {
        return Ok((cpu(graphs)?, Some(format!("notice: running on the CPU backend: {}", why.reason))));
    };
    let notice = (choice == BackendChoice::Auto).then(|| format!("notice: running on the GPU: {}", why.reason));
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();
    for g in graphs {
        backends.push(Box::new(GpuBackend::with_context(ctx.clone(), g, batch, mode)?));
    }
    Ok((backends, notice))
}

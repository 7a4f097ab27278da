//! Training IMP-SNN models in burn (cargo feature `train`): the engine's architectures as a
//! differentiable network ([`net`]) whose convolutions run the engine's CPU kernels on Flex ([`conv`]), the neuron forward from the engine's own WGSL on burn's wgpu
//! backend with a surrogate-gradient backward ([`neuron`]), the reference's losses ([`loss`]),
//! optimisers and schedule ([`optim`]), datasets with a frame cache and loader ([`data`]), the
//! loop ([`run`]), evaluation ([`eval`]) and the IMP drift report ([`drift`]). The output is the engine's model file.

pub mod conv;
pub mod data;
pub mod drift;
pub mod eval;
mod flex;
mod layout;
pub mod loss;
pub mod net;
pub mod neuron;
pub mod optim;
mod progress;
pub mod run;
mod start;

pub use run::{StepOutput, TrainConfig, TrainSummary, train, train_step};

use burn::tensor::Device;

/// The device to train on: `flex` (burn's CPU backend), `wgpu` (burn's wgpu backend: the
/// engine's neuron shader runs there), or `auto` (wgpu when a hardware adapter exists, else Flex:
/// burn on lavapipe is about 40× slower than Flex).
pub fn device(name: &str) -> anyhow::Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        "wgpu" | "gpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        "auto" => {
            let auto = crate::gpu::AdapterRequest::from_env_or(crate::gpu::AdapterRequest::Auto);
            let hardware = crate::gpu::GpuContext::choice(&auto).is_ok_and(|(c, _)| c.index.is_some());
            Ok(if hardware { Device::wgpu(burn::tensor::DeviceKind::DefaultDevice) } else { Device::flex() })
        }
        other => anyhow::bail!("device '{other}' (auto, flex or wgpu)"),
    }
}

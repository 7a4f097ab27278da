//! The GPU device layer the engine, GPU event binning and the trainer share: the adapter rule
//! ([`adapter`]: hardware for `auto`, software rasterizers only when asked), the device with its
//! pipeline cache and buffer helpers ([`context::GpuContext`]), the kernel registry (one
//! `shaders/*.wgsl` per [`kernel::Kernel`], specialised by `override` constants) and typed errors
//! ([`GpuError`]). It knows nothing about models or events.

pub mod adapter;
pub mod context;
pub mod error;
pub mod kernel;

pub use adapter::{AdapterRequest, Choice};
pub use context::{AdapterSummary, GpuContext, IoCounts};
pub use error::GpuError;
pub use kernel::{Constants, Kernel};

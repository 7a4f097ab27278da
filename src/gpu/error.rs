//! Typed GPU errors: no adapter, no adapter of the asked name, a device that would not open, a
//! failed read-back, and a network the GPU plan cannot run. Messages say what to do next.

/// What went wrong on the GPU side.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found: install a Vulkan driver (on Debian/Ubuntu without a GPU, Mesa lavapipe: \
         scripts/setup-lavapipe.sh), check WGPU_BACKEND / WGPU_ADAPTER_NAME, or use --backend cpu"
    )]
    NoAdapter,
    #[error("no adapter name contains {want:?}; found {found:?} (see `spikestream devices`)")]
    AdapterNotFound { want: String, found: Vec<String> },
    #[error("cannot open {adapter}: {reason}")]
    OpenDevice { adapter: String, reason: String },
    #[error("reading back from the GPU: {0}")]
    Readback(String),
    #[error("{adapter} has no timestamp queries")]
    NoTimestamps { adapter: String },
    /// The network or batch cannot be planned (a node without GPU weights, batch 0, …).
    #[error("{0}")]
    Plan(String),
}

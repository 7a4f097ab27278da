//! The WGSL kernels: one file per kernel under `shaders/`, compiled into the binary.
//!
//! Each kernel is specialised with WGSL `override` constants (kernel size, stride, workgroup
//! shape, …); the pipeline cache in [`super::context::GpuContext`] is keyed by kernel and
//! constants. The engine requests no optional shader capability (no f16, no subgroups), and the
//! naga validation test checks every file with exactly that.

use crate::model::neuron::{NeuronKind, Reset};

/// A compute kernel: one `shaders/*.wgsl` file with entry point `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Convolution + bias + TEBN scale on any input (`shaders/conv.wgsl`).
    Conv,
    /// Convolution walking the bitmap of non-zero inputs; accumulate-only on spikes
    /// (`shaders/conv_sparse.wgsl`).
    ConvSparse,
    /// Tiled implicit-GEMM convolution, split-K inside the workgroup, with the neuron, spike
    /// bits and counts in its epilogue and average pooling folded into its loads
    /// (`shaders/conv_fused.wgsl`, with the neuron rule prepended).
    ConvFused,
    /// T timesteps of a neuron layer in one dispatch, for the layer-major order
    /// (`shaders/neuron_steps.wgsl`, with the neuron rule prepended).
    NeuronSteps,
    /// Linear layer as a split-K GEMV with a workgroup reduction, optionally summing the logits
    /// over steps (`shaders/linear_gemv.wgsl`).
    LinearGemv,
    /// Values `[B, H, W, C]` f32 → non-zero bitmap `[B, H, W, ⌈C/32⌉]` u32
    /// (`shaders/pack_nonzero.wgsl`).
    PackNonzero,
    /// LIF / IF neurons with per-lane state and spike counts (`shaders/neuron.wgsl`); follows
    /// burn's template-kernel rules so the training path can launch it.
    Neuron,
    /// Average pooling (`shaders/avg_pool.wgsl`).
    AvgPool,
    /// Global average pooling (`shaders/global_avg_pool.wgsl`).
    GlobalAvgPool,
    /// Fully connected layer (`shaders/linear.wgsl`).
    Linear,
    /// Element-wise sum, the SEW residual (`shaders/add.wgsl`).
    Add,
    /// Event binning with atomics (`shaders/bin_events.wgsl`).
    BinEvents,
    /// u32 counts → f32 frames (`shaders/counts_to_f32.wgsl`).
    CountsToF32,
}

impl Kernel {
    pub const ALL: [Kernel; 13] = [
        Kernel::Conv,
        Kernel::ConvSparse,
        Kernel::ConvFused,
        Kernel::NeuronSteps,
        Kernel::LinearGemv,
        Kernel::PackNonzero,
        Kernel::Neuron,
        Kernel::AvgPool,
        Kernel::GlobalAvgPool,
        Kernel::Linear,
        Kernel::Add,
        Kernel::BinEvents,
        Kernel::CountsToF32,
    ];

    /// The entry point of every kernel (burn's template kernels require this name).
    pub const ENTRY: &'static str = "main";

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Conv => "conv",
            Kernel::ConvSparse => "conv_sparse",
            Kernel::ConvFused => "conv_fused",
            Kernel::NeuronSteps => "neuron_steps",
            Kernel::LinearGemv => "linear_gemv",
            Kernel::PackNonzero => "pack_nonzero",
            Kernel::Neuron => "neuron",
            Kernel::AvgPool => "avg_pool",
            Kernel::GlobalAvgPool => "global_avg_pool",
            Kernel::Linear => "linear",
            Kernel::Add => "add",
            Kernel::BinEvents => "bin_events",
            Kernel::CountsToF32 => "counts_to_f32",
        }
    }

    /// The WGSL source: the kernel's file, after `shaders/neuron_rule.wgsl` for the kernels
    /// that update neurons (the one place the rule is written).
    pub fn source(self) -> String {
        let file = self.file();
        match self {
            Kernel::Neuron | Kernel::ConvFused | Kernel::NeuronSteps => format!("{}\n{file}", include_str!("../../shaders/neuron_rule.wgsl")),
            _ => file.to_string(),
        }
    }

    /// The kernel's own file.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::Conv => include_str!("../../shaders/conv.wgsl"),
            Kernel::ConvSparse => include_str!("../../shaders/conv_sparse.wgsl"),
            Kernel::ConvFused => include_str!("../../shaders/conv_fused.wgsl"),
            Kernel::NeuronSteps => include_str!("../../shaders/neuron_steps.wgsl"),
            Kernel::LinearGemv => include_str!("../../shaders/linear_gemv.wgsl"),
            Kernel::PackNonzero => include_str!("../../shaders/pack_nonzero.wgsl"),
            Kernel::Neuron => include_str!("../../shaders/neuron.wgsl"),
            Kernel::AvgPool => include_str!("../../shaders/avg_pool.wgsl"),
            Kernel::GlobalAvgPool => include_str!("../../shaders/global_avg_pool.wgsl"),
            Kernel::Linear => include_str!("../../shaders/linear.wgsl"),
            Kernel::Add => include_str!("../../shaders/add.wgsl"),
            Kernel::BinEvents => include_str!("../../shaders/bin_events.wgsl"),
            Kernel::CountsToF32 => include_str!("../../shaders/counts_to_f32.wgsl"),
        }
    }

    /// Workgroup size along x of the kernels whose size is fixed in the file (the 1-D ones).
    pub const fn workgroup_x(self) -> u32 {
        match self {
            Kernel::Neuron | Kernel::Add | Kernel::BinEvents | Kernel::CountsToF32 => 256,
            _ => 64,
        }
    }
}

/// Values for a kernel's `override` constants, as (name, value) pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Constants(pub Vec<(&'static str, u32)>);

impl Constants {
    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.0.push((name, value));
        self
    }

    pub fn flag(self, name: &'static str, value: bool) -> Self {
        self.with(name, u32::from(value))
    }

    /// In the form wgpu takes (`PipelineCompilationOptions::constants`).
    pub fn as_wgpu(&self) -> Vec<(&'static str, f64)> {
        self.0.iter().map(|&(k, v)| (k, f64::from(v))).collect()
    }
}

impl std::fmt::Display for Constants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// The neuron kernel's `Params` (shaders/neuron.wgsl), as 4-byte words; `zero` (word 9) must
/// stay 0: it keeps the compiler from fusing the neuron's multiply-adds. The one place that
/// encodes a neuron for the shader: the engine's plan and the trainer's burn custom op
/// (`src/train/neuron/`) both call it.
pub fn neuron_params(kind: &NeuronKind, n: usize, count_index: usize, count_stride: usize) -> [u32; 12] {
    let (code, a, v_th, reset, decay_input) = match *kind {
        NeuronKind::LegacyLif { decay, v_th } => (0, decay, v_th, Reset::Soft, false),
        NeuronKind::Lif { tau, v_th, reset, decay_input } => (1, tau, v_th, reset, decay_input),
        NeuronKind::If { v_th, reset } => (2, 0.0, v_th, reset, false),
    };
    let (hard, v_reset) = match reset {
        Reset::Soft => (0, 0.0),
        Reset::Hard(v) => (1, v),
    };
    [n as u32, code, hard, u32::from(decay_input), count_index as u32, count_stride as u32, a.to_bits(), v_th.to_bits(), f32::to_bits(v_reset), 0, 0, 0]
}

//! The WGSL kernels: one file per kernel under `shaders/`, compiled into the binary.
//!
//! Each kernel is specialised with WGSL `override` constants (kernel size, stride, workgroup
//! shape, …); the pipeline cache in [`super::context::GpuContext`] is keyed by kernel and
//! constants. The engine requests no optional shader capability (no f16, no subgroups), and the
//! naga validation test checks every file with exactly that.

use crate::model::neuron::NeuronKind;

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

    /// Everything about a kernel in one table: its name, file, whether the neuron rule is
    /// prepended, and the workgroup size along x of the 1-D kernels whose size is fixed.
    const fn spec(self) -> KernelSpec {
        const fn k(name: &'static str, file: &'static str, neuron_rule: bool, workgroup_x: u32) -> KernelSpec {
            KernelSpec { name, file, neuron_rule, workgroup_x }
        }
        match self {
            Kernel::Conv => k("conv", include_str!("../../shaders/conv.wgsl"), false, 64),
            Kernel::ConvSparse => k("conv_sparse", include_str!("../../shaders/conv_sparse.wgsl"), false, 64),
            Kernel::ConvFused => k("conv_fused", include_str!("../../shaders/conv_fused.wgsl"), true, 64),
            Kernel::NeuronSteps => k("neuron_steps", include_str!("../../shaders/neuron_steps.wgsl"), true, 256),
            Kernel::LinearGemv => k("linear_gemv", include_str!("../../shaders/linear_gemv.wgsl"), false, 64),
            Kernel::PackNonzero => k("pack_nonzero", include_str!("../../shaders/pack_nonzero.wgsl"), false, 64),
            Kernel::Neuron => k("neuron", include_str!("../../shaders/neuron.wgsl"), true, 256),
            Kernel::AvgPool => k("avg_pool", include_str!("../../shaders/avg_pool.wgsl"), false, 64),
            Kernel::GlobalAvgPool => k("global_avg_pool", include_str!("../../shaders/global_avg_pool.wgsl"), false, 64),
            Kernel::Linear => k("linear", include_str!("../../shaders/linear.wgsl"), false, 64),
            Kernel::Add => k("add", include_str!("../../shaders/add.wgsl"), false, 256),
            Kernel::BinEvents => k("bin_events", include_str!("../../shaders/bin_events.wgsl"), false, 256),
            Kernel::CountsToF32 => k("counts_to_f32", include_str!("../../shaders/counts_to_f32.wgsl"), false, 256),
        }
    }

    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kernel's own file.
    pub const fn file(self) -> &'static str {
        self.spec().file
    }

    /// The WGSL source: the kernel's file, after [`neuron_rule_source`] for the kernels that
    /// update neurons.
    pub fn source(self) -> String {
        if self.spec().neuron_rule { format!("{}\n{}", neuron_rule_source(), self.file()) } else { self.file().to_string() }
    }

    /// Workgroup size along x of the kernels whose size is fixed in the file (the 1-D ones).
    pub const fn workgroup_x(self) -> u32 {
        self.spec().workgroup_x
    }
}

struct KernelSpec {
    name: &'static str,
    file: &'static str,
    neuron_rule: bool,
    workgroup_x: u32,
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

/// `shaders/neuron_rule.wgsl` (the `NeuronRule` struct, `rounded`) and the functions generated
/// from the one neuron rule (`neuron_step` and its parts, [`crate::model::neuron::wgsl`]).
pub fn neuron_rule_source() -> String {
    format!("{}\n{}", include_str!("../../shaders/neuron_rule.wgsl"), crate::model::neuron::wgsl::functions())
}

/// A neuron rule as the shaders' parameter blocks end (`NeuronRule` in
/// shaders/neuron_rule.wgsl, in the order conv_fused.wgsl and neuron_steps.wgsl declare it).
/// `zero` must stay 0: it keeps the compiler from fusing the neuron's multiply-adds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NeuronWords {
    pub form: u32,
    pub reset: u32,
    pub fire: u32,
    pub zero: u32,
    pub p0: f32,
    pub p1: f32,
    pub v_th: f32,
    pub v_reset: f32,
}

impl NeuronWords {
    /// The one place a [`NeuronKind`] is encoded for the GPU: its [`crate::model::neuron::Rule`].
    pub fn of(kind: &NeuronKind) -> Self {
        let rule = kind.rule();
        let (form, p0, p1) = rule.charge.code();
        let (reset, v_reset) = rule.reset.code();
        Self { form, reset, fire: rule.fire.code(), zero: 0, p0, p1, v_th: rule.v_th, v_reset }
    }
}

/// The neuron kernel's `Params` (shaders/neuron.wgsl), as 4-byte words (burn passes it as a
/// storage buffer of words). The engine's plan and the trainer's burn custom op
/// (`src/train/neuron/`) both call it.
pub fn neuron_params(kind: &NeuronKind, n: usize, count_index: usize, count_stride: usize) -> [u32; 12] {
    let w = NeuronWords::of(kind);
    [n as u32, w.form, w.reset, w.fire, count_index as u32, count_stride as u32, w.p0.to_bits(), w.p1.to_bits(), w.v_th.to_bits(), w.v_reset.to_bits(), w.zero, 0]
}

//! What can be wrong with a model file, in terms a user can act on.

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
    /// A `.nir` file that cannot be lowered (the message names the file and the NIR node).
    #[error("{0}")]
    Nir(#[from] crate::nir::NirError),
    #[error("{file}: not a readable safetensors file: {reason}")]
    Parse { file: String, reason: String },
    #[error("{file}: tensor '{tensor}' is missing (the {arch} architecture needs it){hint}")]
    MissingTensor { file: String, arch: String, tensor: String, hint: String },
    #[error("{file}: tensor '{tensor}' has shape {got:?}, expected {expected}")]
    ShapeMismatch { file: String, tensor: String, expected: String, got: Vec<usize> },
    #[error("{file}: tensor '{tensor}' has dtype {dtype}; F32, F16, BF16 or F64 expected")]
    Dtype { file: String, tensor: String, dtype: String },
    #[error("{file}: tensor '{tensor}' holds a non-finite value ({value}) at index {index}")]
    NonFinite { file: String, tensor: String, index: usize, value: f32 },
    #[error("{file}: {count} tensor(s) the {arch} architecture does not use, e.g. '{example}'; is the arch right?")]
    Unused { file: String, arch: String, count: usize, example: String },
    #[error("{file}: metadata '{key}' is missing; add it to the file's __metadata__ or pass --{flag}")]
    MissingMeta { file: String, key: String, flag: String },
    #[error("{file}: metadata '{key}' = '{value}' is invalid: {reason}")]
    BadMeta { file: String, key: String, value: String, reason: String },
    #[error("{file}: unknown architecture '{arch}'; known: vgg11_48_legacy, vgg11_dvs, sew_resnet18, graph")]
    UnknownArch { file: String, arch: String },
    #[error("{file}: {reason}")]
    Inconsistent { file: String, reason: String },
}

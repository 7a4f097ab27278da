//! NIR (Neuromorphic Intermediate Representation, `nir` 1.0.8 and the NIR 0.2 files of the NIR
//! paper) in and out of the engine's model file.
//!
//! Owns reading a `.nir` HDF5 file ([`hdf5`]), the discretisation of NIR's continuous-time
//! neurons into the engine's neuron rules under an explicit exporting-framework semantics
//! ([`semantics`]), and lowering a NIR graph onto the engine's `graph` layer list plus its
//! tensors ([`lower`]), returned as safetensors bytes. Importing a file and loading a `.nir`
//! model share that one path: `import-nir` writes the bytes, [`crate::model::Model::load`]
//! parses them. Every unsupported node, parameter or shape is an error naming the node.
//! [`export`] and [`write`] go the other way (`export-nir`).

pub mod cuba;
pub mod cuba_export;
pub mod export;
pub mod hdf5;
pub mod lower;
pub mod neurons;
pub mod params;
pub mod semantics;
pub mod write;

pub use semantics::Semantics;

use std::collections::HashMap;

/// Metadata keys (in [`crate::model::MetaOverrides`] and in the written model file) that carry
/// the discretisation used.
pub const DT_KEY: &str = "nir_dt";
pub const SEMANTICS_KEY: &str = "nir_semantics";

#[derive(Debug, thiserror::Error)]
pub enum NirError {
    #[error("{file}: HDF5 {path}: {reason}")]
    Hdf5 { file: String, path: String, reason: String },
    #[error("{file}: NIR node '{node}' ({kind}): {reason}")]
    Node { file: String, node: String, kind: String, reason: String },
    #[error("{file}: NIR graph: {reason}")]
    Graph { file: String, reason: String },
    #[error("{file}: {reason}")]
    Options { file: String, reason: String },
}

/// How to turn a NIR graph into the engine's discrete network.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Seconds per engine timestep; `None` = the file's metadata `dt`, required by leaky neurons.
    pub dt: Option<f64>,
    /// The exporting framework's threshold and reset rules; required when the graph has neurons.
    pub semantics: Option<Semantics>,
    /// Timesteps to record in the written model file (NIR has none); `None`: leave it to `--timesteps`.
    pub timesteps: Option<usize>,
}

impl ImportOptions {
    /// The options given as metadata overrides (`nir_dt`, `nir_semantics`), as the shared
    /// model-loading path receives them.
    pub fn from_meta(values: &HashMap<String, String>, file: &str) -> Result<Self, NirError> {
        let bad = |reason: String| NirError::Options { file: file.to_string(), reason };
        let dt = match values.get(DT_KEY) {
            None => None,
            Some(text) => Some(text.trim().parse::<f64>().ok().filter(|d| d.is_finite() && *d > 0.0).ok_or_else(|| bad(format!("--dt '{text}': a positive number of seconds is expected")))?),
        };
        let semantics = match values.get(SEMANTICS_KEY) {
            None => None,
            Some(text) => Some(Semantics::parse(text).ok_or_else(|| bad(format!("--nir-semantics '{text}': one of {}", Semantics::NAMES.join(", "))))?),
        };
        Ok(Self { dt, semantics, timesteps: None })
    }
}

/// True when `path` names a NIR file (by its extension).
pub fn is_nir_path(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("nir"))
}

/// Reads a NIR file held in memory and lowers it to the bytes of a spikestream model file
/// (safetensors with `arch = graph`, the layer list, the NIR metadata and the discretisation).
pub fn to_model_bytes(bytes: Vec<u8>, file: &str, options: &ImportOptions) -> Result<Vec<u8>, NirError> {
    let (version, top) = hdf5::read(bytes, file)?;
    lower::lower(&top, &version, file, options)
}

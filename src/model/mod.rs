//! The model file and the layer graph it describes.
//!
//! Owns reading a safetensors model (reference PyTorch state-dict names, with or without the
//! mmengine `backbone.` / `head.` prefixes, plus `__metadata__`), the architecture presets that
//! map those names onto a [`graph::Graph`], BatchNorm (and per-timestep TEBN scale) folding, and
//! shape checking that names the tensor, the expected and the found shape. It runs nothing.

pub mod arch;
pub mod error;
pub mod fold;
pub mod graph;
pub mod layout;
pub mod meta;
pub mod neuron;
pub mod store;
pub mod synth;

pub use error::ModelError;
pub use graph::{Graph, Node, Op, Shape};
pub use meta::{MetaOverrides, ModelMeta};
pub use neuron::{NeuronKind, Reset};

use std::path::Path;

/// A loaded model: what it is (metadata) and what it computes (graph, weights folded).
#[derive(Clone, Debug)]
pub struct Model {
    pub meta: ModelMeta,
    pub graph: Graph,
}

impl Model {
    /// Parses a safetensors model held in memory; `name` labels errors (the file path).
    pub fn from_bytes(bytes: &[u8], name: &str, overrides: &MetaOverrides) -> Result<Self, ModelError> {
        let store = store::TensorStore::parse(bytes, name)?;
        let mut overrides = overrides.clone();
        let arch = overrides.values.get("arch").or(store.metadata().get("arch")).cloned();
        if !overrides.values.contains_key("input") && !store.metadata().contains_key("input") {
            if let Some(input) = arch.as_deref().and_then(|a| arch::inferred_input(a, &store)) {
                overrides.set("input", input);
            }
        }
        let meta = ModelMeta::resolve(store.metadata(), &overrides, name)?;
        let graph = arch::build(&meta, &store)?;
        store.check_all_used()?;
        Ok(Self { meta, graph })
    }

    /// Reads a model file (memory-mapped), or a NIR file (`.nir`), which is lowered to the same
    /// model bytes `import-nir` writes ([`crate::nir`]; `nir_dt` and `nir_semantics` in
    /// `overrides` are its `--dt` and `--nir-semantics`).
    pub fn load(path: &Path, overrides: &MetaOverrides) -> Result<Self, ModelError> {
        let name = path.display().to_string();
        let io = |source| ModelError::Io { file: name.clone(), source };
        // Mapping a directory fails with ENODEV ("No such device"), which says nothing useful.
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(ModelError::Parse { file: name, reason: "is a folder; name the model's .safetensors file".into() });
        }
        if crate::nir::is_nir_path(path) {
            let bytes = std::fs::read(path).map_err(io)?;
            let options = crate::nir::ImportOptions::from_meta(&overrides.values, &name)?;
            let model = crate::nir::to_model_bytes(bytes, &name, &options)?;
            // The lowered file records the options in its own spelling; compare nothing twice.
            let mut rest = overrides.clone();
            rest.values.retain(|k, _| k != crate::nir::DT_KEY && k != crate::nir::SEMANTICS_KEY);
            return Self::from_bytes(&model, &name, &rest);
        }
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: read-only map used only while building the graph; weights are copied out.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_bytes(&map, &name, overrides)
    }
}

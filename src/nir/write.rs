//! Writing a [`RawNode`] tree as a NIR HDF5 file (the layout [`super::hdf5`] reads and
//! `nir.read` 1.0.8 accepts) with `hdf5-pure`, into bytes the caller writes atomically.
//!
//! A one-element parameter whose shape is `[]` is written as an HDF5 scalar (NIR's `groups`,
//! `start_dim`, the `type` string); arrays keep their shape; `edges` is an `[n, 2]` string
//! dataset. Parameters in `params` are f32 unless listed in [`INTEGER_KEYS`]; metadata numbers
//! are f64 (`dt` must come back as written).

use hdf5_pure::{FileBuilder, GroupBuilder};

use super::NirError;
use super::hdf5::{RawNode, Value};

/// The NIR format version written (the `nir` release whose reader the files are checked with).
pub const NIR_VERSION: &str = "1.0.8";

/// Parameters NIR stores as integers.
pub const INTEGER_KEYS: [&str; 9] = ["stride", "padding", "dilation", "groups", "kernel_size", "start_dim", "end_dim", "input_type", "shape"];

/// The HDF5 bytes of a NIR file holding `top`, with `version` in the root `version` dataset.
pub fn to_bytes(top: &RawNode, version: &str, file: &str) -> Result<Vec<u8>, NirError> {
    let mut fb = FileBuilder::new();
    fb.create_dataset("version").with_vlen_strings(&[version]).with_shape(&[]);
    let mut node = fb.create_group("node");
    fill(&mut node, top);
    fb.add_group(node.finish());
    fb.finish().map_err(|e| NirError::Hdf5 { file: file.to_string(), path: "/".into(), reason: format!("cannot encode the NIR file ({e})") })
}

fn fill(group: &mut GroupBuilder, node: &RawNode) {
    group.create_dataset("type").with_vlen_strings(&[node.kind.as_str()]).with_shape(&[]);
    for (key, value) in &node.params {
        put(group, key, value, if INTEGER_KEYS.contains(&key.as_str()) { Number::I64 } else { Number::F32 });
    }
    if !node.metadata.is_empty() {
        let mut meta = group.create_group("metadata");
        for (key, value) in &node.metadata {
            put(&mut meta, key, value, Number::F64);
        }
        group.add_group(meta.finish());
    }
    if node.kind == "NIRGraph" {
        let mut nodes = group.create_group("nodes");
        for (name, child) in &node.nodes {
            let mut g = nodes.create_group(name);
            fill(&mut g, child);
            nodes.add_group(g.finish());
        }
        group.add_group(nodes.finish());
        let flat: Vec<&str> = node.edges.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
        group.create_dataset("edges").with_vlen_strings(&flat).with_shape(&[node.edges.len() as u64, 2]);
    }
}

#[derive(Clone, Copy)]
enum Number {
    I64,
    F32,
    F64,
}

fn put(group: &mut GroupBuilder, key: &str, value: &Value, number: Number) {
    match value {
        Value::Text(t) => {
            let refs: Vec<&str> = t.iter().map(String::as_str).collect();
            let ds = group.create_dataset(key).with_vlen_strings(&refs);
            if t.len() == 1 {
                ds.with_shape(&[]);
            }
        }
        Value::Array(a) => {
            let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
            let ds = group.create_dataset(key);
            match number {
                Number::I64 => ds.with_i64_data(&a.data.iter().map(|&v| v as i64).collect::<Vec<_>>()),
                Number::F32 => ds.with_f32_data(&a.data.iter().map(|&v| v as f32).collect::<Vec<_>>()),
                Number::F64 => ds.with_f64_data(&a.data),
            };
            ds.with_shape(&shape);
        }
    }
}

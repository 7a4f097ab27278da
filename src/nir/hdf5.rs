//! Reading a NIR file's HDF5 layout (`nir.serialization.write`) into a [`RawNode`] tree with
//! `hdf5-pure` (pure Rust, superblocks 0 to 3, deflate, variable-length strings).
//!
//! The layout: a root dataset `version` (string; absent in NIR 0.2 files) and a group `node`,
//! the top [`RawNode`]. Each node group holds a string dataset `type`, its parameters as numeric
//! datasets, an optional `metadata` group, and, for a `NIRGraph`, the groups `nodes` (one group
//! per node) and the string dataset `edges` (`[n, 2]`). Every dataset's size is checked against
//! [`crate::limits`] before it is read, and a malformed file is an error naming the HDF5 path:
//! the reader runs behind `catch_unwind`, so a panic inside the HDF5 crate is an error too.

use std::collections::BTreeMap;

use hdf5_pure::{DType, Dataset, File, Group};

use super::NirError;

/// A numeric parameter: shape and values (row-major, as f64: NIR stores f32 or f64 arrays).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// A value stored under a node: numbers or text.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Array(Array),
    Text(Vec<String>),
}

/// One NIR node as stored: its type, parameters, metadata and (for a graph) nodes and edges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawNode {
    pub kind: String,
    pub params: BTreeMap<String, Value>,
    pub metadata: BTreeMap<String, Value>,
    pub nodes: BTreeMap<String, RawNode>,
    pub edges: Vec<(String, String)>,
}

/// Nesting deeper than this is refused (a hostile file could nest groups without end).
const MAX_DEPTH: usize = 16;
/// Nodes one file may hold.
const MAX_NODES: usize = 100_000;

/// Parses a NIR file held in memory; `file` names it in errors. Returns the NIR version (empty
/// for files that predate the `version` dataset) and the top node.
pub fn read(bytes: Vec<u8>, file: &str) -> Result<(String, RawNode), NirError> {
    let err = |path: &str, reason: String| NirError::Hdf5 { file: file.to_string(), path: path.to_string(), reason };
    let outcome = std::panic::catch_unwind(move || -> Result<(String, RawNode), NirError> {
        let h5 = File::from_bytes(bytes).map_err(|e| err("/", format!("not a readable HDF5 file ({e})")))?;
        let root = h5.root();
        let version = match h5.dataset("version") {
            Ok(ds) => text(&ds, "/version", file)?.into_iter().next().unwrap_or_default(),
            Err(_) => String::new(),
        };
        let node = root.group("node").map_err(|e| err("/node", format!("no group 'node': not a NIR file ({e})")))?;
        let mut count = 0;
        let top = read_node(&node, "/node", file, 0, &mut count)?;
        Ok((version, top))
    });
    outcome.unwrap_or_else(|_| Err(NirError::Hdf5 { file: file.to_string(), path: "/".into(), reason: "the HDF5 reader failed on malformed data".into() }))
}

fn read_node(group: &Group, path: &str, file: &str, depth: usize, count: &mut usize) -> Result<RawNode, NirError> {
    let err = |p: &str, reason: String| NirError::Hdf5 { file: file.to_string(), path: p.to_string(), reason };
    if depth > MAX_DEPTH {
        return Err(err(path, format!("nodes nested deeper than {MAX_DEPTH} levels")));
    }
    *count += 1;
    if *count > MAX_NODES {
        return Err(err(path, format!("more than {MAX_NODES} nodes")));
    }
    let datasets = group.datasets().map_err(|e| err(path, e.to_string()))?;
    let groups = group.groups().map_err(|e| err(path, e.to_string()))?;
    let mut node = RawNode::default();
    for name in &datasets {
        let p = format!("{path}/{name}");
        let ds = group.dataset(name).map_err(|e| err(&p, e.to_string()))?;
        let value = value(&ds, &p, file)?;
        match (name.as_str(), value) {
            ("type", Value::Text(t)) => node.kind = t.into_iter().next().unwrap_or_default(),
            ("type", Value::Array(_)) => return Err(err(&p, "'type' must be a string".into())),
            ("edges", Value::Text(t)) => {
                if t.len() % 2 != 0 {
                    return Err(err(&p, format!("{} strings, not pairs", t.len())));
                }
                node.edges = t.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
            }
            (_, v) => {
                node.params.insert(name.clone(), v);
            }
        }
    }
    for name in &groups {
        let p = format!("{path}/{name}");
        let sub = group.group(name).map_err(|e| err(&p, e.to_string()))?;
        match name.as_str() {
            "metadata" => node.metadata = flat_values(&sub, &p, file)?,
            "nodes" => {
                for child in sub.groups().map_err(|e| err(&p, e.to_string()))? {
                    let cp = format!("{p}/{child}");
                    let g = sub.group(&child).map_err(|e| err(&cp, e.to_string()))?;
                    node.nodes.insert(child.clone(), read_node(&g, &cp, file, depth + 1, count)?);
                }
            }
            // `input_type`/`output_type` dicts and similar: kept flat as parameters `group.key`.
            other => {
                for (k, v) in flat_values(&sub, &p, file)? {
                    node.params.insert(format!("{other}.{k}"), v);
                }
            }
        }
    }
    if node.kind.is_empty() {
        return Err(err(path, "the node has no 'type'".into()));
    }
    Ok(node)
}

/// The datasets of a group without sub-structure (metadata, type dicts).
fn flat_values(group: &Group, path: &str, file: &str) -> Result<BTreeMap<String, Value>, NirError> {
    let mut out = BTreeMap::new();
    for name in group.datasets().map_err(|e| NirError::Hdf5 { file: file.into(), path: path.into(), reason: e.to_string() })? {
        let p = format!("{path}/{name}");
        let ds = group.dataset(&name).map_err(|e| NirError::Hdf5 { file: file.into(), path: p.clone(), reason: e.to_string() })?;
        out.insert(name, value(&ds, &p, file)?);
    }
    Ok(out)
}

fn value(ds: &Dataset, path: &str, file: &str) -> Result<Value, NirError> {
    let err = |reason: String| NirError::Hdf5 { file: file.to_string(), path: path.to_string(), reason };
    let dtype = ds.dtype().map_err(|e| err(e.to_string()))?;
    match dtype {
        DType::String | DType::VariableLengthString => Ok(Value::Text(text(ds, path, file)?)),
        DType::F32 | DType::F64 | DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U8 | DType::U16 | DType::U32 | DType::U64 => {
            let shape = checked_shape(ds, path, file)?;
            let data = ds.read_f64().map_err(|e| err(e.to_string()))?;
            if data.len() != shape.iter().product::<usize>() {
                return Err(err(format!("{} values for shape {shape:?}", data.len())));
            }
            Ok(Value::Array(Array { shape, data }))
        }
        other => Err(err(format!("unsupported HDF5 datatype {other}"))),
    }
}

/// The dataset's shape, after checking its size in bytes against the tensor limit.
fn checked_shape(ds: &Dataset, path: &str, file: &str) -> Result<Vec<usize>, NirError> {
    let err = |reason: String| NirError::Hdf5 { file: file.to_string(), path: path.to_string(), reason };
    let shape: Vec<usize> = ds.shape().map_err(|e| err(e.to_string()))?.into_iter().map(|d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
    let elem = usize::try_from(ds.element_size().map_err(|e| err(e.to_string()))?).unwrap_or(usize::MAX);
    // Read as f64: 8 bytes per value in memory whatever the stored width.
    crate::limits::tensor(|| format!("{file}: HDF5 dataset {path}"), &shape, elem.max(8)).map_err(|e| err(e.to_string()))?;
    Ok(shape)
}

fn text(ds: &Dataset, path: &str, file: &str) -> Result<Vec<String>, NirError> {
    checked_shape(ds, path, file)?;
    ds.read_string().map_err(|e| NirError::Hdf5 { file: file.to_string(), path: path.to_string(), reason: e.to_string() })
}

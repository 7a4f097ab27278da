//! Frame tensors as NumPy `.npy` files: float32, C order, any rank (`[T, 2, H, W]`,
//! `[T, B, 2, H, W]`). Reading accepts little-endian f32 and f64 (SpikingJelly saves float64).

use std::io::{self, Write};

use crate::events::write::npy::npy_header;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a .npy array: {0}")]
    Format(String),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error("value {value} at index {index:?}: frames must be finite numbers")]
    NonFinite { index: Vec<usize>, value: f32 },
}

/// A dense f32 array with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn write_f32(out: impl Write, shape: &[usize], data: &[f32]) -> io::Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape does not match data");
    let mut out = io::BufWriter::new(out);
    out.write_all(&npy_header("'<f4'", shape))?;
    for v in data {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()
}

pub fn read(bytes: &[u8]) -> Result<Array, NpyError> {
    read_typed(bytes, false).map(|(a, _)| a)
}

/// The element type an array was stored with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Float,
    /// `uint8` (pixels, 0 to 255).
    U8,
    /// `int32` / `int64` / `uint8` labels (values below 2^24 are exact in f32).
    Int,
}

/// [`read`], also accepting `uint8`, `int32` and `int64` arrays (`.npz` images and labels);
/// says which kind of element the file held.
pub fn read_typed(bytes: &[u8], integers: bool) -> Result<(Array, Stored), NpyError> {
    let bad = |m: &str| NpyError::Format(m.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(NpyError::Format(format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start.saturating_add(header_len)).ok_or_else(|| bad("header runs past the end"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |key: &str| header.split(&format!("'{key}':")).nth(1).map(str::trim);
    let descr = field("descr").and_then(|d| d.split('\'').nth(1)).ok_or_else(|| bad("no descr"))?;
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(bad("Fortran-ordered arrays are not supported"));
    }
    let shape_text = field("shape").and_then(|s| s.split(')').next()).ok_or_else(|| bad("no shape"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches('(')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let (width, stored) = match descr {
        "<f4" => (4, Stored::Float),
        "<f8" => (8, Stored::Float),
        "|u1" if integers => (1, Stored::U8),
        "<i4" if integers => (4, Stored::Int),
        "<i8" if integers => (8, Stored::Int),
        other if integers => return Err(NpyError::Format(format!("dtype {other}; float32, float64, uint8, int32 or int64 expected"))),
        other => return Err(NpyError::Format(format!("dtype {other}; float32 or float64 expected"))),
    };
    // Checked before anything is allocated: a shape whose product or byte size overflows, or
    // that the file does not hold, is refused (it used to wrap and abort on allocation).
    let count = crate::limits::tensor(|| format!("the .npy shape {shape:?}"), &shape, 4)?;
    let body = &bytes[start + header_len..];
    let stored_len = count.checked_mul(width).filter(|&n| n <= body.len()).ok_or_else(|| {
        NpyError::Format(format!("the shape {shape:?} needs {count} values of {width} bytes but the file holds {} bytes of data; it is truncated or corrupt", body.len()))
    })?;
    let body = &body[..stored_len];
    let data: Vec<f32> = match (width, stored) {
        (1, _) => body.iter().map(|&b| f32::from(b)).collect(),
        (4, Stored::Int) => body.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
        (4, _) => body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        (_, Stored::Int) => body.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()) as f32).collect(),
        _ => body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32).collect(),
    };
    if let Some((index, value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(NpyError::NonFinite { index: position(&shape, index), value: *value });
    }
    Ok((Array { shape, data }, stored))
}

/// The multi-index of flat index `i` in a C-ordered array of `shape`.
fn position(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for (a, &d) in at.iter_mut().zip(shape).rev() {
        *a = i % d.max(1);
        i /= d.max(1);
    }
    at
}

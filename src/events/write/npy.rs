//! NumPy `.npy` (format 1.0) holding a structured array with fields `t` uint64, `x` uint16,
//! `y` uint16, `p` uint8 (13 bytes per event, packed, little-endian).

use std::io::{self, Write};

use crate::events::Event;

/// The `descr` of the structured dtype, as NumPy writes it.
pub const NPY_EVENT_DTYPE: &str = "[('t', '<u8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')]";

pub fn write_npy(out: impl Write, events: &[Event]) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(&npy_header(NPY_EVENT_DTYPE, &[events.len()]))?;
    let mut record = [0u8; 13];
    for e in events {
        record[..8].copy_from_slice(&e.t.to_le_bytes());
        record[8..10].copy_from_slice(&e.x.to_le_bytes());
        record[10..12].copy_from_slice(&e.y.to_le_bytes());
        record[12] = u8::from(e.p);
        out.write_all(&record)?;
    }
    out.flush()
}

/// The magic, version and header dict of an `.npy` file, padded to a multiple of 64 bytes.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

//! Writers for `convert`: AEDAT4 (in `aedat4`), CSV and NumPy `.npy`, chosen by extension;
//! each takes a whole list of events or batch after batch.

use std::io::{self, Read, Seek, SeekFrom, Write};

mod csv;
pub mod npy;

pub use csv::{CsvWriter, write_csv};
pub use npy::{NPY_EVENT_DTYPE, NpyWriter, write_npy};

/// Output formats `convert` can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Aedat4,
    Csv,
    Npy,
}

impl OutputKind {
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "aedat4" => Some(Self::Aedat4),
            "csv" => Some(Self::Csv),
            "npy" => Some(Self::Npy),
            _ => None,
        }
    }
}

/// Moves the bytes `[from, end)` of `file` to `[from + by, end + by)`, 1 MiB at a time from the
/// back, so that a header written before them can grow once their count is known; leaves the
/// position at the new end.
pub(crate) fn shift_tail<F: Read + Write + Seek>(file: &mut F, from: u64, end: u64, by: u64) -> io::Result<()> {
    let mut buf = vec![0u8; (end - from).min(1 << 20) as usize];
    let mut at = end;
    while at > from {
        let n = (at - from).min(buf.len() as u64);
        at -= n;
        let piece = &mut buf[..n as usize];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(piece)?;
        file.seek(SeekFrom::Start(at + by))?;
        file.write_all(piece)?;
    }
    file.seek(SeekFrom::Start(end + by)).map(drop)
}

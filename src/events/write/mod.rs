//! Writers for `convert`: AEDAT4 (in `aedat4`), CSV and NumPy `.npy`, chosen by extension.

mod csv;
pub mod npy;

pub use csv::write_csv;
pub use npy::{NPY_EVENT_DTYPE, write_npy};

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

//! Errors of the simulator: parameters out of range and files that cannot be written.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{name} = {value} is out of range: {expected}")]
    InvalidParameter { name: &'static str, value: String, expected: &'static str },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {why}")]
    Image { path: PathBuf, why: String },
}

impl SimError {
    pub(crate) fn invalid(name: &'static str, value: impl ToString, expected: &'static str) -> Self {
        Self::InvalidParameter { name, value: value.to_string(), expected }
    }
}

//! Errors of the event layer: [`DecodeError`] from the sans-IO decoders (they know byte offsets,
//! not file names) and [`ReadError`] from the drivers (they add the path or address and keep the
//! events decoded before the problem).

use std::path::PathBuf;

use super::format::Format;
use super::recording::Recording;

/// What a decoder reports. Offsets count bytes from the start of the input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{format}: input ends inside {what} that starts at byte {offset}; the data is truncated")]
    Truncated { format: Format, what: String, offset: u64 },
    /// The input ended between two items, but before where its own header says the data ends.
    #[error("{format}: input ends at byte {offset}, but {what} at byte {expected}; the data is truncated")]
    EndsEarly { format: Format, offset: u64, what: &'static str, expected: u64 },
    #[error("{format}: {reason} at byte {offset}")]
    Corrupt { format: Format, offset: u64, reason: String },
    #[error("{format}: {what} at byte {offset} declares {declared} bytes, more than the limit of {limit}; the data is corrupt")]
    TooLarge { format: Format, what: &'static str, offset: u64, declared: u64, limit: u64 },
    #[error("{format}: {reason}")]
    Unsupported { format: Format, reason: String },
}

impl DecodeError {
    pub(crate) fn corrupt(format: Format, offset: u64, reason: impl Into<String>) -> Self {
        Self::Corrupt { format, offset, reason: reason.into() }
    }

    /// True when the input was cut short (inside an item, or before where its header says the
    /// data ends), false when what is there is wrong.
    pub fn is_truncation(&self) -> bool {
        matches!(self, Self::Truncated { .. } | Self::EndsEarly { .. })
    }

    pub(crate) fn truncated(format: Format, what: impl Into<String>, offset: u64) -> Self {
        Self::Truncated { format, what: what.into(), offset }
    }
}

/// What reading a whole file or stream reports.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: is a folder, not a recording; name a file (classify also takes folders)")]
    IsDirectory { path: PathBuf },
    #[error(
        "{path}: unknown event format ({reason}); supported are AEDAT 2.0/3.1/4.0, Prophesee EVT2/EVT3/DAT and N-MNIST/N-Caltech101 .bin; name one with --format"
    )]
    UnknownFormat { path: PathBuf, reason: String },
    /// The input broke off or is corrupt; `partial` holds everything decoded before that point.
    #[error("{path}: {source}")]
    Decode { path: PathBuf, source: DecodeError, partial: Box<Recording> },
}

impl ReadError {
    /// The events decoded before the error, where there were any.
    pub fn partial(&self) -> Option<&Recording> {
        match self {
            Self::Decode { partial, .. } => Some(partial),
            _ => None,
        }
    }
}

//! Rust errors as Python exceptions: the message is the Rust message with its causes (file,
//! offset, tensor), missing files become `FileNotFoundError`, everything else
//! `spikestream.SpikestreamError` (a `ValueError`).

use std::error::Error;
use std::io;

use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyValueError};

pyo3::create_exception!(spikestream, SpikestreamError, PyValueError, "An error reported by spikestream's Rust core; the message names the file, offset, flag or tensor.");

/// The message of `e` followed by each cause the message does not already contain.
pub fn message(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        source = s.source();
    }
    text
}

/// Whether an I/O error saying the file does not exist is in the chain of `e`.
fn not_found(e: &(dyn Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::NotFound) {
            return true;
        }
        next = e.source();
    }
    false
}

/// The Python exception for a Rust error.
pub fn to_py<E: Error + 'static>(e: E) -> PyErr {
    let text = message(&e);
    if not_found(&e) { PyFileNotFoundError::new_err(text) } else { SpikestreamError::new_err(text) }
}

/// A `SpikestreamError` with `text`.
pub fn invalid(text: impl Into<String>) -> PyErr {
    SpikestreamError::new_err(text.into())
}

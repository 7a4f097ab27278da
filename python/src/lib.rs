//! `spikestream._core`: the Rust half of the Python package. It exposes the crate's decoders
//! ([`events`]), its tonic / SpikingJelly framing ([`frames`]) and its inference engine
//! ([`model`]) as functions on NumPy arrays; the Python half (`python/spikestream/`) gives them
//! the ecosystem's names and argument conventions. Every call that decodes, frames or infers
//! releases the GIL, and arrays computed in Rust are handed to NumPy without a copy.

use pyo3::prelude::*;

mod errors;
mod events;
mod frames;
mod model;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SpikestreamError", m.py().get_type::<errors::SpikestreamError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    events::register(m)?;
    frames::register(m)?;
    model::register(m)?;
    Ok(())
}

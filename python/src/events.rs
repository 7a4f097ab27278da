//! Events between Rust and NumPy: `read` (a whole recording), `EventReader` (batches of a
//! fixed size, bounded memory) and `write` (AEDAT4 through the crate's atomic writer).
//!
//! Events cross as the crate's own [`Event`] layout (`t` u64 at 0, `x` u16 at 8, `y` u16 at 10,
//! `p` u8 0/1 at 12, 16 bytes): a decoded `Vec<Event>` becomes a NumPy structured array of that
//! dtype without a copy, and arrays coming in are read from their raw bytes.

use std::path::PathBuf;

use numpy::{Element, PyArray1, PyArrayDescr, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use spikestream::events::aedat4::{Aedat4Writer, WriterOptions};
use spikestream::events::file::ReadOptions;
use spikestream::events::{DecoderOptions, Event, EventReader, Format, Recording, Resolution, Trigger, read_file};
use spikestream::output::AtomicOutput;

use crate::errors::{invalid, to_py};

/// Bytes per event in the shared layout.
pub const EVENT_BYTES: usize = std::mem::size_of::<Event>();

/// An [`Event`] as a NumPy record (same memory, so a `Vec<Event>` converts in place).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct PyEvent(pub Event);

static EVENT_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

unsafe impl Element for PyEvent {
    const IS_COPY: bool = true;

    fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
        EVENT_DTYPE
            .get_or_init(py, || {
                let spec = PyDict::new(py);
                let set = |k: &str, v: Bound<'_, PyAny>| spec.set_item(k, v).expect("setting a key of a new dict");
                set("names", PyList::new(py, ["t", "x", "y", "p"]).expect("list").into_any());
                set("formats", PyList::new(py, ["<u8", "<u2", "<u2", "u1"]).expect("list").into_any());
                set("offsets", PyList::new(py, [0usize, 8, 10, 12]).expect("list").into_any());
                set("itemsize", EVENT_BYTES.into_pyobject(py).expect("int").into_any());
                PyArrayDescr::new(py, &spec).expect("the event dtype is valid").unbind()
            })
            .bind(py)
            .clone()
    }

    fn clone_ref(&self, _py: Python<'_>) -> Self {
        *self
    }
}

/// `events` as a NumPy structured array, without copying.
pub fn to_numpy(py: Python<'_>, events: Vec<Event>) -> Bound<'_, PyArray1<PyEvent>> {
    let mut events = std::mem::ManuallyDrop::new(events);
    // SAFETY: PyEvent is repr(transparent) over Event: same size, alignment and validity, so
    // the allocation is reused as is and freed with the same layout.
    let events = unsafe { Vec::from_raw_parts(events.as_mut_ptr().cast::<PyEvent>(), events.len(), events.capacity()) };
    PyArray1::from_vec(py, events)
}

/// Events from the raw bytes of a contiguous array of the event dtype (`spikestream.EVENT_DTYPE`).
pub fn from_bytes(bytes: &PyReadonlyArray1<'_, u8>) -> PyResult<Vec<Event>> {
    let raw = bytes.as_slice().map_err(|e| invalid(format!("events: {e}")))?;
    if raw.len() % EVENT_BYTES != 0 {
        return Err(invalid(format!("events: {} bytes is not a whole number of {EVENT_BYTES}-byte events", raw.len())));
    }
    Ok(raw
        .chunks_exact(EVENT_BYTES)
        .map(|r| {
            let u16_at = |i: usize| u16::from_le_bytes([r[i], r[i + 1]]);
            Event::new(u64::from_le_bytes(r[..8].try_into().expect("8 bytes")), u16_at(8), u16_at(10), r[12] != 0)
        })
        .collect())
}

/// The reading options from Python's `format` name and `sensor` size.
pub fn read_options(format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<ReadOptions> {
    let format = match format {
        None => None,
        Some(name) => Some(Format::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            invalid(format!("format='{name}' is not one of {}", known.join(", ")))
        })?),
    };
    if sensor.is_some_and(|(w, h)| w == 0 || h == 0) {
        return Err(invalid(format!("sensor={sensor:?}: width and height must be positive")));
    }
    let resolution = sensor.map(|(w, h)| Resolution::new(w, h));
    Ok(ReadOptions { format, decoder: DecoderOptions { resolution, ..Default::default() } })
}

fn triggers(triggers: &[Trigger]) -> Vec<(u64, u8, bool)> {
    triggers.iter().map(|t| (t.t, t.channel, t.rising)).collect()
}

/// The `info` dict of a recording: resolution `(W, H)` or None, format name, triggers as
/// `(t, channel, rising)` tuples, header metadata.
fn info<'py>(py: Python<'py>, format: Option<Format>, resolution: Option<Resolution>, trig: &[Trigger], metadata: Vec<(String, String)>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("resolution", resolution.map(|r| (r.width, r.height)))?;
    d.set_item("format", format.map(Format::name))?;
    d.set_item("triggers", triggers(trig))?;
    d.set_item("metadata", metadata.into_iter().collect::<std::collections::BTreeMap<_, _>>())?;
    Ok(d)
}

/// read(path, format=None, sensor=None) -> (events, info)
///
/// Decodes a whole recording. `events` is a structured array of `EVENT_DTYPE`.
#[pyfunction]
#[pyo3(signature = (path, format=None, sensor=None))]
fn read<'py>(py: Python<'py>, path: PathBuf, format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, Bound<'py, PyDict>)> {
    let options = read_options(format, sensor)?;
    let Recording { format, resolution, events, triggers, metadata, .. } = py.detach(|| read_file(&path, options)).map_err(to_py)?;
    let info = info(py, format, resolution, &triggers, metadata)?;
    Ok((to_numpy(py, events), info))
}

/// A recording read in batches of `batch` events (the last may be shorter).
#[pyclass(module = "spikestream._core", name = "EventReader", unsendable)]
struct PyEventReader {
    reader: EventReader,
    batch: usize,
    /// Decoded events not handed out yet.
    pending: Vec<Event>,
    triggers: Vec<Trigger>,
    done: bool,
}

#[pymethods]
impl PyEventReader {
    #[new]
    #[pyo3(signature = (path, batch=65536, format=None, sensor=None))]
    fn new(py: Python<'_>, path: PathBuf, batch: usize, format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<Self> {
        if batch == 0 {
            return Err(invalid("batch=0: a batch must hold at least one event"));
        }
        let options = read_options(format, sensor)?;
        let reader = py.detach(|| EventReader::open(&path, options)).map_err(to_py)?;
        Ok(Self { reader, batch, pending: Vec::new(), triggers: Vec::new(), done: false })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray1<PyEvent>>>> {
        let (batch, reader, pending, triggers, done) = (self.batch, &mut self.reader, &mut self.pending, &mut self.triggers, &mut self.done);
        triggers.clear();
        py.detach(|| -> PyResult<()> {
            let mut scratch = Vec::new();
            while pending.len() < batch && !*done {
                *done = !reader.next_batch(&mut scratch).map_err(to_py)?;
                pending.extend_from_slice(&scratch);
                triggers.extend_from_slice(reader.triggers());
            }
            Ok(())
        })?;
        if pending.is_empty() {
            return Ok(None);
        }
        let rest = pending.split_off(pending.len().min(batch));
        Ok(Some(to_numpy(py, std::mem::replace(pending, rest))))
    }

    /// Sensor size `(W, H)` from the header, or None.
    #[getter]
    fn resolution(&self) -> Option<(u16, u16)> {
        self.reader.resolution().map(|r| (r.width, r.height))
    }

    #[getter]
    fn format(&self) -> &'static str {
        self.reader.format().name()
    }

    /// Triggers decoded while the last batch was read, as `(t, channel, rising)`.
    #[getter]
    fn triggers(&self) -> Vec<(u64, u8, bool)> {
        triggers(&self.triggers)
    }

    /// Bytes of the file decoded so far.
    #[getter]
    fn offset(&self) -> u64 {
        self.reader.offset()
    }
}

/// write(path, events_bytes, resolution): writes an LZ4-compressed AEDAT4 file, atomically.
#[pyfunction]
fn write(py: Python<'_>, path: PathBuf, events: PyReadonlyArray1<'_, u8>, resolution: (u16, u16)) -> PyResult<u64> {
    if resolution.0 == 0 || resolution.1 == 0 {
        return Err(invalid(format!("resolution={resolution:?}: width and height must be positive")));
    }
    let sensor = Resolution::new(resolution.0, resolution.1);
    let events = from_bytes(&events)?;
    if let Some((i, e)) = events.iter().enumerate().find(|(_, e)| !sensor.contains(e)) {
        return Err(invalid(format!("event {i} (t={}, x={}, y={}) lies outside the {sensor} sensor", e.t, e.x, e.y)));
    }
    py.detach(|| -> PyResult<u64> {
        let output = AtomicOutput::create(&path).map_err(to_py)?;
        let fail = |e: std::io::Error| invalid(format!("{}: write failed: {e}", path.display()));
        let mut writer = Aedat4Writer::new(output.try_clone_file().map_err(to_py)?, WriterOptions::new(sensor)).map_err(fail)?;
        writer.write_events(&events).map_err(fail)?;
        writer.finish().map_err(fail)?;
        output.commit().map_err(to_py)?;
        Ok(events.len() as u64)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_class::<PyEventReader>()?;
    m.add("EVENT_DTYPE", PyEvent::get_dtype(m.py()))?;
    Ok(())
}

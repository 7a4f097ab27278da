//! Framing from Python with the crate's slicing and binning (`spikestream::frames`), which
//! equal tonic's `ToFrame` and SpikingJelly's `integrate_events_by_fixed_frames_number` bit for
//! bit (tests/frames_reference.rs). Only the output dtype is chosen here: tonic's int16 counts
//! (wrapping like its `np.add.at` on int16) or SpikingJelly's float64 / a float32.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use spikestream::events::{Event, Resolution};
use spikestream::frames::{Frames, Polarity, Slicing, bin_slices, slice};

use crate::errors::{invalid, to_py};
use crate::events::from_bytes;

/// Slices and bins `events` without the GIL.
fn frame(py: Python<'_>, events: &[Event], slicing: Slicing, sensor: Resolution, polarity: Polarity) -> PyResult<Frames> {
    py.detach(|| slice(events, slicing).and_then(|ranges| bin_slices(events, &ranges, sensor, polarity))).map_err(to_py)
}

/// `values` as an `[T, C, H, W]` NumPy array of `frames`' shape, without a copy.
fn shaped<T: numpy::Element>(py: Python<'_>, shape: [usize; 4], values: Vec<T>) -> PyResult<Bound<'_, PyAny>> {
    Ok(PyArray1::from_vec(py, values).reshape(shape)?.into_any())
}

fn sensor(width: u16, height: u16) -> PyResult<Resolution> {
    if width == 0 || height == 0 {
        return Err(invalid(format!("sensor_size has a zero side (W={width}, H={height})")));
    }
    Ok(Resolution::new(width, height))
}

/// tonic's `ToFrame` core: `mode` is the one slicing argument given (`time_window`,
/// `event_count`, `n_time_bins`, `n_event_bins`) and `value` its value. int16 `[T, P, H, W]`.
#[pyfunction]
#[pyo3(signature = (events, width, height, channels, mode, value, overlap, include_incomplete))]
#[allow(clippy::too_many_arguments)]
fn tonic_frames<'py>(py: Python<'py>, events: PyReadonlyArray1<'_, u8>, width: u16, height: u16, channels: usize, mode: &str, value: f64, overlap: f64, include_incomplete: bool) -> PyResult<Bound<'py, PyAny>> {
    let count = |name: &str, v: f64| -> PyResult<usize> {
        if v.fract() != 0.0 || v < 0.0 {
            return Err(invalid(format!("{name}={v} is not a non-negative whole number")));
        }
        Ok(v as usize)
    };
    let slicing = match mode {
        "time_window" => Slicing::TonicTimeWindow { window: value, overlap, include_incomplete },
        "event_count" => Slicing::TonicEventCount { count: count("event_count", value)?, overlap: count("overlap", overlap)?, include_incomplete },
        "n_time_bins" => Slicing::TonicTimeBins { bins: count("n_time_bins", value)?, overlap },
        "n_event_bins" => Slicing::TonicEventBins { bins: count("n_event_bins", value)?, overlap },
        other => return Err(invalid(format!("unknown slicing '{other}'"))),
    };
    let polarity = match channels {
        2 => Polarity::Split,
        1 => Polarity::Single,
        p => return Err(invalid(format!("sensor_size has {p} polarity channels; 1 or 2 are supported"))),
    };
    let events = from_bytes(&events)?;
    let frames = frame(py, &events, slicing, sensor(width, height)?, polarity)?;
    // np.add.at on int16 wraps; the f32 counts are exact below 2^24.
    let counts = py.detach(|| frames.data.iter().map(|&v| v as i64 as i16).collect::<Vec<i16>>());
    shaped(py, frames.shape(), counts)
}

/// SpikingJelly's `integrate_events_by_fixed_frames_number`: `split_by` is `number` or `time`,
/// output `[frames, 2, H, W]` float64 (SpikingJelly's dtype) or float32.
#[pyfunction]
#[pyo3(signature = (events, frames, split_by, height, width, float32=false))]
fn integrate<'py>(py: Python<'py>, events: PyReadonlyArray1<'_, u8>, frames: usize, split_by: &str, height: u16, width: u16, float32: bool) -> PyResult<Bound<'py, PyAny>> {
    let slicing = match split_by {
        "number" => Slicing::SjNumber { frames },
        "time" => Slicing::SjTime { frames },
        other => return Err(invalid(format!("split_by='{other}': 'number' or 'time' expected"))),
    };
    let events = from_bytes(&events)?;
    let out = frame(py, &events, slicing, sensor(width, height)?, Polarity::Split)?;
    let shape = out.shape();
    if float32 {
        return shaped(py, shape, out.data);
    }
    let wide = py.detach(|| out.data.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>());
    shaped(py, shape, wide)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tonic_frames, m)?)?;
    m.add_function(wrap_pyfunction!(integrate, m)?)?;
    Ok(())
}

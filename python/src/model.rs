//! `spikestream.Model`: a loaded IMP-SNN model, its framing and a backend, from Python.
//!
//! [`Engine`] is the one place that drives the crate's engine (`engine::run_frames` on a
//! backend opened like the CLI's `--backend`, padding a short batch as `classify` does); it is
//! meant to become a thin wrapper of `engine::Session` once that exists. Everything here runs
//! without the GIL.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::gpu::{ConvMode, GpuBackend};
use spikestream::engine::run::{Decoded, decode_scores};
use spikestream::engine::{Backend, run_frames};
use spikestream::events::{Recording, Resolution, read_bytes};
use spikestream::frames::framing::{Framing, FramingError};
use spikestream::gpu::{AdapterRequest, GpuContext};
use spikestream::model::{MetaOverrides, Model};

use crate::errors::{invalid, message, to_py};
use crate::events::{from_bytes, read_options};

/// The error type of [`Engine`]: the Rust message, turned into a Python exception by the caller.
type Result<T> = std::result::Result<T, PyErr>;

/// A model with its framing and a backend of `batch` lanes.
struct Engine {
    model: Model,
    framing: Framing,
    backend: Box<dyn Backend>,
    /// Which backend runs, and why.
    device: String,
}

impl Engine {
    /// Loads `path` and opens `backend` (`auto`: a hardware GPU, else the CPU; `gpu`: any GPU
    /// adapter; `cpu`), as the CLI's `--backend` does.
    fn open(path: &Path, backend: &str, batch: usize) -> Result<Self> {
        let model = Model::load(path, &MetaOverrides::default()).map_err(to_py)?;
        let framing = Framing::from_json(model.meta.framing.as_ref(), model.meta.timesteps).map_err(|e| invalid(format!("{}: {}", path.display(), message(&e))))?;
        model.graph.check_batch(batch, "batch").map_err(|e| invalid(e.to_string()))?;
        let request = match backend {
            "cpu" => None,
            "auto" => Some(AdapterRequest::from_env_or(AdapterRequest::Auto)),
            "gpu" => Some(AdapterRequest::from_env_or(AdapterRequest::Any)),
            other => return Err(invalid(format!("backend='{other}': 'auto', 'gpu' or 'cpu' expected"))),
        };
        let (backend, device): (Box<dyn Backend>, String) = match request {
            None => (Box::new(CpuBackend::new(&model.graph, batch)), "cpu".into()),
            Some(request) => match GpuContext::open(&request).map_err(to_py)? {
                (Some(ctx), why) => (Box::new(GpuBackend::with_context(ctx, &model.graph, batch, ConvMode::default()).map_err(to_py)?), format!("gpu: {}", why.reason)),
                (None, why) => (Box::new(CpuBackend::new(&model.graph, batch)), format!("cpu: {}", why.reason)),
            },
        };
        Ok(Self { model, framing, backend, device })
    }

    /// Runs `frames` (`[T, B, C, H, W]`, any B) in groups of the backend's batch, padding the
    /// last group with empty frames. Returns the decoded scores `[B, K]` (the model's decode)
    /// and the logits of every step `[T, B, K]`.
    fn classify_frames(&mut self, frames: &[f32], samples: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let (t, k) = (self.model.meta.timesteps, self.model.meta.num_classes);
        let per = self.model.graph.input.len();
        let lanes = self.backend.batch();
        let (mut scores, mut steps) = (vec![0f32; samples * k], vec![0f32; t * samples * k]);
        for first in (0..samples).step_by(lanes) {
            let n = lanes.min(samples - first);
            let mut group = vec![0f32; t * lanes * per];
            for s in 0..t {
                let from = (s * samples + first) * per;
                group[s * lanes * per..(s * lanes + n) * per].copy_from_slice(&frames[from..from + n * per]);
            }
            let p = run_frames(&mut *self.backend, &group, t, k, Decoded::PerStep).map_err(|e| invalid(format!("samples {first}..{}: {}", first + n, message(&e))))?;
            let decoded = decode_scores(self.model.meta.decode.into(), &p.per_step, lanes, k, t);
            for b in 0..n {
                scores[(first + b) * k..(first + b + 1) * k].copy_from_slice(&decoded[b]);
                for (s, rows) in p.per_step.iter().enumerate() {
                    steps[(s * samples + first + b) * k..(s * samples + first + b + 1) * k].copy_from_slice(&rows[b]);
                }
            }
        }
        Ok((scores, steps))
    }
}

/// The native half of `spikestream.Model` (see `spikestream/model.py`).
#[pyclass(module = "spikestream._core", name = "Engine")]
struct PyEngine {
    engine: Mutex<Engine>,
    path: PathBuf,
    backend: String,
    batch: usize,
    /// The online state of `step`: a batch-1 engine and the logits of the steps so far.
    online: Mutex<Option<(Engine, Vec<Vec<f32>>)>>,
}

/// A framing error: a read error names its file already, the others get `path` in front.
fn framing_error(path: &Path, e: FramingError) -> PyErr {
    match e {
        FramingError::Read(e) => to_py(e),
        e => invalid(format!("{}: {}", path.display(), message(&e))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn array<'py>(py: Python<'py>, data: Vec<f32>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.into_any())
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (path, backend="auto", batch=16))]
    fn new(py: Python<'_>, path: PathBuf, backend: &str, batch: usize) -> PyResult<Self> {
        let engine = py.detach(|| Engine::open(&path, backend, batch))?;
        Ok(Self { engine: Mutex::new(engine), path, backend: backend.into(), batch, online: Mutex::new(None) })
    }

    /// The model's metadata as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = lock(&self.engine);
        let m = &e.model.meta;
        let d = PyDict::new(py);
        d.set_item("path", self.path.display().to_string())?;
        d.set_item("arch", &m.arch)?;
        d.set_item("timesteps", m.timesteps)?;
        d.set_item("num_classes", m.num_classes)?;
        d.set_item("classes", &m.classes)?;
        d.set_item("input", (m.input[0], m.input[1], m.input[2]))?;
        d.set_item("framing", m.framing.as_ref().map(|f| f.to_string()))?;
        d.set_item("decode", format!("{:?}", Decoded::from(m.decode)).to_lowercase())?;
        d.set_item("backend", &e.device)?;
        d.set_item("batch", self.batch)?;
        Ok(d)
    }

    /// Arguments to rebuild this engine in another process (pickling).
    fn args(&self) -> (PathBuf, String, usize) {
        (self.path.clone(), self.backend.clone(), self.batch)
    }

    /// `[T, B, C, H, W]` float32 frames -> (scores `[B, K]`, per-step logits `[T, B, K]`).
    fn classify_frames<'py>(&self, py: Python<'py>, frames: PyReadonlyArrayDyn<'_, f32>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let shape = frames.shape().to_vec();
        let (t, k, input) = {
            let e = lock(&self.engine);
            (e.model.meta.timesteps, e.model.meta.num_classes, e.model.meta.input)
        };
        let [c, h, w] = input;
        let samples = match shape[..] {
            [st, b, cc, hh, ww] if [st, cc, hh, ww] == [t, c, h, w] => b,
            _ => return Err(invalid(format!("frames of shape {shape:?}; [{t}, B, {c}, {h}, {w}] float32 expected (T = the model's {t} timesteps)"))),
        };
        let data = frames.as_slice().map_err(|e| invalid(format!("frames: {e}")))?;
        let (scores, steps) = py.detach(|| lock(&self.engine).classify_frames(data, samples))?;
        Ok((array(py, scores, &[samples, k])?, array(py, steps, &[t, samples, k])?))
    }

    /// The model's frames `[T, C, H, W]` for a recording file.
    #[pyo3(signature = (path, format=None, sensor=None))]
    fn frames_of_file<'py>(&self, py: Python<'py>, path: PathBuf, format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<Bound<'py, PyAny>> {
        let options = read_options(format, sensor)?;
        let frames = py.detach(|| {
            let e = lock(&self.engine);
            e.framing.frames_from_file(&path, options, e.model.meta.input).map_err(|err| framing_error(&path, err))
        })?;
        let shape = frames.shape();
        array(py, frames.data, &shape)
    }

    /// The model's frames `[T, C, H, W]` for the bytes of a recording file (a Ray
    /// `read_binary_files` row); `name` labels errors.
    #[pyo3(signature = (data, name, format=None, sensor=None))]
    fn frames_of_bytes<'py>(&self, py: Python<'py>, data: &[u8], name: PathBuf, format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<Bound<'py, PyAny>> {
        let options = read_options(format, sensor)?;
        let frames = py.detach(|| {
            let e = lock(&self.engine);
            let recording = read_bytes(data, &name, options).map_err(to_py)?;
            e.framing.frames(&recording, e.model.meta.input).map_err(|err| framing_error(&name, err))
        })?;
        let shape = frames.shape();
        array(py, frames.data, &shape)
    }

    /// The model's frames `[T, C, H, W]` for events (raw bytes of `EVENT_DTYPE`) of a sensor.
    #[pyo3(signature = (events, sensor=None))]
    fn frames_of_events<'py>(&self, py: Python<'py>, events: PyReadonlyArray1<'_, u8>, sensor: Option<(u16, u16)>) -> PyResult<Bound<'py, PyAny>> {
        let recording = Recording { resolution: sensor.map(|(w, h)| Resolution::new(w, h)), events: from_bytes(&events)?, ..Default::default() };
        let frames = py.detach(|| {
            let e = lock(&self.engine);
            e.framing.frames(&recording, e.model.meta.input).map_err(|err| invalid(message(&err)))
        })?;
        let shape = frames.shape();
        array(py, frames.data, &shape)
    }

    /// One frame `[C, H, W]` of a stream. Returns None until the model's T frames have come,
    /// then (scores `[K]`, per-step logits `[T, K]`), and starts the next window.
    fn step<'py>(&self, py: Python<'py>, frame: PyReadonlyArrayDyn<'_, f32>) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
        let data = frame.as_slice().map_err(|e| invalid(format!("frame: {e}")))?;
        let shape = frame.shape().to_vec();
        let done = py.detach(|| -> PyResult<Option<(Vec<f32>, Vec<f32>, usize)>> {
            let mut online = lock(&self.online);
            if online.is_none() {
                *online = Some((Engine::open(&self.path, &self.backend, 1)?, Vec::new()));
            }
            let (engine, steps) = online.as_mut().expect("set above");
            let meta = &engine.model.meta;
            let [c, h, w] = meta.input;
            if shape != [c, h, w] {
                return Err(invalid(format!("frame of shape {shape:?}; [{c}, {h}, {w}] float32 expected")));
            }
            if steps.is_empty() {
                engine.backend.reset_all();
            }
            let step = steps.len();
            let logits = engine.backend.step(data, &[step], true).map_err(to_py)?.ok_or_else(|| invalid("the backend returned no logits"))?;
            steps.push(logits);
            if steps.len() < meta.timesteps {
                return Ok(None);
            }
            let per_step: Vec<Vec<Vec<f32>>> = steps.drain(..).map(|l| vec![l]).collect();
            let scores = decode_scores(meta.decode.into(), &per_step, 1, meta.num_classes, meta.timesteps).remove(0);
            Ok(Some((scores, per_step.into_iter().flatten().flatten().collect(), meta.num_classes)))
        })?;
        let Some((scores, steps, k)) = done else { return Ok(None) };
        let t = steps.len() / k;
        Ok(Some((array(py, scores, &[k])?, array(py, steps, &[t, k])?)))
    }

    /// Forgets the frames given to `step` so far.
    fn reset(&self) {
        if let Some((_, steps)) = lock(&self.online).as_mut() {
            steps.clear();
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()
}

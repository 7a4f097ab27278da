//! `spikestream.Model`: a loaded IMP-SNN model, its framing and a backend, from Python.
//!
//! [`Engine`] wraps the crate's [`Session`] (backend choice and fallback, batching and padding
//! live there, once); `step` runs a batch-1 backend opened by the same rule
//! ([`spikestream::engine::session::backend::open`]) so it can return every step's logits.
//! Everything here runs without the GIL.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikestream::engine::Backend;
use spikestream::engine::gpu::ConvMode;
use spikestream::engine::session::backend;
use spikestream::events::{Recording, Resolution, read_bytes};
use spikestream::frames::framing::FramingError;
use spikestream::{BackendChoice, Decode, Session, SessionOptions};

use crate::errors::{invalid, message, to_py};
use crate::events::{from_bytes, read_options};

/// The error type of [`Engine`]: the Rust message, turned into a Python exception by the caller.
type Result<T> = std::result::Result<T, PyErr>;

fn choice(backend: &str) -> Result<BackendChoice> {
    match backend {
        "auto" => Ok(BackendChoice::Auto),
        "gpu" => Ok(BackendChoice::Gpu),
        "cpu" => Ok(BackendChoice::Cpu),
        other => Err(invalid(format!("backend='{other}': 'auto', 'gpu' or 'cpu' expected"))),
    }
}

/// A [`Session`] of `batch` lanes that keeps every step's logits.
struct Engine {
    session: Session,
}

impl Engine {
    /// Loads `path` and opens `backend` (`auto`: a hardware GPU, else the CPU; `gpu`: any GPU
    /// adapter; `cpu`), as the CLI's `--backend` does.
    fn open(path: &Path, backend: &str, batch: usize) -> Result<Self> {
        // Per-step decoding keeps the logits of every step; the model's own decode is applied
        // to them in `classify_frames`.
        let options = SessionOptions { backend: choice(backend)?, batch, decode: Some(Decode::PerStep), ..SessionOptions::default() };
        Ok(Self { session: Session::open(path, options).map_err(to_py)? })
    }

    /// Runs `frames` of `shape` (`[T, B, C, H, W]`, any B; a static model: images
    /// `[B, C, H, W]`). Returns the scores `[B, K]` (the model's decode) and the logits of
    /// every step `[T, B, K]`.
    fn classify_frames(&mut self, shape: &[usize], frames: &[f32]) -> Result<(Vec<f32>, Vec<f32>, usize)> {
        let results = self.session.classify_frames(shape, frames).map_err(to_py)?;
        Ok(self.collect(&results))
    }

    /// A static model's image file (PNG, JPEG) or `.npy` images; as [`Engine::classify_frames`].
    fn classify_file(&mut self, path: &Path) -> Result<(Vec<f32>, Vec<f32>, usize)> {
        let results = self.session.classify_file(path, Default::default()).map_err(to_py)?;
        Ok(self.collect(&results))
    }

    /// (scores `[B, K]`, per-step logits `[T, B, K]`, B) of `results`.
    fn collect(&self, results: &[spikestream::Classification]) -> (Vec<f32>, Vec<f32>, usize) {
        let meta = &self.session.model().meta;
        let (t, k, samples) = (meta.timesteps, meta.num_classes, results.len());
        let (mut scores, mut steps) = (Vec::with_capacity(samples * k), vec![0f32; t * samples * k]);
        for (b, r) in results.iter().enumerate() {
            scores.extend(meta.decode.scores(r.logits.iter().map(Vec::as_slice), k, t));
            for (s, row) in r.logits.iter().enumerate() {
                steps[(s * samples + b) * k..(s * samples + b + 1) * k].copy_from_slice(row);
            }
        }
        (scores, steps, samples)
    }
}

/// The native half of `spikestream.Model` (see `spikestream/model.py`).
#[pyclass(module = "spikestream._core", name = "Engine")]
struct PyEngine {
    engine: Mutex<Engine>,
    path: PathBuf,
    backend: String,
    batch: usize,
    /// The online state of `step`: a batch-1 backend and the logits of the steps so far.
    online: Mutex<Option<(Box<dyn Backend>, Vec<Vec<f32>>)>>,
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
        let m = &e.session.model().meta;
        let d = PyDict::new(py);
        d.set_item("path", self.path.display().to_string())?;
        d.set_item("arch", &m.arch)?;
        d.set_item("timesteps", m.timesteps)?;
        d.set_item("num_classes", m.num_classes)?;
        d.set_item("classes", &m.classes)?;
        d.set_item("input", (m.input[0], m.input[1], m.input[2]))?;
        d.set_item("static", m.input_kind.is_static())?;
        d.set_item("framing", m.framing.as_ref().map(|f| f.to_string()))?;
        d.set_item("decode", format!("{:?}", m.decode).to_lowercase())?;
        d.set_item("backend", e.session.describe_backend())?;
        d.set_item("batch", self.batch)?;
        Ok(d)
    }

    /// Arguments to rebuild this engine in another process (pickling).
    fn args(&self) -> (PathBuf, String, usize) {
        (self.path.clone(), self.backend.clone(), self.batch)
    }

    /// `[T, B, C, H, W]` float32 frames (a static model: `[B, C, H, W]` images in [0, 1]) ->
    /// (scores `[B, K]`, per-step logits `[T, B, K]`).
    fn classify_frames<'py>(&self, py: Python<'py>, frames: PyReadonlyArrayDyn<'_, f32>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let shape = frames.shape().to_vec();
        let (t, k, [c, h, w], is_static) = {
            let e = lock(&self.engine);
            let m = &e.session.model().meta;
            (m.timesteps, m.num_classes, m.input, m.input_kind.is_static())
        };
        let expected = match (is_static, &shape[..]) {
            (false, &[st, _, cc, hh, ww]) => [st, cc, hh, ww] == [t, c, h, w],
            (true, &[_, cc, hh, ww]) => [cc, hh, ww] == [c, h, w],
            _ => false,
        };
        if !expected {
            let want = if is_static { format!("[B, {c}, {h}, {w}] float32 images in [0, 1] expected (a static model)") } else { format!("[{t}, B, {c}, {h}, {w}] float32 expected (T = the model's {t} timesteps)") };
            return Err(invalid(format!("frames of shape {shape:?}; {want}")));
        }
        let data = frames.as_slice().map_err(|e| invalid(format!("frames: {e}")))?;
        let (scores, steps, samples) = py.detach(|| lock(&self.engine).classify_frames(&shape, data))?;
        Ok((array(py, scores, &[samples, k])?, array(py, steps, &[t, samples, k])?))
    }

    /// A static model's image file (PNG, JPEG) or `.npy` `[N, C, H, W]` images -> (scores
    /// `[N, K]`, per-step logits `[T, N, K]`).
    fn classify_file<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (t, k) = {
            let e = lock(&self.engine);
            (e.session.model().meta.timesteps, e.session.model().meta.num_classes)
        };
        let (scores, steps, samples) = py.detach(|| lock(&self.engine).classify_file(&path))?;
        Ok((array(py, scores, &[samples, k])?, array(py, steps, &[t, samples, k])?))
    }

    /// The model's frames `[T, C, H, W]` for a recording file.
    #[pyo3(signature = (path, format=None, sensor=None))]
    fn frames_of_file<'py>(&self, py: Python<'py>, path: PathBuf, format: Option<&str>, sensor: Option<(u16, u16)>) -> PyResult<Bound<'py, PyAny>> {
        let options = read_options(format, sensor)?;
        let frames = py.detach(|| {
            let e = lock(&self.engine);
            e.session.framing().frames_from_file(&path, options, e.session.model().meta.input).map_err(|err| framing_error(&path, err))
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
            e.session.framing().frames(&recording, e.session.model().meta.input).map_err(|err| framing_error(&name, err))
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
            e.session.framing().frames(&recording, e.session.model().meta.input).map_err(|err| invalid(message(&err)))
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
            let meta = lock(&self.engine).session.model().meta.clone();
            let [c, h, w] = meta.input;
            if shape != [c, h, w] {
                return Err(invalid(format!("frame of shape {shape:?}; [{c}, {h}, {w}] float32 expected")));
            }
            let mut online = lock(&self.online);
            if online.is_none() {
                let graph = &lock(&self.engine).session.model().graph.clone();
                let (b, _) = backend::open(choice(&self.backend)?, None, graph, 1, ConvMode::default(), Default::default()).map_err(to_py)?;
                *online = Some((b, Vec::new()));
            }
            let (engine, steps) = online.as_mut().expect("set above");
            if steps.is_empty() {
                engine.reset_all();
            }
            let step = steps.len();
            let logits = engine.step(data, &[step], true).map_err(to_py)?.ok_or_else(|| invalid("the backend returned no logits"))?;
            steps.push(logits);
            if steps.len() < meta.timesteps {
                return Ok(None);
            }
            let per_step: Vec<Vec<f32>> = steps.drain(..).collect();
            let scores = meta.decode.scores(per_step.iter().map(Vec::as_slice), meta.num_classes, meta.timesteps);
            Ok(Some((scores, per_step.into_iter().flatten().collect(), meta.num_classes)))
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

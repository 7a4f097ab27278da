//! [`Session`]: a loaded model, its framing and a backend, and the one place where inputs
//! become decisions. It chooses the backend (the `auto` rule and its CPU fallback,
//! [`backend`]), splits inputs into samples ([`input`]), groups them into the backend's batch
//! (padding the last group with zero frames), runs them, and decodes the logits ([`Decode`],
//! softmax and top-k in [`result`]). [`Session::step`] runs a stream frame by frame through
//! [`Lanes`], so overlapping windows (`hop`) share one batched step. A static model (an image
//! fed at every timestep) computes its first layers once per batch ([`static_input`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use spikestream::{Session, SessionOptions, read_file};
//! let mut session = Session::open("model.safetensors", SessionOptions::default())?;
//! let recording = read_file("gesture.aedat4".as_ref(), Default::default())?;
//! println!("{}", session.classify(&recording)?.prediction.class);
//! # Ok(()) }
//! ```

pub mod backend;
mod error;
pub mod input;
mod result;
pub mod static_input;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use backend::BackendChoice;
pub use error::SessionError;
pub use input::{Loader, Sample};
pub use result::{Classification, Prediction, Ranked, softmax, top_k};

use crate::engine::gpu::ConvMode;
use crate::engine::run::run_frames;
use crate::engine::{Decode, EngineError};
use crate::events::Recording;
use crate::events::file::ReadOptions;
use crate::frames::framing::Framing;
use crate::frames::incremental::Close;
use crate::frames::image::Image;
use crate::model::{InputKind, MetaOverrides, Model};
use static_input::StaticRunner;
use crate::stream::lanes::lane_count;
use crate::stream::{Lanes, Output, Source, StreamConfig, StreamError, Summary};

/// How to open a [`Session`].
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub backend: BackendChoice,
    /// Run on the GPU adapter whose name contains this (any kind; implies a GPU).
    pub adapter: Option<String>,
    /// Samples per engine step (at least the stream's lanes are opened).
    pub batch: usize,
    /// How logits become a prediction; `None`: the model's `decode` metadata.
    pub decode: Option<Decode>,
    /// Metadata the model file lacks (keys as in `__metadata__`: `arch`, `timesteps`,
    /// `num_classes`, `input`, `classes`, `framing`); a value that contradicts the file is an error.
    pub overrides: MetaOverrides,
    /// Classes ranked in [`Prediction::top_k`] (at least 1).
    pub top_k: usize,
    /// For [`Session::step`]: a prediction every `hop` frames over the last T (`None`: T).
    pub hop: Option<usize>,
    /// The CPU backend's weight precision (reduced ones are CPU-only: [`backend::open`]).
    pub precision: crate::engine::cpu::Precision,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { backend: BackendChoice::Auto, adapter: None, batch: 16, decode: None, overrides: MetaOverrides::default(), top_k: 1, hop: None, precision: Default::default() }
    }
}

/// A model ready to classify recordings, frames or a stream of frames.
pub struct Session {
    model: Model,
    loader: Loader,
    decode: Decode,
    options: SessionOptions,
    /// The backend, inside the lanes [`Session::step`] drives.
    lanes: Lanes,
    /// Whether stream windows are open (a whole-sequence run abandons them).
    streaming: bool,
    notice: Option<String>,
    /// For a static model: what computes its first layers once per batch.
    static_runner: Option<StaticRunner>,
    /// Spikes per neuron layer and the lane-steps they came from, of the batches run without
    /// padding lanes (`full`) and of those with (`padded`), for [`Session::spike_rates`].
    full: (Vec<u64>, u64),
    padded: (Vec<u64>, u64),
}

impl Session {
    /// Loads the model file at `path` (with `options.overrides`) and opens its backend.
    pub fn open(path: impl AsRef<Path>, options: SessionOptions) -> Result<Self, SessionError> {
        let path = path.as_ref();
        let model = Model::load(path, &options.overrides).map_err(SessionError::Model)?;
        Self::with_model(model, &path.display().to_string(), options)
    }

    /// A session on a model already loaded; `name` labels errors about its metadata.
    pub fn with_model(model: Model, name: &str, options: SessionOptions) -> Result<Self, SessionError> {
        let meta = &model.meta;
        let framing = Framing::from_json(meta.framing.as_ref(), meta.timesteps).map_err(|source| SessionError::Framing { file: name.into(), source })?;
        let loader = Loader { framing, input: meta.input, timesteps: meta.timesteps, kind: meta.input_kind.clone() };
        let decode = options.decode.unwrap_or(meta.decode);
        let hop = options.hop.unwrap_or(meta.timesteps);
        crate::limits::count(|| "hop".into(), hop as u64, u32::MAX as u64)?;
        let batch = crate::limits::count(|| "batch".into(), options.batch as u64, crate::limits::MAX_BATCH)?.max(lane_count(meta.timesteps, hop));
        model.graph.check_batch(batch, "batch")?;
        let (choice, adapter, mode) = (options.backend, options.adapter.as_deref(), ConvMode::default());
        let split = if meta.input_kind.is_static() { static_input::split(&model.graph) } else { None };
        let (backend, static_runner, notice, frame_len) = match split {
            Some((prefix, suffix)) => {
                let (mut backends, notice) = backend::open_many(choice, adapter, &[&suffix, &prefix], batch, mode, options.precision)?;
                let prefix_backend = backends.pop().expect("two backends");
                let runner = StaticRunner::new(Some((prefix_backend, prefix.nodes.len())));
                (backends.pop().expect("two backends"), Some(runner), notice, suffix.input.len())
            }
            None => {
                let (backend, notice) = backend::open(choice, adapter, &model.graph, batch, mode, options.precision)?;
                let runner = meta.input_kind.is_static().then(|| StaticRunner::new(None));
                (backend, runner, notice, model.graph.input.len())
            }
        };
        let lanes = Lanes::new(backend, meta.timesteps, hop, meta.num_classes, decode, frame_len)?;
        Ok(Self { model, loader, decode, options, lanes, streaming: false, notice, static_runner, full: (Vec::new(), 0), padded: (Vec::new(), 0) })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model's framing metadata.
    pub fn framing(&self) -> &Framing {
        &self.loader.framing
    }

    /// What turns inputs into samples; it needs no backend, so threads can share it.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    pub fn decode(&self) -> Decode {
        self.decode
    }

    pub fn timesteps(&self) -> usize {
        self.model.meta.timesteps
    }

    pub fn classes(&self) -> &[String] {
        &self.model.meta.classes
    }

    /// Samples per engine step.
    pub fn batch(&self) -> usize {
        self.lanes.backend().batch()
    }

    /// `cpu`, or the GPU adapter and API.
    pub fn describe_backend(&self) -> String {
        self.lanes.backend().describe()
    }

    /// With `auto`: the line saying which backend was chosen and why (`notice: running on …`).
    pub fn backend_notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The same model and options on the CPU backend (the reference for `--compare`).
    pub fn on_cpu(&self) -> Result<Self, SessionError> {
        let options = SessionOptions { backend: BackendChoice::Cpu, adapter: None, batch: self.batch(), ..self.options.clone() };
        Self::with_model(self.model.clone(), "the model", options)
    }

    /// A recording (as [`crate::events::read_file`] returns it), framed as the model's framing
    /// metadata says.
    pub fn classify(&mut self, recording: &Recording) -> Result<Classification, SessionError> {
        let sample = self.loader.recording(recording)?;
        Ok(self.classify_samples(&[sample.as_slice()])?.remove(0))
    }

    /// Layers a static model computes once per batch instead of at every timestep (0 for an
    /// event model, or a static one whose first layer has a per-timestep scale).
    pub fn static_prefix_layers(&self) -> usize {
        self.static_runner.as_ref().map_or(0, StaticRunner::prefix_layers)
    }

    /// One image (a static model): normalised as the model's `mean` and `std` say and fed
    /// unchanged at every timestep.
    pub fn classify_image(&mut self, image: &Image) -> Result<Classification, SessionError> {
        let sample = self.loader.image(image)?;
        Ok(self.classify_samples(&[sample.as_slice()])?.remove(0))
    }

    /// Frames of `shape` `[T, C, H, W]` (one sample) or `[T, B, C, H, W]` (B samples), in order;
    /// for a static model, images `[C, H, W]` or `[N, C, H, W]` of values in `[0, 1]` (as
    /// torchvision's `ToTensor` gives), normalised as the model's `mean` and `std` say.
    pub fn classify_frames(&mut self, shape: &[usize], data: &[f32]) -> Result<Vec<Classification>, SessionError> {
        let samples = self.loader.frames(shape, data)?;
        self.classify_samples(&samples.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// An event recording or `.npy` frames file: one classification per sample it holds.
    pub fn classify_file(&mut self, path: &Path, options: ReadOptions) -> Result<Vec<Classification>, SessionError> {
        let samples = self.loader.file(path, options)?;
        self.classify_samples(&samples.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Samples of `[T, C, H, W]` each (a static model: `[C, H, W]` normalised images), run
    /// [`Session::batch`] at a time from the learned initial state; abandons open stream windows.
    pub fn classify_samples(&mut self, samples: &[&[f32]]) -> Result<Vec<Classification>, SessionError> {
        let (t, k) = (self.timesteps(), self.model.meta.num_classes);
        let per = self.loader.input.iter().product::<usize>();
        let (len, what) = if self.static_runner.is_some() { (per, format!("one static image {:?}", self.loader.input)) } else { (t * per, format!("one sample of {t} frames of {:?}", self.loader.input)) };
        if let Some(bad) = samples.iter().find(|s| s.len() != len) {
            return Err(EngineError::InputSize { what, expected: len, got: bad.len() }.into());
        }
        if self.streaming {
            self.lanes.resync();
            self.streaming = false;
        }
        let b = self.batch();
        let mut out = Vec::with_capacity(samples.len());
        for group in samples.chunks(b) {
            let run = match self.static_runner.as_mut() {
                Some(runner) => {
                    // `[B][C, H, W]` → `[B, C, H, W]`, a short group padded with zero images.
                    let mut images = vec![0f32; b * per];
                    for (i, sample) in group.iter().enumerate() {
                        images[i * per..(i + 1) * per].copy_from_slice(sample);
                    }
                    runner.run(self.lanes.backend_mut(), &images, t, k, self.decode)
                }
                None => {
                    // `[B][T, C, H, W]` → `[T, B, C, H, W]`, a short group padded with zero frames.
                    let mut frames = vec![0f32; t * b * per];
                    for (i, sample) in group.iter().enumerate() {
                        for s in 0..t {
                            frames[(s * b + i) * per..(s * b + i + 1) * per].copy_from_slice(&sample[s * per..(s + 1) * per]);
                        }
                    }
                    run_frames(self.lanes.backend_mut(), &frames, t, k, self.decode)
                }
            }
            .map_err(|e| self.engine_error(e))?;
            let (counts, steps) = if group.len() == b { &mut self.full } else { &mut self.padded };
            counts.resize(run.spike_counts.len(), 0);
            counts.iter_mut().zip(&run.spike_counts).for_each(|(c, n)| *c += n);
            *steps += (t * b) as u64;
            for (i, scores) in run.scores.into_iter().take(group.len()).enumerate() {
                let logits = run.per_step.iter().map(|rows| rows[i].clone()).collect();
                out.push(Classification::new(logits, scores, self.classes(), self.options.top_k));
            }
        }
        Ok(out)
    }

    /// Spikes per neuron and timestep of every neuron layer, over the samples classified so far
    /// (layer name, rate). Counted from the batches without padding lanes; only when every
    /// batch was padded (fewer samples than the batch), from those, padding lanes included.
    pub fn spike_rates(&self) -> Vec<(String, f64)> {
        let (counts, steps) = if self.full.1 > 0 { &self.full } else { &self.padded };
        let graph = &self.model.graph;
        graph.neuron_nodes().iter().zip(counts).map(|(&i, &c)| (graph.nodes[i].name.clone(), c as f64 / (*steps as f64 * graph.nodes[i].shape.len() as f64).max(1.0))).collect()
    }

    /// Overflowing logits: the error says which weight is the largest.
    fn engine_error(&self, e: EngineError) -> SessionError {
        match (&e, self.model.graph.largest_weight()) {
            (EngineError::NonFinite { .. }, Some((tensor, v))) => SessionError::NonFinite { source: e, hint: format!(" (the largest |weight| is {v:e}, in tensor '{tensor}')") },
            _ => e.into(),
        }
    }

    /// One stream frame `[C, H, W]`: steps every lane, and returns the decision of the window
    /// it completes (every `hop` frames once T frames have come).
    pub fn step(&mut self, frame: &[f32]) -> Result<Option<Prediction>, SessionError> {
        self.check_events("a stream frame")?;
        self.streaming = true;
        let done = self.lanes.push(frame).map_err(|e| self.engine_error(e))?;
        Ok(done.into_iter().next().map(|p| Prediction::from_scores(p.scores, &self.model.meta.classes, self.options.top_k)))
    }

    /// An error when the model takes static images, not event frames (`what` names the input).
    pub fn check_events(&self, what: &str) -> Result<(), SessionError> {
        match &self.model.meta.input_kind {
            InputKind::Events => Ok(()),
            kind => Err(SessionError::InputKind { what: what.into(), input: kind.input_text(self.model.meta.input), hint: " (an image fed at every timestep; give it PNG/JPEG files or .npy [N, C, H, W])" }),
        }
    }

    /// Abandons the open stream windows: the next frame starts a new window.
    pub fn reset_stream(&mut self) {
        self.lanes.resync();
    }

    /// A stream configuration for this model (timesteps, classes, input, hop, decode, and the
    /// framing's sensor, resize and polarity) whose frames close as `close` says.
    pub fn stream_config(&self, close: Close) -> StreamConfig {
        let meta = &self.model.meta;
        let framing = &self.loader.framing;
        let mut config = StreamConfig::new(close, meta.timesteps, meta.num_classes, meta.input);
        config.hop = self.options.hop.unwrap_or(meta.timesteps);
        config.decode = self.decode;
        config.fallback_sensor = framing.sensor;
        config.resize = framing.resize;
        config.polarity = framing.polarity;
        config
    }

    /// Runs the threaded stream pipeline ([`crate::stream::run`]) from `source` on this session's
    /// backend until the source ends or `stop` is set; `output` gets every prediction.
    pub fn run_stream(self, source: Box<dyn Source>, config: StreamConfig, stop: Arc<AtomicBool>, output: impl FnMut(Output)) -> (Summary, Result<(), StreamError>) {
        crate::stream::run(source, self.lanes.into_backend(), config, stop, output)
    }
}

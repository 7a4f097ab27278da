//! What the stages of the streaming pipeline (source, framer, engine, recorder; one thread each)
//! share: the [`Output`]s they send the caller, the [`Shared`] counters and stop flag, and
//! starting and joining a stage's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::StreamError;
use super::stats::{Counters, Latencies, Snapshot};

/// One prediction of the stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StreamPrediction {
    /// Window index j (frames `[j·hop, j·hop + T)` of the frames the engine received).
    pub window: u64,
    /// Event-time range of the window (µs): first frame's start, last frame's end.
    pub t_start: u64,
    pub t_end: u64,
    pub class: usize,
    /// Softmax probability of `class`.
    pub score: f32,
    /// The decoded logits.
    pub scores: Vec<f32>,
    /// From the arrival of the last frame's last event to the prediction.
    pub latency_ms: f64,
    /// From the closing of the last frame to the prediction.
    pub processing_ms: f64,
}

/// What the caller's callback receives.
#[derive(Clone, Debug)]
pub enum Output {
    Prediction(StreamPrediction),
    Stats(Snapshot),
    /// Connection changes and other lines for the user.
    Notice(String),
}

/// What every stage thread shares: the counters, the latencies and the stop flag.
pub(super) struct Shared {
    pub(super) counters: Counters,
    /// (since the last stats report, whole run)
    pub(super) latencies: Mutex<(Latencies, Latencies)>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    pub(super) fn new(stop: Arc<AtomicBool>) -> Self {
        Self { counters: Counters::default(), latencies: Mutex::new(Default::default()), stop }
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(super) fn stop_all(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts a stage on a thread named after it.
pub(super) fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> Result<T, StreamError> + Send + 'static) -> JoinHandle<Result<T, StreamError>> {
    thread::Builder::new().name(format!("stream {name}")).spawn(f).expect("spawning a pipeline thread")
}

/// A stage's result; a panic becomes [`StreamError::Panic`].
pub(super) fn join<T>(handle: JoinHandle<Result<T, StreamError>>) -> Result<T, StreamError> {
    handle.join().unwrap_or_else(|panic| {
        let what = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        Err(StreamError::Panic(what))
    })
}

//! The engine stage of the streaming pipeline: steps all lanes with each frame ([`Lanes`]) and
//! sends a [`StreamPrediction`] for every window that completes, with its latencies.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::StreamError;
use super::config::StreamConfig;
use super::framer::FrameMsg;
use super::lanes::Lanes;
use super::queue::PolicyReceiver;
use super::stage::{Output, Shared, StreamPrediction};
use super::stats::Counters;

/// Returns the number of frames left unprocessed (queued at a stop).
pub(super) fn engine_loop(mut lanes: Lanes, rx: PolicyReceiver<FrameMsg>, config: StreamConfig, out: Sender<Output>, shared: Arc<Shared>) -> Result<u64, StreamError> {
    let c = &shared.counters;
    let t = config.timesteps;
    // t_start of the last T frames, to label a window with its first frame's start.
    let mut starts: VecDeque<u64> = VecDeque::with_capacity(t + 1);
    let mut epoch = 0;
    loop {
        if shared.stopped() {
            return Ok(rx.len() as u64);
        }
        let frame = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(0),
        };
        if frame.epoch != epoch {
            // The framer resynchronised after a clock glitch: the open windows are void.
            epoch = frame.epoch;
            lanes.resync();
            starts.clear();
        }
        let begin = Instant::now();
        let predictions = lanes.push(&frame.data)?;
        let done = Instant::now();
        Counters::add(&c.frames_stepped, 1);
        starts.push_back(frame.t_start);
        if starts.len() > t {
            starts.pop_front();
        }
        let mut lat = shared.latencies.lock().map_err(|_| StreamError::Panic("latency lock poisoned".into()))?;
        lat.0.step.record(done - begin);
        lat.1.step.record(done - begin);
        for p in predictions {
            let (e2e, processing) = (done.saturating_duration_since(frame.arrival), done.saturating_duration_since(frame.closed));
            lat.0.end_to_end.record(e2e);
            lat.1.end_to_end.record(e2e);
            lat.0.processing.record(processing);
            lat.1.processing.record(processing);
            Counters::add(&c.predictions, 1);
            let prediction = StreamPrediction {
                window: p.window,
                t_start: starts.front().copied().unwrap_or(frame.t_start),
                t_end: frame.t_end,
                class: p.class,
                score: p.score,
                scores: p.scores,
                latency_ms: e2e.as_secs_f64() * 1e3,
                processing_ms: processing.as_secs_f64() * 1e3,
            };
            if out.send(Output::Prediction(prediction)).is_err() {
                return Ok(rx.len() as u64);
            }
        }
    }
}

//! The threaded pipeline: source → framer → engine → output, each stage a thread joined by
//! bounded `crossbeam-channel` queues, plus a recorder thread for `--record`.
//!
//! - The **source** thread polls the [`Source`], hands every batch to the recorder first (so a
//!   recording holds every event received, whatever is dropped later, see [`super::record`]),
//!   then to the framer.
//! - The **framer** bins events into frames that close on event time or count
//!   ([`StreamFramer`]); when no event comes for `idle`, it advances the event clock by the wall
//!   time elapsed since the last event (times the source's clock rate), so a quiet scene still
//!   produces frames. It resizes frames to the model's input and queues them under the overload
//!   policy ([`super::queue`]).
//! - The **engine** thread steps all lanes with each frame ([`Lanes`]) and emits predictions.
//! - The caller's thread receives [`Output`]s (predictions, periodic stats, notices).
//!
//! Ending: the source ending (end of file, a closed server without reconnection) drains the
//! pipeline, so every frame is processed; the stop flag (Ctrl-C) ends every stage at once,
//! leaving queued frames unprocessed (counted) but the recording complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded, unbounded};

use super::StreamError;
use super::config::StreamConfig;
use super::engine_thread::engine_loop;
use super::framer::{FrameMsg, SourceMsg, framer_loop};
use super::lanes::Lanes;
use super::queue::queue;
use super::record;
use super::source::Source;
use super::source_thread::source_loop;
use super::stage::{Output, Shared, join, spawn};
use super::stats::{Counters, Ending, Snapshot, Summary};
use crate::engine::Backend;

/// Runs the stream until the source ends, the stop flag is set, or an error; calls `output`
/// on this thread for every prediction, stats report and notice. The summary comes back also
/// with an error.
pub fn run(source: Box<dyn Source>, backend: Box<dyn Backend>, config: StreamConfig, stop: Arc<AtomicBool>, mut output: impl FnMut(Output)) -> (Summary, Result<(), StreamError>) {
    let started = Instant::now();
    let shared = Arc::new(Shared::new(stop));
    let lanes_n = config.lanes();
    let describe = source.describe();
    let (out_tx, out_rx) = unbounded::<Output>();
    let [c, h, w] = config.input;
    let lanes = match Lanes::new(backend, config.timesteps, config.hop, config.classes, config.decode, c * h * w) {
        Ok(l) => l,
        Err(e) => return (empty_summary(&describe, &config, started), Err(e.into())),
    };
    let (record_tx, record_thread) = match record::start(&config, &out_tx, &shared) {
        Ok(r) => r,
        Err(e) => return (empty_summary(&describe, &config, started), Err(e)),
    };
    let (events_tx, events_rx) = bounded::<SourceMsg>(64);
    let dropped = Arc::new(AtomicU64::new(0));
    let (frames_tx, frames_rx) = queue::<FrameMsg>(config.queue, config.overload, Arc::clone(&dropped));
    let clock_rate = source.clock_rate();

    let source_thread = {
        let (s, cfg, out) = (Arc::clone(&shared), config.clone(), out_tx.clone());
        spawn("source", move || source_loop(source, cfg, events_tx, record_tx, out, s))
    };
    let framer_thread = {
        let (s, cfg, out) = (Arc::clone(&shared), config.clone(), out_tx.clone());
        spawn("framer", move || framer_loop(events_rx, frames_tx, cfg, clock_rate, out, s))
    };
    let engine_thread = {
        let (s, cfg, out) = (Arc::clone(&shared), config.clone(), out_tx);
        spawn("engine", move || engine_loop(lanes, frames_rx, cfg, out, s))
    };

    let mut last_report = (Instant::now(), [0u64; 3]);
    loop {
        let wait = config.stats_every.map_or(Duration::from_millis(200), |every| every.saturating_sub(last_report.0.elapsed()).max(Duration::from_millis(1)));
        match out_rx.recv_timeout(wait) {
            Ok(o) => output(o),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if config.stats_every.is_some_and(|every| last_report.0.elapsed() >= every) {
            let snapshot = snapshot(&shared, &dropped, started, &mut last_report);
            output(Output::Stats(snapshot));
        }
    }

    let source_result = join(source_thread);
    let framer_result = join(framer_thread);
    let engine_result = join(engine_thread);
    let record_result = record_thread.map(join);
    let counters = &shared.counters;
    let (open_events, framer_error) = match framer_result {
        Ok(n) => (n, None),
        Err(e) => (0, Some(e)),
    };
    let (unprocessed, engine_error) = match engine_result {
        Ok(n) => (n, None),
        Err(e) => (0, Some(e)),
    };
    let (report, source_error) = match source_result {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
    };
    let (recorded, record_error) = match record_result {
        None => (None, None),
        Some(Ok(n)) => (Some(n), None),
        Some(Err(e)) => (Some(Counters::get(&counters.recorded)), Some(e)),
    };
    let error = source_error.or(record_error).or(framer_error).or(engine_error);
    let duration = started.elapsed().as_secs_f64();
    let events = Counters::get(&counters.events);
    let total = shared.latencies.lock().map(|l| l.1.clone()).unwrap_or_default();
    let ending = match (&error, &report) {
        (Some(_), _) => Ending::Error,
        (None, Some(_)) if shared.stopped() => Ending::Stopped,
        (None, Some(r)) => r.ending,
        (None, None) => Ending::Error,
    };
    let summary = Summary {
        source: report.as_ref().map_or(describe, |r| r.describe.clone()),
        ending,
        duration_s: duration,
        resolution: report.as_ref().and_then(|r| r.resolution),
        events,
        event_rate: events as f64 / duration.max(1e-9),
        event_time: report.as_ref().and_then(|r| r.event_time),
        events_out_of_sensor: Counters::get(&counters.out_of_sensor),
        recorded,
        frames: Counters::get(&counters.frames),
        frames_dropped: Counters::get(&dropped),
        frames_unprocessed: unprocessed,
        events_in_open_frame: open_events,
        predictions: Counters::get(&counters.predictions),
        lanes: lanes_n,
        hop: config.hop,
        reconnects: Counters::get(&counters.reconnects),
        time_jumps: Counters::get(&counters.time_jumps),
        step: total.step.percentiles(),
        processing: total.processing.percentiles(),
        end_to_end: total.end_to_end.percentiles(),
    };
    (summary, error.map_or(Ok(()), Err))
}

fn empty_summary(describe: &str, config: &StreamConfig, started: Instant) -> Summary {
    Summary {
        source: describe.into(),
        ending: Ending::Error,
        duration_s: started.elapsed().as_secs_f64(),
        resolution: None,
        events: 0,
        event_rate: 0.0,
        event_time: None,
        events_out_of_sensor: 0,
        recorded: None,
        frames: 0,
        frames_dropped: 0,
        frames_unprocessed: 0,
        events_in_open_frame: 0,
        predictions: 0,
        lanes: config.lanes(),
        hop: config.hop,
        reconnects: 0,
        time_jumps: 0,
        step: Default::default(),
        processing: Default::default(),
        end_to_end: Default::default(),
    }
}

fn snapshot(shared: &Shared, dropped: &AtomicU64, started: Instant, last: &mut (Instant, [u64; 3])) -> Snapshot {
    let c = &shared.counters;
    let now = [Counters::get(&c.events), Counters::get(&c.frames), Counters::get(&c.predictions)];
    let interval = last.0.elapsed().as_secs_f64().max(1e-9);
    let rate = |i: usize| (now[i] - last.1[i]) as f64 / interval;
    let window = shared.latencies.lock().map(|mut l| std::mem::take(&mut l.0)).unwrap_or_default();
    let dropped = Counters::get(dropped);
    let snapshot = Snapshot {
        elapsed_s: started.elapsed().as_secs_f64(),
        interval_s: interval,
        event_rate: rate(0),
        frame_rate: rate(1),
        prediction_rate: rate(2),
        events: now[0],
        frames: now[1],
        predictions: now[2],
        frames_dropped: dropped,
        time_jumps: Counters::get(&c.time_jumps),
        queue_events: Counters::get(&c.batches).saturating_sub(Counters::get(&c.batches_framed)) as usize,
        queue_frames: now[1].saturating_sub(Counters::get(&c.frames_stepped) + dropped) as usize,
        step: window.step.percentiles(),
        processing: window.processing.percentiles(),
        end_to_end: window.end_to_end.percentiles(),
    };
    *last = (Instant::now(), now);
    snapshot
}

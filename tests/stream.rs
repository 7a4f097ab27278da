//! Live streaming in-process (`spikestream::stream`):
//! - a replayed recording (`replay:FILE --speed max`) gives exactly the predictions of offline
//!   inference (`run_frames` on the CPU backend, one window at a time) on the same frame windows,
//!   for every hop (lanes) and both decodes;
//! - a deliberately slow engine: drop-oldest drops and counts frames, block drops none, neither
//!   deadlocks, and `--record` holds every event either way (also after a stop).
//! The command-line, network and stdin cases are in `tests/stream_live.rs`.

mod stream_common;

use stream_common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::{Backend, EngineError, run_frames};
use spikestream::events::Event;
use spikestream::model::meta::Decode;
use spikestream::stream::source::{OpenOptions, SourceSpec, Speed, open};
use spikestream::stream::stats::Ending;
use spikestream::stream::{Output, Overload, StreamPrediction, Summary};


fn replay_equals_offline(hop: usize, decode: Decode) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.aedat4");
    let events = moving_blob(1, 60_000, 300_000);
    write_aedat4(&file, &events, 5000);
    let model = model();
    let lanes = config(hop, decode).lanes();
    let source = format!("replay:{}", file.display());
    let (got, summary) = run_stream(&source, Box::new(CpuBackend::new(&model.graph, lanes)), config(hop, decode), Arc::default());

    let frames = offline_frames(&events);
    let per = frames.channels * frames.height * frames.width;
    assert_eq!(summary.frames as usize, frames.frames, "frames closed by the stream");
    let windows = (frames.frames - T) / hop + 1;
    assert_eq!(got.len(), windows, "hop {hop}: one prediction per window [j·hop, j·hop + T)\n{summary}");
    let mut offline = CpuBackend::new(&model.graph, 1);
    let mut distinct = std::collections::HashSet::new();
    for (j, p) in got.iter().enumerate() {
        assert_eq!(p.window, j as u64);
        let first = j * hop;
        let want = run_frames(&mut offline, &frames.data[first * per..(first + T) * per], T, CLASSES, decode).unwrap();
        let t0 = events[0].t;
        assert_eq!((p.t_start, p.t_end), (t0 + first as u64 * FRAME_US, t0 + (first + T) as u64 * FRAME_US), "window {j} time range");
        assert_eq!(p.scores, want.scores[0], "hop {hop}, {decode:?}: window {j} (frames {first}..{}) logits differ from offline", first + T);
        assert_eq!(p.class, want.argmax(0));
        distinct.insert(p.scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
    // (The last step alone of this random model can be the same for every window.)
    if decode == Decode::Mean {
        assert!(distinct.len() > windows / 2, "the windows should give different logits ({} distinct of {windows})", distinct.len());
    }
    assert_eq!(summary.ending, Ending::SourceEnded);
    assert_eq!(summary.events, events.len() as u64);
}

#[test]
fn replay_equals_offline_one_lane() {
    replay_equals_offline(T, Decode::Mean);
}

#[test]
fn replay_equals_offline_hop_1_four_lanes() {
    replay_equals_offline(1, Decode::Mean);
}

#[test]
fn replay_equals_offline_hop_2_two_lanes() {
    replay_equals_offline(2, Decode::Mean);
}

#[test]
fn replay_equals_offline_hop_3_idle_lane_gaps() {
    replay_equals_offline(3, Decode::Mean);
}

#[test]
fn replay_equals_offline_decode_last() {
    replay_equals_offline(1, Decode::Last);
}

// ---- 2. a slow engine: overload policies ----

/// The CPU backend, sleeping in every step.
struct Slow {
    inner: CpuBackend,
    sleep: Duration,
}

impl Backend for Slow {
    fn describe(&self) -> String {
        "slow cpu".into()
    }
    fn batch(&self) -> usize {
        self.inner.batch()
    }
    fn reset(&mut self, lanes: &[usize]) {
        self.inner.reset(lanes)
    }
    fn step(&mut self, input: &[f32], steps: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
        std::thread::sleep(self.sleep);
        self.inner.step(input, steps, logits)
    }
    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
        self.inner.spike_counts()
    }
    fn last_spikes(&mut self, node: usize) -> Result<Vec<f32>, EngineError> {
        self.inner.last_spikes(node)
    }
}

fn slow_engine(overload: Overload) -> (Vec<StreamPrediction>, Summary, Vec<Event>, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let (file, record) = (dir.path().join("in.aedat4"), dir.path().join("record.aedat4"));
    let events = moving_blob(2, 40_000, 400_000);
    write_aedat4(&file, &events, 2000);
    let model = model();
    let mut c = config(1, Decode::Mean);
    c.overload = overload;
    c.queue = 2;
    c.record = Some(record.clone());
    let backend = Box::new(Slow { inner: CpuBackend::new(&model.graph, c.lanes()), sleep: Duration::from_millis(15) });
    let (p, s) = run_stream(&format!("replay:{}", file.display()), backend, c, Arc::default());
    (p, s, events, recorded(&record))
}

#[test]
fn slow_engine_drop_oldest_counts_drops_and_records_everything() {
    let (predictions, summary, events, record) = slow_engine(Overload::DropOldest);
    assert!(summary.frames_dropped > 0, "a 15 ms step against instant frames must drop some\n{summary}");
    assert!(summary.frames_dropped < summary.frames);
    assert_eq!(summary.ending, Ending::SourceEnded);
    // Every frame that got in was stepped: T frames make the first window, then one each.
    let stepped = summary.frames - summary.frames_dropped;
    assert_eq!(predictions.len() as u64, stepped.saturating_sub(T as u64 - 1), "{summary}");
    assert_same_events("--record with drop-oldest", &events, &record);
    assert_eq!(summary.recorded, Some(events.len() as u64));
}

#[test]
fn slow_engine_block_drops_nothing() {
    let (predictions, summary, events, record) = slow_engine(Overload::Block);
    assert_eq!(summary.frames_dropped, 0, "{summary}");
    assert_eq!(predictions.len() as u64, summary.frames - (T as u64 - 1), "{summary}");
    assert_same_events("--record with block", &events, &record);
}

#[test]
fn stop_flag_ends_cleanly_with_a_complete_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (file, record) = (dir.path().join("in.aedat4"), dir.path().join("record.aedat4"));
    let events = moving_blob(3, 200_000, 4_000_000);
    write_aedat4(&file, &events, 2000);
    let model = model();
    let mut c = config(1, Decode::Mean);
    c.record = Some(record.clone());
    let backend = Box::new(Slow { inner: CpuBackend::new(&model.graph, c.lanes()), sleep: Duration::from_millis(20) });
    let stop = Arc::new(AtomicBool::new(false));
    // Real time, so the stop comes long before the 4 s of events are read.
    let src = open(&SourceSpec::parse(&format!("replay:{}", file.display())).unwrap(), &OpenOptions { speed: Speed::Factor(1.0), ..OpenOptions::default() }).unwrap();
    let mut n = 0;
    let (summary, result) = spikestream::stream::run(src, backend, c, Arc::clone(&stop), |o| {
        if let Output::Prediction(_) = o {
            n += 1;
            if n == 3 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    result.unwrap();
    assert_eq!(summary.ending, Ending::Stopped, "{summary}");
    assert!(summary.events < events.len() as u64, "the stop came before the end of the file\n{summary}");
    let got = recorded(&record);
    assert_eq!(got.len() as u64, summary.events, "the recording holds every event the source read");
    assert_same_events("--record after a stop", &events[..got.len()], &got);
}

// ---- 3. the CLI: reconnect after a mid-packet drop, Ctrl-C ----

//! Fixtures shared by the streaming tests (`tests/stream.rs`, `tests/stream_live.rs`): a small
//! IMP model, synthetic recordings, and running a stream in-process.
#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::{Value, json};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::{Backend, EngineError, run_frames};
use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, IoHeader, VERSION_LINE, WriterOptions};
use spikestream::events::ReadOptions;
use spikestream::events::{Event, Resolution, read_file};
use spikestream::frames::bin::Polarity;
use spikestream::frames::incremental::Close;
use spikestream::frames::resize::resize;
use spikestream::frames::{Frames, bin_slices};
use spikestream::model::meta::Decode;
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model};
use spikestream::stream::source::{OpenOptions, SourceSpec, Speed, open};
use spikestream::stream::stats::Ending;
use spikestream::stream::{Output, Overload, StreamConfig, StreamPrediction, Summary};


pub const T: usize = 4;
pub const CLASSES: usize = 5;
pub const SENSOR: Resolution = Resolution::new(128, 96);
pub const FRAME_US: u64 = 20_000;

// ---- fixtures ----

/// A small random vgg11_48_legacy (T = 4, 2x48x48, widths / 16, IMP) whose TEBN scales differ per
/// timestep, so a lane stepped at the wrong timestep index gives other logits; its framing resizes
/// the sensor to 48x48.
pub fn model_bytes() -> Vec<u8> {
    let spec = SynthSpec { arch: "vgg11_48_legacy".into(), num_classes: CLASSES, timesteps: T, input: [2, 48, 48], width_div: 16, imp: true, seed: 11 };
    let bytes = synth_model_bytes(&spec).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    meta.insert("framing".into(), json!({"resize": "48x48"}).to_string());
    meta.insert("classes".into(), json!(["a", "b", "c", "d", "e"]).to_string());
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut data = view.data().to_vec();
            if name.ends_with(".bn.te") {
                for (i, v) in data.chunks_exact_mut(4).enumerate() {
                    v.copy_from_slice(&[1.0f32, 0.75, 1.25, 0.875][i % 4].to_le_bytes());
                }
            }
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned.iter().map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

pub fn model() -> Model {
    Model::from_bytes(&model_bytes(), "stream test model", &MetaOverrides::default()).unwrap()
}

pub fn write_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.safetensors");
    std::fs::write(&path, model_bytes()).unwrap();
    path
}

/// `n` events of a blob moving across the sensor over `duration_us`, from `seed`.
pub fn moving_blob(seed: u64, n: usize, duration_us: u64) -> Vec<Event> {
    let mut state = seed;
    let mut next = move || spikestream::rng::splitmix64(&mut state);
    let t0 = 1_700_000_000_000_000u64;
    let (w, h) = (f64::from(SENSOR.width), f64::from(SENSOR.height));
    (0..n)
        .map(|i| {
            let t = t0 + (i as u64 * duration_us) / n as u64;
            let phase = i as f64 / n as f64;
            let (cx, cy) = (0.1 * w + 0.8 * w * phase, h / 2.0 + 0.3 * h * (phase * std::f64::consts::TAU).sin());
            let jitter = |r: u64, span: f64| (r % 1000) as f64 / 1000.0 * span - span / 2.0;
            let x = (cx + jitter(next(), w / 6.0)).clamp(0.0, w - 1.0) as u16;
            let y = (cy + jitter(next(), h / 6.0)).clamp(0.0, h - 1.0) as u16;
            Event::new(t, x, y, next() & 1 == 1)
        })
        .collect()
}

pub fn write_aedat4(path: &Path, events: &[Event], packet_events: usize) {
    let options = WriterOptions { compression: Compression::Lz4, resolution: SENSOR, source: "stream test".into(), packet_events };
    let mut w = Aedat4Writer::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap()), options).unwrap();
    w.write_events(events).unwrap();
    w.finish().unwrap();
}

pub fn recorded(path: &Path) -> Vec<Event> {
    let r = read_file(path, ReadOptions::default()).unwrap_or_else(|e| panic!("the recording {} does not read back: {e}", path.display()));
    assert_eq!(r.resolution, Some(SENSOR), "the recording's sensor");
    r.events
}

pub fn assert_same_events(what: &str, expected: &[Event], got: &[Event]) {
    if let Some(i) = expected.iter().zip(got).position(|(e, g)| e != g) {
        panic!("{what}: event {i} differs: expected {:?}, got {:?}", expected[i], got[i]);
    }
    assert_eq!(got.len(), expected.len(), "{what}: event count");
}

pub fn config(hop: usize, decode: Decode) -> StreamConfig {
    let mut c = StreamConfig::new(Close::EveryMicros(FRAME_US), T, CLASSES, [2, 48, 48]);
    c.hop = hop;
    c.decode = decode;
    c.resize = Some((48, 48));
    c
}

/// Runs the library pipeline to the end; returns the predictions and the summary.
pub fn run_stream(source: &str, backend: Box<dyn Backend>, config: StreamConfig, stop: Arc<AtomicBool>) -> (Vec<StreamPrediction>, Summary) {
    let spec = SourceSpec::parse(source).unwrap();
    let src = open(&spec, &OpenOptions { speed: Speed::Max, ..OpenOptions::default() }).unwrap();
    let mut predictions = Vec::new();
    let (summary, result) = spikestream::stream::run(src, backend, config, stop, |o| {
        if let Output::Prediction(p) = o {
            predictions.push(p);
        }
    });
    result.unwrap_or_else(|e| panic!("stream failed: {e}\n{summary}"));
    (predictions, summary)
}

// ---- 1. replay equals offline inference ----

/// Frames `[k·FRAME_US, (k+1)·FRAME_US)` from the first event, every window the last event
/// closes, binned and resized offline.
pub fn offline_frames(events: &[Event]) -> Frames {
    let t0 = events[0].t;
    let count = ((events[events.len() - 1].t - t0) / FRAME_US) as usize;
    let ranges: Vec<_> = (0..count)
        .map(|k| {
            let (a, b) = (t0 + k as u64 * FRAME_US, t0 + (k as u64 + 1) * FRAME_US);
            events.partition_point(|e| e.t < a)..events.partition_point(|e| e.t < b)
        })
        .collect();
    resize(&bin_slices(events, &ranges, SENSOR, Polarity::Split).unwrap(), 48, 48).unwrap()
}

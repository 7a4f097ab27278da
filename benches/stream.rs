//! Streaming speed: the sustained event rate that decoding + framing keep up with (goal:
//! 50 M events/s), the whole threaded pipeline on a replay at `--speed max`, and the prediction
//! latency of a small model on the CPU backend (one batched lane step, and end to end on a
//! real-time replay) and of the shipped demo model on both backends.
//!
//! `cargo bench --bench stream` (criterion); the end-to-end latency runs print their own
//! p50/p99 and run only under `cargo bench`. A filter selects them like criterion's:
//! `cargo bench --bench stream -- "demo model"` runs the demo model's rows only. A software GPU
//! adapter (Mesa lavapipe / llvmpipe) is measured too, marked as such: it runs the shaders on
//! the CPU, so its latency is lavapipe's, not a GPU's.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, black_box};
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::{Backend, EngineError};
use spikestream::events::formats::aedat4::{Aedat4Decoder, Aedat4Writer, Compression, WriterOptions};
use spikestream::events::{Decoder, DecoderOptions, Event, Resolution};
use spikestream::frames::bin::Polarity;
use spikestream::frames::incremental::{Close, StreamFramer};
use spikestream::model::meta::Decode;
use spikestream::model::synth::{SynthSpec, synth_model_bytes};
use spikestream::model::{MetaOverrides, Model};
use spikestream::stream::source::{OpenOptions, SourceSpec, Speed, open};
use spikestream::stream::{Lanes, Output, StreamConfig};

const SENSOR: Resolution = Resolution::new(640, 480);
const EVENTS: usize = 4_000_000;
/// Event time the bench events span: 4 M events in 0.2 s is a 20 M ev/s scene.
const SPAN_US: u64 = 200_000;

fn events(n: usize, span_us: u64) -> Vec<Event> {
    let mut s = 0x1234_5678_9abc_def0u64;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let t = 1_700_000_000_000_000 + i as u64 * span_us / n as u64;
            Event::new(t, (s % 640) as u16, ((s >> 20) % 480) as u16, s >> 63 == 1)
        })
        .collect()
}

/// The file bytes of `events` (AEDAT4 with `compression`); the network stream is the same
/// packets after the header.
fn aedat4(events: &[Event], compression: Compression) -> Vec<u8> {
    let options = WriterOptions { compression, resolution: SENSOR, source: "bench".into(), packet_events: 8192 };
    let mut w = Aedat4Writer::new(std::io::Cursor::new(Vec::new()), options).unwrap();
    w.write_events(events).unwrap();
    w.finish().unwrap().into_inner()
}

fn decode_and_frame(c: &mut Criterion) {
    let ev = events(EVENTS, SPAN_US);
    let mut group = c.benchmark_group("stream decode+frame");
    group.sample_size(10).throughput(Throughput::Elements(EVENTS as u64));
    for (name, compression) in [("aedat4 none", Compression::None), ("aedat4 lz4", Compression::Lz4)] {
        let bytes = aedat4(&ev, compression);
        // 10 ms frames at 640x480: 20 frames over the 0.2 s.
        group.bench_function(format!("{name}, 10 ms frames, 64 KiB chunks"), |b| {
            let mut out = Vec::with_capacity(1 << 16);
            b.iter(|| {
                let mut decoder = Aedat4Decoder::file(DecoderOptions::default());
                let mut framer = StreamFramer::new(Close::EveryMicros(10_000), SENSOR, Polarity::Split);
                let mut frames = 0;
                for chunk in bytes.chunks(64 << 10) {
                    out.clear();
                    decoder.feed(chunk, &mut out).unwrap();
                    frames += framer.push(&out).unwrap().len();
                }
                black_box(frames)
            })
        });
    }
    group.bench_function("framing only, 10 ms frames", |b| {
        b.iter(|| {
            let mut framer = StreamFramer::new(Close::EveryMicros(10_000), SENSOR, Polarity::Split);
            black_box(ev.chunks(8192).map(|c| framer.push(c).unwrap().len()).sum::<usize>())
        })
    });
    group.finish();
}

/// A backend that does nothing, to time the pipeline around the engine.
struct Null(usize);

impl Backend for Null {
    fn describe(&self) -> String {
        "null".into()
    }
    fn batch(&self) -> usize {
        self.0
    }
    fn reset(&mut self, _: &[usize]) {}
    fn step(&mut self, _: &[f32], _: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
        Ok(logits.then(|| vec![0.0; 10 * self.0]))
    }
    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
        Ok(Vec::new())
    }
    fn last_spikes(&mut self, _: usize) -> Result<Vec<f32>, EngineError> {
        Ok(Vec::new())
    }
}

fn pipeline_replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.aedat4");
    std::fs::write(&file, aedat4(&events(EVENTS, SPAN_US), Compression::Lz4)).unwrap();
    let spec = SourceSpec::parse(&format!("replay:{}", file.display())).unwrap();
    let mut group = c.benchmark_group("stream pipeline");
    group.sample_size(10).throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("replay lz4 --speed max, 10 ms frames resized to 48x48, null engine", |b| {
        b.iter_batched(
            || open(&spec, &OpenOptions { speed: Speed::Max, ..OpenOptions::default() }).unwrap(),
            |source| {
                let mut config = StreamConfig::new(Close::EveryMicros(10_000), 4, 10, [2, 48, 48]);
                config.resize = Some((48, 48));
                let (summary, result) = spikestream::stream::run(source, Box::new(Null(1)), config, Arc::default(), |_| {});
                result.unwrap();
                assert_eq!(summary.events, EVENTS as u64);
                summary.frames
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn small_model() -> Model {
    let spec = SynthSpec { arch: "vgg11_48_legacy".into(), num_classes: 10, timesteps: 4, input: [2, 48, 48], width_div: 4, imp: true, seed: 3 };
    Model::from_bytes(&synth_model_bytes(&spec).unwrap(), "bench model", &MetaOverrides::default()).unwrap()
}

fn lane_step(c: &mut Criterion) {
    let model = small_model();
    // A frame with events at about 10 % of the pixels, as a busy 48x48 resized frame.
    let frame: Vec<f32> = (0..2 * 48 * 48).map(|i| if (i * 7919) % 10 == 0 { 1.0 + (i % 3) as f32 } else { 0.0 }).collect();
    let mut group = c.benchmark_group("stream lane step (vgg11_48_legacy /4, T=4, CPU)");
    for hop in [4, 1] {
        let lanes = spikestream::stream::lanes::lane_count(4, hop);
        let mut l = Lanes::new(Box::new(CpuBackend::new(&model.graph, lanes)), 4, hop, 10, Decode::Mean, frame.len()).unwrap();
        group.bench_function(format!("hop {hop} ({lanes} lanes), one frame"), |b| b.iter(|| black_box(l.push(&frame).unwrap())));
    }
    group.finish();
}

/// A 3 s real-time replay of a 100 k ev/s scene through the small model: the end-to-end latency
/// (last event of a window read → prediction) p50/p99, for one lane (hop 4) and four (hop 1), on
/// the CPU backend and, where an adapter is usable, the GPU backend.
fn end_to_end_latency() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.aedat4");
    std::fs::write(&file, aedat4(&events(300_000, 3_000_000), Compression::Lz4)).unwrap();
    let model = small_model();
    println!("\nstream end-to-end (real-time replay, 100 k ev/s, 640x480 → 48x48, 20 ms frames, vgg11_48_legacy /4, T=4):");
    for gpu in [false, true] {
        for hop in [4, 1] {
            let mut config = StreamConfig::new(Close::EveryMicros(20_000), 4, 10, [2, 48, 48]);
            config.resize = Some((48, 48));
            config.hop = hop;
            let backend: Box<dyn Backend> = if gpu {
                match spikestream::engine::gpu::GpuBackend::new(&model.graph, config.lanes()) {
                    Ok(b) => Box::new(b),
                    Err(e) => {
                        println!("  gpu: not measured ({e})");
                        break;
                    }
                }
            } else {
                Box::new(CpuBackend::new(&model.graph, config.lanes()))
            };
            let name = software_note(backend.describe());
            let source = open(&SourceSpec::parse(&format!("replay:{}", file.display())).unwrap(), &OpenOptions::default()).unwrap();
            let (summary, result) = spikestream::stream::run(source, backend, config, Arc::default(), |_: Output| {});
            result.unwrap();
            println!(
                "  {name}, hop {hop}: {} predictions; step {}; processing {}; end-to-end {}",
                summary.predictions, summary.step, summary.processing, summary.end_to_end
            );
        }
    }
    std::thread::sleep(Duration::from_millis(10));
}

/// `describe()` with a note where the "GPU" is the CPU running shaders (lavapipe, llvmpipe).
fn software_note(describe: String) -> String {
    if describe.starts_with("gpu") && describe.ends_with(", Cpu)") { format!("{describe} [software adapter: the CPU runs the shaders]") } else { describe }
}

/// The criterion-style filter given after `--` (the first argument that is not a flag), if any.
fn wanted(name: &str) -> bool {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.is_none_or(|f| name.contains(&f))
}

/// The shipped demo model (models/demo, T = 8, 48×48) on a real-time replay of its 20 sample
/// recordings played back to back (6 s, 64×64, ~37 k events/s), frames closing every 37.5 ms
/// of event time (a 300 ms recording in T = 8 frames): end-to-end latency (last event of a
/// window read → prediction) for one lane (hop 8) and eight (hop 1, a prediction per frame),
/// on the CPU backend and the GPU backend where an adapter is usable.
fn demo_model_latency() {
    use spikestream::events::{ReadOptions, read_file};
    use spikestream::frames::framing::Framing;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo");
    let Ok(model) = Model::load(&root.join("sim10_vgg48_legacy.safetensors"), &MetaOverrides::default()) else {
        println!("\ndemo model latency: models/demo/sim10_vgg48_legacy.safetensors not found; skipped");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(root.join("samples")).unwrap().flatten().flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten().map(|f| f.path())).collect();
    files.sort();
    let mut all = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let rec = read_file(f, ReadOptions::default()).unwrap();
        all.extend(rec.events.iter().map(|e| Event::new(e.t + k as u64 * 300_000, e.x, e.y, e.p)));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.aedat4");
    let options = WriterOptions { compression: Compression::Lz4, resolution: Resolution::new(64, 64), source: "demo samples".into(), packet_events: 1024 };
    let mut w = Aedat4Writer::new(std::fs::File::create(&file).unwrap(), options).unwrap();
    w.write_events(&all).unwrap();
    w.finish().unwrap();
    let meta = &model.meta;
    let framing = Framing::from_json(meta.framing.as_ref(), meta.timesteps).unwrap();
    println!(
        "\ndemo model latency ({} samples back to back, {} events in {:.1} s, real-time replay, 37.5 ms frames, {}x{} → 48x48, T={}):",
        files.len(),
        all.len(),
        files.len() as f64 * 0.3,
        64,
        64,
        meta.timesteps
    );
    for gpu in [false, true] {
        for hop in [8, 1] {
            let mut config = StreamConfig::new(Close::EveryMicros(37_500), meta.timesteps, meta.num_classes, meta.input);
            config.resize = framing.resize;
            config.polarity = framing.polarity;
            config.fallback_sensor = framing.sensor;
            config.decode = meta.decode;
            config.hop = hop;
            let backend: Box<dyn Backend> = if gpu {
                match spikestream::engine::gpu::GpuBackend::new(&model.graph, config.lanes()) {
                    Ok(b) => Box::new(b),
                    Err(e) => {
                        println!("  gpu: not measured ({e})");
                        break;
                    }
                }
            } else {
                Box::new(CpuBackend::new(&model.graph, config.lanes()))
            };
            let name = software_note(backend.describe());
            let source = open(&SourceSpec::parse(&format!("replay:{}", file.display())).unwrap(), &OpenOptions::default()).unwrap();
            let (summary, result) = spikestream::stream::run(source, backend, config, Arc::default(), |_: Output| {});
            result.unwrap();
            println!(
                "  {name}, hop {hop} ({} lanes): {} predictions, {} frames dropped; step {}; processing {}; end-to-end {}",
                summary.lanes, summary.predictions, summary.frames_dropped, summary.step, summary.processing, summary.end_to_end
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode_and_frame(&mut c);
    pipeline_replay(&mut c);
    lane_step(&mut c);
    c.final_summary();
    // Only under `cargo bench` (which passes --bench): `cargo test --all-targets` runs this
    // binary too, and the real-time replays take seconds.
    if std::env::args().any(|a| a == "--bench") {
        if wanted("stream end-to-end") {
            end_to_end_latency();
        }
        if wanted("demo model latency") {
            demo_model_latency();
        }
    }
}

//! Live streaming (`spikestream stream`, `spikestream::stream`):
//! - a replayed recording (`replay:FILE --speed max`) gives exactly the predictions of offline
//!   inference (`run_frames` on the CPU backend, one window at a time) on the same frame windows,
//!   for every hop (lanes) and both decodes;
//! - a deliberately slow engine: drop-oldest drops and counts frames, block drops none, neither
//!   deadlocks, and `--record` holds every event either way (also after a stop);
//! - a server that drops the connection mid-packet: with `--reconnect` the stream resumes, every
//!   event that arrived whole is kept, and Ctrl-C (SIGINT) ends it cleanly with a summary;
//! - dv-processing's `NetworkWriter` over TCP and a Unix socket (`scripts/peers/stream_peer.py`,
//!   with `SPIKESTREAM_PEER_PYTHON`; skipped when absent unless `CI` is set): every event arrives
//!   and predictions come out;
//! - stdin (AEDAT4 by content, raw EVT3 with `--format evt3`) and the camera message without the
//!   `camera` feature.

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
use spikestream::engine::{Backend, Decoded, EngineError, run_frames};
use spikestream::events::aedat4::{Aedat4Writer, Compression, IoHeader, VERSION_LINE, WriterOptions};
use spikestream::events::file::ReadOptions;
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

const T: usize = 4;
const CLASSES: usize = 5;
const SENSOR: Resolution = Resolution::new(128, 96);
const FRAME_US: u64 = 20_000;

// ---- fixtures ----

/// A small random vgg11_48_legacy (T = 4, 2x48x48, widths / 16, IMP) whose TEBN scales differ per
/// timestep, so a lane stepped at the wrong timestep index gives other logits; its framing resizes
/// the sensor to 48x48.
fn model_bytes() -> Vec<u8> {
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

fn model() -> Model {
    Model::from_bytes(&model_bytes(), "stream test model", &MetaOverrides::default()).unwrap()
}

fn write_model(dir: &Path) -> PathBuf {
    let path = dir.join("model.safetensors");
    std::fs::write(&path, model_bytes()).unwrap();
    path
}

/// `n` events of a blob moving across the sensor over `duration_us`, from `seed`.
fn moving_blob(seed: u64, n: usize, duration_us: u64) -> Vec<Event> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
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

fn write_aedat4(path: &Path, events: &[Event], packet_events: usize) {
    let options = WriterOptions { compression: Compression::Lz4, resolution: SENSOR, source: "stream test".into(), packet_events };
    let mut w = Aedat4Writer::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap()), options).unwrap();
    w.write_events(events).unwrap();
    w.finish().unwrap();
}

fn recorded(path: &Path) -> Vec<Event> {
    let r = read_file(path, ReadOptions::default()).unwrap_or_else(|e| panic!("the recording {} does not read back: {e}", path.display()));
    assert_eq!(r.resolution, Some(SENSOR), "the recording's sensor");
    r.events
}

fn assert_same_events(what: &str, expected: &[Event], got: &[Event]) {
    if let Some(i) = expected.iter().zip(got).position(|(e, g)| e != g) {
        panic!("{what}: event {i} differs: expected {:?}, got {:?}", expected[i], got[i]);
    }
    assert_eq!(got.len(), expected.len(), "{what}: event count");
}

fn config(hop: usize, decode: Decode) -> StreamConfig {
    let mut c = StreamConfig::new(Close::EveryMicros(FRAME_US), T, CLASSES, [2, 48, 48]);
    c.hop = hop;
    c.decode = decode;
    c.resize = Some((48, 48));
    c
}

/// Runs the library pipeline to the end; returns the predictions and the summary.
fn run_stream(source: &str, backend: Box<dyn Backend>, config: StreamConfig, stop: Arc<AtomicBool>) -> (Vec<StreamPrediction>, Summary) {
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
fn offline_frames(events: &[Event]) -> Frames {
    let t0 = events[0].t;
    let count = ((events[events.len() - 1].t - t0) / FRAME_US) as usize;
    let ranges: Vec<_> = (0..count)
        .map(|k| {
            let (a, b) = (t0 + k as u64 * FRAME_US, t0 + (k as u64 + 1) * FRAME_US);
            events.partition_point(|e| e.t < a)..events.partition_point(|e| e.t < b)
        })
        .collect();
    resize(&bin_slices(events, &ranges, SENSOR, Polarity::Split).unwrap(), 48, 48)
}

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
        let want = run_frames(&mut offline, &frames.data[first * per..(first + T) * per], T, CLASSES, Decoded::from(decode)).unwrap();
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

/// The DV network stream of `events`: (IOHeader with its length, packets), from a file written
/// by `Aedat4Writer` without its version line and data table.
fn dv_stream(events: &[Event], packet_events: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.aedat4");
    write_aedat4(&path, events, packet_events);
    let bytes = std::fs::read(&path).unwrap();
    let mut at = VERSION_LINE.len();
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let header = IoHeader::parse(&bytes[at + 4..at + 4 + len]).unwrap();
    let table = header.data_table_position.unwrap() as usize;
    let stream_header = IoHeader::build(header.compression, -1, &header.info_xml);
    let mut head = (stream_header.len() as u32).to_le_bytes().to_vec();
    head.extend_from_slice(&stream_header);
    at += 4 + len;
    let mut packets = Vec::new();
    while at < table {
        let size = i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        packets.push(bytes[at..at + 8 + size].to_vec());
        at += 8 + size;
    }
    (head, packets)
}

fn spawn_cli(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .arg("stream")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines of a child's pipe, read on a thread.
fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("spikestream stream did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// (predictions, summary) from `--json` stdout lines.
fn parse_json_lines(out: &[String]) -> (Vec<Value>, Value) {
    let values: Vec<Value> = out.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect();
    let summary = values.iter().find(|v| v.get("summary").is_some()).cloned().unwrap_or_else(|| panic!("no summary line in {out:?}"))["summary"].clone();
    let predictions: Vec<Value> = values.into_iter().filter(|v| v.get("t_start").is_some()).collect();
    for p in &predictions {
        for key in ["t_start", "t_end", "class", "score", "latency_ms"] {
            assert!(p.get(key).is_some(), "prediction line without {key}: {p}");
        }
    }
    (predictions, summary)
}

#[cfg(unix)]
#[test]
fn reconnect_after_a_mid_packet_drop_keeps_every_whole_packet_and_ctrl_c_ends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (model_path, record) = (write_model(dir.path()), dir.path().join("record.aedat4"));
    let events = moving_blob(4, 30_000, 300_000);
    let (head, packets) = dv_stream(&events, 1000);
    assert_eq!(packets.len(), 30);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // First connection: 12 whole packets, then half of the 13th, then the connection drops.
        let (mut a, _) = listener.accept().unwrap();
        a.write_all(&head).unwrap();
        for p in &packets[..12] {
            a.write_all(p).unwrap();
        }
        a.write_all(&packets[12][..packets[12].len() / 2]).unwrap();
        drop(a);
        // The camera server restarts: the client reconnects and gets the rest from packet 12.
        let (mut b, _) = listener.accept().unwrap();
        b.write_all(&head).unwrap();
        for p in &packets[12..] {
            b.write_all(p).unwrap();
        }
        drop(b);
        drop(listener);
    });
    let address = format!("tcp://127.0.0.1:{port}");
    let mut child = spawn_cli(&[
        model_path.to_str().unwrap(),
        "--source",
        &address,
        "--reconnect",
        "--reconnect-max-ms",
        "200",
        "--frame-us",
        "20000",
        "--hop",
        "2",
        "--backend",
        "cpu",
        "--json",
        "--record",
        record.to_str().unwrap(),
    ]);
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    // The second "closed the connection" comes after every event of the second connection was
    // read and handed to the recorder.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.iter().filter(|l: &&String| l.contains("closed the connection") || l.contains("connection lost")).count() < 2 {
        match stderr.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => seen.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => panic!("no second disconnect within 60 s; stderr so far:\n{}", seen.join("\n")),
        }
    }
    server.join().unwrap();
    assert!(seen.iter().any(|l| l.contains("reconnected")), "stderr:\n{}", seen.join("\n"));
    // 300 ms of events make 14 frames, 6 windows with hop 2; while no server is up, the idle
    // timeout keeps closing (empty) frames, so more predictions come. Wait for 8, then Ctrl-C.
    let mut out = Vec::new();
    while out.iter().filter(|l: &&String| l.contains("t_start")).count() < 8 {
        match stdout.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => out.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => panic!("fewer than 8 predictions within 60 s: {out:?}"),
        }
    }
    // Ctrl-C.
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    seen.extend(stderr.try_iter());
    assert!(exit.success(), "exit {exit}; stderr:\n{}", seen.join("\n"));
    out.extend(stdout.iter());
    let (predictions, summary) = parse_json_lines(&out);
    assert_eq!(summary["ending"], json!("stopped"), "{summary}");
    assert_eq!(summary["events"], json!(events.len()), "{summary}");
    assert_eq!(summary["reconnects"], json!(1), "one successful reconnection: {summary}");
    assert!(predictions.len() >= 5, "{} predictions; {summary}", predictions.len());
    assert!(seen.iter().any(|l| l.contains("stream summary")), "a human summary on stderr");
    assert_same_events("--record across a mid-packet drop and a reconnect", &events, &recorded(&record));
}

#[test]
fn camera_source_without_the_feature_says_how_to_build() {
    if cfg!(feature = "camera") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model_path = write_model(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["stream", model_path.to_str().unwrap(), "--source", "camera", "--frame-us", "10000", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features camera"), "{err}");
}

// ---- 4. stdin ----

fn stdin_stream(input: &[u8], extra: &[&str]) -> (Vec<Value>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let model_path = write_model(dir.path());
    let mut args = vec![model_path.to_str().unwrap(), "--source", "-", "--backend", "cpu", "--json"];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .arg("stream")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = input.to_vec();
    let writer = std::thread::spawn(move || {
        for chunk in bytes.chunks(4096) {
            if stdin.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let exit = wait_exit(&mut child, Duration::from_secs(60));
    writer.join().unwrap();
    let err: Vec<String> = stderr.iter().collect();
    assert!(exit.success(), "stdin stream failed ({exit}):\n{}", err.join("\n"));
    parse_json_lines(&stdout.iter().collect::<Vec<_>>())
}

#[test]
fn stdin_aedat4_stream_is_detected_by_content() {
    let events = moving_blob(5, 20_000, 200_000);
    let (head, packets) = dv_stream(&events, 1000);
    let bytes: Vec<u8> = head.into_iter().chain(packets.into_iter().flatten()).collect();
    let (predictions, summary) = stdin_stream(&bytes, &["--frame-us", "20000", "--hop", "1"]);
    assert_eq!(summary["events"], json!(events.len()));
    assert_eq!(summary["ending"], json!("source_ended"));
    assert!(predictions.len() >= 3, "{summary}");
}

#[test]
fn stdin_raw_evt3_with_format_flag() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/evt3_trigger_from_rosbag.raw");
    let expected = read_file(&path, ReadOptions::default()).unwrap();
    let sensor = expected.resolution.expect("the sample's header has its geometry");
    let framing = format!("--sensor={sensor}");
    let (_, summary) = stdin_stream(&std::fs::read(&path).unwrap(), &["--format", "evt3", "--frame-events", "2000", &framing]);
    assert_eq!(summary["events"], json!(expected.events.len()), "{summary}");
}

// ---- 5. dv-processing NetworkWriter ----

struct PeerPython {
    python: PathBuf,
    script: PathBuf,
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// The dv-processing peer, or `None` after saying why (a failure on CI).
fn peer() -> Option<PeerPython> {
    let found = (|| {
        let python = PathBuf::from(std::env::var_os("SPIKESTREAM_PEER_PYTHON").ok_or("SPIKESTREAM_PEER_PYTHON is not set")?);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/stream_peer.py");
        let out = Command::new(&python).arg(&script).arg("check").output().map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!("{} cannot import dv_processing: {}", python.display(), String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(PeerPython { python, script })
    })();
    match found {
        Ok(p) => Some(p),
        Err(reason) if on_ci() => panic!("dv-processing peer not available on CI: {reason}; scripts/test.sh sets SPIKESTREAM_PEER_PYTHON"),
        Err(reason) => {
            eprintln!("skipped: dv-processing peer not available (run scripts/setup-peers.sh): {reason}");
            None
        }
    }
}

fn read_raw(path: &Path) -> Vec<Event> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(16)
        .map(|r| Event::new(i64::from_le_bytes(r[0..8].try_into().unwrap()) as u64, u16::from_le_bytes([r[8], r[9]]), u16::from_le_bytes([r[10], r[11]]), r[12] == 1))
        .collect()
}

fn dv_network_writer_stream(unix: bool, compression: &str) {
    let Some(peer) = peer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (model_path, record, raw, socket) = (write_model(dir.path()), dir.path().join("record.aedat4"), dir.path().join("sent.raw"), dir.path().join("dv.sock"));
    let mut server = Command::new(&peer.python)
        .arg(&peer.script)
        .arg("serve")
        .args(if unix { vec!["--unix", socket.to_str().unwrap()] } else { vec!["--tcp"] })
        .args(["--width", &SENSOR.width.to_string(), "--height", &SENSOR.height.to_string(), "--events", "30000", "--duration-us", "400000"])
        .args(["--batches", "20", "--seed", "9", "--compression", compression, "--events-out", raw.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server_out = lines(server.stdout.take().unwrap());
    let server_err = lines(server.stderr.take().unwrap());
    let ready = server_out.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
        let _ = server.kill();
        panic!("the dv-processing server did not start: {}", server_err.try_iter().collect::<Vec<_>>().join("\n"))
    });
    let ready: Value = serde_json::from_str(&ready).unwrap();
    let address = if unix { format!("unix://{}", socket.display()) } else { format!("tcp://127.0.0.1:{}", ready["port"]) };
    let mut child = spawn_cli(&[
        model_path.to_str().unwrap(),
        "--source",
        &address,
        "--frame-us",
        "20000",
        "--hop",
        "1",
        "--backend",
        "cpu",
        "--json",
        "--record",
        record.to_str().unwrap(),
    ]);
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let exit = wait_exit(&mut child, Duration::from_secs(60));
    let server_exit = wait_exit(&mut server, Duration::from_secs(30));
    let err: Vec<String> = stderr.iter().collect();
    assert!(server_exit.success(), "the dv-processing server failed: {}", server_err.iter().collect::<Vec<_>>().join("\n"));
    assert!(exit.success(), "{address}: stream failed ({exit}):\n{}", err.join("\n"));
    let (predictions, summary) = parse_json_lines(&stdout.iter().collect::<Vec<_>>());
    let sent = read_raw(&raw);
    assert_eq!(sent.len(), 30_000);
    assert_eq!(summary["events"], json!(sent.len()), "{address}: {summary}");
    assert_eq!(summary["ending"], json!("source_ended"));
    assert_same_events(&format!("{address} ({compression}) --record"), &sent, &recorded(&record));
    // 400 ms of events in 20 ms frames: 19 or 20 closed frames, a prediction from the 4th on.
    assert!(predictions.len() >= 15, "{address}: {} predictions; {summary}", predictions.len());
}

#[test]
fn dv_network_writer_tcp_lz4_all_events_arrive_and_predictions_come() {
    dv_network_writer_stream(false, "lz4");
}

#[test]
fn dv_network_writer_unix_zstd_all_events_arrive_and_predictions_come() {
    dv_network_writer_stream(true, "zstd");
}

//! Issue 13, hangs and exit codes of `stream`, and CLI numbers:
//! - a clock glitch (one packet at t = 2^40) or a clock reset in a replay costs at most 5 % of
//!   the predictions, is counted (`time_jumps`) and never stalls the stream, also in real time;
//! - a corrupt DV stream and a connection cut mid-packet exit non-zero with the decode error;
//! - a panic of the engine thread leaves a complete recording;
//! - FIFOs neither hang `open()` nor get refused: they are read as streams;
//! - numbers that would overflow or allocate without bound are refused naming the flag.

mod robustness_common;
mod stream_common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use robustness_common::*;
use spikestream::engine::cpu::CpuBackend;
use spikestream::engine::{Backend, EngineError};
use spikestream::events::Event;
use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, IoHeader, VERSION_LINE, WriterOptions};
use spikestream::model::meta::Decode;
use spikestream::stream::source::{OpenOptions, SourceSpec, Speed, open};
use spikestream::stream::{Output as StreamOutput, StreamError};
use stream_common::*;

/// `events` as AEDAT4 packets of 1000, with `glitch` as a packet of its own after `at` events.
fn write_with_glitch(path: &Path, events: &[Event], at: usize, glitch: &[Event]) {
    let options = WriterOptions { compression: Compression::Lz4, resolution: SENSOR, source: "glitch test".into(), packet_events: 1000 };
    let mut w = Aedat4Writer::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap()), options).unwrap();
    w.write_events(&events[..at]).unwrap();
    w.flush_packet().unwrap();
    w.write_events(glitch).unwrap();
    w.flush_packet().unwrap();
    w.write_events(&events[at..]).unwrap();
    w.finish().unwrap();
}

fn predictions_of(file: &Path) -> (usize, u64) {
    let model = model();
    let c = config(T, Decode::Mean);
    let (predictions, summary) = run_stream(&format!("replay:{}", file.display()), Box::new(CpuBackend::new(&model.graph, c.lanes())), c, Arc::default());
    (predictions.len(), summary.time_jumps)
}

#[test]
fn a_packet_far_in_the_future_or_a_clock_reset_stopped_stream_for_good() {
    let dir = tempfile::tempdir().unwrap();
    // 8 s at 20 ms frames: 400 frames, 100 windows of T = 4.
    let events = moving_blob(21, 160_000, 8_000_000);
    let clean = dir.path().join("clean.aedat4");
    write_aedat4(&clean, &events, 1000);
    let (base, jumps) = predictions_of(&clean);
    assert_eq!(jumps, 0);
    assert!(base >= 95, "{base} predictions without a glitch");

    let glitch: Vec<Event> = (0..20).map(|i| Event::new((1u64 << 40) + i, 5, 5, true)).collect();
    let future = dir.path().join("future.aedat4");
    write_with_glitch(&future, &events, events.len() / 2, &glitch);
    let (got, jumps) = predictions_of(&future);
    eprintln!("predictions: {base} without a glitch, {got} with one ({jumps} time jumps)");
    assert!(jumps >= 1, "the glitch is counted");
    assert!(got.abs_diff(base) * 20 <= base, "{got} predictions with a glitch, {base} without: more than 5 % apart");

    // The camera's clock resets to 0 halfway.
    let half = events.len() / 2;
    let t_half = events[half].t;
    let reset: Vec<Event> = events.iter().enumerate().map(|(i, e)| if i >= half { Event { t: e.t - t_half, ..*e } } else { *e }).collect();
    let backwards = dir.path().join("reset.aedat4");
    write_aedat4(&backwards, &reset, 1000);
    let (got, jumps) = predictions_of(&backwards);
    eprintln!("predictions: {got} with a clock reset");
    assert_eq!(jumps, 1, "one reset");
    assert!(got.abs_diff(base) * 20 <= base, "{got} predictions with a clock reset, {base} without");
}

#[test]
fn a_glitch_in_a_real_time_replay_does_not_make_it_wait_for_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let events = moving_blob(22, 40_000, 2_000_000);
    let file = dir.path().join("glitch.aedat4");
    write_with_glitch(&file, &events, 20_000, &[Event::new(1 << 40, 1, 1, false)]);
    let source = format!("replay:{}", file.display());
    let o = spikestream_within(Duration::from_secs(60), &["stream", p(&model), "--source", &source, "--speed", "10", "--frame-us", "20000", "--backend", "cpu", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let summary: serde_json::Value = stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v.get("summary").is_some()).unwrap()["summary"].clone();
    assert_eq!(summary["time_jumps"], serde_json::json!(2), "forward and back: {summary}");
    assert!(summary["predictions"].as_u64().unwrap() >= 20, "{summary}");
    assert!(stderr(&o).contains("jumped"), "a warning: {}", stderr(&o));
}

/// The DV network stream of `events`: the IOHeader with its length, and the packets.
fn dv_stream(events: &[Event]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.aedat4");
    write_aedat4(&path, events, 1000);
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

/// Serves `bytes` to one client, then closes; returns the `tcp://` address.
fn serve_once(bytes: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(&bytes);
        }
    });
    address
}

#[test]
fn a_corrupt_tcp_stream_or_a_connection_lost_mid_packet_exited_0() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let (head, packets) = dv_stream(&moving_blob(23, 5000, 200_000));
    let stream = |bytes: Vec<u8>| spikestream_within(Duration::from_secs(60), &["stream", p(&model), "--source", &serve_once(bytes), "--frame-us", "20000", "--backend", "cpu"]);
    let whole: Vec<u8> = head.iter().chain(packets[..3].concat().iter()).copied().collect();

    let o = stream(whole.clone());
    assert!(o.status.success(), "a clean close at a packet boundary ends the stream: {}", stderr(&o));

    let mut cut = whole.clone();
    cut.extend_from_slice(&packets[3][..packets[3].len() / 2]);
    let o = stream(cut);
    assert!(!o.status.success(), "a connection lost mid-packet must fail: {}", stderr(&o));
    assert!(stderr(&o).contains("127.0.0.1") && stderr(&o).contains("byte"), "{}", stderr(&o));

    let mut corrupt = whole;
    let mut bad = packets[3].clone();
    bad[8..].iter_mut().for_each(|b| *b = 0xA5);
    corrupt.extend_from_slice(&bad);
    let o = stream(corrupt);
    assert!(!o.status.success(), "a corrupt stream must fail: {}", stderr(&o));
    assert!(stderr(&o).contains("byte"), "{}", stderr(&o));

    // A header that does not decode: the decode error, not "the stream gives no sensor size".
    let mut garbage = (64u32).to_le_bytes().to_vec();
    garbage.extend_from_slice(&[0x5A; 64]);
    let o = stream(garbage);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("no sensor size") && stderr(&o).contains("127.0.0.1"), "{}", stderr(&o));
}

/// A backend whose step panics after a few frames, as a bug in the engine thread would.
struct Panicking {
    inner: CpuBackend,
    steps_left: usize,
}

impl Backend for Panicking {
    fn describe(&self) -> String {
        "panicking cpu".into()
    }
    fn batch(&self) -> usize {
        self.inner.batch()
    }
    fn reset(&mut self, lanes: &[usize]) {
        self.inner.reset(lanes)
    }
    fn step(&mut self, input: &[f32], steps: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
        assert!(self.steps_left > 0, "engine bug (on purpose)");
        self.steps_left -= 1;
        std::thread::sleep(Duration::from_millis(2));
        self.inner.step(input, steps, logits)
    }
    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
        self.inner.spike_counts()
    }
    fn last_spikes(&mut self, node: usize) -> Result<Vec<f32>, EngineError> {
        self.inner.last_spikes(node)
    }
}

#[test]
fn a_panic_of_the_engine_thread_leaves_a_complete_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (file, record) = (dir.path().join("in.aedat4"), dir.path().join("record.aedat4"));
    let events = moving_blob(24, 100_000, 4_000_000);
    write_aedat4(&file, &events, 1000);
    let model = model();
    let mut c = config(T, Decode::Mean);
    c.record = Some(record.clone());
    let backend = Box::new(Panicking { inner: CpuBackend::new(&model.graph, c.lanes()), steps_left: 20 });
    let src = open(&SourceSpec::parse(&format!("replay:{}", file.display())).unwrap(), &OpenOptions { speed: Speed::Factor(4.0), ..OpenOptions::default() }).unwrap();
    let (summary, result) = spikestream::stream::run(src, backend, c, Arc::default(), |_: StreamOutput| {});
    assert!(matches!(result, Err(StreamError::Panic(ref m)) if m.contains("engine bug")), "{result:?}");
    let got = recorded(&record);
    assert!(!got.is_empty(), "{summary}");
    assert_same_events("the recording after an engine panic", &events[..got.len()], &got);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary left: {names:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_fifo_as_input_blocked_forever_in_open() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let file = dir.path().join("rec.aedat4");
    let events = moving_blob(25, 20_000, 400_000);
    write_aedat4(&file, &events, 1000);
    let bytes = std::fs::read(&file).unwrap();
    // No writer: every command ends at once with an error, none waits in open().
    let fifo = dir.path().join("lonely");
    mkfifo(&fifo);
    let source = format!("replay:{}", fifo.display());
    let (csv, npy) = (dir.path().join("out.csv"), dir.path().join("lonely.npy"));
    for args in [
        vec!["inspect", p(&fifo)],
        vec!["convert", p(&fifo), p(&csv)],
        vec!["frames", p(&fifo), "--out", p(&npy)],
        vec!["stream", p(&model), "--source", &source, "--backend", "cpu", "--frame-us", "20000"],
    ] {
        let o = spikestream_within(Duration::from_secs(20), &args);
        assert!(!o.status.success() && !stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("lonely") && stderr(&o).contains("pipe"), "{args:?}: {}", stderr(&o));
    }
    // With a writer (as `<(cat file)` gives): read as a stream.
    for (i, args) in [vec!["inspect", "--json"], vec!["frames", "--frames", "4", "--out"]].into_iter().enumerate() {
        let fifo = dir.path().join(format!("pipe{i}"));
        mkfifo(&fifo);
        let (path, data) = (fifo.clone(), bytes.clone());
        let writer = std::thread::spawn(move || std::fs::write(&path, &data).unwrap());
        let npy = dir.path().join("f.npy");
        let mut full: Vec<&str> = args[..1].to_vec();
        full.push(p(&fifo));
        full.extend_from_slice(&args[1..]);
        if i == 1 {
            full.push(p(&npy));
        }
        let o = spikestream_within(Duration::from_secs(30), &full);
        writer.join().unwrap();
        assert!(o.status.success(), "{full:?}: {}", stderr(&o));
        if i == 0 {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["events"], serde_json::json!(events.len()));
        } else {
            assert!(npy.exists());
        }
    }
}

#[test]
fn cli_numbers_that_overflowed_or_allocated_without_bound_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let file = dir.path().join("rec.aedat4");
    write_aedat4(&file, &moving_blob(26, 2000, 100_000), 1000);
    let (m, f) = (p(&model), p(&file));
    let x = p(&dir.path().join("x.npy")).to_string();
    let source = format!("replay:{f}");
    let stream = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["stream", m, "--source", &source, "--backend", "cpu", "--frame-us", "20000"].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (stream(&["--queue", "1000000000000"]), "--queue"),
        (stream(&["--queue", "1e12"]), "--queue"),
        (stream(&["--speed", "1e-300"]), "--speed"),
        (stream(&["--stats", "--stats-every", "1e30"]), "--stats-every"),
        (stream(&["--frame-events", "1000000000000"]), "--frame-events"),
        (vec!["simulate".into(), "--out".into(), p(&dir.path().join("sim")).into(), "--per-class".into(), "1000000000000".into()], "--per-class"),
        (vec!["simulate".into(), "--out".into(), p(&dir.path().join("sim")).into(), "--per-class".into(), "1e12".into()], "--per-class"),
        (vec!["simulate".into(), "--out".into(), p(&dir.path().join("sim")).into(), "--size".into(), "32767x32767".into(), "--threads".into(), "64".into()], "--size"),
        (vec!["simulate".into(), "--out".into(), p(&dir.path().join("sim")).into(), "--noise-hz".into(), "1e30".into()], "--noise-hz"),
        (vec!["simulate".into(), "--out".into(), p(&dir.path().join("sim")).into(), "--size".into(), "4000x4000".into(), "--noise-hz".into(), "100000".into(), "--duration-ms".into(), "10000".into()], "--noise-hz"),
        (vec!["frames".into(), f.into(), "--frames".into(), "1000000000".into(), "--out".into(), x.clone()], "--frames"),
        (vec!["frames".into(), f.into(), "--split-by".into(), "tonic-time-window".into(), "--window-us".into(), "1e-6".into(), "--out".into(), x.clone()], "--window-us"),
        (vec!["frames".into(), f.into(), "--split-by".into(), "tonic-time-window".into(), "--window-us".into(), "1".into(), "--size".into(), "4000x4000".into(), "--out".into(), x.clone()], "--window-us"),
    ];
    for (args, flag) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = spikestream_within(Duration::from_secs(30), &args);
        let err = stderr(&o);
        assert!(!o.status.success() && !err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: the message does not name {flag}: {err}");
    }
    assert!(!dir.path().join("sim").exists() && !dir.path().join("x.npy").exists());
}

/// With `--reconnect`, a corrupt stream is a failure only while no reconnection followed it:
/// a server that comes back with good data makes Ctrl-C end the stream with success; one that
/// never comes back makes it end with the decode error.
#[cfg(target_os = "linux")]
#[test]
fn reconnect_recovers_from_a_corrupt_stream_or_the_stream_fails() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let (head, packets) = dv_stream(&moving_blob(27, 5000, 200_000));
    let mut bad = packets[2].clone();
    bad[8..].iter_mut().for_each(|b| *b = 0xA5);
    let corrupt: Vec<u8> = [head.clone(), packets[..2].concat(), bad].concat();
    let good: Vec<u8> = [head, packets[2..].concat()].concat();
    for comes_back in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("tcp://{}", listener.local_addr().unwrap());
        let (corrupt, good) = (corrupt.clone(), good.clone());
        let server = std::thread::spawn(move || {
            let (mut a, _) = listener.accept().unwrap();
            a.write_all(&corrupt).unwrap();
            drop(a);
            if comes_back {
                let (mut b, _) = listener.accept().unwrap();
                b.write_all(&good).unwrap();
            }
        });
        let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
            .args(["stream", p(&model), "--source", &address, "--reconnect", "--reconnect-max-ms", "200", "--frame-us", "20000", "--backend", "cpu"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let want = if comes_back { "reconnected" } else { "cannot connect" };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while !seen.iter().any(|l: &String| l.contains(want)) {
            assert!(Instant::now() < deadline, "no {want:?} within 30 s:\n{}", seen.join("\n"));
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.push(l);
            }
        }
        server.join().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the stream did not end after SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        seen.extend(rx.try_iter());
        let err = seen.join("\n");
        if comes_back {
            assert!(status.success(), "recovered, so Ctrl-C ends with success: {status}\n{err}");
        } else {
            assert!(!status.success(), "never recovered from the corrupt stream, so the stream failed: {status}\n{err}");
            assert!(err.contains("did not recover") && err.contains("byte"), "{err}");
        }
    }
}

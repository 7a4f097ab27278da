//! Issue 13, signals: SIGINT / SIGTERM / SIGHUP during `stream --record`, `convert` and
//! `simulate` leave either a complete file (that `inspect` and dv-processing read) or the old
//! output, never a temporary; a second signal during a stream's wind-down keeps the recording;
//! after SIGKILL, `convert --partial` recovers every packet the recording had written.

mod robustness_common;
mod stream_common;
#[path = "peer_dv/peer.rs"]
#[allow(dead_code)]
mod peer;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use robustness_common::*;
use spikestream::events::formats::aedat4::{IoHeader, VERSION_LINE};
use spikestream::events::ReadOptions;
use spikestream::events::{Event, read_bytes};
use stream_common::*;

/// A `stream --record` of a 20 s replay in real time; returns the child and the source events.
fn start_recording(dir: &Path, rec: &Path) -> (Child, Vec<Event>) {
    let model = write_model(dir);
    let source = dir.join("source.aedat4");
    let events = moving_blob(7, 400_000, 20_000_000);
    write_aedat4(&source, &events, 2000);
    let child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["stream", p(&model), "--source", &format!("replay:{}", source.display()), "--frame-us", "20000", "--backend", "cpu", "--json"])
        .args(["--record", p(rec)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, events)
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_sighup_sigint_during_stream_record_left_a_file_ending_mid_packet() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("rec.aedat4");
        let (mut child, events) = start_recording(dir.path(), &rec);
        wait_for("the recording's first packets", Duration::from_secs(30), || temp_of(dir.path(), 20_000).is_some());
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(30));
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(status.success(), "signal {sig}: exit {status}:\n{err}");
        let o = spikestream(&["inspect", "--json", p(&rec)]);
        assert!(o.status.success(), "signal {sig}: inspect fails on the recording: {}", stderr(&o));
        let got = recorded(&rec);
        assert!(!got.is_empty() && got.len() < events.len(), "signal {sig}: {} events recorded", got.len());
        assert_same_events("the recording after a signal", &events[..got.len()], &got);
        assert!(leftovers(dir.path()).is_empty(), "signal {sig}: {:?}", leftovers(dir.path()));
        if let Some(peer) = peer::peer() {
            let raw = dir.path().join("peer.raw");
            let report = peer.run(["read-file", p(&rec), "--events-out", p(&raw)]);
            assert_eq!(report["events"], serde_json::json!(got.len()), "dv-processing reads the recording: {report}");
            assert!(peer::read_raw(&raw) == got, "dv-processing's events");
        }
    }
}

/// Cuts `bytes` of an AEDAT4 file after its last whole packet.
fn whole_packets(bytes: &[u8]) -> &[u8] {
    let mut at = VERSION_LINE.len();
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    IoHeader::parse(&bytes[at + 4..at + 4 + len]).unwrap();
    at += 4 + len;
    while at + 8 <= bytes.len() {
        let size = i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if at + 8 + size > bytes.len() {
            break;
        }
        at += 8 + size;
    }
    &bytes[..at]
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_during_stream_record_leaves_packets_that_convert_partial_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.aedat4");
    let (mut child, events) = start_recording(dir.path(), &rec);
    wait_for("the recording's first packets", Duration::from_secs(30), || temp_of(dir.path(), 50_000).is_some());
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child, Duration::from_secs(10));
    assert!(!rec.exists(), "a killed stream cannot rename its recording");
    let temp = temp_of(dir.path(), 0).expect("the temporary stays after SIGKILL");
    let bytes = std::fs::read(&temp).unwrap();
    let whole = read_bytes(whole_packets(&bytes), &temp, ReadOptions::default()).expect("the whole packets decode").events;
    assert!(whole.len() >= 1000, "{} events in whole packets", whole.len());
    let out = dir.path().join("recovered.aedat4");
    let o = spikestream(&["convert", "--partial", p(&temp), p(&out)]);
    assert!(out.exists(), "convert --partial wrote nothing: {}", stderr(&o));
    let got = recorded(&out);
    assert_same_events("convert --partial of the killed recording: every whole packet", &whole, &got);
    assert_same_events("the recovered events are the source's", &events[..got.len()], &got);
}

/// Convert reads its input from a pipe that delivers the first 2 MiB and then waits, so the
/// signal always comes mid-conversion.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_during_convert_left_a_temporary_and_kept_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.aedat4");
    write_aedat4(&input, &moving_blob(9, 400_000, 20_000_000), 2000);
    let bytes = std::fs::read(&input).unwrap();
    assert!(bytes.len() > (2 << 20) + (256 << 10), "the input is larger than what the pipe delivers");
    let out = dir.path().join("out.csv");
    std::fs::write(&out, b"old output").unwrap();
    for (i, sig) in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].into_iter().enumerate() {
        let fifo = dir.path().join(format!("pipe{i}"));
        mkfifo(&fifo);
        let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(["convert", p(&fifo), p(&out)]).stdin(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (head, path) = (bytes[..2 << 20].to_vec(), fifo.clone());
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let _ = std::io::Write::write_all(&mut w, &head);
            let _ = done_rx.recv_timeout(Duration::from_secs(60));
        });
        wait_for("convert's temporary", Duration::from_secs(30), || temp_of(dir.path(), 1).is_some());
        std::thread::sleep(Duration::from_millis(200));
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(30));
        drop(done_tx);
        writer.join().unwrap();
        assert!(!status.success(), "signal {sig}: convert was interrupted, so it must not report success");
        assert_eq!(std::fs::read(&out).unwrap(), b"old output", "signal {sig}");
        assert!(leftovers(dir.path()).is_empty(), "signal {sig}: {:?}", leftovers(dir.path()));
    }
    // The same pipe read to its end converts (pipes are read as streams, not refused).
    let fifo = dir.path().join("pipe_whole");
    mkfifo(&fifo);
    let path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(&path, &bytes).unwrap());
    let o = spikestream(&["convert", p(&fifo), p(&out), "--force"]);
    writer.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 400_001);
}

/// A replay from a pipe whose writer stalls (the source thread would sit in `read()`): the first
/// SIGTERM still ends the stream promptly with a complete recording; a second signal while it
/// winds down exits at once (status 130), renaming the recording in after its current packet:
/// readable too, and no temporary either way.
#[cfg(target_os = "linux")]
#[test]
fn a_stream_replaying_a_stalled_pipe_ends_on_a_signal_with_its_recording() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let source = dir.path().join("source.aedat4");
    let events = moving_blob(11, 200_000, 10_000_000);
    write_aedat4(&source, &events, 2000);
    let bytes = std::fs::read(&source).unwrap();
    for (i, signals) in [1, 2].into_iter().enumerate() {
        let fifo = dir.path().join(format!("pipe{i}"));
        mkfifo(&fifo);
        let rec = dir.path().join(format!("rec{i}.aedat4"));
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (half, path) = (bytes[..bytes.len() / 2].to_vec(), fifo.clone());
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let _ = std::io::Write::write_all(&mut w, &half);
            let _ = done_rx.recv_timeout(Duration::from_secs(60));
        });
        let replay = format!("replay:{}", fifo.display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
            .args(["stream", p(&model), "--source", &replay, "--speed", "max", "--frame-us", "20000", "--backend", "cpu", "--record", p(&rec)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the recording's first packets", Duration::from_secs(30), || temp_of(dir.path(), 100_000).is_some());
        std::thread::sleep(Duration::from_millis(500));
        if signals == 1 {
            signal(&child, libc::SIGTERM);
        } else {
            // Two different signals made pending while the process is stopped arrive together
            // on SIGCONT: the second one always finds the stream still winding down.
            signal(&child, libc::SIGSTOP);
            signal(&child, libc::SIGTERM);
            signal(&child, libc::SIGHUP);
            signal(&child, libc::SIGCONT);
        }
        let status = wait_exit(&mut child, Duration::from_secs(5));
        drop(done_tx);
        writer.join().unwrap();
        if signals == 1 {
            assert!(status.success(), "one signal ends the stream cleanly: {status}");
        } else {
            assert_eq!(status.code(), Some(130), "the second signal exits at once: {status}");
        }
        let o = spikestream(&["inspect", p(&rec)]);
        assert!(o.status.success(), "{signals} signal(s): inspect: {}", stderr(&o));
        let got = recorded(&rec);
        assert!(got.len() > 1000, "{signals} signal(s): {} events recorded", got.len());
        assert_same_events("the recording of a stalled pipe", &events[..got.len()], &got);
        assert!(leftovers(dir.path()).is_empty(), "{signals} signal(s): {:?}", leftovers(dir.path()));
    }
}

/// SIGTERM while `simulate --force` replaces a dataset: the old dataset is still there, whole,
/// and the half-written new one is gone; without a signal the same run replaces it.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_during_simulate_keeps_the_old_dataset_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim");
    let o = spikestream(&["simulate", "--out", p(&data), "--per-class", "1", "--classes", "expand", "--size", "16x16", "--duration-ms", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = std::fs::read(data.join("simulate.json")).unwrap();
    let args = ["simulate", "--out", p(&data), "--per-class", "400", "--size", "96x96", "--threads", "1", "--force"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the dataset's temporary folder", Duration::from_secs(30), || {
        leftovers(dir.path()).iter().any(|n| n.ends_with(".partial") && std::fs::read_dir(dir.path().join(n)).is_ok_and(|d| d.count() > 1))
    });
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(std::fs::read(data.join("simulate.json")).unwrap(), manifest, "the old dataset is untouched");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

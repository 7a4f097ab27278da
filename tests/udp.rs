//! `stream --source udp://…` end to end: the predictions on events received over UDP equal
//! those on `replay:` of the same file when nothing is lost, for both datagram formats, sent by
//! `spikestream convert IN udp://…` and by faery 0.7.1 (`faery input file IN output udp …`)
//! where the peer Python has faery.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_spikestream")
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/samples/rotate_cw/0080.aedat4")
}

/// The predictions printed with --json, without the wall-clock latency.
fn predictions(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("window").is_some())
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("latency_ms");
            v
        })
        .collect()
}

fn stream(source: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["stream", model().to_str().unwrap(), "--source", source, "--frame-us", "10000", "--hop", "2", "--backend", "cpu", "--json"]).args(extra);
    c
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a UDP stream, lets `send` run once it listens, and returns its predictions.
fn receive(format: &str, send: impl FnOnce(u16)) -> (Vec<serde_json::Value>, String) {
    let port = free_port();
    let source = format!("udp://127.0.0.1:{port}?format={format}&end_idle_ms=1500");
    let child = stream(&source, &["--sensor", "64x64"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The source binds when the pipeline starts; give it a moment (a datagram sent before
    // would be lost, and the test would see fewer predictions, not wrong ones).
    std::thread::sleep(std::time::Duration::from_millis(700));
    send(port);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (predictions(&out.stdout), err)
}

fn replayed() -> Vec<serde_json::Value> {
    let out = stream(&format!("replay:{}", sample().display()), &["--speed", "max"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = predictions(&out.stdout);
    assert!(p.len() >= 2, "the sample gives several windows: {p:?}");
    p
}

/// A live source closes frames by wall time once it goes quiet (here for `end_idle_ms`), so
/// the UDP stream goes on with windows of empty frames after the replay's last window; the
/// windows the events fill must be the same.
fn assert_same_windows(got: &[serde_json::Value], want: &[serde_json::Value], format: &str, err: &str) {
    assert!(got.len() >= want.len(), "{format}: {} windows over UDP, {} replayed\n{err}", got.len(), want.len());
    assert_eq!(&got[..want.len()], want, "{format}: predictions over UDP differ from replay\n{err}");
    assert!(err.contains("events        5454"), "{format}: every event arrives\n{err}");
}

#[test]
fn udp_from_spikestream_equals_replay_in_both_formats() {
    let want = replayed();
    for format in ["t64_x16_y16_on8", "t32_x16_y15_on1"] {
        let (got, err) = receive(format, |port| {
            let to = format!("udp://127.0.0.1:{port}?format={format}");
            let o = Command::new(bin()).args(["convert", sample().to_str().unwrap(), &to]).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        });
        assert_same_windows(&got, &want, format, &err);
        assert!(!err.contains("out of order"), "{err}");
    }
}

#[test]
fn stream_forward_sends_what_it_receives() {
    let want = replayed();
    let (got, err) = receive("t64_x16_y16_on8", |port| {
        let o = stream(&format!("replay:{}", sample().display()), &["--speed", "max", "--forward", &format!("udp://127.0.0.1:{port}")]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("forwarded 5454 events") && err.contains("0 events dropped"), "{err}");
    });
    assert_same_windows(&got, &want, "forwarded", &err);
}

#[test]
fn udp_from_faery_equals_replay() {
    let python = std::env::var("SPIKESTREAM_PEER_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_faery = Command::new(&python).args(["-c", "import faery"]).output().is_ok_and(|o| o.status.success());
    if !has_faery {
        eprintln!("faery is not installed for {python}: the faery peer check did not run (scripts/setup-peers.sh installs it)");
        assert!(!common::in_ci(), "CI installs faery (scripts/setup-peers.sh)");
        return;
    }
    let want = replayed();
    for format in ["t64_x16_y16_on8", "t32_x16_y15_on1"] {
        let (got, err) = receive(format, |port| {
            let faery = python.replace("python3", "faery").replace("/python", "/faery");
            let o = Command::new(&faery)
                .args(["input", "file", sample().to_str().unwrap(), "output", "udp", &format!("127.0.0.1:{port}"), "--format", format, "--no-progress"])
                .output()
                .unwrap_or_else(|e| panic!("{faery}: {e}"));
            assert!(o.status.success(), "faery: {}", String::from_utf8_lossy(&o.stderr));
        });
        assert_same_windows(&got, &want, format, &err);
    }
}

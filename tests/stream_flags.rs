//! Issue 13, the last `stream` behaviours: the clock-glitch bounds are flags, and a stream
//! stopped before a network source ever delivered anything exits non-zero.

mod robustness_common;
mod stream_common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use robustness_common::*;
use spikestream::events::Event;
use stream_common::*;

fn summary_of(o: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&o.stdout);
    stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v.get("summary").is_some()).expect("a summary line")["summary"].clone()
}

#[test]
fn the_jump_bounds_decide_what_is_a_clock_glitch() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    // 1 s of events, a 3 s pause, 1 s more: a real pause under the default bound (10 s).
    let first = moving_blob(5, 20_000, 1_000_000);
    let second: Vec<Event> = moving_blob(6, 20_000, 1_000_000).into_iter().map(|e| Event { t: e.t + 4_000_000, ..e }).collect();
    let file = dir.path().join("pause.aedat4");
    write_aedat4(&file, &[first, second].concat(), 1000);
    let source = format!("replay:{}", file.display());
    let run = |extra: &[&str]| {
        let mut args = vec!["stream", p(&model), "--source", &source, "--speed", "max", "--frame-us", "20000", "--backend", "cpu", "--json"];
        args.extend_from_slice(extra);
        let o = spikestream_within(Duration::from_secs(60), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        summary_of(&o)
    };
    assert_eq!(run(&[])["time_jumps"], 0, "a 3 s pause is not a glitch by default");
    assert_eq!(run(&["--jump-forward-ms", "1000"])["time_jumps"], 1, "with a 1 s bound it is");
    for bad in [["--jump-forward-ms", "0"], ["--jump-backward-ms", "100000000000"]] {
        let o = spikestream(&[&["stream", p(&model), "--source", &source, "--frame-us", "20000"][..], &bad[..]].concat());
        assert!(!o.status.success());
        assert!(stderr(&o).contains(bad[0]), "{}", stderr(&o));
    }
}

#[test]
fn a_stream_stopped_before_its_source_ever_connected_fails() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("tcp://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["stream", p(&model), "--source", &address, "--reconnect", "--reconnect-max-ms", "200", "--frame-us", "20000", "--backend", "cpu"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "a stream that never connected exits non-zero\n{err}");
    assert!(err.contains("nothing was received") && err.contains("never connected"), "{err}");
}

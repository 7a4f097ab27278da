//! Issue 13, data loss: every command that writes goes through a temporary file and a rename
//! (`spikestream::output`), refuses an output that is one of its inputs, needs `--force` to
//! replace a recording or a dataset, and after SIGINT / SIGTERM / SIGHUP leaves either a complete
//! file or the old one, never a temporary. Each bug of the issue has a test named after it.
//! After SIGKILL, `convert --partial` recovers every packet a recording had written.

mod stream_common;
#[path = "peer_dv/peer.rs"]
#[allow(dead_code)]
mod peer;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use spikestream::events::aedat4::{IoHeader, VERSION_LINE};
use spikestream::events::file::ReadOptions;
use spikestream::events::{Event, read_bytes, read_file};
use stream_common::*;

fn spikestream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Temporaries (`.NAME.PID.partial`) left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".partial") || n.ends_with(".old")).collect()
}

fn assert_clean_refusal(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a refusal; stderr:\n{err}");
    assert!(!err.contains("panicked"), "a panic, not an error:\n{err}");
    for n in needles {
        assert!(err.contains(n), "the message lacks {n:?}:\n{err}");
    }
}

/// A port nothing listens on.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn stream_record_truncated_an_existing_recording_before_data_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let rec = dir.path().join("rec.aedat4");
    std::fs::write(&rec, b"the user's recording").unwrap();
    let source = format!("tcp://127.0.0.1:{}", refused_port());
    let args = [p(&model), "--source", &source, "--frame-us", "20000", "--backend", "cpu", "--record", p(&rec)];
    let o = spikestream(&[&["stream"][..], &args].concat());
    assert_clean_refusal(&o, &["rec.aedat4", "--force"]);
    // With --force a refused connection records nothing, so nothing is replaced.
    let o = spikestream(&[&["stream"][..], &args, &["--force"]].concat());
    assert_clean_refusal(&o, &["127.0.0.1"]);
    assert_eq!(std::fs::read(&rec).unwrap(), b"the user's recording");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn stream_replay_x_record_x_emptied_x() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let x = dir.path().join("x.aedat4");
    write_aedat4(&x, &moving_blob(1, 5000, 200_000), 1000);
    let before = std::fs::read(&x).unwrap();
    let linked = dir.path().join("linked.aedat4");
    std::fs::hard_link(&x, &linked).unwrap();
    for out in [&x, &linked] {
        let source = format!("replay:{}", x.display());
        let o = spikestream(&["stream", p(&model), "--source", &source, "--speed", "max", "--backend", "cpu", "--record", p(out), "--force"]);
        assert_clean_refusal(&o, &["is the input"]);
    }
    assert!(std::fs::read(&x).unwrap() == before);
}

#[test]
fn frames_x_out_x_overwrote_its_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.aedat4");
    write_aedat4(&x, &moving_blob(2, 5000, 200_000), 1000);
    let before = std::fs::read(&x).unwrap();
    for flag in ["--out", "--sheet"] {
        let o = spikestream(&["frames", p(&x), "--frames", "4", flag, p(&x)]);
        assert_clean_refusal(&o, &["is the input", "x.aedat4"]);
    }
    assert!(std::fs::read(&x).unwrap() == before);
}

/// A full disk, made with a file-size limit on the child (`ulimit -f`: spikestream ignores
/// SIGXFSZ, so writes past the limit fail with EFBIG like writes to a full disk).
#[cfg(target_os = "linux")]
fn spikestream_with_file_limit(bytes: u64, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spikestream"));
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn frames_on_a_full_disk_left_a_partial_file_and_named_no_path() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.aedat4");
    write_aedat4(&x, &moving_blob(3, 20_000, 400_000), 1000);
    let (out, sheet, png) = (dir.path().join("f.npy"), dir.path().join("sheet.png"), dir.path().join("png"));
    for (flag, path) in [("--out", &out), ("--sheet", &sheet)] {
        std::fs::write(path, b"old").unwrap();
        let o = spikestream_with_file_limit(1024, &["frames", p(&x), "--frames", "8", flag, p(path)]);
        assert_clean_refusal(&o, &[path.file_name().unwrap().to_str().unwrap()]);
        assert_eq!(std::fs::read(path).unwrap(), b"old", "{flag}: the old file is kept");
    }
    std::fs::create_dir(&png).unwrap();
    std::fs::write(png.join("frame_000.png"), b"old").unwrap();
    let o = spikestream_with_file_limit(1024, &["frames", p(&x), "--frames", "8", "--png", p(&png)]);
    assert_clean_refusal(&o, &["frame_000.png"]);
    assert_eq!(std::fs::read(png.join("frame_000.png")).unwrap(), b"old");
    assert!(leftovers(dir.path()).is_empty() && leftovers(&png).is_empty(), "temporaries left");
    // Without the limit the same command replaces the files.
    let o = spikestream(&["frames", p(&x), "--frames", "8", "--out", p(&out), "--sheet", p(&sheet)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(&out).unwrap(), b"old");
}

#[test]
fn simulate_into_a_non_empty_folder_mixed_two_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim");
    let sim = |size: &str, force: bool| {
        let mut args = vec!["simulate", "--out", p(&data), "--per-class", "2", "--classes", "bar_up,expand", "--size", size, "--duration-ms", "40"];
        if force {
            args.push("--force");
        }
        spikestream(&args)
    };
    let o = sim("24x16", false);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim("32x32", false);
    assert_clean_refusal(&o, &["sim", "--force"]);
    let o = sim("32x32", true);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut files = Vec::new();
    walk(&data, &mut files);
    assert_eq!(files.len(), 5, "4 recordings and simulate.json, nothing of the old run: {files:?}");
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "aedat4")) {
        assert_eq!(read_file(f, ReadOptions::default()).unwrap().resolution.map(|r| (r.width, r.height)), Some((32, 32)), "{}", f.display());
    }
    assert!(std::fs::read_to_string(data.join("simulate.json")).unwrap().contains("32"));
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    // --force never deletes a folder that is not a dataset.
    let other = dir.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("cat.jpg"), b"meow").unwrap();
    let o = spikestream(&["simulate", "--out", p(&other), "--per-class", "1", "--force"]);
    assert_clean_refusal(&o, &["not a dataset"]);
    assert_eq!(std::fs::read(other.join("cat.jpg")).unwrap(), b"meow");
    // One recording: replacing it needs --force too.
    let one = dir.path().join("one.aedat4");
    std::fs::write(&one, b"precious").unwrap();
    let o = spikestream(&["simulate", "--class", "expand", "--out", p(&one)]);
    assert_clean_refusal(&o, &["--force"]);
    assert_eq!(std::fs::read(&one).unwrap(), b"precious");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[test]
fn convert_refuses_its_input_as_output_and_needs_force_to_replace_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.aedat4");
    write_aedat4(&x, &moving_blob(5, 3000, 100_000), 1000);
    let before = std::fs::read(&x).unwrap();
    assert_clean_refusal(&spikestream(&["convert", p(&x), p(&x), "--force"]), &["is the input"]);
    assert!(std::fs::read(&x).unwrap() == before);
    let y = dir.path().join("y.aedat4");
    assert!(spikestream(&["convert", p(&x), p(&y)]).status.success());
    assert_clean_refusal(&spikestream(&["convert", p(&x), p(&y)]), &["y.aedat4", "--force"]);
    assert!(spikestream(&["convert", p(&x), p(&y), "--force"]).status.success());
    assert!(leftovers(dir.path()).is_empty());
}

// ---- signals ----

#[cfg(target_os = "linux")]
fn signal(child: &Child, sig: i32) {
    // SAFETY: kill on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("spikestream did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

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

/// The recorder's temporary holds at least `bytes`.
fn temp_of(dir: &Path, bytes: u64) -> Option<PathBuf> {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).find(|f| f.to_string_lossy().ends_with(".partial") && std::fs::metadata(f).is_ok_and(|m| m.len() >= bytes))
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

#[cfg(target_os = "linux")]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(p(path)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
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

//! Issue 13, data loss: every command that writes goes through a temporary file and a rename
//! (`spikestream::output`), refuses an output that is one of its inputs, needs `--force` to
//! replace a recording or a dataset, and keeps the old file on a full disk. Each bug of the
//! issue has a test named after it. Signals are in `robustness_signals.rs`.

mod robustness_common;
mod stream_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use robustness_common::*;
use spikestream::events::ReadOptions;
use spikestream::events::read_file;
use stream_common::*;

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

#[test]
fn a_folder_given_as_input_said_no_such_device_and_causes_were_repeated() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["inspect", p(dir.path())], vec!["convert", p(dir.path()), "x.csv"]] {
        let o = spikestream(&args);
        assert_clean_refusal(&o, &["is a folder"]);
        assert_eq!(stderr(&o).matches("is a folder").count(), 1, "{args:?}: the cause once: {}", stderr(&o));
    }
}

//! Helpers of the robustness tests that run the `spikestream` binary: running it, signalling
//! it, waiting for it with bounded waits, and finding temporaries it left.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn spikestream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).stdin(Stdio::null()).output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Temporaries (`.NAME.PID.partial`) left in `dir`.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".partial") || n.ends_with(".old")).collect()
}

pub fn assert_clean_refusal(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a refusal; stderr:\n{err}");
    assert!(!err.contains("panicked"), "a panic, not an error:\n{err}");
    for n in needles {
        assert!(err.contains(n), "the message lacks {n:?}:\n{err}");
    }
}

#[cfg(target_os = "linux")]
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
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

/// The recorder's temporary holds at least `bytes`.
pub fn temp_of(dir: &Path, bytes: u64) -> Option<PathBuf> {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).find(|f| f.to_string_lossy().ends_with(".partial") && std::fs::metadata(f).is_ok_and(|m| m.len() >= bytes))
}

#[cfg(target_os = "linux")]
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(p(path)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs the CLI with every wait bounded: a hang is a failure, not a stuck test.
pub fn spikestream_within(timeout: Duration, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = pipe.read_to_end(&mut v);
            v
        })
    };
    let (out, err) = (drain(Box::new(child.stdout.take().unwrap())), drain(Box::new(child.stderr.take().unwrap())));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("spikestream {args:?} hung for {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

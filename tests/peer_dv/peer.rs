//! Runs the dv-processing peer, `scripts/peers/dv_peer.py`, from the tests: finds the Python
//! (`SPIKESTREAM_PEER_PYTHON`), decides whether a missing peer skips (locally) or fails (CI),
//! runs the script with every wait bounded, and reads the events it dumps.
//!
//! The script's RAW dumps are 16-byte little-endian records `i64 t, i16 x, i16 y, u8 p, 3 pad`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use spikestream::events::Event;

/// How long one script run may take (a run takes about half a second; slow CI machines get slack).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Peer {
    python: PathBuf,
    script: PathBuf,
}

/// The peer, or `None` (after printing why) when it is missing and this is not CI. On CI
/// (`CI` set and not `false`/`0`) a missing peer fails the test: CI must run these tests.
pub fn peer() -> Option<&'static Peer> {
    static PEER: OnceLock<Result<Peer, String>> = OnceLock::new();
    match PEER.get_or_init(find_peer) {
        Ok(peer) => Some(peer),
        Err(reason) if on_ci() => {
            panic!(
                "dv-processing peer not available on CI: {reason}; scripts/test.sh runs scripts/setup-peers.sh and sets SPIKESTREAM_PEER_PYTHON"
            )
        }
        Err(reason) => {
            eprintln!("skipped: dv-processing peer not available (run scripts/setup-peers.sh): {reason}");
            None
        }
    }
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

fn find_peer() -> Result<Peer, String> {
    let python = std::env::var_os("SPIKESTREAM_PEER_PYTHON").ok_or("SPIKESTREAM_PEER_PYTHON is not set")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/dv_peer.py");
    let peer = Peer { python: PathBuf::from(python), script };
    let mut child = peer.spawn(["check"]).map_err(|e| format!("cannot run {}: {e}", peer.python.display()))?;
    match child.finish(RUN_TIMEOUT) {
        Ok((status, _)) if status.success() => Ok(peer),
        Ok((status, _)) => Err(format!("{} cannot import dv_processing ({status}): {}", peer.python.display(), child.stderr().trim())),
        Err(e) => Err(e),
    }
}

impl Peer {
    /// Starts the script with `args`; the process is killed when the returned value drops.
    pub fn spawn<I, S>(&self, args: I) -> std::io::Result<PeerProcess>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let lines = read_lines(child.stdout.take().expect("stdout is piped"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Ok(PeerProcess { child, lines, stderr, stderr_reader: Some(stderr_reader), stdout: Vec::new() })
    }

    /// Runs the script to the end and returns the JSON line it printed; panics with its stderr
    /// when it fails or outlives [`RUN_TIMEOUT`].
    pub fn run<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        let mut child = self.spawn(&args).unwrap_or_else(|e| panic!("cannot start the peer: {e}"));
        let (status, stdout) = child.finish(RUN_TIMEOUT).unwrap_or_else(|e| panic!("dv_peer.py {args:?}: {e}"));
        assert!(status.success(), "dv_peer.py {args:?} failed ({status}):\n{}", child.stderr());
        let line = stdout.last().unwrap_or_else(|| panic!("dv_peer.py {args:?} printed nothing"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("dv_peer.py {args:?} printed {line:?}: {e}"))
    }
}

fn read_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running script. Dropping it kills the process, so a failing test leaves nothing behind.
pub struct PeerProcess {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    stdout: Vec<String>,
}

impl PeerProcess {
    /// The next line on stdout, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.stdout.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => Err(format!("no output within {timeout:?}; stderr:\n{}", self.stderr())),
            Err(RecvTimeoutError::Disconnected) => match self.finish(Duration::from_secs(5)) {
                Ok((status, _)) => Err(format!("the peer exited ({status}) without printing a line; stderr:\n{}", self.stderr())),
                Err(e) => Err(format!("the peer closed its stdout without printing a line: {e}")),
            },
        }
    }

    /// Waits at most `timeout` for the process to exit (killing it after) and returns its status
    /// and every stdout line.
    pub fn finish(&mut self, timeout: Duration) -> Result<(ExitStatus, Vec<String>), String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("the peer did not exit within {timeout:?} and was killed; stderr:\n{}", self.stderr()));
                }
                Err(e) => return Err(format!("waiting for the peer: {e}")),
            }
        };
        // The reader thread ends at EOF, which the exit has caused (no grandchildren hold the pipe).
        let lines_deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self.lines.recv_timeout(lines_deadline.saturating_duration_since(Instant::now())) {
            self.stdout.push(line);
        }
        // The stderr reader ends at EOF too; joining it makes error messages complete.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        Ok((status, std::mem::take(&mut self.stdout)))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Events from a RAW dump of the script.
pub fn read_raw(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len() % 16, 0, "{}: {} bytes is not a whole number of 16-byte events", path.display(), bytes.len());
    bytes
        .chunks_exact(16)
        .enumerate()
        .map(|(i, r)| {
            let t = i64::from_le_bytes(r[0..8].try_into().unwrap());
            let x = i16::from_le_bytes([r[8], r[9]]);
            let y = i16::from_le_bytes([r[10], r[11]]);
            assert!(
                t >= 0 && x >= 0 && y >= 0 && r[12] <= 1,
                "{}: event {i} is out of range: t {t} x {x} y {y} p {}",
                path.display(),
                r[12]
            );
            Event::new(t as u64, x as u16, y as u16, r[12] == 1)
        })
        .collect()
}

/// Asserts equal event lists, naming the first difference.
pub fn assert_same_events(what: &str, expected: &[Event], got: &[Event]) {
    if let Some(i) = expected.iter().zip(got).position(|(e, g)| e != g) {
        panic!("{what}: event {i} differs: expected {:?}, got {:?} ({} expected, {} got)", expected[i], got[i], expected.len(), got.len());
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{what}: {} events expected, {} got (the first {} agree)",
        expected.len(),
        got.len(),
        expected.len().min(got.len())
    );
}

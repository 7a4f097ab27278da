//! `replay:FILE`: a recording read in chunks (never whole, so a 1 GB file streams in constant
//! memory), decoded as it goes and released by its event timestamps: in real time, `--speed X`
//! times faster, or as fast as possible (`--speed max`). The format is detected from the content
//! as it comes ([`Detecting`], shared with stdin).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, bounded};

use super::StreamError;
use super::resync::JumpBound;
use super::source::{Source, Speed, Status};
use crate::events::io::input::{InputKind, open_input};
use crate::events::{DETECT_BYTES, DecoderOptions, DetectError, Detecting, Event, Format, Resolution};

/// Bytes read per chunk.
const CHUNK: usize = 1 << 20;
/// Most events handed over per poll, so batches (and the queue between threads) stay small.
pub(super) const MAX_BATCH: usize = 1 << 16;

/// A [`Detecting`] error as the stream reports it, naming the input (`what`).
pub(super) fn detect_error(what: &str, e: DetectError) -> StreamError {
    match e {
        DetectError::Decode(source) => StreamError::Decode { what: what.to_string(), source },
        other => StreamError::Format(format!("{what}: {other}")),
    }
}

pub struct ReplaySource {
    path: PathBuf,
    file: File,
    /// For a pipe: chunks read by a thread, so a stalled writer never blocks a poll (and the
    /// stop flag) for longer than its timeout.
    pipe: Option<Receiver<std::io::Result<Vec<u8>>>>,
    input: Detecting,
    buf: Vec<u8>,
    /// Decoded events not yet handed over: `pending[cursor..]`.
    pending: Vec<Event>,
    cursor: usize,
    eof: bool,
    error: Option<StreamError>,
    speed: Speed,
    /// First event time and the wall-clock instant it was released (again after a glitch).
    clock: Option<(u64, Instant)>,
    /// The last event handed over, to spot clock glitches.
    last_t: Option<u64>,
    jumps: JumpBound,
}

impl ReplaySource {
    pub fn open(path: &Path, format: Option<Format>, options: DecoderOptions, speed: Speed) -> Result<Self, StreamError> {
        // A pipe is read as it comes (`replay:<(cat file)`); one without a writer fails after a wait.
        let io = |source| StreamError::Io { what: path.display().to_string(), source };
        let file = open_input(path).map_err(io)?;
        let pipe = match InputKind::of(path) {
            Ok(InputKind::Stream(_)) => Some(read_on_a_thread(file.try_clone().map_err(io)?)),
            _ => None,
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            pipe,
            input: Detecting::new(format, options, DETECT_BYTES),
            buf: vec![0; CHUNK],
            pending: Vec::new(),
            cursor: 0,
            eof: false,
            error: None,
            speed,
            clock: None,
            last_t: None,
            jumps: JumpBound::default(),
        })
    }

    /// Decodes chunks until some events are pending or the file ends (a pipe: or `timeout`
    /// passes without data).
    fn refill(&mut self, timeout: Duration) -> Result<(), StreamError> {
        self.pending.clear();
        self.cursor = 0;
        while self.pending.is_empty() && !self.eof {
            let read = match &self.pipe {
                Some(chunks) => match chunks.recv_timeout(timeout) {
                    Ok(Ok(bytes)) => {
                        self.buf[..bytes.len()].copy_from_slice(&bytes);
                        Ok(bytes.len())
                    }
                    Ok(Err(e)) => Err(e),
                    Err(RecvTimeoutError::Timeout) => return Ok(()),
                    Err(RecvTimeoutError::Disconnected) => Ok(0),
                },
                None => self.file.read(&mut self.buf),
            };
            let n = match read {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(StreamError::Io { what: self.path.display().to_string(), source }),
            };
            let result = if n == 0 {
                self.eof = true;
                self.input.finish(&mut self.pending)
            } else {
                self.input.feed(&self.buf[..n], &mut self.pending)
            };
            let result = result.map_err(|e| detect_error(&self.path.display().to_string(), e));
            // Events decoded before an error are still replayed; the error comes after them.
            if let Err(e) = result {
                self.error = Some(e);
                self.eof = true;
            }
        }
        Ok(())
    }

    fn hand_over(&mut self, n: usize, out: &mut Vec<Event>) {
        out.extend_from_slice(&self.pending[self.cursor..self.cursor + n]);
        self.cursor += n;
    }
}

/// Reads `file` in chunks of at most [`CHUNK`] on a detached thread (a read on a pipe cannot be
/// interrupted; the process exit ends it); the channel closes at the end of the input.
fn read_on_a_thread(mut file: File) -> Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = bounded(4);
    std::thread::Builder::new()
        .name("replay pipe reader".into())
        .spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let msg = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = msg.is_err();
                if tx.send(msg).is_err() || failed {
                    break;
                }
            }
        })
        .expect("spawning a thread");
    rx
}

impl Source for ReplaySource {
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError> {
        if self.cursor == self.pending.len() {
            if !self.eof {
                self.refill(timeout)?;
            }
            if self.cursor == self.pending.len() && !self.eof {
                return Ok(Status::Idle);
            }
            if self.cursor == self.pending.len() {
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(Status::Ended),
                };
            }
        }
        let rest = self.pending.len() - self.cursor;
        let Speed::Factor(speed) = self.speed else {
            self.hand_over(rest.min(MAX_BATCH), out);
            return Ok(Status::Data);
        };
        let deadline = Instant::now() + timeout;
        loop {
            let next = self.pending[self.cursor].t;
            // A clock glitch (far future, or a reset backwards) re-anchors the replay clock at
            // the event after it, instead of waiting days for it or rushing what follows.
            if self.last_t.is_some_and(|last| self.jumps.is_jump(last, next)) {
                self.clock = None;
                self.last_t = None;
            }
            let (t0, wall0) = *self.clock.get_or_insert((next, Instant::now()));
            let now = Instant::now();
            let due = t0.saturating_add((now.duration_since(wall0).as_secs_f64() * 1e6 * speed) as u64);
            let mut prev = self.last_t;
            let ready = self.pending[self.cursor..]
                .iter()
                .take(MAX_BATCH)
                .take_while(|e| {
                    let ok = e.t <= due && !prev.is_some_and(|p| self.jumps.is_jump(p, e.t));
                    prev = Some(e.t);
                    ok
                })
                .count();
            if ready > 0 {
                self.hand_over(ready, out);
                self.last_t = Some(self.pending[self.cursor - 1].t);
                return Ok(Status::Data);
            }
            let at = wall0 + Duration::from_secs_f64(next.saturating_sub(t0) as f64 / 1e6 / speed);
            if at >= deadline {
                std::thread::sleep(deadline.saturating_duration_since(now));
                return Ok(Status::Idle);
            }
            std::thread::sleep(at.saturating_duration_since(now));
        }
    }

    fn resolution(&self) -> Option<Resolution> {
        self.input.resolution()
    }

    fn clock_rate(&self) -> Option<f64> {
        match self.speed {
            Speed::Max => None,
            Speed::Factor(s) => Some(s),
        }
    }

    fn describe(&self) -> String {
        format!("replay:{}", self.path.display())
    }
}

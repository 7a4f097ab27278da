//! `-`: events on stdin (or any reader), decoded as bytes arrive. A reader thread does the
//! blocking reads so the source can be polled with a timeout like the others.

use std::io::Read;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, bounded};

use super::StreamError;
use super::replay::detect_error;
use super::source::{Source, Status};
use crate::events::{DecoderOptions, Detecting, Event, Format, Resolution};

/// Detect from this many bytes when no AEDAT4 signature shows earlier.
const DETECT_AFTER: usize = 64 << 10;

pub struct StdinSource {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    input: Detecting,
    ended: bool,
}

impl StdinSource {
    pub fn new(mut reader: Box<dyn Read + Send>, format: Option<Format>, options: DecoderOptions) -> Self {
        let (tx, chunks) = bounded(16);
        // Detached on purpose: a read on stdin cannot be interrupted, and the process exit ends it.
        std::thread::Builder::new()
            .name("stdin reader".into())
            .spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if tx.send(Ok(buf[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .expect("spawning a thread");
        Self { chunks, input: Detecting::new(format, options, DETECT_AFTER), ended: false }
    }
}

impl Source for StdinSource {
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError> {
        if self.ended {
            return Ok(Status::Ended);
        }
        match self.chunks.recv_timeout(timeout) {
            Ok(Ok(bytes)) => {
                self.input.feed(&bytes, out).map_err(|e| detect_error("stdin", e))?;
                Ok(Status::Data)
            }
            Ok(Err(source)) => {
                self.ended = true;
                Err(StreamError::Io { what: "stdin".into(), source })
            }
            Err(RecvTimeoutError::Timeout) => Ok(Status::Idle),
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                self.input.finish(out).map_err(|e| detect_error("stdin", e))?;
                Ok(Status::Ended)
            }
        }
    }

    fn resolution(&self) -> Option<Resolution> {
        self.input.resolution()
    }

    fn clock_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn describe(&self) -> String {
        "stdin".into()
    }
}

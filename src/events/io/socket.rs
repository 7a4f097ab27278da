//! The DV network stream client: connects to a DV / dv-processing `NetworkWriter` over TCP or a
//! Unix socket and decodes the AEDAT4 stream as bytes arrive, with a read timeout so a caller
//! is never stuck on a quiet camera.

use std::io::{self, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::BATCH_EVENTS;
use crate::events::decoder::{Decoder, DecoderOptions};
use crate::events::error::DecodeError;
use crate::events::formats::aedat4::Aedat4Decoder;
use crate::events::{Event, Resolution, Trigger};

/// Where a DV stream is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DvAddress {
    /// `tcp://HOST:PORT`
    Tcp(String),
    /// `unix:///PATH`
    Unix(PathBuf),
}

impl DvAddress {
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix("tcp://") {
            return (!rest.is_empty()).then(|| Self::Tcp(rest.to_string()));
        }
        text.strip_prefix("unix://").filter(|p| !p.is_empty()).map(|p| Self::Unix(PathBuf::from(p)))
    }
}

impl std::fmt::Display for DvAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{address}: {source}")]
    Io { address: String, source: io::Error },
    #[error("{address}: {source}")]
    Decode { address: String, source: DecodeError },
}

/// What one [`DvClient::poll`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// Bytes arrived (and this many events were decoded from them).
    Data { events: usize },
    /// Nothing arrived within the read timeout.
    Idle,
    /// The server closed the connection at a packet boundary.
    Closed,
}

trait Connection: Read + Send {}
impl<T: Read + Send> Connection for T {}

pub struct DvClient {
    address: DvAddress,
    conn: Box<dyn Connection>,
    decoder: Aedat4Decoder,
    buf: Vec<u8>,
    /// `buf[start..end]` arrived but is not decoded yet (a poll stops after about
    /// [`BATCH_EVENTS`] events, however far the bytes expand).
    start: usize,
    end: usize,
    bytes: u64,
}

impl DvClient {
    /// Connects; `read_timeout` bounds each [`DvClient::poll`].
    pub fn connect(address: &DvAddress, read_timeout: Duration) -> Result<Self, StreamError> {
        let io = |source| StreamError::Io { address: address.to_string(), source };
        let timeout = Some(read_timeout.max(Duration::from_millis(1)));
        let conn: Box<dyn Connection> = match address {
            DvAddress::Tcp(a) => {
                let s = TcpStream::connect(a).map_err(io)?;
                s.set_read_timeout(timeout).map_err(io)?;
                s.set_nodelay(true).map_err(io)?;
                Box::new(s)
            }
            #[cfg(unix)]
            DvAddress::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p).map_err(io)?;
                s.set_read_timeout(timeout).map_err(io)?;
                Box::new(s)
            }
            #[cfg(not(unix))]
            DvAddress::Unix(_) => return Err(io(io::Error::new(io::ErrorKind::Unsupported, "Unix sockets need a Unix system"))),
        };
        Ok(Self {
            address: address.clone(),
            conn,
            decoder: Aedat4Decoder::stream(DecoderOptions::default()),
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            bytes: 0,
        })
    }

    /// Reads what has arrived (waiting at most the read timeout) and appends its events to
    /// `out`. On a decode error or a connection dropped mid-packet, the events decoded before
    /// stay in `out`.
    pub fn poll(&mut self, out: &mut Vec<Event>) -> Result<Poll, StreamError> {
        let before = out.len();
        let decode = |source| StreamError::Decode { address: self.address.to_string(), source };
        // A big packet's remaining slices first, then bytes that arrived but wait, then a read.
        self.decoder.feed_some(&[], out, BATCH_EVENTS).map_err(decode)?;
        if out.len() > before {
            return Ok(Poll::Data { events: out.len() - before });
        }
        if self.start < self.end {
            let used = self.decoder.feed_some(&self.buf[self.start..self.end], out, BATCH_EVENTS).map_err(decode)?;
            self.start += used;
            return Ok(Poll::Data { events: out.len() - before });
        }
        match self.conn.read(&mut self.buf) {
            Ok(0) => {
                self.decoder.finish(out).map_err(decode)?;
                Ok(Poll::Closed)
            }
            Ok(n) => {
                self.bytes += n as u64;
                let used = self.decoder.feed_some(&self.buf[..n], out, BATCH_EVENTS).map_err(decode)?;
                (self.start, self.end) = (used, n);
                Ok(Poll::Data { events: out.len() - before })
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(Poll::Idle),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Poll::Data { events: 0 }),
            Err(source) => Err(StreamError::Io { address: self.address.to_string(), source }),
        }
    }

    /// The triggers received so far, when the server's stream is a trigger (`TRIG`) stream.
    pub fn triggers(&self) -> &[Trigger] {
        self.decoder.triggers()
    }

    /// The event stream's sensor size, once the IOHeader has arrived.
    pub fn resolution(&self) -> Option<Resolution> {
        self.decoder.resolution()
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes
    }

    pub fn address(&self) -> &DvAddress {
        &self.address
    }
}

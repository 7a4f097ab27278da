//! `udp://HOST:PORT`: events in UDP datagrams as faery and aestream send them, in the formats'
//! own names (`?format=`):
//! - `t64_x16_y16_on8` (default): 13-byte records, t u64, x u16, y u16, on u8, little-endian;
//! - `t32_x16_y15_on1`: 8-byte records, t u32, x u16, then `y << 1 | on` in a u16 (so y is
//!   14 bits as faery masks it); t wraps at 2^32 µs (71 minutes) and is unwrapped here.
//!
//! Neither format has a header or a sequence number: the sensor size comes from `--sensor` or
//! the model's framing, and a lost datagram cannot be seen. What can be seen is counted and
//! the stream keeps running: a datagram that starts before the previous one ended (reordered;
//! dropped, as faery does, so event time stays in order), a datagram whose length is not a
//! whole number of records (the tail is dropped), and t32 wraps. `?end_idle_ms=N` ends the
//! stream after N ms without a datagram (once one has arrived), for batch jobs.
//! [`UdpSender`] sends events the same way (`convert IN udp://HOST:PORT`).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::StreamError;
use super::source::{Source, Status};
use crate::events::{Event, Resolution};

/// The datagram formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpFormat {
    T64X16Y16On8,
    T32X16Y15On1,
}

impl UdpFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::T64X16Y16On8 => "t64_x16_y16_on8",
            Self::T32X16Y15On1 => "t32_x16_y15_on1",
        }
    }

    pub fn record_bytes(self) -> usize {
        match self {
            Self::T64X16Y16On8 => 13,
            Self::T32X16Y15On1 => 8,
        }
    }

    /// Appends the records of `datagram` (whole records only) to `out`; t32 times as sent.
    fn decode(self, datagram: &[u8], out: &mut Vec<Event>) {
        let n = self.record_bytes();
        for r in datagram.chunks_exact(n) {
            out.push(match self {
                Self::T64X16Y16On8 => Event::new(u64::from_le_bytes(r[0..8].try_into().unwrap()), u16::from_le_bytes([r[8], r[9]]), u16::from_le_bytes([r[10], r[11]]), r[12] != 0),
                Self::T32X16Y15On1 => {
                    let yon = u16::from_le_bytes([r[6], r[7]]);
                    Event::new(u64::from(u32::from_le_bytes(r[0..4].try_into().unwrap())), u16::from_le_bytes([r[4], r[5]]), yon >> 1, yon & 1 == 1)
                }
            });
        }
    }

    /// Appends `events` as records to `out`.
    pub fn encode(self, events: &[Event], out: &mut Vec<u8>) {
        for e in events {
            match self {
                Self::T64X16Y16On8 => {
                    out.extend_from_slice(&e.t.to_le_bytes());
                    out.extend_from_slice(&e.x.to_le_bytes());
                    out.extend_from_slice(&e.y.to_le_bytes());
                    out.push(u8::from(e.p));
                }
                Self::T32X16Y15On1 => {
                    out.extend_from_slice(&(e.t as u32).to_le_bytes());
                    out.extend_from_slice(&e.x.to_le_bytes());
                    out.extend_from_slice(&(((e.y << 1) & 0x7fff) | u16::from(e.p)).to_le_bytes());
                }
            }
        }
    }
}

/// A parsed `udp://HOST:PORT[?format=…&end_idle_ms=…&events_per_packet=…]`.
#[derive(Clone, Debug, PartialEq)]
pub struct UdpAddress {
    pub address: String,
    pub format: UdpFormat,
    pub end_idle: Option<Duration>,
    /// Records per datagram when sending (faery's default, 100).
    pub events_per_packet: usize,
}

impl UdpAddress {
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix("udp://")?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut spec = Self { address: address.to_string(), format: UdpFormat::T64X16Y16On8, end_idle: None, events_per_packet: 100 };
        if address.is_empty() || !address.contains(':') {
            return Some(Err(format!("'{text}': give udp://HOST:PORT")));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = |max: u64| value.parse::<u64>().ok().filter(|&v| v >= 1 && v <= max).ok_or_else(|| format!("'{text}': {key}={value} must be a whole number from 1 to {max}"));
            match key {
                "format" => {
                    spec.format = match value {
                        "t64_x16_y16_on8" => UdpFormat::T64X16Y16On8,
                        "t32_x16_y15_on1" => UdpFormat::T32X16Y15On1,
                        _ => return Some(Err(format!("'{text}': format={value} is not one of t64_x16_y16_on8, t32_x16_y15_on1"))),
                    }
                }
                "end_idle_ms" => match number(86_400_000) {
                    Ok(ms) => spec.end_idle = Some(Duration::from_millis(ms)),
                    Err(e) => return Some(Err(e)),
                },
                "events_per_packet" => match number(65_000 / 13) {
                    Ok(n) => spec.events_per_packet = n as usize,
                    Err(e) => return Some(Err(e)),
                },
                _ => return Some(Err(format!("'{text}': unknown option '{key}' (format, end_idle_ms, events_per_packet)"))),
            }
        }
        Some(Ok(spec))
    }

    fn resolve(&self) -> Result<SocketAddr, StreamError> {
        let io = |source| StreamError::Io { what: format!("udp://{}", self.address), source };
        self.address.to_socket_addrs().map_err(io)?.next().ok_or_else(|| StreamError::Config(format!("udp://{}: the name resolves to no address", self.address)))
    }
}

/// What a UDP stream saw that the events do not show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpCounts {
    pub datagrams: u64,
    pub events: u64,
    /// Datagrams that started before the previous one ended, dropped.
    pub reordered: u64,
    /// Datagrams with a partial record at the end (the partial record is dropped).
    pub ragged: u64,
    pub wraps: u64,
}

/// Receives datagrams on HOST:PORT.
pub struct UdpSource {
    spec: UdpAddress,
    socket: UdpSocket,
    resolution: Option<Resolution>,
    buf: Vec<u8>,
    batch: Vec<Event>,
    last_t: Option<u64>,
    offset: u64,
    counts: UdpCounts,
    last_datagram: Option<Instant>,
    reported: UdpCounts,
}

impl UdpSource {
    pub fn bind(spec: UdpAddress, resolution: Option<Resolution>) -> Result<Self, StreamError> {
        let addr = spec.resolve()?;
        let socket = UdpSocket::bind(addr).map_err(|source| StreamError::Io { what: format!("udp://{}: cannot listen", spec.address), source })?;
        enlarge_receive_buffer(&socket);
        Ok(Self { spec, socket, resolution, buf: vec![0; 65_536], batch: Vec::new(), last_t: None, offset: 0, counts: UdpCounts::default(), last_datagram: None, reported: UdpCounts::default() })
    }

    pub fn counts(&self) -> UdpCounts {
        self.counts
    }

    /// Decodes one datagram into `out`, keeping event time in order.
    fn take(&mut self, len: usize, out: &mut Vec<Event>) {
        let rec = self.spec.format.record_bytes();
        self.counts.datagrams += 1;
        if len % rec != 0 {
            self.counts.ragged += 1;
        }
        self.batch.clear();
        self.spec.format.decode(&self.buf[..len], &mut self.batch);
        let Some(first) = self.batch.first().map(|e| e.t + self.offset) else { return };
        if let Some(prev) = self.last_t.filter(|&p| first < p) {
            if self.spec.format == UdpFormat::T32X16Y15On1 && prev - first > 1 << 31 {
                self.offset += 1 << 32;
                self.counts.wraps += 1;
            } else {
                self.counts.reordered += 1;
                return;
            }
        }
        let offset = self.offset;
        out.extend(self.batch.iter().map(|e| Event { t: e.t + offset, ..*e }));
        self.counts.events += self.batch.len() as u64;
        self.last_t = out.last().map(|e| e.t);
    }

    /// A line on stderr when something new was dropped, at most once a poll.
    fn report(&mut self) {
        let (c, r) = (self.counts, self.reported);
        if (c.reordered, c.ragged) != (r.reordered, r.ragged) {
            eprintln!("{}: {} datagrams out of order (dropped) and {} with a partial record so far, of {}", self.describe(), c.reordered, c.ragged, c.datagrams);
            self.reported = c;
        }
    }
}

impl Source for UdpSource {
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError> {
        let address = self.spec.address.clone();
        let io = |what: &str, source| StreamError::Io { what: format!("udp://{address}: {what}"), source };
        if let (Some(idle), Some(last)) = (self.spec.end_idle, self.last_datagram) {
            if last.elapsed() >= idle {
                return Ok(Status::Ended);
            }
        }
        self.socket.set_nonblocking(false).map_err(|e| io("socket", e))?;
        self.socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).map_err(|e| io("socket", e))?;
        let mut got = false;
        loop {
            match self.socket.recv(&mut self.buf) {
                Ok(len) => {
                    self.take(len, out);
                    got = true;
                    self.last_datagram = Some(Instant::now());
                    // Drain what has arrived without waiting, a bounded number at a time.
                    self.socket.set_nonblocking(true).map_err(|e| io("socket", e))?;
                    if out.len() > 1 << 20 {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io("receiving", e)),
            }
        }
        self.report();
        Ok(if got { Status::Data } else { Status::Idle })
    }

    fn resolution(&self) -> Option<Resolution> {
        self.resolution
    }

    fn clock_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn describe(&self) -> String {
        format!("udp://{} ({})", self.spec.address, self.spec.format.name())
    }
}

/// Sends events as datagrams of `events_per_packet` records.
pub struct UdpSender {
    spec: UdpAddress,
    socket: UdpSocket,
    target: SocketAddr,
    buf: Vec<u8>,
    pub datagrams: u64,
}

impl UdpSender {
    pub fn connect(spec: UdpAddress) -> Result<Self, StreamError> {
        let target = spec.resolve()?;
        let local: SocketAddr = if target.is_ipv4() { "0.0.0.0:0".parse().expect("literal") } else { "[::]:0".parse().expect("literal") };
        let socket = UdpSocket::bind(local).map_err(|source| StreamError::Io { what: "a UDP socket".into(), source })?;
        Ok(Self { spec, socket, target, buf: Vec::new(), datagrams: 0 })
    }

    pub fn send(&mut self, events: &[Event]) -> Result<(), StreamError> {
        for chunk in events.chunks(self.spec.events_per_packet) {
            self.buf.clear();
            self.spec.format.encode(chunk, &mut self.buf);
            self.socket.send_to(&self.buf, self.target).map_err(|source| StreamError::Io { what: format!("udp://{}: sending", self.spec.address), source })?;
            self.datagrams += 1;
        }
        Ok(())
    }
}

/// Asks for an 8 MiB receive buffer (the kernel may give less), so that a burst from a file
/// sender is not dropped while the pipeline is busy.
fn enlarge_receive_buffer(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with a valid descriptor and a c_int option value of the right size.
        unsafe {
            let p = (&size as *const libc::c_int).cast();
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
                libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip_and_options_parse() {
        let events = vec![Event::new(5, 1, 2, true), Event::new(1 << 33, 639, 479, false)];
        for f in [UdpFormat::T64X16Y16On8, UdpFormat::T32X16Y15On1] {
            let mut bytes = Vec::new();
            f.encode(&events, &mut bytes);
            assert_eq!(bytes.len(), 2 * f.record_bytes());
            let mut back = Vec::new();
            f.decode(&bytes, &mut back);
            let want: Vec<Event> = events.iter().map(|e| if f == UdpFormat::T32X16Y15On1 { Event { t: e.t & 0xffff_ffff, ..*e } } else { *e }).collect();
            assert_eq!(back, want, "{f:?}");
        }
        let a = UdpAddress::parse("udp://127.0.0.1:7777?format=t32_x16_y15_on1&end_idle_ms=500").unwrap().unwrap();
        assert_eq!((a.format, a.end_idle), (UdpFormat::T32X16Y15On1, Some(Duration::from_millis(500))));
        assert!(UdpAddress::parse("tcp://x:1").is_none());
        assert!(UdpAddress::parse("udp://x:1?format=evt2").unwrap().unwrap_err().contains("t64_x16_y16_on8"));
        assert!(UdpAddress::parse("udp://x:1?events_per_packet=0").unwrap().is_err());
        assert!(UdpAddress::parse("udp://nohost").unwrap().is_err());
    }

    #[test]
    fn reordered_ragged_and_wrapped_datagrams_are_counted_and_time_stays_in_order() {
        let spec = UdpAddress::parse("udp://127.0.0.1:0?format=t32_x16_y15_on1").unwrap().unwrap();
        let mut source = UdpSource::bind(spec.clone(), Some(Resolution::new(640, 480))).unwrap();
        let to = source.socket.local_addr().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let datagram = |ts: &[u64]| {
            let mut b = Vec::new();
            spec.format.encode(&ts.iter().map(|&t| Event::new(t, 1, 1, true)).collect::<Vec<_>>(), &mut b);
            b
        };
        sender.send_to(&datagram(&[10, 20]), to).unwrap();
        sender.send_to(&datagram(&[15, 16]), to).unwrap(); // starts before 20: reordered
        let mut ragged = datagram(&[30]);
        ragged.push(7);
        sender.send_to(&ragged, to).unwrap();
        sender.send_to(&datagram(&[(1 << 32) - 5]), to).unwrap();
        sender.send_to(&datagram(&[3]), to).unwrap(); // wrapped: 2^32 + 3
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while source.counts().datagrams < 5 && Instant::now() < deadline {
            source.poll(&mut out, Duration::from_millis(50)).unwrap();
        }
        let ts: Vec<u64> = out.iter().map(|e| e.t).collect();
        assert_eq!(ts, vec![10, 20, 30, (1 << 32) - 5, (1 << 32) + 3]);
        assert_eq!(source.counts(), UdpCounts { datagrams: 5, events: 5, reordered: 1, ragged: 1, wraps: 1 });
    }
}

/// `stream --forward udp://…`: a thread that sends every event batch of a stream's tap as
/// datagrams; returns the events and datagrams sent. A full tap queue drops batches (the tap
/// counts them), so forwarding never slows the stream.
pub fn spawn_forward(spec: UdpAddress) -> Result<(super::tap::Tap, std::thread::JoinHandle<Result<(u64, u64), StreamError>>), StreamError> {
    let mut sender = UdpSender::connect(spec)?;
    let (tap, rx) = super::tap::Tap::new(1024);
    let handle = std::thread::Builder::new()
        .name("forward".into())
        .spawn(move || {
            let mut events = 0u64;
            for msg in rx.iter() {
                if let super::tap::TapMsg::Events(batch, _) = msg {
                    sender.send(&batch)?;
                    events += batch.len() as u64;
                }
            }
            Ok((events, sender.datagrams))
        })
        .map_err(|source| StreamError::Io { what: "starting the forward thread".into(), source })?;
    Ok((tap, handle))
}

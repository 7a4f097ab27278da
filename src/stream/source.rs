//! Live event sources: what `--source` names, and the [`Source`] trait the pipeline's source
//! thread polls.

use std::path::PathBuf;
use std::time::Duration;

use super::StreamError;
use crate::events::io::socket::DvAddress;
use crate::events::{DecoderOptions, Event, Format, Resolution};

/// What one [`Source::poll`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Events may have been appended.
    Data,
    /// Nothing within the timeout.
    Idle,
    /// The connection was lost (the events received before it were appended). With `retrying`
    /// the source reconnects on later polls; without, the next poll says [`Status::Ended`].
    /// `error`: lost to a corrupt stream or a connection cut mid-packet, not a clean close; the
    /// stream fails unless a reconnection follows.
    Lost { reason: String, retrying: bool, error: bool },
    /// Connected (`again`: after a loss, which the summary counts as a reconnect); a line for
    /// the user.
    Connected { message: String, again: bool },
    /// No more events will come.
    Ended,
}

/// A live source of events, polled by one thread.
pub trait Source: Send {
    /// Appends what arrives within about `timeout` to `out`, in arrival order.
    fn poll(&mut self, out: &mut Vec<Event>, timeout: Duration) -> Result<Status, StreamError>;

    /// The sensor size, once known (after a stream's header).
    fn resolution(&self) -> Option<Resolution>;

    /// Event-time microseconds per wall-clock microsecond, for advancing a quiet scene's frames
    /// by wall time: 1 for live sources, the speed for a replay, `None` when event time has no
    /// tie to wall time (`--speed max`).
    fn clock_rate(&self) -> Option<f64>;

    /// For messages: `tcp://…`, `replay:FILE`, `stdin`, `camera:SERIAL`.
    fn describe(&self) -> String;
}

/// How fast a recording is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as decoding allows.
    Max,
    /// Event time runs this many times faster than wall time (1 = real time).
    Factor(f64),
}

impl Speed {
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("max") {
            return Some(Self::Max);
        }
        s.trim_end_matches(['x', 'X']).parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0).map(Self::Factor)
    }
}

/// A parsed `--source`.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// `tcp://HOST:PORT` or `unix:///PATH`: a DV / dv-processing `NetworkWriter`.
    Dv(DvAddress),
    /// `replay:FILE`: any readable recording, played by its event timestamps.
    Replay(PathBuf),
    /// `-`: stdin (AEDAT4 stream or file by content, or `--format`).
    Stdin,
    /// `camera` or `camera:SERIAL` (feature `camera`).
    Camera(Option<String>),
    /// `udp://HOST:PORT[?format=…]`: datagrams as faery and aestream send them.
    Udp(super::udp::UdpAddress),
}

impl SourceSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "-" || text == "stdin" {
            return Ok(Self::Stdin);
        }
        if let Some(path) = text.strip_prefix("replay:") {
            return if path.is_empty() { Err("replay: needs a file, e.g. replay:recording.aedat4".into()) } else { Ok(Self::Replay(PathBuf::from(path))) };
        }
        if text == "camera" {
            return Ok(Self::Camera(None));
        }
        if let Some(serial) = text.strip_prefix("camera:") {
            return Ok(Self::Camera((!serial.is_empty()).then(|| serial.to_string())));
        }
        if let Some(a) = DvAddress::parse(text) {
            return Ok(Self::Dv(a));
        }
        if let Some(a) = super::udp::UdpAddress::parse(text) {
            return a.map(Self::Udp);
        }
        Err(format!("'{text}' is not a source; one of tcp://HOST:PORT, unix:///PATH, udp://HOST:PORT, replay:FILE, - (stdin), camera[:SERIAL]"))
    }
}

/// Options that shape how a source is opened.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Format of a replayed file or stdin, when content detection is not wanted.
    pub format: Option<Format>,
    pub decoder: DecoderOptions,
    pub speed: Speed,
    /// Reconnect a lost DV stream, waiting from `first` doubling up to `max`.
    pub reconnect: Option<Backoff>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { format: None, decoder: DecoderOptions::default(), speed: Speed::Factor(1.0), reconnect: None }
    }
}

/// Exponential backoff between reconnection attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

/// Opens the source `spec` names. DV streams connect on the first poll (so `--reconnect` also
/// covers a server that is not up yet).
pub fn open(spec: &SourceSpec, options: &OpenOptions) -> Result<Box<dyn Source>, StreamError> {
    match spec {
        SourceSpec::Dv(address) => Ok(Box::new(super::dv::DvSource::new(address.clone(), options.reconnect))),
        SourceSpec::Replay(path) => Ok(Box::new(super::replay::ReplaySource::open(path, options.format, options.decoder, options.speed)?)),
        SourceSpec::Stdin => Ok(Box::new(super::stdin::StdinSource::new(Box::new(std::io::stdin()), options.format, options.decoder))),
        SourceSpec::Udp(address) => Ok(Box::new(super::udp::UdpSource::bind(address.clone(), options.decoder.resolution)?)),
        #[cfg(feature = "camera")]
        SourceSpec::Camera(serial) => Ok(Box::new(super::camera::CameraSource::open(serial.as_deref())?)),
        #[cfg(not(feature = "camera"))]
        SourceSpec::Camera(_) => Err(StreamError::Camera(NO_CAMERA_FEATURE.into())),
    }
}

/// The message for camera sources in a build without the `camera` feature.
pub const NO_CAMERA_FEATURE: &str = "this build has no camera support; rebuild with `cargo build --release --features camera` \
     (it compiles libusb from source; on Linux, install the neuromorphic-drivers udev rules for non-root access)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(SourceSpec::parse("-"), Ok(SourceSpec::Stdin));
        assert_eq!(SourceSpec::parse("replay:a.aedat4"), Ok(SourceSpec::Replay("a.aedat4".into())));
        assert_eq!(SourceSpec::parse("camera"), Ok(SourceSpec::Camera(None)));
        assert_eq!(SourceSpec::parse("camera:00051"), Ok(SourceSpec::Camera(Some("00051".into()))));
        assert_eq!(SourceSpec::parse("tcp://127.0.0.1:7777"), Ok(SourceSpec::Dv(DvAddress::Tcp("127.0.0.1:7777".into()))));
        assert_eq!(SourceSpec::parse("unix:///tmp/dv.sock"), Ok(SourceSpec::Dv(DvAddress::Unix("/tmp/dv.sock".into()))));
        assert!(SourceSpec::parse("http://x").is_err());
        assert_eq!(Speed::parse("max"), Some(Speed::Max));
        assert_eq!(Speed::parse("2.5"), Some(Speed::Factor(2.5)));
        assert_eq!(Speed::parse("4x"), Some(Speed::Factor(4.0)));
        assert_eq!(Speed::parse("0"), None);
    }
}

//! The [`Decoder`] trait every format implements, the [`Format`] list and the options that
//! fill in what a format's header may lack.

use super::error::DecodeError;
use super::{Event, Resolution, Trigger};

/// The recorded formats spikestream reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Format {
    /// AEDAT 4.0 file (DV, dv-processing).
    Aedat4,
    /// AEDAT 4.0 network stream (DV TCP / Unix socket; no version line, no data table).
    Aedat4Stream,
    /// AEDAT 3.1 (cAER / libcaer; DVS128 Gesture).
    Aedat31,
    /// AEDAT 1.0 / 2.0 (jAER; CIFAR10-DVS and many DAVIS datasets).
    Aedat2,
    /// Prophesee RAW, EVT 2.0.
    Evt2,
    /// Prophesee RAW, EVT 3.0.
    Evt3,
    /// Prophesee DAT (Gen1, 1Mpx, N-CARS).
    Dat,
    /// Orchard's ATIS `.bin` (N-MNIST, N-Caltech101), 5 bytes per event, no header.
    AtisBin,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Aedat4,
        Format::Aedat4Stream,
        Format::Aedat31,
        Format::Aedat2,
        Format::Evt2,
        Format::Evt3,
        Format::Dat,
        Format::AtisBin,
    ];

    /// Short stable name, used in `--format` and JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Aedat4 => "aedat4",
            Format::Aedat4Stream => "aedat4-stream",
            Format::Aedat31 => "aedat3.1",
            Format::Aedat2 => "aedat2",
            Format::Evt2 => "evt2",
            Format::Evt3 => "evt3",
            Format::Dat => "dat",
            Format::AtisBin => "atis-bin",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let alias = match name.as_str() {
            "aedat" | "aedat2.0" | "jaer" => "aedat2",
            "aedat3" | "aedat31" => "aedat3.1",
            "aedat4.0" | "dv" => "aedat4",
            "nmnist" | "n-mnist" | "ncaltech101" | "bin" => "atis-bin",
            "evt2.0" => "evt2",
            "evt3.0" => "evt3",
            other => other,
        };
        Self::ALL.into_iter().find(|f| f.name() == alias)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Aedat4 => "AEDAT4",
            Format::Aedat4Stream => "AEDAT4 stream",
            Format::Aedat31 => "AEDAT3.1",
            Format::Aedat2 => "AEDAT2",
            Format::Evt2 => "EVT2",
            Format::Evt3 => "EVT3",
            Format::Dat => "DAT",
            Format::AtisBin => "ATIS bin",
        })
    }
}

/// How to read jAER AEDAT 1.0/2.0 addresses when the header does not name the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Aedat2Layout {
    /// DVS128: bit 0 polarity, bits 1–7 x, bits 8–14 y, bit 15 special.
    Dvs128,
    /// DAVIS240/346/640: bit 31 APS/IMU, bit 10 special, bits 12–21 x, 22–30 y, bit 11 polarity.
    Davis,
}

/// Bytes per piece of [`Decoder::feed_some`]'s default: at most 1.5 M events even for EVT3
/// vector words (12 events per 2 bytes).
pub const FEED_PIECE: usize = 256 << 10;

/// What the caller knows that a header may not say. Values here override the header.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecoderOptions {
    pub resolution: Option<Resolution>,
    pub aedat2_layout: Option<Aedat2Layout>,
}

/// A sans-IO decoder: bytes in, in chunks of any size; events out.
///
/// The chunks are consecutive pieces of one input; the decoder keeps whatever it needs between
/// them, so a memory-mapped file (one chunk) and a socket (many) use the same code. After an
/// error the decoder must not be fed again; the events appended before the error are valid.
pub trait Decoder: Send {
    fn format(&self) -> Format;

    /// Decodes the next chunk and appends its events to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError>;

    /// Like [`Decoder::feed`], but may stop once about `most` events were appended: returns how
    /// many bytes of `chunk` it used (at least one item's worth, so the caller always advances),
    /// and the caller feeds the rest later. This bounds a batch's memory where a few bytes expand
    /// to many events (EVT3 vector words, compressed AEDAT4 packets).
    ///
    /// The default feeds pieces of [`FEED_PIECE`] bytes, which every decoder accepts (chunks may
    /// be cut anywhere); AEDAT4 stops between packets instead.
    fn feed_some(&mut self, chunk: &[u8], out: &mut Vec<Event>, most: usize) -> Result<usize, DecodeError> {
        let before = out.len();
        let mut used = 0;
        for piece in chunk.chunks(FEED_PIECE) {
            self.feed(piece, out)?;
            used += piece.len();
            if out.len() - before >= most {
                break;
            }
        }
        Ok(used)
    }

    /// Declares the end of input: an error when it ended inside a record or header.
    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), DecodeError>;

    /// The sensor size: from the options, else from the header, else `None`.
    fn resolution(&self) -> Option<Resolution>;

    /// External triggers seen so far, or since the last [`Decoder::take_triggers`] (formats
    /// without triggers: none).
    fn triggers(&self) -> &[Trigger] {
        &[]
    }

    /// Moves the triggers seen so far to the end of `out`, so a streaming reader can hand them
    /// out batch by batch instead of letting them pile up for the whole input.
    fn take_triggers(&mut self, _out: &mut Vec<Trigger>) {}

    /// Header facts worth showing a person (camera, chip, versions), as key/value pairs.
    fn metadata(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A decoder for `format`.
pub fn new_decoder(format: Format, options: DecoderOptions) -> Box<dyn Decoder> {
    use super::{aedat2, aedat4, aedat31, atis, prophesee};
    match format {
        Format::Aedat4 => Box::new(aedat4::Aedat4Decoder::file(options)),
        Format::Aedat4Stream => Box::new(aedat4::Aedat4Decoder::stream(options)),
        Format::Aedat31 => Box::new(aedat31::Aedat31Decoder::new(options)),
        Format::Aedat2 => Box::new(aedat2::Aedat2Decoder::new(options)),
        Format::Evt2 => Box::new(prophesee::Evt2Decoder::new(options)),
        Format::Evt3 => Box::new(prophesee::Evt3Decoder::new(options)),
        Format::Dat => Box::new(prophesee::DatDecoder::new(options)),
        Format::AtisBin => Box::new(atis::AtisDecoder::new(options)),
    }
}

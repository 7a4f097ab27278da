//! The [`Decoder`] trait every format implements and the options that fill in what a format's
//! header may lack. The formats themselves are in [`super::formats`], the table that picks one
//! for a [`Format`] in [`super::registry`]; this file depends on neither.

use super::error::DecodeError;
use super::format::{Aedat2Layout, Format};
use super::{Event, Resolution, Trigger};

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

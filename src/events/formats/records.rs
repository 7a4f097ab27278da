//! The shape shared by most formats: an optional text header, an optional fixed preamble, then
//! fixed-size records. `RecordStream` does the chunk bookkeeping (header scanning, records
//! split across chunks, byte offsets) and [`RecordDecoder`] implements [`Decoder`] once for all
//! of them; a format only implements `RecordBody` and names its decoder as an alias
//! (`pub type Evt2Decoder = RecordDecoder<Evt2Body, 4>`).

use super::carry::Carry;
use super::text_header::{HeaderStep, TextHeader};
use crate::events::decoder::{Decoder, DecoderOptions};
use crate::events::error::DecodeError;
use crate::events::format::Format;
use crate::events::{Event, Resolution, Trigger};

/// The format-specific part of a record-oriented decoder: `N`-byte records, and what the
/// [`Decoder`] reports besides events.
pub(crate) trait RecordBody<const N: usize>: Send {
    const FORMAT: Format;
    /// One record, as truncation errors name it (`EVT2 word`).
    const RECORD: &'static str;

    /// Called once when the text header is complete (formats with a header only).
    fn on_header(&mut self, _header: &TextHeader) -> Result<(), DecodeError> {
        Ok(())
    }

    /// Bytes between header and records (DAT: event type and size); asked after `on_header`.
    fn preamble_len(&self) -> usize {
        0
    }

    fn on_preamble(&mut self, _bytes: &[u8], _offset: u64) -> Result<(), DecodeError> {
        Ok(())
    }

    /// Decodes whole records (`records.len()` is a multiple of `N`) that start at byte `offset`:
    /// events to `out`, external triggers (formats that have them) to `triggers`.
    fn on_records(&mut self, records: &[u8], offset: u64, out: &mut Vec<Event>, triggers: &mut Vec<Trigger>) -> Result<(), DecodeError>;

    /// The sensor size the header names, if any ([`DecoderOptions::resolution`] overrides it).
    fn sensor(&self) -> Option<Resolution> {
        None
    }

    /// [`Decoder::metadata`].
    fn metadata(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The [`Decoder`] of every record format: a `RecordStream` feeding a format's `RecordBody`.
pub struct RecordDecoder<B, const N: usize> {
    stream: RecordStream<N>,
    body: B,
    options: DecoderOptions,
    /// Seen since the last [`Decoder::take_triggers`].
    triggers: Vec<Trigger>,
}

impl<B, const N: usize> RecordDecoder<B, N> {
    /// `header`: the text header the format starts with, if it has one.
    pub(crate) fn with_body(header: Option<TextHeader>, options: DecoderOptions, body: B) -> Self
    where
        B: RecordBody<N>,
    {
        Self { stream: RecordStream::new(B::FORMAT, header), body, options, triggers: Vec::new() }
    }
}

impl<B: RecordBody<N>, const N: usize> Decoder for RecordDecoder<B, N> {
    fn format(&self) -> Format {
        B::FORMAT
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.feed(&mut self.body, chunk, out, &mut self.triggers)
    }

    fn finish(&mut self, _out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.stream.finish(&mut self.body, B::RECORD)
    }

    fn resolution(&self) -> Option<Resolution> {
        self.options.resolution.or(self.body.sensor())
    }

    fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    fn take_triggers(&mut self, out: &mut Vec<Trigger>) {
        out.append(&mut self.triggers);
    }

    fn metadata(&self) -> Vec<(String, String)> {
        self.body.metadata()
    }
}

#[derive(Debug)]
struct RecordStream<const N: usize> {
    format: Format,
    header: Option<TextHeader>,
    preamble: Vec<u8>,
    preamble_done: bool,
    carry: Carry<N>,
    consumed: u64,
}

impl<const N: usize> RecordStream<N> {
    pub fn new(format: Format, header: Option<TextHeader>) -> Self {
        Self { format, header, preamble: Vec::new(), preamble_done: false, carry: Carry::default(), consumed: 0 }
    }

    pub fn feed(
        &mut self,
        body: &mut impl RecordBody<N>,
        mut chunk: &[u8],
        out: &mut Vec<Event>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), DecodeError> {
        if let Some(header) = self.header.as_mut().filter(|h| !h.is_done()) {
            match header.feed(chunk) {
                Err(limit) => {
                    return Err(DecodeError::TooLarge {
                        format: self.format,
                        what: "the text header",
                        offset: 0,
                        declared: (header.len() + chunk.len()) as u64,
                        limit: limit as u64,
                    });
                }
                Ok(HeaderStep::NeedMore) => {
                    self.consumed += chunk.len() as u64;
                    return Ok(());
                }
                Ok(HeaderStep::Done(start)) => {
                    body.on_header(header)?;
                    self.consumed += start as u64;
                    chunk = &chunk[start..];
                }
            }
        }
        if !self.preamble_done {
            let want = body.preamble_len() - self.preamble.len();
            let take = want.min(chunk.len());
            self.preamble.extend_from_slice(&chunk[..take]);
            self.consumed += take as u64;
            chunk = &chunk[take..];
            if self.preamble.len() < body.preamble_len() {
                return Ok(());
            }
            self.preamble_done = true;
            if !self.preamble.is_empty() {
                body.on_preamble(&self.preamble, self.consumed - self.preamble.len() as u64)?;
            }
        }
        let pending = self.carry.pending() as u64;
        let (record, rest) = self.carry.complete(chunk);
        if let Some(record) = record {
            body.on_records(&record, self.consumed - pending, out, triggers)?;
        }
        let start = self.consumed + (chunk.len() - rest.len()) as u64;
        let whole = self.carry.split_whole(rest);
        self.consumed += chunk.len() as u64;
        body.on_records(whole, start, out, triggers)
    }

    /// Checks that the input did not end inside the header, the preamble or a record.
    pub fn finish(&mut self, body: &mut impl RecordBody<N>, record_name: &str) -> Result<(), DecodeError> {
        if let Some(header) = self.header.as_mut().filter(|h| !h.is_done()) {
            if !header.finish() {
                return Err(DecodeError::truncated(self.format, "the text header", 0));
            }
            body.on_header(header)?;
        }
        let preamble_len = body.preamble_len();
        if self.header.as_ref().is_some_and(|h| h.len() as u64 == self.consumed) && self.preamble.is_empty() {
            return Ok(()); // a header-only recording: no events
        }
        if !self.preamble_done && self.preamble.len() < preamble_len {
            let at = self.consumed - self.preamble.len() as u64;
            return Err(DecodeError::truncated(self.format, format!("the {preamble_len}-byte preamble"), at));
        }
        match self.carry.pending() as u64 {
            0 => Ok(()),
            p => Err(DecodeError::truncated(self.format, format!("a {N}-byte {record_name}"), self.consumed - p)),
        }
    }
}

//! Format detection from content (never from the file name): of a whole input or its start
//! ([`detect`]), and of a stream whose bytes arrive in chunks ([`Detecting`], which holds them
//! until the format is known and then feeds its decoder).

use super::decoder::{Decoder, DecoderOptions};
use super::error::DecodeError;
use super::format::Format;
use super::formats::prophesee::PropheseeHeader;
use super::formats::text_header::{HeaderStep, TextHeader};
use super::registry::new_decoder;
use super::{Event, Resolution};

/// How many leading bytes [`detect`] looks at, at most.
pub const DETECT_BYTES: usize = 1 << 20;

/// The formats told apart by their first 12 bytes alone (AEDAT4 file and network stream), so a
/// live stream starts decoding at once instead of after [`DETECT_BYTES`].
fn signature(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"#!AER-DAT4") {
        return Some(Format::Aedat4);
    }
    // The stream's flatbuffer identifier, after its size prefix and root offset. Checked before
    // jAER's `#`: a size prefix whose low byte is 0x23 starts the stream with `#`.
    (head.len() >= 12 && &head[8..12] == b"IOHE").then_some(Format::Aedat4Stream)
}

/// The format of data starting with `head` (the whole input or at least its first
/// [`DETECT_BYTES`] bytes), or a reason why none fits.
pub fn detect(head: &[u8]) -> Result<Format, String> {
    if let Some(format) = signature(head) {
        return Ok(format);
    }
    if head.starts_with(b"#!AER-DAT3") {
        return Ok(Format::Aedat31);
    }
    if head.starts_with(b"#!AER-DAT2") || head.starts_with(b"#!AER-DAT1") || head.starts_with(b"#") {
        return Ok(Format::Aedat2);
    }
    if head.starts_with(b"%") {
        return prophesee_kind(head);
    }
    if head.is_empty() {
        return Err("the input is empty".into());
    }
    if looks_like_atis_bin(head) {
        return Ok(Format::AtisBin);
    }
    Err(format!("no known signature in the first bytes {:02x?}", &head[..head.len().min(8)]))
}

fn prophesee_kind(head: &[u8]) -> Result<Format, String> {
    let mut scanner = TextHeader::new(b'%', Some(b"% end"));
    match scanner.feed(&head[..head.len().min(DETECT_BYTES)]) {
        Ok(HeaderStep::Done(_)) | Ok(HeaderStep::NeedMore) => {}
        Err(_) => return Err("a '%' header larger than the limit".into()),
    }
    let header = PropheseeHeader::parse(&scanner);
    match header.evt_version().as_deref() {
        Some("2.0") | Some("2") => Ok(Format::Evt2),
        Some("3.0") | Some("3") => Ok(Format::Evt3),
        Some(other) => Err(format!("Prophesee RAW EVT {other} is not supported (EVT 2.0 and 3.0 are)")),
        None => Ok(Format::Dat),
    }
}

/// ATIS `.bin` has no signature: accept 5-byte records whose timestamps never go back (overflow
/// markers aside) and do advance over the first records, and, when `head` is a whole input
/// (shorter than [`DETECT_BYTES`]), a length of whole records. Time must advance because any
/// run of equal records passes the first test: a zero-filled file of 1,048,575 bytes was
/// classified as N-MNIST.
fn looks_like_atis_bin(head: &[u8]) -> bool {
    let records = head.len() / 5;
    if records == 0 || (head.len() < DETECT_BYTES && head.len() % 5 != 0) {
        return false;
    }
    let (mut last, mut advanced) = (0u32, records == 1);
    for r in head.chunks_exact(5).take(4096) {
        if r[1] == 240 {
            last = 0;
            advanced = true;
            continue;
        }
        let t = (u32::from(r[2] & 0x7F) << 16) | (u32::from(r[3]) << 8) | u32::from(r[4]);
        if t < last {
            return false;
        }
        advanced |= t > last;
        last = t;
    }
    advanced
}

/// Why [`Detecting`] stopped; the caller adds what the input is.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("the input is empty")]
    Empty,
    #[error("{0}; name the format with --format (e.g. --format evt3)")]
    Unknown(String),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A decoder chosen from the first bytes of an input (or given), fed chunk by chunk.
pub struct Detecting {
    format: Option<Format>,
    options: DecoderOptions,
    /// Bytes held until the format is known.
    head: Vec<u8>,
    /// Detect (by [`detect`]) once this many bytes are in, or at the end of input; the formats
    /// of [`signature`] are known as soon as their first 12 bytes are.
    detect_after: usize,
    decoder: Option<Box<dyn Decoder>>,
}

impl Detecting {
    pub fn new(format: Option<Format>, options: DecoderOptions, detect_after: usize) -> Self {
        Self { format, options, head: Vec::new(), detect_after, decoder: None }
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DetectError> {
        if let Some(decoder) = self.decoder.as_mut() {
            return Ok(decoder.feed(chunk, out)?);
        }
        self.head.extend_from_slice(chunk);
        match self.choose(false)? {
            Some(format) => self.start(format, out),
            None => Ok(()),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), DetectError> {
        if self.decoder.is_none() {
            if self.head.is_empty() && self.format.is_none() {
                return Err(DetectError::Empty);
            }
            let format = self.choose(true)?.expect("at the end a format is chosen or an error returned");
            self.start(format, out)?;
        }
        let decoder = self.decoder.as_mut().expect("started above");
        Ok(decoder.finish(out)?)
    }

    pub fn resolution(&self) -> Option<Resolution> {
        self.decoder.as_ref().and_then(|d| d.resolution()).or(self.options.resolution)
    }

    fn choose(&self, at_end: bool) -> Result<Option<Format>, DetectError> {
        if let Some(f) = self.format.or_else(|| signature(&self.head)) {
            return Ok(Some(f));
        }
        let h = &self.head;
        if h.len() < self.detect_after && !at_end {
            return Ok(None);
        }
        detect(&h[..h.len().min(DETECT_BYTES)]).map(Some).map_err(DetectError::Unknown)
    }

    fn start(&mut self, format: Format, out: &mut Vec<Event>) -> Result<(), DetectError> {
        let mut decoder = new_decoder(format, self.options);
        let head = std::mem::take(&mut self.head);
        decoder.feed(&head, out)?;
        self.decoder = Some(decoder);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_filled_file_of_1048575_bytes_is_not_nmnist() {
        assert!(detect(&vec![0u8; 1_048_575]).is_err());
        // Two records whose time advances are; a length that is not whole records is not.
        let records = [[3u8, 4, 0, 0, 1], [5, 6, 0, 0, 9]].concat();
        assert_eq!(detect(&records), Ok(Format::AtisBin));
        assert!(detect(&records[..9]).is_err());
    }

    #[test]
    fn aedat4_stream_whose_size_prefix_starts_with_hash_is_not_aedat2() {
        // Size prefix 0x123 (low byte '#'), root offset, then the IOHeader identifier.
        let head = [0x23, 0x01, 0, 0, 0x10, 0, 0, 0, b'I', b'O', b'H', b'E', 0, 0];
        assert_eq!(detect(&head), Ok(Format::Aedat4Stream));
        assert_eq!(detect(b"# a jAER comment line\n"), Ok(Format::Aedat2));
    }
}

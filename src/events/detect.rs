//! Format detection from content (never from the file name).

use super::decoder::Format;
use super::prophesee::PropheseeHeader;
use super::header::{HeaderStep, TextHeader};

/// How many leading bytes [`detect`] looks at, at most.
pub const DETECT_BYTES: usize = 1 << 20;

/// The format of data starting with `head` (the whole input or at least its first
/// [`DETECT_BYTES`] bytes), or a reason why none fits.
pub fn detect(head: &[u8]) -> Result<Format, String> {
    if head.starts_with(b"#!AER-DAT4") {
        return Ok(Format::Aedat4);
    }
    if head.starts_with(b"#!AER-DAT3") {
        return Ok(Format::Aedat31);
    }
    if head.starts_with(b"#!AER-DAT2") || head.starts_with(b"#!AER-DAT1") || head.starts_with(b"#") {
        return Ok(Format::Aedat2);
    }
    if head.len() >= 12 && &head[8..12] == b"IOHE" {
        return Ok(Format::Aedat4Stream);
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
}

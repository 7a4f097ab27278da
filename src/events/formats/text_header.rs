//! Line-oriented text headers (`#` lines of AEDAT 2/3.1, `%` lines of Prophesee RAW and DAT),
//! scanned incrementally so a header may arrive split over any number of chunks.

/// The most header bytes kept; jAER headers of 300 KB have been seen.
pub(crate) const MAX_HEADER_BYTES: usize = 16 << 20;

#[derive(Debug)]
pub(crate) struct TextHeader {
    marker: u8,
    /// A line that ends the header (compared without the line ending), e.g. `#!END-HEADER`.
    terminator: Option<&'static [u8]>,
    bytes: Vec<u8>,
    at_line_start: bool,
    /// Index in `bytes` where the line being read began.
    line_start: usize,
    done: bool,
}

/// Outcome of feeding a chunk to a [`TextHeader`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderStep {
    /// The whole chunk belonged to the header.
    NeedMore,
    /// The header ended; the body starts at this index of the chunk.
    Done(usize),
}

impl TextHeader {
    pub fn new(marker: u8, terminator: Option<&'static [u8]>) -> Self {
        Self { marker, terminator, bytes: Vec::new(), at_line_start: true, line_start: 0, done: false }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Header size in bytes (the body starts at this offset of the input).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// `Err(limit)` when the header grows past [`MAX_HEADER_BYTES`].
    pub fn feed(&mut self, chunk: &[u8]) -> Result<HeaderStep, usize> {
        let mut pos = 0;
        while !self.done {
            if self.at_line_start {
                match chunk.get(pos) {
                    None => return Ok(HeaderStep::NeedMore),
                    Some(&b) if b != self.marker => {
                        self.done = true;
                        break;
                    }
                    Some(_) => {
                        self.at_line_start = false;
                        self.line_start = self.bytes.len();
                    }
                }
            }
            match chunk[pos..].iter().position(|&b| b == b'\n') {
                None => {
                    self.push(&chunk[pos..])?;
                    return Ok(HeaderStep::NeedMore);
                }
                Some(n) => {
                    self.push(&chunk[pos..pos + n + 1])?;
                    pos += n + 1;
                    self.at_line_start = true;
                    let line = trim_line_end(&self.bytes[self.line_start..]);
                    if self.terminator == Some(line) {
                        self.done = true;
                    }
                }
            }
        }
        Ok(HeaderStep::Done(pos))
    }

    /// Called at the end of input: true when the input ended exactly after a header line
    /// (a header-only recording), false when it ended inside a line.
    pub fn finish(&mut self) -> bool {
        if self.at_line_start && self.terminator.is_none() {
            self.done = true;
        }
        self.done
    }

    /// The header lines without marker and line ending, as (lossy) text.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(move |l| {
                let l = trim_line_end(l);
                let l = l.strip_prefix(&[self.marker]).unwrap_or(l);
                String::from_utf8_lossy(l).trim().to_string()
            })
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), usize> {
        if self.bytes.len() + bytes.len() > MAX_HEADER_BYTES {
            return Err(MAX_HEADER_BYTES);
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_split_anywhere_finds_the_same_body_start() {
        let input = b"#!AER-DAT2.0\r\n# AEChip: DVS128\r\n\x01\x02\x03";
        for cut in 0..input.len() {
            let mut h = TextHeader::new(b'#', None);
            let (a, b) = input.split_at(cut);
            let start = match h.feed(a).unwrap() {
                HeaderStep::Done(i) => i,
                HeaderStep::NeedMore => match h.feed(b).unwrap() {
                    HeaderStep::Done(i) => cut + i,
                    HeaderStep::NeedMore => panic!("header not finished at cut {cut}"),
                },
            };
            assert_eq!(start, 32, "cut {cut}");
            assert_eq!(h.lines().collect::<Vec<_>>(), ["!AER-DAT2.0", "AEChip: DVS128"]);
        }
    }

    #[test]
    fn terminator_line_ends_header_even_if_body_starts_with_marker() {
        let input = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n#####";
        for cut in 0..input.len() {
            let mut h = TextHeader::new(b'#', Some(b"#!END-HEADER"));
            let (a, b) = input.split_at(cut);
            let start = match h.feed(a).unwrap() {
                HeaderStep::Done(i) => i,
                HeaderStep::NeedMore => match h.feed(b).unwrap() {
                    HeaderStep::Done(i) => cut + i,
                    HeaderStep::NeedMore => panic!("not finished"),
                },
            };
            assert_eq!(start, 28, "cut {cut}");
        }
    }
}

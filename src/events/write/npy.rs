//! NumPy `.npy` (format 1.0) holding a structured array with fields `t` uint64, `x` uint16,
//! `y` uint16, `p` uint8 (13 bytes per event, packed, little-endian): whole ([`write_npy`]) or
//! batch by batch ([`NpyWriter`], which patches the count into the header at the end), the same
//! bytes either way.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::events::Event;

/// The `descr` of the structured dtype, as NumPy writes it.
pub const NPY_EVENT_DTYPE: &str = "[('t', '<u8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')]";

pub fn write_npy(out: impl Write, events: &[Event]) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(&npy_header(NPY_EVENT_DTYPE, &[events.len()]))?;
    write_records(&mut out, events)?;
    out.flush()
}

fn write_records(out: &mut impl Write, events: &[Event]) -> io::Result<()> {
    let mut record = [0u8; 13];
    for e in events {
        record[..8].copy_from_slice(&e.t.to_le_bytes());
        record[8..10].copy_from_slice(&e.x.to_le_bytes());
        record[10..12].copy_from_slice(&e.y.to_le_bytes());
        record[12] = u8::from(e.p);
        out.write_all(&record)?;
    }
    Ok(())
}

/// Writes a header for 0 events, then the events of each [`NpyWriter::write`] as they come;
/// [`NpyWriter::finish`] writes the real count into the header. The header is 128 bytes for
/// up to 9,999,999,999 events; past that it grows by 64 bytes and the records move back.
pub struct NpyWriter<W: Write + Seek> {
    out: io::BufWriter<W>,
    events: u64,
    header_len: u64,
}

impl<W: Write + Seek> NpyWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        let header = npy_header(NPY_EVENT_DTYPE, &[0]);
        out.write_all(&header)?;
        Ok(Self { out, events: 0, header_len: header.len() as u64 })
    }

    pub fn write(&mut self, events: &[Event]) -> io::Result<()> {
        write_records(&mut self.out, events)?;
        self.events += events.len() as u64;
        Ok(())
    }
}

impl<W: Read + Write + Seek> NpyWriter<W> {
    /// Writes the event count into the header, flushes and returns the output.
    pub fn finish(self) -> io::Result<W> {
        let mut out = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let count = usize::try_from(self.events).map_err(io::Error::other)?;
        let header = npy_header(NPY_EVENT_DTYPE, &[count]);
        let grown = header.len() as u64 - self.header_len;
        if grown > 0 {
            let end = out.stream_position()?;
            super::shift_tail(&mut out, self.header_len, end, grown)?;
        }
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&header)?;
        out.seek(SeekFrom::End(0))?;
        out.flush()?;
        Ok(out)
    }
}

/// The magic, version and header dict of an `.npy` file, padded to a multiple of 64 bytes.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: u64) -> Vec<Event> {
        (0..n).map(|i| Event::new(i * 7, (i % 640) as u16, (i % 480) as u16, i % 3 == 0)).collect()
    }

    #[test]
    fn batches_write_the_bytes_of_the_whole_writer() {
        let all = events(1000);
        let mut whole = Vec::new();
        write_npy(&mut whole, &all).unwrap();
        let mut w = NpyWriter::new(io::Cursor::new(Vec::new())).unwrap();
        for batch in all.chunks(333) {
            w.write(batch).unwrap();
        }
        assert!(w.finish().unwrap().into_inner() == whole);
    }

    /// Past 9,999,999,999 events the header needs 192 bytes: the records move back by 64.
    #[test]
    fn a_count_with_eleven_digits_grows_the_header_and_keeps_the_records() {
        let all = events(100_000);
        let mut records = Vec::new();
        write_records(&mut records, &all).unwrap();
        let mut w = NpyWriter::new(io::Cursor::new(Vec::new())).unwrap();
        w.write(&all).unwrap();
        w.events = 10_000_000_000; // what a 130 GB file holds; the header is all that differs
        let bytes = w.finish().unwrap().into_inner();
        let header = npy_header(NPY_EVENT_DTYPE, &[10_000_000_000]);
        assert_eq!(header.len(), 192);
        assert!(bytes[..192] == header[..] && bytes[192..] == records[..], "header patched, records moved intact");
    }
}

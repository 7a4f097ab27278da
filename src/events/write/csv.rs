//! CSV with header `t,x,y,p` (p as 0/1), one event per line: whole ([`write_csv`]) or batch by
//! batch ([`CsvWriter`]), the same bytes either way.

use std::io::{self, Write};

use crate::events::Event;

pub fn write_csv(out: impl Write, events: &[Event]) -> io::Result<()> {
    let mut w = CsvWriter::new(out)?;
    w.write(events)?;
    w.finish().map(drop)
}

/// Writes the header, then the events of each [`CsvWriter::write`] as they come.
pub struct CsvWriter<W: Write> {
    out: io::BufWriter<W>,
    line: Vec<u8>,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        out.write_all(b"t,x,y,p\n")?;
        Ok(Self { out, line: Vec::with_capacity(48) })
    }

    pub fn write(&mut self, events: &[Event]) -> io::Result<()> {
        let line = &mut self.line;
        for e in events {
            line.clear();
            push_int(line, e.t);
            line.push(b',');
            push_int(line, e.x.into());
            line.push(b',');
            push_int(line, e.y.into());
            line.extend_from_slice(if e.p { b",1\n" } else { b",0\n" });
            self.out.write_all(line)?;
        }
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> io::Result<W> {
        let mut out = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        out.flush()?;
        Ok(out)
    }
}

fn push_int(buf: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

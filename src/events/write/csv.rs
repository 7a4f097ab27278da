//! CSV with header `t,x,y,p` (p as 0/1), one event per line.

use std::io::{self, Write};

use crate::events::Event;

pub fn write_csv(out: impl Write, events: &[Event]) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(b"t,x,y,p\n")?;
    let mut line = Vec::with_capacity(48);
    for e in events {
        line.clear();
        push_int(&mut line, e.t);
        line.push(b',');
        push_int(&mut line, e.x.into());
        line.push(b',');
        push_int(&mut line, e.y.into());
        line.extend_from_slice(if e.p { b",1\n" } else { b",0\n" });
        out.write_all(&line)?;
    }
    out.flush()
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

//! Large synthetic recordings for the decode benchmarks (`benches/decode.rs`) and the
//! side-by-side speed script (`examples/decode_speed.rs`, `scripts/bench_decode.py`).
//!
//! The real sample files are a few hundred thousand events at most, too small for stable
//! timings, so each format gets a generated file of a few million events whose word mix follows
//! a real recording of that format (EVT2: ~11 Mev/s with a TIME_HIGH every 64 µs, like the
//! Gen3 sample; EVT3: per µs about 6 rows of ADDR_X events and one row in six a sparse
//! vector group, ~1.5 words and ~18 events per µs, like the Gen4.1 sample, whose VECT_12 words
//! hold 0.78 events on average). Every generator is seeded, so a file is the same on every run.
//! Shared by `#[path]` inclusion; not part of the library.
#![allow(dead_code)]

use std::io::Cursor;

use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, WriterOptions};
use spikestream::events::{Event, Format, Resolution};

/// xorshift64*: small, seeded, good enough for pixel coordinates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

/// `n` time-ordered events on a `width`×`height` sensor, about `per_us` events per µs.
pub fn events(n: usize, width: u16, height: u16, per_us: u64, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut t = 1_000_000u64;
    (0..n)
        .map(|_| {
            t += u64::from(rng.below(per_us) == 0);
            let x = rng.below(width.into()) as u16;
            let y = rng.below(height.into()) as u16;
            Event::new(t, x, y, rng.next() & 1 == 1)
        })
        .collect()
}

/// One generated input: its format, a short name, the file bytes and its event count.
pub struct Synthetic {
    pub format: Format,
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub events: usize,
}

/// Every synthetic input, about `n` events each.
pub fn all(n: usize) -> Vec<Synthetic> {
    let mut out = vec![evt2(n), evt3(n), dat(n)];
    for c in [Compression::None, Compression::Lz4, Compression::Zstd] {
        out.push(aedat4(n, c));
    }
    out.extend([aedat2(n), aedat31(n), atis(n)]);
    out
}

pub fn evt2(n: usize) -> Synthetic {
    let ev = events(n, 640, 480, 11, 2);
    let mut b = b"% evt 2.0\n% format EVT2;height=480;width=640\n% geometry 640x480\n% end\n".to_vec();
    let mut high = u64::MAX;
    for e in &ev {
        if e.t >> 6 != high {
            high = e.t >> 6;
            b.extend_from_slice(&((0x8 << 28) | (high as u32 & 0x0FFF_FFFF)).to_le_bytes());
        }
        let w = (u32::from(e.p) << 28) | ((e.t as u32 & 0x3F) << 22) | (u32::from(e.x) << 11) | u32::from(e.y);
        b.extend_from_slice(&w.to_le_bytes());
    }
    Synthetic { format: Format::Evt2, name: "synthetic", bytes: b, events: n }
}

/// EVT3 words grouped the way a Gen4 sensor sends them: per µs 1–12 rows, each an ADDR_Y then
/// 1–5 ADDR_X events or (one row in six) a VECT_BASE_X with a VECT_12 and a VECT_8 mask whose
/// bits are set with probability 1/16.
pub fn evt3(n: usize) -> Synthetic {
    let mut rng = Rng::new(3);
    let mut b = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% geometry 1280x720\n% end\n".to_vec();
    let mut w = |word: u16| b.extend_from_slice(&word.to_le_bytes());
    let (mut t, mut events, mut high) = (1_000_000u64, 0usize, u64::MAX);
    while events < n {
        t += 1;
        if t >> 12 != high {
            high = t >> 12;
            w(0x8000 | (high as u16 & 0xFFF));
        }
        w(0x6000 | (t as u16 & 0xFFF));
        for _ in 0..1 + rng.below(12) {
            w(rng.below(720) as u16); // ADDR_Y (system type bit 11 = 0)
            if rng.below(6) == 0 {
                let p = (rng.next() & 1) as u16;
                w(0x3000 | (p << 11) | rng.below(1280 - 20) as u16);
                let v12 = (rng.next() & rng.next() & rng.next() & rng.next() & 0xFFF) as u16;
                let v8 = (rng.next() & rng.next() & rng.next() & rng.next() & 0xFF) as u16;
                w(0x4000 | v12);
                w(0x5000 | v8);
                events += (v12.count_ones() + v8.count_ones()) as usize;
            } else {
                for _ in 0..1 + rng.below(5) {
                    let p = (rng.next() & 1) as u16;
                    w(0x2000 | (p << 11) | rng.below(1280) as u16);
                    events += 1;
                }
            }
        }
    }
    Synthetic { format: Format::Evt3, name: "synthetic", bytes: b, events }
}

pub fn dat(n: usize) -> Synthetic {
    let ev = events(n, 640, 480, 11, 4);
    let mut b = b"% Data file containing CD events.\n% Version 2\n% Width 640\n% Height 480\n".to_vec();
    b.extend_from_slice(&[0x00, 0x08]);
    for e in &ev {
        b.extend_from_slice(&(e.t as u32).to_le_bytes());
        let w = (u32::from(e.p) << 28) | (u32::from(e.y) << 14) | u32::from(e.x);
        b.extend_from_slice(&w.to_le_bytes());
    }
    Synthetic { format: Format::Dat, name: "synthetic", bytes: b, events: n }
}

pub fn aedat4(n: usize, compression: Compression) -> Synthetic {
    let ev = events(n, 640, 480, 11, 5);
    let options = WriterOptions { compression, ..WriterOptions::new(Resolution::new(640, 480)) };
    let mut w = Aedat4Writer::new(Cursor::new(Vec::new()), options).expect("in-memory writer");
    w.write_events(&ev).expect("in-memory write");
    let bytes = w.finish().expect("in-memory finish").into_inner();
    let name = match compression {
        Compression::None => "synthetic-none",
        Compression::Lz4 | Compression::Lz4High => "synthetic-lz4",
        Compression::Zstd | Compression::ZstdHigh => "synthetic-zstd",
    };
    Synthetic { format: Format::Aedat4, name, bytes, events: n }
}

/// jAER DAVIS240C layout, big-endian. The first event has y = 0 so that its first byte cannot
/// be taken for a `#` header line.
pub fn aedat2(n: usize) -> Synthetic {
    let mut ev = events(n, 240, 180, 11, 6);
    ev[0].y = 0;
    let mut b = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C\r\n".to_vec();
    for e in &ev {
        let a = (u32::from(e.y) << 22) | (u32::from(e.x) << 12) | (u32::from(e.p) << 11);
        b.extend_from_slice(&a.to_be_bytes());
        b.extend_from_slice(&(e.t as u32).to_be_bytes());
    }
    Synthetic { format: Format::Aedat2, name: "synthetic", bytes: b, events: n }
}

/// cAER polarity packets of 8192 events (capacity = number = valid), DVXplorer 640×480.
pub fn aedat31(n: usize) -> Synthetic {
    let ev = events(n, 640, 480, 11, 7);
    let mut b = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVXplorer\r\n#!END-HEADER\r\n".to_vec();
    for packet in ev.chunks(8192) {
        let count = packet.len() as i32;
        for v in [1i16, 1] {
            b.extend_from_slice(&v.to_le_bytes()); // type POLARITY, source 1
        }
        for v in [8, 4, 0, count, count, count] {
            b.extend_from_slice(&i32::to_le_bytes(v)); // size, ts offset, overflow, capacity, number, valid
        }
        for e in packet {
            let data = (u32::from(e.x) << 17) | (u32::from(e.y) << 2) | (u32::from(e.p) << 1) | 1;
            b.extend_from_slice(&data.to_le_bytes());
            b.extend_from_slice(&(e.t as i32).to_le_bytes());
        }
    }
    Synthetic { format: Format::Aedat31, name: "synthetic", bytes: b, events: n }
}

/// N-MNIST-like 34×34 records, timestamps kept within the 23-bit field (no overflow markers).
pub fn atis(n: usize) -> Synthetic {
    let ev = events(n, 34, 34, 1, 8);
    let t0 = ev[0].t;
    let span = (ev[n - 1].t - t0).max(1);
    let mut b = Vec::with_capacity(n * 5);
    for e in &ev {
        let t = ((e.t - t0) * ((1 << 23) - 1) / span) as u32;
        b.extend_from_slice(&[e.x as u8, e.y as u8, (u8::from(e.p) << 7) | (t >> 16) as u8 & 0x7F, (t >> 8) as u8, t as u8]);
    }
    Synthetic { format: Format::AtisBin, name: "synthetic", bytes: b, events: n }
}

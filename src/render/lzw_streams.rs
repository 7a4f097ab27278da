//! GIF's LZW for busy frames (fewer than half the pixels background, 8-bit codes), written to
//! break the one-pixel-at-a-time dependency of [`super::lzw`]'s dictionary walk.
//!
//! Extending the current string waits on the previous lookup, and on dense fading events
//! the lookup's hit or miss is a coin toss to the branch predictor: ~7 ns a pixel. Two freedoms
//! of the format remove both costs, and any GIF decoder reads the result:
//!
//! - a clear code may come at any point, and restarts the dictionary: the frame is cut into
//!   [`STREAMS`] parts, each coded on its own after a clear, and the parts are stepped side by
//!   side in one loop, so the CPU overlaps their independent lookup chains;
//! - the encoder need not find the longest match: any code the decoder already holds is
//!   valid, and the decoder adds an entry for every code whatever the encoder remembers. So
//!   each part's dictionary is a direct-mapped table of [`SLOTS`] entries (8 KB, in L1) where a
//!   new string overwrites whatever shared its slot, and a step is branch-free: one probe, a
//!   hit extends the string, a miss emits the code and adds the entry.
//!
//! Each part uses 512 codes (9-bit codes, cleared when full, as [`super::lzw`] does on busy
//! frames): a clear that follows a full dictionary is written 10 bits wide, as the decoder
//! then reads it. Codes are gathered per part and packed after, eight 9-bit codes at a time
//! (72 bits, nine whole bytes). On the 10 s GIF of BENCHMARKS.md's render benchmark this is
//! 2.3× faster than the greedy hash walk at 0.2 % more bytes (lost matches), and decodes to
//! the same pixels (the tests decode it back; ffmpeg and the `gif` crate on that file).

use super::lzw::BitWriter;

/// Parts of a frame coded side by side (3 measured faster than 2 and 4: 4 spills registers).
pub const STREAMS: usize = 3;
const SLOTS_LOG: u32 = 11;
/// Entries of each part's table.
const SLOTS: usize = 1 << SLOTS_LOG;
const CLEAR: u32 = 256;
const END: u32 = CLEAR + 1;
/// Codes of a part's dictionary: 9 bits each.
const MAX_CODES: u32 = 512;
/// Marks a gathered code written one bit wider (a clear or end after a full dictionary).
const WIDE: u16 = 0x8000;
/// Table generations before the table is zeroed (6 bits of each entry).
const EPOCHS: u32 = 63;

/// The reusable state: each part's table, the gathered codes, and each table's generation.
pub struct Streams {
    /// Entry: `generation << 26 | key << 9 | code` with `key = prefix << 8 | symbol`; a
    /// generation is 1…[`EPOCHS`], so a zero (empty) or older entry never matches.
    tables: Box<[[u32; SLOTS]; STREAMS]>,
    codes: Vec<u16>,
    generation: [u32; STREAMS],
}

impl Default for Streams {
    fn default() -> Self {
        Self { tables: Box::new([[0; SLOTS]; STREAMS]), codes: Vec::new(), generation: [0; STREAMS] }
    }
}

/// One part's coding state.
#[derive(Clone, Copy)]
struct Part {
    /// The code of the string matched so far.
    prefix: u32,
    /// `generation << 26 | next free code`.
    next: u32,
    /// Where its next code goes in the gathered codes.
    at: usize,
}

impl Streams {
    /// Appends min code size 8 and the LZW codes of `pixels` (at least [`STREAMS`] of them)
    /// to `out`.
    pub fn encode(&mut self, pixels: &[u8], out: &mut Vec<u8>) {
        assert!(pixels.len() >= STREAMS, "a frame of at least {STREAMS} pixels");
        let len = pixels.len() / STREAMS;
        let tail = pixels.len() % STREAMS;
        // A part writes a code per miss, two where it clears (after 255 codes), and its last
        // code and a clear (or end).
        let cap = (len + tail) + (len + tail) / 128 + 4;
        // Every code read back below is written for this frame first: grown, never cleared.
        if self.codes.len() < STREAMS * cap {
            self.codes.resize(STREAMS * cap, 0);
        }
        let mut parts = [Part { prefix: 0, next: 0, at: 0 }; STREAMS];
        for (s, part) in parts.iter_mut().enumerate() {
            let generation = self.next_generation(s);
            *part = Part { prefix: u32::from(pixels[s * len]), next: generation << 26 | (CLEAR + 2), at: s * cap };
        }
        let chunks: [&[u8]; STREAMS] = std::array::from_fn(|s| &pixels[s * len..(s + 1) * len]);
        let codes = &mut self.codes[..];
        for i in 1..len {
            for s in 0..STREAMS {
                step(&mut parts[s], u32::from(chunks[s][i]), &mut self.tables[s], codes);
            }
        }
        for &p in &pixels[STREAMS * len..] {
            step(&mut parts[STREAMS - 1], u32::from(p), &mut self.tables[STREAMS - 1], codes);
        }
        out.push(8);
        out.reserve(pixels.len() * 5 / 4 + 16);
        let mut bits = BitWriter { out, acc: 0, n: 0 };
        bits.push(CLEAR, 9);
        for (s, part) in parts.iter().enumerate() {
            self.generation[s] = part.next >> 26;
            // The string in hand, then a clear before the next part (the end after the last),
            // one bit wider where the decoder's dictionary just filled.
            let control = if s + 1 == STREAMS { END } else { CLEAR };
            let wide = if part.next & 0x3FF == MAX_CODES { WIDE } else { 0 };
            self.codes[part.at] = part.prefix as u16;
            self.codes[part.at + 1] = control as u16 | wide;
            bits.push_gathered(&self.codes[s * cap..part.at + 2]);
        }
        bits.finish();
    }

    /// The generation part `s` starts the frame with (its table zeroed on the first and after
    /// [`EPOCHS`]).
    fn next_generation(&mut self, s: usize) -> u32 {
        match self.generation[s] {
            0 | EPOCHS => {
                self.tables[s].fill(0);
                1
            }
            g => g + 1,
        }
    }
}

/// One pixel of one part: extend the string on a hit, else emit its code and learn the new
/// one; branch-free except where the dictionary is full (once in ~255 codes).
#[inline(always)]
fn step(part: &mut Part, symbol: u32, table: &mut [u32; SLOTS], codes: &mut [u16]) {
    let key = part.prefix << 8 | symbol;
    let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - SLOTS_LOG)) as usize;
    let entry = table[slot];
    let wanted = part.next | key << 9;
    let hit = (entry ^ wanted) >> 9 == 0;
    if part.next & 0x3FF == MAX_CODES {
        if hit {
            part.prefix = entry & 0x1FF;
            return;
        }
        // Full: the decoder has 511 codes after this one and reads the clear 10 bits wide.
        codes[part.at] = part.prefix as u16;
        codes[part.at + 1] = CLEAR as u16 | WIDE;
        part.at += 2;
        let generation = match part.next >> 26 {
            EPOCHS => {
                table.fill(0);
                1
            }
            g => g + 1,
        };
        part.next = generation << 26 | (CLEAR + 2);
        part.prefix = symbol;
        return;
    }
    let miss = u32::from(!hit);
    let keep = miss.wrapping_sub(1);
    codes[part.at] = part.prefix as u16;
    part.at += miss as usize;
    table[slot] = (entry & keep) | (wanted & !keep);
    part.next += miss;
    part.prefix = (entry & 0x1FF & keep) | (symbol & !keep);
}

impl BitWriter<'_> {
    /// Writes gathered codes: 9 bits each, 10 where marked [`WIDE`]; eight unmarked ones at a
    /// time as nine whole bytes.
    fn push_gathered(&mut self, codes: &[u16]) {
        let one = |bits: &mut Self, c: u16| bits.push(u32::from(c & !WIDE), 9 + u32::from(c >> 15));
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
        let mut groups = codes.chunks_exact(8);
        for group in &mut groups {
            if group.iter().fold(0, |a, &c| a | c) & WIDE != 0 {
                for &c in group {
                    one(self, c);
                }
                continue;
            }
            // With fewer than 8 bits pending before the group, fewer remain after it.
            let (low, high) = group.iter().enumerate().fold((0u64, 0u64), |(lo, hi), (i, &c)| (lo | u64::from(c) << (9 * i), if i == 7 { u64::from(c) >> 1 } else { hi }));
            let v = (u128::from(high) << 64 | u128::from(low)) << self.n | u128::from(self.acc);
            self.out.extend_from_slice(&v.to_le_bytes()[..9]);
            self.acc = (v >> 72) as u64;
        }
        for &c in groups.remainder() {
            one(self, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(rng: &mut crate::rng::Rng, n: usize, levels: u64) -> Vec<u8> {
        // A quarter background, the rest spread over `levels` (255 and 0 always present).
        let mut pixels: Vec<u8> = (0..n).map(|_| if rng.next_u64() % 4 == 0 { 0 } else { 1 + (rng.next_u64() % (levels - 1)) as u8 }).collect();
        pixels[n / 2] = 255;
        pixels
    }

    #[test]
    fn decodes_back_at_every_size_and_across_many_clears() {
        let mut rng = crate::rng::Rng::new(13);
        let mut streams = Streams::default();
        // Tiny frames (one pixel a part, a tail), odd sizes, and big ones whose parts clear
        // their dictionaries many times; one encoder across frames (generations carry over,
        // and wrap: 70 frames > EPOCHS).
        let sizes = [(3u16, 1u16), (4, 1), (5, 1), (7, 3), (64, 48), (640, 480), (301, 207)];
        for round in 0..10 {
            for &(w, h) in &sizes {
                let levels = [256u64, 241, 17][round % 3];
                let pixels = busy(&mut rng, usize::from(w) * usize::from(h), levels);
                let mut out = Vec::new();
                streams.encode(&pixels, &mut out);
                assert_eq!(out[0], 8);
                assert_eq!(super::super::lzw::tests::decode(w, h, &out), pixels, "{w}x{h}, {levels} levels, round {round}");
            }
        }
    }

    #[test]
    fn runs_and_repeats_compress_and_decode_back() {
        // Long runs and a repeating pattern: hits dominate, strings grow long, the full
        // dictionary's 10-bit clear comes often.
        let pixels: Vec<u8> = (0..320 * 240).map(|i| if i % 1000 < 600 { 0 } else { (i % 7 * 37) as u8 | 0x80 }).collect();
        let mut out = Vec::new();
        Streams::default().encode(&pixels, &mut out);
        assert!(out.len() < pixels.len() / 4, "{} bytes", out.len());
        assert_eq!(super::super::lzw::tests::decode(320, 240, &out), pixels);
    }
}

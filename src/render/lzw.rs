//! GIF's LZW compression, written for speed: the GIF writer's time went ~60 % into the `gif`
//! crate's encoder (weezl). Extending the current string is a chain of dependent lookups, one
//! per pixel, so the dictionary must stay in L1: it is an open-addressing hash table of up to
//! 8,192 32-bit slots (32 KB, at most half full), each `key << 12 | code` with `key = prefix
//! << 8 | symbol`; a clear zeroes the part in use.
//!
//! The dictionary's size depends on the frame: where at least half the pixels are background
//! (index 0) it holds GIF's full 4,096 codes (long strings of background pay for 12-bit codes);
//! on busier frames it is cleared at [`BUSY_CODES`] (512), so codes stay 9 bits (with 8-bit
//! pixels) and the table 4 KB; busy frames with 8-bit pixels (the default palette's) go to
//! [`super::lzw_streams`], which codes three parts of the frame side by side, 2.3× faster.
//! On dense fading events strings rarely grow past two pixels, so the small dictionary
//! compresses as well or better (the 10 s GIF of BENCHMARKS.md's render benchmark: 81.1 MB
//! against 83.2 MB with 4,096 codes) and, with most look-ups missing, its branch is
//! predictable: about a sixth less CPU for that GIF. Sparse frames keep 4,096 codes, which
//! learn long runs of background (the README's demo GIF is byte for byte the same); the walk
//! jumps along a run of background over the dictionary's known strings of zeros (the same
//! codes, 29 % less LZW time on the README's demo GIF).
//!
//! On noise-like frames (dense fading events) LZW saves little (a 640×480 frame of 20 % noise
//! compressed to 98 % of its pixels) and its per-pixel branch is unpredictable, so
//! [`Lzw::encode_frame`] switches to *literal* coding, which GIF also allows: every pixel its
//! own code at code size + 1 bits, with a clear before the dictionary would widen the codes;
//! no lookups, a few times faster, at most 12.5 % larger than the pixels. It uses LZW while LZW
//! saves at least [`WORTH_IT`] of the literal size, and re-tries it every [`RETRY`] frames.
//!
//! The output is the standard GIF image data (`min_code_size` byte first, as
//! `gif::Encoder::write_lzw_pre_encoded_frame` takes it): variable-width codes packed LSB first,
//! a clear code first, a clear whenever the 4,096-code dictionary is full, the end code last.
//! Decoders (the `gif` crate, ffmpeg, browsers) read it as any GIF; the tests decode it back.

use super::lzw_streams::{STREAMS, Streams};

/// The reusable state of the encoder (its dictionaries).
pub struct Lzw {
    /// Frames left to code literally (0: code the next one with LZW).
    literal_frames: u32,
    /// The encoder of busy frames with 8-bit pixels.
    streams: Streams,
    /// `key << 12 | code` for string `key = prefix << 8 | symbol`, 0 when empty (a code is
    /// never 0: new codes start at clear + 2 ≥ 6).
    slots: Box<[u32; SLOTS]>,
}

const MAX_CODES: u32 = 4096;
/// The dictionary's size on frames where fewer than half the pixels are background.
const BUSY_CODES: u32 = 512;
/// Slots of the hash table: twice the most codes, so it is at most half full.
const SLOTS: usize = 2 * MAX_CODES as usize;
/// LZW is kept while its output is at most this fraction of the literal coding's.
const WORTH_IT: f64 = 0.85;
/// Frames coded literally before LZW is tried again.
const RETRY: u32 = 16;

impl Default for Lzw {
    fn default() -> Self {
        Self::new()
    }
}

impl Lzw {
    pub fn new() -> Self {
        Self { literal_frames: 0, streams: Streams::default(), slots: Box::new([0; SLOTS]) }
    }

    /// Appends one frame's image data to `out`: LZW or literal codes, whichever the recent
    /// frames say is worth it (see the module doc).
    pub fn encode_frame(&mut self, pixels: &[u8], out: &mut Vec<u8>) {
        if self.literal_frames > 0 {
            self.literal_frames -= 1;
            return Self::encode_literal(pixels, out);
        }
        let start = out.len();
        self.encode(pixels, out);
        // The image data starts with its min code size: no second pass over the pixels.
        let literal = Self::literal_len(pixels.len(), out[start]);
        if (out.len() - start) as f64 > WORTH_IT * literal as f64 {
            self.literal_frames = RETRY;
        }
    }

    /// The bytes [`Lzw::encode_literal`] writes for `n` pixels at `min_code_size`.
    fn literal_len(n: usize, min_code_size: u8) -> usize {
        let per_clear = Self::literal_run(min_code_size) as usize;
        let codes = n + n.div_ceil(per_clear) + 1;
        1 + (codes * (usize::from(min_code_size) + 1)).div_ceil(8)
    }

    /// Codes between clears in literal coding: the decoder adds one entry per code after the
    /// first, and must stay below 2^(size+1) entries to keep reading size+1 bits.
    fn literal_run(min_code_size: u8) -> u32 {
        (1u32 << (min_code_size + 1)) - ((1u32 << min_code_size) + 2)
    }

    /// Appends `min_code_size` and `pixels` as literal codes (no dictionary) to `out`.
    pub fn encode_literal(pixels: &[u8], out: &mut Vec<u8>) {
        let min_code_size = Self::min_code_size(pixels);
        out.push(min_code_size);
        out.reserve(Self::literal_len(pixels.len(), min_code_size));
        let (clear, size) = (1u32 << min_code_size, u32::from(min_code_size) + 1);
        let mut bits = BitWriter { out, acc: 0, n: 0 };
        for run in pixels.chunks(Self::literal_run(min_code_size) as usize) {
            bits.push(clear, size);
            for &p in run {
                bits.push(u32::from(p), size);
            }
        }
        if pixels.is_empty() {
            bits.push(clear, size);
        }
        bits.push(clear + 1, size);
        bits.finish();
    }

    /// The smallest GIF min code size (2…8) whose alphabet holds every pixel value.
    pub fn min_code_size(pixels: &[u8]) -> u8 {
        let max = pixels.iter().copied().fold(0u8, u8::max);
        (u32::from(max) + 1).next_power_of_two().trailing_zeros().max(2) as u8
    }

    /// Appends `min_code_size` and the LZW codes of `pixels` to `out`, with a dictionary of
    /// 4,096 codes or, where fewer than half the pixels are background (index 0), of
    /// [`BUSY_CODES`], in parts side by side where the pixels need 8 bits (see the module doc).
    pub fn encode(&mut self, pixels: &[u8], out: &mut Vec<u8>) {
        // Counted in byte lanes, 255 pixels at a time (vectorised; 4 % of a GIF's time counted
        // one by one).
        let background: usize = pixels.chunks(255).map(|c| usize::from(c.iter().map(|&p| u8::from(p == 0)).sum::<u8>())).sum();
        if 2 * background >= pixels.len() {
            self.encode_with(pixels, MAX_CODES, out);
        } else if pixels.len() >= STREAMS && Self::min_code_size(pixels) == 8 {
            self.streams.encode(pixels, out);
        } else {
            self.encode_with(pixels, BUSY_CODES, out);
        }
    }

    /// [`Lzw::encode`] with a dictionary of `max_codes` codes (a power of two, 2^(min code
    /// size + 1) at least, at most 4,096).
    fn encode_with(&mut self, pixels: &[u8], max_codes: u32, out: &mut Vec<u8>) {
        let min_code_size = Self::min_code_size(pixels);
        // Fewer codes than the first code width allows would need a clear before any code.
        let max_codes = max_codes.max(2 << min_code_size);
        // Slots in use: a power of two, twice the codes.
        let slots = 2 * max_codes as usize;
        let table = &mut self.slots[..slots];
        out.push(min_code_size);
        let clear = 1u32 << min_code_size;
        let end = clear + 1;
        table.fill(0);
        let mut bits = BitWriter { out, acc: 0, n: 0 };
        let first_size = u32::from(min_code_size) + 1;
        let (mut size, mut next) = (first_size, clear + 2);
        bits.push(clear, size);
        let Some(&first) = pixels.first() else {
            bits.push(end, size);
            bits.finish();
            return;
        };
        let mut prefix = u32::from(first);
        // Runs of background: the dictionary's strings of zeros are 0^1 … 0^known (it holds
        // every prefix of its strings), `zeros[j]` the code of 0^j. While the string in hand
        // is 0^run and zeros follow, the walk jumps to the longest one at once: the codes
        // the lookup a pixel finds, without the lookups.
        let mut zeros = [0u16; MAX_CODES as usize + 1];
        let (mut known, mut run) = (1u32, u32::from(first == 0));
        let mut i = 1;
        'pixels: while i < pixels.len() {
            let symbol = pixels[i];
            if symbol == 0 && run != 0 && run < known {
                let ahead = pixels[i..].iter().take((known - run) as usize).take_while(|&&p| p == 0).count();
                run += ahead as u32;
                i += ahead;
                prefix = u32::from(zeros[run as usize]);
                continue;
            }
            i += 1;
            let key = prefix << 8 | u32::from(symbol);
            let mut slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - slots.trailing_zeros())) as usize;
            loop {
                let entry = table[slot];
                if entry == 0 {
                    break;
                }
                if entry >> 12 == key {
                    // Not a string of zeros: those extend above.
                    prefix = entry & 0xFFF;
                    run = 0;
                    continue 'pixels;
                }
                slot = (slot + 1) & (slots - 1);
            }
            bits.push(prefix, size);
            if next < max_codes {
                table[slot] = key << 12 | next;
                if symbol == 0 && run != 0 {
                    // 0^known, one zero longer.
                    known = run + 1;
                    zeros[known as usize] = next as u16;
                }
                // The decoder learns this code one code later; it widens its reads once its
                // next free code reaches 2^size, which is one step after ours does.
                if next == 1 << size && size < 12 {
                    size += 1;
                }
                next += 1;
            } else {
                // The decoder has just added the last code: where that made its next free code
                // 2^size (a dictionary of fewer than 4,096 codes), it reads one bit more.
                bits.push(clear, (size + 1).min(12));
                table.fill(0);
                size = first_size;
                next = clear + 2;
                known = 1;
            }
            prefix = u32::from(symbol);
            run = u32::from(symbol == 0);
        }
        bits.push(prefix, size);
        bits.push(end, size);
        bits.finish();
    }
}

/// Codes packed least significant bit first: `n` bits (fewer than 32) wait in `acc`.
pub(super) struct BitWriter<'a> {
    pub(super) out: &'a mut Vec<u8>,
    pub(super) acc: u64,
    pub(super) n: u32,
}

impl BitWriter<'_> {
    #[inline(always)]
    pub(super) fn push(&mut self, code: u32, size: u32) {
        self.acc |= u64::from(code) << self.n;
        self.n += size;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    pub(super) fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Decodes with the `gif` crate's decoder (weezl), as a one-frame GIF.
    pub(crate) fn decode(width: u16, height: u16, data: &[u8]) -> Vec<u8> {
        let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, i, i]).collect();
        let mut file = Vec::new();
        {
            let mut enc = gif::Encoder::new(&mut file, width, height, &palette).unwrap();
            let mut frame = gif::Frame { width, height, ..gif::Frame::default() };
            frame.buffer = std::borrow::Cow::Borrowed(data);
            enc.write_lzw_pre_encoded_frame(&frame).unwrap();
        }
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut dec = options.read_info(&file[..]).unwrap();
        let frame = dec.read_next_frame().unwrap().unwrap();
        frame.buffer.to_vec()
    }

    fn round_trip(width: u16, height: u16, pixels: &[u8]) {
        let mut out = Vec::new();
        Lzw::new().encode(pixels, &mut out);
        assert_eq!(decode(width, height, &out), pixels, "{width}x{height}");
    }

    #[test]
    fn decodes_back_across_code_widths_and_clears() {
        let mut rng = crate::rng::Rng::new(7);
        // Noise over small and full alphabets (many codes and clears; busy frames, so the
        // small dictionary), long runs (long strings, the full one), and a mix, as event
        // frames are.
        for (width, height, levels, run) in [(64u16, 48u16, 2u32, 1u32), (640, 480, 4, 1), (640, 480, 256, 1), (300, 200, 256, 40), (640, 480, 64, 8), (1, 1, 256, 1), (7, 3, 3, 2)] {
            let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height));
            while pixels.len() < pixels.capacity() {
                let value = (rng.next_u64() % u64::from(levels)) as u8;
                let len = 1 + (rng.next_u64() % u64::from(run)) as usize;
                pixels.extend(std::iter::repeat_n(value, len.min(pixels.capacity() - pixels.len())));
            }
            round_trip(width, height, &pixels);
        }
    }

    #[test]
    fn both_dictionary_sizes_decode_back_and_busy_frames_take_the_small_one() {
        let mut rng = crate::rng::Rng::new(3);
        // Busy (1 in 8 pixels background) and sparse (7 in 8), over 4 and 241 symbols: many
        // clears of the small dictionary, from every first code width it meets.
        for (levels, lit) in [(241u64, 7u64), (4, 7), (241, 1), (3, 1)] {
            let pixels: Vec<u8> = (0..320 * 240).map(|_| if rng.next_u64() % 8 < lit { 1 + (rng.next_u64() % (levels - 1)) as u8 } else { 0 }).collect();
            for max_codes in [BUSY_CODES, MAX_CODES] {
                let mut out = Vec::new();
                Lzw::new().encode_with(&pixels, max_codes, &mut out);
                assert_eq!(decode(320, 240, &out), pixels, "{levels} levels, {lit}/8 lit, {max_codes} codes");
            }
            // `encode` picks the size by the share of background, and busy frames of 8-bit
            // pixels go to the parts coded side by side.
            let (mut picked, mut expected) = (Vec::new(), Vec::new());
            Lzw::new().encode(&pixels, &mut picked);
            match (lit, levels) {
                (7, 241) => Streams::default().encode(&pixels, &mut expected),
                (7, _) => Lzw::new().encode_with(&pixels, BUSY_CODES, &mut expected),
                _ => Lzw::new().encode_with(&pixels, MAX_CODES, &mut expected),
            }
            assert_eq!(picked, expected, "{levels} levels, {lit}/8 lit");
        }
    }

    #[test]
    fn runs_of_background_decode_back_and_stay_compressed() {
        // Sparse frames (the 4,096-code walk) whose background runs take the jump over known
        // strings of zeros: short and long runs, runs past the longest known string, runs to
        // the frame's end, and dictionary clears in between.
        let mut rng = crate::rng::Rng::new(17);
        for (max_run, levels) in [(3u64, 4u64), (60, 241), (5000, 241), (700, 2)] {
            let mut pixels = Vec::with_capacity(640 * 480);
            while pixels.len() < pixels.capacity() {
                let zeros = 1 + (rng.next_u64() % max_run) as usize;
                pixels.extend(std::iter::repeat_n(0, zeros.min(pixels.capacity() - pixels.len())));
                for _ in 0..1 + rng.next_u64() % 3 {
                    if pixels.len() < pixels.capacity() {
                        pixels.push(1 + (rng.next_u64() % (levels - 1)) as u8);
                    }
                }
            }
            round_trip(640, 480, &pixels);
        }
        let flat = vec![0u8; 640 * 480];
        let mut out = Vec::new();
        Lzw::new().encode(&flat, &mut out);
        assert!(out.len() < 2000, "{} bytes", out.len());
        assert_eq!(decode(640, 480, &out), flat);
    }

    #[test]
    fn one_encoder_serves_frames_of_different_alphabets() {
        let mut lzw = Lzw::new();
        for (levels, seed) in [(2u64, 1u64), (256, 2), (16, 3)] {
            let mut rng = crate::rng::Rng::new(seed);
            let pixels: Vec<u8> = (0..100 * 80).map(|_| (rng.next_u64() % levels) as u8).collect();
            let mut out = Vec::new();
            lzw.encode(&pixels, &mut out);
            assert_eq!(decode(100, 80, &out), pixels, "{levels} levels");
        }
    }

    #[test]
    fn literal_coding_decodes_back_and_has_its_stated_size() {
        let mut rng = crate::rng::Rng::new(11);
        for (width, height, levels) in [(640u16, 480u16, 241u64), (33, 7, 4), (1, 1, 2), (255, 3, 256)] {
            let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height)).map(|_| (rng.next_u64() % levels) as u8).collect();
            let mut out = Vec::new();
            Lzw::encode_literal(&pixels, &mut out);
            assert_eq!(out.len(), Lzw::literal_len(pixels.len(), Lzw::min_code_size(&pixels)), "{width}x{height}");
            assert_eq!(decode(width, height, &out), pixels, "{width}x{height}");
        }
    }

    #[test]
    fn frames_switch_to_literal_coding_on_noise_and_back_on_runs() {
        let mut lzw = Lzw::new();
        let mut rng = crate::rng::Rng::new(5);
        let noise: Vec<u8> = (0..160 * 120).map(|_| (rng.next_u64() % 241) as u8).collect();
        let flat = vec![0u8; 160 * 120];
        let size = |lzw: &mut Lzw, pixels: &[u8]| {
            let mut out = Vec::new();
            lzw.encode_frame(pixels, &mut out);
            assert_eq!(decode(160, 120, &out), pixels);
            out.len()
        };
        let literal = Lzw::literal_len(noise.len(), 8);
        // Noise: LZW does not pay, so the next RETRY frames are literal (even a flat one) …
        assert!(size(&mut lzw, &noise) > literal * 85 / 100);
        for _ in 0..RETRY {
            assert_eq!(size(&mut lzw, &flat), Lzw::literal_len(flat.len(), 2));
        }
        // … then LZW is tried again, and kept while it pays.
        assert!(size(&mut lzw, &flat) < 1000);
        assert!(size(&mut lzw, &flat) < 1000);
    }

    #[test]
    fn uses_the_smallest_code_size() {
        assert_eq!(Lzw::min_code_size(&[0, 1]), 2);
        assert_eq!(Lzw::min_code_size(&[0, 4]), 3);
        assert_eq!(Lzw::min_code_size(&[255]), 8);
        assert_eq!(Lzw::min_code_size(&[]), 2);
    }
}

//! The row lists of the spike kernel ([`super::conv_spikes`]): for every (chunk of 8 input
//! channels, output pixel) of a tile, the weight rows it adds, one byte each (`tap · 8 +
//! channel`), written branch-free from the spike mask bytes through a table ([`tile_rows`]; a
//! 3×3 kernel with AVX-512 VBMI2 takes [`super::conv_spikes_avx512::tile_rows`], the same lists).
//! A tile's lists are kept in parts of consecutive chunks ([`TileRows`]), so that a batch with
//! fewer tiles than threads builds each tile in parallel: vgg11_48_legacy's 12×12 and 6×6 spike
//! layers are one tile at batch 1, and their lists took one thread while the other waited.

use super::conv::Geometry;
use super::conv_spikes::{CW, applies};

/// The weight rows every (chunk, pixel) of one tile adds, in parts of consecutive chunks: a
/// batch with fewer tiles than threads builds each tile's parts in parallel ([`TileRows::split`]).
#[derive(Default)]
pub struct TileRows {
    parts: Vec<Lists>,
    /// Chunks per part (the last may have fewer).
    per: usize,
    /// Chunks listed.
    chunks: usize,
}

/// The row lists of one part of a tile's chunks.
#[derive(Default)]
pub struct Lists {
    /// `tap · 8 + channel` of each row, then at least 8 bytes of slack.
    rows: Vec<u8>,
    /// The part's chunk `c`, pixel `i`: `rows[start[c·P + i]..start[c·P + i + 1]]` (P pixels
    /// in the tile).
    start: Vec<u32>,
}

impl TileRows {
    /// The parts that lists of `chunks` chunks in `parts` parts are built into, with the chunks
    /// of each (buffers are kept from earlier layers and steps).
    pub fn split(&mut self, chunks: usize, parts: usize) -> impl Iterator<Item = (std::ops::Range<usize>, &mut Lists)> {
        // At least one chunk per part (more parts than chunks give parts of one chunk).
        let per = chunks.div_ceil(parts.max(1)).max(1);
        (self.per, self.chunks) = (per, chunks);
        let parts = chunks.div_ceil(per);
        if self.parts.len() < parts {
            self.parts.resize_with(parts, Lists::default);
        }
        self.parts[..parts].iter_mut().enumerate().map(move |(j, l)| (j * per..((j + 1) * per).min(chunks), l))
    }

    /// Chunk `c`'s lists for `n` pixels: each pixel's start in the rows (n + 1 values) and the rows.
    pub(super) fn chunk(&self, c: usize, n: usize) -> (&[u32], &[u8]) {
        let part = &self.parts[c / self.per];
        let at = (c % self.per) * n;
        (&part.start[at..at + n + 1], &part.rows)
    }

    /// How many chunks the last [`TileRows::split`] listed.
    pub(super) fn chunks(&self) -> usize {
        self.chunks
    }
}

/// The set bits of every byte, lowest first, one per byte of the `u64` (the rest zero).
pub(super) static SET_BITS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let (mut v, mut n, mut j) = (0u64, 0, 0);
        while j < 8 {
            if (m >> j) & 1 == 1 {
                v |= (j as u64) << (8 * n);
                n += 1;
            }
            j += 1;
        }
        table[m] = v;
        m += 1;
    }
    table
};

/// The row lists of output pixels `pixels` from the sample's padded spike mask
/// ([`super::conv_spikes::masks`]).
/// Only chunks `chunks` are listed (one part of the tile's lists, [`TileRows::split`]).
pub fn tile_rows(pixels: std::ops::Range<usize>, chunks: std::ops::Range<usize>, mask: &[u8], g: &Geometry, dst: &mut Lists) {
    let plane = (g.si.h + 2 * g.pad()) * g.padded_w();
    assert!(applies(g) && mask.len() == g.ci() / CW * plane && chunks.end <= g.ci() / CW);
    let mask = &mask[chunks.start * plane..chunks.end * plane];
    if g.avx512 && g.k() == 3 && super::conv_spikes_avx512::vbmi2() {
        return super::conv_spikes_avx512::tile_rows(pixels, mask, g, dst);
    }
    #[cfg(target_arch = "x86_64")]
    if g.simd {
        // SAFETY: `g.simd` is only set where AVX2, FMA and POPCNT were detected.
        return unsafe { tile_rows_avx2(pixels, mask, g, dst) };
    }
    tile_rows_generic(pixels, mask, g, dst, emit)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
unsafe fn tile_rows_avx2(pixels: std::ops::Range<usize>, mask: &[u8], g: &Geometry, dst: &mut Lists) {
    tile_rows_generic(pixels, mask, g, dst, emit)
}

/// A (chunk, pixel) lists at most every channel under every tap (k²·8 ≤ 256, `applies`); the
/// last write needs 8 more bytes.
pub(super) const MOST: usize = 256 + 8;

/// The row lists of a tile for the chunks whose mask planes are `mask`; `emit9` is [`emit`] for
/// a 3×3 kernel in the build of the caller's ISA.
#[inline(always)]
pub(super) fn tile_rows_generic(pixels: std::ops::Range<usize>, mask: &[u8], g: &Geometry, dst: &mut Lists, emit9: impl Fn(&[u8], &[usize], &[u64], &mut [u8; MOST]) -> usize) {
    let (k, s, wp, so) = (g.k(), g.stride(), g.padded_w(), g.so);
    // `mask` holds whole chunk planes ([`tile_rows`]).
    let plane = (g.si.h + 2 * g.pad()) * wp;
    let (chunks, n, kk) = (mask.len() / plane, pixels.len(), k * k);
    // Each tap's offset from its window's corner in the padded mask, and its rows' first index
    // (tap · 8) in every byte.
    let mut offset = [0usize; 32];
    let mut base = [0u64; 32];
    for t in 0..kk {
        offset[t] = (t / k) * wp + t % k;
        base[t] = (t * CW) as u64 * 0x0101_0101_0101_0101;
    }
    let corners: Vec<usize> = pixels.map(|p| (p / so.w) * s * wp + (p % so.w) * s).collect();
    let (rows, start) = (&mut dst.rows, &mut dst.start);
    start.clear();
    start.reserve(chunks * n + 1);
    let mut at = 0;
    for bits in mask.chunks_exact(plane) {
        for &corner in &corners {
            start.push(at as u32);
            if rows.len() < at + MOST {
                rows.resize((2 * rows.len()).max(at + MOST), 0);
            }
            let out: &mut [u8; MOST] = (&mut rows[at..at + MOST]).try_into().expect("MOST bytes");
            let window = &bits[corner..];
            // A 3×3 kernel's nine taps unrolled.
            at += if kk == 9 { emit9(window, &offset[..9], &base[..9], out) } else { emit(window, &offset[..kk], &base[..kk], out) };
        }
    }
    start.push(at as u32);
}

/// Writes the rows of every tap of one (chunk, pixel) to `out`; returns how many.
#[inline(always)]
pub(super) fn emit(window: &[u8], offset: &[usize], base: &[u64], out: &mut [u8; MOST]) -> usize {
    let mut k = 0;
    for (&o, &b) in offset.iter().zip(base) {
        // Every tap lies in the padded mask and `k` stays below k²·8 (at most 8 per tap): the
        // fallbacks only spare the bounds checks.
        let m = window.get(o).copied().unwrap_or(0);
        // No byte carries: every index is below k²·8 ≤ 256 (`applies`).
        let row = SET_BITS[usize::from(m)] + b;
        let k8 = k.min(MOST - 8);
        out[k8..k8 + 8].copy_from_slice(&row.to_le_bytes());
        k += m.count_ones() as usize;
    }
    k
}


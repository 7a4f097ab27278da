//! The weight gradient of a stride-1 convolution on Flex,
//! `gW[o, c, ky, kx] = Σ_{n, y, x} x[n, c, y, x] · g[n, o, oy, ox]` (`oy = y + p − ky`,
//! `ox = x + p − kx`), summed over the non-zero inputs only.
//!
//! Per sample and input channel, the plane's non-zero inputs are listed first ([`Hit`]: where
//! its taps read the output gradient, which taps stay inside the output, its value; from a
//! channel-first input plane by plane as tasks need them, from a channel-last one
//! ([`weight_grad_hwc`]) per sample for all channels at once, in the same row order); then, for
//! one block of output channels at a time, the `k × k` tap sums of the block are held in
//! registers ([`super::weight_grad_x86`]: 3×3 taps × two 16-lane `zmm`, or × one 8-lane `ymm`)
//! while every non-zero adds its output-gradient vectors: a spike (1) adds them, any other value
//! multiplies first. The sums are loaded and stored once per (sample, channel, block), not once
//! per non-zero, and the output gradient of a sample stays in L2 while a task's channels read it.
//!
//! Threads take groups of input channels, each owning its `[k·k, Co]` slices of the result;
//! every result value receives its terms in one fixed order (sample, then input position in row
//! order) as the product `v · g` (exact for a spike) added to the sum, so the result does not
//! depend on the thread count or on which kernel (AVX-512, AVX2, plain loops) ran.
//!
//! History (interleaved runs, same loss bits): the former scatter, which per non-zero loaded and
//! stored `k·k·Co` sums in memory (and, one step per non-zero, waited on the previous
//! non-zero's stores), took 20 % of a width/8 training step on Zen 5; register-tiled variants of
//! it per input row (2026-12-07) lost their gain to the edge columns, which the tap ranges of a
//! [`Hit`] now handle in the same loop.

use rayon::prelude::*;

use super::flex::Dims;

/// One non-zero input `v` at `(y, x)`: tap `(ky, kx)` reads the output gradient at
/// `hi − taps[ky·k + kx]` (`hi` the offset of output position `(y + p, x + p)`), for `ky` in
/// `ky[0]..=ky[1]` and `kx` in `kx[0]..=kx[1]` (the taps whose output lies inside the plane).
#[derive(Clone, Copy, Debug)]
pub(super) struct Hit {
    pub hi: usize,
    pub v: f32,
    pub ky: [u8; 2],
    pub kx: [u8; 2],
}

/// `gW` `[Co, Ci, k, k]` of a stride-1 convolution (`k` ≤ 255, `p` < `k`) from `x`
/// `[N, Ci, H, W]` and the output gradient `g` `[N, Ho, Wo, Co]` (see the module doc). Tasks
/// take groups of input channels and run sample by sample.
#[inline(never)]
pub(super) fn weight_grad(x: &[f32], g: &[f32], d: &Dims) -> Vec<f32> {
    let (rows, cols) = (tap_rows(d), tap_cols(d));
    run(g, d, &Source::Planes { x, rows: &rows, cols: &cols })
}

/// [`weight_grad`] of channel-last input `x` `[N, H, W, Ci]`: each sample's non-zeros are listed
/// by channel first (one pass per sample, samples in parallel), in the same row order.
#[inline(never)]
pub(super) fn weight_grad_hwc(x: &[f32], g: &[f32], d: &Dims) -> Vec<f32> {
    let plane_in = d.si.h * d.si.w * d.ci;
    let (rows, cols) = (tap_rows(d), tap_cols(d));
    let lists: Vec<ByChannel> = (0..d.n).into_par_iter().map(|n| by_channel(&x[n * plane_in..][..plane_in], d, &rows, &cols)).collect();
    run(g, d, &Source::Lists(&lists))
}

/// Where a task finds the non-zeros of (sample, input channel).
enum Source<'a> {
    /// Channel-first input `[N, Ci, H, W]`: listed plane by plane when needed ([`collect`]).
    Planes { x: &'a [f32], rows: &'a [[u8; 2]], cols: &'a [[u8; 2]] },
    /// Listed per sample beforehand ([`by_channel`]).
    Lists(&'a [ByChannel]),
}

/// One sample's non-zeros as [`Hit`]s by channel: channel `c`'s are `hits[start[c]..start[c +
/// 1]]`, in row order; `spikes[c]`: all of them are 1.
pub(super) struct ByChannel {
    start: Vec<usize>,
    hits: Vec<Hit>,
    spikes: Vec<bool>,
}

/// [`ByChannel`] of one channel-last plane `xs` `[H, W, Ci]`.
fn by_channel(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]]) -> ByChannel {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 detected.
        return unsafe { super::weight_grad_x86::by_channel_avx2(xs, d, rows, cols) };
    }
    by_channel_with(xs, d, rows, cols, |part| part.iter().enumerate().fold(0, |m, (b, &v)| m | (u64::from(v != 0.0) << b)))
}

/// [`by_channel`] with `bits(part)`: bit `b` set where `part[b]` (at most 64 values) is not
/// zero. The non-zero channels of each pixel as bits (64 channels a word), counted, then placed.
#[inline(always)]
pub(super) fn by_channel_with(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]], nonzero_bits: impl Fn(&[f32]) -> u64) -> ByChannel {
    let ci = d.ci;
    // Counted lane by lane (vectorised) in u32.
    assert!(d.si.h * d.si.w <= u32::MAX as usize, "weight_grad: a {}×{} plane", d.si.h, d.si.w);
    let mut count = vec![0u32; ci];
    for px in xs.chunks_exact(ci) {
        for (n, &v) in count.iter_mut().zip(px) {
            *n += u32::from(v != 0.0);
        }
    }
    let mut start = Vec::with_capacity(ci + 1);
    start.push(0);
    for &n in &count {
        start.push(start.last().copied().unwrap_or(0) + n as usize);
    }
    let mut hits = vec![Hit { hi: 0, v: 0.0, ky: [0; 2], kx: [0; 2] }; start[ci]];
    let mut next = start[..ci].to_vec();
    for (y, row) in xs.chunks_exact(d.si.w * ci).enumerate() {
        let out_row = (y + d.pad) * d.so.w + d.pad;
        for (xx, px) in row.chunks_exact(ci).enumerate() {
            let hit = Hit { hi: (out_row + xx) * d.co, v: 0.0, ky: rows[y], kx: cols[xx] };
            for (word, part) in px.chunks(64).enumerate() {
                let mut bits = nonzero_bits(part);
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let c = word * 64 + b;
                    hits[next[c]] = Hit { v: part[b], ..hit };
                    next[c] += 1;
                }
            }
        }
    }
    let spikes = (0..ci).map(|c| hits[start[c]..start[c + 1]].iter().all(|h| h.v == 1.0)).collect();
    ByChannel { start, hits, spikes }
}

/// Per input row: the taps whose output row lies inside the plane.
fn tap_rows(d: &Dims) -> Vec<[u8; 2]> {
    (0..d.si.h).map(|y| tap_range(y, d.so.h, d)).collect()
}

/// Per input column: the taps whose output column lies inside the plane.
fn tap_cols(d: &Dims) -> Vec<[u8; 2]> {
    (0..d.si.w).map(|x| tap_range(x, d.so.w, d)).collect()
}

/// The taps `t` (of `k`) at which input position `i` reaches output `i + p − t` in `0..len`.
fn tap_range(i: usize, len: usize, d: &Dims) -> [u8; 2] {
    let lo = (i + d.pad + 1).saturating_sub(len);
    let hi = (i + d.pad).min(d.k - 1);
    // `lo > hi` (no tap) gives an empty `lo..=hi`.
    [lo as u8, hi as u8]
}

/// `gW` `[Co, Ci, k, k]` from the hits of every (sample, input channel). Tasks take groups of
/// input channels and run sample by sample, so a sample's output gradient is read from cache
/// by every channel of the group.
fn run(g: &[f32], d: &Dims, source: &Source) -> Vec<f32> {
    let (co, kk) = (d.co, d.k * d.k);
    assert!(d.k <= usize::from(u8::MAX) && d.pad < d.k && d.stride == 1, "weight_grad: k {} p {} s {}", d.k, d.pad, d.stride);
    let per_task = d.ci.div_ceil(4 * rayon::current_num_threads()).max(1);
    let mut by_input = vec![0.0f32; d.ci * kk * co];
    by_input.par_chunks_mut(per_task * kk * co).enumerate().for_each(|(task, acc)| channels(g, d, task * per_task, acc, source));
    // `by_input` is `[Ci, k·k, Co]`.
    let mut gw = vec![0.0f32; by_input.len()];
    for (c, taps) in by_input.chunks_exact(kk * co).enumerate() {
        for (t, row) in taps.chunks_exact(co).enumerate() {
            for (o, &v) in row.iter().enumerate() {
                gw[(o * d.ci + c) * kk + t] = v;
            }
        }
    }
    gw
}

/// `acc` `[c, k·k, Co]` = the weight gradients of input channels `first..` (as many as `acc`
/// holds).
#[inline(never)]
fn channels(g: &[f32], d: &Dims, first: usize, acc: &mut [f32], source: &Source) {
    let (k, co, kk) = (d.k, d.co, d.k * d.k);
    let plane_out = d.so.len();
    if d.si.h * d.si.w == 0 || plane_out == 0 {
        return;
    }
    let taps: Vec<usize> = (0..kk).map(|t| (t / k * d.so.w + t % k) * co).collect();
    let (plane_in, mut buffer) = (d.si.h * d.si.w, Vec::new());
    for n in 0..d.n {
        let gs = &g[n * plane_out..][..plane_out];
        for (j, acc) in acc.chunks_exact_mut(kk * co).enumerate() {
            let c = first + j;
            let (hits, spikes) = match source {
                Source::Planes { x, rows, cols } => {
                    let spikes = collect(&x[(n * d.ci + c) * plane_in..][..plane_in], d, rows, cols, &mut buffer);
                    (&buffer[..], spikes)
                }
                Source::Lists(lists) => (&lists[n].hits[lists[n].start[c]..lists[n].start[c + 1]], lists[n].spikes[c]),
            };
            if !hits.is_empty() {
                add_hits(acc, co, k, hits, gs, &taps, spikes);
            }
        }
    }
}

/// The non-zero values of one input plane as [`Hit`]s in row order; whether all of them are 1.
fn collect(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]], hits: &mut Vec<Hit>) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 detected.
        return unsafe { super::weight_grad_x86::collect_avx2(xs, d, rows, cols, hits) };
    }
    collect_with(xs, d, rows, cols, hits, |part| part.iter().enumerate().fold(0, |m, (b, &v)| m | (u64::from(v != 0.0) << b)))
}

/// [`collect`] with `bits(part)`: bit `b` set where `part[b]` (at most 64 values) is not zero.
#[inline(always)]
pub(super) fn collect_with(xs: &[f32], d: &Dims, rows: &[[u8; 2]], cols: &[[u8; 2]], hits: &mut Vec<Hit>, bits: impl Fn(&[f32]) -> u64) -> bool {
    hits.clear();
    let mut spikes = true;
    for (y, row) in xs.chunks_exact(d.si.w).enumerate() {
        let out_row = (y + d.pad) * d.so.w + d.pad;
        for (word, part) in row.chunks(64).enumerate() {
            // The non-zero columns of 64 as bits, then one step per set bit.
            let mut bits = bits(part);
            while bits != 0 {
                let xx = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let v = row[xx];
                spikes &= v == 1.0;
                hits.push(Hit { hi: (out_row + xx) * d.co, v, ky: rows[y], kx: cols[xx] });
            }
        }
    }
    spikes
}

/// `acc` `[k·k, Co]` += every hit's terms, block by block of output channels: the widest
/// register kernel the CPU has for the block, plain loops for the rest (the same terms in the
/// same order either way).
fn add_hits(acc: &mut [f32], co: usize, k: usize, hits: &[Hit], g: &[f32], taps: &[usize], spikes: bool) {
    let mut o = 0;
    #[cfg(target_arch = "x86_64")]
    if k == 3 || k == 1 {
        o = super::weight_grad_x86::add_hits(acc, co, k, hits, g, taps, spikes);
    }
    if o < co {
        add_hits_plain(acc, co, o..co, k, hits, g, taps);
    }
}

/// [`add_hits`] for output channels `lanes` with plain loops.
fn add_hits_plain(acc: &mut [f32], co: usize, lanes: std::ops::Range<usize>, k: usize, hits: &[Hit], g: &[f32], taps: &[usize]) {
    for h in hits {
        for ky in h.ky[0]..=h.ky[1] {
            for kx in h.kx[0]..=h.kx[1] {
                let t = usize::from(ky) * k + usize::from(kx);
                let (a, r) = (&mut acc[t * co..][lanes.clone()], &g[h.hi - taps[t]..][lanes.clone()]);
                a.iter_mut().zip(r).for_each(|(a, r)| *a += h.v * r);
            }
        }
    }
}

//! The strip convolution of [`super::conv`]: sparse inputs with fewer than 8 channels (event
//! frames of 2 polarity channels into a first layer, an image stem of 3 channels), where the
//! dense kernel spends its time on zeros and on taps of 2 or 3 channels, and the general sparse
//! kernel on each output pixel's list of k² taps.
//!
//! The non-zero values of a sample are listed once per input row, in (column, channel) order
//! ([`Rows`]). An output row is then computed [`STRIP`] pixels at a time, their accumulators in
//! registers: for every tap row, the listed values of the input row under it that fall in the
//! strip's windows each add their weight row (times the value, fused multiply-adds) to the
//! pixels whose windows hold them. Each output pixel receives its terms in window order (tap
//! row, tap column, input channel), zeros skipped, one rounding per term (FMA); on dyadic values
//! every sum is exact and it equals the specification bit for bit. The AVX-512 and AVX2 builds
//! are the same code compiled for each, so they give the same bits. Where AVX-512 VBMI2 is
//! present (and the weights are f32), [`super::conv_strip_avx512`] computes the same sums in the
//! same order from window masks instead, about twice as fast.
//!
//! Measured (2026-12-07, Zen 5, batch 1, one thread, 10 % of the input values non-zero):
//! vgg11_dvs's first layer (2 → 64 channels at 128×128) 0.80–0.88 → 0.48–0.50 ms, sew_resnet18's
//! ImageNet stem (3 → 64, 7×7 stride 2 at 224×224) 1.21–1.34 → 1.17 ms, against the dense
//! kernel. A first version that added each non-zero's rows into accumulators in memory (no
//! strips) ran its ~184 k row updates of the stem at ~20 cycles each, read-modify-writes of the
//! same accumulators in close succession waiting on each other, and was slower than dense.

use rayon::prelude::*;

use super::conv::{Geometry, Task};
use super::precision::{Weight, dispatch};
use crate::model::graph::Shape;

/// Output pixels of a row whose accumulators stay in registers together (4 × 64 lanes: sixteen
/// `zmm`).
const STRIP: usize = 4;

/// Inputs of fewer channels than this may take the strip kernel (8 and more take the spike or
/// general sparse kernels, which list rows per chunk of 8 channels).
const MAX_CI: usize = 8;

/// The density below which the strip kernel beats the dense kernel falls as the dense kernel
/// gets more work per output pixel (`k²·ci` weight rows, over which it amortises its tile setup):
/// `STRIP_A / (k²·ci)^0.6`, at most [`STRIP_MOST`]. Fitted to the two crossovers measured with
/// `conv_tests::rates::strip_rates` (caches flushed between calls, batch 1, one thread, Zen 5,
/// 2026-12-07): 2 → 64 channels 3×3 at 128×128 (18 rows) strip 0.37–0.75 ms against dense
/// 0.87–0.95 ms from 5 to 30 % non-zero, so past 30 %; the 3 → 64 7×7 stride-2 stem at 224×224
/// (147 rows) 0.94 against 1.24–1.29 ms at 5 %, level at 10 %, 1.48 against 1.23 at 15 %; in the
/// whole network at 10 % the strip kernel was ahead (1.17–1.32 against 1.21–1.37 ms), so the
/// stem's threshold is put at 12 %.
const STRIP_A: f32 = 2.4;
const STRIP_MOST: f32 = 0.35;

/// Output rows per task.
pub const ROWS: usize = 4;

/// Whether an input of `nonzeros` non-zero values out of `len` takes the strip kernel for the
/// layer of `g`: fewer than [`MAX_CI`] channels, the AVX2 build available, sparse enough (see
/// [`STRIP_A`], and [`MASKS_FIXED`] for the AVX-512 build).
pub fn pays(nonzeros: usize, len: usize, g: &Geometry) -> bool {
    let rows = (g.k() * g.k() * g.ci()) as f32;
    let density = nonzeros as f32 / len as f32;
    let sparse_enough = if super::conv_strip_avx512::applies(g) {
        MASKS_FIXED * g.k() as f32 + MASKS_PER_ROW * density * rows < DENSE_FIXED + DENSE_PER_ROW * rows
    } else {
        density < (STRIP_A / rows.powf(0.6)).min(STRIP_MOST)
    };
    g.simd && g.ci() < MAX_CI && sparse_enough
}

/// The AVX-512 build ([`super::conv_strip_avx512`]) against the dense kernel, ns per output pixel
/// of 64 channels: `MASKS_FIXED · k + MASKS_PER_ROW · density · k²·ci` (its tap rows' masks, its
/// store; each listed row) against `DENSE_FIXED + DENSE_PER_ROW · k²·ci`. Fitted with
/// `conv_tests::rates::strip_rates` (caches flushed between calls, batch 1, one thread, Zen 5,
/// 2026-12-07 18:10 UTC), every density taking the strip kernel: 2 → 64 channels 3×3 at 128×128
/// 0.23–0.44 ms from 5 to 50 % non-zero against dense 0.82–0.90 (always pays); the 3 → 64 7×7
/// stride-2 stem at 224×224 0.48, 0.57, 0.78, 0.98, 1.20, 1.39 ms at 5, 10, 20, 30, 40, 50 %
/// against dense 1.19–1.23 ms (level at 40 %).
const MASKS_FIXED: f32 = 4.3;
const MASKS_PER_ROW: f32 = 1.2;
const DENSE_FIXED: f32 = 46.0;
const DENSE_PER_ROW: f32 = 0.34;

/// One listed non-zero: (column, channel, value).
type Entry = (u32, u32, f32);

/// The non-zero values of one sample, row by row: `(column, channel, value)` in (column,
/// channel) order, row `y`'s at `entries[row_at[y]..row_at[y + 1]]`.
#[derive(Default)]
pub struct Rows {
    entries: Vec<Entry>,
    row_at: Vec<usize>,
    shape: (usize, usize, usize),
    /// Or one bit per value, for the AVX-512 build ([`super::conv_strip_avx512`]).
    pub(super) bits: Vec<u64>,
}

impl Rows {
    /// (channels, height, width) of the sample listed last.
    pub fn shape(&self) -> (usize, usize, usize) {
        self.shape
    }
    pub(super) fn set_shape(&mut self, si: Shape) {
        self.shape = (si.c, si.h, si.w);
    }

    /// Lists the non-zeros of `x` (`[H·W, ci]`); with `split`, groups of rows in parallel (for
    /// batches smaller than the thread count: at batch 1 the sample is all the work there is).
    pub fn fill(&mut self, x: &[f32], si: Shape, split: bool) {
        assert_eq!(x.len(), si.len());
        let parts = if split { rayon::current_num_threads().min(si.h).max(1) } else { 1 };
        let per = si.h.div_ceil(parts).max(1);
        let row = si.w * si.c;
        // Each group's entries and where each of its rows starts in them.
        let groups: Vec<(Vec<Entry>, Vec<usize>)> = x
            .par_chunks(per * row)
            .map(|rows| {
                let (mut entries, mut at) = (Vec::new(), Vec::with_capacity(per));
                for r in rows.chunks_exact(row) {
                    at.push(entries.len());
                    list_row(r, si.c, &mut entries);
                }
                (entries, at)
            })
            .collect();
        self.entries.clear();
        self.row_at.clear();
        for (entries, at) in groups {
            let base = self.entries.len();
            self.row_at.extend(at.iter().map(|a| base + a));
            self.entries.extend_from_slice(&entries);
        }
        self.row_at.push(self.entries.len());
        self.shape = (si.c, si.h, si.w);
    }
}

/// Appends the non-zeros of one input row (`[W, ci]`) to `entries`, skipping all-zero runs of
/// 16 values with one vector test each.
fn list_row(row: &[f32], ci: usize, entries: &mut Vec<Entry>) {
    const RUN: usize = 16;
    for (r, run) in row.chunks(RUN).enumerate() {
        if run.iter().fold(false, |any, &v| any | (v != 0.0)) {
            for (j, &v) in run.iter().enumerate() {
                if v != 0.0 {
                    let i = r * RUN + j;
                    entries.push(((i / ci) as u32, (i % ci) as u32, v));
                }
            }
        }
    }
}

/// Output rows `t.pixels` (whole rows) of blocks `t.blocks` of the sample whose non-zeros `x`
/// lists.
pub fn task(t: &Task, x: &Rows, g: &Geometry) {
    let w = g.so.w;
    assert!(t.pixels.start.is_multiple_of(w) && t.pixels.len().is_multiple_of(w) && t.pixels.end <= g.so.h * w);
    assert!(x.shape == (g.ci(), g.si.h, g.si.w) && t.blocks.end <= g.p.blocks() && g.simd);
    #[cfg(target_arch = "x86_64")]
    {
        if g.avx512 {
            // SAFETY: `g.avx512` is only set where AVX-512F (and AVX2, FMA) were detected.
            return unsafe { dispatch!(g.stored(), task_avx512(t, x, g)) };
        }
        // SAFETY: `g.simd` is only set where AVX2 and FMA were detected (asserted above).
        unsafe { dispatch!(g.stored(), task_avx2(t, x, g)) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    dispatch!(g.stored(), task_generic(t, x, g))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn task_avx512<W: Weight>(t: &Task, x: &Rows, g: &Geometry) {
    task_generic::<W>(t, x, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn task_avx2<W: Weight>(t: &Task, x: &Rows, g: &Geometry) {
    task_generic::<W>(t, x, g)
}

#[inline(always)]
fn task_generic<W: Weight>(t: &Task, x: &Rows, g: &Geometry) {
    match g.nb() {
        64 => blocks::<64, W>(t, x, g),
        32 => blocks::<32, W>(t, x, g),
        16 => blocks::<16, W>(t, x, g),
        _ => blocks::<8, W>(t, x, g),
    }
}

#[inline(always)]
fn blocks<const N: usize, W: Weight>(t: &Task, x: &Rows, g: &Geometry) {
    assert_eq!(N, g.nb());
    let (si, so, k, s, pad) = (g.si, g.so, g.k(), g.stride(), g.pad());
    let (cw, kk, co) = (g.cw(), k * k, g.co());
    // The weight row of (channel, tap) within a block: chunk, then tap, then channel.
    let row_of = |c: usize, tap: usize| ((c / cw) * kk * cw + tap * cw + c % cw) * N;
    for blk in t.blocks.clone() {
        let (wts, bias) = g.block::<W>(blk);
        let bias: &[f32; N] = bias.first_chunk().expect("bias block of N lanes");
        let (c0, lanes) = (blk * N, N.min(co - blk * N));
        for p in t.pixels.clone().step_by(so.w) {
            let oy = p / so.w;
            // Per tap row, the first listed value not left of the current strip's windows (the
            // strips go left to right, so it only moves right).
            let mut first = vec![0usize; k];
            for ox0 in (0..so.w).step_by(STRIP) {
                let n = STRIP.min(so.w - ox0);
                let mut acc = [*bias; STRIP];
                // The columns of the strip's windows: ox · s + kx − pad.
                let (lo, hi) = (ox0 * s, (ox0 + n - 1) * s + k);
                for ky in 0..k {
                    let Some(iy) = (oy * s + ky).checked_sub(pad).filter(|&y| y < si.h) else { continue };
                    let line = &x.entries[x.row_at[iy]..x.row_at[iy + 1]];
                    let from = &mut first[ky];
                    while line.get(*from).is_some_and(|e| (e.0 as usize + pad) < lo) {
                        *from += 1;
                    }
                    for &(ix, c, v) in &line[*from..] {
                        let col = ix as usize + pad;
                        if col >= hi {
                            break;
                        }
                        // Every lane of the strip, past `n` too (a strip's last pixels past the
                        // row's end are never stored), so the loop unrolls and `acc` stays in
                        // registers.
                        for (j, a) in acc.iter_mut().enumerate() {
                            // Tap column kx = col − (ox0 + j) · s, if inside the kernel.
                            let Some(kx) = col.checked_sub((ox0 + j) * s).filter(|&kx| kx < k) else { continue };
                            let w: &[W; N] = wts[row_of(c as usize, ky * k + kx)..][..N].try_into().expect("a row of N lanes");
                            for i in 0..N {
                                a[i] = v.mul_add(w[i].widen(), a[i]);
                            }
                        }
                    }
                }
                for (j, a) in acc.iter().enumerate().take(n) {
                    let out = a.map(|v| v * g.scale);
                    t.store_lanes(co, p + ox0 + j, c0, &out, lanes);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists built in parallel groups of rows (three threads, uneven groups, runs of 16
    /// values that straddle pixels) equal those built in one piece, and hold every non-zero.
    #[test]
    fn rows_in_groups_equal_one_piece() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("a pool of 3 threads");
        for (c, h, w) in [(3, 7, 11), (2, 1, 40), (1, 13, 5), (6, 4, 3)] {
            let si = Shape::new(c, h, w);
            let x: Vec<f32> = (0..si.len()).map(|i| if (i * 7919) % 13 < 2 { (i % 5) as f32 - 2.5 } else { 0.0 }).collect();
            let (mut one, mut split) = (Rows::default(), Rows::default());
            one.fill(&x, si, false);
            pool.install(|| split.fill(&x, si, true));
            assert_eq!((&one.entries, &one.row_at), (&split.entries, &split.row_at), "{c}×{h}×{w}");
            let listed: Vec<f32> = one.entries.iter().map(|e| e.2).collect();
            let want: Vec<f32> = x.iter().copied().filter(|&v| v != 0.0).collect();
            assert_eq!(listed, want);
            for (y, r) in one.row_at.windows(2).enumerate() {
                for &(ix, ch, v) in &one.entries[r[0]..r[1]] {
                    assert_eq!(x[(y * w + ix as usize) * c + ch as usize], v);
                }
            }
        }
    }
}

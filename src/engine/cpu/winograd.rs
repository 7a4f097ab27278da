//! Winograd F(2×2, 3×3) for 3×3 stride-1 pad-1 convolutions with a dense enough input: each
//! 2×2 output tile costs 16 multiply-adds per input channel and output channel instead of 36.
//! Layers whose weights round anyway may take F(4×4, 3×3) instead ([`super::winograd_f4`], its
//! transforms; 36 per 4×4 tile), where [`super::conv_choice::winograd_tile`] finds it faster.
//!
//! `U = G g Gᵀ` (weights, packed once), `V = Bᵀ d B` (each 4×4 input window), `M[ξ] = V[ξ] · U[ξ]`
//! (16 matrix products over the input channels, [`super::conv_dense`]'s FMA tile), `Y = Aᵀ M A`.
//! The transforms only add, subtract and halve, so with dyadic weights and inputs (the exact
//! fixtures: sums need ≤ 17 of float32's 24 bits, Winograd's intermediates a few more) every
//! value is exact and the output equals the direct convolution bit for bit; otherwise it
//! differs by rounding, as any other summation order would.
//! Layouts, with `ξ` over the 16 (F(2×2)) or 36 (F(4×4)) points of the transformed tile: `U`
//! `[ξ][co/16][ci][16]`, `V` `[tile/MR][ξ][ci/8][MR][8]` (packed panels: the product streams
//! one), `M` `[tile][ξ][co/16·16]`; tiles over the whole batch (`b`, `ty`, `tx`) so batches make
//! taller matrices.
//!
//! Measured and not kept (2026-12-07 09:00 UTC, Zen 5): panels of nine tiles instead of six
//! on AVX-512 (eighteen accumulators; 6×6 and 12×12 images fill them exactly, where 512 → 512 at
//! 6×6 computes twelve rows for nine tiles): vgg11_48_legacy at batch 1 5.07–5.22 → 5.15–5.77
//! ms (features.15 0.54–0.60 → 0.65–0.76: it streams its weights from memory, so the spared
//! rows do not show), batch 16 the same.
//! Measured and not kept (2026-12-08 00:30 UTC, Zen 5): the last two groups of a product whose
//! last group has at most three tiles (6×6: six and three) in one pass of nine rows and three
//! blocks (27 accumulators, each block's weights read once, no padded rows; the same bits). On
//! 512 → 512 at 6×6 alone it was faster (min of 40 calls, weights in cache 0.49 → 0.39 ms,
//! flushed 0.58 → 0.54), but in vgg11_48_legacy at batch 1 on one thread, four interleaved
//! pairs, features.15 went 0.55–0.59 → 0.62–0.65 ms (and no faster on two threads).
//! Measured and not kept (2026-12-07 03:35 UTC, Zen 5): the input and output transforms built
//! for AVX2 (they run as baseline SSE code inside rayon's closures): `bench --arch
//! vgg11_48_legacy` at 1 thread moved by less than its noise (batch 1 6.9–7.7 ms both ways,
//! batch 16 107–112 ms), as did training; the transforms wait on memory, not on arithmetic.

use rayon::prelude::*;

use super::conv_dense::{self, MR};
use super::conv_store::Fused;
use super::winograd_bf16::{self as bf16, to_bf16};
use super::winograd_f4 as f4;
use crate::model::graph::{Conv, Shape};

/// Bytes of (f32) V panels one product task reads: a run of tile groups that stays in L2 (half
/// of Zen 4's 1 MB). At batch 16, features.5 of vgg11_48_legacy: 60–75 ms with runs of 192 or
/// 512 KB against 72–93 ms reading all of V[ξ] once per block (load 6–7, two rounds).
const RUN_BYTES: usize = 512 * 1024;

/// How many pairs of output channel blocks ahead of its products a pair's weights are asked for
/// in L2 ([`ahead`]): 512 → 512 channels at 6×6, batch 1, caches flushed: 0.97–1.03 ms without,
/// 0.75–0.81 one pair ahead, 0.59–0.66 two, the same at three and four (Zen 5, 2026-12-07).
const PAIRS_AHEAD: usize = 2;
/// The same for quads of blocks (AVX-512, f32): the same distance in blocks.
const QUADS_AHEAD: usize = 1;

/// Bytes of V and M (f32) one pass of [`conv`] holds at most, where the weights are smaller:
/// vgg11_48_legacy's 128 → 256 layer at 24×24, batch 16 (31.6 MB of V and M, F(4×4)), one
/// thread: 10.6–11.5 ms whole against 9.4–10.2 in parts of 4 or 8 MB (Zen 5, 2026-12-07).
/// The 256 → 512 layer at 12×12 (18.9 MB of F(4×4) weights, 16 MB of V and M) in parts all the
/// same, each streaming the weights again: 7.7–8.0 → 8.3–9.4 ms, so parts stay at least twice
/// the weights.
const SUB_BYTES: usize = 6 << 20;

/// Weights in the Winograd domain.
pub struct Winograd {
    /// Output tile side: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)).
    m: usize,
    /// Output channel blocks of 16.
    cb: usize,
    u: Domain,
}

/// The transformed weights, zero past `co`.
enum Domain {
    /// `[ξ][cb][ci][16]`.
    F32(Vec<f32>),
    /// `[16][cb][ci/2][16]` bf16 pairs (F(2×2) only) ([`super::winograd_bf16`]).
    Bf16(Vec<u32>),
}

impl Winograd {
    /// Transformed weights, for 3×3 stride-1 pad-1 convolutions of 16 or more input channels (with
    /// fewer the transforms cost more than they save), a multiple of 8 (the panel's channel
    /// blocks), on a CPU with the FMA tile, for output tiles of `m` × `m` (2, or 4 in f32). With
    /// `bf16` (`--precision bf16`) and AVX512_BF16 the transformed weights are rounded to bf16 for
    /// [`super::winograd_bf16`]'s products.
    pub fn new(c: &Conv, bf16: bool, m: usize) -> Option<Self> {
        if c.kernel != 3 || c.stride != 1 || c.padding != 1 || c.in_ch < 16 || !c.in_ch.is_multiple_of(8) || !conv_dense::available() {
            return None;
        }
        let bf16 = bf16 && bf16::available();
        assert!(m == 2 || (m == 4 && !bf16), "F(2×2), or F(4×4) with f32 products");
        let (ci, co) = (c.in_ch, c.out_ch);
        let cb = co.div_ceil(16);
        let xis = (m + 2) * (m + 2);
        let mut u = super::precision::zeroed(xis * cb * ci * 16);
        // Each block of 16 output channels owns its `[ci][16]` slice of every ξ: blocks in
        // parallel, each ξ's lanes written a line at a time. The trainer packs its layers twice
        // per step; this, instead of a scattered store per value and a `Vec` per pair, with the
        // other packing changes of 54cf50b took a width/8 vgg11_48_legacy's packing from 2.71 to
        // 0.88 ms per step (`pack_rates`, two threads, Zen 5, 2026-12-07).
        let mut by_block: Vec<Vec<&mut [f32]>> = (0..cb).map(|_| Vec::with_capacity(xis)).collect();
        for (at, slice) in u.chunks_exact_mut(ci * 16).enumerate() {
            by_block[at % cb].push(slice);
        }
        by_block.into_par_iter().enumerate().for_each(|(blk, mut points)| {
            let outs = blk * 16..co.min(blk * 16 + 16);
            for i in 0..ci {
                // The block's 16 lanes of every ξ for input channel `i`, then stored a line per ξ.
                let mut lanes = [[0f32; 16]; 36];
                for o in outs.clone() {
                    let g: [f64; 9] = std::array::from_fn(|t| f64::from(c.weight[(o * ci + i) * 9 + t]));
                    if m == 4 {
                        for (xi, v) in f4::weights(&g).into_iter().enumerate() {
                            lanes[xi][o % 16] = v as f32;
                        }
                        continue;
                    }
                    // G g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2 of the 3×3 kernel's rows.
                    let t: [[f64; 3]; 4] = std::array::from_fn(|r| std::array::from_fn(|x| {
                        let (a, b, d) = (g[x], g[3 + x], g[6 + x]);
                        [a, (a + b + d) / 2.0, (a - b + d) / 2.0, d][r]
                    }));
                    for (r, t) in t.iter().enumerate() {
                        let row = [t[0], (t[0] + t[1] + t[2]) / 2.0, (t[0] - t[1] + t[2]) / 2.0, t[2]];
                        for (x, v) in row.into_iter().enumerate() {
                            lanes[r * 4 + x][o % 16] = v as f32;
                        }
                    }
                }
                for (point, lanes) in points.iter_mut().zip(&lanes) {
                    point[i * 16..i * 16 + 16].copy_from_slice(lanes);
                }
            }
        });
        let u = if bf16 { Domain::Bf16(bf16::pack(&u, ci)) } else { Domain::F32(u) };
        Some(Self { m, cb, u })
    }

    /// The output tile's side (2 or 4).
    pub fn tile(&self) -> usize {
        self.m
    }

}

/// Working memory of [`conv`], reused.
#[derive(Default)]
pub struct WinogradScratch {
    zero: Vec<f32>,
    v: Vec<f32>,
    /// `V` in bf16 for [`Domain::Bf16`]: `[tile/MR][16][MR][ci]`.
    vb: Vec<u16>,
    m: Vec<f32>,
}

/// `out[b] = scale[b] · (bias + conv3x3(input[b]))`; `input` `[B, H, W, Ci]`, `out` `[B, H, W, Co]`;
/// then the neurons of `fused` (if any) over each band of output rows as it is written
/// ([`Fused`]: the output transform's rows are still in cache).
#[allow(clippy::too_many_arguments)]
pub fn conv(input: &[f32], out: &mut [f32], si: Shape, so: Shape, w: &Winograd, bias: &[f32], scale: &[f32], s: &mut WinogradScratch, fused: Option<&Fused>) {
    let (batch, ci, co, cp, tm) = (scale.len(), si.c, so.c, w.cb * 16, w.m);
    let (th, tw) = (so.h.div_ceil(tm), so.w.div_ceil(tm));
    let tiles = batch * th * tw;
    let groups = tiles.div_ceil(MR);
    // Points of the transformed tile.
    let xis = (tm + 2) * (tm + 2);
    assert!(so.h == si.h && so.w == si.w && input.len() >= batch * si.len() && out.len() >= batch * so.len());
    // Batches whose V and M exceed SUB_BYTES go a few samples at a time, so that the transforms
    // find them in L3 (each tile's rows are computed alike in any group: the same bits); but
    // each part streams the weights again, so a part's V and M stay at least twice the weights.
    let per_sample = th * tw * xis * (ci + cp) * 4;
    let samples = (SUB_BYTES.max(2 * xis * ci * cp * 4) / per_sample).clamp(1, batch);
    if samples < batch {
        for b in (0..batch).step_by(samples) {
            let e = (b + samples).min(batch);
            conv(&input[b * si.len()..e * si.len()], &mut out[b * so.len()..e * so.len()], si, so, w, bias, &scale[b..e], s, fused.map(|f| f.samples_from(b)).as_ref());
        }
        return;
    }
    grow(&mut s.v, groups * xis * ci * MR);
    grow(&mut s.m, tiles * xis * cp);
    grow(&mut s.zero, ci);
    let zero = &s.zero[..ci];
    // V = Bᵀ d B for every tile, vectorised over input channels.
    s.v[..groups * xis * ci * MR].par_chunks_mut(xis * ci * MR).enumerate().for_each(|(group, v)| {
        for lane in 0..MR {
            let tile = group * MR + lane;
            if tile >= tiles {
                v.chunks_exact_mut(8).skip(lane).step_by(MR).for_each(|c| c.fill(0.0));
                continue;
            }
            let (b, ty, tx) = (tile / (th * tw), tile / tw % th, tile % tw);
            let sample = &input[b * si.len()..(b + 1) * si.len()];
            // d[r][x]: the window's pixels, zero outside the input.
            // (Row or column −1, the padding, wraps to usize::MAX, outside too.)
            let px = |r: usize, x: usize| -> &[f32] {
                let (y, xx) = ((tm * ty + r).wrapping_sub(1), (tm * tx + x).wrapping_sub(1));
                if y < si.h && xx < si.w { &sample[(y * si.w + xx) * ci..(y * si.w + xx + 1) * ci] } else { zero }
            };
            if tm == 4 {
                f4::input(&std::array::from_fn(|r| std::array::from_fn(|x| px(r, x))), v, lane, ci);
            } else {
                input_transform(&std::array::from_fn(|r| std::array::from_fn(|x| px(r, x))), v, lane, ci);
            }
        }
    });
    if let Domain::Bf16(_) = w.u {
        // V rounded to bf16, `[16][ci/8][MR][8]` → `[16][MR][ci]` per group.
        grow(&mut s.vb, groups * xis * ci * MR);
        s.vb[..groups * xis * ci * MR].par_chunks_mut(ci * MR).zip(s.v.par_chunks(ci * MR)).for_each(|(dst, src)| {
            for (c8, block) in src.chunks_exact(MR * 8).enumerate() {
                for (lane, vals) in block.chunks_exact(8).enumerate() {
                    for (d, &x) in dst[lane * ci + c8 * 8..][..8].iter_mut().zip(vals) {
                        *d = to_bf16(x);
                    }
                }
            }
        });
    }
    // M[ξ] = V[ξ] · U[ξ], one task per (ξ, run of tile groups): each task reads its part of V
    // once (a run fits L2), and for every unit of output channel blocks (one block of 16 in f32
    // with AVX2; two with AVX-512 and in bf16, where they share each broadcast input) goes over
    // the run's groups with that unit's weights in L1.
    let m = SharedMut(s.m.as_mut_ptr(), s.m.len());
    let (v, vb) = (&s.v, &s.vb);
    // Two blocks per pass in bf16, and in f32 with AVX-512 (twelve accumulators).
    let f32_avx512 = matches!(w.u, Domain::F32(_)) && super::conv_spikes_avx512::enabled();
    let per = if f32_avx512 { 4 } else if matches!(w.u, Domain::Bf16(_)) { 2 } else { 1 };
    let run = (RUN_BYTES / (ci * MR * 4)).clamp(1, groups);
    let runs = groups.div_ceil(run);
    (0..xis * runs).into_par_iter().for_each(|task| {
        let (xi, r) = (task / runs, task % runs);
        // The products' tiles, written in full by each call (kept here, not returned by value).
        let (mut quad, mut pair, mut one) = ([[[0f32; 16]; MR]; 4], [[[0f32; 16]; MR]; 2], [[[0f32; 16]; MR]; 1]);
        let run_groups = r * run..((r + 1) * run).min(groups);
        for first in (0..w.cb).step_by(per) {
            for g in run_groups.clone() {
                let panel = (g * xis + xi) * ci * MR..(g * xis + xi + 1) * ci * MR;
                let store = |blk: usize, tile: &[[f32; 16]; MR]| {
                    for (i, row) in tile.iter().take(tiles - g * MR).enumerate() {
                        // F(2×2): `[tile][ξ][cp]`; F(4×4): `[tile][cb][ξ][16]`, so that its output
                        // transform reads each block of 16 channels of a tile in one run.
                        let t = g * MR + i;
                        let at = if tm == 4 { ((t * w.cb + blk) * xis + xi) * 16 } else { (t * xis + xi) * cp + blk * 16 };
                        // SAFETY: tasks write disjoint (ξ, tile) rows of `m`, which outlives them.
                        unsafe { m.write(at, row) };
                    }
                };
                match &w.u {
                    Domain::F32(u) => {
                        let uf = |blk: usize| &u[(xi * w.cb + blk) * ci * 16..][..ci * 16];
                        // Blocks first..end: a quad (AVX-512), then pairs, then one.
                        let (end, mut blk) = ((first + per).min(w.cb), first);
                        if end - blk == 4 {
                            let ahead = ahead(u, (xi * w.cb + first + 4 * QUADS_AHEAD) * ci * 16, 4 * ci, g - run_groups.start, run_groups.len());
                            conv_dense::gemm_tiles16(&v[panel.clone()], ci, [uf(blk), uf(blk + 1), uf(blk + 2), uf(blk + 3)], &mut quad, ahead);
                            for (q, tile) in quad.iter().enumerate() {
                                store(blk + q, tile);
                            }
                            blk += 4;
                        }
                        while per > 1 && end - blk >= 2 {
                            let ahead = ahead(u, (xi * w.cb + blk + 2 * PAIRS_AHEAD) * ci * 16, 2 * ci, g - run_groups.start, run_groups.len());
                            conv_dense::gemm_tiles16(&v[panel.clone()], ci, [uf(blk), uf(blk + 1)], &mut pair, ahead);
                            store(blk, &pair[0]);
                            store(blk + 1, &pair[1]);
                            blk += 2;
                        }
                        for blk in blk..end {
                            store(blk, &conv_dense::gemm_tile16(&v[panel.clone()], ci, uf(blk)));
                        }
                    }
                    Domain::Bf16(u) => {
                        let ub = |blk: usize| &u[(xi * w.cb + blk) * ci * 8..][..ci * 8];
                        if first + 1 < w.cb {
                            bf16::gemm_tiles16::<2>(&vb[panel], ci, [ub(first), ub(first + 1)], &mut pair);
                            store(first, &pair[0]);
                            store(first + 1, &pair[1]);
                        } else {
                            bf16::gemm_tiles16::<1>(&vb[panel], ci, [ub(first)], &mut one);
                            store(first, &one[0]);
                        }
                    }
                }
            }
        }
    });
    // Y = Aᵀ M A, plus bias, times the lane's scale, into the output pixels inside the image.
    let mm = &s.m;
    if tm == 4 {
        // Per sample, per row of tiles: all of a tile's rows at once, so M is read once.
        out[..batch * so.len()].par_chunks_mut(so.len()).enumerate().for_each(|(b, sample)| {
            sample.par_chunks_mut(4 * so.w * co).enumerate().for_each(|(ty, rows)| {
                for tx in 0..tw {
                    let mt = &mm[((b * th + ty) * tw + tx) * 36 * cp..][..36 * cp];
                    f4::output(mt, rows, so.w * co, tx * 4 * co, &bias[..co], scale[b]);
                }
                if let Some(f) = fused {
                    // SAFETY: this band of rows is this closure's alone.
                    unsafe { f.slice(b, ty * 4 * so.w * co, rows) };
                }
            });
        });
        return;
    }
    out.par_chunks_mut(so.w * co).take(batch * so.h).enumerate().for_each(|(r, row)| {
        let (b, y) = (r / so.h, r % so.h);
        let (ty, dy) = (y / 2, y % 2);
        let (bias, sc) = (&bias[..co], scale[b]);
        for tx in 0..tw {
            let mt = &mm[((b * th + ty) * tw + tx) * 16 * cp..][..16 * cp];
            // Row dy of T = Aᵀ M (4 vectors over c), then Y = T A, plus bias, times the scale.
            let first = if dy == 0 { 0 } else { 4 };
            let m: [[&[f32]; 4]; 3] = std::array::from_fn(|k| std::array::from_fn(|x| &mt[(first + 4 * k + x) * cp..][..co]));
            let sign = if dy == 0 { 1.0 } else { -1.0 };
            let (o0, o1) = row[2 * tx * co..].split_at_mut(co);
            let o1 = if 2 * tx + 1 < so.w { Some(&mut o1[..co]) } else { None };
            match o1 {
                Some(o1) => {
                    for c in 0..co {
                        let t: [f32; 4] = std::array::from_fn(|x| m[0][x][c] + sign * m[1][x][c] + sign * m[2][x][c]);
                        o0[c] = (t[0] + t[1] + t[2] + bias[c]) * sc;
                        o1[c] = (t[1] - t[2] - t[3] + bias[c]) * sc;
                    }
                }
                None => {
                    for c in 0..co {
                        let t: [f32; 4] = std::array::from_fn(|x| m[0][x][c] + sign * m[1][x][c] + sign * m[2][x][c]);
                        o0[c] = (t[0] + t[1] + t[2] + bias[c]) * sc;
                    }
                }
            }
        }
        if let Some(f) = fused {
            // SAFETY: this row is this closure's alone.
            unsafe { f.slice(b, y * so.w * co, row) };
        }
    });
}

/// Lane `lane` of a group's panel `v` `[16][ci/8][MR][8]` = `(Bᵀ d B)[ξ]` for every channel:
/// `d[r][x]` the 4×4 window's pixels (`ci` each). Bᵀ's rows are d0 − d2, d1 + d2, d2 − d1,
/// d1 − d3; B is its transpose. Eight channels at a time (one AVX2 register).
#[allow(clippy::needless_range_loop)] // r indexes the rows of four arrays at once
fn input_transform(d: &[[&[f32]; 4]; 4], v: &mut [f32], lane: usize, ci: usize) {
    type V8 = [f32; 8];
    let add = |a: V8, b: V8| -> V8 { std::array::from_fn(|i| a[i] + b[i]) };
    let sub = |a: V8, b: V8| -> V8 { std::array::from_fn(|i| a[i] - b[i]) };
    let c8 = ci / 8;
    for cb in 0..c8 {
        let ld = |r: usize, x: usize| -> V8 { *d[r][x][cb * 8..].first_chunk().expect("8 channels") };
        // a[x][r] = (Bᵀ d)[r][x]
        let a: [[V8; 4]; 4] = std::array::from_fn(|x| {
            let (d0, d1, d2, d3) = (ld(0, x), ld(1, x), ld(2, x), ld(3, x));
            [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)]
        });
        for r in 0..4 {
            let (a0, a1, a2, a3) = (a[0][r], a[1][r], a[2][r], a[3][r]);
            for (x, val) in [sub(a0, a2), add(a1, a2), sub(a2, a1), sub(a1, a3)].into_iter().enumerate() {
                let at = (((r * 4 + x) * c8 + cb) * MR + lane) * 8;
                v[at..at + 8].copy_from_slice(&val);
            }
        }
    }
}

/// The part of the weights that group `j` of a run of `groups` asks for in L2: a later pair
/// of blocks (`lines` cache lines from `from`, cut at the end of `u`; the products stream `U` in
/// order, so past the last pairs of ξ lie the first of ξ + 1), split evenly over the run's
/// groups. Without it a pair's weights come from memory while the first group's FMAs wait on
/// them: at batch 1, 512 → 512 channels at 6×6 took 0.97 ms with the caches flushed against
/// 0.52 ms with the weights in L3.
fn ahead(u: &[f32], from: usize, lines: usize, j: usize, groups: usize) -> &[f32] {
    let at = |j: usize| (from + 16 * (j * lines / groups)).min(u.len());
    &u[at(j)..at(j + 1)]
}

/// Grows `v` to at least `len` (never shrinks: layers share the buffer, and shrinking would
/// make the next larger layer zero-fill it again).
fn grow<T: Default + Clone>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::default());
    }
}

struct SharedMut(*mut f32, usize);
// SAFETY: only used for disjoint writes while the owner is borrowed (see `conv`).
unsafe impl Sync for SharedMut {}
impl SharedMut {
    /// # Safety
    /// No other thread may access `at..at + 16` concurrently.
    unsafe fn write(&self, at: usize, row: &[f32; 16]) {
        assert!(at + 16 <= self.1);
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), self.0.add(at), 16) }
    }
}

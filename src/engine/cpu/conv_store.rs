//! Where the conv kernels' tasks put their results: the output of every sample
//! ([`OutPlanes`]), each task's rectangle of it ([`Task`]), and the neuron layer a conv runs on
//! its output in place ([`Fused`]).
//!
//! Where a conv's only reader is the neuron layer after it (conv, folded BN, LIF: every
//! spiking block), the backend hands the conv that layer, and the conv's output buffer is the
//! layer's: its values (the neurons' inputs) become the neurons' outputs in place, so there is
//! no separate tensor for the conv to write and the neurons to read back. Winograd runs the
//! neurons of each band of output rows as its output transform writes it (still in cache); the
//! other kernels, in one pass over the output after their tasks ([`Fused::pass`]), which also
//! runs an average pool of non-overlapping windows after the layer on each piece of rows it has
//! just updated ([`PoolInto`]). Every neuron takes the same rule on the same value as in the
//! separate pass ([`super::kernels::neuron_in_place`]), every pooled value the same sum
//! ([`super::pool::pool_row`]): the same bits, the same spike counts. The pool fused so
//! (2026-12-07 15:55 UTC, batch 16, one thread): features.2 with its neurons and pool 11.8–12.1
//! → 11.3–11.9 ms; the step within noise (73.7–75.3 against 73.6–74.3 ms).
//!
//! vgg11_48_legacy, batch 16, one thread (Zen 5, 2026-12-07 14:20 UTC, interleaved): the step
//! 76.8–79.1 → 72.2–76.3 ms; features.5 (Winograd) and its neurons 10.4–10.8 → 9.1–9.4 ms.
//! Measured and dropped: the spike, strip, sparse and dense kernels running each task's
//! neurons right after its stores (features.7 and its neurons 17.4–18.0 → 19.2–20.0 ms at
//! batch 16: the rectangle's membranes, streamed through L2, evict the block's weights that
//! the next task reuses); at batch 1 on two threads, no gain (2.83–3.11 → 2.91–3.12 ms).
//! The neuron loop has AVX2 and AVX-512 builds here (at batch 1 its inputs are in cache):
//! batch 1, one thread 5.05–5.13 → 4.91–5.06 ms.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use super::kernels::neuron_in_place;
use super::pool::pool_row;
use crate::model::graph::{Pool, Shape};
use crate::model::neuron::{NeuronKind, Rule};

/// Neurons per parallel piece of a neuron layer's sample.
pub const NEURON_PIECE: usize = 1 << 15;

/// The output of every sample, `[B, Ho·Wo·Co]`, written by concurrent tasks.
pub struct OutPlanes {
    ptr: *mut f32,
    len: usize,
    /// Values per sample.
    plane: usize,
}

// SAFETY: tasks write disjoint (sample, pixel range, block range) rectangles (see `conv`), and
// `conv` holds the `&mut` output slice for as long as they run.
unsafe impl Sync for OutPlanes {}

impl OutPlanes {
    /// The first `batch` samples of `out`, `plane` values each.
    pub fn new(out: &mut [f32], batch: usize, plane: usize) -> Self {
        assert!(out.len() >= batch * plane);
        Self { ptr: out.as_mut_ptr(), len: batch * plane, plane }
    }
}

/// One task's share of the output: pixels × blocks of output channels of one sample.
pub struct Task<'a> {
    pub out: &'a OutPlanes,
    pub sample: usize,
    pub pixels: Range<usize>,
    pub blocks: Range<usize>,
}

impl Task<'_> {
    /// [`Task::store`] of a whole block (a fixed-size copy, no `memcpy` call).
    #[inline(always)]
    pub fn store_block<const N: usize>(&self, co: usize, pixel: usize, c0: usize, values: &[f32; N]) {
        debug_assert!(self.pixels.contains(&pixel));
        let at = self.sample * self.out.plane + pixel * co + c0;
        assert!(c0 + N <= co && at + N <= self.out.len);
        // SAFETY: in bounds (asserted); no other task writes these elements (see `OutPlanes`).
        unsafe { (self.out.ptr.add(at) as *mut [f32; N]).write_unaligned(*values) }
    }

    /// [`Task::store_block`] of `values · scale`, multiplied straight into the output (the
    /// spike kernel's stores had built the products in a temporary and copied it, through a
    /// `memcpy` call for blocks of 8 lanes).
    #[inline(always)]
    pub fn store_scaled<const N: usize>(&self, co: usize, pixel: usize, c0: usize, values: &[f32; N], scale: f32) {
        debug_assert!(self.pixels.contains(&pixel));
        let at = self.sample * self.out.plane + pixel * co + c0;
        assert!(c0 + N <= co && at + N <= self.out.len);
        // SAFETY: in bounds (asserted) of the output, an f32 slice (so aligned for f32); no other
        // task touches these elements (see `OutPlanes`).
        let dst = unsafe { &mut *(self.out.ptr.add(at) as *mut [f32; N]) };
        dst.iter_mut().zip(values).for_each(|(d, v)| *d = v * scale);
    }

    /// The first `lanes` of `values` to channels `c0..` of output pixel `pixel`: a fixed-size
    /// copy ([`Task::store_block`]) where that is all `N` of them, else [`Task::store`] (whose
    /// runtime length calls `memcpy`: once per 64-byte row, 15 % of the dense kernel's time).
    #[inline(always)]
    pub fn store_lanes<const N: usize>(&self, co: usize, pixel: usize, c0: usize, values: &[f32; N], lanes: usize) {
        if lanes == N {
            self.store_block(co, pixel, c0, values);
        } else {
            self.store(co, pixel, c0, &values[..lanes]);
        }
    }

    /// Writes `values` to channels `c0..` of output pixel `pixel`, which must lie in this
    /// task's pixels and blocks.
    pub fn store(&self, co: usize, pixel: usize, c0: usize, values: &[f32]) {
        debug_assert!(self.pixels.contains(&pixel));
        let at = self.sample * self.out.plane + pixel * co + c0;
        assert!(c0 + values.len() <= co && at + values.len() <= self.out.len);
        // SAFETY: in bounds (asserted); no other task writes these elements (see `OutPlanes`).
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.out.ptr.add(at), values.len()) }
    }
}

/// A neuron layer run by the conv that feeds it (see the module doc): its kind or per-neuron
/// rules, the membranes of every sample, and the spikes each sample emitted.
#[derive(Clone, Copy)]
pub struct Fused<'a> {
    kind: &'a NeuronKind,
    /// Each neuron's rule `[H, W, C]` for a layer with per-neuron arrays.
    rules: Option<&'a [Rule]>,
    /// `[B, plane]`.
    mem: *mut f32,
    /// Neurons per sample.
    plane: usize,
    /// Spikes per sample, added to by every task.
    counts: &'a [AtomicU64],
    /// The build of the neuron loop that runs.
    isa: Isa,
    /// The average pool after the layer, run by [`Fused::pass`] on each piece it updates.
    pool: Option<PoolInto<'a>>,
}

/// An average pool of non-overlapping windows (kernel = stride, no padding) that reads a fused
/// neuron layer's output and nothing else does first: the layer's pass pools each piece of rows
/// right after updating it, while the spikes are in cache, instead of a pass that reads them back.
#[derive(Clone, Copy)]
pub struct PoolInto<'a> {
    p: &'a Pool,
    /// The neuron layer's shape and the pool's.
    si: Shape,
    so: Shape,
    /// `[B, so.len()]`.
    out: *mut f32,
    /// Set once [`Fused::pass`] has pooled (the other paths leave the pool to the caller).
    done: &'a AtomicBool,
}

/// The builds of [`neuron_in_place`]: at batch 1 the fused neurons find their inputs in cache,
/// where wider vectors pay.
#[derive(Clone, Copy)]
enum Isa {
    Base,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx512,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn in_place_avx2<'a>(kind: &NeuronKind, rules: Option<&[Rule]>, runs: impl Iterator<Item = (usize, &'a mut [f32], &'a mut [f32])>) -> u64 {
    neuron_in_place(kind, rules, runs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn in_place_avx512<'a>(kind: &NeuronKind, rules: Option<&[Rule]>, runs: impl Iterator<Item = (usize, &'a mut [f32], &'a mut [f32])>) -> u64 {
    neuron_in_place(kind, rules, runs)
}

// SAFETY: the threads that share a `Fused` run the neurons of disjoint ranges of each sample
// (`slice`'s contract), so each membrane is read and written by one thread; `new` holds the
// `&mut` for as long as the `Fused` lives.
unsafe impl Sync for Fused<'_> {}

impl<'a> Fused<'a> {
    /// The layer `kind` (each neuron's `rules` where it has per-neuron arrays) with membranes
    /// `mem`, `plane` per sample, for as many samples as `counts` has entries.
    pub fn new(kind: &'a NeuronKind, rules: Option<&'a [Rule]>, mem: &'a mut [f32], plane: usize, counts: &'a [AtomicU64]) -> Self {
        assert!(mem.len() >= counts.len() * plane && rules.is_none_or(|r| r.len() == plane));
        let isa = if super::conv_spikes_avx512::enabled() && is_x86_feature_detected_all() {
            Isa::Avx512
        } else if super::conv_dense::available() {
            Isa::Avx2
        } else {
            Isa::Base
        };
        Self { kind, rules, mem: mem.as_mut_ptr(), plane, counts, isa, pool: None }
    }

    /// The same layer, whose [`Fused::pass`] also runs the average pool `p` (kernel = stride, no
    /// padding) of its output `si` into `out` (`so`, for as many samples), setting `done`.
    pub fn with_pool(self, p: &'a Pool, si: Shape, so: Shape, out: &'a mut [f32], done: &'a AtomicBool) -> Self {
        assert!(p.kernel == p.stride && p.padding == 0 && p.kernel > 0 && si.len() == self.plane && out.len() >= self.counts.len() * so.len());
        assert!(so.h * p.kernel <= si.h && so.w * p.kernel <= si.w && so.c == si.c);
        Self { pool: Some(PoolInto { p, si, so, out: out.as_mut_ptr(), done }), ..self }
    }

    /// The same layer for samples `first..` only, numbered from 0 (a part of the batch).
    pub fn samples_from(&self, first: usize) -> Self {
        assert!(first <= self.counts.len());
        let pool = self.pool.map(|q| PoolInto { out: q.out.wrapping_add(first * q.so.len()), ..q });
        Self { mem: self.mem.wrapping_add(first * self.plane), counts: &self.counts[first..], pool, ..*self }
    }

    /// Runs the neurons of sample `b` over `xo`, its values `at..at + xo.len()` (in place).
    ///
    /// # Safety
    /// No other thread runs these neurons of sample `b` meanwhile.
    pub unsafe fn slice(&self, b: usize, at: usize, xo: &mut [f32]) {
        assert!(b < self.counts.len() && at + xo.len() <= self.plane);
        // SAFETY: in bounds of the sample's membranes (asserted), which the caller leaves to us.
        let mem = unsafe { std::slice::from_raw_parts_mut(self.mem.add(b * self.plane + at), xo.len()) };
        let runs = std::iter::once((at, mem, xo));
        #[cfg(target_arch = "x86_64")]
        let fired = match self.isa {
            // SAFETY: `isa` names features `new` detected.
            Isa::Avx512 => unsafe { in_place_avx512(self.kind, self.rules, runs) },
            Isa::Avx2 => unsafe { in_place_avx2(self.kind, self.rules, runs) },
            Isa::Base => neuron_in_place(self.kind, self.rules, runs),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let fired = neuron_in_place(self.kind, self.rules, runs);
        self.counts[b].fetch_add(fired, Ordering::Relaxed);
    }

    /// Runs the layer over `out`, every sample's values `[B, plane]`, in place, once the conv
    /// has written all of it, and the pool ([`Fused::with_pool`]) on each piece as it is done:
    /// per sample in parallel, in pieces of about [`NEURON_PIECE`] where the batch is smaller
    /// than the thread count (at batch 1 a layer's neurons are all the work), whole rows of
    /// pooling windows where there is a pool.
    pub fn pass(&self, out: &mut [f32]) {
        let plane = self.plane.max(1);
        let split = self.counts.len() < rayon::current_num_threads();
        let piece = match self.pool {
            None if split => NEURON_PIECE,
            Some(q) if split => {
                let band = q.p.kernel * q.si.w * q.si.c;
                band * (NEURON_PIECE / band.max(1)).max(1)
            }
            _ => plane,
        };
        out[..self.counts.len() * self.plane].par_chunks_mut(plane).enumerate().for_each(|(b, o)| {
            o.par_chunks_mut(piece.max(1)).enumerate().for_each(|(k, xo)| {
                // SAFETY: each piece of each sample is one closure's.
                unsafe { self.slice(b, k * piece, xo) };
                if let Some(q) = self.pool {
                    let width = q.si.w * q.si.c;
                    let first = k * piece / width.max(1);
                    let rows = first / q.p.kernel..((first + xo.len() / width.max(1)) / q.p.kernel).min(q.so.h);
                    for oy in rows {
                        // SAFETY: row `oy` of sample `b`'s pool output, inside it (`with_pool`
                        // checked the sizes); its windows' rows lie in this piece alone.
                        let row = unsafe { std::slice::from_raw_parts_mut(q.out.add(b * q.so.len() + oy * q.so.w * q.so.c), q.so.w * q.so.c) };
                        pool_row(xo, first, oy, row, q.si, q.so, q.p);
                    }
                }
            });
        });
        if let Some(q) = self.pool {
            q.done.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether the AVX-512 subsets the neuron loop's build uses beyond AVX-512F are present.
fn is_x86_feature_detected_all() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vl") && std::is_x86_feature_detected!("avx512dq");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

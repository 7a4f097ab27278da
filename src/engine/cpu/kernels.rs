//! The CPU kernels: the specification of every operation but pooling (`pool.rs`), on
//! channel-last buffers. The backend runs these except for convolutions, where `conv` runs
//! faster kernels checked against [`conv_scatter`] (`conv_tests`).

use rayon::prelude::*;

use super::precision::Weight;
use crate::model::graph::Shape;
use crate::model::neuron::{Charge, F32, Fire, NeuronKind, Reset, Rule};

/// `out[b, oy, ox, o] = bias[o] + Σ_{i,ky,kx} w[o, i, ky, kx] · in[b, oy·s + ky − p, ox·s + kx − p, i]`
///
/// Spikes are binary and sparse, so the input is first reduced to the list of non-zero
/// channels of every pixel; each output pixel then sums only the weight rows of those channels
/// (no multiplication when every input is 0 or 1), 64 output channels at a time held in
/// registers, and is stored once. Silent pixels cost nothing. Threads own output rows.
/// `input`: `[B, Hi, Wi, Ci]`; `out`: `[B, Ho, Wo, Co]`; `weight`: `[Ci, k, k, Co]`.
#[allow(clippy::too_many_arguments)]
pub fn conv_scatter(input: &[f32], out: &mut [f32], batch: usize, si: Shape, so: Shape, k: usize, stride: usize, pad: usize, weight: &[f32], bias: &[f32]) {
    let g = ConvGeometry { si, so, k, stride, pad };
    let nonzeros: Vec<Nonzeros> = input.par_chunks(si.len()).take(batch).map(|x| Nonzeros::of(x, si.c)).collect();
    let avx2 = has_avx2();
    out.par_chunks_mut(so.w * so.c).enumerate().take(batch * so.h).for_each(|(r, row)| {
        let (b, oy) = (r / so.h, r % so.h);
        let nz = &nonzeros[b];
        if avx2 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `has_avx2` checked that this CPU supports AVX2.
            unsafe {
                conv_row_avx2(row, nz, oy, &g, weight, bias)
            }
        } else {
            conv_row(row, nz, oy, &g, weight, bias)
        }
    });
}

/// The non-zero channels of every pixel of one sample (compressed rows).
pub struct Nonzeros {
    /// `start[p]..start[p + 1]` indexes the entries of pixel p.
    start: Vec<u32>,
    channel: Vec<u32>,
    value: Vec<f32>,
    /// Every non-zero value is exactly 1 (spikes): no multiplications needed.
    binary: bool,
}

impl Nonzeros {
    pub fn of(sample: &[f32], channels: usize) -> Self {
        let mut nz = Self { start: Vec::with_capacity(sample.len() / channels + 1), channel: Vec::new(), value: Vec::new(), binary: true };
        nz.start.push(0);
        for px in sample.chunks_exact(channels) {
            for (c, &v) in px.iter().enumerate() {
                if v != 0.0 {
                    nz.channel.push(c as u32);
                    nz.value.push(v);
                    nz.binary &= v == 1.0;
                }
            }
            nz.start.push(nz.channel.len() as u32);
        }
        nz
    }
}

struct ConvGeometry {
    si: Shape,
    so: Shape,
    k: usize,
    stride: usize,
    pad: usize,
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// [`conv_row`] compiled for AVX2 (8-wide adds); chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_row_avx2(row: &mut [f32], nz: &Nonzeros, oy: usize, g: &ConvGeometry, weight: &[f32], bias: &[f32]) {
    conv_row(row, nz, oy, g, weight, bias)
}

/// One output row `[Wo, Co]` of [`conv_scatter`].
#[inline(always)]
fn conv_row(row: &mut [f32], nz: &Nonzeros, oy: usize, g: &ConvGeometry, weight: &[f32], bias: &[f32]) {
    let (si, so, k) = (g.si, g.so, g.k);
    let co = so.c;
    // (input pixel, offset of the (ky, kx) weight rows) of every tap inside the input.
    let mut taps = Vec::with_capacity(k * k);
    for ox in 0..so.w {
        taps.clear();
        for ky in 0..k {
            let Some(iy) = (oy * g.stride + ky).checked_sub(g.pad).filter(|&y| y < si.h) else { continue };
            for kx in 0..k {
                let Some(ix) = (ox * g.stride + kx).checked_sub(g.pad).filter(|&x| x < si.w) else { continue };
                taps.push((iy * si.w + ix, (ky * k + kx) * co));
            }
        }
        let px = &mut row[ox * co..(ox + 1) * co];
        let stride_ci = k * k * co;
        let mut c0 = 0;
        while c0 + 64 <= co {
            if nz.binary { block::<64, true>(px, c0, &taps, nz, weight, stride_ci, bias) } else { block::<64, false>(px, c0, &taps, nz, weight, stride_ci, bias) }
            c0 += 64;
        }
        while c0 + 8 <= co {
            if nz.binary { block::<8, true>(px, c0, &taps, nz, weight, stride_ci, bias) } else { block::<8, false>(px, c0, &taps, nz, weight, stride_ci, bias) }
            c0 += 8;
        }
        while c0 < co {
            block::<1, false>(px, c0, &taps, nz, weight, stride_ci, bias);
            c0 += 1;
        }
    }
}

/// Output channels `c0..c0 + N` of one pixel: bias plus the weight rows of every non-zero input
/// under every tap, accumulated in registers.
#[inline(always)]
fn block<const N: usize, const BINARY: bool>(px: &mut [f32], c0: usize, taps: &[(usize, usize)], nz: &Nonzeros, weight: &[f32], stride_ci: usize, bias: &[f32]) {
    let mut acc = [0f32; N];
    acc.copy_from_slice(&bias[c0..c0 + N]);
    for &(pixel, offset) in taps {
        let (from, to) = (nz.start[pixel] as usize, nz.start[pixel + 1] as usize);
        for j in from..to {
            let at = nz.channel[j] as usize * stride_ci + offset + c0;
            let Some(w) = weight.get(at..at + N).and_then(|w| w.first_chunk::<N>()) else { continue };
            if BINARY {
                for i in 0..N {
                    acc[i] += w[i];
                }
            } else {
                let v = nz.value[j];
                for i in 0..N {
                    acc[i] += v * w[i];
                }
            }
        }
    }
    px[c0..c0 + N].copy_from_slice(&acc);
}

/// Runs `$body` with `$r` bound to `$rule` rebuilt from literal variants, one copy per
/// combination of charge form, fire and reset. In each copy the compiler knows which arms
/// [`crate::model::neuron::Rule::step`] takes, so the loop over neurons is straight-line
/// (vectorised) code instead of three branches per neuron.
macro_rules! specialised {
    ($rule:expr, |$r:ident| $body:expr) => {{
        let rule: Rule = $rule;
        match rule.charge {
            Charge::Decay { a } => specialised!(@fire rule, Charge::Decay { a }, $r, $body),
            Charge::TauInput { tau } => specialised!(@fire rule, Charge::TauInput { tau }, $r, $body),
            Charge::TauInputTo { tau, v_r } => specialised!(@fire rule, Charge::TauInputTo { tau, v_r }, $r, $body),
            Charge::TauTo { tau, v_r } => specialised!(@fire rule, Charge::TauTo { tau, v_r }, $r, $body),
            Charge::Integrate => specialised!(@fire rule, Charge::Integrate, $r, $body),
            Charge::Euler { k, v_leak } => specialised!(@fire rule, Charge::Euler { k, v_leak }, $r, $body),
            Charge::LeakBox { k, v_leak } => specialised!(@fire rule, Charge::LeakBox { k, v_leak }, $r, $body),
        }
    }};
    (@fire $rule:ident, $charge:expr, $r:ident, $body:expr) => {
        match $rule.fire {
            Fire::Above => specialised!(@reset $rule, $charge, Fire::Above, $r, $body),
            Fire::AtLeast => specialised!(@reset $rule, $charge, Fire::AtLeast, $r, $body),
            Fire::Never => specialised!(@reset $rule, $charge, Fire::Never, $r, $body),
            // Counting neurons take `count_one` before this; the arm is for exhaustiveness and
            // is not multiplied out per reset.
            Fire::Count => specialised!(@run $rule, $charge, Fire::Count, $rule.reset, $r, $body),
        }
    };
    (@reset $rule:ident, $charge:expr, $fire:expr, $r:ident, $body:expr) => {
        match $rule.reset {
            Reset::Soft => specialised!(@run $rule, $charge, $fire, Reset::Soft, $r, $body),
            // Reset to +0 (the usual value) as a constant: a select against zero is one op fewer.
            Reset::Hard(v) if v.to_bits() == 0 => specialised!(@run $rule, $charge, $fire, Reset::Hard(0.0), $r, $body),
            Reset::Hard(v) => specialised!(@run $rule, $charge, $fire, Reset::Hard(v), $r, $body),
            Reset::None => specialised!(@run $rule, $charge, $fire, Reset::None, $r, $body),
            Reset::SoftSnntorch => specialised!(@run $rule, $charge, $fire, Reset::SoftSnntorch, $r, $body),
            Reset::SoftFloor => specialised!(@run $rule, $charge, $fire, Reset::SoftFloor, $r, $body),
        }
    };
    (@run $rule:ident, $charge:expr, $fire:expr, $reset:expr, $r:ident, $body:expr) => {{
        let $r = Rule { charge: $charge, v_th: $rule.v_th, fire: $fire, reset: $reset };
        $body
    }};
}

// Measured and not kept (2026-12-07 12:15 UTC, Zen 5): `neuron_step` and `avg_pool` built for
// AVX-512 and AVX2 (run-time dispatch) instead of the baseline's 4-lane SSE: vgg11_48_legacy's
// neuron and pooling layers 0.31–0.33 → 0.28–0.31 ms at batch 1 and 6.2–6.5 → 6.7–6.9 ms at
// batch 16, one thread. They wait on memory: the neuron layers after convs now run in place
// on the conv's output (`conv_store::Fused`), with builds for AVX2 and AVX-512 there (their
// inputs in cache), and `avg_pool`'s rows have an AVX-512 build again for the pools that stay
// separate (sew_resnet18's 3×3 stem pool 0.24 → 0.17–0.19 ms at batch 1).
/// One timestep of one sample's neurons ([`NeuronKind::step`] per element, the kind's rule
/// built once): updates the membrane `mem`, writes spikes (0/1) to `out` (a non-spiking
/// readout: the membrane; a counting neuron: its counts), returns how many spikes it emitted.
pub fn neuron_step(kind: &NeuronKind, mem: &mut [f32], x: &[f32], out: &mut [f32]) -> u64 {
    let rule = kind.rule();
    if rule.fire == Fire::Count {
        return mem.iter_mut().zip(x).zip(out.iter_mut()).map(|((m, &x), o)| count_one(&rule, m, x, o)).sum();
    }
    if !kind.spikes() {
        specialised!(rule, |rule| {
            for ((m, &x), o) in mem.iter_mut().zip(x).zip(out.iter_mut()) {
                *m = rule.step(&F32, *m, x).0;
                *o = *m;
            }
        });
        return 0;
    }
    // Spikes are counted in u32 (which vectorises twice as wide as u64) per chunk of 2³⁰.
    const CHUNK: usize = 1 << 30;
    specialised!(rule, |rule| {
        let mut fired = 0u64;
        for ((mem, x), out) in mem.chunks_mut(CHUNK).zip(x.chunks(CHUNK)).zip(out.chunks_mut(CHUNK)) {
            let mut chunk = 0u32;
            for ((m, &x), o) in mem.iter_mut().zip(x).zip(out.iter_mut()) {
                let (v, s) = rule.step(&F32, *m, x);
                *m = v;
                *o = if s { 1.0 } else { 0.0 };
                chunk += u32::from(s);
            }
            fired += u64::from(chunk);
        }
        fired
    })
}

/// One timestep of the membrane given the spikes `s` (0/1) that [`neuron_step`] emitted, for
/// the trainer's backward pass (`train::neuron`), which recomputes the trace: `h` = the charge
/// of `mem` and `x`, then `mem` = the reset of `h` by `s`. Same rule, same operations.
#[cfg(feature = "train")]
pub(crate) fn neuron_recharge(kind: &NeuronKind, mem: &mut [f32], x: &[f32], s: &[f32], h: &mut [f32]) {
    specialised!(kind.rule(), |rule| {
        for (((m, &x), &s), h) in mem.iter_mut().zip(x).zip(s).zip(h.iter_mut()) {
            let v = rule.charge.apply(&F32, *m, x);
            *h = v;
            *m = rule.reset.apply(&F32, v, s != 0.0, rule.v_th);
        }
    })
}

/// [`neuron_step`] for a layer with per-neuron parameters: neuron `i` runs `rules[i]` (the same
/// [`Rule::step`], other numbers). `spikes`: whether the layer spikes (else `out` is the membrane).
pub fn neuron_step_each(rules: &[Rule], spikes: bool, mem: &mut [f32], x: &[f32], out: &mut [f32]) -> u64 {
    mem.iter_mut().zip(x).zip(out.iter_mut()).zip(rules).map(|(((m, &x), o), rule)| each_one(rule, spikes, m, x, o)).sum()
}

/// One step of one neuron with its own rule ([`neuron_step_each`]).
#[inline(always)]
fn each_one(rule: &Rule, spikes: bool, m: &mut f32, x: f32, out: &mut f32) -> u64 {
    if rule.fire == Fire::Count {
        return count_one(rule, m, x, out);
    }
    let (v, s) = rule.step(&F32, *m, x);
    *m = v;
    *out = if spikes { f32::from(u8::from(s)) } else { v };
    u64::from(s)
}

/// [`neuron_step`] in place, over runs of neurons: each run's `xo` holds the neurons' inputs
/// and gets their outputs, `mem` their membranes; with per-neuron `rules` (`[H, W, C]` of one
/// sample), [`neuron_step_each`], the run starting at the neuron its `usize` names. The form a
/// convolution's tasks fuse into their stores (`super::conv_store`): every neuron takes the same
/// [`Rule::step`] as in the separate pass, so the same bits. Returns the spikes emitted.
#[inline(always)] // into the AVX2 and AVX-512 builds of `conv_store`
pub fn neuron_in_place<'a>(kind: &NeuronKind, rules: Option<&[Rule]>, runs: impl Iterator<Item = (usize, &'a mut [f32], &'a mut [f32])>) -> u64 {
    let spikes = kind.spikes();
    if let Some(rules) = rules {
        let run = |(at, mem, xo): (usize, &mut [f32], &mut [f32])| -> u64 {
            mem.iter_mut().zip(xo.iter_mut()).zip(&rules[at..]).map(|((m, o), rule)| each_one(rule, spikes, m, *o, o)).sum()
        };
        return runs.map(run).sum();
    }
    let rule = kind.rule();
    if rule.fire == Fire::Count {
        return runs.map(|(_, mem, xo)| mem.iter_mut().zip(xo.iter_mut()).map(|(m, o)| count_one(&rule, m, *o, o)).sum::<u64>()).sum();
    }
    if !spikes {
        specialised!(rule, |rule| {
            for (_, mem, xo) in runs {
                for (m, o) in mem.iter_mut().zip(xo.iter_mut()) {
                    *m = rule.step(&F32, *m, *o).0;
                    *o = *m;
                }
            }
        });
        return 0;
    }
    // Counted in u32 per piece of 2³⁰, as in `neuron_step`.
    const CHUNK: usize = 1 << 30;
    specialised!(rule, |rule| {
        let mut fired = 0u64;
        for (_, mem, xo) in runs {
            for (mem, xo) in mem.chunks_mut(CHUNK).zip(xo.chunks_mut(CHUNK)) {
                let mut piece = 0u32;
                for (m, o) in mem.iter_mut().zip(xo.iter_mut()) {
                    let (v, s) = rule.step(&F32, *m, *o);
                    *m = v;
                    *o = if s { 1.0 } else { 0.0 };
                    piece += u32::from(s);
                }
                fired += u64::from(piece);
            }
        }
        fired
    })
}

/// One step of one counting neuron ([`Rule::count_step`]): the count goes to `out`.
#[inline(always)]
fn count_one(rule: &Rule, m: &mut f32, x: f32, out: &mut f32) -> u64 {
    let (v, n) = rule.count_step(&F32, *m, x);
    *m = v;
    *out = n;
    n as u64
}

/// `out[b, o] = bias[o] + Σ_i w[o, i] · in[b, i]`, scattering non-zero inputs; `weight_t`: `[in, out]`
/// (f32, or 16-bit values widened as they are added: [`super::precision`]).
pub fn linear_scatter<W: Weight>(input: &[f32], out: &mut [f32], batch: usize, inputs: usize, outputs: usize, weight_t: &[W], bias: &[f32]) {
    for b in 0..batch {
        let dst = &mut out[b * outputs..(b + 1) * outputs];
        dst.copy_from_slice(bias);
        for (i, &v) in input[b * inputs..(b + 1) * inputs].iter().enumerate() {
            if v != 0.0 {
                let w = &weight_t[i * outputs..(i + 1) * outputs];
                if v == 1.0 {
                    dst.iter_mut().zip(w).for_each(|(d, s)| *d += s.widen());
                } else {
                    dst.iter_mut().zip(w).for_each(|(d, s)| *d += v * s.widen());
                }
            }
        }
    }
}

//! The CPU kernels: the specification of every operation, on channel-last buffers.

use rayon::prelude::*;

use crate::model::graph::{Pool, Shape};
use crate::model::neuron::NeuronKind;

/// `out[b, oy, ox, o] = bias[o] + Σ_{i,ky,kx} w[o, i, ky, kx] · in[b, oy·s + ky − p, ox·s + kx − p, i]`
///
/// Computed by scattering each non-zero input into the outputs it reaches (zero inputs cost
/// nothing, an input of 1 adds the weight row without multiplying). Threads own output rows.
/// `input`: `[B, Hi, Wi, Ci]`; `out`: `[B, Ho, Wo, Co]`; `weight`: `[Ci, k, k, Co]`.
#[allow(clippy::too_many_arguments)]
pub fn conv_scatter(input: &[f32], out: &mut [f32], batch: usize, si: Shape, so: Shape, k: usize, stride: usize, pad: usize, weight: &[f32], bias: &[f32]) {
    let (co, row_len) = (so.c, so.w * so.c);
    out.par_chunks_mut(row_len).enumerate().take(batch * so.h).for_each(|(r, row)| {
        let (b, oy) = (r / so.h, r % so.h);
        for px in row.chunks_exact_mut(co) {
            px.copy_from_slice(bias);
        }
        let sample = &input[b * si.len()..(b + 1) * si.len()];
        for ky in 0..k {
            let Some(iy) = (oy * stride + ky).checked_sub(pad).filter(|&iy| iy < si.h) else { continue };
            let in_row = &sample[iy * si.w * si.c..(iy + 1) * si.w * si.c];
            for ix in 0..si.w {
                // Output columns reached from ix: ox·s + kx − p = ix with 0 ≤ kx < k.
                let reach = ix + pad;
                let ox_lo = reach.saturating_sub(k - 1).div_ceil(stride);
                let ox_hi = (reach / stride).min(so.w.saturating_sub(1));
                if ox_lo > ox_hi {
                    continue;
                }
                for (ci, &v) in in_row[ix * si.c..(ix + 1) * si.c].iter().enumerate() {
                    if v == 0.0 {
                        continue;
                    }
                    let taps = &weight[(ci * k + ky) * k * co..(ci * k + ky + 1) * k * co];
                    for ox in ox_lo..=ox_hi {
                        let kx = reach - ox * stride;
                        axpy(&mut row[ox * co..(ox + 1) * co], &taps[kx * co..(kx + 1) * co], v);
                    }
                }
            }
        }
    });
}

/// `dst += v · src`, without the multiplication when `v == 1` (a spike).
#[inline(always)]
fn axpy(dst: &mut [f32], src: &[f32], v: f32) {
    if v == 1.0 {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += v * s);
    }
}

/// One timestep of one sample's neurons ([`NeuronKind::step`] per element): updates the
/// membrane `mem`, writes spikes (0/1) to `out`, returns how many fired.
pub fn neuron_step(kind: &NeuronKind, mem: &mut [f32], x: &[f32], out: &mut [f32]) -> u64 {
    let mut fired = 0;
    for ((m, &x), o) in mem.iter_mut().zip(x).zip(out.iter_mut()) {
        let s = kind.step(m, x);
        *o = if s { 1.0 } else { 0.0 };
        fired += u64::from(s);
    }
    fired
}

/// `out[b, oy, ox, c] = (Σ_{ky,kx} in[b, oy·s + ky − p, ox·s + kx − p, c]) / divisor`, the sum
/// in window order; the divisor is `k²` with `count_include_pad`, else the valid taps.
pub fn avg_pool(input: &[f32], out: &mut [f32], batch: usize, si: Shape, so: Shape, p: &Pool) {
    let c = si.c;
    out.par_chunks_mut(so.w * c).enumerate().take(batch * so.h).for_each(|(r, row)| {
        let (b, oy) = (r / so.h, r % so.h);
        let sample = &input[b * si.len()..(b + 1) * si.len()];
        for ox in 0..so.w {
            let dst = &mut row[ox * c..(ox + 1) * c];
            dst.fill(0.0);
            let mut valid = 0;
            for ky in 0..p.kernel {
                let Some(iy) = (oy * p.stride + ky).checked_sub(p.padding).filter(|&y| y < si.h) else { continue };
                for kx in 0..p.kernel {
                    let Some(ix) = (ox * p.stride + kx).checked_sub(p.padding).filter(|&x| x < si.w) else { continue };
                    valid += 1;
                    let src = &sample[(iy * si.w + ix) * c..(iy * si.w + ix + 1) * c];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
            let divisor = if p.count_include_pad { (p.kernel * p.kernel) as f32 } else { valid.max(1) as f32 };
            dst.iter_mut().for_each(|d| *d /= divisor);
        }
    });
}

/// `out[b, c] = (Σ_{y,x} in[b, y, x, c]) / (H·W)`, summed in row-major order.
pub fn global_avg_pool(input: &[f32], out: &mut [f32], batch: usize, si: Shape) {
    let c = si.c;
    for b in 0..batch {
        let dst = &mut out[b * c..(b + 1) * c];
        dst.fill(0.0);
        for px in input[b * si.len()..(b + 1) * si.len()].chunks_exact(c) {
            dst.iter_mut().zip(px).for_each(|(d, s)| *d += s);
        }
        let n = (si.h * si.w) as f32;
        dst.iter_mut().for_each(|d| *d /= n);
    }
}

/// `out[b, o] = bias[o] + Σ_i w[o, i] · in[b, i]`, scattering non-zero inputs; `weight_t`: `[in, out]`.
pub fn linear_scatter(input: &[f32], out: &mut [f32], batch: usize, inputs: usize, outputs: usize, weight_t: &[f32], bias: &[f32]) {
    for b in 0..batch {
        let dst = &mut out[b * outputs..(b + 1) * outputs];
        dst.copy_from_slice(bias);
        for (i, &v) in input[b * inputs..(b + 1) * inputs].iter().enumerate() {
            if v != 0.0 {
                axpy(dst, &weight_t[i * outputs..(i + 1) * outputs], v);
            }
        }
    }
}

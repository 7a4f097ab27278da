//! [`BatchNormBackend`] on Flex: BatchNorm on batch statistics, and the same with TEBN's
//! per-timestep scale, in one pass each for the mean, the variance and the output, and two for
//! the backward (the sums, then `dx`). Sums run in f32 lanes within a sample ([`lanes`]) and in
//! f64 across samples, `(timestep, channel)` groups in parallel; element-wise passes take
//! `(sample, channel)` planes in parallel; every loop runs under [`with_avx2`] where the CPU has
//! it. Channel-last activations (`last`): sums per sample in parallel (each run of 64 positions
//! in f32 per channel, then f64), element-wise passes by runs of whole rows. Without a scale the
//! op is the scale-1 case, multiplications by 1 being exact.

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use super::bn::{BatchNormBackend, burn_bn_train, burn_bn_train_backward, burn_tebn_train, burn_tebn_train_backward};
use crate::train::layout::{nchw, nhwc};
use super::cpu::{lanes, par_collect, with_avx2};
use crate::train::flex::{f32_values, tensor};

/// The scale of the unscaled op: one timestep, times 1.
const UNSCALED: [f32; 1] = [1.0];

/// `[N, C, P]` sizes (samples, channels, positions) and the f32 values of `t` (`[N, C, …]`, or
/// `[N, …, C]` where `last`), or `None` (another dtype, fewer than two dimensions, or `N` not a
/// multiple of the `groups` timesteps: burn's ops run).
fn view(t: &FlexTensor, groups: usize, last: bool) -> Option<([usize; 3], std::borrow::Cow<'_, [f32]>)> {
    let shape = t.shape();
    if shape.num_dims() < 2 {
        return None;
    }
    let c = if last { shape[shape.num_dims() - 1] } else { shape[1] };
    if shape[0] * c == 0 || groups == 0 || !shape[0].is_multiple_of(groups) {
        return None;
    }
    Some(([shape[0], c, shape.num_elements() / (shape[0] * c)], f32_values(t)?))
}

/// The f32 values of a small tensor (γ, β, statistics, scale).
fn f32s(t: &FlexTensor) -> Option<Vec<f32>> {
    Some(f32_values(t)?.into_owned())
}

/// Per timestep group `t` (of `groups` equal runs of samples) and channel: `Σ f(param[channel],
/// x, other)` over the group's samples (the same positions of `x` and `other`); `[groups, C]`.
/// Channel-first (`!last`): per (group, channel), in parallel, each sample's plane in f32 lanes
/// ([`lanes`]), the samples in order in f64. Channel-last: per sample, in parallel, each run of
/// [`RUN`] positions in f32, the runs and then the samples in order in f64.
fn sums<const K: usize>(x: &[f32], other: &[f32], [n, c, p]: [usize; 3], groups: usize, last: bool, param: &[f32], f: impl Fn(f32, f32, f32) -> [f32; K] + Sync) -> Vec<[f64; K]> {
    let per = n / groups;
    if last {
        let samples: Vec<Vec<[f64; K]>> = (0..n)
            .into_par_iter()
            .map(|s| {
                with_avx2(
                    #[inline(always)]
                    || {
                        // One run's f32 sums per channel, added to `total` in f64.
                        let (mut total, mut acc) = (vec![[0.0f64; K]; c], vec![[0.0f32; K]; c]);
                        let (xs, os) = (&x[s * p * c..][..p * c], &other[s * p * c..][..p * c]);
                        for (xr, or) in xs.chunks(RUN * c).zip(os.chunks(RUN * c)) {
                            acc.fill([0.0; K]);
                            for (xp, op) in xr.chunks_exact(c).zip(or.chunks_exact(c)) {
                                for (((a, &m), &xv), &ov) in acc.iter_mut().zip(param).zip(xp).zip(op) {
                                    let v = f(m, xv, ov);
                                    for k in 0..K {
                                        a[k] += v[k];
                                    }
                                }
                            }
                            for (t, a) in total.iter_mut().zip(&acc) {
                                for k in 0..K {
                                    t[k] += f64::from(a[k]);
                                }
                            }
                        }
                        total
                    },
                )
            })
            .collect();
        let mut out = vec![[0.0f64; K]; groups * c];
        for (s, sample) in samples.iter().enumerate() {
            let t = s / per;
            out[t * c..(t + 1) * c].iter_mut().zip(sample).for_each(|(o, v)| o.iter_mut().zip(v).for_each(|(o, v)| *o += v));
        }
        return out;
    }
    (0..groups * c)
        .into_par_iter()
        .map(|j| {
            let (t, ch) = (j / c, j % c);
            with_avx2(
                #[inline(always)]
                || {
                    let mut total = [0.0f64; K];
                    for s in t * per..(t + 1) * per {
                        let at = (s * c + ch) * p;
                        let m = param[ch];
                        let v = lanes(&x[at..at + p], &other[at..at + p], |a, b| f(m, a, b));
                        total.iter_mut().zip(v).for_each(|(a, b)| *a += b);
                    }
                    total
                },
            )
        })
        .collect()
}

/// Positions summed in f32 before an f64 add, channel-last ([`sums`]).
const RUN: usize = 64;

/// `out[i] = f(coef[ch], scale[t], x[i], y[i])` with `ch` the channel and `t` the timestep of
/// element `i`: `(sample, channel)` planes in parallel, or channel-last runs of positions.
fn planes<Co: Copy + Sync>(x: &[f32], y: &[f32], [n, c, p]: [usize; 3], scale: &[f32], last: bool, coef: &[Co], f: impl Fn(Co, f32, f32, f32) -> f32 + Sync + Copy) -> Vec<f32> {
    let per = n / scale.len();
    if last {
        // Runs of whole rows (`c` values, one per channel) per task.
        let rows = (4096 / c).max(1);
        let mut out = Vec::with_capacity(n * p * c);
        out.spare_capacity_mut()[..n * p * c].par_chunks_mut(rows * c).enumerate().for_each(|(i, dst)| {
            with_avx2(
                #[inline(always)]
                || {
                    for (j, d) in dst.chunks_exact_mut(c).enumerate() {
                        let r = i * rows + j;
                        let (st, xr, yr) = (scale[r / p / per], &x[r * c..][..c], &y[r * c..][..c]);
                        for (((d, &k), &x), &y) in d.iter_mut().zip(coef).zip(xr).zip(yr) {
                            d.write(f(k, st, x, y));
                        }
                    }
                },
            )
        });
        // SAFETY: every chunk is whole rows of `c` values (`n·p·c` is a multiple of `c`), each
        // written above.
        unsafe { out.set_len(n * p * c) };
        return out;
    }
    par_collect(n * c * p, p, |i| {
        let (t, ch) = (i / c / per, i % c);
        let (k, st) = (coef[ch], scale[t]);
        x[i * p..(i + 1) * p].iter().zip(&y[i * p..(i + 1) * p]).map(move |(&x, &y)| f(k, st, x, y))
    })
}

/// (output, mean, biased variance); the output is `(a·x + k)·s_t` with `a = γ/√(σ² + ε)` and
/// `k = β − μ·a`.
fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, scale: &[f32], epsilon: f64, last: bool) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let (dims, xs) = view(x, scale.len(), last)?;
    let (g, b) = (f32s(gamma)?, f32s(beta)?);
    let count = (dims[0] * dims[2]) as f64;
    let per_channel = |group_sums: Vec<[f64; 1]>| -> Vec<f64> { group_sums.into_iter().map(|[s]| s / count).collect() };
    let zeros = vec![0.0f32; dims[1]];
    let mean = per_channel(sums(&xs, &xs, dims, 1, last, &zeros, #[inline(always)] |_, a, _| [a]));
    let mean_f32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let var = per_channel(sums(&xs, &xs, dims, 1, last, &mean_f32, #[inline(always)] |m, a, _| [(a - m) * (a - m)]));
    let coef: Vec<(f32, f32)> = (0..dims[1])
        .map(|ch| {
            let a = f64::from(g[ch]) / (var[ch] + epsilon).sqrt();
            (a as f32, (f64::from(b[ch]) - mean[ch] * a) as f32)
        })
        .collect();
    let out = planes(&xs, &xs, dims, scale, last, &coef, #[inline(always)] |(a, k), st, x, _| (a * x + k) * st);
    Some((tensor(out, x.shape()), channels(&mean), channels(&var)))
}

fn channels(values: &[f64]) -> FlexTensor {
    tensor(values.iter().map(|&v| v as f32).collect(), [values.len()])
}

/// (dx, dγ, dβ, ds `[T]` as f64). With `g' = s_t·g`, `x̂ = (x − μ)·s` (`s = 1/√(σ² + ε)`), `M`
/// values per channel, `Sg = Σ g'` and `Sgx = Σ g'·x̂`: `dx = γ·s·g' − γ·s²·Sgx/M·x +
/// γ·s·(s·Sgx·μ − Sg)/M`; `ds_t = Σ_{rows of t} g·(γ·x̂ + β)`. The sums are taken per
/// `(timestep, channel)` on `g`, so one pass gives both the channel sums and `ds`.
#[allow(clippy::too_many_arguments)]
fn backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: Option<&FlexTensor>,
    mean: &FlexTensor,
    variance: &FlexTensor,
    scale: &[f32],
    epsilon: f64,
    grad: &FlexTensor,
    last: bool,
) -> Option<(FlexTensor, FlexTensor, FlexTensor, Vec<f64>)> {
    let (dims, xs) = view(x, scale.len(), last)?;
    let (gd, gs) = view(grad, scale.len(), last)?;
    if gd != dims {
        return None;
    }
    let (gamma, mean, var) = (f32s(gamma)?, f32s(mean)?, f32s(variance)?);
    let beta = match beta {
        Some(b) => f32s(b)?,
        None => vec![0.0; dims[1]],
    };
    let (c, groups, count) = (dims[1], scale.len(), (dims[0] * dims[2]) as f64);
    let inv_std: Vec<f64> = var.iter().map(|&v| 1.0 / (f64::from(v) + epsilon).sqrt()).collect();
    // Per (t, ch): [Σ g, Σ g·(x − μ)].
    let group = sums(&gs, &xs, dims, groups, last, &mean, #[inline(always)] |m, g, x| [g, g * (x - m)]);
    let over_t = |k: usize, ch: usize| -> f64 { (0..groups).map(|t| f64::from(scale[t]) * group[t * c + ch][k]).sum() };
    let sum_g: Vec<f64> = (0..c).map(|ch| over_t(0, ch)).collect();
    let sum_gx: Vec<f64> = (0..c).map(|ch| over_t(1, ch) * inv_std[ch]).collect();
    let coef: Vec<[f32; 3]> = (0..c)
        .map(|ch| {
            let (gm, s, m) = (f64::from(gamma[ch]), inv_std[ch], f64::from(mean[ch]));
            let b = -gm * s * s * sum_gx[ch] / count;
            [(gm * s) as f32, b as f32, (gm * s * (s * sum_gx[ch] * m - sum_g[ch]) / count) as f32]
        })
        .collect();
    let dx = planes(&gs, &xs, dims, scale, last, &coef, #[inline(always)] |[a, b, k], st, g, x| a * (st * g) + b * x + k);
    let ds = (0..groups)
        .map(|t| (0..c).map(|ch| f64::from(gamma[ch]) * inv_std[ch] * group[t * c + ch][1] + f64::from(beta[ch]) * group[t * c + ch][0]).sum())
        .collect();
    Some((tensor(dx, x.shape()), channels(&sum_gx), channels(&sum_g), ds))
}

impl BatchNormBackend for Flex {
    fn bn_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64, last: bool) -> (FlexTensor, FlexTensor, FlexTensor) {
        forward(&x, &gamma, &beta, &UNSCALED, epsilon, last).unwrap_or_else(|| {
            let (y, mean, var) = burn_bn_train::<Flex>(nchw::<Flex>(x, last), gamma, beta, epsilon);
            (nhwc::<Flex>(y, last), mean, var)
        })
    }

    fn bn_train_backward(x: FlexTensor, gamma: FlexTensor, mean: FlexTensor, variance: FlexTensor, epsilon: f64, grad: FlexTensor, last: bool) -> (FlexTensor, FlexTensor, FlexTensor) {
        match backward(&x, &gamma, None, &mean, &variance, &UNSCALED, epsilon, &grad, last) {
            Some((gx, gg, gb, _)) => (gx, gg, gb),
            None => {
                let (gx, gg, gb) = burn_bn_train_backward::<Flex>(nchw::<Flex>(x, last), gamma, mean, variance, epsilon, nchw::<Flex>(grad, last));
                (nhwc::<Flex>(gx, last), gg, gb)
            }
        }
    }

    fn bn_tebn_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, scale: FlexTensor, timesteps: usize, epsilon: f64, last: bool) -> (FlexTensor, FlexTensor, FlexTensor) {
        f32s(&scale).filter(|s| s.len() == timesteps).and_then(|s| forward(&x, &gamma, &beta, &s, epsilon, last)).unwrap_or_else(|| {
            let (y, mean, var) = burn_tebn_train::<Flex>(nchw::<Flex>(x, last), gamma, beta, scale, timesteps, epsilon);
            (nhwc::<Flex>(y, last), mean, var)
        })
    }

    fn bn_tebn_train_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        scale: FlexTensor,
        timesteps: usize,
        epsilon: f64,
        grad: FlexTensor,
        last: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor, FlexTensor) {
        let fused = f32s(&scale).filter(|s| s.len() == timesteps).and_then(|s| backward(&x, &gamma, Some(&beta), &mean, &variance, &s, epsilon, &grad, last));
        match fused {
            Some((gx, gg, gb, ds)) => (gx, gg, gb, channels(&ds)),
            None => {
                let (x, grad) = (nchw::<Flex>(x, last), nchw::<Flex>(grad, last));
                let (gx, gg, gb, gs) = burn_tebn_train_backward::<Flex>(x, gamma, beta, mean, variance, scale, timesteps, epsilon, grad);
                (nhwc::<Flex>(gx, last), gg, gb, gs)
            }
        }
    }
}

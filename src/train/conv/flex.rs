//! [`super::SpikeConvBackend`] on Flex: the engine's CPU convolution forward, and (stride 1;
//! other strides take burn's backward) the backward from the same kernels plus a weight-gradient
//! scatter over the non-zero inputs.
//!
//! burn's tensors are `[N, C, H, W]`, the engine's `[N, H, W, C]`: the input and the output
//! gradient are transposed once per call (per sample, in parallel). The weight gradient
//! `gW[o, c, ky, kx] = Σ_{n, y, x} x[n, c, y, x] · g[n, o, oy, ox]` (`oy = y + p − ky`) runs over
//! the non-zero `x` only and adds whole output-gradient rows (`[Co]`, contiguous in the engine's
//! layout); a value of 1 (a spike) adds the row without a multiply. Threads take input channels,
//! each owning its `[k, k, Co]` slices of the result, and sum the samples in order, so the result
//! does not depend on the thread count.

use std::sync::{LazyLock, Mutex};

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::{DType, Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::SpikeConvBackend;
use crate::engine::cpu::{ConvScratch, PackedConv, conv_hwc};
use crate::model::graph::{Conv, Shape};
use super::transpose::transpose;
use crate::train::flex::{f32_values, tensor};

/// The engine kernels' working memory, shared by every layer and step.
static SCRATCH: LazyLock<Mutex<ConvScratch>> = LazyLock::new(|| Mutex::new(ConvScratch::default()));

/// The sizes of one convolution the fast path takes.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    ci: usize,
    co: usize,
    k: usize,
    stride: usize,
    pad: usize,
    si: Shape,
    so: Shape,
}

impl Dims {
    /// `None` where burn's own kernels must run: not f32, groups, dilation, non-square kernels,
    /// unequal strides or paddings.
    fn of(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>) -> Option<Self> {
        let (xs, ws) = (x.shape(), w.shape());
        let [s0, s1] = options.stride;
        let [(p0, p1), (p2, p3)] = options.padding;
        let plain = x.dtype() == DType::F32 && w.dtype() == DType::F32 && options.groups == 1 && options.dilation == [1, 1];
        if !plain || s0 != s1 || p0 != p1 || p1 != p2 || p2 != p3 || ws[2] != ws[3] || xs.num_dims() != 4 {
            return None;
        }
        let (k, stride, pad) = (ws[2], s0, p0);
        let (h, w) = (xs[2], xs[3]);
        if h + 2 * pad < k || w + 2 * pad < k {
            return None;
        }
        let so = Shape::new(ws[0], (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
        Some(Self { n: xs[0], ci: xs[1], co: ws[0], k, stride, pad, si: Shape::new(xs[1], h, w), so })
    }
}

/// The f32 values of `t` ([`Dims::of`] checked the dtype).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    f32_values(t).expect("an f32 tensor (checked by Dims::of)")
}

/// `out [N, Ho, Wo, Co]` = the engine's convolution of `input` `[N, Hi, Wi, Ci]`.
#[inline(never)]
fn engine_conv(input: &[f32], n: usize, si: Shape, so: Shape, c: &Conv) -> Vec<f32> {
    let packed = PackedConv::new(c);
    let mut out = vec![0.0f32; n * so.len()];
    let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    conv_hwc(input, &mut out, si, so, &packed, &vec![1.0; n], &mut scratch);
    out
}

impl SpikeConvBackend for Flex {
    fn spike_conv2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(d) = Dims::of(&x, &weight, &options) else {
            return Flex::conv2d(x, weight, Some(bias), options);
        };
        let conv = Conv { in_ch: d.ci, out_ch: d.co, kernel: d.k, stride: d.stride, padding: d.pad, weight: values(&weight).into_owned(), bias: values(&bias).into_owned(), time_scale: None };
        let x_hwc = transpose(&values(&x), d.n, d.ci, d.si.h * d.si.w);
        let y_hwc = engine_conv(&x_hwc, d.n, d.si, d.so, &conv);
        tensor(transpose(&y_hwc, d.n, d.so.h * d.so.w, d.co), [d.n, d.co, d.so.h, d.so.w])
    }

    fn spike_conv2d_backward(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, grad: FlexTensor, options: ConvOptions<2>, want_x: bool) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
        let Some(d) = Dims::of(&x, &weight, &options) else {
            return super::burn_backward::<Flex>(x, weight, bias, grad, options, want_x);
        };
        if d.stride != 1 || d.pad >= d.k {
            return super::burn_backward::<Flex>(x, weight, bias, grad, options, want_x);
        }
        let g_hwc = transpose(&values(&grad), d.n, d.co, d.so.h * d.so.w);
        let gx = want_x.then(|| {
            let gx_hwc = engine_conv(&g_hwc, d.n, d.so, d.si, &flipped(&values(&weight), &d));
            tensor(transpose(&gx_hwc, d.n, d.si.h * d.si.w, d.ci), [d.n, d.ci, d.si.h, d.si.w])
        });
        let gw = weight_grad(&values(&x), &g_hwc, &d);
        let gb = bias_grad(&g_hwc, d.co);
        (gx, tensor(gw, [d.co, d.ci, d.k, d.k]), tensor(gb, [d.co]))
    }
}

/// The input gradient of a stride-1 convolution as a convolution: the weights transposed
/// (`[Ci, Co, k, k]`), flipped in both spatial axes, padding `k − 1 − p`, no bias.
#[inline(never)]
fn flipped(w: &[f32], d: &Dims) -> Conv {
    let kk = d.k * d.k;
    let mut wf = vec![0.0f32; w.len()];
    for o in 0..d.co {
        for i in 0..d.ci {
            for t in 0..kk {
                wf[(i * d.co + o) * kk + t] = w[(o * d.ci + i) * kk + kk - 1 - t];
            }
        }
    }
    Conv { in_ch: d.co, out_ch: d.ci, kernel: d.k, stride: 1, padding: d.k - 1 - d.pad, weight: wf, bias: vec![0.0; d.ci], time_scale: None }
}

/// `gW` `[Co, Ci, k, k]` of a stride-1 convolution from `x` `[N, Ci, H, W]` and the output
/// gradient `g` `[N, Ho, Wo, Co]` (see the module doc). Tasks take groups of input channels and
/// run sample by sample, so a sample's output gradient is read from cache by every channel of
/// the group.
#[inline(never)]
fn weight_grad(x: &[f32], g: &[f32], d: &Dims) -> Vec<f32> {
    let (co, k, kk) = (d.co, d.k, d.k * d.k);
    let per_task = d.ci.div_ceil(4 * rayon::current_num_threads()).max(1);
    let mut by_input = vec![0.0f32; d.ci * kk * co];
    by_input.par_chunks_mut(per_task * kk * co).enumerate().for_each(|(task, acc)| weight_grad_channels(x, g, d, task * per_task, acc));
    // `by_input` is `[Ci, ky, k − 1 − kx, Co]`.
    let mut gw = vec![0.0f32; by_input.len()];
    for c in 0..d.ci {
        for ky in 0..k {
            for kx in 0..k {
                let src = &by_input[((c * k + ky) * k + k - 1 - kx) * co..][..co];
                for (o, &v) in src.iter().enumerate() {
                    gw[((o * d.ci + c) * k + ky) * k + kx] = v;
                }
            }
        }
    }
    gw
}

/// `acc` `[c, ky, k − 1 − kx, Co]` = the weight gradients of input channels `first..` (as many
/// as `acc` holds), with AVX2 where the CPU has it (the same operations in the same order: the
/// same result).
fn weight_grad_channels(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected.
        return unsafe { weight_grad_avx2(x, g, d, first, acc) };
    }
    weight_grad_generic(x, g, d, first, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn weight_grad_avx2(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    weight_grad_generic(x, g, d, first, acc)
}

/// With the taps of a kernel row stored in reverse, the output-gradient rows one input value
/// reaches under a kernel row (`ox = x + p − kx`, consecutive) and the weight rows they add to
/// are each one contiguous run.
#[inline(always)]
fn weight_grad_generic(x: &[f32], g: &[f32], d: &Dims, first: usize, acc: &mut [f32]) {
    let (k, co) = (d.k, d.co);
    let (plane_in, plane_out) = (d.si.h * d.si.w, d.so.len());
    if plane_in == 0 {
        return;
    }
    // Per input row: the (ky, oy) pairs it reaches; per input column: the first reversed tap
    // `k − 1 − kx`, the first output column and how many taps.
    let rows: Vec<Vec<(usize, usize)>> = (0..d.si.h).map(|y| (0..k).filter_map(|ky| out_index(y, ky, d.pad, d.so.h).map(|oy| (ky, oy))).collect()).collect();
    let cols: Vec<(usize, usize, usize)> = (0..d.si.w)
        .map(|xx| {
            let taps: Vec<(usize, usize)> = (0..k).filter_map(|kx| out_index(xx, kx, d.pad, d.so.w).map(|ox| (kx, ox))).collect();
            match (taps.first(), taps.last()) {
                (Some(&(_, ox_hi)), Some(&(kx_hi, ox_lo))) => {
                    debug_assert_eq!(ox_hi - ox_lo + 1, taps.len());
                    (k - 1 - kx_hi, ox_lo, taps.len())
                }
                _ => (0, 0, 0),
            }
        })
        .collect();
    for n in 0..d.n {
        let gs = &g[n * plane_out..][..plane_out];
        for (j, acc) in acc.chunks_exact_mut(k * k * co).enumerate() {
            let xs = &x[(n * d.ci + first + j) * plane_in..][..plane_in];
            for (y, row) in xs.chunks_exact(d.si.w).enumerate() {
                let reach = &rows[y];
                for (word, part) in row.chunks(64).enumerate() {
                    // The non-zero columns of 64 as bits (branch-free), then one step per set bit.
                    let mut bits = part.iter().enumerate().fold(0u64, |m, (b, &v)| m | (u64::from(v != 0.0) << b));
                    while bits != 0 {
                        let xx = word * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let v = row[xx];
                        let (tap0, ox0, taps) = cols[xx];
                        for &(ky, oy) in reach {
                            let run = &gs[(oy * d.so.w + ox0) * co..][..taps * co];
                            add_run(&mut acc[(ky * k + tap0) * co..][..taps * co], run, v);
                        }
                    }
                }
            }
        }
    }
}

/// `a += r` (`v` = 1, a spike: no multiply) or `a += v·r`, eight lanes at a time: runs are as
/// short as 3 taps × 8 channels, too short for the compiler's unrolled loop, which would leave
/// them all to its scalar remainder.
#[inline(always)]
fn add_run(a: &mut [f32], r: &[f32], v: f32) {
    let ((a8, a_rest), (r8, r_rest)) = (a.as_chunks_mut::<8>(), r.as_chunks::<8>());
    if v == 1.0 {
        for (a, r) in a8.iter_mut().zip(r8) {
            for k in 0..8 {
                a[k] += r[k];
            }
        }
        for (a, r) in a_rest.iter_mut().zip(r_rest) {
            *a += r;
        }
    } else {
        for (a, r) in a8.iter_mut().zip(r8) {
            for k in 0..8 {
                a[k] += v * r[k];
            }
        }
        for (a, r) in a_rest.iter_mut().zip(r_rest) {
            *a += v * r;
        }
    }
}

/// The output position that input position `i` reaches under tap `t` at stride 1
/// (`o = i + p − t`), if any.
fn out_index(i: usize, t: usize, pad: usize, len: usize) -> Option<usize> {
    (i + pad).checked_sub(t).filter(|&o| o < len)
}

/// `gb[o] = Σ g[.., o]` over `g` `[rows, Co]`: fixed chunks of rows summed in parallel, then
/// the chunks in order (the same sum at every thread count).
#[inline(never)]
fn bias_grad(g: &[f32], co: usize) -> Vec<f32> {
    const ROWS: usize = 1024;
    let partial: Vec<Vec<f32>> = g
        .par_chunks(ROWS * co)
        .map(|chunk| {
            let mut s = vec![0.0f32; co];
            chunk.chunks_exact(co).for_each(|row| s.iter_mut().zip(row).for_each(|(s, r)| *s += r));
            s
        })
        .collect();
    let mut total = vec![0.0f32; co];
    partial.iter().for_each(|p| total.iter_mut().zip(p).for_each(|(t, v)| *t += v));
    total
}

//! [`super::SpikeConvBackend`] on Flex: the engine's CPU convolution forward, and (stride 1;
//! other strides take burn's backward) the backward from the same kernels plus a weight-gradient
//! scatter over the non-zero inputs.
//!
//! The engine's layout is `[N, H, W, C]`: channel-last activations
//! ([`super::spike_conv2d_hwc`]) go to it as they are; `[N, C, H, W]` ones are transposed in
//! and out ([`super::transpose`]: the input and the output gradient on the way in, the output
//! and the input gradient on the way out, per sample in parallel). The weight gradient
//! `gW[o, c, ky, kx] = Σ_{n, y, x} x[n, c, y, x] · g[n, o, oy, ox]` (`oy = y + p − ky`) runs over
//! the non-zero `x` only and adds whole output-gradient rows (`[Co]`, contiguous in the engine's
//! layout); a value of 1 (a spike) adds the row without a multiply. Threads take input channels,
//! each owning its `[k, k, Co]` slices of the result, and sum the samples in order, so the result
//! does not depend on the thread count.

use std::sync::Mutex;

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::{DType, Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::SpikeConvBackend;
use crate::engine::cpu::{ConvScratch, PackedConv, Precision, conv_hwc};
use crate::model::graph::{Conv, Shape};
use super::transpose::transpose;
use super::weight_grad::{weight_grad, weight_grad_hwc};
use crate::train::flex::{f32_values, par_zeros, tensor};
use crate::train::layout::{nchw, nhwc};

/// The engine kernels' working memory, reused by every layer and step: a call takes one out for
/// its duration. No lock is held while a convolution runs, since a rayon thread waiting inside
/// one may pick up another training step's convolution (two nets trained from two threads).
static SCRATCH: Mutex<Vec<ConvScratch>> = Mutex::new(Vec::new());

/// The sizes of one convolution the fast path takes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub n: usize,
    pub ci: usize,
    pub co: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub si: Shape,
    pub so: Shape,
}

impl Dims {
    /// `None` where burn's own kernels must run: not f32, groups, dilation, non-square kernels,
    /// unequal strides or paddings. `x` is `[N, C, H, W]`, or `[N, H, W, C]` where `hwc`.
    fn of(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>, hwc: bool) -> Option<Self> {
        let (xs, ws) = (x.shape(), w.shape());
        let [s0, s1] = options.stride;
        let [(p0, p1), (p2, p3)] = options.padding;
        let plain = x.dtype() == DType::F32 && w.dtype() == DType::F32 && options.groups == 1 && options.dilation == [1, 1];
        if !plain || s0 != s1 || p0 != p1 || p1 != p2 || p2 != p3 || ws[2] != ws[3] || xs.num_dims() != 4 {
            return None;
        }
        let (k, stride, pad) = (ws[2], s0, p0);
        let (ci, h, w) = if hwc { (xs[3], xs[1], xs[2]) } else { (xs[1], xs[2], xs[3]) };
        if ci != ws[1] {
            return None;
        }
        if h + 2 * pad < k || w + 2 * pad < k {
            return None;
        }
        let so = Shape::new(ws[0], (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
        Some(Self { n: xs[0], ci, co: ws[0], k, stride, pad, si: Shape::new(ci, h, w), so })
    }

    /// Whether the backward takes the engine's kernels and the weight-gradient scatter (stride
    /// 1, padding below the kernel, a kernel the scatter's tap ranges hold); else burn's.
    fn backward_fast(&self) -> bool {
        self.stride == 1 && self.pad < self.k && self.k <= usize::from(u8::MAX)
    }

    /// The layer of `weight` `[Co, Ci, k, k]` and `bias` `[Co]` in these sizes.
    fn conv(&self, weight: &FlexTensor, bias: &FlexTensor) -> Conv {
        Conv { in_ch: self.ci, out_ch: self.co, kernel: self.k, stride: self.stride, padding: self.pad, weight: values(weight).into_owned(), bias: values(bias).into_owned(), time_scale: None }
    }
}

/// The f32 values of `t` ([`Dims::of`] checked the dtype).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    f32_values(t).expect("an f32 tensor (checked by Dims::of)")
}

/// `out [N, Ho, Wo, Co]` = the engine's convolution of `input` `[N, Hi, Wi, Ci]`.
#[inline(never)]
fn engine_conv(input: &[f32], n: usize, si: Shape, so: Shape, c: &Conv) -> Vec<f32> {
    // Packed for this call's size, which picks the Winograd tile.
    let packed = PackedConv::with_precision(c, Precision::F32, "conv", (n, so.h, so.w)).expect("f32 holds every f32 weight");
    let mut out = par_zeros(n * so.len());
    let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
    conv_hwc(input, &mut out, si, so, &packed, &vec![1.0; n], &mut scratch);
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).push(scratch);
    out
}

impl SpikeConvBackend for Flex {
    fn spike_conv2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(d) = Dims::of(&x, &weight, &options, false) else {
            return Flex::conv2d(x, weight, Some(bias), options);
        };
        let conv = d.conv(&weight, &bias);
        let x_hwc = transpose(&values(&x), d.n, d.ci, d.si.h * d.si.w);
        let y_hwc = engine_conv(&x_hwc, d.n, d.si, d.so, &conv);
        tensor(transpose(&y_hwc, d.n, d.so.h * d.so.w, d.co), [d.n, d.co, d.so.h, d.so.w])
    }

    fn spike_conv2d_backward(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, grad: FlexTensor, options: ConvOptions<2>, want_x: bool) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
        let Some(d) = Dims::of(&x, &weight, &options, false) else {
            return super::burn_backward::<Flex>(x, weight, bias, grad, options, want_x);
        };
        if !d.backward_fast() {
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

    fn spike_conv2d_hwc(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(d) = Dims::of(&x, &weight, &options, true) else {
            return nhwc::<Flex>(Flex::conv2d(nchw::<Flex>(x, true), weight, Some(bias), options), true);
        };
        let conv = d.conv(&weight, &bias);
        tensor(engine_conv(&values(&x), d.n, d.si, d.so, &conv), [d.n, d.so.h, d.so.w, d.co])
    }

    fn spike_conv2d_hwc_backward(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, grad: FlexTensor, options: ConvOptions<2>, want_x: bool) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
        let fast = Dims::of(&x, &weight, &options, true).filter(Dims::backward_fast);
        let Some(d) = fast else {
            let (gx, gw, gb) = super::burn_backward::<Flex>(nchw::<Flex>(x, true), weight, bias, nchw::<Flex>(grad, true), options, want_x);
            return (gx.map(|g| nhwc::<Flex>(g, true)), gw, gb);
        };
        let g = values(&grad);
        let gx = want_x.then(|| tensor(engine_conv(&g, d.n, d.so, d.si, &flipped(&values(&weight), &d)), [d.n, d.si.h, d.si.w, d.ci]));
        let gw = weight_grad_hwc(&values(&x), &g, &d);
        let gb = bias_grad(&g, d.co);
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

//! BatchNorm on batch statistics as a burn custom op ([`batch_norm_train`]): on Flex (burn's
//! CPU backend) the statistics, the normalisation and the backward are each one pass over the
//! `[N, C, …]` activations (channels in parallel for the sums, samples in parallel for the
//! element-wise part, sums in f64), where burn's generic `batch_norm_train` and its backward run
//! a dozen tensor ops with two transposed copies each way. Other backends (wgpu) run burn's own
//! `batch_norm_train` and `batch_norm_train_backward`. The equations are burn's (and PyTorch's):
//! `x̂ = (x − μ)/√(σ² + ε)` with the biased variance, `y = γ·x̂ + β`;
//! `dx = γ/√(σ² + ε) · (g − mean(g) − x̂·mean(g·x̂))`, `dγ = Σ g·x̂`, `dβ = Σ g`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::train::flex::{f32_values, tensor};

#[backend_extension(Cube, Flex, Autodiff)]
pub trait BatchNormBackend: Backend {
    /// (output, batch mean `[C]`, biased batch variance `[C]`) of `x` `[N, C, …]`.
    fn bn_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// (dL/dx, dL/dγ, dL/dβ) from the output gradient `grad`.
    fn bn_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }
}

impl BatchNormBackend for CubeBackend {}

/// `[N, C, P]` sizes and the f32 values of `t`, or `None` (another dtype, or fewer than two
/// dimensions: burn's op runs).
fn view(t: &FlexTensor) -> Option<([usize; 3], std::borrow::Cow<'_, [f32]>)> {
    let shape = t.shape();
    if shape.num_dims() < 2 || shape[0] * shape[1] == 0 {
        return None;
    }
    Some(([shape[0], shape[1], shape.num_elements() / (shape[0] * shape[1])], f32_values(t)?))
}

/// The f32 values of a small tensor (γ, β, statistics).
fn f32s(t: &FlexTensor) -> Option<Vec<f32>> {
    Some(f32_values(t)?.into_owned())
}

/// Per channel: `f(channel, values of one sample, values of the same positions in `other`)`
/// summed over the samples, channels in parallel.
fn per_channel(x: &[f32], other: &[f32], [n, c, p]: [usize; 3], f: impl Fn(usize, &[f32], &[f32]) -> f64 + Sync) -> Vec<f64> {
    (0..c).into_par_iter().map(|ch| (0..n).map(|s| f(ch, &x[(s * c + ch) * p..][..p], &other[(s * c + ch) * p..][..p])).sum()).collect()
}

/// `Σ f(a_i, b_i)` over 16 f32 lanes (vectorised), the lanes summed in f64.
#[inline(always)]
fn lanes(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f64::from(f(x, y))).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += f(x[k], y[k]);
        }
    }
    acc.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

/// `out[s, ch, ·] = a[ch]·x[s, ch, ·] + b[ch]·y[s, ch, ·] + c[ch]`, samples in parallel.
fn affine(x: &[f32], y: &[f32], [_, c, p]: [usize; 3], coef: &[[f32; 3]]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(c * p).zip(x.par_chunks(c * p)).zip(y.par_chunks(c * p)).for_each(|((o, x), y)| {
        for (ch, &[a, b, k]) in coef.iter().enumerate() {
            let r = ch * p..(ch + 1) * p;
            o[r.clone()].iter_mut().zip(&x[r.clone()]).zip(&y[r]).for_each(|((o, &x), &y)| *o = a * x + b * y + k);
        }
    });
    out
}

fn tensor_like(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    tensor(values, like.shape())
}

fn channels(values: Vec<f64>) -> FlexTensor {
    let len = values.len();
    tensor(values.into_iter().map(|v| v as f32).collect(), [len])
}

fn fused_forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, epsilon: f64) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let (dims, xs) = view(x)?;
    let (g, b) = (f32s(gamma)?, f32s(beta)?);
    let count = (dims[0] * dims[2]) as f64;
    let mean: Vec<f64> = per_channel(&xs, &xs, dims, |_, v, _| lanes(v, v, |a, _| a)).into_iter().map(|s| s / count).collect();
    let var: Vec<f64> = per_channel(&xs, &xs, dims, |ch, v, _| {
        let m = mean[ch] as f32;
        lanes(v, v, |a, _| (a - m) * (a - m))
    })
    .into_iter()
    .map(|s| s / count)
    .collect();
    // y = a·x + k with a = γ/√(σ² + ε), k = β − μ·a.
    let coef: Vec<[f32; 3]> = (0..dims[1])
        .map(|ch| {
            let a = f64::from(g[ch]) / (var[ch] + epsilon).sqrt();
            [a as f32, 0.0, (f64::from(b[ch]) - mean[ch] * a) as f32]
        })
        .collect();
    let out = affine(&xs, &xs, dims, &coef);
    Some((tensor_like(out, x), channels(mean), channels(var)))
}

/// With `x̂ = (x − μ)·s` (`s = 1/√(σ² + ε)`), `M` values per channel, `Sg = Σ g` and
/// `Sgx = Σ g·x̂ = s·(Σ g·x − μ·Sg)`: `dx = γ·s·g − γ·s²·Sgx/M·x + γ·s·(s·Sgx·μ − Sg)/M`.
fn fused_backward(x: &FlexTensor, gamma: &FlexTensor, mean: &FlexTensor, variance: &FlexTensor, epsilon: f64, grad: &FlexTensor) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let (dims, xs) = view(x)?;
    let (gd, gs) = view(grad)?;
    if gd != dims {
        return None;
    }
    let (gamma, mean, var) = (f32s(gamma)?, f32s(mean)?, f32s(variance)?);
    let count = (dims[0] * dims[2]) as f64;
    let inv_std: Vec<f64> = var.iter().map(|&v| 1.0 / (f64::from(v) + epsilon).sqrt()).collect();
    let sum_g = per_channel(&gs, &gs, dims, |_, g, _| lanes(g, g, |a, _| a));
    let sum_gxc = per_channel(&gs, &xs, dims, |ch, g, x| {
        let m = mean[ch];
        lanes(g, x, |g, x| g * (x - m))
    });
    let sum_gx: Vec<f64> = sum_gxc.iter().zip(&inv_std).map(|(v, s)| v * s).collect();
    let coef: Vec<[f32; 3]> = (0..dims[1])
        .map(|ch| {
            let (gm, s, m) = (f64::from(gamma[ch]), inv_std[ch], f64::from(mean[ch]));
            let b = -gm * s * s * sum_gx[ch] / count;
            [(gm * s) as f32, b as f32, (gm * s * (s * sum_gx[ch] * m - sum_g[ch]) / count) as f32]
        })
        .collect();
    let dx = affine(&gs, &xs, dims, &coef);
    Some((tensor_like(dx, x), channels(sum_gx), channels(sum_g)))
}

impl BatchNormBackend for Flex {
    fn bn_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
        fused_forward(&x, &gamma, &beta, epsilon).unwrap_or_else(|| {
            let r = Self::batch_norm_train(x, gamma, beta, epsilon);
            (r.output, r.mean, r.variance)
        })
    }

    fn bn_train_backward(x: FlexTensor, gamma: FlexTensor, mean: FlexTensor, variance: FlexTensor, epsilon: f64, grad: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        fused_backward(&x, &gamma, &mean, &variance, epsilon, &grad).unwrap_or_else(|| {
            let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
            (r.x_grad, r.gamma_grad, r.beta_grad)
        })
    }
}

#[derive(Debug)]
struct BnBackward {
    epsilon: f64,
}

impl<B: Backend + BatchNormBackend> Backward<B, 3> for BnBackward {
    /// The input, γ, and the batch statistics.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, var) = ops.state;
        let (gx, gg, gb) = B::bn_train_backward(x, gamma, mean, var, self.epsilon, grad);
        for (node, g) in [(node_x, gx), (node_gamma, gg), (node_beta, gb)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + BatchNormBackend, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn bn_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let node = BnBackward { epsilon };
        let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
        let (out, mean, var) = B::bn_train(xp.clone(), gp.clone(), beta.primitive().clone(), epsilon);
        let stats = (Self::from_inner(mean.clone()), Self::from_inner(var.clone()));
        match node.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => (prep.finish((xp, gp, mean, var), out), stats.0, stats.1),
            OpsKind::UnTracked(prep) => (prep.finish(out), stats.0, stats.1),
        }
    }
}

/// What [`batch_norm_train`] returns: the output and the batch statistics (not tracked).
pub struct BatchNormOut<const D: usize> {
    pub output: Tensor<D>,
    pub mean: Tensor<1>,
    /// Biased.
    pub variance: Tensor<1>,
}

/// `batch_norm_train` of `x` `[N, C, …]` on whatever backend the tensors live on (module doc).
pub fn batch_norm_train<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> BatchNormOut<D> {
    let (output, mean, variance) = <Dispatch as BatchNormBackend>::bn_train(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), epsilon);
    BatchNormOut { output: Tensor::from_dispatch(output), mean: Tensor::from_dispatch(mean), variance: Tensor::from_dispatch(variance) }
}

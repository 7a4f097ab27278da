//! BatchNorm on batch statistics as burn custom ops (channel-first `[N, C, …]` or channel-last
//! `[N, H, W, C]` activations): [`batch_norm_train`], and
//! [`batch_norm_tebn_train`], the same followed by TEBN's per-timestep scale in one op. On Flex
//! (burn's CPU backend, [`super::bn_flex`]) the statistics, the normalisation and the backward
//! are each one pass over the `[N, C, …]` activations, where burn's generic `batch_norm_train`
//! and its backward run a dozen tensor ops with two transposed copies each way, and the scale's
//! broadcast multiply and its backward (two more passes and a reduction) disappear into them.
//! Other backends (wgpu) compose burn's own ops ([`burn_bn_train`], [`burn_tebn_train`] and their
//! backwards). The equations are burn's (and PyTorch's): `x̂ = (x − μ)/√(σ² + ε)` with the biased
//! variance, `y = γ·x̂ + β`; `dx = γ/√(σ² + ε) · (g − mean(g) − x̂·mean(g·x̂))`, `dγ = Σ g·x̂`,
//! `dβ = Σ g`. With the scale, the rows of timestep `t` (the `t`-th of `T` equal groups of `N`,
//! time-major as in [`super::scale_per_timestep`]) are `s_t·y`: the BN backward sees `s_t·g`,
//! and `ds_t = Σ g·y` over those rows.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Shape, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

use crate::train::layout::{nchw, nhwc};

#[backend_extension(Cube, Flex, Autodiff)]
pub trait BatchNormBackend: Backend {
    /// (output, batch mean `[C]`, biased batch variance `[C]`) of `x` `[N, C, …]`, or `[N, H,
    /// W, C]` where `last` (channel-last).
    fn bn_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64, last: bool) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, var) = burn_bn_train::<Self>(nchw::<Self>(x, last), gamma, beta, epsilon);
        (nhwc::<Self>(y, last), mean, var)
    }

    /// (dL/dx, dL/dγ, dL/dβ) from the output gradient `grad`.
    fn bn_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
        last: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (gx, gg, gb) = burn_bn_train_backward::<Self>(nchw::<Self>(x, last), gamma, mean, variance, epsilon, nchw::<Self>(grad, last));
        (nhwc::<Self>(gx, last), gg, gb)
    }

    /// [`BatchNormBackend::bn_train`] with the rows of timestep `t` (of `timesteps`) times
    /// `scale[t]` (`scale` `[T]`); the statistics are BN's.
    fn bn_tebn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        timesteps: usize,
        epsilon: f64,
        last: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, var) = burn_tebn_train::<Self>(nchw::<Self>(x, last), gamma, beta, scale, timesteps, epsilon);
        (nhwc::<Self>(y, last), mean, var)
    }

    /// (dL/dx, dL/dγ, dL/dβ, dL/dscale) of [`BatchNormBackend::bn_tebn_train`].
    #[allow(clippy::too_many_arguments)]
    fn bn_tebn_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        timesteps: usize,
        epsilon: f64,
        grad: FloatTensor<Self>,
        last: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, grad) = (nchw::<Self>(x, last), nchw::<Self>(grad, last));
        let (gx, gg, gb, gs) = burn_tebn_train_backward::<Self>(x, gamma, beta, mean, variance, scale, timesteps, epsilon, grad);
        (nhwc::<Self>(gx, last), gg, gb, gs)
    }
}

impl BatchNormBackend for CubeBackend {}

/// burn's `batch_norm_train` (the path of every backend but Flex).
pub(super) fn burn_bn_train<B: Backend>(x: FloatTensor<B>, gamma: FloatTensor<B>, beta: FloatTensor<B>, epsilon: f64) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    (r.output, r.mean, r.variance)
}

/// burn's `batch_norm_train_backward`.
pub(super) fn burn_bn_train_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
    (r.x_grad, r.gamma_grad, r.beta_grad)
}

/// `y` `[N, …]` with the rows of timestep `t` times `scale[t]` (a broadcast multiply).
fn scale_rows<B: Backend>(y: FloatTensor<B>, scale: FloatTensor<B>, timesteps: usize) -> FloatTensor<B> {
    let shape = y.shape();
    let rows = B::float_reshape(y, Shape::new([timesteps, shape.num_elements() / timesteps]));
    B::float_reshape(B::float_mul(rows, B::float_reshape(scale, Shape::new([timesteps, 1]))), shape)
}

/// burn's `batch_norm_train`, then the scale as a broadcast multiply.
pub(super) fn burn_tebn_train<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    scale: FloatTensor<B>,
    timesteps: usize,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (y, mean, variance) = burn_bn_train::<B>(x, gamma, beta, epsilon);
    (scale_rows::<B>(y, scale, timesteps), mean, variance)
}

/// The gradients of [`burn_tebn_train`] from burn's ops: BN's output recomputed from the
/// statistics (`batch_norm`, as `batch_norm_train` computes it) for `ds`.
#[allow(clippy::too_many_arguments)]
pub(super) fn burn_tebn_train_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    scale: FloatTensor<B>,
    timesteps: usize,
    epsilon: f64,
    grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let y = B::batch_norm(x.clone(), gamma.clone(), beta, mean.clone(), variance.clone(), epsilon);
    let rows = Shape::new([timesteps, grad.shape().num_elements() / timesteps]);
    let gy = B::float_mul(B::float_reshape(grad.clone(), rows.clone()), B::float_reshape(y, rows));
    let ds = B::float_reshape(B::float_sum_dim(gy, 1), Shape::new([timesteps]));
    let (gx, gg, gb) = burn_bn_train_backward::<B>(x, gamma, mean, variance, epsilon, scale_rows::<B>(grad, scale, timesteps));
    (gx, gg, gb, ds)
}

/// Registers each gradient with its parent node, where the parent is tracked.
fn register<B: Backend, const N: usize>(grads: &mut Gradients, parents: [Option<NodeId>; N], values: [FloatTensor<B>; N]) {
    for (node, g) in parents.into_iter().zip(values) {
        if let Some(id) = node {
            grads.register::<B>(id, g);
        }
    }
}

#[derive(Debug)]
struct BnBackward {
    epsilon: f64,
    last: bool,
}

impl<B: Backend + BatchNormBackend> Backward<B, 3> for BnBackward {
    /// The input, γ, and the batch statistics.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, var) = ops.state;
        let (gx, gg, gb) = B::bn_train_backward(x, gamma, mean, var, self.epsilon, grad, self.last);
        register::<B, 3>(grads, ops.parents.map(|p| p.map(|n| n.id)), [gx, gg, gb]);
    }
}

#[derive(Debug)]
struct TebnBackward {
    epsilon: f64,
    timesteps: usize,
    last: bool,
}

impl<B: Backend + BatchNormBackend> Backward<B, 4> for TebnBackward {
    /// The input, γ, β, the batch statistics and the scale.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, beta, mean, var, scale) = ops.state;
        let (gx, gg, gb, gs) = B::bn_tebn_train_backward(x, gamma, beta, mean, var, scale, self.timesteps, self.epsilon, grad, self.last);
        register::<B, 4>(grads, ops.parents.map(|p| p.map(|n| n.id)), [gx, gg, gb, gs]);
    }
}

impl<B: Backend + BatchNormBackend, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn bn_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64, last: bool) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let node = BnBackward { epsilon, last };
        let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
        let (out, mean, var) = B::bn_train(xp.clone(), gp.clone(), beta.primitive().clone(), epsilon, last);
        let stats = (Self::from_inner(mean.clone()), Self::from_inner(var.clone()));
        match node.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => (prep.finish((xp, gp, mean, var), out), stats.0, stats.1),
            OpsKind::UnTracked(prep) => (prep.finish(out), stats.0, stats.1),
        }
    }

    fn bn_tebn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        timesteps: usize,
        epsilon: f64,
        last: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let node = TebnBackward { epsilon, timesteps, last };
        let (xp, gp, bp, sp) = (x.primitive().clone(), gamma.primitive().clone(), beta.primitive().clone(), scale.primitive().clone());
        let (out, mean, var) = B::bn_tebn_train(xp.clone(), gp.clone(), bp.clone(), sp.clone(), timesteps, epsilon, last);
        let stats = (Self::from_inner(mean.clone()), Self::from_inner(var.clone()));
        match node.prepare::<C>([x.node(), gamma.node(), beta.node(), scale.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => (prep.finish((xp, gp, bp, mean, var, sp), out), stats.0, stats.1),
            OpsKind::UnTracked(prep) => (prep.finish(out), stats.0, stats.1),
        }
    }
}

/// What [`batch_norm_train`] and [`batch_norm_tebn_train`] return: the output and the batch
/// statistics (not tracked).
pub struct BatchNormOut<const D: usize> {
    pub output: Tensor<D>,
    pub mean: Tensor<1>,
    /// Biased.
    pub variance: Tensor<1>,
}

impl<const D: usize> BatchNormOut<D> {
    fn of(output: FloatTensor<Dispatch>, mean: FloatTensor<Dispatch>, variance: FloatTensor<Dispatch>) -> Self {
        Self { output: Tensor::from_dispatch(output), mean: Tensor::from_dispatch(mean), variance: Tensor::from_dispatch(variance) }
    }
}

/// `batch_norm_train` of `x` `[N, C, …]` (`[N, H, W, C]` where `last`) on whatever backend the
/// tensors live on (module doc).
pub fn batch_norm_train<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64, last: bool) -> BatchNormOut<D> {
    let (output, mean, variance) = <Dispatch as BatchNormBackend>::bn_train(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), epsilon, last);
    BatchNormOut::of(output, mean, variance)
}

/// [`batch_norm_train`] with the rows of timestep `t` times `scale[t]`: `x` is `[T·B, C, …]`,
/// timestep-major, `scale` `[T]` (TEBN); the statistics are BN's, over all `T·B` rows.
pub fn batch_norm_tebn_train<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, beta: Tensor<1>, scale: Tensor<1>, epsilon: f64, last: bool) -> BatchNormOut<D> {
    let timesteps = scale.dims()[0];
    let (output, mean, variance) =
        <Dispatch as BatchNormBackend>::bn_tebn_train(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), scale.into_dispatch(), timesteps, epsilon, last);
    BatchNormOut::of(output, mean, variance)
}

//! The trainer's 2-D convolution as a burn custom op ([`spike_conv2d`]; [`spike_conv2d_hwc`] for
//! channel-last activations `[N, H, W, C]`, which the Flex kernels take without transposes).
//!
//! - Flex (burn's CPU backend): the forward is the inference engine's CPU convolution
//!   (`engine::cpu::conv`: adds of weight rows for binary spike inputs, Winograd for pooled
//!   spikes, a register-blocked FMA tile for dense inputs; the kernel is picked by the input's
//!   density as at inference); the backward is [`flex`]: the input gradient as the engine's
//!   convolution of the output gradient with the flipped, transposed weights, and the weight
//!   gradient as a scatter over the non-zero inputs only (a spike adds output-gradient rows: no
//!   multiply), threads over input channels;
//! - burn's wgpu backend (`Cube`) and any geometry the fast path does not take (not f32, groups,
//!   dilation, unequal strides or paddings): burn's own `conv2d` and its backward (channel-last
//!   activations permuted to and from `[N, C, H, W]` around them);
//! - autodiff: the forward of the inner backend, and a custom backward ([`ConvBackward`]) that
//!   keeps the forward's input and weights.

mod flex;
mod transpose;
mod weight_grad;
#[cfg(target_arch = "x86_64")]
mod weight_grad_x86;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use crate::train::layout::{nchw, nhwc};

#[backend_extension(Cube, Flex, Autodiff)]
pub trait SpikeConvBackend: Backend {
    /// `conv2d(x, weight) + bias`: `x` `[N, Ci, H, W]`, `weight` `[Co, Ci, k, k]`, `bias` `[Co]`.
    fn spike_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options)
    }

    /// Gradients (input, weight, bias) of [`SpikeConvBackend::spike_conv2d`] for the output
    /// gradient `grad` `[N, Co, Ho, Wo]`; the input's only if `want_x` (a network's first layer
    /// reads data, which needs none).
    fn spike_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        want_x: bool,
    ) -> (Option<FloatTensor<Self>>, FloatTensor<Self>, FloatTensor<Self>) {
        burn_backward::<Self>(x, weight, bias, grad, options, want_x)
    }

    /// [`SpikeConvBackend::spike_conv2d`] of channel-last activations: `x` `[N, H, W, Ci]`, the
    /// output `[N, Ho, Wo, Co]` (the weights as before).
    fn spike_conv2d_hwc(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        nhwc::<Self>(Self::spike_conv2d(nchw::<Self>(x, true), weight, bias, options), true)
    }

    /// [`SpikeConvBackend::spike_conv2d_backward`] of [`SpikeConvBackend::spike_conv2d_hwc`]:
    /// `grad` and the input gradient channel-last.
    fn spike_conv2d_hwc_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        want_x: bool,
    ) -> (Option<FloatTensor<Self>>, FloatTensor<Self>, FloatTensor<Self>) {
        let (gx, gw, gb) = Self::spike_conv2d_backward(nchw::<Self>(x, true), weight, bias, nchw::<Self>(grad, true), options, want_x);
        (gx.map(|g| nhwc::<Self>(g, true)), gw, gb)
    }
}


/// burn's own gradients of `conv2d` (the oracle, and the path of every other backend).
pub(crate) fn burn_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: ConvOptions<2>,
    want_x: bool,
) -> (Option<FloatTensor<B>>, FloatTensor<B>, FloatTensor<B>) {
    let gx = want_x.then(|| B::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone()));
    let gw = B::conv2d_weight_backward(x.clone(), weight, grad.clone(), options);
    let gb = B::conv2d_bias_backward(x, bias, grad);
    (gx, gw, gb)
}

impl SpikeConvBackend for CubeBackend {}

#[derive(Debug)]
struct ConvBackward {
    options: ConvOptions<2>,
    /// Channel-last activations ([`SpikeConvBackend::spike_conv2d_hwc`]).
    hwc: bool,
}

impl<B: Backend + SpikeConvBackend> Backward<B, 3> for ConvBackward {
    /// The forward's input, weights and bias.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, b) = ops.state;
        let (gx, gw, gb) =
            if self.hwc { B::spike_conv2d_hwc_backward(x, w, b, grad, self.options, node_x.is_some()) } else { B::spike_conv2d_backward(x, w, b, grad, self.options, node_x.is_some()) };
        for (node, g) in [(node_x, gx), (node_w, Some(gw)), (node_b, Some(gb))] {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + SpikeConvBackend, C: CheckpointStrategy> SpikeConvBackend for Autodiff<B, C> {
    fn spike_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        tracked::<B, C>(x, weight, bias, options, false)
    }

    fn spike_conv2d_hwc(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        tracked::<B, C>(x, weight, bias, options, true)
    }
}

/// The inner backend's forward (`hwc`: channel-last), with [`ConvBackward`] where tracked.
fn tracked<B: Backend + SpikeConvBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    options: ConvOptions<2>,
    hwc: bool,
) -> FloatTensor<Autodiff<B, C>> {
    let forward = |x, w, b, options| if hwc { B::spike_conv2d_hwc(x, w, b, options) } else { B::spike_conv2d(x, w, b, options) };
    let backward = ConvBackward { options: options.clone(), hwc };
    match backward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (xp, wp, bp) = (x.primitive().clone(), weight.primitive().clone(), bias.primitive().clone());
            let y = forward(xp.clone(), wp.clone(), bp.clone(), options);
            prep.finish((xp, wp, bp), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), options)),
    }
}

/// `conv2d(x, weight) + bias` on whatever backend the tensors live on (see the module doc);
/// no bias is a zero bias.
pub fn spike_conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as SpikeConvBackend>::spike_conv2d(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), options))
}

/// [`spike_conv2d`] of channel-last activations: `x` `[N, H, W, Ci]` → `[N, Ho, Wo, Co]`.
pub fn spike_conv2d_hwc(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as SpikeConvBackend>::spike_conv2d_hwc(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), options))
}

//! The neuron layer as a burn custom op (`reference/burn-wgpu.md` §1.2–1.4).
//!
//! - burn's wgpu backend (`Cube`): the forward is the engine's `shaders/neuron.wgsl`, the very
//!   text the inference engine compiles, launched once per timestep as a burn `SourceKernel` with
//!   the parameter words of [`neuron_params`] (the one encoding both sides use);
//! - Flex (burn's CPU backend): the same rule on plain f32 slices, one pass per layer
//!   ([`super::flex`]);
//! - autodiff: the forward of the inner backend, and a custom backward (surrogate BPTT through the
//!   membrane, gradient for the initial potential included: [`super::bptt::backward`] from burn
//!   ops, on Flex [`super::flex::backward`]).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Autodiff, Backend, DType, Dispatch, Scalar, Shape, backend_extension};
use burn::backend::wgpu::{CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate};
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::{CubeCount, CubeDim};
use burn::tensor::Tensor;

use super::NeuronSpec;
use super::{bptt, flex};
use burn::backend::flex::FlexTensor;
use crate::gpu::kernel::{Kernel, neuron_params};

#[backend_extension(Cube, Flex, Autodiff)]
pub trait SpikingBackend: Backend {
    /// Spikes `[T, B, N]` (0.0 / 1.0) of input currents `x` `[T, B, N]` from the initial membrane
    /// `v0` `[B, N]`.
    fn neuron_forward(x: FloatTensor<Self>, v0: FloatTensor<Self>, spec: NeuronSpec) -> FloatTensor<Self> {
        bptt::forward::<Self>(&spec, x, v0)
    }

    /// `(dL/dX [T, B, N], dL/dV0 [B, N])` from `dL/dS` (`grad`, `[T, B, N]`) and the forward's
    /// input, initial membrane and spikes.
    fn neuron_backward(
        x: FloatTensor<Self>,
        v0: FloatTensor<Self>,
        spikes: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        spec: NeuronSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        bptt::backward::<Self>(&spec, x, v0, spikes, grad)
    }
}

impl SpikingBackend for burn::backend::Flex {
    fn neuron_forward(x: FlexTensor, v0: FlexTensor, spec: NeuronSpec) -> FlexTensor {
        flex::forward(&spec, &x, &v0).unwrap_or_else(|| bptt::forward::<Self>(&spec, x, v0))
    }

    fn neuron_backward(x: FlexTensor, v0: FlexTensor, spikes: FlexTensor, grad: FlexTensor, spec: NeuronSpec) -> (FlexTensor, FlexTensor) {
        flex::backward(&spec, &x, &v0, &spikes, &grad).unwrap_or_else(|| bptt::backward::<Self>(&spec, x, v0, spikes, grad))
    }
}

/// `shaders/neuron.wgsl` as a burn template kernel (no placeholders: the file is used as is).
struct NeuronWgsl;

impl KernelSource for NeuronWgsl {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(Kernel::Neuron.source())
    }
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }
    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// A fresh contiguous copy (the shader writes `v` in place and binds whole buffers).
fn owned_copy(t: CubeTensor) -> CubeTensor {
    CubeBackend::float_mul_scalar(t, Scalar::from(1.0f32))
}

impl SpikingBackend for CubeBackend {
    fn neuron_forward(x: CubeTensor, v0: CubeTensor, spec: NeuronSpec) -> CubeTensor {
        let [t_len, b, n] = bptt::dims3::<Self>(&x);
        let client = x.client.clone();
        let device = x.device.clone();
        let v = owned_copy(CubeBackend::float_reshape(v0, Shape::new([b, n])));
        let params = neuron_params(&spec.kind, n, 0, 1);
        let params = client.create_from_slice(bytemuck::cast_slice(&params));
        let counts = client.create_from_slice(bytemuck::cast_slice(&vec![0u32; b]));
        let wg = Kernel::Neuron.workgroup_x();
        let groups_x = (n as u32).div_ceil(wg).min(65_535);
        let mut spikes = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let slice = burn::backend::Slice::new(t as isize, Some(t as isize + 1), 1);
            let x_t = CubeBackend::float_slice(x.clone(), &[slice, burn::backend::Slice::full(), burn::backend::Slice::full()]);
            let x_t = owned_copy(CubeBackend::float_reshape(x_t, Shape::new([b, n])));
            let s_handle = client.empty(b * n * 4);
            let s_t = CubeTensor::new_contiguous(client.clone(), device.clone(), Shape::new([1, b, n]), s_handle, DType::F32);
            client.launch(
                Box::new(SourceKernel::new(NeuronWgsl, CubeDim::new_1d(wg))),
                CubeCount::Static(groups_x, b as u32, 1),
                KernelArguments::new().with_buffers(vec![
                    x_t.handle.clone().binding(),
                    v.handle.clone().binding(),
                    s_t.handle.clone().binding(),
                    counts.clone().binding(),
                    params.clone().binding(),
                ]),
            );
            spikes.push(s_t);
        }
        CubeBackend::float_cat(spikes, 0)
    }
}

#[derive(Debug)]
struct NeuronBackward {
    spec: NeuronSpec,
}

impl<B: Backend + SpikingBackend> Backward<B, 2> for NeuronBackward {
    /// The forward's input currents, initial membrane and spikes.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_v0] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, v0, spikes) = ops.state;
        let (gx, gv0) = B::neuron_backward(x, v0, spikes, grad, self.spec);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_v0 {
            grads.register::<B>(node.id, gv0);
        }
    }
}

impl<B: Backend + SpikingBackend, C: CheckpointStrategy> SpikingBackend for Autodiff<B, C> {
    fn neuron_forward(x: FloatTensor<Self>, v0: FloatTensor<Self>, spec: NeuronSpec) -> FloatTensor<Self> {
        match (NeuronBackward { spec }).prepare::<C>([x.node(), v0.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (xp, vp) = (x.primitive().clone(), v0.primitive().clone());
                let spikes = B::neuron_forward(xp.clone(), vp.clone(), spec);
                prep.finish((xp, vp, spikes.clone()), spikes)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::neuron_forward(x.into_primitive(), v0.into_primitive(), spec)),
        }
    }
}

/// The spiking layer: spikes `[T, B, N]` of currents `x` `[T, B, N]` from the initial membrane
/// `v0` `[B, N]` (the IMP broadcast over the batch, or the rest potential), on whatever backend
/// the tensors live on.
pub fn spike_layer(x: Tensor<3>, v0: Tensor<2>, spec: NeuronSpec) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as SpikingBackend>::neuron_forward(x.into_dispatch(), v0.into_dispatch(), spec))
}

//! burn's Flex (CPU) tensors as plain f32 slices and back, for the trainer's CPU kernels
//! ([`super::conv`], [`super::neuron`], the BatchNorm of [`super::net`]).

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::backend::{DType, Shape};
use burn::tensor::TensorData;

/// The values of an f32 tensor in row-major order (a copy only where it is a strided view), or
/// `None` for another dtype (the caller then runs burn's own op).
pub(crate) fn f32_values(t: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    match t.as_slice::<f32>() {
        Some(s) => Some(Cow::Borrowed(s)),
        None => Some(Cow::Owned(t.to_contiguous().as_slice::<f32>()?.to_vec())),
    }
}

/// A contiguous f32 tensor of `values`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

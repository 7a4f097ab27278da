//! burn's Flex (CPU) tensors as plain f32 slices and back, for the trainer's CPU kernels
//! ([`super::conv`], [`super::neuron`], the BatchNorm of [`super::net`]).

use std::borrow::Cow;
use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::{DType, Shape};
use burn::tensor::TensorData;

/// The values of an f32 tensor in row-major order (a copy only where it is a strided view), or
/// `None` for another dtype (the caller then runs burn's own op).
pub(crate) fn f32_values(t: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    if let Some(s) = t.as_slice::<f32>() {
        return Some(Cow::Borrowed(s));
    }
    // A view whose innermost dimensions are still contiguous (an expanded initial membrane, a
    // narrowed batch): one copy run by run. Anything else: burn's own copy.
    let blocks = t.layout().strided_blocks();
    let run = blocks.block_len();
    if run >= 8 {
        let storage = t.storage::<f32>();
        let mut values = Vec::with_capacity(t.layout().num_elements());
        for start in blocks.block_starts() {
            values.extend_from_slice(storage.get(start..start + run)?);
        }
        return Some(Cow::Owned(values));
    }
    Some(Cow::Owned(t.to_contiguous().as_slice::<f32>()?.to_vec()))
}

/// A contiguous f32 tensor of `values`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// `chunk` of fresh memory, zeroed and handed out as values (kernels that take `&mut [f32]`
/// zero their output in the thread and cache that fills it, not in a serial pass first).
pub(crate) fn zeroed(chunk: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    chunk.iter_mut().for_each(|v| {
        v.write(0.0);
    });
    // SAFETY: every value was just written; `MaybeUninit<f32>` and `f32` share their layout.
    unsafe { &mut *(std::ptr::from_mut(chunk) as *mut [f32]) }
}

/// `len` zeros, written in parallel by [`super::net::par_collect`] (`vec![0.0; len]` zeroes
/// reused memory in one thread).
pub(crate) fn par_zeros(len: usize) -> Vec<f32> {
    super::net::par_collect(len, 1 << 14, |_| std::iter::repeat(0.0f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_read_in_row_major_order() {
        let t = tensor((0..48).map(|v| v as f32).collect(), [3, 16]);
        // Runs of 8 contiguous values (the run-by-run copy).
        let narrowed = t.narrow(1, 4, 8);
        let want: Vec<f32> = (0..3).flat_map(|r| (4..12).map(move |c| (r * 16 + c) as f32)).collect();
        assert_eq!(f32_values(&narrowed).unwrap().as_ref(), want.as_slice());
        // No contiguous run (burn's copy).
        let transposed = t.transpose(0, 1);
        let want: Vec<f32> = (0..16).flat_map(|c| (0..3).map(move |r| (r * 16 + c) as f32)).collect();
        assert_eq!(f32_values(&transposed).unwrap().as_ref(), want.as_slice());
    }

    #[test]
    fn par_zeros_are_zeros() {
        for len in [0, 1, (1 << 14) + 3, 100_000] {
            let v = par_zeros(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x.to_bits() == 0), "len {len}");
        }
    }
}

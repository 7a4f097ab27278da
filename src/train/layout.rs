//! The trainer's two activation layouts: burn's channel-first `[N, C, H, W]` and the engine
//! kernels' channel-last `[N, H, W, C]` (training on Flex, `net::Layers::channels_last`). Ops
//! that only exist channel-first (burn's own, on other backends) run between these permutes.

use burn::backend::Backend;
use burn::backend::tensor::FloatTensor;

/// A channel-last `[N, H, W, C]` tensor as `[N, C, H, W]` (where `last`), else itself.
pub(crate) fn nchw<B: Backend>(x: FloatTensor<B>, last: bool) -> FloatTensor<B> {
    if last { B::float_permute(x, &[0, 3, 1, 2]) } else { x }
}

/// [`nchw`]'s inverse: `[N, C, H, W]` as `[N, H, W, C]` (where `last`), else itself.
pub(crate) fn nhwc<B: Backend>(x: FloatTensor<B>, last: bool) -> FloatTensor<B> {
    if last { B::float_permute(x, &[0, 2, 3, 1]) } else { x }
}

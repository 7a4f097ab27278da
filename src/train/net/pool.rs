//! Average pooling as a burn custom op ([`avg_pool`]). On Flex (burn's CPU backend), pools
//! whose windows tile the input (kernel = stride, no padding: the VGGs' 2×2 pools) run as one
//! pass each way over `[N, C, H, W]` or channel-last `[N, H, W, C]` (all channels of a pixel at
//! a time), output rows in parallel, under [`with_avx2`]: the forward
//! sums each window in burn's order (rows, then columns, from 0) and divides by `k²` as burn
//! does, so it equals burn's `avg_pool2d` bit for bit; the backward spreads `g/k²` over each
//! window (zero for the rows and columns no window covers), equal to burn's
//! `avg_pool2d_backward`. Other pools and other backends (wgpu) run burn's ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

use crate::train::layout::{nchw, nhwc};
use super::cpu::{par_collect, with_avx2};
use rayon::prelude::*;
use crate::model::graph::Pool;
use crate::train::flex::{f32_values, par_zeros, tensor};

#[backend_extension(Cube, Flex, Autodiff)]
pub trait AvgPoolBackend: Backend {
    /// The average pool `pool` of `x` `[N, C, H, W]` (`[N, H, W, C]` where `last`).
    fn avg_pool(x: FloatTensor<Self>, pool: Pool, last: bool) -> FloatTensor<Self> {
        nhwc::<Self>(burn_avg_pool::<Self>(nchw::<Self>(x, last), pool), last)
    }

    /// dL/dx of [`AvgPoolBackend::avg_pool`] from the output gradient `grad`.
    fn avg_pool_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, pool: Pool, last: bool) -> FloatTensor<Self> {
        nhwc::<Self>(burn_avg_pool_backward::<Self>(nchw::<Self>(x, last), nchw::<Self>(grad, last), pool), last)
    }
}

impl AvgPoolBackend for CubeBackend {}

fn burn_avg_pool<B: Backend>(x: FloatTensor<B>, p: Pool) -> FloatTensor<B> {
    B::avg_pool2d(x, [p.kernel; 2], [p.stride; 2], [p.padding; 2], p.count_include_pad, false)
}

fn burn_avg_pool_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>, p: Pool) -> FloatTensor<B> {
    B::avg_pool2d_backward(x, grad, [p.kernel; 2], [p.stride; 2], [p.padding; 2], p.count_include_pad, false)
}

/// The sizes of a pool the fast path takes: `[N·C, H, W]` in, `[Ho, Wo]` out, kernel `k`; or,
/// channel-last (`c` > 0), `[N, H, W, c]`.
#[derive(Clone, Copy, Debug)]
struct Tiles {
    planes: usize,
    c: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    k: usize,
}

impl Tiles {
    /// `None` where burn's op runs: windows that overlap, leave gaps or cover padding, not four
    /// dimensions, or an empty output.
    fn of(x: &FlexTensor, p: Pool, last: bool) -> Option<Self> {
        let s = x.shape();
        if p.kernel != p.stride || p.padding != 0 || p.kernel == 0 || s.num_dims() != 4 {
            return None;
        }
        let (k, planes, c, h, w) = if last { (p.kernel, s[0], s[3], s[1], s[2]) } else { (p.kernel, s[0] * s[1], 0, s[2], s[3]) };
        let t = Self { planes, c, h, w, ho: h / k, wo: w / k, k };
        (t.planes * t.ho * t.wo > 0).then_some(t)
    }

}

/// Output rows in parallel: row `oh` of plane `i` averages input rows `oh·k..(oh + 1)·k`, each
/// window summed row by row from 0 as burn sums it, divided by `k²` as burn divides.
fn forward(xs: &[f32], t: Tiles) -> Vec<f32> {
    par_collect(t.planes * t.ho * t.wo, t.wo, |r| {
        let (k, w) = (t.k, t.w);
        let (plane, oh) = (r / t.ho, r % t.ho);
        let rows = &xs[(plane * t.h + oh * k) * w..][..k * w];
        (0..t.wo).map(move |ow| {
            let mut sum = 0.0f32;
            for kh in 0..k {
                for v in &rows[kh * w + ow * k..][..k] {
                    sum += v;
                }
            }
            sum / (k * k) as f32
        })
    })
}

/// [`forward`] for 2×2 windows: pairs of input rows read two values at a time, the division by
/// the literal 4 (an exact multiply; a size captured from outside reaches the loop as a load).
fn forward2(xs: &[f32], t: Tiles) -> Vec<f32> {
    par_collect(t.planes * t.ho * t.wo, t.wo, |r| {
        let (plane, oh) = (r / t.ho, r % t.ho);
        let at = (plane * t.h + 2 * oh) * t.w;
        let n = 2 * t.wo;
        let (r0, r1) = (&xs[at..at + n], &xs[at + t.w..at + t.w + n]);
        r0.chunks_exact(2).zip(r1.chunks_exact(2)).map(|(a, b)| ((((0.0 + a[0]) + a[1]) + b[0]) + b[1]) / 4.0)
    })
}

/// Input rows in parallel: `g/k²` repeated `k` times per output column, then zeros for the
/// columns (and whole rows) no window covers; `0 + g/k²` as burn accumulates it (a −0
/// gradient gives +0).
fn backward(gs: &[f32], t: Tiles) -> Vec<f32> {
    par_collect(t.planes * t.h * t.w, t.w, |r| {
        let k = t.k;
        let (plane, y) = (r / t.h, r % t.h);
        let covered: &[f32] = if y < t.ho * k { &gs[(plane * t.ho + y / k) * t.wo..][..t.wo] } else { &[] };
        let rest = t.w - covered.len() * k;
        covered.iter().flat_map(move |&g| std::iter::repeat_n(0.0 + g / (k * k) as f32, k)).chain(std::iter::repeat_n(0.0, rest))
    })
}

/// [`backward`] for 2×2 windows covering the whole input (even sizes): each input row is its
/// output row's values, each written twice (pairs, which the compiler vectorises).
fn backward2(gs: &[f32], t: Tiles) -> Vec<f32> {
    par_collect(t.planes * t.h * t.wo, t.wo, |r| {
        let (plane, y) = (r / t.h, r % t.h);
        gs[(plane * t.ho + y / 2) * t.wo..][..t.wo].iter().map(|&g| {
            let v = 0.0 + g / 4.0;
            [v, v]
        })
    })
    .into_flattened()
}

/// Channel-last [`forward`]: output rows in parallel, each value's window summed in the same
/// order, all channels of a pixel at a time.
fn forward_last(xs: &[f32], t: Tiles) -> Vec<f32> {
    let (c, k) = (t.c, t.k);
    // Zeroed in parallel (`vec!` zeroes on the calling thread while the other waits).
    let mut out = par_zeros(t.planes * t.ho * t.wo * c);
    out.par_chunks_mut(t.wo * c).enumerate().for_each(|(r, row)| {
        with_avx2(
            #[inline(always)]
            || {
                let (plane, oh) = (r / t.ho, r % t.ho);
                for (ow, px) in row.chunks_exact_mut(c).enumerate() {
                    for kh in 0..k {
                        for kw in 0..k {
                            let src = &xs[((plane * t.h + oh * k + kh) * t.w + ow * k + kw) * c..][..c];
                            px.iter_mut().zip(src).for_each(|(s, v)| *s += v);
                        }
                    }
                    px.iter_mut().for_each(|s| *s /= (k * k) as f32);
                }
            },
        )
    });
    out
}

/// Channel-last [`backward`]: input rows in parallel.
fn backward_last(gs: &[f32], t: Tiles) -> Vec<f32> {
    let (c, k) = (t.c, t.k);
    let mut dx = par_zeros(t.planes * t.h * t.w * c);
    dx.par_chunks_mut(t.w * c).enumerate().for_each(|(r, row)| {
        let (plane, y) = (r / t.h, r % t.h);
        if y >= t.ho * k {
            return;
        }
        with_avx2(
            #[inline(always)]
            || {
                for (x, px) in row.chunks_exact_mut(c).enumerate().take(t.wo * k) {
                    let g = &gs[((plane * t.ho + y / k) * t.wo + x / k) * c..][..c];
                    px.iter_mut().zip(g).for_each(|(d, &g)| *d = 0.0 + g / (k * k) as f32);
                }
            },
        )
    });
    dx
}

fn pool_forward(x: &FlexTensor, t: Tiles) -> Option<FlexTensor> {
    let xs = f32_values(x)?;
    let s = x.shape();
    if t.c > 0 {
        return Some(tensor(forward_last(&xs, t), [s[0], t.ho, t.wo, t.c]));
    }
    let out = if t.k == 2 { forward2(&xs, t) } else { forward(&xs, t) };
    Some(tensor(out, [s[0], s[1], t.ho, t.wo]))
}

fn pool_backward(grad: &FlexTensor, x_shape: burn::backend::Shape, t: Tiles) -> Option<FlexTensor> {
    let gs = f32_values(grad)?;
    let g = grad.shape();
    if g.num_dims() != 4 {
        return None;
    }
    let (planes, ho, wo) = if t.c > 0 { (g[0], g[1], g[2]) } else { (g[0] * g[1], g[2], g[3]) };
    if planes != t.planes || ho != t.ho || wo != t.wo || (t.c > 0 && g[3] != t.c) {
        return None;
    }
    if t.c > 0 {
        return Some(tensor(backward_last(&gs, t), x_shape));
    }
    let dx = if t.k == 2 && t.h == 2 * t.ho && t.w == 2 * t.wo { backward2(&gs, t) } else { backward(&gs, t) };
    Some(tensor(dx, x_shape))
}

impl AvgPoolBackend for Flex {
    fn avg_pool(x: FlexTensor, pool: Pool, last: bool) -> FlexTensor {
        Tiles::of(&x, pool, last).and_then(|t| pool_forward(&x, t)).unwrap_or_else(|| nhwc::<Flex>(burn_avg_pool::<Flex>(nchw::<Flex>(x, last), pool), last))
    }

    fn avg_pool_backward(x: FlexTensor, grad: FlexTensor, pool: Pool, last: bool) -> FlexTensor {
        Tiles::of(&x, pool, last)
            .and_then(|t| pool_backward(&grad, x.shape(), t))
            .unwrap_or_else(|| nhwc::<Flex>(burn_avg_pool_backward::<Flex>(nchw::<Flex>(x, last), nchw::<Flex>(grad, last), pool), last))
    }
}

#[derive(Debug)]
struct PoolBackward {
    pool: Pool,
    last: bool,
}

impl<B: Backend + AvgPoolBackend> Backward<B, 1> for PoolBackward {
    /// The input (for its shape; burn's backward takes it).
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::avg_pool_backward(ops.state, grad, self.pool, self.last));
        }
    }
}

impl<B: Backend + AvgPoolBackend, C: CheckpointStrategy> AvgPoolBackend for Autodiff<B, C> {
    fn avg_pool(x: FloatTensor<Self>, pool: Pool, last: bool) -> FloatTensor<Self> {
        let xp = x.primitive().clone();
        match (PoolBackward { pool, last }).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(xp.clone(), B::avg_pool(xp, pool, last)),
            OpsKind::UnTracked(prep) => prep.finish(B::avg_pool(xp, pool, last)),
        }
    }
}

/// The average pool `pool` of `x` `[N, C, H, W]` (`[N, H, W, C]` where `last`) on whatever
/// backend it lives on (module doc).
pub fn avg_pool(x: Tensor<4>, pool: Pool, last: bool) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as AvgPoolBackend>::avg_pool(x.into_dispatch(), pool, last))
}

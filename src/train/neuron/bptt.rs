//! Surrogate-gradient backpropagation through time for one neuron layer, written with burn's
//! primitive ops so it runs on every backend (the wgpu backend after the WGSL forward, and Flex).
//!
//! Forward, per timestep: `H_t = cv·V_{t−1} + cx·X_t + c` (the rule's charge, computed as the
//! engine computes it), `S_t = Θ(H_t − v_th)`, then the reset `V_t = H_t − S_t·v_th` (soft) or `(1 − S_t)·H_t + S_t·v_r` (hard), with
//! `V_{−1}` the initial potential (the IMP). Backward, with `σ'_t` the surrogate at `H_t − v_th`
//! and `R_t = ∂V_t/∂H_t`:
//!
//! ```text
//! gH_t = gS_t·σ'_t + gV_t·R_t        gX_t = cx·gH_t        gV_{t−1} = cv·gH_t
//! R_t = 1 | 1 − v_th·σ'_t            (soft, detached | attached)
//! R_t = 1 − S_t | 1 − S_t + (v_r − H_t)·σ'_t   (hard, detached | attached)
//! R_t = 1                            (no reset)
//! ```
//!
//! A non-spiking readout (LI, I, exp_leak) outputs its membrane `V_t = H_t`, so
//! `gH_t = gOut_t + gV_t` (no surrogate, no reset).
//!
//! The membrane trace is not stored by the forward: it is recomputed here from `X`, `V_{−1}` and
//! the forward's spikes (so the reset follows the spikes the shader actually emitted).

use std::marker::PhantomData;

use burn::backend::{Backend, Scalar, Shape, Slice};
use burn::backend::tensor::FloatTensor;

use super::{NeuronSpec, Surrogate};
use crate::model::neuron::{Arith, Reset, Slot, Spiking};

fn time_slice<B: Backend>(t: &FloatTensor<B>, step: usize) -> FloatTensor<B> {
    let s = Slice::new(step as isize, Some(step as isize + 1), 1);
    B::float_slice(t.clone(), &[s, Slice::full(), Slice::full()])
}

fn squeeze_time<B: Backend>(t: FloatTensor<B>, b: usize, n: usize) -> FloatTensor<B> {
    B::float_reshape(t, Shape::new([b, n]))
}

fn scalar(v: f32) -> Scalar {
    Scalar::from(v)
}

/// burn's primitive float ops as the rule's arithmetic ([`Arith`], [`Spiking`]): the charge,
/// fire and reset of `src/model/neuron/rule.rs`, operation for operation as the engine's. A
/// spike is a 0.0 / 1.0 tensor, made without boolean tensors.
pub(crate) struct Prim<B>(PhantomData<B>);

impl<B: Backend> Prim<B> {
    pub(crate) const OPS: Self = Prim(PhantomData);
}

impl<B: Backend> Arith for Prim<B> {
    type V = FloatTensor<B>;
    type P = f32;
    fn param(&self, _: Slot, value: f32) -> f32 {
        value
    }
    fn add(&self, a: Self::V, b: Self::V) -> Self::V {
        B::float_add(a, b)
    }
    fn sub(&self, a: Self::V, b: Self::V) -> Self::V {
        B::float_sub(a, b)
    }
    fn mul_p(&self, a: Self::V, p: f32) -> Self::V {
        B::float_mul_scalar(a, scalar(p))
    }
    fn div_p(&self, a: Self::V, p: f32) -> Self::V {
        B::float_div_scalar(a, scalar(p))
    }
    fn add_p(&self, a: Self::V, p: f32) -> Self::V {
        B::float_add_scalar(a, scalar(p))
    }
    fn sub_p(&self, a: Self::V, p: f32) -> Self::V {
        B::float_sub_scalar(a, scalar(p))
    }
    /// `(−a) + p`, which is `p − a` exactly.
    fn rsub_p(&self, a: Self::V, p: f32) -> Self::V {
        B::float_add_scalar(B::float_neg(a), scalar(p))
    }
}

impl<B: Backend> Spiking for Prim<B> {
    type S = FloatTensor<B>;
    /// `clamp(sign(h − θ), 0, 1)` is 1 exactly when `h − θ > 0`.
    fn above(&self, h: Self::V, th: f32) -> Self::S {
        B::float_clamp(B::float_sign(B::float_sub_scalar(h, scalar(th))), scalar(0.0), scalar(1.0))
    }
    /// `1 − clamp(sign(θ − h), 0, 1)` is 1 exactly when `h ≥ θ`.
    fn at_least(&self, h: Self::V, th: f32) -> Self::S {
        let below = B::float_clamp(B::float_sign(B::float_add_scalar(B::float_neg(h), scalar(th))), scalar(0.0), scalar(1.0));
        B::float_add_scalar(B::float_neg(below), scalar(1.0))
    }
    /// `h − ∞ > 0` is false for every `h`.
    fn never(&self, h: Self::V) -> Self::S {
        self.above(h, f32::INFINITY)
    }
    /// `h − s·θ`, exact for both values of `s`.
    fn subtract(&self, h: Self::V, s: Self::S, th: f32) -> Self::V {
        B::float_sub(h, B::float_mul_scalar(s, scalar(th)))
    }
    /// `h·(1 − s) + s·v_r`, exact for both values of `s`.
    fn set(&self, h: Self::V, s: Self::S, v_r: f32) -> Self::V {
        let keep = B::float_add_scalar(B::float_neg(s.clone()), scalar(1.0));
        let kept = B::float_mul(h, keep);
        if v_r == 0.0 { kept } else { B::float_add(kept, B::float_mul_scalar(s, scalar(v_r))) }
    }
    fn relu(&self, v: Self::V) -> Self::V {
        B::float_clamp_min(v, scalar(0.0))
    }
    /// `clamp(sign(h), 0, 1)·trunc(h / θ)` (the trainer refuses counting neurons; this keeps the
    /// forward complete).
    fn count(&self, h: Self::V, th: f32) -> Self::V {
        let positive = B::float_clamp(B::float_sign(h.clone()), scalar(0.0), scalar(1.0));
        B::float_mul(positive, B::float_trunc(B::float_div_scalar(h, scalar(th))))
    }
    /// `m − (s − p)·θ`, exact: `(s − p)·θ` is `−θ`, 0 or `θ`.
    fn settle(&self, m: Self::V, s: Self::S, p: Self::S, th: f32) -> Self::V {
        B::float_sub(m, B::float_mul_scalar(B::float_sub(s, p), scalar(th)))
    }
}

/// `H = charge(V, X)`, operation for operation as `NeuronKind::step`.
pub(crate) fn charge<B: Backend>(spec: &NeuronSpec, v: FloatTensor<B>, x: FloatTensor<B>) -> FloatTensor<B> {
    spec.rule().charge.apply(&Prim::<B>::OPS, v, x)
}

/// `V` after the reset, given the spikes `s` (0 or 1).
pub(crate) fn reset<B: Backend>(spec: &NeuronSpec, h: FloatTensor<B>, s: FloatTensor<B>) -> FloatTensor<B> {
    spec.rule().reset.apply(&Prim::<B>::OPS, h, s, spec.v_th())
}

/// The surrogate derivative at `u`.
pub(crate) fn surrogate<B: Backend>(surrogate: Surrogate, u: FloatTensor<B>) -> FloatTensor<B> {
    match surrogate {
        Surrogate::Triangle { gamma } => {
            let tri = B::float_clamp_min(B::float_add_scalar(B::float_neg(B::float_abs(u)), scalar(gamma)), scalar(0.0));
            B::float_div_scalar(tri, scalar(gamma * gamma))
        }
        Surrogate::Sigmoid { alpha } => {
            let s = B::sigmoid(B::float_mul_scalar(u, scalar(alpha)));
            let one_minus = B::float_add_scalar(B::float_neg(s.clone()), scalar(1.0));
            B::float_mul_scalar(B::float_mul(s, one_minus), scalar(alpha))
        }
        Surrogate::Atan { alpha } => {
            let k = B::float_mul_scalar(u, scalar(std::f32::consts::FRAC_PI_2 * alpha));
            let denom = B::float_add_scalar(B::float_mul(k.clone(), k), scalar(1.0));
            B::float_mul_scalar(B::float_recip(denom), scalar(alpha / 2.0))
        }
    }
}

/// The forward rule with burn ops: spikes `[T, B, N]` of input `x` `[T, B, N]` from `v0`
/// `[B, N]`. The Flex forward, and the wgpu fallback's specification.
pub(crate) fn forward<B: Backend>(spec: &NeuronSpec, x: FloatTensor<B>, v0: FloatTensor<B>) -> FloatTensor<B> {
    let [t_len, b, n] = dims3::<B>(&x);
    let mut v = v0;
    let mut spikes = Vec::with_capacity(t_len);
    let rule = spec.rule();
    let readout = !spec.kind.spikes();
    for t in 0..t_len {
        let (next, s) = rule.step(&Prim::<B>::OPS, v, squeeze_time::<B>(time_slice::<B>(&x, t), b, n));
        // A non-spiking readout outputs its membrane.
        let out = if readout { next.clone() } else { s };
        v = next;
        spikes.push(B::float_reshape(out, Shape::new([1, b, n])));
    }
    B::float_cat(spikes, 0)
}

pub(crate) fn dims3<B: Backend>(x: &FloatTensor<B>) -> [usize; 3] {
    use burn::backend::TensorMetadata;
    let d = x.shape();
    [d[0], d[1], d[2]]
}

/// Gradients `(dL/dX [T, B, N], dL/dV0 [B, N])` from `dL/dS` (`grad`, `[T, B, N]`).
pub fn backward<B: Backend>(
    spec: &NeuronSpec,
    x: FloatTensor<B>,
    v0: FloatTensor<B>,
    spikes: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let [t_len, b, n] = dims3::<B>(&x);
    let th = spec.v_th();
    // Recompute the membrane before each reset.
    let mut v = v0.clone();
    let mut h_trace = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let h = charge::<B>(spec, v, squeeze_time::<B>(time_slice::<B>(&x, t), b, n));
        let s = squeeze_time::<B>(time_slice::<B>(&spikes, t), b, n);
        v = reset::<B>(spec, h.clone(), s);
        h_trace.push(h);
    }
    let (cv, cx) = spec.charge_partials();
    let mut gv = B::float_zeros(Shape::new([b, n]), &burn::backend::TensorMetadata::device(&v0), burn::backend::FloatDType::F32);
    let mut gx = vec![None; t_len];
    for t in (0..t_len).rev() {
        let gs = squeeze_time::<B>(time_slice::<B>(&grad, t), b, n);
        if !spec.kind.spikes() {
            // A readout outputs V_t = H_t (no fire, no reset): gH_t = gOut_t + gV_t.
            let gh = B::float_add(gs, gv);
            gx[t] = Some(B::float_reshape(mul_or_same::<B>(gh.clone(), cx), Shape::new([1, b, n])));
            gv = mul_or_same::<B>(gh, cv);
            continue;
        }
        let h = h_trace[t].clone();
        let sg = surrogate::<B>(spec.surrogate, B::float_sub_scalar(h.clone(), scalar(th)));
        let s = squeeze_time::<B>(time_slice::<B>(&spikes, t), b, n);
        let r = match (spec.rule().reset, spec.detach_reset) {
            // SoftSnntorch and SoftFloor are refused by `NeuronSpec::trainable`; taken as Soft here.
            (Reset::None, _) | (Reset::Soft | Reset::SoftSnntorch | Reset::SoftFloor, true) => None,
            (Reset::Soft | Reset::SoftSnntorch | Reset::SoftFloor, false) => Some(B::float_add_scalar(B::float_neg(B::float_mul_scalar(sg.clone(), scalar(th))), scalar(1.0))),
            (Reset::Hard(_), true) => Some(B::float_add_scalar(B::float_neg(s), scalar(1.0))),
            (Reset::Hard(vr), false) => {
                let keep = B::float_add_scalar(B::float_neg(s), scalar(1.0));
                let through = B::float_mul(B::float_add_scalar(B::float_neg(h), scalar(vr)), sg.clone());
                Some(B::float_add(keep, through))
            }
        };
        let carried = match r {
            None => gv,
            Some(r) => B::float_mul(gv, r),
        };
        let gh = B::float_add(B::float_mul(gs, sg), carried);
        gx[t] = Some(B::float_reshape(mul_or_same::<B>(gh.clone(), cx), Shape::new([1, b, n])));
        gv = mul_or_same::<B>(gh, cv);
    }
    let gx: Vec<FloatTensor<B>> = gx.into_iter().map(|g| g.expect("every timestep visited")).collect();
    (B::float_cat(gx, 0), gv)
}

fn mul_or_same<B: Backend>(t: FloatTensor<B>, k: f32) -> FloatTensor<B> {
    if k == 1.0 { t } else { B::float_mul_scalar(t, scalar(k)) }
}

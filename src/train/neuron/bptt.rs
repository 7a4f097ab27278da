//! Surrogate-gradient backpropagation through time for one neuron layer, written with burn's
//! primitive ops so it runs on every backend (the wgpu backend after the WGSL forward, and Flex).
//!
//! Forward, per timestep: `H_t = cv·V_{t−1} + cx·X_t` (as the rule computes it), `S_t = Θ(H_t −
//! v_th)`, then the reset `V_t = H_t − S_t·v_th` (soft) or `(1 − S_t)·H_t + S_t·v_r` (hard), with
//! `V_{−1}` the initial potential (the IMP). Backward, with `σ'_t` the surrogate at `H_t − v_th`
//! and `R_t = ∂V_t/∂H_t`:
//!
//! ```text
//! gH_t = gS_t·σ'_t + gV_t·R_t        gX_t = cx·gH_t        gV_{t−1} = cv·gH_t
//! R_t = 1 | 1 − v_th·σ'_t            (soft, detached | attached)
//! R_t = 1 − S_t | 1 − S_t + (v_r − H_t)·σ'_t   (hard, detached | attached)
//! ```
//!
//! The membrane trace is not stored by the forward: it is recomputed here from `X`, `V_{−1}` and
//! the forward's spikes (so the reset follows the spikes the shader actually emitted).

use burn::backend::{Backend, Scalar, Shape, Slice};
use burn::backend::tensor::FloatTensor;

use super::{NeuronSpec, Surrogate};

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

/// `H = charge(V, X)`, operation for operation as `NeuronKind::step`.
pub(crate) fn charge<B: Backend>(spec: &NeuronSpec, v: FloatTensor<B>, x: FloatTensor<B>) -> FloatTensor<B> {
    use crate::model::{NeuronKind, Reset};
    match spec.kind {
        NeuronKind::LegacyLif { decay, .. } => B::float_add(B::float_mul_scalar(v, scalar(decay)), x),
        NeuronKind::Lif { tau, reset, decay_input, .. } => match (decay_input, reset) {
            (true, Reset::Soft) => B::float_add(v.clone(), B::float_div_scalar(B::float_sub(x, v), scalar(tau))),
            (true, Reset::Hard(vr)) => {
                let leak = B::float_sub(x, B::float_sub_scalar(v.clone(), scalar(vr)));
                B::float_add(v, B::float_div_scalar(leak, scalar(tau)))
            }
            (false, Reset::Soft) => B::float_add(B::float_mul_scalar(v, scalar(1.0 - 1.0 / tau)), x),
            (false, Reset::Hard(vr)) => {
                let leak = B::float_div_scalar(B::float_sub_scalar(v.clone(), scalar(vr)), scalar(tau));
                B::float_add(B::float_sub(v, leak), x)
            }
        },
        NeuronKind::If { .. } => B::float_add(v, x),
    }
}

/// `V` after the reset, given the spikes `s` (0 or 1), exact for both values of `s`.
pub(crate) fn reset<B: Backend>(spec: &NeuronSpec, h: FloatTensor<B>, s: FloatTensor<B>) -> FloatTensor<B> {
    match spec.hard_reset() {
        None => B::float_sub(h, B::float_mul_scalar(s, scalar(spec.v_th()))),
        Some(vr) => {
            let keep = B::float_add_scalar(B::float_neg(s.clone()), scalar(1.0));
            let kept = B::float_mul(h, keep);
            if vr == 0.0 { kept } else { B::float_add(kept, B::float_mul_scalar(s, scalar(vr))) }
        }
    }
}

/// The spike of `h` as 0.0 / 1.0, without boolean tensors: `clamp(sign(h − v_th), 0, 1)` is 1
/// exactly when `h − v_th > 0` (strict); `1 − clamp(sign(v_th − h), 0, 1)` when `h ≥ v_th`.
pub(crate) fn fire<B: Backend>(spec: &NeuronSpec, h: FloatTensor<B>) -> FloatTensor<B> {
    let th = scalar(spec.v_th());
    if spec.strict_threshold() {
        B::float_clamp(B::float_sign(B::float_sub_scalar(h, th)), scalar(0.0), scalar(1.0))
    } else {
        let below = B::float_clamp(B::float_sign(B::float_add_scalar(B::float_neg(h), th)), scalar(0.0), scalar(1.0));
        B::float_add_scalar(B::float_neg(below), scalar(1.0))
    }
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
    for t in 0..t_len {
        let h = charge::<B>(spec, v, squeeze_time::<B>(time_slice::<B>(&x, t), b, n));
        let s = fire::<B>(spec, h.clone());
        v = reset::<B>(spec, h, s.clone());
        spikes.push(B::float_reshape(s, Shape::new([1, b, n])));
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
        let h = h_trace[t].clone();
        let sg = surrogate::<B>(spec.surrogate, B::float_sub_scalar(h.clone(), scalar(th)));
        let gs = squeeze_time::<B>(time_slice::<B>(&grad, t), b, n);
        let s = squeeze_time::<B>(time_slice::<B>(&spikes, t), b, n);
        let r = match (spec.hard_reset(), spec.detach_reset) {
            (None, true) => None,
            (None, false) => Some(B::float_add_scalar(B::float_neg(B::float_mul_scalar(sg.clone(), scalar(th))), scalar(1.0))),
            (Some(_), true) => Some(B::float_add_scalar(B::float_neg(s), scalar(1.0))),
            (Some(vr), false) => {
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

//! The gradient oracle: the neuron layer from plain burn tensor ops, differentiated by burn's own
//! autodiff. The spike is the straight-through construction `S = Θ(u)` in value with `dS/du =
//! σ'(u)`: `S = Θ(u)ᵈ + u·σ'(u)ᵈ − (u·σ'(u))ᵈ` (ᵈ: detached), and a detached reset uses `Sᵈ`.
//! Slow (many small ops per step) but independent of the custom op's hand-written backward.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use super::{NeuronSpec, Surrogate};
use crate::model::{NeuronKind, Reset};

fn surrogate_of(surrogate: Surrogate, u: Tensor<2>) -> Tensor<2> {
    match surrogate {
        Surrogate::Triangle { gamma } => (u.abs().neg() + gamma).clamp_min(0.0) / (gamma * gamma),
        Surrogate::Sigmoid { alpha } => {
            let s = sigmoid(u * alpha);
            s.clone() * (s.neg() + 1.0) * alpha
        }
        Surrogate::Atan { alpha } => {
            let k = u * (std::f32::consts::FRAC_PI_2 * alpha);
            (k.clone() * k + 1.0).recip() * (alpha / 2.0)
        }
    }
}

/// Spikes `[T, B, N]` of `x` `[T, B, N]` from `v0` `[B, N]`.
pub fn spike_layer_reference(x: Tensor<3>, v0: Tensor<2>, spec: NeuronSpec) -> Tensor<3> {
    let [t_len, b, n] = x.dims();
    let th = spec.v_th();
    let mut v = v0;
    let mut out = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let xt: Tensor<2> = x.clone().narrow(0, t, 1).reshape([b, n]);
        let h = match spec.kind {
            NeuronKind::LegacyLif { decay, .. } => v.clone() * decay + xt,
            NeuronKind::Lif { tau, reset, decay_input, .. } => match (decay_input, reset) {
                (true, Reset::Soft) => v.clone() + (xt - v.clone()) / tau,
                (true, Reset::Hard(vr)) => v.clone() + (xt - (v.clone() - vr)) / tau,
                (false, Reset::Soft) => v.clone() * (1.0 - 1.0 / tau) + xt,
                (false, Reset::Hard(vr)) => v.clone() - (v.clone() - vr) / tau + xt,
            },
            NeuronKind::If { .. } => v.clone() + xt,
        };
        let u = h.clone() - th;
        let heaviside = if spec.strict_threshold() { u.clone().greater_elem(0.0).float() } else { u.clone().greater_equal_elem(0.0).float() };
        let slope = surrogate_of(spec.surrogate, u.clone().detach()).detach();
        let through = u * slope;
        // `through − throughᵈ` is exactly 0 in value, so S is exactly Θ(u).
        let s = heaviside.detach() + (through.clone() - through.detach());
        let s_reset = if spec.detach_reset { s.clone().detach() } else { s.clone() };
        v = match spec.hard_reset() {
            None => h - s_reset * th,
            Some(vr) => h * (s_reset.clone().neg() + 1.0) + s_reset * vr,
        };
        out.push(s.reshape([1, b, n]));
    }
    Tensor::cat(out, 0)
}

//! The gradient oracle: the neuron layer from plain burn tensor ops, differentiated by burn's own
//! autodiff. The spike is the straight-through construction `S = Θ(u)` in value with `dS/du =
//! σ'(u)`: `S = Θ(u)ᵈ + u·σ'(u)ᵈ − (u·σ'(u))ᵈ` (ᵈ: detached), and a detached reset uses `Sᵈ`.
//! Slow (many small ops per step) but independent of the custom op's hand-written backward.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use super::{NeuronSpec, Surrogate};
use crate::model::neuron::{Arith, Slot, Spiking};

/// burn's tensor API as the rule's arithmetic: the charge, fire (the Heaviside in value) and
/// reset of `src/model/neuron/rule.rs`, on tensors that autodiff tracks.
struct Ops;

impl Arith for Ops {
    type V = Tensor<2>;
    type P = f32;
    fn param(&self, _: Slot, value: f32) -> f32 {
        value
    }
    fn add(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        a + b
    }
    fn sub(&self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        a - b
    }
    fn mul_p(&self, a: Tensor<2>, p: f32) -> Tensor<2> {
        a * p
    }
    fn div_p(&self, a: Tensor<2>, p: f32) -> Tensor<2> {
        a / p
    }
    fn add_p(&self, a: Tensor<2>, p: f32) -> Tensor<2> {
        a + p
    }
    fn sub_p(&self, a: Tensor<2>, p: f32) -> Tensor<2> {
        a - p
    }
    fn rsub_p(&self, a: Tensor<2>, p: f32) -> Tensor<2> {
        a.neg() + p
    }
}

impl Spiking for Ops {
    type S = Tensor<2>;
    fn above(&self, h: Tensor<2>, th: f32) -> Tensor<2> {
        (h - th).greater_elem(0.0).float()
    }
    fn at_least(&self, h: Tensor<2>, th: f32) -> Tensor<2> {
        h.greater_equal_elem(th).float()
    }
    fn never(&self, h: Tensor<2>) -> Tensor<2> {
        self.above(h, f32::INFINITY)
    }
    fn subtract(&self, h: Tensor<2>, s: Tensor<2>, th: f32) -> Tensor<2> {
        h - s * th
    }
    fn set(&self, h: Tensor<2>, s: Tensor<2>, v_r: f32) -> Tensor<2> {
        h * (s.clone().neg() + 1.0) + s * v_r
    }
    fn relu(&self, v: Tensor<2>) -> Tensor<2> {
        v.clamp_min(0.0)
    }
    fn count(&self, h: Tensor<2>, th: f32) -> Tensor<2> {
        h.clone().greater_elem(0.0).float() * (h / th).trunc()
    }
    fn settle(&self, m: Tensor<2>, s: Tensor<2>, p: Tensor<2>, th: f32) -> Tensor<2> {
        m - (s - p) * th
    }
}

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
    let rule = spec.rule();
    let th = rule.v_th;
    let mut v = v0;
    let mut out = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let xt: Tensor<2> = x.clone().narrow(0, t, 1).reshape([b, n]);
        let h = rule.charge.apply(&Ops, v, xt);
        let u = h.clone() - th;
        let heaviside = rule.fire.apply(&Ops, h.clone(), th);
        let slope = surrogate_of(spec.surrogate, u.clone().detach()).detach();
        let through = u * slope;
        // `through − throughᵈ` is exactly 0 in value, so S is exactly Θ.
        let s = heaviside.detach() + (through.clone() - through.detach());
        let s_reset = if spec.detach_reset { s.clone().detach() } else { s.clone() };
        v = rule.reset.apply(&Ops, h, s_reset, th);
        // A non-spiking readout outputs its membrane (no reset: `v` is `H`).
        let out_t = if spec.kind.spikes() { s } else { v.clone() };
        out.push(out_t.reshape([1, b, n]));
    }
    Tensor::cat(out, 0)
}

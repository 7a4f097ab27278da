//! The neuron rule written once: a charge per kind, then fire and reset, in the style of
//! SpikingJelly's `BaseNode` (`neuronal_charge`, `neuronal_fire`, `neuronal_reset`).
//!
//! Each step is a generic function over a small arithmetic trait ([`Arith`] for the charge,
//! [`Spiking`] for fire and reset). Its implementations are the whole set of places that compute
//! a neuron: `f32` in [`super::plain`] (the CPU engine and the scalar specification), [`Partials`] there (the
//! charge's derivatives for the trainer's backward pass), the WGSL text emitter in
//! [`super::wgsl`] (the shaders' `neuron_charge` / `neuron_fire` / `neuron_reset`), and burn
//! tensors in `src/train/neuron/` (the trainer's BPTT and its reference). Every backend
//! therefore performs the same operations in the same order, which is what keeps the CPU and
//! the WGSL kernels equal bit for bit.

use super::plain::Partials;

/// Arithmetic on per-neuron values `V` and per-layer parameters `P`, in the order written.
/// `mul_p` is a product rounded to f32 by itself: an implementation must not fuse it with a
/// following addition (one fma rounding instead of two).
pub trait Arith: Sized {
    type V: Clone;
    type P: Clone;
    /// The layer parameter held in `slot` (see [`Slot`]), whose value is `value`.
    fn param(&self, slot: Slot, value: f32) -> Self::P;
    fn add(&self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&self, a: Self::V, b: Self::V) -> Self::V;
    fn mul_p(&self, a: Self::V, p: Self::P) -> Self::V;
    fn div_p(&self, a: Self::V, p: Self::P) -> Self::V;
    fn add_p(&self, a: Self::V, p: Self::P) -> Self::V;
    fn sub_p(&self, a: Self::V, p: Self::P) -> Self::V;
    /// `p − a`.
    fn rsub_p(&self, a: Self::V, p: Self::P) -> Self::V;
    /// A value used more than once, computed once (the WGSL emitter writes a `let`).
    #[inline(always)]
    fn bind(&self, v: Self::V) -> Self::V {
        v
    }
}

/// Fire and reset primitives on top of [`Arith`]; `S` is the spike (a bool, a WGSL bool
/// expression, a 0/1 tensor).
pub trait Spiking: Arith {
    type S: Clone;
    /// `H − θ > 0`.
    fn above(&self, h: Self::V, th: Self::P) -> Self::S;
    /// `H ≥ θ`.
    fn at_least(&self, h: Self::V, th: Self::P) -> Self::S;
    /// No spike, whatever `H` (a non-spiking readout).
    fn never(&self, h: Self::V) -> Self::S;
    /// `S ? H − θ : H`.
    fn subtract(&self, h: Self::V, s: Self::S, th: Self::P) -> Self::V;
    /// `S ? v_r : H`.
    fn set(&self, h: Self::V, s: Self::S, v_r: Self::P) -> Self::V;
    /// `max(v, 0)` (torch's `relu`; used by the membrane floor).
    fn relu(&self, v: Self::V) -> Self::V;
    /// Sinabs' `MultiSpike`: `trunc(H / θ)` where `H > 0`, else a zero with `H`'s sign (a count,
    /// as a value; torch's `(H > 0)·trunc(H / θ)` makes `−0` of a negative `H`).
    fn count(&self, h: Self::V, th: Self::P) -> Self::V;
    /// `M − (S − P)·θ` for spikes `S`, `P` in {0, 1}: `M − θ`, `M + θ` or `M`.
    fn settle(&self, m: Self::V, s: Self::S, p: Self::S, th: Self::P) -> Self::V;
    #[inline(always)]
    fn bind_s(&self, s: Self::S) -> Self::S {
        s
    }
    /// The three parts of a step; the WGSL emitter calls its generated functions instead.
    #[inline(always)]
    fn charge(&self, c: &Charge, v: Self::V, x: Self::V) -> Self::V {
        c.apply(self, v, x)
    }
    #[inline(always)]
    fn fire(&self, f: Fire, h: Self::V, th: Self::P) -> Self::S {
        f.apply(self, h, th)
    }
    #[inline(always)]
    fn reset(&self, r: Reset, h: Self::V, s: Self::S, th: Self::P) -> Self::V {
        r.apply(self, h, s, th)
    }
}

/// Where a layer parameter lives (the WGSL `NeuronRule` fields `p0`, `p1`, `v_th`, `v_reset`;
/// `One` is the constant 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    P0,
    P1,
    Threshold,
    ResetValue,
    One,
}

/// The charge `H = f(V, X)`: the membrane before firing, from the membrane `V` after the last
/// reset and the input current `X`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Charge {
    /// `H = a·V + X` (the legacy VGG LIF, snnTorch `Leaky` with β = a, SpikingJelly LIF without
    /// decay_input and soft reset with a = 1 − 1/τ).
    Decay { a: f32 },
    /// `H = V + (X − V)/τ` (SpikingJelly LIF, decay_input, soft reset).
    TauInput { tau: f32 },
    /// `H = V + (X − (V − V_r))/τ` (SpikingJelly LIF, decay_input, hard reset to V_r).
    TauInputTo { tau: f32, v_r: f32 },
    /// `H = V − (V − V_r)/τ + X` (SpikingJelly LIF without decay_input, hard reset to V_r).
    TauTo { tau: f32, v_r: f32 },
    /// `H = V + X` (IF).
    Integrate,
    /// `H = V + k·((X + v_leak) − V)`, `k = dt/τ` (Norse's forward-Euler LIF box).
    Euler { k: f32, v_leak: f32 },
    /// `H = V + k·((v_leak − V) + X)`, `k = dt/τ` (Norse's leaky-integrator box, LI).
    LeakBox { k: f32, v_leak: f32 },
}

impl Charge {
    /// One of each form, in code order (the WGSL emitter writes one branch per form).
    pub const FORMS: [Charge; 7] = [
        Charge::Decay { a: 0.0 },
        Charge::TauInput { tau: 1.0 },
        Charge::TauInputTo { tau: 1.0, v_r: 0.0 },
        Charge::TauTo { tau: 1.0, v_r: 0.0 },
        Charge::Integrate,
        Charge::Euler { k: 0.0, v_leak: 0.0 },
        Charge::LeakBox { k: 0.0, v_leak: 0.0 },
    ];

    /// The form's code and its two parameters (`p0`, `p1`), as the GPU receives them.
    #[inline(always)]
    pub fn code(&self) -> (u32, f32, f32) {
        match *self {
            Charge::Decay { a } => (0, a, 0.0),
            Charge::TauInput { tau } => (1, tau, 0.0),
            Charge::TauInputTo { tau, v_r } => (2, tau, v_r),
            Charge::TauTo { tau, v_r } => (3, tau, v_r),
            Charge::Integrate => (4, 0.0, 0.0),
            Charge::Euler { k, v_leak } => (5, k, v_leak),
            Charge::LeakBox { k, v_leak } => (6, k, v_leak),
        }
    }

    /// `H` from `v` and `x`, operation for operation.
    #[inline(always)]
    pub fn apply<A: Arith>(&self, a: &A, v: A::V, x: A::V) -> A::V {
        let (_, p0, p1) = self.code();
        let (p0, p1) = (a.param(Slot::P0, p0), a.param(Slot::P1, p1));
        match self {
            Charge::Decay { .. } => {
                let kept = a.mul_p(v, p0);
                a.add(kept, x)
            }
            Charge::TauInput { .. } => {
                let gap = a.sub(x, v.clone());
                let step = a.div_p(gap, p0);
                a.add(v, step)
            }
            Charge::TauInputTo { .. } => {
                let above_rest = a.sub_p(v.clone(), p1);
                let gap = a.sub(x, above_rest);
                let step = a.div_p(gap, p0);
                a.add(v, step)
            }
            Charge::TauTo { .. } => {
                let above_rest = a.sub_p(v.clone(), p1);
                let leak = a.div_p(above_rest, p0);
                let leaked = a.sub(v, leak);
                a.add(leaked, x)
            }
            Charge::Integrate => a.add(v, x),
            Charge::Euler { .. } => {
                let target = a.add_p(x, p1);
                let gap = a.sub(target, v.clone());
                let step = a.mul_p(gap, p0);
                a.add(v, step)
            }
            Charge::LeakBox { .. } => {
                let leak = a.rsub_p(v.clone(), p1);
                let gap = a.add(leak, x);
                let step = a.mul_p(gap, p0);
                a.add(v, step)
            }
        }
    }

    /// `(∂H/∂V, ∂H/∂X)`: every charge is linear in `V` and `X`, so the derivatives are the
    /// rule itself evaluated on [`Partials`].
    pub fn partials(&self) -> (f32, f32) {
        let [dv, dx] = self.apply(&Partials, [1.0, 0.0], [0.0, 1.0]);
        (dv, dx)
    }
}

/// Spike condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fire {
    /// `H − θ > 0` (snnTorch, Norse, the legacy VGG LIF).
    Above,
    /// `H ≥ θ` (SpikingJelly, Sinabs).
    AtLeast,
    /// Never: a non-spiking readout (LI, I), whose output is its membrane.
    Never,
    /// Sinabs' `MultiSpike`: `trunc(H / θ)` spikes where `H > 0` (0, 1, 2, …), and the reset
    /// subtracts `θ` once per spike. The layer outputs the count, so it is not binary.
    Count,
}

impl Fire {
    #[inline(always)]
    pub fn apply<A: Spiking>(self, a: &A, h: A::V, th: A::P) -> A::S {
        match self {
            Fire::Above => a.above(h, th),
            Fire::AtLeast => a.at_least(h, th),
            Fire::Never => a.never(h),
            // Whether it fires at all; the count itself comes from [`Rule::count_step`].
            Fire::Count => {
                let n = a.count(h, th);
                a.at_least(n, a.param(Slot::One, 1.0))
            }
        }
    }

    /// The comparison's code, as the GPU receives it.
    pub fn code(self) -> u32 {
        match self {
            Fire::AtLeast => 0,
            Fire::Above => 1,
            Fire::Never => 2,
            Fire::Count => 3,
        }
    }

    /// The spelling in the `neuron` JSON.
    pub fn symbol(self) -> &'static str {
        match self {
            Fire::Above => ">",
            Fire::AtLeast => ">=",
            Fire::Never => "never",
            Fire::Count => "multi",
        }
    }
}

/// What happens to the membrane after a spike.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Reset {
    /// `V = H − S·v_th` (SpikingJelly `v_reset=None`).
    Soft,
    /// `V = (1 − S)·H + S·v_reset` (snnTorch "zero" is `Hard(0)`).
    Hard(f32),
    /// `V = H`: the membrane is kept (snnTorch "none").
    None,
    /// snnTorch's "subtract" with `reset_delay=False`: a membrane that the last reset left above
    /// `v_th` (`P = V − v_th > 0`) loses `v_th` before the comparison, `M = H − P·v_th`,
    /// `S = M − v_th > 0`, then `V = M − (S − P)·v_th`. Equal to `Soft` whenever `P = 0`;
    /// with `P = 1` the spike needs `H > 2·v_th`.
    SoftSnntorch,
    /// `Soft`, then the membrane floor `−v_th`: `V = max(V + v_th, 0) − v_th`, which is how Sinabs
    /// computes `relu(V − m) + m` with `min_v_mem = m = −v_th` (its `from_nir` for IF).
    SoftFloor,
}

impl Reset {
    /// The reset's code and value, as the GPU receives them.
    pub fn code(self) -> (u32, f32) {
        match self {
            Reset::Soft => (0, 0.0),
            Reset::Hard(v) => (1, v),
            Reset::None => (2, 0.0),
            Reset::SoftSnntorch => (3, 0.0),
            Reset::SoftFloor => (4, 0.0),
        }
    }

    /// The reset of `h` after the spike `s`. `SoftSnntorch` is `Soft` here: its early part
    /// needs the membrane before the charge and lives in [`Rule::step`].
    #[inline(always)]
    pub fn apply<A: Spiking>(self, a: &A, h: A::V, s: A::S, th: A::P) -> A::V {
        match self {
            Reset::Soft | Reset::SoftSnntorch => a.subtract(h, s, th),
            Reset::Hard(v) => a.set(h, s, a.param(Slot::ResetValue, v)),
            Reset::None => h,
            Reset::SoftFloor => floor(a, a.subtract(h, s, th.clone()), th),
        }
    }
}

/// Sinabs' membrane floor at `−θ`: `relu(v − (−θ)) + (−θ)`, which is `max(v + θ, 0) − θ`
/// operation for operation.
#[inline(always)]
fn floor<A: Spiking>(a: &A, v: A::V, th: A::P) -> A::V {
    let lifted = a.add_p(v, th.clone());
    let kept = a.relu(lifted);
    a.sub_p(kept, th)
}

/// A whole neuron: charge, then fire against `v_th`, then reset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub charge: Charge,
    pub v_th: f32,
    pub fire: Fire,
    pub reset: Reset,
}

impl Rule {
    /// One step: `(V', S)` from the membrane `v` and the input `x`.
    #[inline(always)]
    pub fn step<A: Spiking>(&self, a: &A, v: A::V, x: A::V) -> (A::V, A::S) {
        let th = a.param(Slot::Threshold, self.v_th);
        let h = a.bind(a.charge(&self.charge, v.clone(), x));
        if self.reset == Reset::SoftSnntorch {
            let pending = a.bind_s(a.fire(self.fire, v, th.clone()));
            let m = a.bind(a.subtract(h, pending.clone(), th.clone()));
            let s = a.bind_s(a.fire(self.fire, m.clone(), th.clone()));
            return (a.settle(m, s.clone(), pending, th), s);
        }
        if self.fire == Fire::Count {
            let (v, n) = self.count_step_from(a, h, th);
            return (v, a.bind_s(a.at_least(n, a.param(Slot::One, 1.0))));
        }
        let s = a.bind_s(a.fire(self.fire, h.clone(), th.clone()));
        (a.reset(self.reset, h, s.clone(), th), s)
    }

    /// One step of a [`Fire::Count`] neuron: `(V', n)`, the membrane and the spike count
    /// `n = trunc(H / θ)` (`H > 0`), with `V' = H − n·θ` then the floor of
    /// [`Reset::SoftFloor`] (Sinabs' `MultiSpike` with `MembraneSubtract`).
    #[inline(always)]
    pub fn count_step<A: Spiking>(&self, a: &A, v: A::V, x: A::V) -> (A::V, A::V) {
        let th = a.param(Slot::Threshold, self.v_th);
        let h = a.bind(a.charge(&self.charge, v, x));
        self.count_step_from(a, h, th)
    }

    #[inline(always)]
    fn count_step_from<A: Spiking>(&self, a: &A, h: A::V, th: A::P) -> (A::V, A::V) {
        let n = a.bind(a.count(h.clone(), th.clone()));
        let spent = a.mul_p(n.clone(), th.clone());
        let v = a.bind(a.sub(h, spent));
        let v = if self.reset == Reset::SoftFloor { a.bind(floor(a, v, th)) } else { v };
        (v, n)
    }
}

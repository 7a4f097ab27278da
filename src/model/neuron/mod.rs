//! The neuron, owned once: the kinds and their parameters ([`NeuronKind`]), each kind's rule as
//! charge + fire + reset ([`rule`]), the WGSL derived from that rule ([`wgsl`]) and the
//! `neuron` JSON of the model metadata ([`json`]), and per-neuron parameters ([`arrays`]). Rules follow the reference code exactly
//! (`reference/imp-snn.md` §1) and the import rules of snnTorch and Norse (README, NIR section).
//!
//! A new kind whose charge is one of [`Charge`]'s forms is a variant here with its `rule()`,
//! `check()` and JSON arms: the CPU kernel, the WGSL and the trainer follow from the rule. A new
//! charge form is one arm of [`Charge::apply`] plus its code and [`Charge::FORMS`] entry (and a
//! line in the CPU kernel's dispatch, which the compiler asks for); the charge is not written
//! again anywhere.

pub mod arrays;
pub mod json;
pub mod plain;
pub mod rule;
pub mod wgsl;

pub use arrays::NeuronArrays;
pub use plain::{F32, Partials};
pub use rule::{Arith, Charge, Fire, Reset, Rule, Slot, Spiking};

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NeuronKind {
    /// 48×48 VGG `LIFSpike`: `mem = decay·mem + x; s = mem > v_th` (strict); `mem = mem·(1 − s)`.
    LegacyLif { decay: f32, v_th: f32 },
    /// SpikingJelly `LIFNode`: `H = V + (X − (V − V_r))/τ` with decay_input (V_r = 0 for soft
    /// reset), else `H = V − (V − V_r)/τ + X`; `S = H ≥ v_th`.
    Lif { tau: f32, v_th: f32, reset: Reset, decay_input: bool },
    /// SpikingJelly `IFNode`: `H = V + X`; `S = H ≥ v_th`.
    If { v_th: f32, reset: Reset },
    /// snnTorch `Leaky`: `H = β·V + X`, fire and reset as given (snnTorch: `>`, "subtract" or
    /// "zero"; its IF is β = 1 with "subtract").
    Leaky { beta: f32, v_th: f32, fire: Fire, reset: Reset },
    /// Norse `LIFBox`: `H = V + k·((X + v_leak) − V)` with `k = dt/τ` (Norse: `>`, reset to 0).
    LifBox { k: f32, v_leak: f32, v_th: f32, fire: Fire, reset: Reset },
    /// Norse `LIBox` (NIR LI), a non-spiking readout: `H = V + k·((v_leak − V) + X)`,
    /// `k = dt/τ`; the layer outputs the membrane.
    Li { k: f32, v_leak: f32 },
    /// NIR's Integrator (I), a non-spiking readout: `H = V + X`; outputs the membrane.
    Integrator,
    /// An exponential leak, a non-spiking readout: `H = α·V + X`; outputs the membrane (Sinabs
    /// `ExpLeak` with `norm_input=False`, and snnTorch `Synaptic`'s current `syn`).
    ExpLeak { alpha: f32 },
}

impl NeuronKind {
    /// The kind's name in the `neuron` JSON (and in errors).
    pub fn name(&self) -> &'static str {
        match self {
            NeuronKind::LegacyLif { .. } => "legacy_lif",
            NeuronKind::Lif { .. } => "lif",
            NeuronKind::If { .. } => "if",
            NeuronKind::Leaky { .. } => "leaky",
            NeuronKind::LifBox { .. } => "lif_box",
            NeuronKind::Li { .. } => "li",
            NeuronKind::Integrator => "integrator",
            NeuronKind::ExpLeak { .. } => "exp_leak",
        }
    }

    /// The kind as charge, threshold, fire and reset: what every backend computes.
    #[inline(always)]
    pub fn rule(&self) -> Rule {
        match *self {
            NeuronKind::LegacyLif { decay, v_th } => Rule { charge: Charge::Decay { a: decay }, v_th, fire: Fire::Above, reset: Reset::Hard(0.0) },
            NeuronKind::Lif { tau, v_th, reset, decay_input } => {
                let charge = match (decay_input, reset) {
                    (true, Reset::Hard(v_r)) => Charge::TauInputTo { tau, v_r },
                    (true, _) => Charge::TauInput { tau },
                    (false, Reset::Hard(v_r)) => Charge::TauTo { tau, v_r },
                    (false, _) => Charge::Decay { a: 1.0 - 1.0 / tau },
                };
                Rule { charge, v_th, fire: Fire::AtLeast, reset }
            }
            NeuronKind::If { v_th, reset } => Rule { charge: Charge::Integrate, v_th, fire: Fire::AtLeast, reset },
            NeuronKind::Leaky { beta, v_th, fire, reset } => Rule { charge: Charge::Decay { a: beta }, v_th, fire, reset },
            NeuronKind::LifBox { k, v_leak, v_th, fire, reset } => Rule { charge: Charge::Euler { k, v_leak }, v_th, fire, reset },
            NeuronKind::Li { k, v_leak } => Rule { charge: Charge::LeakBox { k, v_leak }, v_th: 0.0, fire: Fire::Never, reset: Reset::None },
            NeuronKind::Integrator => Rule { charge: Charge::Integrate, v_th: 0.0, fire: Fire::Never, reset: Reset::None },
            NeuronKind::ExpLeak { alpha } => Rule { charge: Charge::Decay { a: alpha }, v_th: 0.0, fire: Fire::Never, reset: Reset::None },
        }
    }

    /// Whether the layer fires (outputs spikes or spike counts); a non-spiking readout outputs
    /// its membrane.
    pub fn spikes(&self) -> bool {
        self.rule().fire != Fire::Never
    }

    /// Whether every output is 0 or 1 (spikes; not counts, not membranes), so that the next
    /// layer may take the adds-only kernels.
    pub fn binary(&self) -> bool {
        !matches!(self.rule().fire, Fire::Never | Fire::Count)
    }

    /// The membrane potential before any input (without IMP): v_reset for SpikingJelly's hard
    /// reset, v_leak for Norse, else 0.
    pub fn rest(&self) -> f32 {
        match *self {
            NeuronKind::Lif { reset: Reset::Hard(v), .. } | NeuronKind::If { reset: Reset::Hard(v), .. } => v,
            NeuronKind::LifBox { v_leak, .. } | NeuronKind::Li { v_leak, .. } => v_leak,
            _ => 0.0,
        }
    }

    pub fn v_th(&self) -> f32 {
        self.rule().v_th
    }

    /// One step of one neuron: updates `v` (membrane) from input `x`, returns the spike.
    /// This is the specification the kernels must match bit for bit.
    #[inline(always)]
    pub fn step(&self, v: &mut f32, x: f32) -> bool {
        let (next, spike) = self.rule().step(&F32, *v, x);
        *v = next;
        spike
    }

    /// Parameters that give a defined membrane: `tau` finite and positive
    /// (`τ = 0` divides by zero), `v_th` finite and positive (a threshold at or below 0 fires on
    /// silence), decays and `v_reset` / `v_leak` finite. The message names the key.
    pub fn check(&self) -> Result<(), String> {
        let positive = |key: &str, x: f32| if x.is_finite() && x > 0.0 { Ok(()) } else { Err(format!("'{key}' = {x} must be a finite number above 0")) };
        let non_negative = |key: &str, x: f32| if x.is_finite() && x >= 0.0 { Ok(()) } else { Err(format!("'{key}' = {x} must be a finite number, 0 or above")) };
        let finite = |key: &str, x: f32| if x.is_finite() { Ok(()) } else { Err(format!("'{key}' = {x} must be finite")) };
        match *self {
            // The legacy rule multiplies by its decay: 0 (no memory) is defined.
            NeuronKind::LegacyLif { decay, .. } => non_negative("tau", decay).map_err(|_| format!("'tau' (the legacy decay) = {decay} must be a finite number, 0 or above"))?,
            NeuronKind::Lif { tau, .. } => positive("tau", tau)?,
            NeuronKind::If { .. } | NeuronKind::Integrator => {}
            NeuronKind::Leaky { beta, .. } => non_negative("beta", beta)?,
            NeuronKind::ExpLeak { alpha } => non_negative("alpha", alpha)?,
            NeuronKind::LifBox { k, v_leak, .. } | NeuronKind::Li { k, v_leak } => {
                positive("dt_tau", k)?;
                finite("v_leak", v_leak)?;
            }
        }
        if self.spikes() {
            positive("v_th", self.v_th())?;
        }
        let rule = self.rule();
        if rule.fire == Fire::Count && !matches!(rule.reset, Reset::Soft | Reset::SoftFloor) {
            return Err(format!("fire 'multi' (several spikes per step) subtracts the threshold once per spike: it takes reset 'soft' or 'soft_floor', not {:?}", rule.reset));
        }
        match self.rule().reset {
            Reset::Hard(v) => finite("v_reset", v),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_worked_example_from_the_reference() {
        // imp-snn.md §1.1: IMP 0.2, x = 0.9, 0.5, 1.2, 0.2, 0.8 → spikes 0,0,1,0,0.
        let n = NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 };
        let mut v = 0.2;
        let spikes: Vec<bool> = [0.9, 0.5, 1.2, 0.2, 0.8].iter().map(|&x| n.step(&mut v, x)).collect();
        assert_eq!(spikes, [false, false, true, false, false]);
    }

    #[test]
    fn spikingjelly_lif_example_from_the_reference() {
        // imp-snn.md §10: tau 2, soft reset, v0 = 0.5, x = [1.2, 0.9, 1.6, 0.1, 1.0]
        // → H = 0.85, 0.875, 1.2375 (spike), 0.16875, 0.584375.
        let n = NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Soft, decay_input: true };
        let mut v = 0.5;
        let spikes: Vec<bool> = [1.2, 0.9, 1.6, 0.1, 1.0].iter().map(|&x| n.step(&mut v, x)).collect();
        assert_eq!(spikes, [false, false, true, false, false]);
        assert!((v - 0.584375).abs() < 1e-6);
    }

    #[test]
    fn strict_versus_non_strict_threshold() {
        let mut v = 0.0;
        assert!(!NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 }.step(&mut v, 1.0), "legacy fires only above 1");
        let mut v = 0.0;
        assert!(NeuronKind::If { v_th: 1.0, reset: Reset::Hard(0.0) }.step(&mut v, 1.0), "SpikingJelly fires at 1");
    }

    /// Runs `kind` from `v0` over `xs`: (spikes, membranes after each step).
    fn trace(kind: NeuronKind, v0: f32, xs: &[f32]) -> (Vec<bool>, Vec<f32>) {
        let mut v = v0;
        xs.iter().map(|&x| (kind.step(&mut v, x), v)).unzip()
    }

    #[test]
    fn snntorch_if_fires_strictly_and_subtracts_early() {
        // snnTorch's import: Leaky(β = 1, "subtract", reset_delay=False). Per step: r = mem − θ > 0;
        // mem = mem + x − r·θ; spk = mem − θ > 0; mem −= (spk − r)·θ. θ = 1, from 0:
        // t0 H 0.5; t1 H 1.0, no spike (strict); t2 H 1.75 → 0.75; t3 H 2.25 → 1.25;
        // t4: r = 1, mem = 1.25 + 0.25 − 1 = 0.5, no spike, mem = 0.5 + 1 = 1.5;
        // t5: r = 1, mem = 1.5 + 1.5 − 1 = 2, spike, mem = 2.
        let kind = NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: Fire::Above, reset: Reset::SoftSnntorch };
        let xs = [0.5, 0.5, 0.75, 1.5, 0.25, 1.5];
        let (s, v) = trace(kind, 0.0, &xs);
        assert_eq!(s, [false, false, true, true, false, true]);
        assert_eq!(v, [0.5, 1.0, 0.75, 1.25, 1.5, 2.0]);
        // The plain subtractive reset fires at t4 (H = 1.5) instead.
        let plain = NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: Fire::Above, reset: Reset::Soft };
        assert_eq!(trace(plain, 0.0, &xs).0, [false, false, true, true, true, true]);
        let (s, _) = trace(NeuronKind::If { v_th: 1.0, reset: Reset::Soft }, 0.0, &[0.5, 0.5]);
        assert_eq!(s, [false, true], "SpikingJelly's IF fires at θ");
    }

    #[test]
    fn snntorch_leaky_resets_to_zero() {
        // β = 0.5, "zero": H = 0.75, 1.125 (spike), 1.25 (spike), 0.25.
        let kind = NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) };
        let (s, v) = trace(kind, 0.0, &[0.75, 0.75, 1.25, 0.25]);
        assert_eq!(s, [false, true, true, false]);
        assert_eq!(v, [0.75, 0.0, 0.0, 0.25]);
    }

    #[test]
    fn norse_lif_box_follows_its_euler_step() {
        // Norse: v += dt·τ⁻¹·(x + v_leak − v), from v = v_leak; k = 0.5, v_leak = 0.25, θ = 1:
        // H = 0.75, 1.25 (spike → 0), 0.375, 1.3125 (spike → 0).
        let kind = NeuronKind::LifBox { k: 0.5, v_leak: 0.25, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) };
        let (s, v) = trace(kind, kind.rest(), &[1.0, 1.5, 0.5, 2.0]);
        assert_eq!(s, [false, true, false, true]);
        assert_eq!(v, [0.75, 0.0, 0.375, 0.0]);
    }

    #[test]
    fn no_reset_keeps_the_membrane() {
        let kind = NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: Fire::AtLeast, reset: Reset::None };
        let (s, v) = trace(kind, 0.0, &[1.0, 1.0, 0.0]);
        assert_eq!(s, [true, true, false]);
        assert_eq!(v, [1.0, 1.5, 0.75]);
    }

    #[test]
    fn sinabs_multi_spike_counts_and_floors_the_membrane() {
        // IAFSqueeze(min_v_mem = −θ), MultiSpike, θ = 0.5, from 0: H = 1.25 → 2 spikes, V 0.25;
        // H = −1.75 → floor −0.5; H = −0.25 (above the floor); H = 0.5 → 1 spike, V 0.
        let kind = NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::SoftFloor };
        assert!(kind.spikes() && !kind.binary() && kind.check().is_ok());
        let rule = kind.rule();
        let mut v = 0.0;
        let (counts, mems): (Vec<f32>, Vec<f32>) = [1.25, -2.0, 0.25, 0.75]
            .iter()
            .map(|&x| {
                let (next, n) = rule.count_step(&F32, v, x);
                v = next;
                (n, v)
            })
            .unzip();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&counts), bits(&[2.0, -0.0, -0.0, 1.0]), "a negative H counts −0, as torch does");
        assert_eq!(mems, [0.25, -0.5, -0.25, 0.0]);
        // `step` keeps the same membrane and says whether it fired at all.
        assert_eq!(trace(kind, 0.0, &[1.25, -2.0, 0.25, 0.75]), (vec![true, false, false, true], mems));
        // Without the floor (Sinabs' LIF): the membrane stays at −1.75.
        let plain = NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::Soft };
        assert_eq!(trace(plain, 0.0, &[1.25, -2.0]).1, [0.25, -1.75]);
        // The floor with one spike per step (H ≥ θ, subtract θ once).
        let single = NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::AtLeast, reset: Reset::SoftFloor };
        assert_eq!(trace(single, 0.0, &[1.25, -2.0]), (vec![true, false], vec![0.75, -0.5]));
    }

    #[test]
    fn exp_leak_is_a_decaying_readout() {
        let kind = NeuronKind::ExpLeak { alpha: 0.5 };
        assert!(!kind.spikes() && !kind.binary());
        assert_eq!(trace(kind, 0.0, &[1.0, 1.0, 0.0]), (vec![false; 3], vec![1.0, 1.5, 0.75]));
    }

    #[test]
    fn charge_partials_come_from_the_rule() {
        assert_eq!(Charge::TauInput { tau: 4.0 }.partials(), (0.75, 0.25));
        assert_eq!(Charge::TauTo { tau: 4.0, v_r: 0.5 }.partials(), (0.75, 1.0));
        assert_eq!(Charge::Decay { a: 0.25 }.partials(), (0.25, 1.0));
        assert_eq!(Charge::Integrate.partials(), (1.0, 1.0));
        assert_eq!(Charge::Euler { k: 0.5, v_leak: 3.0 }.partials(), (0.5, 0.5));
        let lif = NeuronKind::Lif { tau: 3.0, v_th: 1.0, reset: Reset::Soft, decay_input: false };
        assert_eq!(lif.rule().charge.partials(), (1.0 - 1.0 / 3.0, 1.0));
    }

    #[test]
    fn readouts_output_their_membrane_and_never_fire() {
        // Norse LIBox: v += k·((v_leak − v) + x); k = 0.5, v_leak = 0.5, from v_leak:
        // 0.5 + 0.5·(0 + 1) = 1, 1 + 0.5·(−0.5 + 3) = 2.25, 2.25 + 0.5·(−1.75 + 0) = 1.375.
        let li = NeuronKind::Li { k: 0.5, v_leak: 0.5 };
        assert!(!li.spikes() && !NeuronKind::Integrator.spikes() && NeuronKind::If { v_th: 1.0, reset: Reset::Soft }.spikes());
        let (s, v) = trace(li, li.rest(), &[1.0, 3.0, 0.0]);
        assert_eq!(s, [false; 3]);
        assert_eq!(v, [1.0, 2.25, 1.375]);
        let (s, v) = trace(NeuronKind::Integrator, 0.0, &[1.0, 3.0, -0.5]);
        assert_eq!((s, v), (vec![false; 3], vec![1.0, 4.0, 3.5]));
        assert_eq!(Charge::LeakBox { k: 0.25, v_leak: 1.0 }.partials(), (0.75, 0.25));
    }
}

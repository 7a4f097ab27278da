//! The spiking neuron of the trainer: the rule (`NeuronKind`, shared with the engine), the
//! surrogate gradient, and whether the reset is detached (`reference/imp-snn.md` §1).
//!
//! [`spike_layer`] is what the network calls: on burn's wgpu backend its forward is the engine's
//! `shaders/neuron.wgsl` launched as a burn custom op ([`op`]), on Flex the same rule written
//! with burn ops; either way the backward is the surrogate-gradient BPTT of [`bptt`], IMP
//! gradient included. [`reference`] is the oracle: the same neuron from plain burn ops with the
//! straight-through trick, differentiated by burn's autodiff.

pub mod bptt;
mod flex;
pub mod op;
pub mod reference;

use crate::model::NeuronKind;
use crate::model::neuron::{Fire, Reset, Rule};

/// Surrogate derivative `dS/du` of the Heaviside spike at `u = H − v_th`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Surrogate {
    /// amazing-cls `ZIF`: `(1/γ)² · max(0, γ − |u|)`.
    Triangle { gamma: f32 },
    /// SpikingJelly `Sigmoid`: `α·σ(αu)·(1 − σ(αu))`.
    Sigmoid { alpha: f32 },
    /// SpikingJelly `ATan`: `(α/2) / (1 + (π/2·α·u)²)`.
    Atan { alpha: f32 },
}

impl Surrogate {
    /// Parses `triangle[:γ]`, `sigmoid[:α]`, `atan[:α]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v.parse::<f32>().map_err(|_| format!("surrogate parameter '{v}' is not a number"))?)),
            None => (text, None),
        };
        match name {
            "triangle" => Ok(Surrogate::Triangle { gamma: value.unwrap_or(1.0) }),
            "sigmoid" => Ok(Surrogate::Sigmoid { alpha: value.unwrap_or(4.0) }),
            "atan" => Ok(Surrogate::Atan { alpha: value.unwrap_or(2.0) }),
            other => Err(format!("surrogate '{other}' (triangle, sigmoid or atan)")),
        }
    }

    /// The derivative at `u`, in f32.
    pub fn derivative(&self, u: f32) -> f32 {
        match *self {
            Surrogate::Triangle { gamma } => triangle_derivative(gamma, u),
            Surrogate::Sigmoid { alpha } => sigmoid_derivative(alpha, u),
            Surrogate::Atan { alpha } => atan_derivative(alpha, u),
        }
    }
}

// The surrogate derivatives on one f32, in the operation order of the burn ops of
// [`bptt::surrogate`], so the Flex kernel ([`flex`]) gives their bits.

#[inline(always)]
pub(crate) fn triangle_derivative(gamma: f32, u: f32) -> f32 {
    (-u.abs() + gamma).max(0.0) / (gamma * gamma)
}

#[inline(always)]
pub(crate) fn sigmoid_derivative(alpha: f32, u: f32) -> f32 {
    let s = 1.0 / (1.0 + (-(u * alpha)).exp());
    s * (-s + 1.0) * alpha
}

#[inline(always)]
pub(crate) fn atan_derivative(alpha: f32, u: f32) -> f32 {
    let k = u * (std::f32::consts::FRAC_PI_2 * alpha);
    (1.0 / (k * k + 1.0)) * (alpha / 2.0)
}

/// One neuron layer's rule for training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NeuronSpec {
    pub kind: NeuronKind,
    pub surrogate: Surrogate,
    /// SpikingJelly `detach_reset`: no gradient through the spike in the reset.
    pub detach_reset: bool,
}

impl NeuronSpec {
    /// The reference's choice for each neuron rule (`reference/imp-snn.md` §1.2 table): the
    /// legacy 48×48 LIF uses the triangle and an attached reset, SpikingJelly LIF a sigmoid
    /// (α = 4) with detached reset, IF an arctan (α = 2) with attached reset. snnTorch's
    /// `Leaky` defaults to the arctan (α = 2) and detaches its reset; Norse's LIF box takes the
    /// arctan here (its SuperSpike surrogate is not one of ours) with an attached reset.
    pub fn reference_default(kind: NeuronKind) -> Self {
        let atan = Surrogate::Atan { alpha: 2.0 };
        match kind {
            NeuronKind::LegacyLif { .. } => Self { kind, surrogate: Surrogate::Triangle { gamma: 1.0 }, detach_reset: false },
            NeuronKind::Lif { .. } => Self { kind, surrogate: Surrogate::Sigmoid { alpha: 4.0 }, detach_reset: true },
            NeuronKind::If { .. } | NeuronKind::LifBox { .. } | NeuronKind::Li { .. } | NeuronKind::Integrator | NeuronKind::ExpLeak { .. } => Self { kind, surrogate: atan, detach_reset: false },
            NeuronKind::Leaky { .. } => Self { kind, surrogate: atan, detach_reset: true },
        }
    }

    /// The layer's rule (charge, fire, reset), the one the engine runs.
    pub fn rule(&self) -> Rule {
        self.kind.rule()
    }

    pub fn v_th(&self) -> f32 {
        self.kind.v_th()
    }

    /// Whether the backward pass of [`bptt`] covers this rule; the error names the kind.
    pub fn trainable(&self) -> Result<(), String> {
        if self.rule().fire == Fire::Count {
            return Err(format!("neuron kind '{}' with fire 'multi' (Sinabs' several spikes per step) has no backward pass yet; train with fire '>=' instead", self.kind.name()));
        }
        match self.rule().reset {
            Reset::SoftFloor => Err(format!("neuron kind '{}' with reset 'soft_floor' (Sinabs' membrane floor) has no backward pass yet; train with reset 'soft' instead", self.kind.name())),
            Reset::SoftSnntorch => Err(format!(
                "neuron kind '{}' with reset 'soft_snntorch' (snnTorch's subtractive reset with reset_delay=False) has no backward pass yet; train with reset 'soft' instead",
                self.kind.name()
            )),
            _ => Ok(()),
        }
    }

    /// `(∂H/∂V, ∂H/∂X)` of the charge, for the backward pass: the rule evaluated on
    /// derivatives ([`crate::model::neuron::Partials`]), not a second copy of it.
    pub fn charge_partials(&self) -> (f32, f32) {
        self.rule().charge.partials()
    }
}

pub use op::spike_layer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogates_peak_at_the_threshold() {
        assert_eq!(Surrogate::Triangle { gamma: 1.0 }.derivative(0.0), 1.0);
        assert_eq!(Surrogate::Triangle { gamma: 1.0 }.derivative(1.5), 0.0);
        assert!((Surrogate::Sigmoid { alpha: 4.0 }.derivative(0.0) - 1.0).abs() < 1e-6);
        assert!((Surrogate::Atan { alpha: 2.0 }.derivative(0.0) - 1.0).abs() < 1e-6);
        assert!(Surrogate::Atan { alpha: 2.0 }.derivative(0.5) < 1.0);
    }

    #[test]
    fn rules_without_a_backward_pass_are_refused_by_name() {
        let li = NeuronSpec::reference_default(NeuronKind::Li { k: 0.5, v_leak: 0.0 });
        assert_eq!(li.trainable(), Ok(()), "readouts train (their output is the membrane)");
        let multi = NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: crate::model::neuron::Fire::Count, reset: Reset::SoftFloor };
        assert!(NeuronSpec::reference_default(multi).trainable().is_err_and(|e| e.contains("'multi'")));
        let early = NeuronKind::Leaky { beta: 1.0, v_th: 1.0, fire: crate::model::neuron::Fire::Above, reset: Reset::SoftSnntorch };
        assert!(NeuronSpec::reference_default(early).trainable().is_err_and(|e| e.contains("'leaky'") && e.contains("soft_snntorch")));
        let leaky = NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: crate::model::neuron::Fire::Above, reset: Reset::Hard(0.0) };
        assert_eq!(NeuronSpec::reference_default(leaky).trainable(), Ok(()));
    }

    #[test]
    fn parses_surrogates() {
        assert_eq!(Surrogate::parse("sigmoid:2").unwrap(), Surrogate::Sigmoid { alpha: 2.0 });
        assert_eq!(Surrogate::parse("triangle").unwrap(), Surrogate::Triangle { gamma: 1.0 });
        assert!(Surrogate::parse("relu").is_err());
    }
}

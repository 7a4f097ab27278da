//! Discretisation of NIR's continuous-time neurons into the engine's neuron rules
//! ([`NeuronKind`]), under the exporting framework's semantics where NIR leaves them open
//! (threshold comparison `>` or `>=`, hard or subtractive reset, the leak's discrete form).
//!
//! NIR (`nir.ir.neuron`): LIF `τ·dv/dt = (v_leak − v) + R·I`, IF `dv/dt = R·I`, a spike when
//! `v > v_threshold`, then `v = v_reset`; Threshold `z = H(v − θ)`. With a step `dt`:
//!
//! | semantics      | IF                                   | LIF                                                            |
//! |----------------|--------------------------------------|----------------------------------------------------------------|
//! | `spikingjelly` | `H = V + X`, `S = H ≥ θ`, `V = V_r` (r = 1 or 1/dt) | `H = V + (X − (V − V_r))/τ'` (r = 1; r = τ': `H = V − (V − V_r)/τ' + X`), `τ' = τ/dt`, `S = H ≥ θ`, `V = V_r` |
//! | `sinabs`       | `H = V + X`, `n = trunc(H/θ)` spikes (`H > 0`), `V = max(H − n·θ + θ, 0) − θ` | `H = α·V + X`, `α = exp(−1/τ)` (τ in timesteps, dt unused), `n = trunc(H/θ)` spikes (`H > 0`), `V = H − n·θ` |
//! | `sinabs-single` | `H = V + X`, `S = H ≥ θ`, `V = H − S·θ` | as `sinabs`, with `S = H ≥ θ` (one spike per step), `V = H − S·θ` |
//! | `snntorch`     | `H = V + X`, `S = H − θ > 0`, `V = H − S·θ` (snnTorch's early form, `Reset::SoftSnntorch`) | `H = β·V + X`, `β = 1 − dt/τ`, `S = H − θ' > 0`, `θ' = θ/(r·dt/τ)`, `V = 0` |
//! | `norse`        | `H = V + X`, `S = H − θ > 0`, `V = 0` | `H = V + k·((X + v_leak) − V)`, `k = dt·(1/τ)`, `S = H − θ > 0`, `V = 0`; `V₀ = v_leak` |
//!
//! snnTorch imports IF as `Leaky(β = 1, reset_mechanism = "subtract", reset_delay = False)` and
//! LIF as `Leaky(β, reset_mechanism = "zero", reset_delay = False)`; Norse imports IF as
//! `IAFCell` and LIF as `LIFBoxCell` (`tau_mem_inv = 1/τ`, `v_reset` left at 0, `r` ignored),
//! whose step is `v + dt·tau_mem_inv·(x + v_leak − v)` in f32.
//!
//! Sinabs' `from_nir` builds IF as `IAFSqueeze(min_v_mem = −θ)` and LIF as `LIFSqueeze`, both
//! with its default `MultiSpike` (several spikes per step, the output is the count) and
//! `MembraneSubtract`; `sinabs-single` reads a network trained with `SingleSpike` and no floor.
//! Both read LI as `ExpLeakSqueeze`: `H = α·V + X`, `α = exp(−1/τ)`, the output is the membrane.
//!
//! Threshold maps to `H = X`, `S = H > θ` under every semantics. Each call discretises one
//! neuron's values; a layer whose values differ is discretised neuron by neuron
//! (`super::lower`, [`crate::model::neuron::NeuronArrays`]).

use crate::model::neuron::{Fire, NeuronKind, Reset};

/// The exporting framework whose import rules fix what NIR leaves open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantics {
    Snntorch,
    Norse,
    Spikingjelly,
    /// Sinabs as its `from_nir` builds the network (`MultiSpike`; IF with the floor `−θ`).
    Sinabs,
    /// Sinabs with `SingleSpike` and no membrane floor.
    SinabsSingle,
}

impl Semantics {
    pub const NAMES: [&'static str; 5] = ["snntorch", "norse", "spikingjelly", "sinabs", "sinabs-single"];

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "snntorch" => Some(Self::Snntorch),
            "norse" => Some(Self::Norse),
            "spikingjelly" => Some(Self::Spikingjelly),
            "sinabs" => Some(Self::Sinabs),
            "sinabs-single" => Some(Self::SinabsSingle),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Snntorch => "snntorch",
            Self::Norse => "norse",
            Self::Spikingjelly => "spikingjelly",
            Self::Sinabs => "sinabs",
            Self::SinabsSingle => "sinabs-single",
        }
    }

    /// Sinabs' reading, either spike function.
    pub fn is_sinabs(self) -> bool {
        matches!(self, Self::Sinabs | Self::SinabsSingle)
    }
}

/// One NIR neuron's parameters (a layer's, when they are uniform).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NirNeuron {
    If { r: f32, v_threshold: f32, v_reset: f32 },
    Lif { tau: f32, r: f32, v_leak: f32, v_threshold: f32, v_reset: f32 },
    Threshold { threshold: f32 },
    Li { tau: f32, r: f32, v_leak: f32 },
    Integrator { r: f32 },
}

/// The engine rule for `neuron` under `semantics` with step `dt` (seconds). The error says what
/// is missing or not expressible and what to do.
pub fn discretise(neuron: NirNeuron, semantics: Option<Semantics>, dt: Option<f64>) -> Result<NeuronKind, String> {
    if let NirNeuron::Threshold { threshold } = neuron {
        // A stateless comparison: the legacy rule with no memory, `mem = 0·V + X`, `S = mem > θ`.
        let kind = NeuronKind::LegacyLif { decay: 0.0, v_th: threshold };
        return kind.check().map(|()| kind);
    }
    let readout = match neuron {
        // Non-spiking readouts: no threshold or reset for a framework to decide.
        NirNeuron::Integrator { r } if r == 1.0 => Some(NeuronKind::Integrator),
        NirNeuron::Integrator { r } => return Err(format!("r = {r}: an Integrator takes r = 1 only; fold r into the weights of the layer before it")),
        NirNeuron::Li { tau, r, v_leak } if semantics.is_some_and(Semantics::is_sinabs) => {
            if r != 1.0 || v_leak != 0.0 {
                return Err(format!("r = {r}, v_leak = {v_leak}: Sinabs reads LI as ExpLeak, which takes r = 1 and v_leak = 0 (its from_nir refuses others)"));
            }
            // ExpLeakSqueeze(tau_mem = τ, norm_input = False): τ in timesteps, α = exp(−1/τ) in f32.
            Some(NeuronKind::ExpLeak { alpha: sinabs_alpha(tau) })
        }
        NirNeuron::Li { tau, r, v_leak } => {
            if r != 1.0 {
                return Err(format!("r = {r}: an LI takes r = 1 only (Norse ignores r); fold r into the weights of the layer before it"));
            }
            let dt = need_dt(dt)? as f32;
            // Norse's LIBoxCell, in f32: tau_mem_inv = 1/τ, then dt·tau_mem_inv.
            Some(NeuronKind::Li { k: norse_k(dt, tau), v_leak })
        }
        _ => None,
    };
    if let Some(kind) = readout {
        return kind.check().map(|()| kind);
    }
    let semantics = semantics.ok_or_else(|| format!("NIR leaves the threshold comparison and the reset open; name the exporting framework with --nir-semantics ({})", Semantics::NAMES.join(", ")))?;
    let s = semantics.name();
    let unit_r = |r: f32| if r == 1.0 { Ok(()) } else { Err(format!("r = {r}: --nir-semantics {s} takes r = 1 only; fold r into the weights of the layer before it")) };
    let kind = match (neuron, semantics) {
        (NirNeuron::If { r, v_threshold, v_reset }, Semantics::Spikingjelly) => {
            // SpikingJelly (2.0) writes IF with r = 1/dt, so that R·dt = 1 (and its import
            // asks for that); r = 1 reads the same, as the other frameworks write it.
            if !(r == 1.0 || dt.is_some_and(|dt| (f64::from(r) * dt - 1.0).abs() <= 1e-6)) {
                return Err(format!("r = {r}: --nir-semantics spikingjelly takes r = 1, or r = 1/dt as SpikingJelly exports IF (give --dt); otherwise fold r into the weights of the layer before it"));
            }
            NeuronKind::If { v_th: v_threshold, reset: Reset::Hard(v_reset) }
        }
        (NirNeuron::If { r, v_threshold, v_reset }, Semantics::Sinabs | Semantics::SinabsSingle) => {
            unit_r(r)?;
            if v_reset != 0.0 {
                return Err(format!("v_reset = {v_reset}: Sinabs resets by subtracting the threshold; a hard reset value other than 0 has no meaning there"));
            }
            if semantics == Semantics::SinabsSingle {
                NeuronKind::If { v_th: v_threshold, reset: Reset::Soft }
            } else {
                // IAFSqueeze: α = 1.0 (`1·V` is exact), MultiSpike, floor at −θ.
                NeuronKind::Leaky { beta: 1.0, v_th: v_threshold, fire: Fire::Count, reset: Reset::SoftFloor }
            }
        }
        (NirNeuron::If { r, v_threshold, v_reset }, Semantics::Norse) => {
            unit_r(r)?;
            if v_reset != 0.0 {
                return Err(format!("v_reset = {v_reset}: the engine's strict-threshold neuron resets to 0 only; use --nir-semantics spikingjelly for a hard reset to v_reset with ≥"));
            }
            NeuronKind::LegacyLif { decay: 1.0, v_th: v_threshold }
        }
        (NirNeuron::If { r, v_threshold, v_reset }, Semantics::Snntorch) => {
            unit_r(r)?;
            if v_reset != 0.0 {
                return Err(format!("v_reset = {v_reset}: snnTorch imports IF with a subtractive reset; a hard reset value other than 0 has no meaning there"));
            }
            NeuronKind::Leaky { beta: 1.0, v_th: v_threshold, fire: Fire::Above, reset: Reset::SoftSnntorch }
        }
        (NirNeuron::Lif { tau, r, v_leak, v_threshold, v_reset }, Semantics::Spikingjelly) => {
            let dt = need_dt(dt)?;
            let tau = (f64::from(tau) / dt) as f32;
            // SpikingJelly writes r = 1 for decay_input=True and r = τ' for decay_input=False.
            let decay_input = if r == 1.0 {
                true
            } else if (r - tau).abs() <= 1e-6 * tau.abs() {
                false
            } else {
                return Err(format!("r = {r}: --nir-semantics spikingjelly takes r = 1 (LIFNode with decay_input) or r = τ/dt = {tau} (without) only; fold r into the weights of the layer before it"));
            };
            if v_leak != v_reset {
                return Err(format!("v_leak = {v_leak} differs from v_reset = {v_reset}: SpikingJelly's LIFNode leaks towards v_reset"));
            }
            NeuronKind::Lif { tau, v_th: v_threshold, reset: Reset::Hard(v_reset), decay_input }
        }
        (NirNeuron::Lif { tau, r, v_leak, v_threshold, v_reset }, Semantics::Snntorch) => {
            let dt = need_dt(dt)? as f32;
            if v_leak != 0.0 || v_reset != 0.0 {
                return Err(format!("v_leak = {v_leak}, v_reset = {v_reset}: snnTorch's import takes v_leak = 0 and resets to 0"));
            }
            // snnTorch's import_nir, in f32 as NumPy computes it on the file's f32 arrays.
            let beta = snntorch_decay(dt, tau);
            let w_scale = r * dt / tau;
            NeuronKind::Leaky { beta, v_th: v_threshold / w_scale, fire: Fire::Above, reset: Reset::Hard(0.0) }
        }
        (NirNeuron::Lif { tau, r, v_leak, v_threshold, v_reset }, Semantics::Sinabs | Semantics::SinabsSingle) => {
            unit_r(r)?;
            if v_leak != 0.0 || v_reset != 0.0 {
                return Err(format!("v_leak = {v_leak}, v_reset = {v_reset}: Sinabs' LIF leaks towards 0 and resets by subtracting the threshold; export with v_leak = v_reset = 0"));
            }
            // Sinabs' from_nir builds LIFSqueeze(tau_mem = τ, norm_input = False): τ counts
            // timesteps (dt is not used) and α = exp(−1/τ), in f32 as torch computes it.
            let fire = if semantics == Semantics::Sinabs { Fire::Count } else { Fire::AtLeast };
            NeuronKind::Leaky { beta: sinabs_alpha(tau), v_th: v_threshold, fire, reset: Reset::Soft }
        }
        (NirNeuron::Lif { tau, r, v_leak, v_threshold, v_reset }, Semantics::Norse) => {
            let dt = need_dt(dt)? as f32;
            unit_r(r)?;
            if v_reset != 0.0 {
                return Err(format!("v_reset = {v_reset}: Norse's import resets LIF to 0 whatever the file says; export with v_reset = 0"));
            }
            // Norse's LIFBoxCell, in f32: tau_mem_inv = 1/τ, then dt·tau_mem_inv.
            NeuronKind::LifBox { k: norse_k(dt, tau), v_leak, v_th: v_threshold, fire: Fire::Above, reset: Reset::Hard(0.0) }
        }
        (NirNeuron::Threshold { .. } | NirNeuron::Li { .. } | NirNeuron::Integrator { .. }, _) => unreachable!("handled above"),
    };
    kind.check().map(|()| kind)
}

/// Norse's step `k = dt·(1/τ)` in f32: its cells' `dt · tau_*_inv` with `tau_*_inv = 1/τ`.
pub(super) fn norse_k(dt: f32, tau: f32) -> f32 {
    dt * (1.0 / tau)
}

/// snnTorch's decay `1 − dt/τ` in f32, as its `import_nir` computes β (and `Synaptic`'s α) on
/// the file's f32 arrays.
pub(super) fn snntorch_decay(dt: f32, tau: f32) -> f32 {
    1.0 - dt / tau
}

/// Sinabs' decay for `tau_mem = τ` timesteps: `exp(−1/τ)` in f32, as torch computes it.
fn sinabs_alpha(tau: f32) -> f32 {
    (-1.0 / tau).exp()
}

pub(super) fn need_dt(dt: Option<f64>) -> Result<f64, String> {
    dt.ok_or_else(|| "a leaky neuron needs the timestep: give --dt SECONDS (the file's metadata has no 'dt')".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snntorch_lif_with_beta_one_half() {
        // τ = 2·dt → β = 0.5; r = τ/dt (snnTorch's export) → w_scale = 1, θ unchanged.
        let lif = NirNeuron::Lif { tau: 2e-3, r: 2.0, v_leak: 0.0, v_threshold: 1.0, v_reset: 0.0 };
        assert_eq!(discretise(lif, Some(Semantics::Snntorch), Some(1e-3)), Ok(NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) }));
        // r = τ/dt is how SpikingJelly writes LIFNode(decay_input=False): H = V − V/τ' + X, β·V + X.
        let kind = discretise(lif, Some(Semantics::Spikingjelly), Some(1e-3));
        assert_eq!(kind, Ok(NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Hard(0.0), decay_input: false }));
        let other = NirNeuron::Lif { tau: 2e-3, r: 3.0, v_leak: 0.0, v_threshold: 1.0, v_reset: 0.0 };
        let kind = discretise(other, Some(Semantics::Spikingjelly), Some(1e-3));
        assert!(kind.as_ref().is_err_and(|e| e.contains("r = 3")), "{kind:?}");
    }

    #[test]
    fn snntorch_if_and_norse_lif() {
        let if_node = NirNeuron::If { r: 1.0, v_threshold: 0.75, v_reset: 0.0 };
        assert_eq!(discretise(if_node, Some(Semantics::Snntorch), None), Ok(NeuronKind::Leaky { beta: 1.0, v_th: 0.75, fire: Fire::Above, reset: Reset::SoftSnntorch }));
        // dt = 2⁻¹⁰ s, τ = 2⁻⁹ s: k = dt·(1/τ) = 0.5 exactly.
        let lif = NirNeuron::Lif { tau: 1.0 / 512.0, r: 1.0, v_leak: 0.25, v_threshold: 1.0, v_reset: 0.0 };
        let kind = NeuronKind::LifBox { k: 0.5, v_leak: 0.25, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) };
        assert_eq!(discretise(lif, Some(Semantics::Norse), Some(1.0 / 1024.0)), Ok(kind));
        let moved = NirNeuron::Lif { tau: 1.0 / 512.0, r: 1.0, v_leak: 0.25, v_threshold: 1.0, v_reset: 0.5 };
        assert!(discretise(moved, Some(Semantics::Norse), Some(1.0 / 1024.0)).is_err_and(|e| e.contains("v_reset = 0.5")));
    }

    #[test]
    fn sinabs_reads_multi_spike_and_the_floor_and_li_as_exp_leak() {
        let if_node = NirNeuron::If { r: 1.0, v_threshold: 0.5, v_reset: 0.0 };
        assert_eq!(discretise(if_node, Some(Semantics::Sinabs), None), Ok(NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::SoftFloor }));
        assert_eq!(discretise(if_node, Some(Semantics::SinabsSingle), None), Ok(NeuronKind::If { v_th: 0.5, reset: Reset::Soft }));
        let lif = NirNeuron::Lif { tau: 2.0, r: 1.0, v_leak: 0.0, v_threshold: 0.5, v_reset: 0.0 };
        let alpha = (-0.5f32).exp();
        assert_eq!(discretise(lif, Some(Semantics::Sinabs), None), Ok(NeuronKind::Leaky { beta: alpha, v_th: 0.5, fire: Fire::Count, reset: Reset::Soft }));
        assert_eq!(discretise(lif, Some(Semantics::SinabsSingle), None), Ok(NeuronKind::Leaky { beta: alpha, v_th: 0.5, fire: Fire::AtLeast, reset: Reset::Soft }));
        let li = NirNeuron::Li { tau: 2.0, r: 1.0, v_leak: 0.0 };
        assert_eq!(discretise(li, Some(Semantics::Sinabs), None), Ok(NeuronKind::ExpLeak { alpha }));
        let leaky = NirNeuron::Li { tau: 2.0, r: 1.0, v_leak: 0.5 };
        assert!(discretise(leaky, Some(Semantics::Sinabs), None).is_err_and(|e| e.contains("v_leak = 0.5")));
    }

    #[test]
    fn missing_dt_and_semantics_are_named() {
        let lif = NirNeuron::Lif { tau: 2e-3, r: 1.0, v_leak: 0.0, v_threshold: 1.0, v_reset: 0.0 };
        assert!(discretise(lif, Some(Semantics::Spikingjelly), None).is_err_and(|e| e.contains("--dt")));
        assert!(discretise(lif, None, Some(1e-3)).is_err_and(|e| e.contains("--nir-semantics")));
        assert_eq!(discretise(NirNeuron::Threshold { threshold: 0.5 }, None, None), Ok(NeuronKind::LegacyLif { decay: 0.0, v_th: 0.5 }));
    }
}

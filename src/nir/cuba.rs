//! NIR's current-based neurons (CubaLIF, and CubaLI without `spike`) as two engine layers: the
//! synaptic current, a readout whose membrane is the current, chained into the membrane. Both
//! frameworks that import CubaLIF build exactly that chain, each with its own discrete form:
//!
//! | semantics  | synapse (readout)                               | membrane                                              |
//! |------------|-------------------------------------------------|-------------------------------------------------------|
//! | `norse`    | `LIBoxCell`: `I += k_s·((v_leak − I) + X)`, `k_s = dt·(1/τ_syn)` | `LIFBoxCell`: `V += k_m·((I + v_leak) − V)`, `S = V − θ > 0`, `V = 0` (CubaLI: `LIBoxCell`) |
//! | `snntorch` | `Synaptic.syn = α·syn + X`, `α = 1 − dt/τ_syn`  | `mem = β·mem + syn`, `β = 1 − dt/τ_mem`, `S = mem − θ' > 0`, `mem = 0` |
//!
//! snnTorch's `import_nir` builds `Synaptic(α, β, θ', reset_mechanism="zero", reset_delay=False)`:
//! its current is never reset (`_base_zero` subtracts 0 from it) and its delayed reset never
//! fires after an immediate one, so the chain is its step exactly. `θ' = θ / w_scale` with
//! `w_scale = w_in·(dt/τ_syn)` when that is not 1 (NumPy's `allclose`), as its import does. It
//! has no CubaLI; Sinabs and SpikingJelly import neither.

use super::semantics::{Semantics, need_dt, norse_k, snntorch_decay};
use crate::model::neuron::{Fire, NeuronKind, Reset};

/// A CubaLIF / CubaLI node's values (one neuron's, or the layer's when uniform); `spike` is
/// `(v_threshold, v_reset)` for CubaLIF.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cuba {
    pub tau_syn: f32,
    pub tau_mem: f32,
    pub r: f32,
    pub w_in: f32,
    pub v_leak: f32,
    pub spike: Option<(f32, f32)>,
}

/// The two engine layers (synapse, membrane) of `node` under `semantics` with step `dt`.
pub fn discretise_cuba(node: Cuba, semantics: Option<Semantics>, dt: Option<f64>) -> Result<[NeuronKind; 2], String> {
    let layers = match semantics {
        Some(Semantics::Norse) => norse(node, need_dt(dt)? as f32)?,
        Some(Semantics::Snntorch) => snntorch(node, need_dt(dt)? as f32)?,
        Some(other) => return Err(format!("--nir-semantics {}: that framework does not import current-based neurons; snntorch (Synaptic) and norse (LIBoxCell into LIFBoxCell) do", other.name())),
        None => return Err("NIR leaves the discrete form of a current-based neuron open; give --nir-semantics snntorch or norse".into()),
    };
    for kind in &layers {
        kind.check()?;
    }
    Ok(layers)
}

fn norse(c: Cuba, dt: f32) -> Result<[NeuronKind; 2], String> {
    if c.r != 1.0 || c.w_in != 1.0 {
        return Err(format!("r = {}, w_in = {}: Norse's reading takes 1 only; fold them into the weights of the layer before it", c.r, c.w_in));
    }
    let synapse = NeuronKind::Li { k: norse_k(dt, c.tau_syn), v_leak: c.v_leak };
    let k = norse_k(dt, c.tau_mem);
    let membrane = match c.spike {
        Some((_, v_reset)) if v_reset != 0.0 => return Err(format!("v_reset = {v_reset}: Norse's import resets to 0 whatever the file says; export with v_reset = 0")),
        Some((v_th, _)) => NeuronKind::LifBox { k, v_leak: c.v_leak, v_th, fire: Fire::Above, reset: Reset::Hard(0.0) },
        None => NeuronKind::Li { k, v_leak: c.v_leak },
    };
    Ok([synapse, membrane])
}

fn snntorch(c: Cuba, dt: f32) -> Result<[NeuronKind; 2], String> {
    let Some((v_th, v_reset)) = c.spike else {
        return Err("snnTorch's import has no CubaLI; use --nir-semantics norse (LIBoxCell into LIBoxCell)".into());
    };
    if c.v_leak != 0.0 || v_reset != 0.0 {
        return Err(format!("v_leak = {}, v_reset = {v_reset}: snnTorch's import takes v_leak = 0 and resets to 0", c.v_leak));
    }
    // Its `np.allclose(r, tau_mem / dt)` (rtol 1e-5, atol 1e-8), in f32 as NumPy computes it.
    if !allclose(c.r, c.tau_mem / dt) {
        return Err(format!("r = {}: snnTorch's import takes r = τ_mem/dt = {} only (as its export writes it)", c.r, c.tau_mem / dt));
    }
    let w_scale = c.w_in * (dt / c.tau_syn);
    let v_th = if allclose(w_scale, 1.0) { v_th } else { v_th / w_scale };
    Ok([
        NeuronKind::ExpLeak { alpha: snntorch_decay(dt, c.tau_syn) },
        NeuronKind::Leaky { beta: snntorch_decay(dt, c.tau_mem), v_th, fire: Fire::Above, reset: Reset::Hard(0.0) },
    ])
}

/// NumPy's `allclose(a, b)`: `|a − b| ≤ 1e-8 + 1e-5·|b|`.
fn allclose(a: f32, b: f32) -> bool {
    f64::from((a - b).abs()) <= 1e-8 + 1e-5 * f64::from(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORSE: Option<Semantics> = Some(Semantics::Norse);

    fn node(tau_syn: f32, tau_mem: f32, r: f32, w_in: f32, spike: Option<(f32, f32)>) -> Cuba {
        Cuba { tau_syn, tau_mem, r, w_in, v_leak: 0.0, spike }
    }

    #[test]
    fn norse_chains_its_synapse_into_the_membrane() {
        let dt = Some(1.0 / 1024.0);
        let got = discretise_cuba(node(1.0 / 512.0, 1.0 / 256.0, 1.0, 1.0, Some((0.5, 0.0))), NORSE, dt);
        assert_eq!(got, Ok([NeuronKind::Li { k: 0.5, v_leak: 0.0 }, NeuronKind::LifBox { k: 0.25, v_leak: 0.0, v_th: 0.5, fire: Fire::Above, reset: Reset::Hard(0.0) }]));
        assert_eq!(discretise_cuba(node(1.0 / 512.0, 1.0 / 256.0, 1.0, 1.0, None), NORSE, dt), Ok([NeuronKind::Li { k: 0.5, v_leak: 0.0 }, NeuronKind::Li { k: 0.25, v_leak: 0.0 }]));
        assert!(discretise_cuba(node(1.0, 1.0, 1.0, 2.0, None), NORSE, dt).is_err_and(|e| e.contains("w_in = 2")));
    }

    #[test]
    fn snntorch_reads_its_synaptic_export() {
        // snnTorch's export of Synaptic(α = 0.5, β = 0.75), dt = 1e-4 in f32: τ_syn = dt/(1 − α),
        // τ_mem = dt/(1 − β), r = τ_mem/dt, w_in = τ_syn/dt.
        let dt = 1e-4f32;
        let (tau_syn, tau_mem) = (dt / 0.5, dt / 0.25);
        let synaptic = node(tau_syn, tau_mem, tau_mem / dt, tau_syn / dt, Some((0.5, 0.0)));
        let got = discretise_cuba(synaptic, Some(Semantics::Snntorch), Some(1e-4));
        assert_eq!(got, Ok([NeuronKind::ExpLeak { alpha: 0.5 }, NeuronKind::Leaky { beta: 0.75, v_th: 0.5, fire: Fire::Above, reset: Reset::Hard(0.0) }]));
        // w_in = 1 scales the threshold by 1/w_scale = τ_syn/dt = 2, as its import's hack does.
        let unscaled = node(tau_syn, tau_mem, tau_mem / dt, 1.0, Some((0.5, 0.0)));
        assert!(matches!(discretise_cuba(unscaled, Some(Semantics::Snntorch), Some(1e-4)), Ok([_, NeuronKind::Leaky { v_th: 1.0, .. }])));
        let bad_r = node(tau_syn, tau_mem, 1.0, tau_syn / dt, Some((0.5, 0.0)));
        assert!(discretise_cuba(bad_r, Some(Semantics::Snntorch), Some(1e-4)).is_err_and(|e| e.contains("r = 1")));
        assert!(discretise_cuba(node(tau_syn, tau_mem, 2.0, 2.0, None), Some(Semantics::Snntorch), Some(1e-4)).is_err_and(|e| e.contains("no CubaLI")));
        assert!(discretise_cuba(synaptic, Some(Semantics::Sinabs), Some(1e-4)).is_err_and(|e| e.contains("does not import")));
    }
}

//! Neuron rules exactly as the reference code computes them (`reference/imp-snn.md` §1).

use serde::{Deserialize, Serialize};

/// What happens to the membrane after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reset {
    /// `V = H − S·v_th` (SpikingJelly `v_reset=None`).
    Soft,
    /// `V = (1 − S)·H + S·v_reset`.
    Hard(f32),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum NeuronKind {
    /// 48×48 VGG `LIFSpike`: `mem = decay·mem + x; s = mem > v_th` (strict); `mem = mem·(1 − s)`.
    LegacyLif { decay: f32, v_th: f32 },
    /// SpikingJelly `LIFNode`: `H = V + (X − (V − V_r))/τ` with decay_input (V_r = 0 for soft
    /// reset), else `H = V − (V − V_r)/τ + X`; `S = H ≥ v_th`.
    Lif { tau: f32, v_th: f32, reset: Reset, decay_input: bool },
    /// SpikingJelly `IFNode`: `H = V + X`; `S = H ≥ v_th`.
    If { v_th: f32, reset: Reset },
}

impl NeuronKind {
    /// The membrane potential before any input (without IMP): 0, or v_reset for hard reset.
    pub fn rest(&self) -> f32 {
        match self {
            NeuronKind::LegacyLif { .. } => 0.0,
            NeuronKind::Lif { reset, .. } | NeuronKind::If { reset, .. } => match reset {
                Reset::Soft => 0.0,
                Reset::Hard(v) => *v,
            },
        }
    }

    /// One step of one neuron: updates `v` (membrane) from input `x`, returns the spike.
    /// This is the specification the kernels must match bit for bit.
    #[inline(always)]
    pub fn step(&self, v: &mut f32, x: f32) -> bool {
        match *self {
            NeuronKind::LegacyLif { decay, v_th } => {
                let mem = decay * *v + x;
                let spike = mem - v_th > 0.0;
                *v = if spike { 0.0 } else { mem };
                spike
            }
            NeuronKind::Lif { tau, v_th, reset, decay_input } => {
                let h = match (decay_input, reset) {
                    (true, Reset::Soft) => *v + (x - *v) / tau,
                    (true, Reset::Hard(vr)) => *v + (x - (*v - vr)) / tau,
                    (false, Reset::Soft) => *v * (1.0 - 1.0 / tau) + x,
                    (false, Reset::Hard(vr)) => *v - (*v - vr) / tau + x,
                };
                fire(v, h, v_th, reset)
            }
            NeuronKind::If { v_th, reset } => fire(v, *v + x, v_th, reset),
        }
    }

    /// Parses the `neuron` metadata JSON, e.g. `{"kind":"lif","tau":2.0,"v_th":1.0,"reset":"soft"}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let num = |k: &str, default: f32| v.get(k).and_then(|x| x.as_f64()).map_or(default, |x| x as f32);
        let reset = match v.get("reset").and_then(|r| r.as_str()).unwrap_or("soft") {
            "soft" => Reset::Soft,
            "hard" => Reset::Hard(num("v_reset", 0.0)),
            other => return Err(format!("reset '{other}' (soft or hard)")),
        };
        let kind = match v.get("kind").and_then(|k| k.as_str()) {
            Some("legacy_lif") => NeuronKind::LegacyLif { decay: num("tau", 0.25), v_th: num("v_th", 1.0) },
            Some("lif") => NeuronKind::Lif {
                tau: num("tau", 2.0),
                v_th: num("v_th", 1.0),
                reset,
                decay_input: v.get("decay_input").and_then(|d| d.as_bool()).unwrap_or(true),
            },
            Some("if") => NeuronKind::If { v_th: num("v_th", 1.0), reset },
            other => return Err(format!("kind {other:?} (legacy_lif, lif or if)")),
        };
        kind.check()?;
        Ok(kind)
    }

    /// Parameters that give a defined membrane: `tau` finite and positive
    /// (`τ = 0` divides by zero), `v_th` finite and positive (a threshold at or below 0 fires on
    /// silence), `v_reset` finite. The message names the key.
    pub fn check(&self) -> Result<(), String> {
        let positive = |key: &str, x: f32| if x.is_finite() && x > 0.0 { Ok(()) } else { Err(format!("'{key}' = {x} must be a finite number above 0")) };
        let (tau, v_th, reset) = match *self {
            // The legacy rule multiplies by its decay: 0 (no memory) is defined, a negative or
            // non-finite one is not.
            NeuronKind::LegacyLif { decay, .. } if !(decay.is_finite() && decay >= 0.0) => return Err(format!("'tau' (the legacy decay) = {decay} must be a finite number, 0 or above")),
            NeuronKind::LegacyLif { v_th, .. } => (1.0, v_th, Reset::Soft),
            NeuronKind::Lif { tau, v_th, reset, .. } => (tau, v_th, reset),
            NeuronKind::If { v_th, reset } => (1.0, v_th, reset),
        };
        positive("tau", tau)?;
        positive("v_th", v_th)?;
        match reset {
            Reset::Hard(v) if !v.is_finite() => Err(format!("'v_reset' = {v} must be finite")),
            _ => Ok(()),
        }
    }
}

#[inline(always)]
fn fire(v: &mut f32, h: f32, v_th: f32, reset: Reset) -> bool {
    let spike = h >= v_th;
    *v = match (spike, reset) {
        (false, _) => h,
        (true, Reset::Soft) => h - v_th,
        (true, Reset::Hard(vr)) => vr,
    };
    spike
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
}

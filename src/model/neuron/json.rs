//! The `neuron` JSON of the model metadata and of a `graph` layer, both ways:
//! `{"kind":"lif","tau":2.0,"v_th":1.0,"reset":"soft"}`.
//!
//! Keys: `kind` (`legacy_lif`, `lif`, `if`, `leaky`, `lif_box`); `v_th`; `reset` (`soft`,
//! `hard` with `v_reset`, `none`, `soft_snntorch`, `soft_floor`); `fire` (`>`, `>=` or `multi`,
//! for `leaky` and `lif_box`, whose frameworks differ); `tau` (legacy: the decay), `decay_input`
//! (lif), `beta` (leaky), `dt_tau` and `v_leak` (lif_box, li), `alpha` (exp_leak). `li`,
//! `integrator` and `exp_leak` are non-spiking readouts (no `v_th`, `fire` or `reset`).

use serde_json::{Value, json};

use super::{Fire, NeuronKind, Reset};

impl NeuronKind {
    /// Parses the `neuron` metadata JSON. The error names the key.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let num = |k: &str, default: f32| v.get(k).and_then(|x| x.as_f64()).map_or(default, |x| x as f32);
        let kind_name = v.get("kind").and_then(|k| k.as_str());
        // Norse resets to v_reset; every other framework's default is subtractive.
        let default_reset = if kind_name == Some("lif_box") { "hard" } else { "soft" };
        let reset = match v.get("reset").and_then(|r| r.as_str()).unwrap_or(default_reset) {
            "soft" => Reset::Soft,
            "hard" => Reset::Hard(num("v_reset", 0.0)),
            "none" => Reset::None,
            "soft_snntorch" => Reset::SoftSnntorch,
            "soft_floor" => Reset::SoftFloor,
            other => return Err(format!("reset '{other}' (soft, hard, none, soft_snntorch or soft_floor)")),
        };
        let fire = match v.get("fire").and_then(|f| f.as_str()) {
            None | Some(">") => Fire::Above,
            Some(">=") => Fire::AtLeast,
            Some("multi") => Fire::Count,
            Some(other) => return Err(format!("fire '{other}' (>, >= or multi)")),
        };
        if v.get("fire").is_some() && !matches!(kind_name, Some("leaky" | "lif_box")) {
            return Err(format!("'fire' is fixed for kind {kind_name:?} (legacy_lif: >, lif and if: >=); use kind leaky or lif_box to choose it"));
        }
        let kind = match kind_name {
            Some("legacy_lif") => NeuronKind::LegacyLif { decay: num("tau", 0.25), v_th: num("v_th", 1.0) },
            Some("lif") => NeuronKind::Lif {
                tau: num("tau", 2.0),
                v_th: num("v_th", 1.0),
                reset,
                decay_input: v.get("decay_input").and_then(|d| d.as_bool()).unwrap_or(true),
            },
            Some("if") => NeuronKind::If { v_th: num("v_th", 1.0), reset },
            Some("leaky") => NeuronKind::Leaky { beta: num("beta", 0.5), v_th: num("v_th", 1.0), fire, reset },
            Some("lif_box") => NeuronKind::LifBox { k: num("dt_tau", 0.1), v_leak: num("v_leak", 0.0), v_th: num("v_th", 1.0), fire, reset },
            Some("li") => NeuronKind::Li { k: num("dt_tau", 0.1), v_leak: num("v_leak", 0.0) },
            Some("integrator") => NeuronKind::Integrator,
            Some("exp_leak") => NeuronKind::ExpLeak { alpha: num("alpha", 0.5) },
            other => return Err(format!("kind {other:?} (legacy_lif, lif, if, leaky, lif_box, li, integrator or exp_leak)")),
        };
        kind.check()?;
        Ok(kind)
    }

    /// The `neuron` JSON that [`NeuronKind::from_json`] reads back to `self`.
    pub fn to_json(&self) -> Value {
        let mut j = match self.rule().reset {
            Reset::Soft => json!({"reset": "soft"}),
            Reset::Hard(v) => json!({"reset": "hard", "v_reset": v}),
            Reset::None => json!({"reset": "none"}),
            Reset::SoftSnntorch => json!({"reset": "soft_snntorch"}),
            Reset::SoftFloor => json!({"reset": "soft_floor"}),
        };
        j["kind"] = json!(self.name());
        j["v_th"] = json!(self.v_th());
        match *self {
            NeuronKind::LegacyLif { decay, .. } => {
                // The legacy rule's reset is fixed (to 0); the JSON has no key for it.
                j = json!({"kind": "legacy_lif", "tau": decay, "v_th": self.v_th()});
            }
            NeuronKind::Lif { tau, decay_input, .. } => {
                j["tau"] = json!(tau);
                j["decay_input"] = json!(decay_input);
            }
            NeuronKind::If { .. } => {}
            NeuronKind::Leaky { beta, fire, .. } => {
                j["beta"] = json!(beta);
                j["fire"] = json!(fire.symbol());
            }
            NeuronKind::LifBox { k, v_leak, fire, .. } => {
                j["dt_tau"] = json!(k);
                j["v_leak"] = json!(v_leak);
                j["fire"] = json!(fire.symbol());
            }
            // Readouts neither fire nor reset.
            NeuronKind::Li { k, v_leak } => j = json!({"kind": "li", "dt_tau": k, "v_leak": v_leak}),
            NeuronKind::Integrator => j = json!({"kind": "integrator"}),
            NeuronKind::ExpLeak { alpha } => j = json!({"kind": "exp_leak", "alpha": alpha}),
        }
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_json() {
        let kinds = [
            NeuronKind::LegacyLif { decay: 0.25, v_th: 0.5 },
            NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Hard(-0.5), decay_input: false },
            NeuronKind::If { v_th: 1.0, reset: Reset::None },
            NeuronKind::Leaky { beta: 1.0, v_th: 0.75, fire: Fire::Above, reset: Reset::SoftSnntorch },
            NeuronKind::LifBox { k: 0.5, v_leak: 0.25, v_th: 1.0, fire: Fire::AtLeast, reset: Reset::Hard(0.0) },
            NeuronKind::Li { k: 0.25, v_leak: -1.0 },
            NeuronKind::Integrator,
            NeuronKind::ExpLeak { alpha: 0.75 },
            NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::SoftFloor },
            NeuronKind::Leaky { beta: 0.5, v_th: 0.5, fire: Fire::AtLeast, reset: Reset::SoftFloor },
        ];
        for kind in kinds {
            assert_eq!(NeuronKind::from_json(&kind.to_json().to_string()), Ok(kind), "{}", kind.to_json());
        }
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(NeuronKind::from_json(r#"{"kind":"lif","fire":">"}"#).is_err_and(|e| e.contains("'fire'")));
        assert!(NeuronKind::from_json(r#"{"kind":"leaky","fire":"<"}"#).is_err_and(|e| e.contains("fire '<'")));
        assert!(NeuronKind::from_json(r#"{"kind":"lif_box","dt_tau":0}"#).is_err_and(|e| e.contains("dt_tau")));
        assert!(NeuronKind::from_json(r#"{"kind":"leaky","beta":-1}"#).is_err_and(|e| e.contains("beta")));
        assert!(NeuronKind::from_json(r#"{"kind":"leaky","fire":"multi","reset":"hard"}"#).is_err_and(|e| e.contains("'multi'")));
        assert!(NeuronKind::from_json(r#"{"kind":"exp_leak","alpha":-0.5}"#).is_err_and(|e| e.contains("alpha")));
    }
}

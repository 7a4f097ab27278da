//! Per-neuron parameters: a layer whose parameters differ between its neurons is a uniform
//! [`NeuronKind`] (the template: kind, fire, reset form) plus one array per varying parameter,
//! keyed by its `neuron` JSON name (`tau`, `beta`, `v_th`, `v_reset`, `dt_tau`, `v_leak`, `alpha`). The
//! model file holds each array as the tensor `<layer>.neuron.<key>` in the layer's shape
//! (`[C, H, W]` or `[N]`, row-major, PyTorch order).
//!
//! Neuron `i` runs the template with the arrays' `i`-th values put in ([`NeuronArrays::kinds`]):
//! the same [`super::Rule`], the same operations in the same order, only other numbers, so a
//! uniform layer and a layer whose arrays hold one value give the same bits.

use super::{NeuronKind, Reset};

/// The arrays of one layer (empty for a uniform layer), in the order of [`NeuronKind::keys`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeuronArrays {
    pub params: Vec<(&'static str, Vec<f32>)>,
}

impl NeuronKind {
    /// The parameters a layer of this kind may hold per neuron, by their JSON key.
    pub fn keys(&self) -> &'static [&'static str] {
        let hard = matches!(self.rule().reset, Reset::Hard(_));
        match (self, hard) {
            (NeuronKind::LegacyLif { .. }, _) => &["tau", "v_th"],
            (NeuronKind::Lif { .. }, true) => &["tau", "v_th", "v_reset"],
            (NeuronKind::Lif { .. }, false) => &["tau", "v_th"],
            (NeuronKind::If { .. }, true) => &["v_th", "v_reset"],
            (NeuronKind::If { .. }, false) => &["v_th"],
            (NeuronKind::Leaky { .. }, true) => &["beta", "v_th", "v_reset"],
            (NeuronKind::Leaky { .. }, false) => &["beta", "v_th"],
            (NeuronKind::LifBox { .. }, true) => &["dt_tau", "v_leak", "v_th", "v_reset"],
            (NeuronKind::LifBox { .. }, false) => &["dt_tau", "v_leak", "v_th"],
            (NeuronKind::Li { .. }, _) => &["dt_tau", "v_leak"],
            (NeuronKind::Integrator, _) => &[],
            (NeuronKind::ExpLeak { .. }, _) => &["alpha"],
        }
    }

    /// The value of parameter `key` (one of [`NeuronKind::keys`]).
    pub fn get(&self, key: &str) -> Option<f32> {
        let v_reset = match self.rule().reset {
            Reset::Hard(v) => Some(v),
            _ => None,
        };
        match (*self, key) {
            (_, "v_reset") => v_reset,
            (NeuronKind::Li { .. } | NeuronKind::Integrator | NeuronKind::ExpLeak { .. }, "v_th") => None,
            (NeuronKind::ExpLeak { alpha }, "alpha") => Some(alpha),
            (_, "v_th") => Some(self.v_th()),
            (NeuronKind::LegacyLif { decay, .. }, "tau") => Some(decay),
            (NeuronKind::Lif { tau, .. }, "tau") => Some(tau),
            (NeuronKind::Leaky { beta, .. }, "beta") => Some(beta),
            (NeuronKind::LifBox { k, .. } | NeuronKind::Li { k, .. }, "dt_tau") => Some(k),
            (NeuronKind::LifBox { v_leak, .. } | NeuronKind::Li { v_leak, .. }, "v_leak") => Some(v_leak),
            _ => None,
        }
    }

    /// `self` with parameter `key` set to `x`; `None` when the kind has no such parameter.
    pub fn with(&self, key: &str, x: f32) -> Option<NeuronKind> {
        self.get(key)?;
        let mut k = *self;
        match (&mut k, key) {
            (NeuronKind::Lif { reset, .. } | NeuronKind::If { reset, .. } | NeuronKind::Leaky { reset, .. } | NeuronKind::LifBox { reset, .. }, "v_reset") => *reset = Reset::Hard(x),
            (NeuronKind::LegacyLif { v_th, .. } | NeuronKind::Lif { v_th, .. } | NeuronKind::If { v_th, .. } | NeuronKind::Leaky { v_th, .. } | NeuronKind::LifBox { v_th, .. }, "v_th") => *v_th = x,
            (NeuronKind::LegacyLif { decay: p, .. } | NeuronKind::Lif { tau: p, .. } | NeuronKind::Leaky { beta: p, .. }, "tau" | "beta") => *p = x,
            (NeuronKind::LifBox { k: p, .. } | NeuronKind::Li { k: p, .. }, "dt_tau") => *p = x,
            (NeuronKind::ExpLeak { alpha }, "alpha") => *alpha = x,
            (NeuronKind::LifBox { v_leak: p, .. } | NeuronKind::Li { v_leak: p, .. }, "v_leak") => *p = x,
            _ => return None,
        }
        Some(k)
    }
}

impl NeuronArrays {
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The same arrays with each one's values reordered by `f` (a backend's storage layout).
    pub fn reordered(&self, f: impl Fn(&[f32]) -> Vec<f32>) -> NeuronArrays {
        NeuronArrays { params: self.params.iter().map(|(k, v)| (*k, f(v))).collect() }
    }

    /// The kind of each of the `n` neurons: `template` with the arrays' values put in, each
    /// checked ([`NeuronKind::check`]). The error names the key and the neuron.
    pub fn kinds(&self, template: NeuronKind, n: usize) -> Result<Vec<NeuronKind>, String> {
        for (key, values) in &self.params {
            if template.get(key).is_none() {
                return Err(format!("'{key}': a {} neuron has no such parameter (it takes {})", template.name(), template.keys().join(", ")));
            }
            if values.len() != n {
                return Err(format!("'{key}' has {} values for {n} neurons", values.len()));
            }
        }
        (0..n)
            .map(|i| {
                let kind = self.params.iter().fold(template, |k, (key, values)| k.with(key, values[i]).unwrap_or(k));
                kind.check().map(|()| kind).map_err(|e| format!("neuron {i}: {e}"))
            })
            .collect()
    }

    /// The template and arrays of per-neuron `kinds` (one per neuron, at least one): a key
    /// whose value is the same for every neuron stays in the template. Fails when the kinds
    /// differ in more than their numbers (kind, comparison or reset form).
    pub fn split(kinds: &[NeuronKind]) -> Result<(NeuronKind, NeuronArrays), String> {
        let template = *kinds.first().ok_or("a neuron layer with no neurons")?;
        let mut params = Vec::new();
        for key in template.keys() {
            let values: Vec<f32> = kinds.iter().map(|k| k.get(key).unwrap_or(f32::NAN)).collect();
            let first = values[0].to_bits();
            if values.iter().any(|v| v.to_bits() != first) {
                params.push((*key, values));
            }
        }
        let arrays = NeuronArrays { params };
        let rebuilt = arrays.kinds(template, kinds.len())?;
        if let Some(i) = (0..kinds.len()).find(|&i| rebuilt[i] != kinds[i]) {
            return Err(format!("neuron {i} is {:?} but neuron 0 is {template:?}: a layer's neurons may differ in their numbers only", kinds[i]));
        }
        Ok((template, arrays))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::neuron::Fire;

    #[test]
    fn keys_get_and_with_agree_for_every_kind() {
        let kinds = [
            NeuronKind::LegacyLif { decay: 0.25, v_th: 0.5 },
            NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Hard(-0.5), decay_input: false },
            NeuronKind::If { v_th: 1.0, reset: Reset::Soft },
            NeuronKind::Leaky { beta: 0.5, v_th: 0.75, fire: Fire::Above, reset: Reset::Hard(0.0) },
            NeuronKind::LifBox { k: 0.5, v_leak: 0.25, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) },
            NeuronKind::Li { k: 0.25, v_leak: -1.0 },
        ];
        for kind in kinds {
            for key in kind.keys() {
                let moved = kind.with(key, 0.125).unwrap_or_else(|| panic!("{kind:?} {key}"));
                assert_eq!(moved.get(key), Some(0.125), "{kind:?} {key}");
                assert_ne!(moved, kind, "{kind:?} {key}");
            }
            assert_eq!(kind.with("no_such_key", 1.0), None);
        }
        assert_eq!(NeuronKind::If { v_th: 1.0, reset: Reset::Soft }.with("v_reset", 0.0), None, "a soft reset has no value");
    }

    #[test]
    fn split_keeps_uniform_keys_and_refuses_other_forms() {
        let a = NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: Fire::Above, reset: Reset::Hard(0.0) };
        let kinds = [a, a.with("beta", 0.25).unwrap(), a.with("beta", 0.75).unwrap()];
        let (template, arrays) = NeuronArrays::split(&kinds).unwrap();
        assert_eq!(template, a);
        assert_eq!(arrays.params, vec![("beta", vec![0.5, 0.25, 0.75])]);
        assert_eq!(arrays.kinds(template, 3).unwrap(), kinds);
        let other = NeuronKind::Leaky { beta: 0.5, v_th: 1.0, fire: Fire::AtLeast, reset: Reset::Hard(0.0) };
        assert!(NeuronArrays::split(&[a, other]).is_err_and(|e| e.contains("neuron 1")));
        let bad = NeuronArrays { params: vec![("beta", vec![0.5, -1.0])] };
        assert!(bad.kinds(a, 2).is_err_and(|e| e.contains("neuron 1") && e.contains("beta")));
        assert!(bad.kinds(a, 3).is_err_and(|e| e.contains("2 values for 3")));
    }
}

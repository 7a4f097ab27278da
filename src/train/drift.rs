//! How far the learned initial membrane potentials (IMP) moved during a run: per IMP tensor the
//! mean and largest `|IMP − init|`, the IMP's standard deviation at the start and now, and a
//! histogram of `|IMP − init|` over decade bins. The starting values travel in the optimiser
//! state file (`imp_init.<name>`), so a resumed run still measures from the first start.

use serde::Serialize;

use super::net::ParamSet;

/// Upper edges of the `|IMP − init|` histogram bins; the last bin is everything above 1.
pub const DRIFT_EDGES: [f32; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// Prefix of the starting IMP values in the optimiser state file.
pub const INIT_PREFIX: &str = "imp_init.";

/// The drift of one IMP tensor.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LayerDrift {
    pub name: String,
    pub values: usize,
    pub mean_abs: f64,
    pub max_abs: f64,
    pub std_init: f64,
    pub std_now: f64,
    /// Counts of `|IMP − init|` in `[0, 1e-4)`, `[1e-4, 1e-3)`, …, `[0.1, 1)`, `[1, ∞)`.
    pub histogram: Vec<usize>,
}

impl LayerDrift {
    /// One line for the end of a run.
    pub fn line(&self) -> String {
        let bins = ["<1e-4", "<1e-3", "<0.01", "<0.1", "<1", ">=1"];
        let hist: Vec<String> = bins.iter().zip(&self.histogram).map(|(b, n)| format!("{b}:{n}")).collect();
        format!(
            "IMP drift {}: mean |IMP-init| {:.3e}, max {:.3e}, std {:.4} -> {:.4} ({} values; {})",
            self.name,
            self.mean_abs,
            self.max_abs,
            self.std_init,
            self.std_now,
            self.values,
            hist.join(" ")
        )
    }
}

/// The IMP values a run started from.
#[derive(Clone, Debug, Default)]
pub struct ImpStart {
    pub tensors: Vec<(String, Vec<f32>)>,
}

impl ImpStart {
    /// The current IMP values of `params` (every parameter marked [`crate::train::net::Param::imp`]).
    pub fn capture(params: &ParamSet) -> anyhow::Result<Self> {
        Ok(Self { tensors: imp_values(params)? })
    }

    /// The starting values stored in an optimiser state (`imp_init.<name>`), if any.
    pub fn from_state(state: &[(String, Vec<f32>)]) -> Option<Self> {
        let tensors: Vec<(String, Vec<f32>)> = state.iter().filter_map(|(n, v)| n.strip_prefix(INIT_PREFIX).map(|p| (p.to_string(), v.clone()))).collect();
        (!tensors.is_empty()).then_some(Self { tensors })
    }

    /// The starting values as optimiser-state entries.
    pub fn state(&self) -> Vec<(String, Vec<f32>)> {
        self.tensors.iter().map(|(n, v)| (format!("{INIT_PREFIX}{n}"), v.clone())).collect()
    }

    /// The drift of every IMP tensor of `params` from this start.
    pub fn measure(&self, params: &ParamSet) -> anyhow::Result<Vec<LayerDrift>> {
        let now = imp_values(params)?;
        let mut out = Vec::new();
        for (name, current) in &now {
            let Some((_, init)) = self.tensors.iter().find(|(n, _)| n == name) else { continue };
            if init.len() != current.len() {
                anyhow::bail!("IMP '{name}': {} starting values but {} now", init.len(), current.len());
            }
            out.push(drift(name, init, current));
        }
        Ok(out)
    }
}

fn imp_values(params: &ParamSet) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    params
        .params
        .iter()
        .filter(|p| p.imp)
        .map(|p| Ok((p.name.clone(), p.value.clone().inner().into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading {}: {e:?}", p.name))?)))
        .collect()
}

/// The drift statistics of one tensor from `init` to `now`.
pub fn drift(name: &str, init: &[f32], now: &[f32]) -> LayerDrift {
    let n = init.len().max(1) as f64;
    let mut histogram = vec![0usize; DRIFT_EDGES.len() + 1];
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    for (a, b) in init.iter().zip(now) {
        let d = (b - a).abs();
        sum += f64::from(d);
        max = max.max(f64::from(d));
        histogram[DRIFT_EDGES.iter().position(|e| d < *e).unwrap_or(DRIFT_EDGES.len())] += 1;
    }
    LayerDrift { name: name.to_string(), values: init.len(), mean_abs: sum / n, max_abs: max, std_init: std(init), std_now: std(now), histogram }
}

fn std(v: &[f32]) -> f64 {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
    (v.iter().map(|x| (f64::from(*x) - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_counts_each_value_in_its_decade() {
        let init = [0.0f32, 0.1, -0.2, 0.05, 0.0];
        let now = [0.00005f32, 0.1005, -0.15, 0.3, 2.0];
        let d = drift("features.1.mem", &init, &now);
        assert_eq!(d.histogram, vec![1, 1, 0, 1, 1, 1]);
        let want_mean = (0.00005 + 0.0005 + 0.05 + 0.25 + 2.0) / 5.0;
        assert!((d.mean_abs - want_mean).abs() < 1e-6, "{}", d.mean_abs);
        assert!((d.max_abs - 2.0).abs() < 1e-6);
        assert!(d.std_now > d.std_init);
        assert!(d.line().contains("features.1.mem"));
    }

    #[test]
    fn start_round_trips_through_optimizer_state() {
        let start = ImpStart { tensors: vec![("a.mem".into(), vec![1.0, 2.0])] };
        let mut state = start.state();
        state.push(("optim.first.a.mem".into(), vec![0.0, 0.0]));
        let back = ImpStart::from_state(&state).unwrap();
        assert_eq!(back.tensors, start.tensors);
        assert!(ImpStart::from_state(&state[1..]).is_none());
    }
}

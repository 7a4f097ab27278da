//! Optimisers over a [`ParamSet`]: SGD with momentum (PyTorch's rule) and AdamW (decoupled
//! weight decay), a cosine learning-rate schedule with linear warmup, global-norm gradient
//! clipping, weight decay only where [`Param::decay`] says (not on IMP, TEBN scales, BN γ/β), and
//! a learning-rate multiplier for the IMP parameters ([`Param::imp`]).
//! State lives next to the parameters as inner (non-autodiff) tensors and round-trips through
//! checkpoints.

use std::collections::HashMap;

use burn::tensor::{Gradients, Tensor, TensorData};

use super::net::ParamSet;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    Sgd { momentum: f32 },
    AdamW { beta1: f32, beta2: f32, eps: f32 },
}

impl OptimizerKind {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "sgd" => Ok(OptimizerKind::Sgd { momentum: 0.9 }),
            "adamw" => Ok(OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
            other => Err(format!("optimizer '{other}' (sgd or adamw)")),
        }
    }
}

/// Learning rate at `step` of `total`: linear warmup over `warmup` steps, then cosine to 0.
pub fn cosine_lr(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f32,
    /// Clip the global gradient L2 norm to this (none when 0).
    pub clip_norm: f32,
    /// The IMP parameters' learning rate is `lr × imp_lr_mult` (1 in the reference; other values
    /// are a deviation from it, `--imp-lr-mult`).
    pub imp_lr_mult: f32,
    pub step: usize,
    /// First moment (SGD: momentum buffer) and second moment per parameter name.
    first: HashMap<String, Tensor<1>>,
    second: HashMap<String, Tensor<1>>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f32, clip_norm: f32) -> Self {
        Self { kind, weight_decay, clip_norm, imp_lr_mult: 1.0, step: 0, first: HashMap::new(), second: HashMap::new() }
    }

    /// One update of every parameter that has a gradient; returns the gradient norm before
    /// clipping.
    pub fn step(&mut self, params: &mut ParamSet, grads: &Gradients, lr: f64) -> f32 {
        let lr = lr as f32;
        let mut found: Vec<(usize, Tensor<1>)> = Vec::new();
        for (i, p) in params.params.iter().enumerate() {
            if let Some(g) = p.value.grad(grads) {
                found.push((i, g));
            }
        }
        let norm_sq: f32 = found.iter().map(|(_, g)| g.clone().powi_scalar(2).sum().into_scalar::<f32>()).sum();
        let norm = norm_sq.sqrt();
        let scale = if self.clip_norm > 0.0 && norm > self.clip_norm { self.clip_norm / (norm + 1e-6) } else { 1.0 };
        self.step += 1;
        let t = self.step as i32;
        for (i, mut g) in found {
            if scale != 1.0 {
                g = g * scale;
            }
            let p = &mut params.params[i];
            let lr = if p.imp { lr * self.imp_lr_mult } else { lr };
            let mut value = p.value.clone().inner();
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            match self.kind {
                OptimizerKind::Sgd { momentum } => {
                    if wd > 0.0 {
                        g = g + value.clone() * wd;
                    }
                    let buf = match self.first.remove(&p.name) {
                        Some(b) if momentum > 0.0 => b * momentum + g,
                        _ => g,
                    };
                    value = value - buf.clone() * lr;
                    self.first.insert(p.name.clone(), buf);
                }
                OptimizerKind::AdamW { beta1, beta2, eps } => {
                    if wd > 0.0 {
                        value = value.clone() - value * (lr * wd);
                    }
                    let m = match self.first.remove(&p.name) {
                        Some(m) => m * beta1 + g.clone() * (1.0 - beta1),
                        None => g.clone() * (1.0 - beta1),
                    };
                    let v = match self.second.remove(&p.name) {
                        Some(v) => v * beta2 + g.clone() * g.clone() * (1.0 - beta2),
                        None => g.clone() * g * (1.0 - beta2),
                    };
                    let m_hat = m.clone() / (1.0 - beta1.powi(t));
                    let v_hat = v.clone() / (1.0 - beta2.powi(t));
                    value = value - m_hat / (v_hat.sqrt() + eps) * lr;
                    self.first.insert(p.name.clone(), m);
                    self.second.insert(p.name.clone(), v);
                }
            }
            p.value = Tensor::from_inner(value).require_grad();
        }
        norm
    }

    /// The state as named host tensors (`optim.first.<param>`, `optim.second.<param>`).
    pub fn state(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (prefix, map) in [("optim.first.", &self.first), ("optim.second.", &self.second)] {
            for (name, t) in map {
                out.push((format!("{prefix}{name}"), t.clone().into_data().try_into_vec::<f32>().unwrap_or_default()));
            }
        }
        out
    }

    /// Restores state written by [`Optimizer::state`], on the device of `params`.
    pub fn restore(&mut self, step: usize, state: Vec<(String, Vec<f32>)>, params: &ParamSet) {
        self.step = step;
        let device = params.params.first().map(|p| p.value.clone().inner().device());
        let Some(device) = device else { return };
        for (name, data) in state {
            let n = data.len();
            let t = Tensor::<1>::from_data(TensorData::new(data, [n]), &device);
            if let Some(p) = name.strip_prefix("optim.first.") {
                self.first.insert(p.to_string(), t);
            } else if let Some(p) = name.strip_prefix("optim.second.") {
                self.second.insert(p.to_string(), t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// Plain SGD (no momentum, no decay) on `loss = Σ 2·w` moves every weight by `2·lr`; the IMP by
    /// `2·lr·imp_lr_mult`.
    #[test]
    fn imp_learning_rate_is_multiplied() {
        let device = Device::flex().autodiff();
        let mut params = ParamSet::default();
        params.push("conv.weight".into(), vec![2], vec![0.5, -0.5], true, &device);
        params.push("features.1.mem".into(), vec![2], vec![0.25, -0.25], false, &device);
        params.mark_imp("features.1.mem");
        let mut optim = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0 }, 0.0, 0.0);
        optim.imp_lr_mult = 8.0;
        let loss = (params.get("conv.weight").sum() + params.get("features.1.mem").sum()) * 2.0;
        optim.step(&mut params, &loss.backward(), 0.0625);
        let read = |n: &str| params.get(n).inner().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(read("conv.weight"), vec![0.375, -0.625]);
        assert_eq!(read("features.1.mem"), vec![-0.75, -1.25]);
    }

    #[test]
    fn warmup_then_cosine() {
        assert!((cosine_lr(0.1, 0, 10, 100) - 0.01).abs() < 1e-12);
        assert!((cosine_lr(0.1, 9, 10, 100) - 0.1).abs() < 1e-12);
        assert!((cosine_lr(0.1, 10, 10, 100) - 0.1).abs() < 1e-12);
        assert!(cosine_lr(0.1, 100, 10, 100).abs() < 1e-12);
        assert!((cosine_lr(0.1, 55, 10, 100) - 0.05).abs() < 1e-9);
    }
}

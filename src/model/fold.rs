//! Folding eval-mode BatchNorm into the preceding convolution: with `k = γ / √(σ² + ε)`,
//! `W' = k·W` and `b' = k·(b − μ) + β` (`reference/imp-snn.md` §3). TEBN's per-timestep scale
//! stays separate (it multiplies the folded output at each step).

use super::store::{Dim, TensorStore};
use super::ModelError;

pub const BN_EPS: f32 = 1e-5;

/// Folds the BatchNorm whose tensors are `{prefix}.weight|bias|running_mean|running_var` into
/// `weight` (`[out, …]`) and `bias` (`[out]`).
pub fn fold_bn(store: &TensorStore, prefix: &str, weight: &mut [f32], bias: &mut [f32]) -> Result<(), ModelError> {
    let out = bias.len();
    let get = |n: &str| store.get(&format!("{prefix}.{n}"), &[Dim::Is(out)]);
    let (gamma, beta, mean, var) = (get("weight")?.data, get("bias")?.data, get("running_mean")?.data, get("running_var")?.data);
    let per_out = weight.len() / out;
    for o in 0..out {
        if var[o] + BN_EPS <= 0.0 {
            return Err(ModelError::Inconsistent { file: store.file().into(), reason: format!("{prefix}.running_var[{o}] = {} is negative", var[o]) });
        }
        // ATen's eval BatchNorm computes alpha = γ / sqrt(var + eps), beta = β − μ·alpha.
        let k = gamma[o] / (var[o] + BN_EPS).sqrt();
        weight[o * per_out..(o + 1) * per_out].iter_mut().for_each(|w| *w *= k);
        bias[o] = (bias[o] - mean[o]) * k + beta[o];
        if !k.is_finite() || !bias[o].is_finite() || weight[o * per_out..(o + 1) * per_out].iter().any(|w| !w.is_finite()) {
            return Err(ModelError::Inconsistent {
                file: store.file().into(),
                reason: format!("folding {prefix} (BatchNorm) into its convolution overflows float32 at output channel {o} (weight {}, running_var {})", gamma[o], var[o]),
            });
        }
    }
    Ok(())
}

//! Training objectives on per-timestep logits `z` `[T, B, K]` (`reference/imp-snn.md` §4, §5) and
//! the matching evaluation readout.
//!
//! - SDT: `CE(mean_t z_t, y)`;
//! - TET: `(1/T) Σ_t CE(z_t, y)`;
//! - TET-S: TET with label smoothing `ỹ = (1 − ε)·onehot(y) + ε/K` (ε = 0.01), no MSE term;
//! - LTS: `CE(z_{T−1}, y)` — the last timestep only.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    Sdt,
    Tet,
    TetS { epsilon: f32 },
    Lts,
}

impl Loss {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "sdt" => Ok(Loss::Sdt),
            "tet" => Ok(Loss::Tet),
            "tet-s" => Ok(Loss::TetS { epsilon: 0.01 }),
            "lts" => Ok(Loss::Lts),
            other => match other.strip_prefix("tet-s:") {
                Some(e) => e.parse().map(|epsilon| Loss::TetS { epsilon }).map_err(|_| format!("label smoothing '{e}' is not a number")),
                None => Err(format!("loss '{other}' (sdt, tet, tet-s[:ε] or lts)")),
            },
        }
    }

    pub fn name(&self) -> String {
        match self {
            Loss::Sdt => "sdt".into(),
            Loss::Tet => "tet".into(),
            Loss::TetS { epsilon } => format!("tet-s:{epsilon}"),
            Loss::Lts => "lts".into(),
        }
    }

    /// The readout that matches the objective: the last step for LTS, the mean over time
    /// otherwise.
    pub fn readout(&self) -> Readout {
        if *self == Loss::Lts { Readout::Last } else { Readout::Mean }
    }

    /// The scalar loss of `logits` `[T, B, K]` for `labels`.
    pub fn compute(&self, logits: Tensor<3>, labels: &[usize]) -> Tensor<1> {
        let [t_len, b, k] = logits.dims();
        let device = logits.device();
        match *self {
            Loss::Sdt => soft_cross_entropy(logits.mean_dim(0).reshape([b, k]), targets(labels, k, 0.0, &device)),
            Loss::Lts => soft_cross_entropy(logits.narrow(0, t_len - 1, 1).reshape([b, k]), targets(labels, k, 0.0, &device)),
            Loss::Tet | Loss::TetS { .. } => {
                let eps = if let Loss::TetS { epsilon } = *self { epsilon } else { 0.0 };
                let y = targets(labels, k, eps, &device).reshape([1, b, k]).expand([t_len, b, k]).reshape([t_len * b, k]);
                soft_cross_entropy(logits.reshape([t_len * b, k]), y)
            }
        }
    }
}

/// How a prediction is read from per-timestep logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    Mean,
    Last,
}

/// `(1 − ε)·onehot + ε/K`, `[B, K]`.
fn targets(labels: &[usize], k: usize, epsilon: f32, device: &Device) -> Tensor<2> {
    let mut data = vec![epsilon / k as f32; labels.len() * k];
    for (i, &y) in labels.iter().enumerate() {
        data[i * k + y] += 1.0 - epsilon;
    }
    Tensor::<2>::from_data(TensorData::new(data, [labels.len(), k]), device)
}

/// Mean over rows of `−Σ_k y_k · log_softmax(z)_k`.
fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let rows = logits.dims()[0] as f32;
    (log_softmax(logits, 1) * targets).sum().neg().reshape([1]) / rows
}

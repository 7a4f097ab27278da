//! Evaluation: accuracy of the readout (mean over time or last step), accuracy at every
//! timestep (the running mean of logits up to t, or step t alone for LTS models), the confusion
//! matrix and per-layer spike rates, with the engine's folded weights ([`FoldedNet`]).

use anyhow::Result;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::data::Loader;
use super::loss::Readout;
use super::net::FoldedNet;
use crate::engine::run::argmax;

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub samples: usize,
    pub accuracy: f64,
    /// `accuracy_at[t]`: accuracy reading the logits of steps `0..=t` (mean) or step `t` (last).
    pub accuracy_at: Vec<f64>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Mean spike rate per neuron layer (name, rate).
    pub spike_rates: Vec<(String, f64)>,
}


/// Evaluates `net` on every batch of `loader`.
pub fn evaluate(net: &mut FoldedNet, loader: &Loader, readout: Readout, device: &Device) -> Result<EvalReport> {
    let k = net.meta.num_classes;
    let mut confusion = vec![vec![0usize; k]; k];
    let (mut correct, mut total) = (0usize, 0usize);
    let mut correct_at: Vec<usize> = Vec::new();
    let mut spike_sums: Vec<(usize, f64, f64)> = Vec::new();
    for batch in loader.epoch(0, false) {
        let batch = batch?;
        let [t_len, b, c, h, w] = batch.shape;
        let x = Tensor::<5>::from_data(TensorData::new(batch.x, batch.shape), device);
        let _ = (c, h, w);
        let out = net.forward(x);
        let logits = out.logits.into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
        if correct_at.is_empty() {
            correct_at = vec![0; t_len];
        }
        for (layer, (node, per_step, per_step_neurons)) in out.spikes.into_iter().enumerate() {
            let count = f64::from(per_step.sum().into_scalar::<f32>());
            let steps = per_step_neurons * t_len;
            if spike_sums.len() <= layer {
                spike_sums.push((node, 0.0, 0.0));
            }
            spike_sums[layer].1 += count;
            spike_sums[layer].2 += steps as f64;
        }
        for bi in 0..b {
            let step = |t: usize| &logits[(t * b + bi) * k..(t * b + bi + 1) * k];
            let mut running = vec![0.0f32; k];
            let mut final_pred = 0;
            for t in 0..t_len {
                running.iter_mut().zip(step(t)).for_each(|(r, v)| *r += v);
                let pred = match readout {
                    Readout::Mean => argmax(&running),
                    Readout::Last => argmax(step(t)),
                };
                if pred == batch.labels[bi] {
                    correct_at[t] += 1;
                }
                final_pred = pred;
            }
            confusion[batch.labels[bi]][final_pred] += 1;
            if final_pred == batch.labels[bi] {
                correct += 1;
            }
            total += 1;
        }
    }
    let frac = |n: usize| if total == 0 { 0.0 } else { n as f64 / total as f64 };
    let graph = net.graph();
    Ok(EvalReport {
        samples: total,
        accuracy: frac(correct),
        accuracy_at: correct_at.iter().map(|&n| frac(n)).collect(),
        confusion,
        spike_rates: spike_sums.into_iter().map(|(node, s, n)| (graph.nodes[node].name.clone(), if n > 0.0 { s / n } else { 0.0 })).collect(),
    })
}

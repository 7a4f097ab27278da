//! Running a batch of frame sequences through a backend and decoding predictions.

use super::{Backend, EngineError};
use crate::model::meta::Decode;

/// How the logits of a run are turned into predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    Mean,
    Last,
    /// Keep every timestep's logits (the head runs at every step).
    PerStep,
}

impl From<Decode> for Decoded {
    fn from(d: Decode) -> Self {
        match d {
            Decode::Mean => Decoded::Mean,
            Decode::Last => Decoded::Last,
        }
    }
}

/// Result for one batch: `scores[b]` are the decoded logits of lane b (`[K]`),
/// `per_step[t][b]` the logits of every step where they were computed.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub scores: Vec<Vec<f32>>,
    pub per_step: Vec<Vec<Vec<f32>>>,
    /// Spikes per neuron node over the run, summed over the batch.
    pub spike_counts: Vec<u64>,
}

impl Prediction {
    pub fn argmax(&self, b: usize) -> usize {
        argmax(&self.scores[b])
    }
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// Runs `frames` (`[T, B, C, H, W]`, T steps of the batch) from the learned initial state.
pub fn run_frames(backend: &mut dyn Backend, frames: &[f32], timesteps: usize, classes: usize, decode: Decoded) -> Result<Prediction, EngineError> {
    let b = backend.batch();
    let per = frames.len() / timesteps.max(1);
    if timesteps == 0 || per * timesteps != frames.len() {
        return Err(EngineError::InputSize { what: format!("{timesteps} timesteps of frames"), expected: per * timesteps.max(1), got: frames.len() });
    }
    backend.reset_all();
    let mut per_step = Vec::new();
    let mut sum = vec![vec![0f32; classes]; b];
    for t in 0..timesteps {
        let want = decode != Decoded::Last || t + 1 == timesteps;
        let steps = vec![t; b];
        if let Some(logits) = backend.step(&frames[t * per..(t + 1) * per], &steps, want)? {
            let rows: Vec<Vec<f32>> = logits.chunks(classes).map(<[f32]>::to_vec).collect();
            for (s, r) in sum.iter_mut().zip(&rows) {
                s.iter_mut().zip(r).for_each(|(a, v)| *a += v);
            }
            // A logit, or their sum over timesteps, that overflowed would decode to `null`
            // scores or an arbitrary class: an error instead (the sum carries any NaN or inf).
            if let Some((lane, &value)) = sum.iter().enumerate().find_map(|(b, s)| s.iter().find(|v| !v.is_finite()).map(|v| (b, v))) {
                return Err(EngineError::NonFinite { lane, step: t, value });
            }
            per_step.push(rows);
        }
    }
    let scores = match decode {
        Decoded::Last => per_step.last().cloned().unwrap_or_default(),
        Decoded::Mean | Decoded::PerStep => sum.into_iter().map(|s| s.into_iter().map(|v| v / timesteps as f32).collect()).collect(),
    };
    Ok(Prediction { scores, per_step, spike_counts: backend.spike_counts()? })
}

//! What a [`super::Session`] returns: the per-step logits and probabilities of a sample and its
//! [`Prediction`]. Softmax and top-k are defined here, once for the crate.

use serde::Serialize;

use crate::engine::run::argmax;

/// One class of a top-k list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranked {
    pub index: usize,
    pub class: String,
    /// Softmax probability of the decoded logits.
    pub score: f32,
}

/// The decision for one sample (or one stream window).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The class with the largest decoded logit (the first of equals).
    pub index: usize,
    pub class: String,
    /// The softmax probability of the top-ranked class.
    pub score: f32,
    /// The `top_k` most probable classes, most probable first (equal probabilities by index).
    pub top_k: Vec<Ranked>,
    /// The decoded logits `[K]` the prediction is made from.
    pub scores: Vec<f32>,
}

/// A classified sample: its per-step logits and probabilities, and the decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// Logits `[steps][K]` where the head ran: every timestep, or only the last with
    /// [`crate::engine::Decode::Last`].
    pub logits: Vec<Vec<f32>>,
    /// `softmax` of every row of `logits`.
    pub probabilities: Vec<Vec<f32>>,
    pub prediction: Prediction,
}

/// `exp(v - max) / Σ exp(v - max)`.
pub fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// The `k` (at least 1) most probable classes of decoded logits, as `(index, probability)`.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let p = softmax(scores);
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    idx.into_iter().take(k.max(1)).map(|i| (i, p[i])).collect()
}

fn name(classes: &[String], i: usize) -> String {
    classes.get(i).cloned().unwrap_or_else(|| i.to_string())
}

impl Prediction {
    /// The decision for decoded logits `scores`, with `k` classes ranked.
    pub fn from_scores(scores: Vec<f32>, classes: &[String], k: usize) -> Self {
        let top_k: Vec<Ranked> = top_k(&scores, k).into_iter().map(|(i, score)| Ranked { index: i, class: name(classes, i), score }).collect();
        let index = argmax(&scores);
        Self { index, class: name(classes, index), score: top_k.first().map_or(f32::NAN, |r| r.score), top_k, scores }
    }
}

impl Classification {
    pub fn new(logits: Vec<Vec<f32>>, scores: Vec<f32>, classes: &[String], k: usize) -> Self {
        let probabilities = logits.iter().map(|r| softmax(r)).collect();
        Self { logits, probabilities, prediction: Prediction::from_scores(scores, classes, k) }
    }
}

//! Running a batch of frame sequences through a backend: the per-step logits and their decode
//! ([`Decode::scores`]) for every lane. [`crate::engine::Session`] builds on it.

use super::{Backend, EngineError};
use crate::model::meta::Decode;

/// Result for one batch: `scores[b]` are the decoded logits of lane b (`[K]`),
/// `per_step[t][b]` the logits of every step where they were computed.
#[derive(Clone, Debug)]
pub struct RunOutput {
    pub scores: Vec<Vec<f32>>,
    pub per_step: Vec<Vec<Vec<f32>>>,
    /// Spikes per neuron node over the run, summed over the batch.
    pub spike_counts: Vec<u64>,
}

impl RunOutput {
    pub fn argmax(&self, b: usize) -> usize {
        argmax(&self.scores[b])
    }
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// Runs `frames` (`[T, B, C, H, W]`, T steps of the batch) from the learned initial state
/// ([`Backend::run`]).
pub fn run_frames(backend: &mut dyn Backend, frames: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
    let p = backend.run(frames, timesteps, classes, decode)?;
    check_finite(&p, timesteps)?;
    Ok(p)
}

/// Runs one input `[B, C, H, W]` at every one of `timesteps` steps from the learned initial
/// state ([`Backend::run_repeated`]).
pub fn run_repeated(backend: &mut dyn Backend, input: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
    let p = backend.run_repeated(input, timesteps, classes, decode)?;
    check_finite(&p, timesteps)?;
    Ok(p)
}

/// A logit, or their mean over timesteps, that overflowed would decode to `null` scores or an
/// arbitrary class: an error naming the sample and timestep instead.
pub fn check_finite(p: &RunOutput, timesteps: usize) -> Result<(), EngineError> {
    let first = timesteps.saturating_sub(p.per_step.len());
    for (i, rows) in p.per_step.iter().enumerate() {
        if let Some((lane, &value)) = rows.iter().enumerate().find_map(|(b, r)| r.iter().find(|v| !v.is_finite()).map(|v| (b, v))) {
            return Err(EngineError::NonFinite { lane, step: first + i, value });
        }
    }
    if let Some((lane, &value)) = p.scores.iter().enumerate().find_map(|(b, r)| r.iter().find(|v| !v.is_finite()).map(|v| (b, v))) {
        return Err(EngineError::NonFinite { lane, step: timesteps.saturating_sub(1), value });
    }
    Ok(())
}

/// `frames` holds whole timesteps: the values per step.
pub fn per_step_len(frames: &[f32], timesteps: usize) -> Result<usize, EngineError> {
    let per = frames.len() / timesteps.max(1);
    if timesteps == 0 || per * timesteps != frames.len() {
        return Err(EngineError::InputSize { what: format!("{timesteps} timesteps of frames"), expected: per * timesteps.max(1), got: frames.len() });
    }
    Ok(per)
}

/// Whether the head runs at step `t` of `timesteps` for `decode` ([`Decode::head_at`]).
pub fn head_at(decode: Decode, t: usize, timesteps: usize) -> bool {
    decode.head_at(t, timesteps)
}

/// The decoded scores of every lane from the per-step logits `[t][b][K]` ([`Decode::scores`]).
pub fn decode_scores(decode: Decode, per_step: &[Vec<Vec<f32>>], batch: usize, classes: usize, timesteps: usize) -> Vec<Vec<f32>> {
    if decode == Decode::Last && per_step.is_empty() {
        return Vec::new();
    }
    (0..batch).map(|b| decode.scores(per_step.iter().map(|rows| rows[b].as_slice()), classes, timesteps)).collect()
}

/// One [`Backend::step`] per timestep: the reference way to run a sequence.
pub fn run_steps<B: Backend + ?Sized>(backend: &mut B, frames: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
    let per = per_step_len(frames, timesteps)?;
    run_steps_with(backend, &|t| &frames[t * per..(t + 1) * per], timesteps, classes, decode)
}

/// [`run_steps`] with step `t`'s input `[B, C, H, W]` from `frame(t)` (the same slice at every
/// step for a static input: no T copies).
pub fn run_steps_with<'a, B: Backend + ?Sized>(backend: &mut B, frame: &dyn Fn(usize) -> &'a [f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
    let b = backend.batch();
    backend.reset_all();
    let mut per_step = Vec::new();
    for t in 0..timesteps {
        let steps = vec![t; b];
        if let Some(logits) = backend.step(frame(t), &steps, head_at(decode, t, timesteps))? {
            per_step.push(logits.chunks(classes).map(<[f32]>::to_vec).collect());
        }
    }
    let scores = decode_scores(decode, &per_step, b, classes, timesteps);
    Ok(RunOutput { scores, per_step, spike_counts: backend.spike_counts()? })
}

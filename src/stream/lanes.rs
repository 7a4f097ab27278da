//! Lanes: a model trained on T frames from its learned initial state (IMP) predicts after T
//! steps. To predict every K frames (`--hop K`), L = ⌈T/K⌉ lanes run side by side, each one batch
//! slot of the backend: prediction window j covers frames `[j·K, j·K + T)` and runs in lane
//! `j mod L`. Every new frame steps all lanes in one batched [`Backend::step`], each lane at its
//! own timestep index (so the per-timestep TEBN scale is per lane); a lane whose window is not
//! open gets a zero frame and is reset to the IMP before its next window starts. A lane that
//! reaches step T emits the decode of its logits ([`Decode::scores`], the same arithmetic as
//! `classify`) and resets. [`crate::engine::Session::step`] drives one; so does the stream
//! pipeline's engine thread.
//!
//! With K = T (the default) there is one lane and windows do not overlap; with K = 1 every frame
//! closes a window over the last T frames.

use crate::engine::run::argmax;
use crate::engine::session::softmax;
use crate::engine::{Backend, EngineError};
use crate::model::meta::Decode;

/// The decoded output of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct LanePrediction {
    /// Window index j: the window covers pushed frames `[j·hop, j·hop + T)`.
    pub window: u64,
    pub lane: usize,
    /// Decoded logits `[K]` (mean over the T steps, or the last step's).
    pub scores: Vec<f32>,
    /// The window's per-step logits `[steps][K]`: all T steps, or only the last with
    /// [`Decode::Last`] (the head runs only there).
    pub logits: Vec<Vec<f32>>,
    pub class: usize,
    /// Softmax probability of `class`.
    pub score: f32,
}

pub struct Lanes {
    backend: Box<dyn Backend>,
    timesteps: usize,
    hop: usize,
    lanes: usize,
    classes: usize,
    decode: Decode,
    frame_len: usize,
    /// `[B, C, H, W]` input of the next step.
    input: Vec<f32>,
    steps: Vec<usize>,
    /// Per lane, the logits of its open window so far, in step order.
    logits: Vec<Vec<Vec<f32>>>,
    /// Frames pushed so far.
    frames: u64,
    /// The frame count at the last [`Lanes::resync`]: windows are counted from it.
    base: u64,
    /// Windows numbered before the last resync.
    window_base: u64,
}

/// L = ⌈T/K⌉.
pub fn lane_count(timesteps: usize, hop: usize) -> usize {
    timesteps.div_ceil(hop.max(1)).max(1)
}

impl Lanes {
    /// `backend` needs at least [`lane_count`] batch slots; `frame_len` = C·H·W of one frame.
    pub fn new(mut backend: Box<dyn Backend>, timesteps: usize, hop: usize, classes: usize, decode: Decode, frame_len: usize) -> Result<Self, EngineError> {
        let hop = hop.max(1);
        let lanes = lane_count(timesteps, hop);
        if backend.batch() < lanes || timesteps == 0 {
            return Err(EngineError::InputSize { what: format!("lanes for T={timesteps}, hop {hop}"), expected: lanes, got: backend.batch() });
        }
        backend.reset_all();
        let b = backend.batch();
        Ok(Self {
            backend,
            timesteps,
            hop,
            lanes,
            classes,
            decode,
            frame_len,
            input: vec![0.0; b * frame_len],
            steps: vec![0; b],
            logits: vec![Vec::new(); lanes],
            frames: 0,
            base: 0,
            window_base: 0,
        })
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// The backend, for a run of whole sequences between windows; call [`Lanes::resync`]
    /// afterwards, as its state no longer belongs to the open windows.
    pub fn backend_mut(&mut self) -> &mut dyn Backend {
        &mut *self.backend
    }

    /// Gives the backend back (for the stream pipeline, which runs its own lanes).
    pub fn into_backend(self) -> Box<dyn Backend> {
        self.backend
    }

    /// Starts over after a clock glitch (see [`super::resync`]): the open windows are
    /// abandoned, every lane goes back to its IMP, and the next frame starts window 0 of a new
    /// cycle (window indices go on increasing).
    pub fn resync(&mut self) {
        let since = self.frames - self.base;
        self.window_base += since.div_ceil(self.hop as u64);
        self.base = self.frames;
        self.backend.reset_all();
        for rows in &mut self.logits {
            rows.clear();
        }
    }

    /// Lane `i`'s position in its cycle of L·K frames at frame `n` (counted from the last
    /// resync), or `None` before its first window starts.
    fn phase(&self, lane: usize, n: u64) -> Option<u64> {
        let start = (lane * self.hop) as u64;
        (n >= start).then(|| (n - start) % (self.lanes * self.hop) as u64)
    }

    /// Steps every lane with one new frame (`[C, H, W]`) and returns the windows it completed
    /// (at most one; several only when the backend has more slots than lanes, never).
    pub fn push(&mut self, frame: &[f32]) -> Result<Vec<LanePrediction>, EngineError> {
        if frame.len() != self.frame_len {
            return Err(EngineError::InputSize { what: "one stream frame".into(), expected: self.frame_len, got: frame.len() });
        }
        let n = self.frames - self.base;
        let t = self.timesteps as u64;
        let mut starting = Vec::new();
        let mut finishing = Vec::new();
        let mut any_active = false;
        for lane in 0..self.backend.batch() {
            let phase = if lane < self.lanes { self.phase(lane, n) } else { None };
            let slot = &mut self.input[lane * self.frame_len..(lane + 1) * self.frame_len];
            match phase {
                Some(p) if p < t => {
                    if p == 0 {
                        starting.push(lane);
                    }
                    if p + 1 == t {
                        finishing.push(lane);
                    }
                    slot.copy_from_slice(frame);
                    self.steps[lane] = p as usize;
                    any_active = true;
                }
                _ => {
                    slot.fill(0.0);
                    self.steps[lane] = 0;
                }
            }
        }
        self.frames += 1;
        if !any_active {
            return Ok(Vec::new());
        }
        if !starting.is_empty() {
            self.backend.reset(&starting);
            for &lane in &starting {
                self.logits[lane].clear();
            }
        }
        let want = self.decode != Decode::Last || !finishing.is_empty();
        let logits = self.backend.step(&self.input, &self.steps, want)?;
        let mut out = Vec::new();
        if let Some(logits) = logits {
            let k = self.classes;
            if logits.len() < self.lanes * k {
                return Err(EngineError::InputSize { what: "logits from the backend".into(), expected: self.lanes * k, got: logits.len() });
            }
            for lane in 0..self.lanes {
                let active = self.phase(lane, n).is_some_and(|p| p < t);
                if active && (self.decode != Decode::Last || finishing.contains(&lane)) {
                    self.logits[lane].push(logits[lane * k..(lane + 1) * k].to_vec());
                }
            }
            for &lane in &finishing {
                let rows = std::mem::take(&mut self.logits[lane]);
                let scores = self.decode.scores(rows.iter().map(Vec::as_slice), k, self.timesteps);
                let class = argmax(&scores);
                let score = softmax(&scores)[class];
                let window = self.window_base + (n + 1 - t) / self.hop as u64;
                out.push(LanePrediction { window, lane, scores, logits: rows, class, score });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend whose logits are `[lane step index, frame value]`, to check the schedule.
    struct Probe {
        batch: usize,
        resets: Vec<Vec<usize>>,
    }

    impl Backend for Probe {
        fn describe(&self) -> String {
            "probe".into()
        }
        fn batch(&self) -> usize {
            self.batch
        }
        fn reset(&mut self, lanes: &[usize]) {
            self.resets.push(lanes.to_vec());
        }
        fn step(&mut self, input: &[f32], steps: &[usize], _logits: bool) -> Result<Option<Vec<f32>>, EngineError> {
            Ok(Some((0..self.batch).flat_map(|b| [steps[b] as f32, input[b]]).collect()))
        }
        fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError> {
            Ok(Vec::new())
        }
        fn last_spikes(&mut self, _node: usize) -> Result<Vec<f32>, EngineError> {
            Ok(Vec::new())
        }
    }

    fn run(t: usize, hop: usize, frames: usize) -> Vec<LanePrediction> {
        let l = lane_count(t, hop);
        let mut lanes = Lanes::new(Box::new(Probe { batch: l, resets: Vec::new() }), t, hop, 2, Decode::Mean, 1).unwrap();
        (0..frames).flat_map(|f| lanes.push(&[f as f32]).unwrap()).collect()
    }

    #[test]
    fn windows_start_every_hop_frames_and_span_t_frames() {
        for (t, hop) in [(4, 4), (4, 1), (4, 2), (4, 3), (5, 2), (1, 1), (3, 7)] {
            let got = run(t, hop, 40);
            // Window j covers frames [j·hop, j·hop + t): mean step index (t-1)/2, mean frame j·hop + (t-1)/2.
            let expected: Vec<u64> = (0..).take_while(|j| j * hop as u64 + t as u64 <= 40).collect();
            assert_eq!(got.iter().map(|p| p.window).collect::<Vec<_>>(), expected, "t {t} hop {hop}");
            for p in &got {
                let mean_frame = p.window as f32 * hop as f32 + (t as f32 - 1.0) / 2.0;
                assert_eq!(p.scores, vec![(t as f32 - 1.0) / 2.0, mean_frame], "t {t} hop {hop} window {}", p.window);
                assert_eq!(p.lane, (p.window % lane_count(t, hop) as u64) as usize);
            }
        }
    }
}

//! What the network decided, drawn on the video: for each video frame, the model's timestep
//! whose frame has closed by then (step i closes at the time of the last event the framing puts
//! in frame i), the top-k classes with their probabilities at that step, the true class when
//! known, and a strip along the bottom with each closed step's probabilities of the finally
//! most probable classes. The numbers are the session's (`classify --decode per-step`): same
//! framing, same logits.

use super::palette::{INK_STRIP, INK_WHITE};
use super::schedule::FrameInfo;
use super::text::Image;
use crate::engine::session::{softmax, top_k};

/// The per-step decisions of one recording and when each step's frame closed.
#[derive(Clone, Debug)]
pub struct Decisions {
    /// Event time at which step i's frame closed.
    pub closes: Vec<u64>,
    /// Logits `[T][K]`; probabilities and rankings come from [`crate::engine::session::top_k`]
    /// and `softmax`, as the session's own.
    pub logits: Vec<Vec<f32>>,
    pub classes: Vec<String>,
    pub truth: Option<String>,
    pub top_k: usize,
}

/// What one video frame showed (for `render --json` and its test).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Shown {
    pub frame: u64,
    pub t: u64,
    /// The step shown (1-based), none before the first step closed.
    pub step: Option<usize>,
    /// (class, probability), most probable first.
    pub top: Vec<(String, f32)>,
}

impl Decisions {
    /// The last step closed at `t` (1-based).
    pub fn step_at(&self, t: u64) -> Option<usize> {
        let n = self.closes.partition_point(|&c| c <= t);
        (n > 0).then_some(n)
    }

    fn ranked(&self, step: usize) -> Vec<(usize, f32)> {
        top_k(&self.logits[step - 1], self.top_k)
    }

    /// Draws the decisions known at `info.t` on `image` and says what was shown.
    pub fn draw(&self, info: &FrameInfo, image: &mut Image) -> Shown {
        let scale = (image.width / 320).max(1);
        let line = 10 * scale;
        let step = self.step_at(info.t);
        let steps = self.logits.len();
        let mut top = Vec::new();
        let mut y = 4 + line; // below the timecode
        if let Some(truth) = &self.truth {
            image.text(4, y, &format!("truth {truth}"), scale, INK_WHITE);
            y += line;
        }
        match step {
            None => image.text(4, y, &format!("step -/{steps}"), scale, INK_WHITE),
            Some(s) => {
                image.text(4, y, &format!("step {s}/{steps}"), scale, INK_WHITE);
                for (rank, (i, p)) in self.ranked(s).into_iter().enumerate() {
                    let name = self.classes.get(i).cloned().unwrap_or_else(|| i.to_string());
                    let text = format!("{name} {p:.2}");
                    let ink = INK_STRIP.get(rank).copied().unwrap_or(INK_WHITE);
                    image.text(4, y + line * (rank + 1), &text, scale, ink);
                    top.push((name, p));
                }
            }
        }
        self.strip(step, image, scale);
        Shown { frame: info.index, t: info.t, step, top }
    }

    /// The bottom strip: one column per step, the probabilities of the final top classes
    /// stacked, for the steps closed so far.
    fn strip(&self, step: Option<usize>, image: &mut Image, scale: usize) {
        let steps = self.logits.len().max(1);
        let height = (12 * scale).min(image.height / 4);
        let finals = self.ranked(steps).into_iter().take(INK_STRIP.len()).map(|(i, _)| i).collect::<Vec<_>>();
        for s in 1..=step.unwrap_or(0) {
            let (x0, x1) = ((s - 1) * image.width / steps, s * image.width / steps);
            let mut y = image.height;
            let p = softmax(&self.logits[s - 1]);
            for (rank, &class) in finals.iter().enumerate() {
                let h = (p[class] * height as f32).round() as usize;
                image.fill(x0, y.saturating_sub(h), (x1 - x0).saturating_sub(1).max(1), h, INK_STRIP[rank]);
                y = y.saturating_sub(h);
            }
        }
    }
}

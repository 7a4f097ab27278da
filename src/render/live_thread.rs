//! `stream --render OUT`: a thread that renders what a stream receives while it streams. It
//! takes the stream's [`Tap`] (sensor, event batches, predictions), puts every event on the
//! canvas, and writes frames at the video's rate; while it lags the stream (the batch it draws
//! arrived over 250 ms ago) it repeats the last frame instead of painting (counted), and only when the queue is full are events dropped
//! (counted by the tap). The stream never waits for it. The latest prediction whose window has
//! ended by a frame's time is drawn on it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::thread::JoinHandle;

use super::palette::INK_WHITE;
use super::schedule::FrameInfo;
use super::text::Image;
use super::{Live, RenderError, RenderOptions, RenderStats};
use crate::stream::tap::{Tap, TapMsg};

/// Queue length of the tap; frames repeat while the batch being drawn arrived more than
/// [`BEHIND`] ago (the renderer lags the stream).
const CAPACITY: usize = 256;
const BEHIND: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts the render thread; the stream sends to the returned [`Tap`]. The thread ends when
/// every clone of the tap is dropped.
pub fn spawn(out: PathBuf, options: RenderOptions) -> (Tap, JoinHandle<Result<RenderStats, RenderError>>) {
    let (tap, rx) = Tap::new(CAPACITY);
    let handle = std::thread::Builder::new()
        .name("render".into())
        .spawn(move || {
            let mut live = Live::new(&out, options);
            let mut shown = Shown::default();
            let mut wanted = true;
            for msg in rx.iter() {
                match msg {
                    TapMsg::Start(sensor) if !live.started() => live.start(sensor)?,
                    TapMsg::Start(_) => {}
                    TapMsg::Events(batch, arrival) if wanted && live.started() => {
                        live.set_behind(arrival.elapsed() > BEHIND);
                        wanted = live.push(&batch, &mut |info, image| shown.draw(info, image))?;
                    }
                    TapMsg::Events(..) => {}
                    TapMsg::Prediction { t_end, class, score } => shown.waiting.push_back((t_end, class, score)),
                }
            }
            live.finish(&mut |info, image| shown.draw(info, image))
        })
        .expect("spawning the render thread");
    (tap, handle)
}

/// Predictions waiting for their window's end, and the one on screen.
#[derive(Default)]
struct Shown {
    waiting: VecDeque<(u64, String, f32)>,
    current: Option<(String, f32)>,
}

impl Shown {
    fn draw(&mut self, info: &FrameInfo, image: &mut Image) -> Result<(), RenderError> {
        while self.waiting.front().is_some_and(|p| p.0 <= info.t) {
            let (_, class, score) = self.waiting.pop_front().expect("checked");
            self.current = Some((class, score));
        }
        if let Some((class, score)) = &self.current {
            let scale = (image.width / 320).max(1);
            image.text(4, 4 + 10 * scale, &format!("{class} {score:.2}"), scale, INK_WHITE);
        }
        Ok(())
    }
}

//! A copy of what a stream receives, for a consumer that must never slow it down (`stream
//! --render`): the sensor, every event batch and the predictions, through a bounded queue. A
//! full queue drops the message and counts the events lost, so the stream never waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::events::{Event, Resolution};

pub enum TapMsg {
    Start(Resolution),
    /// A batch and when it arrived.
    Events(Vec<Event>, std::time::Instant),
    /// A prediction for the window ending at `t_end` (µs of event time).
    Prediction { t_end: u64, class: String, score: f32 },
}

/// The sending side; clones share the queue and the drop counter.
#[derive(Clone, Debug)]
pub struct Tap {
    tx: Sender<TapMsg>,
    dropped: Arc<AtomicU64>,
}

impl Tap {
    /// A tap of `capacity` messages and its receiving end.
    pub fn new(capacity: usize) -> (Self, Receiver<TapMsg>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        (Self { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    pub fn send(&self, msg: TapMsg) {
        let lost = match &msg {
            TapMsg::Events(e, _) => e.len() as u64,
            _ => 0,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(msg) {
            self.dropped.fetch_add(lost, Ordering::Relaxed);
        }
    }

    /// Events dropped because the consumer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

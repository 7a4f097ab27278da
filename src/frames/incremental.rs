//! Framing a live stream: events arrive in batches and frames close on event time (every
//! `frame_us`) or on event count, the same way as offline binning of the same events. A quiet
//! scene is advanced by [`StreamFramer::advance_to`] (the caller's wall-clock timeout).

use super::bin::{Polarity, accumulate};
use super::FrameError;
use crate::events::{Event, Resolution};

/// When a frame closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Windows `[start + k·frame_us, start + (k+1)·frame_us)`, start = first event's time.
    EveryMicros(u64),
    /// Every `n` events.
    EveryEvents(usize),
}

/// One closed frame: `[channels, h, w]` counts and the event-time range it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedFrame {
    pub t_start: u64,
    pub t_end: u64,
    pub events: usize,
    pub data: Vec<f32>,
}

pub struct StreamFramer {
    close: Close,
    sensor: Resolution,
    polarity: Polarity,
    current: Vec<f32>,
    window_start: Option<u64>,
    first_t: u64,
    last_t: u64,
    in_frame: usize,
    seen: usize,
}

impl StreamFramer {
    /// A framer for a sensor size known to be sane (tests, benches, built-in sizes); a size from
    /// a stream's header goes through [`StreamFramer::try_new`].
    pub fn new(close: Close, sensor: Resolution, polarity: Polarity) -> Self {
        let len = usize::from(sensor.width) * usize::from(sensor.height) * polarity.channels();
        Self { close, sensor, polarity, current: vec![0.0; len], window_start: None, first_t: 0, last_t: 0, in_frame: 0, seen: 0 }
    }

    /// A framer for a sensor size that came from outside: an empty sensor or one whose frame is
    /// over the tensor limit ([`crate::limits`]) is an error.
    pub fn try_new(close: Close, sensor: Resolution, polarity: Polarity) -> Result<Self, FrameError> {
        let (w, h) = (usize::from(sensor.width), usize::from(sensor.height));
        if w == 0 || h == 0 {
            return Err(FrameError::EmptySensor { width: w, height: h });
        }
        let current = super::Frames::try_zeros(1, polarity.channels(), h, w, || format!("a frame of the {sensor} sensor"))?.data;
        Ok(Self { close, sensor, polarity, current, window_start: None, first_t: 0, last_t: 0, in_frame: 0, seen: 0 })
    }

    /// Adds events (in time order) and returns the frames they closed.
    pub fn push(&mut self, events: &[Event]) -> Result<Vec<ClosedFrame>, FrameError> {
        let mut closed = Vec::new();
        let mut rest = events;
        while !rest.is_empty() {
            let take = match self.close {
                Close::EveryEvents(n) => (n.max(1) - self.in_frame).min(rest.len()),
                Close::EveryMicros(us) => {
                    let start = *self.window_start.get_or_insert(rest[0].t);
                    let end = start + us.max(1);
                    let inside = rest.partition_point(|e| e.t < end);
                    if inside == 0 {
                        closed.push(self.close_frame(end));
                        self.window_start = Some(end + (rest[0].t - end) / us.max(1) * us.max(1));
                        continue;
                    }
                    inside
                }
            };
            let (now, later) = rest.split_at(take);
            if self.in_frame == 0 {
                self.first_t = now[0].t;
            }
            accumulate(now, self.seen, &mut self.current, self.sensor, self.polarity)?;
            self.in_frame += now.len();
            self.seen += now.len();
            self.last_t = now[now.len() - 1].t;
            rest = later;
            if let Close::EveryEvents(n) = self.close {
                if self.in_frame >= n.max(1) {
                    let end = self.last_t + 1;
                    closed.push(self.close_frame(end));
                }
            }
        }
        Ok(closed)
    }

    /// Events in the frame still open.
    pub fn open_events(&self) -> usize {
        self.in_frame
    }

    /// Closes the time windows that end at or before `t` even without new events.
    pub fn advance_to(&mut self, t: u64) -> Vec<ClosedFrame> {
        let mut closed = Vec::new();
        if let (Close::EveryMicros(us), Some(start)) = (self.close, self.window_start) {
            let mut start = start;
            while start + us.max(1) <= t {
                closed.push(self.close_frame(start + us.max(1)));
                start += us.max(1);
                self.window_start = Some(start);
            }
        }
        closed
    }

    fn close_frame(&mut self, t_end: u64) -> ClosedFrame {
        let t_start = match self.close {
            Close::EveryMicros(_) => self.window_start.unwrap_or(self.first_t),
            Close::EveryEvents(_) => self.first_t,
        };
        let len = self.current.len();
        let data = std::mem::replace(&mut self.current, vec![0.0; len]);
        let frame = ClosedFrame { t_start, t_end, events: self.in_frame, data };
        self.in_frame = 0;
        if let Close::EveryMicros(us) = self.close {
            self.window_start = Some(t_start + us.max(1));
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        (0..1000u64).map(|i| Event::new(i * 7 + i % 3, (i % 8) as u16, (i / 8 % 6) as u16, i % 5 == 0)).collect()
    }

    #[test]
    fn pushed_in_any_batches_equals_offline_time_windows() {
        let ev = events();
        let sensor = Resolution::new(8, 6);
        for batch in [1, 7, 100, 1000] {
            let mut f = StreamFramer::new(Close::EveryMicros(500), sensor, Polarity::Split);
            let mut frames = Vec::new();
            for b in ev.chunks(batch) {
                frames.extend(f.push(b).unwrap());
            }
            // Offline: events with t in [k·500, (k+1)·500) from the first event's time 0.
            for (k, fr) in frames.iter().enumerate() {
                let inside: Vec<_> = ev.iter().filter(|e| e.t >= k as u64 * 500 && e.t < (k as u64 + 1) * 500).copied().collect();
                let mut want = vec![0.0; 96];
                accumulate(&inside, 0, &mut want, sensor, Polarity::Split).unwrap();
                assert_eq!(fr.data, want, "batch {batch} frame {k}");
                assert_eq!((fr.t_start, fr.t_end, fr.events), (k as u64 * 500, (k as u64 + 1) * 500, inside.len()));
            }
            assert_eq!(frames.len(), 13, "batch {batch}");
        }
    }

    #[test]
    fn count_frames_close_every_n_events_and_quiet_time_advances() {
        let ev = events();
        let mut f = StreamFramer::new(Close::EveryEvents(300), Resolution::new(8, 6), Polarity::Merged);
        let frames: Vec<_> = ev.chunks(77).flat_map(|b| f.push(b).unwrap()).collect();
        assert_eq!(frames.iter().map(|f| f.events).collect::<Vec<_>>(), [300, 300, 300]);
        let mut t = StreamFramer::new(Close::EveryMicros(100), Resolution::new(8, 6), Polarity::Split);
        t.push(&ev[..1]).unwrap();
        assert_eq!(t.advance_to(450).len(), 4);
    }
}

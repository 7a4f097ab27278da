//! Summary statistics of a list of events (what `inspect` reports), whole or batch by batch.

use super::Event;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EventStats {
    pub events: u64,
    pub on: u64,
    pub t_first: Option<u64>,
    pub t_last: Option<u64>,
    pub t_min: Option<u64>,
    pub t_max: Option<u64>,
    pub x_max: Option<u16>,
    pub y_max: Option<u16>,
    /// True when no timestamp is lower than the one before it.
    pub monotonic: bool,
    /// How many times a timestamp is lower than the one before it.
    pub backward_steps: u64,
}

impl EventStats {
    /// The statistics of no events, ready for [`EventStats::add`].
    pub fn new() -> Self {
        Self { monotonic: true, ..Self::default() }
    }

    pub fn of(events: &[Event]) -> Self {
        let mut s = Self::new();
        s.add(events);
        s
    }

    /// Adds the next events of the same recording: adding a recording batch by batch gives
    /// what [`EventStats::of`] gives for all of it (a step back across a batch boundary counts).
    pub fn add(&mut self, events: &[Event]) {
        let (Some(first), Some(last)) = (events.first(), events.last()) else { return };
        let (mut t_min, mut t_max) = (self.t_min.unwrap_or(u64::MAX), self.t_max.unwrap_or(0));
        let (mut x_max, mut y_max) = (self.x_max.unwrap_or(0), self.y_max.unwrap_or(0));
        let (mut on, mut back) = (0u64, 0u64);
        let mut prev = self.t_last.unwrap_or(first.t);
        for e in events {
            t_min = t_min.min(e.t);
            t_max = t_max.max(e.t);
            x_max = x_max.max(e.x);
            y_max = y_max.max(e.y);
            on += u64::from(e.p);
            back += u64::from(e.t < prev);
            prev = e.t;
        }
        self.events += events.len() as u64;
        self.on += on;
        self.t_first = self.t_first.or(Some(first.t));
        self.t_last = Some(last.t);
        (self.t_min, self.t_max, self.x_max, self.y_max) = (Some(t_min), Some(t_max), Some(x_max), Some(y_max));
        self.backward_steps += back;
        self.monotonic = self.backward_steps == 0;
    }

    /// `t_last − t_first` in µs.
    pub fn duration_us(&self) -> u64 {
        match (self.t_first, self.t_last) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        }
    }

    /// Events per second over the duration, if the duration is positive.
    pub fn rate_per_s(&self) -> Option<f64> {
        let d = self.duration_us();
        (d > 0).then(|| self.events as f64 * 1e6 / d as f64)
    }
}

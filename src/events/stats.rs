//! Summary statistics of a list of events (what `inspect` reports).

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
    pub fn of(events: &[Event]) -> Self {
        let mut s = Self { events: events.len() as u64, monotonic: true, ..Self::default() };
        let (Some(first), Some(last)) = (events.first(), events.last()) else { return s };
        let (mut t_min, mut t_max, mut x_max, mut y_max, mut on, mut back) = (u64::MAX, 0, 0, 0, 0u64, 0u64);
        let mut prev = first.t;
        for e in events {
            t_min = t_min.min(e.t);
            t_max = t_max.max(e.t);
            x_max = x_max.max(e.x);
            y_max = y_max.max(e.y);
            on += u64::from(e.p);
            back += u64::from(e.t < prev);
            prev = e.t;
        }
        s.on = on;
        s.t_first = Some(first.t);
        s.t_last = Some(last.t);
        (s.t_min, s.t_max, s.x_max, s.y_max) = (Some(t_min), Some(t_max), Some(x_max), Some(y_max));
        s.backward_steps = back;
        s.monotonic = back == 0;
        s
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

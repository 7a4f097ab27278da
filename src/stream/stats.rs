//! Rates, queue depths, drops and latency percentiles of a running stream.
//!
//! Latencies are kept in log-spaced histograms (about 2 % wide buckets from 1 µs to about an
//! hour), so a stream running for days keeps constant memory and percentiles stay within a
//! bucket of the truth. Three latencies are measured, all wall-clock:
//! - `step`: one batched engine step for one frame (all lanes);
//! - `processing`: from the moment the framer closed a window's last frame to its prediction
//!   (frame queue wait + engine);
//! - `end_to_end`: from the arrival of the last event of a window's last frame (when the source
//!   read it) to its prediction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::events::Resolution;

const BUCKETS_PER_OCTAVE: f64 = 32.0;
const BUCKETS: usize = 32 * 32;

/// A log-bucketed latency histogram.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0, max_us: 0.0 }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let bucket = if us <= 1.0 { 0 } else { ((us.log2() * BUCKETS_PER_OCTAVE) as usize + 1).min(BUCKETS - 1) };
        self.counts[bucket] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q`-quantile (0..=1) in milliseconds, the upper edge of its bucket; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let upper_us = if b == 0 { 1.0 } else { 2f64.powf(b as f64 / BUCKETS_PER_OCTAVE) };
                return Some(upper_us.min(self.max_us.max(1.0)) / 1000.0);
            }
        }
        Some(self.max_us / 1000.0)
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles { count: self.total, p50_ms: self.quantile_ms(0.5), p99_ms: self.quantile_ms(0.99), max_ms: (self.total > 0).then_some(self.max_us / 1000.0) }
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.p50_ms, self.p99_ms) {
            (Some(a), Some(b)) => write!(f, "p50 {a:.2} ms, p99 {b:.2} ms"),
            _ => f.write_str("-"),
        }
    }
}

/// Counters the pipeline threads bump as they go.
#[derive(Debug, Default)]
pub struct Counters {
    pub events: AtomicU64,
    pub batches: AtomicU64,
    pub batches_framed: AtomicU64,
    pub out_of_sensor: AtomicU64,
    pub frames: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_stepped: AtomicU64,
    pub predictions: AtomicU64,
    pub reconnects: AtomicU64,
    pub recorded: AtomicU64,
    /// Clock glitches the stream resynchronised after ([`super::resync`]).
    pub time_jumps: AtomicU64,
}

impl Counters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The latencies, measured in the engine thread.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    pub step: Histogram,
    pub processing: Histogram,
    pub end_to_end: Histogram,
}

impl Latencies {
    pub fn merge(&mut self, other: &Latencies) {
        self.step.merge(&other.step);
        self.processing.merge(&other.processing);
        self.end_to_end.merge(&other.end_to_end);
    }
}

/// A periodic report (`--stats`): rates over the interval since the previous one.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub elapsed_s: f64,
    pub interval_s: f64,
    pub event_rate: f64,
    pub frame_rate: f64,
    pub prediction_rate: f64,
    pub events: u64,
    pub frames: u64,
    pub predictions: u64,
    pub frames_dropped: u64,
    pub time_jumps: u64,
    pub queue_events: usize,
    pub queue_frames: usize,
    pub step: Percentiles,
    pub processing: Percentiles,
    pub end_to_end: Percentiles,
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{:.1} s] {:.0} ev/s, {:.1} frames/s, {:.1} predictions/s; queues: events {}, frames {}; dropped frames {}; time jumps {}; step {}; processing {}; end-to-end {}",
            self.elapsed_s,
            self.event_rate,
            self.frame_rate,
            self.prediction_rate,
            self.queue_events,
            self.queue_frames,
            self.frames_dropped,
            self.time_jumps,
            self.step,
            self.processing,
            self.end_to_end
        )
    }
}

/// Why the stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The source ended (end of file, server closed without `--reconnect`).
    SourceEnded,
    /// Ctrl-C or the caller's stop flag.
    Stopped,
    /// An error; the pipeline wound down and the error is returned alongside.
    Error,
}

/// What the whole run did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub source: String,
    pub ending: Ending,
    pub duration_s: f64,
    pub resolution: Option<Resolution>,
    pub events: u64,
    pub event_rate: f64,
    /// First and last event time (µs).
    pub event_time: Option<(u64, u64)>,
    pub events_out_of_sensor: u64,
    /// Events written to `--record`.
    pub recorded: Option<u64>,
    pub frames: u64,
    pub frames_dropped: u64,
    /// Frames still queued when a stop (Ctrl-C) ended the stream.
    pub frames_unprocessed: u64,
    /// Events in the last frame, which had not closed when the stream ended.
    pub events_in_open_frame: u64,
    pub predictions: u64,
    pub lanes: usize,
    pub hop: usize,
    pub reconnects: u64,
    /// Event-time jumps (clock glitches, resets) the stream resynchronised after.
    pub time_jumps: u64,
    pub step: Percentiles,
    pub processing: Percentiles,
    pub end_to_end: Percentiles,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ending = match self.ending {
            Ending::SourceEnded => "the source ended",
            Ending::Stopped => "stopped",
            Ending::Error => "error",
        };
        writeln!(f, "stream summary ({}; {ending} after {:.2} s)", self.source, self.duration_s)?;
        let sensor = self.resolution.map_or("unknown".into(), |r| r.to_string());
        writeln!(f, "  events        {} ({:.0} ev/s), sensor {sensor}", self.events, self.event_rate)?;
        if let Some((a, b)) = self.event_time {
            writeln!(f, "  event time    {a} .. {b} µs ({:.3} s)", (b - a) as f64 / 1e6)?;
        }
        if self.events_out_of_sensor > 0 {
            writeln!(f, "  outside       {} events outside the sensor were skipped", self.events_out_of_sensor)?;
        }
        if let Some(r) = self.recorded {
            writeln!(f, "  recorded      {r} events")?;
        }
        writeln!(
            f,
            "  frames        {} ({} dropped, {} unprocessed at stop, {} events in the unfinished last frame)",
            self.frames, self.frames_dropped, self.frames_unprocessed, self.events_in_open_frame
        )?;
        writeln!(f, "  predictions   {} ({} lanes, hop {})", self.predictions, self.lanes, self.hop)?;
        if self.reconnects > 0 {
            writeln!(f, "  reconnects    {}", self.reconnects)?;
        }
        if self.time_jumps > 0 {
            writeln!(f, "  time jumps    {} (event time jumped; frames and lanes restarted)", self.time_jumps)?;
        }
        writeln!(f, "  step          {}", self.step)?;
        writeln!(f, "  processing    {}", self.processing)?;
        write!(f, "  end-to-end    {}", self.end_to_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_within_a_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile_ms(0.5).unwrap();
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((50.0..=50.0 * 1.03).contains(&p50), "{p50}");
        assert!((99.0..=99.0 * 1.03).contains(&p99), "{p99}");
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }
}

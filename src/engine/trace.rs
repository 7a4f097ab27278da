//! Where the time of one timestep goes: each dispatch's (GPU) or layer's (CPU) time as
//! [`DispatchTime`], the per-layer summary `bench` prints ([`LayerTime`]), and the export of a
//! run's timings as Chrome trace events ([`Trace`]) that chrome://tracing and Perfetto open.
//!
//! It measures nothing itself: the backends fill in [`StepProfile`] (`Backend::profile_timestep`)
//! and `bench` decides which steps to profile.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

/// Which clock a profile's times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Timestamp queries around every compute pass (one pass per dispatch): device time.
    GpuTimestamps,
    /// `Instant` around every layer of the CPU backend (its rayon threads included).
    CpuWall,
}

impl Clock {
    pub fn describe(self) -> &'static str {
        match self {
            Clock::GpuTimestamps => "GPU timestamps",
            Clock::CpuWall => "CPU wall clock",
        }
    }
}

/// The time of one dispatch (GPU) or layer (CPU) within a timestep.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DispatchTime {
    /// The layer: its graph node name, or `input` for work on the network input.
    pub name: String,
    /// The kernel (GPU: `conv_sparse`, `pack_nonzero`, …) or op (CPU: `conv`, `neuron`, …).
    pub op: String,
    /// Start, in ms after the start of the step's first dispatch.
    pub start_ms: f64,
    pub ms: f64,
}

/// One profiled timestep.
#[derive(Clone, Debug)]
pub struct StepProfile {
    pub clock: Clock,
    /// In execution order.
    pub dispatches: Vec<DispatchTime>,
}

impl StepProfile {
    /// Sum of the dispatches' times: what the kernels alone cost.
    pub fn kernel_ms(&self) -> f64 {
        self.dispatches.iter().map(|d| d.ms).sum()
    }

    /// First start to last end (gaps between dispatches included).
    pub fn span_ms(&self) -> f64 {
        self.dispatches.iter().map(|d| d.start_ms + d.ms).fold(0.0, f64::max)
    }
}

/// One dispatch position of the plan, summarised over the profiled timesteps.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerTime {
    pub name: String,
    pub op: String,
    pub ms_p50: f64,
    pub ms_min: f64,
    /// This dispatch's share of the kernels' summed p50 times.
    pub share: f64,
    /// Spikes per neuron and timestep, for neuron layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spike_rate: Option<f64>,
}

/// The `q` quantile (nearest rank) of `v`, which it sorts; NaN when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Per-dispatch p50 and min over `profiles` (all of the same plan; a profile with a different
/// number of dispatches, as a step without the head would have, is left out).
pub fn layer_times(profiles: &[StepProfile]) -> Vec<LayerTime> {
    let Some(first) = profiles.first() else { return Vec::new() };
    let same: Vec<&StepProfile> = profiles.iter().filter(|p| p.dispatches.len() == first.dispatches.len()).collect();
    let mut layers: Vec<LayerTime> = first
        .dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut ms: Vec<f64> = same.iter().map(|p| p.dispatches[i].ms).collect();
            let ms_p50 = quantile(&mut ms, 0.5);
            LayerTime { name: d.name.clone(), op: d.op.clone(), ms_p50, ms_min: ms[0], share: 0.0, spike_rate: None }
        })
        .collect();
    let total: f64 = layers.iter().map(|l| l.ms_p50).sum();
    for l in &mut layers {
        l.share = if total > 0.0 { l.ms_p50 / total } else { 0.0 };
    }
    layers
}

/// A Chrome trace (the JSON object format: `{"traceEvents": [...]}`), times in µs.
///
/// Thread 1 holds the timed timesteps as the wall clock saw them (encode + submit + wait);
/// thread 2 the profiled timesteps, each with its dispatches nested inside. Device timestamps
/// are in the device's clock, so each profiled step's dispatches are placed from the wall time
/// the step began: durations and gaps are exact, the offset to thread 1 is approximate.
pub struct Trace {
    events: Vec<Value>,
}

/// Microseconds rounded to the nanosecond.
fn us(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

const PID: u32 = 1;
const WALL_TID: u32 = 1;
const PROFILE_TID: u32 = 2;

impl Trace {
    /// `process`: the name the viewer shows (e.g. the backend).
    pub fn new(process: &str, clock: Option<Clock>) -> Self {
        let meta = |name: &str, tid: u32, value: &str| json!({"ph": "M", "name": name, "pid": PID, "tid": tid, "args": {"name": value}});
        let mut events = vec![meta("process_name", 0, process), meta("thread_name", WALL_TID, "timesteps (wall clock, synchronised)")];
        if let Some(clock) = clock {
            events.push(meta("thread_name", PROFILE_TID, &format!("profiled timesteps ({})", clock.describe())));
        }
        Self { events }
    }

    /// A timed timestep that began `start_us` after the run's start and took `dur_us`.
    pub fn timestep(&mut self, index: usize, timestep: usize, start_us: f64, dur_us: f64) {
        self.events.push(json!({
            "ph": "X", "name": "timestep", "cat": "wall", "pid": PID, "tid": WALL_TID,
            "ts": us(start_us), "dur": us(dur_us), "args": {"step": index, "timestep_index": timestep},
        }));
    }

    /// A profiled timestep that began (wall clock) `start_us` after the run's start.
    pub fn profiled(&mut self, index: usize, start_us: f64, profile: &StepProfile) {
        let cat = match profile.clock {
            Clock::GpuTimestamps => "gpu",
            Clock::CpuWall => "cpu",
        };
        self.events.push(json!({
            "ph": "X", "name": "profiled timestep", "cat": cat, "pid": PID, "tid": PROFILE_TID,
            "ts": us(start_us), "dur": us(profile.span_ms() * 1e3),
            "args": {"profile": index, "kernel_ms": profile.kernel_ms()},
        }));
        for d in &profile.dispatches {
            self.events.push(json!({
                "ph": "X", "name": format!("{} {}", d.op, d.name), "cat": cat, "pid": PID, "tid": PROFILE_TID,
                "ts": us(start_us + d.start_ms * 1e3), "dur": us(d.ms * 1e3),
                "args": {"layer": d.name, "op": d.op, "ms": d.ms},
            }));
        }
    }

    /// Number of complete ("X") events.
    pub fn len(&self) -> usize {
        self.events.iter().filter(|e| e["ph"] == "X").count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_json(&self) -> Value {
        json!({"traceEvents": self.events, "displayTimeUnit": "ms"})
    }

    /// Writes the trace through a temporary renamed into place (an old trace stays whole on error).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let out = crate::output::AtomicOutput::create(path).map_err(std::io::Error::other)?;
        let mut f = std::io::BufWriter::new(out.file());
        serde_json::to_writer(&mut f, &self.to_json())?;
        f.write_all(b"\n")?;
        f.flush()?;
        drop(f);
        out.commit().map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, start_ms: f64, ms: f64) -> DispatchTime {
        DispatchTime { name: name.into(), op: "conv".into(), start_ms, ms }
    }

    #[test]
    fn layer_times_take_the_median_per_dispatch() {
        let p = |a: f64, b: f64| StepProfile { clock: Clock::CpuWall, dispatches: vec![d("a", 0.0, a), d("b", a, b)] };
        let layers = layer_times(&[p(1.0, 3.0), p(2.0, 1.0), p(9.0, 2.0)]);
        assert_eq!((layers[0].ms_p50, layers[0].ms_min), (2.0, 1.0));
        assert_eq!((layers[1].ms_p50, layers[1].ms_min), (2.0, 1.0));
        assert!((layers[0].share - 0.5).abs() < 1e-12);
    }

    #[test]
    fn trace_events_are_complete_events_in_microseconds() {
        let mut t = Trace::new("test", Some(Clock::GpuTimestamps));
        t.timestep(0, 0, 10.0, 2000.0);
        t.profiled(0, 5000.0, &StepProfile { clock: Clock::GpuTimestamps, dispatches: vec![d("x", 0.0, 0.5), d("y", 0.75, 0.25)] });
        let v = t.to_json();
        let events = v["traceEvents"].as_array().unwrap();
        let y = events.iter().find(|e| e["name"] == "conv y").unwrap();
        assert_eq!((y["ts"].as_f64(), y["dur"].as_f64(), y["ph"].as_str()), (Some(5750.0), Some(250.0), Some("X")));
        assert_eq!(t.len(), 4);
    }
}

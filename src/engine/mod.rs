//! Running a [`Graph`](crate::model::Graph) timestep by timestep.
//!
//! Owns the [`Backend`] trait and its two implementations: `cpu` (plain loops, the
//! specification and test oracle, also the fallback) and `gpu` (WGSL through wgpu). Neuron state
//! lives in the backend between timesteps, per batch slot ("lane"), so a stream can run several
//! lanes started at different frames. Also owns output decoding ([`run`]). It reads no files.

pub mod bench;
pub mod cpu;
pub mod gpu;
pub mod run;
pub mod trace;

pub mod session;

pub use crate::model::meta::Decode;
pub use run::{RunOutput, run_frames, run_repeated};
pub use session::{BackendChoice, Classification, Prediction, Session, SessionError, SessionOptions};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("input has {got} values, expected {expected} ({what})")]
    InputSize { what: String, expected: usize, got: usize },
    #[error("timestep index {step} for lane {lane} is past the model's {timesteps} timesteps")]
    Timestep { lane: usize, step: usize, timesteps: usize },
    #[error("GPU: {0}")]
    Gpu(#[from] crate::gpu::GpuError),
    #[error("the logits of sample {lane} became {value} at timestep {step}: the model's weights overflow float32 on this input")]
    NonFinite { lane: usize, step: usize, value: f32 },
    #[error("node {node}: the CPU backend runs the neuron layer after this conv in place on the conv's output, so the conv keeps no output of its own; read that layer's")]
    NoValue { node: String },
}

/// What every backend offers.
pub trait Backend: Send {
    /// `cpu`, or the GPU adapter and API.
    fn describe(&self) -> String;

    /// Number of batch slots (lanes).
    fn batch(&self) -> usize;

    /// Puts the listed lanes back at their learned initial state (IMP) and clears their counts.
    fn reset(&mut self, lanes: &[usize]);

    fn reset_all(&mut self) {
        let all: Vec<usize> = (0..self.batch()).collect();
        self.reset(&all);
    }

    /// One timestep for all lanes. `input` is `[B, C, H, W]` frames; `steps[b]` is lane b's
    /// timestep index (it selects the per-timestep TEBN scale). With `logits`, the head runs and
    /// `[B, K]` logits come back; without, the head is skipped.
    fn step(&mut self, input: &[f32], steps: &[usize], logits: bool) -> Result<Option<Vec<f32>>, EngineError>;

    /// Spikes per neuron node (graph order) since the last reset, summed over lanes.
    fn spike_counts(&mut self) -> Result<Vec<u64>, EngineError>;

    /// The spikes node `node` emitted at the last step, `[B, C, H, W]` as 0.0 / 1.0.
    fn last_spikes(&mut self, node: usize) -> Result<Vec<f32>, EngineError>;

    /// One timestep with the head, like `step(input, steps, true)`, timing every dispatch (GPU
    /// timestamps) or layer (CPU wall clock). `None` where the backend cannot (a GPU without
    /// timestamp queries). For `bench`; the state advances as in a normal step.
    fn profile_timestep(&mut self, _input: &[f32], _steps: &[usize]) -> Result<Option<trace::StepProfile>, EngineError> {
        Ok(None)
    }

    /// Bytes of device memory this backend allocated (weights, state, scratch); `None` on the CPU.
    fn device_memory_bytes(&self) -> Option<u64> {
        None
    }

    /// Runs `frames` (`[T, B, C, H, W]`) from the learned initial state and decodes them. The
    /// default steps one timestep at a time ([`run::run_steps`]); the GPU encodes every step
    /// without waiting and reads the logits back once.
    fn run(&mut self, frames: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        run::run_steps(self, frames, timesteps, classes, decode)
    }

    /// Runs the same `input` (`[B, C, H, W]`) at each of `timesteps` steps from the learned
    /// initial state, as `run` would with T copies of it, without making them (a static image,
    /// or its first layers' output). The default steps one timestep at a time.
    fn run_repeated(&mut self, input: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        run::run_steps_with(self, &|_| input, timesteps, classes, decode)
    }

    /// Whether `run` may use the layer-major order (all T steps of a layer at once); returns
    /// whether the backend honours the request (the CPU backend only runs step-major).
    fn set_layer_major(&mut self, on: bool) -> bool {
        !on
    }

    /// The GPU plan of one step in numbers (with the head or without); `None` on the CPU.
    fn plan_stats(&self, _head: bool) -> Option<gpu::plan::PlanStats> {
        None
    }

    /// Queue submissions and blocking read-backs so far; `None` on the CPU.
    fn io_counts(&self) -> Option<crate::gpu::IoCounts> {
        None
    }
}

/// Checks a `step` call's arguments against the graph and batch: `input` is `[B, C, H, W]`, one
/// timestep index per lane, each below the model's timesteps. Shared by every backend.
pub fn check_step(graph: &crate::model::Graph, batch: usize, input: &[f32], steps: &[usize]) -> Result<(), EngineError> {
    let s = graph.input;
    if input.len() != batch * s.len() {
        return Err(EngineError::InputSize { what: format!("[{batch}, {}, {}, {}] frames", s.c, s.h, s.w), expected: batch * s.len(), got: input.len() });
    }
    if steps.len() != batch {
        return Err(EngineError::InputSize { what: "one timestep index per lane".into(), expected: batch, got: steps.len() });
    }
    if let Some((lane, &step)) = steps.iter().enumerate().find(|(_, t)| **t >= graph.timesteps) {
        return Err(EngineError::Timestep { lane, step, timesteps: graph.timesteps });
    }
    Ok(())
}

//! Static inputs (direct encoding): one image `[C, H, W]` fed unchanged at every timestep.
//!
//! The layers before the first neuron see the same input at every step, so their output is the
//! same at every step too: [`split`] cuts the graph after them (the *prefix*: the first
//! convolution, with BatchNorm folded, and whatever else reads only the input), a prefix backend
//! computes them once per batch, and the rest of the network (the *suffix*) takes their output as
//! its input at each of the T steps ([`crate::engine::Backend::run_repeated`], no T copies).
//! Both run on the same backend kind with the same batch, so each value is computed by the same
//! kernel on the same data as when the whole network runs T times: the logits are the same
//! bits (tests/static_inputs.rs, CPU and GPU). A convolution with a per-timestep TEBN scale
//! differs between steps and stays in the suffix; a graph whose first layer has one runs whole.

use crate::engine::{Backend, EngineError, Decode, RunOutput, run_repeated};
use crate::model::graph::{Graph, Op};

/// The static prefix of `graph` and the rest, or `None` when no layer can be computed once.
/// A prefix node is not a neuron, not part of the head, has no TEBN scale and reads only the
/// input or earlier prefix values; the cut is the latest point after which nothing reads the
/// input or a prefix value but the prefix's last output, which becomes the suffix's input
/// (value 0).
pub fn split(graph: &Graph) -> Option<(Graph, Graph)> {
    let eligible = graph
        .nodes
        .iter()
        .enumerate()
        .take_while(|(i, n)| {
            let timeless = match &n.op {
                Op::Neuron(_) => false,
                Op::Conv(c) => c.time_scale.is_none(),
                _ => true,
            };
            timeless && !n.head && n.inputs.iter().all(|&v| v <= *i)
        })
        .count();
    let cut = (1..=eligible).rev().find(|&k| graph.nodes[k..].iter().all(|n| n.inputs.iter().all(|&v| v >= k)))?;
    let mut prefix = Graph::new(graph.input, graph.timesteps);
    prefix.nodes = graph.nodes[..cut].to_vec();
    let mut suffix = Graph::new(graph.value_shape(cut), graph.timesteps);
    suffix.nodes = graph.nodes[cut..].to_vec();
    for n in &mut suffix.nodes {
        n.inputs.iter_mut().for_each(|v| *v -= cut);
    }
    Some((prefix, suffix))
}

/// Runs static batches: the prefix once, then the suffix (or the whole graph) at every step.
pub struct StaticRunner {
    /// The prefix backend and its node count, or `None` when the whole graph runs at every step.
    prefix: Option<(Box<dyn Backend>, usize)>,
}

impl StaticRunner {
    /// `prefix`: the backend of [`split`]'s prefix graph of `layers` nodes.
    pub fn new(prefix: Option<(Box<dyn Backend>, usize)>) -> Self {
        Self { prefix }
    }

    /// Layers computed once per batch (0 when the whole network runs at every step).
    pub fn prefix_layers(&self) -> usize {
        self.prefix.as_ref().map_or(0, |p| p.1)
    }

    /// `images` `[B, C, H, W]` (normalised) through `main` (the suffix backend, or the whole
    /// graph's) for `timesteps` steps.
    pub fn run(&mut self, main: &mut dyn Backend, images: &[f32], timesteps: usize, classes: usize, decode: Decode) -> Result<RunOutput, EngineError> {
        let Some((prefix, layers)) = self.prefix.as_mut() else {
            return run_repeated(main, images, timesteps, classes, decode);
        };
        let b = prefix.batch();
        prefix.step(images, &vec![0; b], false)?;
        // `last_spikes` reads any node's value, `[B, C, H, W]`.
        let features = prefix.last_spikes(*layers - 1)?;
        run_repeated(main, &features, timesteps, classes, decode)
    }
}

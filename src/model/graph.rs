//! The layer graph: nodes in execution order, each reading earlier values. Value 0 is the
//! network input at one timestep; node `i` produces value `i + 1`. Tensors are per sample and
//! stored row-major in PyTorch's order (`[C, H, W]`, conv weights `[out, in, k, k]`); backends
//! re-lay them out as they like.

use serde::Serialize;

use super::neuron::{NeuronArrays, NeuronKind};

/// Per-sample shape of a value: `[channels, height, width]` (a vector is `[n, 1, 1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub const fn new(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }
    pub const fn len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub const fn is_vector(&self) -> bool {
        self.h == 1 && self.w == 1
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_vector() { write!(f, "[{}]", self.c) } else { write!(f, "[{}, {}, {}]", self.c, self.h, self.w) }
    }
}

/// Convolution with bias; BatchNorm folded in. `time_scale[t]` (TEBN) multiplies the output
/// at timestep `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub in_ch: usize,
    pub out_ch: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// `[out, in, k, k]`
    pub weight: Vec<f32>,
    /// `[out]`
    pub bias: Vec<f32>,
    pub time_scale: Option<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Neuron {
    pub kind: NeuronKind,
    /// Learned initial membrane potential `[C, H, W]` (per neuron), or none (rest potential).
    pub imp: Option<Vec<f32>>,
    /// Per-neuron parameters (`[C, H, W]` order), empty for a layer with one value each.
    pub arrays: NeuronArrays,
}

impl Neuron {
    /// Each neuron's kind (`[C, H, W]` order) for a layer with per-neuron arrays, else `None`.
    /// The arrays were checked when the model was built, so the kinds are valid.
    pub fn kinds(&self, n: usize) -> Option<Vec<NeuronKind>> {
        if self.arrays.is_empty() {
            return None;
        }
        Some(self.arrays.kinds(self.kind, n).expect("per-neuron arrays are checked when the model is built"))
    }

    /// The membrane before any input, per neuron (`[C, H, W]`): the IMP, else each neuron's rest.
    pub fn initial(&self, n: usize) -> Vec<f32> {
        match (&self.imp, self.kinds(n)) {
            (Some(imp), _) => imp.clone(),
            (None, Some(kinds)) => kinds.iter().map(NeuronKind::rest).collect(),
            (None, None) => vec![self.kind.rest(); n],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// Divide by `kernel²` even where the window covers padding (PyTorch's default).
    pub count_include_pad: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub inputs: usize,
    pub outputs: usize,
    /// `[out, in]`, input index in PyTorch's flatten order (c, y, x).
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv(Conv),
    Neuron(Neuron),
    AvgPool(Pool),
    /// Mean over height and width (`AdaptiveAvgPool2d(1)`).
    GlobalAvgPool,
    /// `[C, H, W]` → `[C·H·W]` (a no-op on row-major data).
    Flatten,
    Linear(Linear),
    /// Element-wise sum of the two inputs (SEW "ADD").
    Add,
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv(_) => "conv",
            Op::Neuron(_) => "neuron",
            Op::AvgPool(_) => "avgpool",
            Op::GlobalAvgPool => "gap",
            Op::Flatten => "flatten",
            Op::Linear(_) => "linear",
            Op::Add => "add",
        }
    }
}

/// The file tensors a node was built from, by their canonical reference names: what the
/// trainer (`src/train/`) learns and writes back. Empty for nodes built in code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sources {
    /// Conv or linear weight.
    pub weight: Option<String>,
    pub bias: Option<String>,
    /// BatchNorm prefix (`{bn}.weight|bias|running_mean|running_var`) folded into a conv.
    pub bn: Option<String>,
    /// TEBN per-timestep scale `[T, 1, 1, 1, 1]`.
    pub time_scale: Option<String>,
    /// Where a neuron's learned initial potential lives (whether or not the file has it).
    pub imp: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The reference module path (`features.1`, `layer1.0.sn2`, `fc`), used in messages and in
    /// per-layer spike statistics.
    pub name: String,
    pub op: Op,
    /// Value ids read (0 = network input, `i + 1` = output of node `i`).
    pub inputs: Vec<usize>,
    pub shape: Shape,
    /// True for nodes no neuron depends on (the head): with `decode last` they run only at the
    /// last timestep.
    pub head: bool,
    pub sources: Sources,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub input: Shape,
    pub nodes: Vec<Node>,
    pub timesteps: usize,
}

impl Graph {
    pub fn new(input: Shape, timesteps: usize) -> Self {
        Self { input, nodes: Vec::new(), timesteps }
    }

    /// Shape of value `v`.
    pub fn value_shape(&self, v: usize) -> Shape {
        if v == 0 { self.input } else { self.nodes[v - 1].shape }
    }

    /// Appends a node and returns the id of its output value.
    pub fn push(&mut self, name: impl Into<String>, op: Op, inputs: Vec<usize>, shape: Shape) -> usize {
        self.nodes.push(Node { name: name.into(), op, inputs, shape, head: false, sources: Sources::default() });
        self.nodes.len()
    }

    /// Value id of the logits (the last node).
    pub fn output(&self) -> usize {
        self.nodes.len()
    }

    pub fn num_classes(&self) -> usize {
        self.nodes.last().map_or(0, |n| n.shape.len())
    }

    /// Marks the head (nodes after which no neuron consumes anything). Call once when built.
    pub fn finish(&mut self) {
        let mut feeds_neuron = vec![false; self.nodes.len() + 1];
        for i in (0..self.nodes.len()).rev() {
            if matches!(self.nodes[i].op, Op::Neuron(_)) || feeds_neuron[i + 1] {
                for &v in &self.nodes[i].inputs {
                    feeds_neuron[v] = true;
                }
                feeds_neuron[i + 1] = true;
            }
        }
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.head = !feeds_neuron[i + 1];
        }
    }

    /// Indices of neuron nodes, in order.
    pub fn neuron_nodes(&self) -> Vec<usize> {
        self.nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, Op::Neuron(_))).map(|(i, _)| i).collect()
    }

    /// Multiply-accumulate operations of one timestep for one sample, dense (no sparsity).
    pub fn macs_per_timestep(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| match &n.op {
                Op::Conv(c) => (c.out_ch * c.in_ch * c.kernel * c.kernel * n.shape.h * n.shape.w) as u64,
                Op::Linear(l) => (l.inputs * l.outputs) as u64,
                _ => 0,
            })
            .sum()
    }

    /// The weight tensor (its file name, else the node's) holding the largest magnitude, and
    /// that magnitude: where to look when logits overflow.
    pub fn largest_weight(&self) -> Option<(String, f32)> {
        self.nodes
            .iter()
            .filter_map(|n| {
                let w = match &n.op {
                    Op::Conv(c) => &c.weight,
                    Op::Linear(l) => &l.weight,
                    _ => return None,
                };
                let most = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                Some((n.sources.weight.clone().unwrap_or_else(|| n.name.clone()), most))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Checks that every value of the graph, for `batch` samples, fits the tensor limit
    /// ([`crate::limits`]); `flag` names where the batch came from.
    pub fn check_batch(&self, batch: usize, flag: &str) -> Result<(), crate::limits::LimitError> {
        for (name, s) in std::iter::once(("input", self.input)).chain(self.nodes.iter().map(|n| (n.name.as_str(), n.shape))) {
            crate::limits::tensor(|| format!("{flag} {batch}: layer '{name}'"), &[batch, s.c, s.h, s.w], 4)?;
        }
        Ok(())
    }

    pub fn parameter_count(&self) -> (u64, u64) {
        let mut weights = 0u64;
        let mut imp = 0u64;
        for n in &self.nodes {
            match &n.op {
                Op::Conv(c) => weights += (c.weight.len() + c.bias.len() + c.time_scale.as_ref().map_or(0, Vec::len)) as u64,
                Op::Linear(l) => weights += (l.weight.len() + l.bias.len()) as u64,
                Op::Neuron(nr) => imp += nr.imp.as_ref().map_or(0, Vec::len) as u64,
                _ => {}
            }
        }
        (weights, imp)
    }
}

/// Output size of a convolution or pooling window along one axis.
pub const fn out_size(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input + 2 * padding - kernel) / stride + 1
}

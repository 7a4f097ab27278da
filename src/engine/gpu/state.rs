//! What a batch of lanes owns on the GPU: the neuron state that lives across timesteps
//! ([`GpuState`]: membranes, spike counts) and the buffers one timestep overwrites
//! ([`Scratch`]: every layer's output, non-zero bitmaps, the lanes' timestep indices).

use crate::model::graph::{Graph, Op};

use crate::gpu::GpuContext;
use super::model::{GpuModel, NodeWeights};

/// Per-lane neuron state.
pub struct GpuState {
    pub batch: usize,
    /// Per node: `[B, H, W, C]` membrane potentials (neuron nodes only).
    pub membranes: Vec<Option<wgpu::Buffer>>,
    /// `[B, neuron nodes]` u32 spikes since each lane's reset.
    pub counts: wgpu::Buffer,
    /// `[B, K]` f32 logits summed over the steps since each lane's reset (the `mean` decode,
    /// on the device).
    pub logit_sum: wgpu::Buffer,
    pub classes: usize,
    /// Column of each node in `counts` (neuron nodes only).
    pub count_index: Vec<Option<usize>>,
    pub neuron_nodes: usize,
}

impl GpuState {
    pub fn new(ctx: &GpuContext, graph: &Graph, batch: usize) -> Self {
        let mut count_index = vec![None; graph.nodes.len()];
        let mut membranes = Vec::with_capacity(graph.nodes.len());
        let mut k = 0;
        for (i, n) in graph.nodes.iter().enumerate() {
            membranes.push(if matches!(n.op, Op::Neuron(_)) {
                count_index[i] = Some(k);
                k += 1;
                Some(ctx.storage(&format!("{} membrane", n.name), batch * n.shape.len()))
            } else {
                None
            });
        }
        let counts = ctx.storage("spike counts", batch * k);
        let classes = graph.num_classes();
        let logit_sum = ctx.storage("logits summed over steps", batch * classes);
        Self { batch, membranes, counts, count_index, neuron_nodes: k, logit_sum, classes }
    }

    /// Puts `lanes` back at the learned initial membrane and zeroes their counts: buffer copies
    /// and clears on the queue, no kernel.
    pub fn reset(&self, ctx: &GpuContext, model: &GpuModel, lanes: &[usize]) {
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("lane reset") });
        self.encode_reset(&mut encoder, model, lanes);
        ctx.submit(encoder);
    }

    /// Records [`GpuState::reset`]'s copies and clears into `encoder` (a sequence puts them in
    /// its first step's submission).
    pub fn encode_reset(&self, encoder: &mut wgpu::CommandEncoder, model: &GpuModel, lanes: &[usize]) {
        for (i, node) in model.graph.nodes.iter().enumerate() {
            if let (Some(mem), NodeWeights::Neuron { init, .. }) = (&self.membranes[i], &model.nodes[i]) {
                let bytes = 4 * node.shape.len() as u64;
                for &b in lanes {
                    encoder.copy_buffer_to_buffer(init, 0, mem, b as u64 * bytes, bytes);
                }
            }
        }
        if self.neuron_nodes > 0 {
            let row = 4 * self.neuron_nodes as u64;
            for &b in lanes {
                encoder.clear_buffer(&self.counts, b as u64 * row, Some(row));
            }
        }
        let row = 4 * self.classes as u64;
        for &b in lanes {
            encoder.clear_buffer(&self.logit_sum, b as u64 * row, Some(row));
        }
    }
}

/// Buffers one timestep writes.
pub struct Scratch {
    /// Value id → buffer in `buffers` (a Flatten shares its input's buffer).
    pub value_buffer: Vec<usize>,
    /// `[B, H, W, C]` f32 per distinct value; `buffers[0]` is the network input.
    pub buffers: Vec<wgpu::Buffer>,
    /// Value id → `[B, H, W, ⌈C/32⌉]` u32 non-zero bitmap, for values a sparse conv reads.
    pub bits: Vec<Option<wgpu::Buffer>>,
    /// `[B]` u32, each lane's timestep index.
    pub steps: wgpu::Buffer,
    /// `MAP_READ` copy of the logits `[B, K]`.
    pub logits: wgpu::Buffer,
    /// Every bit-packed spike value of the fused plan in one buffer (`[B, H, W, ⌈C/32⌉]` u32
    /// each, at `bit_offset[v]` words).
    pub spike_bits: wgpu::Buffer,
    pub bit_offset: Vec<Option<usize>>,
    /// Bound where a kernel's binding is unused in its specialisation.
    pub unused: wgpu::Buffer,
}

impl Scratch {
    /// `packed[v]`: value v is read by a spike convolution and needs its bits.
    /// `fused_bits[v]`: value v gets words in `spike_bits`.
    pub fn new(ctx: &GpuContext, graph: &Graph, batch: usize, packed: &[bool], fused_bits: &[bool]) -> Self {
        let mut value_buffer = vec![0];
        let mut buffers = vec![ctx.storage("input frames", batch * graph.input.len())];
        for n in &graph.nodes {
            if matches!(n.op, Op::Flatten) {
                value_buffer.push(value_buffer[n.inputs[0]]);
            } else {
                value_buffer.push(buffers.len());
                buffers.push(ctx.storage(&format!("{} output", n.name), batch * n.shape.len()));
            }
        }
        let bits = (0..=graph.nodes.len())
            .map(|v| {
                packed[v].then(|| {
                    let s = graph.value_shape(v);
                    ctx.storage(&format!("value {v} non-zero bits"), batch * s.h * s.w * s.c.div_ceil(32))
                })
            })
            .collect();
        let steps = ctx.storage("lane timesteps", batch);
        let logits = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits readback"),
            size: 4 * (batch * graph.num_classes()).max(1) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut words = 0;
        let bit_offset = (0..=graph.nodes.len())
            .map(|v| {
                fused_bits.get(v).copied().unwrap_or(false).then(|| {
                    let s = graph.value_shape(v);
                    let at = words;
                    words += batch * s.h * s.w * s.c.div_ceil(32);
                    at
                })
            })
            .collect();
        let spike_bits = ctx.storage("spike bit words", words);
        let unused = ctx.storage("unused binding", 4);
        Self { value_buffer, buffers, bits, steps, logits, spike_bits, bit_offset, unused }
    }

    /// The buffer holding value `v`.
    pub fn value(&self, v: usize) -> &wgpu::Buffer {
        &self.buffers[self.value_buffer[v]]
    }
}

// One timestep of spiking neurons for every lane: charge, fire, reset, count spikes.
// The rule is `neuron_step` (generated from src/model/neuron/rule.rs, prepended), shared with the
// fused convolution. The learned initial potential (IMP) enters as the
// membrane's value after a lane reset (a buffer copy), not here.
//
// Shared with the training path, so it follows burn's template-kernel rules: entry point
// `main`, only @group(0), bindings 0..4 in order and all used, every storage buffer
// `read_write`, no uniforms or immediates (scalars travel in `p`), f32.

struct Params {
    n: u32,            // neurons per lane (C·H·W)
    form: u32,         // the rule's fields, as `NeuronRule` (shaders/neuron_rule.wgsl)
    reset: u32,
    fire: u32,
    count_index: u32,  // this node's column in `counts`
    count_stride: u32, // neuron nodes per lane in `counts`
    p0: f32,
    p1: f32,
    v_th: f32,
    v_reset: f32,
    zero: u32,         // always 0; see `rounded`
    pad: u32,
}

// x: [B, N] f32, the input current of this timestep
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
// v: [B, N] f32, membrane potential, updated in place
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
// s: [B, N] f32, spikes out, 0.0 or 1.0 (a non-spiking readout: its membrane)
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
// counts: [B, count_stride] u32, spikes per lane and neuron node since the lane's reset
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
// p: scalar parameters
@group(0) @binding(4) var<storage, read_write> p: Params;

const WG: u32 = 256u;

var<workgroup> fired: atomic<u32>;

// Workgroups: x strides over the N neurons of one lane, y is the lane. The parameters are read
// once per invocation (an invocation usually takes several neurons).
@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = p.n;
    let rule = NeuronRule(p.form, p.reset, p.fire, p.zero, p.p0, p.p1, p.v_th, p.v_reset);
    let lane = wg.y;
    let base = lane * n;
    var mine = 0u;
    for (var i = wg.x * WG + lid; i < n; i += nwg.x * WG) {
        let r = neuron_step(rule, v[base + i], x[base + i]);
        v[base + i] = r.x;
        s[base + i] = neuron_out(rule, r);
        mine += u32(r.y);
    }
    // One global atomic per workgroup: sum in workgroup memory first.
    if mine > 0u {
        atomicAdd(&fired, mine);
    }
    workgroupBarrier();
    if lid == 0u {
        let total = atomicLoad(&fired);
        if total > 0u {
            atomicAdd(&counts[lane * p.count_stride + p.count_index], total);
        }
    }
}

// T timesteps of spiking neurons in one dispatch (layer-major order, as SpikingJelly's
// multi-step mode): for each lane b and neuron i the membrane stays in a register while
//   (v, s[t, b, i]) = neuron_step(v, x[t, b, i])   for t = 0 … T−1,
// then goes back to `v`; with PER_NEURON the rule's numbers are the neuron's own. The rule is `neuron_step` (generated from src/model/neuron/rule.rs, prepended), the
// one the step-major kernels use, so both orders give the same spikes bit for bit.

struct Params {
    n: u32,           // neurons per lane (C·H·W)
    lanes: u32,       // B
    steps: u32,       // T
    count_index: u32, count_stride: u32,
    form: u32, reset: u32, fire: u32, zero: u32, // `NeuronRule` (shaders/neuron_rule.wgsl)
    p0: f32, p1: f32, v_th: f32, v_reset: f32,
}

// p: sizes and the neuron
@group(0) @binding(0) var<uniform> p: Params;
// x: [T, B, N] f32 input currents
@group(0) @binding(1) var<storage, read> x: array<f32>;
// v: [B, N] f32 membranes, updated in place
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
// s: [T, B, N] f32 spikes out, 0.0 or 1.0 (a non-spiking readout: its membrane)
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
// counts: [B, count_stride] u32 spikes per lane and neuron node
@group(0) @binding(4) var<storage, read_write> counts: array<atomic<u32>>;
// per_neuron: [N] (p0, p1, v_th, v_reset) of each neuron, read with PER_NEURON (a layer whose
// neurons have their own parameters); otherwise one vec4 that is never read.
@group(0) @binding(5) var<storage, read> per_neuron: array<vec4<f32>>;

override PER_NEURON: bool = false;

const WG: u32 = 256u;

var<workgroup> fired: atomic<u32>;

// Workgroups: x over the neurons of one lane (one neuron per invocation), y is the lane.
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    var rule = NeuronRule(p.form, p.reset, p.fire, p.zero, p.p0, p.p1, p.v_th, p.v_reset);
    let b = wg.y;
    let i = wg.x * WG + lid;
    var mine = 0u;
    if i < p.n {
        if PER_NEURON {
            let q = per_neuron[i];
            rule.p0 = q.x;
            rule.p1 = q.y;
            rule.v_th = q.z;
            rule.v_reset = q.w;
        }
        var vi = v[b * p.n + i];
        for (var t = 0u; t < p.steps; t++) {
            let at = (t * p.lanes + b) * p.n + i;
            let r = neuron_step(rule, vi, x[at]);
            vi = r.x;
            s[at] = neuron_out(rule, r);
            mine += u32(r.y);
        }
        v[b * p.n + i] = vi;
    }
    if mine > 0u {
        atomicAdd(&fired, mine);
    }
    workgroupBarrier();
    if lid == 0u {
        let total = atomicLoad(&fired);
        if total > 0u {
            atomicAdd(&counts[b * p.count_stride + p.count_index], total);
        }
    }
}

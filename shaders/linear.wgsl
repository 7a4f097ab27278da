// Fully connected layer; zero inputs are skipped as in the CPU backend (spikes are sparse):
//   out[b, o] = bias[o] + Σ_{i: in[b, i] ≠ 0} w[i, o] · in[b, i]
// Invocations along x are outputs of one lane: a uniform input load and adjacent weights.

struct Params {
    inputs: u32,
    outputs: u32,
}

// p: sizes
@group(0) @binding(0) var<uniform> p: Params;
// input: [B, inputs] f32 (the input in this backend's storage order)
@group(0) @binding(1) var<storage, read> input: array<f32>;
// weight: [inputs, outputs] f32 (transposed; rows follow the storage order of `input`)
@group(0) @binding(2) var<storage, read> weight: array<f32>;
// bias: [outputs] f32
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// out: [B, outputs] f32
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Workgroups: x over outputs, y is the lane.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = gid.x;
    let b = gid.y;
    if o >= p.outputs {
        return;
    }
    var acc = bias[o];
    let src = b * p.inputs;
    for (var i = 0u; i < p.inputs; i++) {
        let xv = input[src + i];
        if xv != 0.0 {
            acc += weight[i * p.outputs + o] * xv;
        }
    }
    out[b * p.outputs + o] = acc;
}

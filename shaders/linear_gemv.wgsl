// Linear layer as a split-K GEMV; zero inputs are skipped as in the CPU backend (spikes are
// sparse):
//   out[b, o] = bias[o] + Σ_{i: in[b, i] ≠ 0} w[o, i] · in[b, i]
//   ACCUM: sum[b, o] += out[b, o]   (the logits summed on the device for the `mean` decode)
// One workgroup per (output, lane): its 64 invocations take every 64th input (adjacent
// invocations read adjacent inputs and weights), then the partial sums are added in a fixed
// tree order in workgroup memory. The longest dependent chain is ⌈inputs / 64⌉ + 6 adds.

override ACCUM: bool = false;

struct Params {
    inputs: u32,
    outputs: u32,
}

// p: sizes
@group(0) @binding(0) var<uniform> p: Params;
// input: [B, inputs] f32 (the input in this backend's storage order)
@group(0) @binding(1) var<storage, read> input: array<f32>;
// weight: [outputs, inputs] f32 (rows follow the storage order of `input`)
@group(0) @binding(2) var<storage, read> weight: array<f32>;
// bias: [outputs] f32
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// out: [B, outputs] f32
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// sum: [B, outputs] f32, cleared at a lane's reset (ACCUM)
@group(0) @binding(5) var<storage, read_write> sum: array<f32>;

const WG: u32 = 64u;

var<workgroup> part: array<f32, 64>;

// Workgroups: x is the output, y the lane.
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let o = wg.x;
    let b = wg.y;
    let src = b * p.inputs;
    let row = o * p.inputs;
    var acc = 0.0;
    for (var i = lid; i < p.inputs; i += WG) {
        let xv = input[src + i];
        if xv != 0.0 {
            acc += weight[row + i] * xv;
        }
    }
    part[lid] = acc;
    for (var s = WG / 2u; s > 0u; s /= 2u) {
        workgroupBarrier();
        if lid < s {
            part[lid] += part[lid + s];
        }
    }
    if lid == 0u {
        let v = bias[o] + part[0];
        out[b * p.outputs + o] = v;
        if ACCUM {
            sum[b * p.outputs + o] += v;
        }
    }
}

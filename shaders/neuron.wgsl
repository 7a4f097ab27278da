// One timestep of LIF / IF neurons for every lane: charge, fire, reset, count spikes.
// The rules are `NeuronKind::step` (src/model/neuron.rs), operation for operation, so spikes
// match the CPU backend bit for bit. The learned initial potential (IMP) enters as the
// membrane's value after a lane reset (a buffer copy), not here.
//
// Shared with the training path, so it follows burn's template-kernel rules: entry point
// `main`, only @group(0), bindings 0..4 in order and all used, every storage buffer
// `read_write`, no uniforms or immediates (scalars travel in `p`), f32.

struct Params {
    n: u32,            // neurons per lane (C·H·W)
    kind: u32,         // 0 legacy LIF, 1 SpikingJelly LIF, 2 IF
    hard_reset: u32,   // 0 soft (V = H − v_th), 1 hard (V = v_reset)
    decay_input: u32,  // LIF only: 1 = H = V + (X − (V − V_r)) / τ
    count_index: u32,  // this node's column in `counts`
    count_stride: u32, // neuron nodes per lane in `counts`
    a: f32,            // legacy LIF: decay; LIF: τ; IF: unused
    v_th: f32,
    v_reset: f32,
}

// x: [B, N] f32, the input current of this timestep
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
// v: [B, N] f32, membrane potential, updated in place
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
// s: [B, N] f32, spikes out, 0.0 or 1.0
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
// counts: [B, count_stride] u32, spikes per lane and neuron node since the lane's reset
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
// p: scalar parameters
@group(0) @binding(4) var<storage, read_write> p: Params;

const WG: u32 = 256u;

var<workgroup> fired: atomic<u32>;

// V after a spike decision on H (SpikingJelly's neuronal reset).
fn reset(h: f32, spike: bool) -> f32 {
    let after = select(h - p.v_th, p.v_reset, p.hard_reset != 0u);
    return select(h, after, spike);
}

// Workgroups: x strides over the N neurons of one lane, y is the lane.
@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = wg.y;
    let base = lane * p.n;
    var mine = 0u;
    for (var i = wg.x * WG + lid; i < p.n; i += nwg.x * WG) {
        let xi = x[base + i];
        var vi = v[base + i];
        var spike = false;
        switch p.kind {
            case 0u: {
                let mem = p.a * vi + xi;
                spike = mem - p.v_th > 0.0;
                vi = select(mem, 0.0, spike);
            }
            case 1u: {
                var h: f32;
                let tau = p.a;
                let vr = p.v_reset;
                if p.decay_input != 0u {
                    if p.hard_reset != 0u { h = vi + (xi - (vi - vr)) / tau; } else { h = vi + (xi - vi) / tau; }
                } else {
                    if p.hard_reset != 0u { h = vi - (vi - vr) / tau + xi; } else { h = vi * (1.0 - 1.0 / tau) + xi; }
                }
                spike = h >= p.v_th;
                vi = reset(h, spike);
            }
            default: {
                let h = vi + xi;
                spike = h >= p.v_th;
                vi = reset(h, spike);
            }
        }
        v[base + i] = vi;
        s[base + i] = select(0.0, 1.0, spike);
        mine += select(0u, 1u, spike);
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

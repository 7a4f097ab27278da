// Converts event counts to the f32 frames the network reads:  out[i] = f32(counts[i])
// (exact below 2^24 events per pixel).

struct Params {
    total: u32,
}

// p: size
@group(0) @binding(0) var<uniform> p: Params;
// counts: [N] u32
@group(0) @binding(1) var<storage, read> counts: array<u32>;
// out: [N] f32
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.total; i += nwg.x * WG) {
        out[i] = f32(counts[i]);
    }
}

// Element-wise sum of two values (SEW residual "ADD"):  out[i] = a[i] + b[i]

struct Params {
    total: u32, // B·C·H·W
}

// p: size
@group(0) @binding(0) var<uniform> p: Params;
// a: [B, H, W, C] f32
@group(0) @binding(1) var<storage, read> a: array<f32>;
// b: [B, H, W, C] f32
@group(0) @binding(2) var<storage, read> b: array<f32>;
// out: [B, H, W, C] f32
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.total; i += nwg.x * WG) {
        out[i] = a[i] + b[i];
    }
}

// The bitmap of non-zero values that conv_sparse.wgsl walks (for spikes: where they fired):
//   bits[b, y, x, q] = Σ_{j<32, 32q+j<C} (in[b, y, x, 32q + j] ≠ 0) << j

struct Params {
    c: u32,      // channels
    words: u32,  // ⌈C / 32⌉
    total: u32,  // B·H·W·words
}

// p: sizes
@group(0) @binding(0) var<uniform> p: Params;
// values: [B, H, W, C] f32
@group(0) @binding(1) var<storage, read> values: array<f32>;
// bits: [B, H, W, words] u32
@group(0) @binding(2) var<storage, read_write> bits: array<u32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.total; i += nwg.x * WG) {
        let pixel = i / p.words;
        let q = i % p.words;
        let first = q * 32u;
        let count = min(32u, p.c - first);
        let src = pixel * p.c + first;
        var word = 0u;
        for (var j = 0u; j < count; j++) {
            word |= select(0u, 1u << j, values[src + j] != 0.0);
        }
        bits[i] = word;
    }
}

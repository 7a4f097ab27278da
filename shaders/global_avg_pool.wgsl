// Global average pooling (AdaptiveAvgPool2d(1)) on channel-last data, summed in row-major
// pixel order, then divided:  out[b, c] = (Σ_{y,x} in[b, y, x, c]) / (H·W)

struct Params {
    c: u32,
    pixels: u32, // H·W
    total: u32,  // B·C
}

// p: shapes
@group(0) @binding(0) var<uniform> p: Params;
// input: [B, H, W, C] f32
@group(0) @binding(1) var<storage, read> input: array<f32>;
// out: [B, C] f32
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.total; i += nwg.x * WG) {
        let c = i % p.c;
        let b = i / p.c;
        var sum = 0.0;
        for (var q = 0u; q < p.pixels; q++) {
            sum += input[(b * p.pixels + q) * p.c + c];
        }
        out[i] = sum / f32(p.pixels);
    }
}

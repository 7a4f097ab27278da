// Average pooling on channel-last data, the window summed in (ky, kx) order, then divided:
//   out[b, oy, ox, c] = (Σ_{ky,kx valid} in[b, oy·S + ky − P, ox·S + kx − P, c]) / divisor
// divisor = K² with COUNT_PAD (PyTorch's count_include_pad), else the number of valid taps.

override K: u32 = 2u;
override STRIDE: u32 = 2u;
override PAD: u32 = 0u;
override COUNT_PAD: bool = true;

struct Params {
    c: u32, hi: u32, wi: u32,
    ho: u32, wo: u32,
    total: u32, // B·Ho·Wo·C
}

// p: shapes
@group(0) @binding(0) var<uniform> p: Params;
// input: [B, Hi, Wi, C] f32
@group(0) @binding(1) var<storage, read> input: array<f32>;
// out: [B, Ho, Wo, C] f32
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < p.total; i += nwg.x * WG) {
        let c = i % p.c;
        let px = i / p.c;
        let ox = px % p.wo;
        let oy = (px / p.wo) % p.ho;
        let b = px / (p.wo * p.ho);
        var sum = 0.0;
        var valid = 0u;
        for (var ky = 0u; ky < K; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            if iy < 0 || iy >= i32(p.hi) {
                continue;
            }
            for (var kx = 0u; kx < K; kx++) {
                let ix = i32(ox * STRIDE + kx) - i32(PAD);
                if ix < 0 || ix >= i32(p.wi) {
                    continue;
                }
                sum += input[((b * p.hi + u32(iy)) * p.wi + u32(ix)) * p.c + c];
                valid += 1u;
            }
        }
        let divisor = select(f32(max(valid, 1u)), f32(K * K), COUNT_PAD);
        out[i] = sum / divisor;
    }
}

// Convolution of binary spikes (bit-packed by pack_spikes.wgsl), accumulate-only: a spike adds
// its weight, silent inputs cost one bit test per 32 channels.
//   out[b, oy, ox, o] = (bias[o] + Σ_{ky,kx,c: spike} w[c, ky, kx, o]) · scale[steps[b]]
// Equal to conv.wgsl on 0/1 inputs (x·w = w for x = 1). Invocations along x are output
// channels of one pixel: they walk the same spike bits (uniform loop) and read adjacent weights.

override K: u32 = 3u;
override STRIDE: u32 = 1u;
override PAD: u32 = 1u;
override HAS_SCALE: bool = false;
override WG_O: u32 = 16u;
override WG_P: u32 = 4u;

struct Params {
    ci: u32, hi: u32, wi: u32,
    co: u32, ho: u32, wo: u32,
    words: u32, // ⌈Ci / 32⌉
}

// p: shapes of one sample
@group(0) @binding(0) var<uniform> p: Params;
// bits: [B, Hi, Wi, words] u32, bit j of word q = spike of channel 32·q + j
@group(0) @binding(1) var<storage, read> bits: array<u32>;
// weight: [Ci, K, K, Co] f32 (output channel innermost)
@group(0) @binding(2) var<storage, read> weight: array<f32>;
// bias: [Co] f32
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// scale: [T] f32 TEBN scale per timestep ([1], unread, without HAS_SCALE)
@group(0) @binding(4) var<storage, read> scale: array<f32>;
// steps: [B] u32, each lane's timestep index
@group(0) @binding(5) var<storage, read> steps: array<u32>;
// out: [B, Ho, Wo, Co] f32
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// Workgroups: x over output channels, y strides over output pixels, z is the lane.
@compute @workgroup_size(WG_O, WG_P)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x;
    let b = gid.z;
    if o >= p.co {
        return;
    }
    let pixels = p.ho * p.wo;
    let tap_stride = K * K * p.co;
    for (var px = gid.y; px < pixels; px += nwg.y * WG_P) {
        let oy = px / p.wo;
        let ox = px % p.wo;
        var acc = bias[o];
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
                let src = ((b * p.hi + u32(iy)) * p.wi + u32(ix)) * p.words;
                let tap = (ky * K + kx) * p.co + o;
                for (var q = 0u; q < p.words; q++) {
                    var word = bits[src + q];
                    while word != 0u {
                        let c = q * 32u + countTrailingZeros(word);
                        acc += weight[c * tap_stride + tap];
                        word &= word - 1u;
                    }
                }
            }
        }
        if HAS_SCALE {
            acc *= scale[steps[b]];
        }
        out[(b * pixels + px) * p.co + o] = acc;
    }
}

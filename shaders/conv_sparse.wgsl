// Convolution of binary spikes (bit-packed by pack_spikes.wgsl), accumulate-only: a spike adds
// its weights, silent channels cost nothing.
//   out[b, oy, ox, o] = (bias[o] + Σ_{ky,kx,c: spike} w[c, ky, kx, o]) · scale[steps[b]]
// Equal to conv.wgsl on 0/1 inputs (x·w = w for x = 1). Each invocation computes 4 output
// channels (one vec4 of weights) at 4 output pixels along x: it walks the set bits of the 4
// pixels' words OR-ed together, loads each spiking channel's weights once and adds them to
// the pixels that spiked.

override K: u32 = 3u;
override STRIDE: u32 = 1u;
override PAD: u32 = 1u;
override HAS_SCALE: bool = false;
override BINARY: bool = true;
override WG_O: u32 = 16u;
override WG_P: u32 = 4u;

struct Params {
    ci: u32, hi: u32, wi: u32,
    co: u32, ho: u32, wo: u32,
    co4: u32,     // ⌈Co / 4⌉
    tiles_x: u32, // ⌈Wo / 4⌉
    words: u32,   // ⌈Ci / 32⌉
}

// p: shapes of one sample
@group(0) @binding(0) var<uniform> p: Params;
// bits: [B, Hi, Wi, words] u32, bit j of word q set ⇔ in[…, 32·q + j] ≠ 0
@group(0) @binding(1) var<storage, read> bits: array<u32>;
// input: [B, Hi, Wi, Ci] f32 (read only without BINARY)
@group(0) @binding(2) var<storage, read> input: array<f32>;
// weight: [Ci, K, K, Co4] vec4<f32> (output channels innermost, zero-padded to a multiple of 4)
@group(0) @binding(3) var<storage, read> weight: array<vec4<f32>>;
// bias: [Co4] vec4<f32>, zero-padded
@group(0) @binding(4) var<storage, read> bias: array<vec4<f32>>;
// scale: [T] f32 TEBN scale per timestep ([1], unread, without HAS_SCALE)
@group(0) @binding(5) var<storage, read> scale: array<f32>;
// steps: [B] u32, each lane's timestep index
@group(0) @binding(6) var<storage, read> steps: array<u32>;
// out: [B, Ho, Wo, Co] f32
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

// Adds channel c's weights `w` times pixel column ix's value (just `w` for spikes).
fn add(acc: vec4<f32>, w: vec4<f32>, row: u32, ix: i32, c: u32) -> vec4<f32> {
    if BINARY {
        return acc + w;
    }
    return acc + w * input[(row + u32(ix)) * p.ci + c];
}

fn store(b: u32, oy: u32, ox: u32, g: u32, v: vec4<f32>) {
    if ox >= p.wo {
        return;
    }
    var r = v;
    if HAS_SCALE {
        r *= scale[steps[b]];
    }
    let base = ((b * p.ho + oy) * p.wo + ox) * p.co + 4u * g;
    let n = min(4u, p.co - 4u * g);
    for (var k = 0u; k < n; k++) {
        out[base + k] = r[k];
    }
}

// The word of pixel column `ix` (0 outside the input).
fn word_at(row: u32, ix: i32, q: u32) -> u32 {
    if ix < 0 || ix >= i32(p.wi) {
        return 0u;
    }
    return bits[(row + u32(ix)) * p.words + q];
}

// Workgroups: x over channel groups, y strides over 4-pixel tiles, z is the lane.
@compute @workgroup_size(WG_O, WG_P)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x;
    let b = gid.z;
    if g >= p.co4 {
        return;
    }
    let tiles = p.ho * p.tiles_x;
    let tap_stride = K * K * p.co4;
    for (var t = gid.y; t < tiles; t += nwg.y * WG_P) {
        let oy = t / p.tiles_x;
        let ox = (t % p.tiles_x) * 4u;
        let b0 = bias[g];
        var a0 = b0;
        var a1 = b0;
        var a2 = b0;
        var a3 = b0;
        for (var ky = 0u; ky < K; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            if iy < 0 || iy >= i32(p.hi) {
                continue;
            }
            let row = (b * p.hi + u32(iy)) * p.wi;
            for (var kx = 0u; kx < K; kx++) {
                let ix0 = i32(ox * STRIDE + kx) - i32(PAD);
                let s = i32(STRIDE);
                let first = (ky * K + kx) * p.co4 + g;
                for (var q = 0u; q < p.words; q++) {
                    let w0 = word_at(row, ix0, q);
                    let w1 = word_at(row, ix0 + s, q);
                    let w2 = word_at(row, ix0 + 2 * s, q);
                    let w3 = word_at(row, ix0 + 3 * s, q);
                    var any = w0 | w1 | w2 | w3;
                    while any != 0u {
                        let j = countTrailingZeros(any);
                        let m = 1u << j;
                        let c = q * 32u + j;
                        let wv = weight[c * tap_stride + first];
                        if (w0 & m) != 0u { a0 = add(a0, wv, row, ix0, c); }
                        if (w1 & m) != 0u { a1 = add(a1, wv, row, ix0 + s, c); }
                        if (w2 & m) != 0u { a2 = add(a2, wv, row, ix0 + 2 * s, c); }
                        if (w3 & m) != 0u { a3 = add(a3, wv, row, ix0 + 3 * s, c); }
                        any &= any - 1u;
                    }
                }
            }
        }
        store(b, oy, ox, g, a0);
        store(b, oy, ox + 1u, g, a1);
        store(b, oy, ox + 2u, g, a2);
        store(b, oy, ox + 3u, g, a3);
    }
}

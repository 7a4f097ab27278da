// Tiled implicit-GEMM convolution with the neuron in its epilogue, on channel-last data:
//   x[b, q, o] = (bias[o] + Σ_{tap, c} w[c, tap, o] · in[b, q ⊕ tap, c]) · scale[steps[b]]
//   NEURON: (mem, s) = neuron_step(mem, x); out = s (0/1), out bits, spike counts
//   else:   out = x
// `in` is the input value, or with POOL > 1 its POOL×POOL average pool (stride POOL, no
// padding) computed on load exactly as avg_pool.wgsl does (window summed in (ky, kx) order from
// 0, then divided by POOL²), so no pool pass runs.
//
// GEMM view per lane: M = Ho·Wo output pixels, N = Co channels, K = K²·Ci, walked in chunks
// of one tap × up to 32 input channels. A workgroup owns a tile of BM = TP·RP pixels × BN =
// 4·TC channels of one lane; its TP·TC·SK invocations are (tc, tp, sk): RP pixels × 4 channels
// in registers, and split sk of SK takes every SK-th value of each chunk (split-K inside the
// workgroup, so a small layer still has a short dependent chain). Each chunk's inputs
// [BM][32] and weights [32][TC] vec4 are staged in workgroup memory; the SK partial sums are
// added in a fixed tree order. SKIP: a chunk whose 32-channel bit word is zero at every pixel
// of the tile is skipped by the whole workgroup (a uniform branch); BINARY: inputs are 0/1
// spikes and are only accumulated, never multiplied. Both are exact: skipped terms are zeros.
// `neuron_step` is generated from the one neuron rule and prepended (`Kernel::source`).

override K: u32 = 3u;
override STRIDE: u32 = 1u;
override PAD: u32 = 1u;
override POOL: u32 = 1u;
override HAS_SCALE: bool = false;
override BINARY: bool = false;
override SKIP: bool = false;
override NEURON: bool = true;
override BITS_OUT: bool = false;
override TP: u32 = 8u;  // pixel slots
override RP: u32 = 1u;  // pixels per invocation: 1, 2 or 4
override TC: u32 = 8u;  // 4-channel groups (≤ 16)
override SK: u32 = 4u;  // K splits (power of two ≤ 32)

struct Params {
    ci: u32, hi: u32, wi: u32,       // the conv's input (after the folded pool)
    co: u32, ho: u32, wo: u32,
    sh: u32, sw: u32,                // the stored input value (before the folded pool)
    in_bits: u32, in_words: u32,     // SKIP: word offset of the input's bits in `bits`, words per pixel
    out_bits: u32, out_words: u32,   // BITS_OUT: the same for the spikes written here
    px_tiles: u32, chunks: u32,      // ⌈Ho·Wo / BM⌉, K²·⌈Ci/32⌉
    count_index: u32, count_stride: u32,
    form: u32, reset: u32, fire: u32, zero: u32, // `NeuronRule` (shaders/neuron_rule.wgsl)
    p0: f32, p1: f32, v_th: f32, v_reset: f32,
}

// p: shapes and the neuron (uniform per layer)
@group(0) @binding(0) var<uniform> p: Params;
// input: [B, Sh, Sw, Ci] f32
@group(0) @binding(1) var<storage, read> input: array<f32>;
// bits: every bit-packed spike value of the network, [B, H, W, ⌈C/32⌉] u32 at its offset
@group(0) @binding(2) var<storage, read_write> bits: array<u32>;
// weight: [Ci, K, K, Co4] vec4<f32> (Co4 = ⌈Co/4⌉, zero-padded)
@group(0) @binding(3) var<storage, read> weight: array<vec4<f32>>;
// consts: bias [Co4] vec4, then the TEBN scale [T] f32 packed 4 to a vec4
@group(0) @binding(4) var<storage, read> consts: array<vec4<f32>>;
// steps: [B] u32, each lane's timestep index
@group(0) @binding(5) var<storage, read> steps: array<u32>;
// mem: [B, Ho, Wo, Co] f32 membrane, updated in place (NEURON)
@group(0) @binding(6) var<storage, read_write> mem: array<f32>;
// out: [B, Ho, Wo, Co] f32, spikes (NEURON) or the convolution
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
// counts: [B, count_stride] u32 spikes per lane and neuron node (NEURON)
@group(0) @binding(8) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> a_tile: array<f32, 1024>;        // [BM ≤ 32][32] inputs of the chunk
var<workgroup> b_tile: array<vec4<f32>, 512>;   // [32][TC ≤ 16] weights; then SK/2 partial tiles
var<workgroup> mask_acc: array<atomic<u32>, 16>; // chunk c has a non-zero input ⇔ bit c
var<workgroup> mask: array<u32, 16>;
var<workgroup> obits: array<atomic<u32>, 96>;   // [BM][BN/32 + 1] spike words of the tile
var<workgroup> fired: atomic<u32>;

// The input value at (iy, ix, c) of lane b, average-pooled on load with POOL > 1.
fn load_in(b: u32, iy: u32, ix: u32, c: u32) -> f32 {
    if POOL == 1u {
        return input[((b * p.sh + iy) * p.sw + ix) * p.ci + c];
    }
    var sum = 0.0;
    for (var dy = 0u; dy < POOL; dy++) {
        for (var dx = 0u; dx < POOL; dx++) {
            sum += input[((b * p.sh + iy * POOL + dy) * p.sw + ix * POOL + dx) * p.ci + c];
        }
    }
    return sum / f32(POOL * POOL);
}

// Whether any of the 32 channels of block `blk` at input pixel (iy, ix) is non-zero.
fn any_in(b: u32, iy: u32, ix: u32, blk: u32) -> bool {
    var w = 0u;
    for (var dy = 0u; dy < POOL; dy++) {
        for (var dx = 0u; dx < POOL; dx++) {
            w |= bits[p.in_bits + ((b * p.sh + iy * POOL + dy) * p.sw + ix * POOL + dx) * p.in_words + blk];
        }
    }
    return w != 0u;
}

// The input pixel a tap of output pixel q reads, or false in the padding.
fn tap_pixel(q: u32, ky: u32, kx: u32) -> vec3<u32> {
    let oy = q / p.wo;
    let ox = q % p.wo;
    let iy = i32(oy * STRIDE + ky) - i32(PAD);
    let ix = i32(ox * STRIDE + kx) - i32(PAD);
    let ok = q < p.ho * p.wo && iy >= 0 && iy < i32(p.hi) && ix >= 0 && ix < i32(p.wi);
    return vec3<u32>(u32(max(iy, 0)), u32(max(ix, 0)), u32(ok));
}

fn epilogue(b: u32, q: u32, g0: u32, g: u32, r: u32, acc: vec4<f32>) -> u32 {
    if q >= p.ho * p.wo || g * 4u >= p.co {
        return 0u;
    }
    var x = acc + consts[g];
    if HAS_SCALE {
        let s = (p.co + 3u) / 4u * 4u + steps[b];
        x *= consts[s / 4u][s % 4u];
    }
    let base = (b * p.ho * p.wo + q) * p.co + 4u * g;
    let n = min(4u, p.co - 4u * g);
    if !NEURON {
        for (var k = 0u; k < n; k++) {
            out[base + k] = x[k];
        }
        return 0u;
    }
    let rule = NeuronRule(p.form, p.reset, p.fire, p.zero, p.p0, p.p1, p.v_th, p.v_reset);
    var fired_here = 0u;
    var word = 0u;
    for (var k = 0u; k < n; k++) {
        let s = neuron_step(rule, mem[base + k], x[k]);
        mem[base + k] = s.x;
        out[base + k] = neuron_out(rule, s);
        let spike = u32(s.y);
        fired_here += spike;
        word |= spike << ((4u * g + k) % 32u);
    }
    if BITS_OUT && word != 0u {
        atomicOr(&obits[r * (TC * 4u / 32u + 1u) + (4u * g) / 32u - (4u * g0) / 32u], word);
    }
    return fired_here;
}

@compute @workgroup_size(TP * TC * SK)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let threads = TP * TC * SK;
    let bm = TP * RP;
    let tc = lid % TC;
    let tp = (lid / TC) % TP;
    let sk = lid / (TC * TP);
    let b = wg.y;
    let p0 = (wg.x % p.px_tiles) * bm;
    let g0 = (wg.x / p.px_tiles) * TC;
    let g = g0 + tc;
    let co4 = (p.co + 3u) / 4u;
    let blocks = (p.ci + 31u) / 32u;

    // Which chunks have any non-zero input in this tile.
    if SKIP {
        for (var i = lid; i < p.chunks * bm; i += threads) {
            let c = i / bm;
            let t = tap_pixel(p0 + i % bm, (c / blocks) / K, (c / blocks) % K);
            if t.z != 0u && any_in(b, t.x, t.y, c % blocks) {
                atomicOr(&mask_acc[c / 32u], 1u << (c % 32u));
            }
        }
        workgroupBarrier();
        if lid < 16u {
            mask[lid] = atomicLoad(&mask_acc[lid]);
        }
    }

    var a0 = vec4<f32>();
    var a1 = vec4<f32>();
    var a2 = vec4<f32>();
    var a3 = vec4<f32>();
    for (var c = 0u; c < p.chunks; c++) {
        // The barrier (inside the uniform load) also ends the previous chunk's reads.
        var live = 1u;
        if SKIP {
            live = (workgroupUniformLoad(&mask[c / 32u]) >> (c % 32u)) & 1u;
        } else {
            workgroupBarrier();
        }
        if live == 0u {
            continue;
        }
        let tap = c / blocks;
        let c0 = (c % blocks) * 32u;
        let ch = min(32u, p.ci - c0);
        for (var i = lid; i < bm * 32u; i += threads) {
            let j = i % 32u;
            let t = tap_pixel(p0 + i / 32u, tap / K, tap % K);
            var v = 0.0;
            if j < ch && t.z != 0u {
                v = load_in(b, t.x, t.y, c0 + j);
            }
            a_tile[i] = v;
        }
        for (var i = lid; i < 32u * TC; i += threads) {
            let j = i / TC;
            let gi = g0 + i % TC;
            var w = vec4<f32>();
            if j < ch && gi < co4 {
                w = weight[((c0 + j) * K * K + tap) * co4 + gi];
            }
            b_tile[i] = w;
        }
        workgroupBarrier();
        let row = tp * RP * 32u;
        for (var j = sk; j < ch; j += SK) {
            let w = b_tile[j * TC + tc];
            // Written out (no helper, no array): lavapipe and some drivers spill otherwise.
            let x0 = a_tile[row + j];
            if BINARY { a0 += select(vec4<f32>(), w, x0 != 0.0); } else { a0 += w * x0; }
            if RP > 1u {
                let x1 = a_tile[row + 32u + j];
                if BINARY { a1 += select(vec4<f32>(), w, x1 != 0.0); } else { a1 += w * x1; }
            }
            if RP > 2u {
                let x2 = a_tile[row + 64u + j];
                let x3 = a_tile[row + 96u + j];
                if BINARY {
                    a2 += select(vec4<f32>(), w, x2 != 0.0);
                    a3 += select(vec4<f32>(), w, x3 != 0.0);
                } else {
                    a2 += w * x2;
                    a3 += w * x3;
                }
            }
        }
    }

    // Split-K: the upper half of the splits hands its partials to the lower half, halving
    // until split 0 holds the sum (a fixed order, so results do not depend on timing).
    let slot = (tp * TC + tc) * RP;
    for (var half = SK / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if sk >= half && sk < 2u * half {
            let at = (sk - half) * TP * TC * RP + slot;
            b_tile[at] = a0;
            if RP > 1u { b_tile[at + 1u] = a1; }
            if RP > 2u { b_tile[at + 2u] = a2; b_tile[at + 3u] = a3; }
        }
        workgroupBarrier();
        if sk < half {
            let at = sk * TP * TC * RP + slot;
            a0 += b_tile[at];
            if RP > 1u { a1 += b_tile[at + 1u]; }
            if RP > 2u { a2 += b_tile[at + 2u]; a3 += b_tile[at + 3u]; }
        }
    }

    var spikes = 0u;
    if sk == 0u {
        let q = p0 + tp * RP;
        spikes += epilogue(b, q, g0, g, tp * RP, a0);
        if RP > 1u { spikes += epilogue(b, q + 1u, g0, g, tp * RP + 1u, a1); }
        if RP > 2u {
            spikes += epilogue(b, q + 2u, g0, g, tp * RP + 2u, a2);
            spikes += epilogue(b, q + 3u, g0, g, tp * RP + 3u, a3);
        }
        if spikes > 0u {
            atomicAdd(&fired, spikes);
        }
    }
    workgroupBarrier();
    if NEURON && lid == 0u {
        let total = atomicLoad(&fired);
        if total > 0u {
            atomicAdd(&counts[b * p.count_stride + p.count_index], total);
        }
    }
    // The tile's spike words: whole words when the tile spans whole 32-channel blocks (or all
    // of Co), which the planner guarantees.
    if BITS_OUT {
        let wpp = TC * 4u / 32u + 1u;
        for (var i = lid; i < bm * wpp; i += threads) {
            let q = p0 + i / wpp;
            let word = (g0 * 4u) / 32u + i % wpp;
            if q < p.ho * p.wo && word < p.out_words && word * 32u < g0 * 4u + TC * 4u {
                bits[p.out_bits + (b * p.ho * p.wo + q) * p.out_words + word] = atomicLoad(&obits[i]);
            }
        }
    }
}

//! Which kernel a convolution of [`super::conv`] takes: the cost models behind the choice
//! between the spike, general sparse, dense and Winograd kernels, by the input's density (its
//! [`count`]), its channels and the layer's size.

use super::precision::Precision;
use crate::model::graph::Conv;

/// Inputs with more than this fraction of non-zero values take the dense kernel, binary ones
/// above [`SPIKES_DENSE_ABOVE`] (the spike kernel beats the dense one up to 70–90 % on the
/// machine of BENCHMARKS.md: stride-2 layers of 64–256 channels).
const DENSE_ABOVE: f32 = 0.4;
pub(super) const SPIKES_DENSE_ABOVE: f32 = 0.8;

/// The sparse kernel's cost per (output pixel, tap) that does not depend on the non-zeros (the
/// window's lists), in non-zero values: it decides for layers with few input channels. An
/// ImageNet stem (3 channels, 7×7, stride 2) at 10 % non-zeros took 3.1 ms sparse and 1.3 ms
/// dense (Zen 5, 2026-12-07), so a few channels always take the dense kernel.
const SPARSE_PER_PIXEL: f32 = 2.5;

// Measured and not kept (2026-12-07 05:04–05:08 UTC, Zen 5, sew_resnet18 at batch 1, one
// thread): inputs of values in {0, 1, 2} (SEW ADD outputs) through the spike kernel, a 2's
// weight rows listed twice. `layer4.1.conv1` (7×7 pixels, 512 channels, where Winograd streams
// 16 MB of transformed weights per step) went from 1.12–1.25 to 0.69–0.73 ms, but every larger
// layer was slower than Winograd (`layer2.1.conv1` 0.61 → 0.89 ms) and, limited to 128 output
// pixels, the whole step did not move (12.37 ms both; the unaffected layers measured 2–9 %
// slower in that build, unexplained).

// Measured and not kept (2026-12-07 07:05–07:30 UTC, Zen 5): binary inputs of up to 16
// channels by table lookup (per tap and 8-channel group, the summed weight rows of all 256 spike
// patterns; an output pixel adds one table row per tap and group, four pixels at a time). A
// width/8 vgg11_48_legacy's 8 → 16 layer at batch 128 went from 7.9 to 4.2 ms, but it is the
// only binary layer that narrow in that network (its 16 → 32 layer reads pooled spikes), so
// width/8 training moved 94.0 → 95.4 samples/s at one thread and 159.6 → 156.7 at two, width/4
// not at all (its tables exceed half the L2).

// Sparse inputs of fewer than 8 channels take neither kernel but `super::conv_strip` (see
// `conv_strip::pays` and its module doc for what it was measured against).

/// Whether an input of `ci` channels with `nonzeros` of its `len` values non-zero takes the
/// dense kernel: sparse costs `SPARSE_PER_PIXEL + density · ci` per (pixel, tap), dense
/// `DENSE_ABOVE · ci`.
pub(super) fn dense_pays(nonzeros: usize, len: usize, ci: usize) -> bool {
    nonzeros as f32 > (DENSE_ABOVE - SPARSE_PER_PIXEL / ci as f32) * len as f32
}

/// Whether the Winograd kernel beats the kernel the input would take otherwise (`dense`: the
/// dense one, else a sparse one) on `pixels` output pixels (the whole batch) at this input
/// density. Costs in ns, each plus the time to stream the weights from memory at 20 GB/s:
/// - spike kernel (binary input): per pixel `d·9·ci·co` lane adds at 45 per ns, and
///   `ci/8 · (36 + 7·co/64)` for the row lists and each chunk's accumulator round trip;
///   weights `36·ci·co` bytes;
/// - general sparse kernel (other inputs): per pixel `d·9·ci·co` lane adds at 11 per ns (18
///   where a 64-channel block's weights fit in half the L2; half that where the other kernels
///   run their AVX-512 builds, `avx512`); the same weights;
/// - dense kernel: per pixel `9·ci·co` multiply-adds at [`DENSE_RATE`] per ns; the same weights;
/// - Winograd with output tiles of `tile` × `tile` ([`winograd_tile`]): per pixel `4·ci·co`
///   multiply-adds (F(4×4): 2.25) at `42·ci/(ci + 16)` per ns (short sums pay more for the tile
///   stores) and `1.8·(ci + co)` for the transforms; weights `64·ci·co` bytes (F(4×4): 144).
///
/// The sparse and Winograd costs were fitted on the 2-core Zen 4 of BENCHMARKS.md
/// (`conv_tests::rates::conv_rates`: vgg11_48_legacy's spike layers at 5–40 % non-zero, one thread,
/// caches flushed as in a whole network, whose weights do not fit in the L3). So spikes take the
/// spike kernel up to about 40–60 % non-zero at batch 1 (always, at the ~15 % of a trained
/// network), average-pooled spikes (≥ 40 %, not binary) Winograd.
#[allow(clippy::too_many_arguments)]
pub(super) fn winograd_pays(density: f32, binary: bool, dense: bool, ci: usize, co: usize, pixels: usize, tile: usize, avx512: bool) -> bool {
    let (ci, co, pixels) = (ci as f32, co as f32, pixels as f32);
    let adds = density * 9.0 * ci * co;
    let stream = |bytes: f32| bytes / 20.0;
    let other_ns = if dense && !binary {
        pixels * 9.0 * ci * co / DENSE_RATE + stream(36.0 * ci * co)
    } else if binary {
        pixels * (adds / 45.0 + ci / 8.0 * (36.0 + 7.0 * co / 64.0)) + stream(36.0 * ci * co)
    } else {
        let rate = if ci * 9.0 * 64.0 * 4.0 <= 512.0 * 1024.0 { 18.0 } else { 11.0 };
        // The other kernels have AVX-512 builds (about twice as fast), the general sparse kernel
        // not: 512 → 512 at 6×6 on pooled spikes at 16 % took 1.6 ms sparse and ~0.8 ms in
        // Winograd at batch 1 (Zen 5, vgg11_48_legacy's first timestep), where the rates
        // above (fitted with AVX2) chose the sparse kernel.
        let rate = if avx512 { rate / 2.0 } else { rate };
        pixels * adds / rate + stream(36.0 * ci * co)
    };
    // Per pixel (m + 2)² / m² multiply-adds per channel pair; (m + 2)² · 4 bytes of weights per pair.
    let points = ((tile + 2) * (tile + 2)) as f32;
    let winograd_ns = pixels * (points / (tile * tile) as f32 * ci * co / (42.0 * ci / (ci + 16.0)) + 1.8 * (ci + co)) + stream(4.0 * points * ci * co);
    other_ns > winograd_ns
}

/// The dense kernel's multiply-adds per ns in [`winograd_pays`]: between the 51.3 and 55.8 at
/// which the model's Winograd costs break even with it on 64 → 64 and 64 → 128 channels.
/// The trainer's input-gradient convolutions (dense output gradients) of 64 → 64 channels ran
/// faster dense (Zen 5, width/4 vgg11_48_legacy training at one thread, 2026-12-07: those of up
/// to 64 channels dense 38.2 samples/s, every one dense 36.9, Winograd as the sparse cost model
/// chose it 33.2); vgg11_dvs's pooled 64 → 128 layer at batch 1 ran 2.1 ms with Winograd and
/// 2.5 ms dense (a first fit of 56 took it dense).
const DENSE_RATE: f32 = 53.0;

/// Multiply-adds per ns of the Winograd products and bytes per ns of their weight stream in
/// [`winograd_tile`], with the transforms' cost, 1.48 ns per pixel and channel (in and out),
/// fitted to `conv_tests::rates::tile_rates` (both tiles on six layers of 64–512 channels at
/// 6×6 to 56×56, batch 1 and 16, caches flushed; Zen 5, 2026-12-07): within 27 % of every
/// time, and the faster tile chosen on all twelve pairs.
const TILE_RATE: f64 = 126.0;
const TILE_STREAM: f64 = 25.0;

/// The Winograd output tile, 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3), [`super::winograd_f4`]), for a
/// layer packed for calls of `calls` = (batch, output height, output width); zeros (unknown)
/// take 2. F(4×4) is for layers whose weights round in every summation anyway (they span more
/// than f32's 24 bits, [`weight_bits`]; on fewer its intermediates could round where the direct
/// sums do not; bf16 and f16 weights are judged rounded, as an f32 run of their values would be;
/// bf16's own products, [`super::winograd_bf16`], are F(2×2) only), and where it costs less:
/// the products' multiply-adds (tiles · (m + 2)² · ci · co) at [`TILE_RATE`] plus streaming
/// their (m + 2)² · ci · co · 4 bytes of weights at [`TILE_STREAM`] (the transforms cost both
/// tiles about the same). So batch 1 takes
/// F(4×4) on 128 channels at 24×24 or 28×28 and 64 at 56×56, F(2×2) from 256 channels at 12×12
/// or 14×14 (where its weights, 2.25 times F(2×2)'s, come from memory); batch 16 takes it
/// everywhere but 6×6, where four 4×4 tiles cost what nine 2×2 tiles do.
pub(super) fn winograd_tile(c: &Conv, precision: Precision, (batch, h, w): (usize, usize, usize)) -> usize {
    if (precision == Precision::Bf16 && super::winograd_bf16::available()) || batch == 0 {
        return 2;
    }
    let cost = |m: usize| {
        let tiles = (batch * h.div_ceil(m) * w.div_ceil(m)) as f64;
        let per_pair = ((m + 2) * (m + 2) * c.in_ch * c.out_ch) as f64;
        tiles * per_pair / TILE_RATE + per_pair * 4.0 / TILE_STREAM
    };
    // The weights are scanned last, only where F(4×4) would pay (the trainer packs every layer
    // twice per step).
    if cost(4) < cost(2) && weight_bits(&c.weight) > 24 { 4 } else { 2 }
}

/// The bits from the highest to the lowest set bit over all of `w`'s non-zero finite values:
/// `w` are integers times one power of two, of this many bits at most. Where it exceeds 24 some
/// sums of two of them already round in f32.
pub(super) fn weight_bits(w: &[f32]) -> i32 {
    // Normal values branch-free, so that the scan vectorises (it ran serially in every packing
    // of a trainer's layers): the highest set bit from the exponent field, the lowest from the
    // significand's lowest set bit, isolated and read off the exponent of its value as a float.
    // Subnormal values take the general loop.
    let (mut hi, mut lo, mut subnormal) = (i32::MIN, i32::MAX, false);
    for &v in w {
        let bits = v.to_bits() & 0x7fff_ffff;
        let exp = (bits >> 23) as i32;
        subnormal |= exp == 0 && bits != 0;
        let normal = exp != 0 && exp != 0xff;
        let man = (bits & 0x7f_ffff) | 0x80_0000;
        // A power of two below 2²⁴: exact as an i32 and as an f32.
        let low = ((man & man.wrapping_neg()) as i32) as f32;
        let tz = ((low.to_bits() >> 23) as i32) - 127;
        // |v| = man · 2^(exp − 150), man's highest bit 23.
        hi = hi.max(if normal { exp - 127 } else { i32::MIN });
        lo = lo.min(if normal { exp - 150 + tz } else { i32::MAX });
    }
    if subnormal {
        return weight_bits_general(w);
    }
    if hi < lo { 0 } else { hi - lo + 1 }
}

/// [`weight_bits`] value by value, subnormal values included.
pub(super) fn weight_bits_general(w: &[f32]) -> i32 {
    let (mut hi, mut lo) = (i32::MIN, i32::MAX);
    for v in w.iter().filter(|v| **v != 0.0 && v.is_finite()) {
        let (exp, man) = (((v.to_bits() >> 23) & 0xff) as i32, v.to_bits() & 0x7f_ffff);
        // |v| = man · 2^e, man < 2²⁴.
        let (e, man) = if exp == 0 { (-149, man) } else { (exp - 150, man | 0x80_0000) };
        hi = hi.max(e + 31 - man.leading_zeros() as i32);
        lo = lo.min(e + man.trailing_zeros() as i32);
    }
    if hi < lo { 0 } else { hi - lo + 1 }
}

/// (non-zero values, values equal to 1) of `x`, in the AVX2 build where `simd`.
pub(super) fn count(x: &[f32], simd: bool) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only set where AVX2 and FMA were detected.
        return unsafe { count_avx2(x) };
    }
    let _ = simd;
    count_generic(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn count_avx2(x: &[f32]) -> (usize, usize) {
    count_generic(x)
}

/// [`count`], summed in u32 lanes per piece of 2³⁰ values (which vectorise; usize sums took
/// 2.7 % of vgg11_48_legacy's step at batch 1 in baseline SSE2).
#[inline(always)]
fn count_generic(x: &[f32]) -> (usize, usize) {
    x.chunks(1 << 30).fold((0, 0), |(nz, ones), x| {
        let (n, o) = x.iter().fold((0u32, 0u32), |(n, o), &v| (n + u32::from(v != 0.0), o + u32::from(v == 1.0)));
        (nz + n as usize, ones + o as usize)
    })
}

//! The fast convolution ([`super::conv`]) against the specification
//! ([`super::kernels::conv_scatter`]) on seeded dyadic inputs, where every sum is exact in any
//! order so both must agree bit for bit: spikes (the spike kernel, or Winograd where dense
//! enough), average-pooled spikes (Winograd for 3×3 stride 1, else the dense kernel), event
//! counts, several geometries, batches and channel counts that are no multiple of 8; every case
//! also through the portable code; 16-bit weights against f32 ones of the same values; and, in
//! [`isa`], the AVX-512 builds against the AVX2 ones on weights that round. [`rates`] holds the timings run by hand.

mod fused;
mod isa;
mod rates;
mod tiles;

use super::conv::{ConvScratch, Mode, PackedConv, Ran, conv_with};
use super::conv_choice::dense_pays;
use super::kernels::conv_scatter;
use super::layout::conv_weight_spec;
use crate::model::graph::{Conv, Shape};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A multiple of 1/64 in [-1, 1].
    fn dyadic(&mut self) -> f32 {
        (self.next() % 129) as f32 / 64.0 - 1.0
    }
    fn below(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// A value with a random 24-bit mantissa in [−s/2, s/2): sums of these round.
    fn rounding(&mut self, s: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1 << 24) as f32 - 0.5) * s
    }
}

/// Input kinds: binary spikes, pooled spikes (k/4), event counts (1 or 2).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Spikes(f64),
    Pooled(f64),
    Counts(f64),
}

fn input(rng: &mut Rng, n: usize, kind: Kind) -> Vec<f32> {
    (0..n)
        .map(|_| match kind {
            Kind::Spikes(p) => f32::from(u8::from(rng.below(p))),
            Kind::Pooled(p) => (0..4).filter(|_| rng.below(p)).count() as f32 / 4.0,
            Kind::Counts(p) => if rng.below(p) { 1.0 + (rng.next() % 2) as f32 } else { 0.0 },
        })
        .collect()
}

fn layer(rng: &mut Rng, ci: usize, co: usize, k: usize, stride: usize, pad: usize) -> Conv {
    Conv {
        in_ch: ci,
        out_ch: co,
        kernel: k,
        stride,
        padding: pad,
        weight: (0..co * ci * k * k).map(|_| rng.dyadic()).collect(),
        bias: (0..co).map(|_| rng.dyadic()).collect(),
        time_scale: None,
    }
}

/// [`layer`] with weights and bias that round ([`Rng::rounding`], within ±0.185), so that any
/// change in the order of the sums shows.
fn rounding_layer(rng: &mut Rng, ci: usize, co: usize, k: usize, stride: usize, pad: usize) -> Conv {
    let mut c = layer(rng, ci, co, k, stride, pad);
    c.weight.iter_mut().chain(&mut c.bias).for_each(|v| *v = rng.rounding(0.37));
    c
}

/// Runs one layer through `mode` and through the portable code, checks both against the
/// specification bit for bit, and returns the kernel `mode` chose.
#[allow(clippy::too_many_arguments)]
fn check_with(ci: usize, co: usize, hw: usize, k: usize, stride: usize, pad: usize, batch: usize, kind: Kind, mode: Mode) -> Ran {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (ci * 31 + co * 7 + k) as u64);
    let c = layer(&mut rng, ci, co, k, stride, pad);
    let si = Shape::new(ci, hw, hw);
    let o = (hw + 2 * pad - k) / stride + 1;
    let so = Shape::new(co, o, o);
    let x = input(&mut rng, batch * si.len(), kind);
    let scale: Vec<f32> = (0..batch).map(|b| [1.0, 0.5, 2.0, 0.25][b % 4]).collect();
    let mut want = vec![0.0; batch * so.len()];
    conv_scatter(&x, &mut want, batch, si, so, k, stride, pad, &conv_weight_spec(&c), &c.bias);
    for (b, w) in want.chunks_mut(so.len()).enumerate() {
        w.iter_mut().for_each(|v| *v *= scale[b]);
    }
    let packed = PackedConv::new(&c);
    // One scratch for both runs, as layers share it.
    let mut scratch = ConvScratch::default();
    let mut ran = None;
    for m in [mode, Mode::Portable] {
        let mut got = vec![f32::NAN; batch * so.len()];
        let r = conv_with(&x, &mut got, si, so, &packed, &scale, &mut scratch, m);
        ran.get_or_insert(r);
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert!(w.to_bits() == g.to_bits() || (*w == 0.0 && *g == 0.0), "{ci}→{co} k{k} s{stride} {hw}×{hw} batch {batch} {kind:?} {m:?} ({r:?}): index {i}: expected {w}, got {g}");
        }
    }
    ran.expect("ran once")
}

#[allow(clippy::too_many_arguments)]
fn check(ci: usize, co: usize, hw: usize, k: usize, stride: usize, pad: usize, batch: usize, kind: Kind) -> Ran {
    check_with(ci, co, hw, k, stride, pad, batch, kind, Mode::Auto)
}

#[test]
fn sparse_kernels_equal_the_specification_on_spikes() {
    check(64, 128, 12, 3, 1, 1, 2, Kind::Spikes(0.2));
    check(24, 40, 9, 3, 1, 1, 1, Kind::Spikes(0.25));
    check(17, 10, 7, 3, 2, 1, 3, Kind::Spikes(0.3));
    check(512, 24, 3, 3, 1, 1, 1, Kind::Spikes(0.03));
    check(64, 72, 10, 3, 1, 1, 2, Kind::Spikes(0.05));
}

/// The spike kernel in the shapes of vgg11_48_legacy's spike layers (one tile, several tiles,
/// tiles of unequal length at 17×17, batches), partial output blocks and narrow blocks, other
/// kernels and strides, silent and busy inputs.
#[test]
fn spike_kernel_equals_the_specification() {
    for (ci, co, hw, batch) in [(64, 128, 48, 1), (256, 256, 24, 2), (512, 512, 12, 1), (512, 512, 6, 3), (64, 64, 10, 2), (32, 64, 17, 2)] {
        for d in [0.001, 0.05, 0.15, 0.3] {
            assert_eq!(check_with(ci, co, hw, 3, 1, 1, batch, Kind::Spikes(d), Mode::NoWinograd), Ran::Spikes, "{ci}→{co} {hw}×{hw} at {d}");
        }
        assert_eq!(check_with(ci, co, hw, 3, 1, 1, batch, Kind::Spikes(0.0), Mode::NoWinograd), Ran::Silent);
    }
    for (ci, co, hw, k, stride, pad) in [(64, 72, 10, 3, 1, 1), (16, 20, 9, 3, 1, 1), (8, 10, 7, 3, 2, 1), (32, 40, 11, 1, 1, 0), (8, 16, 9, 5, 2, 2), (24, 8, 13, 3, 2, 0)] {
        for batch in [1, 2] {
            assert_eq!(check_with(ci, co, hw, k, stride, pad, batch, Kind::Spikes(0.2), Mode::NoWinograd), Ran::Spikes, "{ci}→{co} k{k} s{stride}");
        }
    }
}

/// The row lists of tiles built in parts of their chunks in parallel (batches with fewer tiles
/// than threads: 1, 2, 3 and 7 threads; parts of one chunk, uneven parts, more threads than
/// chunks) give the specification's bits.
#[test]
fn spike_lists_built_in_parts_equal_the_specification() {
    for threads in [1, 2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        for (ci, co, hw, batch) in [(512, 64, 6, 1), (40, 32, 12, 1), (24, 16, 9, 2), (8, 16, 5, 1), (64, 128, 13, 3)] {
            let ran = pool.install(|| check_with(ci, co, hw, 3, 1, 1, batch, Kind::Spikes(0.2), Mode::NoWinograd));
            assert_eq!(ran, Ran::Spikes, "{ci}→{co} {hw}×{hw} batch {batch}, {threads} threads");
        }
    }
}

/// The spike masks built in parallel groups of image rows (three threads, uneven groups) equal
/// those built in one piece, portable against SIMD.
#[test]
fn spike_masks_in_row_groups_equal_one_piece() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("a pool of 3 threads");
    for (c, h, w, pad) in [(64, 17, 5, 1), (8, 7, 9, 0), (16, 48, 48, 2), (8, 1, 3, 1), (24, 13, 2, 1)] {
        let x = input(&mut Rng(5 + h as u64), c * h * w, Kind::Spikes(0.3));
        let si = Shape::new(c, h, w);
        let (mut one, mut split) = (Vec::new(), Vec::new());
        super::conv_spikes::masks(&x, si, pad, &mut one, false, false);
        pool.install(|| super::conv_spikes::masks(&x, si, pad, &mut split, super::conv_dense::available(), true));
        assert_eq!(one, split, "{c}×{h}×{w} pad {pad}");
        assert!(one.iter().any(|&m| m != 0));
    }
}

/// Weights stored in bf16 or f16 ([`super::precision`]) give the bits of f32 weights of the same
/// (rounded) values in every kernel and build: spikes (the spike kernel: AVX-512, AVX2 and
/// portable), pooled spikes (Winograd and the dense kernel), event counts (the sparse kernel), on
/// weights with 24-bit mantissas that the narrowing rounds; and the rounding changes them.
#[test]
fn half_weights_equal_f32_weights_of_the_same_values() {
    use super::precision::{Precision, round};
    let cases = [(64, 128, 12, 3, 1, 1, 2, Kind::Spikes(0.2)), (32, 20, 9, 3, 2, 1, 1, Kind::Spikes(0.3)), (64, 72, 10, 3, 1, 1, 2, Kind::Pooled(0.3)), (20, 24, 6, 3, 1, 1, 1, Kind::Pooled(0.5)), (2, 64, 16, 3, 1, 1, 2, Kind::Counts(0.1))];
    for (ci, co, hw, k, stride, pad, batch, kind) in cases {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d ^ (ci * 7 + co) as u64);
        let c = rounding_layer(&mut rng, ci, co, k, stride, pad);
        let (si, o) = (Shape::new(ci, hw, hw), (hw + 2 * pad - k) / stride + 1);
        let so = Shape::new(co, o, o);
        let x = input(&mut rng, batch * si.len(), kind);
        let scale: Vec<f32> = (0..batch).map(|b| 0.5 + b as f32).collect();
        for p in [Precision::Bf16, Precision::F16] {
            let rounded = Conv { weight: round("w", &c.weight, p).unwrap(), ..c.clone() };
            assert!(rounded.weight != c.weight, "{p:?}: the rounding changes some weights");
            let (want, got) = (PackedConv::new(&rounded), PackedConv::with_precision(&c, p, "w", (0, 0, 0)).unwrap());
            for m in [Mode::Auto, Mode::Winograd, Mode::NoWinograd, Mode::Avx2, Mode::Portable] {
                let mut scratch = ConvScratch::default();
                let mut run = |packed: &PackedConv| {
                    let mut out = vec![f32::NAN; batch * so.len()];
                    (conv_with(&x, &mut out, si, so, packed, &scale, &mut scratch, m), out)
                };
                let ((ran_want, want), (ran_got, got)) = (run(&want), run(&got));
                assert_eq!(ran_want, ran_got);
                if p == Precision::Bf16 && ran_got == Ran::Winograd && super::winograd_bf16::available() {
                    // Its transformed weights are rounded once more (see `bf16_winograd_*`).
                    bf16_close(&want, &got, &format!("{ci}→{co} {kind:?} {m:?}"));
                    continue;
                }
                let bad = want.iter().zip(&got).position(|(a, b)| a.to_bits() != b.to_bits());
                assert!(bad.is_none(), "{p:?} {ci}→{co} k{k} s{stride} {kind:?} {m:?} ({ran_got:?}): differs from f32 at index {bad:?}");
            }
        }
    }
}

/// `got` (bf16 Winograd) within bf16's rounding of `want`, and not equal to it: the largest
/// difference at most 2 % of the largest output.
fn bf16_close(want: &[f32], got: &[f32], what: &str) {
    let top = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = want.iter().zip(got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 0.02 * top && worst > 0.0, "{what}: bf16 Winograd differs by {worst} (largest output {top})");
}

/// The bf16 Winograd products ([`super::winograd_bf16`]) on pooled spikes with weights whose
/// transformed values fit bf16 (multiples of 1/8 of magnitude ≤ 1: `G g Gᵀ` needs ≤ 8 bits)
/// equal the specification bit for bit; on weights that round, they stay within bf16's rounding.
#[test]
fn bf16_winograd_is_exact_where_bf16_holds_the_values() {
    use super::precision::{Precision, round};
    if !super::winograd_bf16::available() {
        eprintln!("skipped: no AVX512_BF16 on this CPU");
        return;
    }
    for (ci, co, hw, batch) in [(64, 72, 10, 2), (128, 256, 12, 1), (512, 512, 6, 1)] {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (ci * 3 + co) as u64);
        let mut c = layer(&mut rng, ci, co, 3, 1, 1);
        c.weight.iter_mut().for_each(|w| *w = (*w * 8.0).round() / 8.0);
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, batch * si.len(), Kind::Pooled(0.3));
        let scale: Vec<f32> = (0..batch).map(|b| 1.0 + b as f32).collect();
        let packed = PackedConv::with_precision(&c, Precision::Bf16, "w", (0, 0, 0)).unwrap();
        let mut out = vec![f32::NAN; batch * so.len()];
        assert_eq!(conv_with(&x, &mut out, si, so, &packed, &scale, &mut ConvScratch::default(), Mode::Winograd), Ran::Winograd);
        let mut want = vec![0.0; batch * so.len()];
        conv_scatter(&x, &mut want, batch, si, so, 3, 1, 1, &conv_weight_spec(&c), &c.bias);
        for (b, w) in want.chunks_mut(so.len()).enumerate() {
            w.iter_mut().for_each(|v| *v *= scale[b]);
        }
        let bad = want.iter().zip(&out).position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(bad.is_none(), "{ci}→{co}: differs at {bad:?}");
        // Weights with 24-bit significands: rounded twice (weights, then transformed weights).
        c.weight.iter_mut().for_each(|w| *w = (*w + 1e-3 * (rng.next() % 1000) as f32 / 999.0) * 0.913);
        let rounded = Conv { weight: round("w", &c.weight, Precision::Bf16).unwrap(), ..c.clone() };
        conv_with(&x, &mut want, si, so, &PackedConv::new(&rounded), &scale, &mut ConvScratch::default(), Mode::Winograd);
        let packed = PackedConv::with_precision(&c, Precision::Bf16, "w", (0, 0, 0)).unwrap();
        conv_with(&x, &mut out, si, so, &packed, &scale, &mut ConvScratch::default(), Mode::Winograd);
        bf16_close(&want, &out, &format!("{ci}→{co} rounding weights"));
    }
}

/// Around the density where the cost model hands spikes to Winograd, both sides are exact and
/// the choice moves the right way.
#[test]
fn kernel_choice_around_the_switching_density() {
    for (ci, co, hw) in [(64, 128, 16), (256, 256, 8), (512, 512, 6)] {
        assert_eq!(check(ci, co, hw, 3, 1, 1, 1, Kind::Spikes(0.1)), Ran::Spikes, "{ci}→{co} sparse at 10 %");
        let mut last = Ran::Spikes;
        for d in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
            let ran = check(ci, co, hw, 3, 1, 1, 2, Kind::Spikes(d));
            assert!(ran == last || (last == Ran::Spikes && ran == Ran::Winograd), "{ci}→{co} at {d}: {last:?} then {ran:?}");
            last = ran;
        }
        assert_eq!(last, Ran::Winograd, "{ci}→{co} Winograd at 80 %");
        assert_eq!(check(ci, co, hw, 3, 1, 1, 1, Kind::Pooled(0.3)), Ran::Winograd, "{ci}→{co} pooled");
    }
}

#[test]
fn winograd_kernel_equals_the_specification() {
    check_with(64, 128, 12, 3, 1, 1, 2, Kind::Spikes(0.2), Mode::Winograd);
    check_with(512, 512, 6, 3, 1, 1, 3, Kind::Spikes(0.15), Mode::Winograd);
    check(24, 40, 9, 3, 1, 1, 3, Kind::Pooled(0.25));
    check(512, 20, 3, 3, 1, 1, 1, Kind::Pooled(0.3));
    check(3, 16, 7, 3, 1, 1, 1, Kind::Counts(0.9));
    // 1.2 MB of V and M per sample: a batch of 7 goes in parts of 5 and 2 (`SUB_BYTES`).
    check_with(16, 16, 48, 3, 1, 1, 7, Kind::Pooled(0.3), Mode::Winograd);
}

#[test]
fn dense_kernel_equals_the_specification_on_pooled_spikes() {
    check(64, 128, 12, 3, 1, 1, 2, Kind::Pooled(0.3));
    check(32, 72, 5, 3, 1, 1, 1, Kind::Pooled(0.4));
    check(16, 8, 11, 7, 2, 3, 1, Kind::Pooled(0.5));
    check(40, 13, 6, 1, 1, 0, 2, Kind::Pooled(0.5));
    check(20, 24, 6, 3, 1, 1, 1, Kind::Pooled(0.5));
    check(512, 64, 3, 3, 1, 1, 1, Kind::Pooled(0.3));
    check_with(64, 64, 9, 3, 2, 1, 2, Kind::Spikes(0.9), Mode::NoWinograd);
}

/// The dense kernel's padded copy of the input is reused across layers: a layer after a larger
/// one (the buffer holding its values) still equals the specification. (Zeroing only the
/// border, measured 2026-12-07, did not move training's step; this guards any such change.)
#[test]
fn dense_kernel_after_a_larger_layer_in_the_same_scratch() {
    let mut scratch = ConvScratch::default();
    for (ci, co, hw, k, pad) in [(16, 16, 14, 3, 1), (16, 8, 9, 5, 2), (16, 8, 7, 3, 1)] {
        let mut rng = Rng(0x5eed ^ (hw * 7 + k) as u64);
        let c = layer(&mut rng, ci, co, k, 1, pad);
        let (si, o) = (Shape::new(ci, hw, hw), hw + 2 * pad - k + 1);
        let so = Shape::new(co, o, o);
        let x = input(&mut rng, si.len(), Kind::Pooled(0.9));
        let mut want = vec![0.0; so.len()];
        conv_scatter(&x, &mut want, 1, si, so, k, 1, pad, &conv_weight_spec(&c), &c.bias);
        let mut got = vec![f32::NAN; so.len()];
        assert_eq!(conv_with(&x, &mut got, si, so, &PackedConv::new(&c), &[1.0], &mut scratch, Mode::NoWinograd), Ran::SparseOrDense);
        assert!(want.iter().zip(&got).all(|(w, g)| w.to_bits() == g.to_bits() || (*w == 0.0 && *g == 0.0)), "{ci}→{co} k{k} {hw}×{hw}");
    }
}

#[test]
fn both_kernels_equal_the_specification_on_event_counts() {
    // Few channels take the strip kernel when sparse, else the dense kernel at any density
    // (`dense_pays`); many channels the sparse one below 36–40 %.
    assert_eq!(check(2, 64, 16, 3, 1, 1, 2, Kind::Counts(0.1)), Ran::Strip);
    check(3, 16, 20, 7, 2, 3, 1, Kind::Counts(0.9));
    check(64, 32, 12, 3, 2, 1, 2, Kind::Counts(0.1));
    check(64, 8, 13, 3, 2, 1, 1, Kind::Counts(0.6));
}

/// The strip kernel (sparse inputs of fewer than 8 channels) in first-layer geometries: 3×3, an
/// ImageNet-style 7×7 stride-2 stem, 5×5 stride 2 without padding, 1×1, output rows that end in a
/// partial strip, partial and narrow blocks, batches; denser inputs take the dense kernel.
#[test]
fn strip_kernel_equals_the_specification() {
    for (ci, co, hw, k, stride, pad, batch) in [(2, 64, 16, 3, 1, 1, 2), (3, 64, 23, 7, 2, 3, 1), (1, 20, 9, 5, 2, 0, 2), (4, 8, 10, 1, 1, 0, 1), (2, 100, 13, 3, 1, 1, 1), (6, 16, 7, 3, 2, 1, 3)] {
        for d in [0.02, 0.06] {
            assert_eq!(check_with(ci, co, hw, k, stride, pad, batch, Kind::Counts(d), Mode::NoWinograd), Ran::Strip, "{ci}→{co} k{k} s{stride} at {d}");
        }
    }
    // A 7×7 stem's dense kernel does more per output, so the strip kernel stops paying sooner.
    // Where the AVX-512 build reads window masks (`conv_strip_avx512`), the strip kernel pays
    // up to ~40 % non-zero in the stem and at any density in a 2-channel 3×3 layer.
    let masks = super::conv_spikes_avx512::enabled() && super::conv_spikes_avx512::vbmi2();
    let stem = |d| check_with(3, 64, 23, 7, 2, 3, 1, Kind::Counts(d), Mode::NoWinograd);
    let small = |d| check_with(2, 64, 16, 3, 1, 1, 1, Kind::Counts(d), Mode::NoWinograd);
    if masks {
        assert_eq!((stem(0.2), stem(0.6), small(0.6)), (Ran::Strip, Ran::SparseOrDense, Ran::Strip));
    } else {
        assert_eq!((stem(0.2), small(0.2), small(0.6)), (Ran::SparseOrDense, Ran::Strip, Ran::SparseOrDense));
    }
}

#[test]
fn dense_kernel_for_few_channels_sparse_for_many_at_low_density() {
    let len = 1000;
    assert!(dense_pays(100, len, 3), "a 3-channel stem at 10 %");
    assert!(dense_pays(100, len, 2), "2-channel event counts at 10 %");
    assert!(!dense_pays(100, len, 64), "64 channels at 10 %");
    assert!(!dense_pays(200, len, 16) && dense_pays(300, len, 16), "16 channels switch near 24 %");
    assert!(dense_pays(500, len, 64), "64 channels at 50 %");
    assert!(dense_pays(450, len, 512) && !dense_pays(350, len, 512), "512 channels switch near 40 %");
}

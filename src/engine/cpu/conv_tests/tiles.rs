//! Winograd F(4×4, 3×3) ([`super::super::winograd_f4`]) against the specification: bit for bit
//! on small integers, where its integer transforms keep every intermediate exact; within a
//! rounding bound on weights that round; and which layers [`winograd_tile`] gives it.

use super::super::conv::{ConvScratch, Mode, PackedConv, Ran, conv_with};
use super::super::conv_choice::{weight_bits, weight_bits_general, winograd_tile};
use super::super::kernels::conv_scatter;
use super::super::layout::conv_weight_spec;
use super::super::precision::Precision;
use super::{Kind, Rng, input, layer, rounding_layer};
use crate::model::graph::{Conv, Shape};

/// `conv_with` through Winograd with output tiles of `tile`.
fn run(c: &Conv, x: &[f32], si: Shape, so: Shape, scale: &[f32], tile: usize) -> Vec<f32> {
    let packed = PackedConv::with_winograd_tile(c, tile);
    let mut out = vec![f32::NAN; scale.len() * so.len()];
    assert_eq!(conv_with(x, &mut out, si, so, &packed, scale, &mut ConvScratch::default(), Mode::Winograd), Ran::Winograd);
    out
}

/// The convolution (3×3, stride 1, padding 1) in f64, exact for these sums, times each sample's
/// scale.
fn reference(c: &Conv, x: &[f32], si: Shape, so: Shape, scale: &[f32]) -> Vec<f64> {
    let batch = scale.len();
    let (h, w, ci, co) = (si.h as isize, si.w as isize, si.c, so.c);
    let mut r = vec![0.0; batch * so.len()];
    for b in 0..batch {
        for y in 0..h {
            for xx in 0..w {
                for o in 0..co {
                    let mut s = f64::from(c.bias[o]);
                    for (t, (dy, dx)) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx))).enumerate() {
                        let (yy, xi) = (y + dy, xx + dx);
                        if yy < 0 || yy >= h || xi < 0 || xi >= w {
                            continue;
                        }
                        let px = &x[b * si.len() + ((yy * w + xi) as usize) * ci..][..ci];
                        s += px.iter().enumerate().map(|(i, &v)| f64::from(v) * f64::from(c.weight[(o * ci + i) * 9 + t])).sum::<f64>();
                    }
                    r[b * so.len() + ((y * w + xx) as usize) * co + o] = s * f64::from(scale[b]);
                }
            }
        }
    }
    r
}

/// On weights in {−1, 0, 1} and binary spikes every intermediate of F(4×4) is an integer inside
/// f32's 24 bits, so the kernel must equal the exact convolution (and the specification) bit for
/// bit: shapes with
/// partial tiles (1, 3, 5, 7, 9, 10, 13 pixels), output channels that are no multiple of 16, batches.
#[test]
fn f4_equals_the_specification_on_small_integers() {
    for (ci, co, hw, batch) in [(16, 16, 8, 1), (16, 40, 7, 2), (24, 16, 9, 1), (32, 72, 10, 3), (16, 24, 13, 1), (16, 16, 3, 2), (16, 32, 1, 3), (24, 16, 5, 1)] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (ci * 31 + co * 7 + hw) as u64);
        let mut c = layer(&mut rng, ci, co, 3, 1, 1);
        c.weight.iter_mut().for_each(|w| *w = (*w * 1.5).round());
        c.bias.iter_mut().for_each(|b| *b = (*b * 8.0).round());
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, batch * si.len(), Kind::Spikes(0.4));
        let scale: Vec<f32> = (0..batch).map(|b| [1.0, 0.5, 2.0][b % 3]).collect();
        let want = reference(&c, &x, si, so, &scale);
        let got = run(&c, &x, si, so, &scale, 4);
        let mut spec = vec![0.0; batch * so.len()];
        conv_scatter(&x, &mut spec, batch, si, so, 3, 1, 1, &conv_weight_spec(&c), &c.bias);
        for (b, s) in spec.chunks_mut(so.len()).enumerate() {
            s.iter_mut().for_each(|v| *v *= scale[b]);
        }
        assert!(spec.iter().zip(&got).all(|(s, g)| s.to_bits() == g.to_bits() || (*s == 0.0 && *g == 0.0)), "{ci}→{co}: the specification differs");
        let bad = want.iter().zip(&got).position(|(w, g)| *w != f64::from(*g));
        assert!(bad.is_none(), "{ci}→{co} {hw}×{hw} batch {batch}: index {bad:?} differs: {:?}", bad.map(|i| (want[i], got[i])));
        assert!(want.iter().any(|v| v.abs() > 8.0), "{ci}→{co}: a test with sums of some size");
    }
}

/// On weights that round, F(4×4) differs from the exact convolution by rounding only: its
/// worst error, relative to the largest output, stays under 2⁻¹⁷, on pooled spikes and on the
/// {0, 1, 2} sums of spiking residual blocks. (Measured: 3.8–4.1·10⁻⁶ ≈ 2⁻¹⁸, against F(2×2)'s
/// 2.0–3.9·10⁻⁷: its transforms' larger coefficients carry larger roundings.)
#[test]
fn f4_rounds_within_a_bound_on_weights_that_round() {
    for (ci, co, hw, kind) in [(64, 64, 16, Kind::Counts(0.3)), (128, 64, 12, Kind::Pooled(0.3)), (256, 32, 6, Kind::Pooled(0.3))] {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d ^ (ci * 7 + co) as u64);
        let c = rounding_layer(&mut rng, ci, co, 3, 1, 1);
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, si.len(), kind);
        let want = reference(&c, &x, si, so, &[1.0]);
        let top = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let err = |tile| run(&c, &x, si, so, &[1.0], tile).iter().zip(&want).fold(0f64, |m, (g, w)| m.max((f64::from(*g) - w).abs())) / top;
        let (e2, e4) = (err(2), err(4));
        assert!(e4 > 0.0 && e4 < 2f64.powi(-17), "{ci}→{co} {kind:?}: F(4×4) error {e4:e} of the largest output (F(2×2) {e2:e})");
    }
}

#[test]
fn weight_bits_span_the_highest_to_the_lowest_set_bit() {
    assert_eq!(weight_bits(&[]), 0);
    assert_eq!(weight_bits(&[0.0, 3.0]), 2);
    assert_eq!(weight_bits(&[1.0, 0.5, -0.25]), 3);
    assert_eq!(weight_bits(&[1.0, 2f32.powi(-30)]), 31);
    assert_eq!(weight_bits(&[0.1]), 24);
    assert_eq!(weight_bits(&[f32::from_bits(1), 1.0]), 150);
    assert_eq!(weight_bits(&[f32::NAN, f32::INFINITY, 4.0]), 1);
}

/// The branch-free scan of normal values gives what the value-by-value loop gives: random bit
/// patterns of every exponent (zeros, infinities and NaNs among them), with and without
/// subnormal values, and short runs of a few exponents (as trained weights are).
#[test]
fn weight_bits_scan_equals_the_general_loop() {
    let mut rng = Rng(9);
    for round in 0..400 {
        let len = 1 + (rng.next() % 300) as usize;
        let w: Vec<f32> = (0..len)
            .map(|_| {
                let bits = rng.next() as u32;
                match round % 4 {
                    // Any pattern: subnormals, zeros, infinities and NaNs included.
                    0 => f32::from_bits(bits),
                    // Normal or zero, no subnormal: the branch-free path alone.
                    1 => f32::from_bits(if bits & 0x7f80_0000 == 0 { bits & 0x8000_0000 } else { bits }),
                    // Exponents 120..=130 with short significands.
                    2 => f32::from_bits((bits & 0x8000_0000) | ((120 + bits % 11) << 23) | (bits >> 8 & 0x7f_ff00)),
                    // A few special values among ordinary weights.
                    _ if bits % 8 == 0 => [0.0, -0.0, f32::NEG_INFINITY, f32::NAN][(bits >> 3) as usize % 4],
                    _ => f32::from_bits((bits & 0x8000_0000) | (0x3c00_0000 + bits % 0x0800_0000)),
                }
            })
            .collect();
        assert_eq!(weight_bits(&w), weight_bits_general(&w), "round {round}: {w:?}");
    }
}

/// F(4×4) goes to layers with weights that round, at sizes where it saves multiply-adds more
/// than its larger weights cost; dyadic weights (the exact fixtures), bf16's own products and
/// calls of unknown size keep F(2×2).
#[test]
fn f4_goes_only_to_layers_that_round() {
    let mut rng = Rng(5);
    let dyadic = layer(&mut rng, 64, 64, 3, 1, 1);
    let rounding = rounding_layer(&mut rng, 64, 64, 3, 1, 1);
    assert!(weight_bits(&dyadic.weight) <= 8 && weight_bits(&rounding.weight) > 24);
    assert_eq!(winograd_tile(&rounding, Precision::F32, (1, 56, 56)), 4);
    assert_eq!(winograd_tile(&rounding, Precision::F32, (16, 24, 24)), 4);
    assert_eq!(winograd_tile(&dyadic, Precision::F32, (16, 56, 56)), 2);
    assert_eq!(winograd_tile(&rounding, Precision::F32, (0, 0, 0)), 2);
    // bf16's own products are F(2×2) only; without them bf16 and f16 weights are judged rounded,
    // so a run with them packs what an f32 run of the rounded values packs (tests/precision.rs).
    let bf16_products = super::super::winograd_bf16::available();
    assert_eq!(winograd_tile(&rounding, Precision::Bf16, (16, 56, 56)), if bf16_products { 2 } else { 4 });
    for p in [Precision::F16, Precision::Bf16] {
        let rounded = Conv { weight: super::super::precision::round("w", &rounding.weight, p).unwrap(), ..rounding.clone() };
        let want = if p == Precision::Bf16 && bf16_products { Some(2) } else { PackedConv::with_precision(&rounded, Precision::F32, "w", (16, 56, 56)).unwrap().winograd_tile() };
        assert_eq!(PackedConv::with_precision(&rounding, p, "w", (16, 56, 56)).unwrap().winograd_tile(), want, "{p:?}");
    }
    // 6×6: F(4×4)'s four tiles cover 8×8, as many multiply-adds as nine F(2×2) tiles.
    assert_eq!(winograd_tile(&rounding, Precision::F32, (1, 6, 6)), 2);
    assert_eq!(PackedConv::with_precision(&rounding, Precision::F32, "w", (1, 56, 56)).unwrap().winograd_tile(), Some(4));
    assert_eq!(PackedConv::with_precision(&dyadic, Precision::F32, "w", (1, 56, 56)).unwrap().winograd_tile(), Some(2));
}

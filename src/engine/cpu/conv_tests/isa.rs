//! The AVX-512 builds of the CPU kernels against their AVX2 builds (and the portable code) on
//! weights that round, where only the same operations in the same order give the same bits: the
//! spike kernel's row adds, the dense kernel's tiles, the strip kernel and the Winograd
//! products' tiles. Skipped on
//! a CPU without AVX-512F (or with `SPIKESTREAM_CPU_ISA=avx2`).

use super::super::conv::{ConvScratch, Mode, PackedConv, Ran, conv_with};
use super::super::conv_dense::{MR, gemm_tile16_isa, gemm_tiles16};
use super::{Kind, Rng, input, rounding_layer};
use crate::model::graph::Shape;

/// The spike kernel's AVX-512 build against its AVX2 build and the portable code on weights
/// that round (24-bit random mantissas, so any change in the order of the adds shows): all three
/// must give the same bits. Shapes: several tiles and samples, partial 64-lane blocks, 32-, 16-
/// and 8-lane blocks, 1×1, 5×5 and strided kernels, no padding.
#[test]
fn spike_kernel_avx512_equals_avx2_bit_for_bit() {
    if !super::super::conv_spikes_avx512::enabled() {
        eprintln!("spike_kernel_avx512_equals_avx2_bit_for_bit: skipped, this CPU has no AVX-512F (or SPIKESTREAM_CPU_ISA=avx2)");
        return;
    }
    let cases = [(64, 128, 48, 3, 1, 1, 1), (256, 100, 24, 3, 1, 1, 2), (512, 72, 12, 3, 1, 1, 1), (32, 20, 17, 3, 1, 1, 2), (16, 10, 9, 3, 2, 1, 2), (24, 5, 13, 3, 2, 0, 1), (32, 40, 11, 1, 1, 0, 2), (8, 16, 9, 5, 2, 2, 1)];
    for (ci, co, hw, k, stride, pad, batch) in cases {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (ci * 131 + co * 17 + k) as u64);
        let c = rounding_layer(&mut rng, ci, co, k, stride, pad);
        let (si, o) = (Shape::new(ci, hw, hw), (hw + 2 * pad - k) / stride + 1);
        let so = Shape::new(co, o, o);
        let packed = PackedConv::new(&c);
        let scale: Vec<f32> = (0..batch).map(|b| 0.3 + b as f32 * 0.7).collect();
        for d in [0.05, 0.2, 0.5] {
            let x = input(&mut rng, batch * si.len(), Kind::Spikes(d));
            let mut scratch = ConvScratch::default();
            let outs: Vec<Vec<f32>> = [Mode::NoWinograd, Mode::Avx2, Mode::Portable]
                .into_iter()
                .map(|m| {
                    let mut got = vec![f32::NAN; batch * so.len()];
                    assert_eq!(conv_with(&x, &mut got, si, so, &packed, &scale, &mut scratch, m), Ran::Spikes, "{ci}→{co} k{k} s{stride} at {d}, {m:?}");
                    got
                })
                .collect();
            for (m, got) in [Mode::Avx2, Mode::Portable].iter().zip(&outs[1..]) {
                let bad = outs[0].iter().zip(got).position(|(a, b)| a.to_bits() != b.to_bits());
                assert!(bad.is_none(), "{ci}→{co} k{k} s{stride} p{pad} {hw}×{hw} batch {batch} at {d}: AVX-512 differs from {m:?} at index {bad:?}");
            }
        }
    }
}

/// The strip kernel's AVX-512 build by window masks (`conv_strip_avx512`) against its AVX2 build
/// (lists of non-zeros), on weights and input values that round (negative ones and −0 among
/// them): the same bits. Shapes: an ImageNet stem, 3×3 on 2 channels, 5×5 stride 2 without
/// padding into 20 lanes, a partial second block, 11×11 stride 4, batches; and two that the
/// masks do not take (8-lane blocks, a 9×9 row of 63 values), which must still run.
#[test]
fn strip_masks_equal_the_strip_lists_bit_for_bit() {
    if !(super::super::conv_spikes_avx512::enabled() && super::super::conv_spikes_avx512::vbmi2()) {
        eprintln!("strip_masks_equal_the_strip_lists_bit_for_bit: skipped, this CPU has no AVX-512 VBMI2 (or SPIKESTREAM_CPU_ISA=avx2)");
        return;
    }
    let cases = [(3, 64, 23, 7, 2, 3, 1), (2, 64, 16, 3, 1, 1, 2), (1, 20, 9, 5, 2, 0, 2), (2, 100, 13, 3, 1, 1, 1), (6, 16, 7, 3, 2, 1, 3), (1, 64, 30, 11, 4, 2, 1), (4, 8, 10, 1, 1, 0, 1), (7, 40, 12, 9, 1, 4, 1)];
    for (ci, co, hw, k, stride, pad, batch) in cases {
        let mut rng = Rng(0x51ed_2701_a5c3_96b1 ^ (ci * 97 + co * 13 + k) as u64);
        let c = rounding_layer(&mut rng, ci, co, k, stride, pad);
        let (si, o) = (Shape::new(ci, hw, hw), (hw + 2 * pad - k) / stride + 1);
        let so = Shape::new(co, o, o);
        let packed = PackedConv::new(&c);
        let scale: Vec<f32> = (0..batch).map(|b| 0.6 + b as f32 * 0.3).collect();
        for d in [0.02, 0.06] {
            let mut x = input(&mut rng, batch * si.len(), Kind::Counts(d));
            for (i, v) in x.iter_mut().enumerate() {
                if *v != 0.0 {
                    *v = if i % 11 == 0 { -0.0 } else { rng.rounding(2.0) - 1.0 };
                }
            }
            let outs: Vec<Vec<f32>> = [Mode::NoWinograd, Mode::Avx2]
                .into_iter()
                .map(|m| {
                    let mut got = vec![f32::NAN; batch * so.len()];
                    assert_eq!(conv_with(&x, &mut got, si, so, &packed, &scale, &mut ConvScratch::default(), m), Ran::Strip, "{ci}→{co} k{k} s{stride} at {d}, {m:?}");
                    got
                })
                .collect();
            let bad = outs[0].iter().zip(&outs[1]).position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(bad.is_none(), "{ci}→{co} k{k} s{stride} p{pad} {hw}×{hw} batch {batch} at {d}: the masks differ from the lists at index {bad:?}");
        }
    }
}

/// The dense kernel's AVX-512 build (direct tiles on pooled inputs; the Winograd products'
/// tile) against its AVX2 build, on weights and values that round: the same bits.
#[test]
fn dense_kernels_avx512_equal_avx2_bit_for_bit() {
    if !super::super::conv_spikes_avx512::enabled() {
        eprintln!("dense_kernels_avx512_equal_avx2_bit_for_bit: skipped, this CPU has no AVX-512F (or SPIKESTREAM_CPU_ISA=avx2)");
        return;
    }
    // Blocks of 64 and 32 lanes (the paired tiles, with partial and empty second halves), 8 lanes,
    // and an ImageNet-style stem (3 channels, 7×7, stride 2).
    let cases = [(64, 72, 10, 3, 1, 1, 2), (20, 24, 6, 3, 1, 1, 1), (16, 8, 9, 3, 2, 1, 2), (32, 40, 7, 1, 1, 0, 1), (8, 48, 8, 3, 2, 1, 1), (3, 64, 15, 7, 2, 3, 1)];
    for (ci, co, hw, k, stride, pad, batch) in cases {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (ci * 31 + co) as u64);
        let c = rounding_layer(&mut rng, ci, co, k, stride, pad);
        let (si, o) = (Shape::new(ci, hw, hw), (hw + 2 * pad - k) / stride + 1);
        let so = Shape::new(co, o, o);
        let (packed, scale) = (PackedConv::new(&c), vec![0.75; batch]);
        let x = input(&mut rng, batch * si.len(), Kind::Pooled(0.8));
        let outs: Vec<Vec<f32>> = [Mode::NoWinograd, Mode::Avx2]
            .into_iter()
            .map(|m| {
                let mut got = vec![f32::NAN; batch * so.len()];
                assert_eq!(conv_with(&x, &mut got, si, so, &packed, &scale, &mut ConvScratch::default(), m), Ran::SparseOrDense, "{ci}→{co} {m:?}");
                got
            })
            .collect();
        let bad = outs[0].iter().zip(&outs[1]).position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(bad.is_none(), "{ci}→{co} k{k} s{stride} {hw}×{hw}: the AVX-512 dense tiles differ from AVX2 at {bad:?}");
        // The same layer on sparse counts takes the strip kernel where it has fewer than 8
        // channels: its AVX-512 build against its AVX2 build.
        if ci < 8 {
            let x = input(&mut rng, batch * si.len(), Kind::Counts(0.05));
            let run = |m: Mode, x: &[f32]| {
                let mut got = vec![f32::NAN; batch * so.len()];
                let ran = conv_with(x, &mut got, si, so, &packed, &scale, &mut ConvScratch::default(), m);
                (ran, got)
            };
            let ((r512, wide), (r2, narrow)) = (run(Mode::NoWinograd, &x), run(Mode::Avx2, &x));
            assert!(r512 == Ran::Strip && r2 == Ran::Strip, "{ci}→{co}: {r512:?} {r2:?}");
            assert!(wide.iter().zip(&narrow).all(|(a, b)| a.to_bits() == b.to_bits()), "{ci}→{co} k{k}: the AVX-512 strip kernel differs from AVX2");
        }
    }
    let same = |x: &[[f32; 16]; MR], y: &[[f32; 16]; MR]| x.iter().flatten().zip(y.iter().flatten()).all(|(p, q)| p.to_bits() == q.to_bits());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for ci in [8, 64, 256] {
        let mut float = || rng.rounding(1.7);
        let (a, b): (Vec<f32>, Vec<f32>) = ((0..ci * MR).map(|_| float()).collect(), (0..ci * 16).map(|_| float()).collect());
        let b2: Vec<f32> = (0..ci * 16).map(|_| float()).collect();
        let [wide, narrow] = [true, false].map(|avx512| gemm_tile16_isa(&a, ci, &b, avx512));
        assert!(same(&wide, &narrow), "Winograd tile, ci {ci}: AVX-512 differs from AVX2");
        let mut pair = [[[f32::NAN; 16]; MR]; 2];
        gemm_tiles16(&a, ci, [&b, &b2], &mut pair, &b2);
        assert!(same(&pair[0], &narrow) && same(&pair[1], &gemm_tile16_isa(&a, ci, &b2, false)), "Winograd tile pair, ci {ci}: AVX-512 differs from AVX2");
        let bs: Vec<Vec<f32>> = (0..2).map(|_| (0..ci * 16).map(|_| float()).collect()).collect();
        let mut quad = [[[f32::NAN; 16]; MR]; 4];
        gemm_tiles16(&a, ci, [&b, &b2, &bs[0], &bs[1]], &mut quad, &b2);
        for (q, bq) in [&b, &b2, &bs[0], &bs[1]].into_iter().enumerate() {
            assert!(same(&quad[q], &gemm_tile16_isa(&a, ci, bq, false)), "Winograd tile quad, ci {ci}, panel {q}: AVX-512 differs from AVX2");
        }
    }
}

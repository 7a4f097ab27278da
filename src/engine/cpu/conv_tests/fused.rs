//! The neuron layer a conv runs in place ([`super::super::conv_store::Fused`]) against the
//! conv followed by the separate neuron pass ([`super::super::kernels::neuron_step`] and
//! `neuron_step_each`): the same outputs, membranes and spike counts, bit for bit, after every
//! kernel the conv can choose (its bias alone on a silent input, Winograd F(2×2) and F(4×4)
//! whole and in parts of the batch, the spike kernel, the strip kernel, the sparse and dense
//! ones, the portable code), for spiking, counting and non-spiking kinds and per-neuron rules.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::super::conv::{ConvScratch, Fused, Mode, PackedConv, Ran, conv_mode, conv_with};
use super::super::kernels::{neuron_step, neuron_step_each};
use super::super::pool::avg_pool;
use super::{Kind, Rng, input, layer};
use crate::model::graph::{Pool, Shape};
use crate::model::neuron::{Fire, NeuronKind, Reset, Rule};

/// The neuron layers tried after every conv: kind, and per-neuron kinds (cycled) or none.
fn layers() -> Vec<(NeuronKind, Option<Vec<NeuronKind>>)> {
    let legacy = NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 };
    let lif = NeuronKind::Lif { tau: 2.0, v_th: 0.5, reset: Reset::Soft, decay_input: true };
    let count = NeuronKind::Leaky { beta: 1.0, v_th: 0.5, fire: Fire::Count, reset: Reset::SoftFloor };
    let leaky = NeuronKind::Leaky { beta: 0.5, v_th: 0.75, fire: Fire::Above, reset: Reset::Hard(0.0) };
    vec![(legacy.clone(), None), (lif.clone(), None), (count, None), (NeuronKind::Integrator, None), (lif, Some(vec![legacy, leaky, NeuronKind::If { v_th: 1.0, reset: Reset::Soft }]))]
}

/// One conv geometry through `mode` (Winograd tile `tile` where it takes Winograd), then each
/// neuron layer of [`layers`] fused and separate; returns the kernel that ran.
#[allow(clippy::too_many_arguments)]
fn check(ci: usize, co: usize, hw: usize, k: usize, pad: usize, batch: usize, kind: Kind, mode: Mode, tile: usize) -> (Ran, bool) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (ci * 131 + co * 17 + hw) as u64);
    let c = layer(&mut rng, ci, co, k, 1, pad);
    let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw + 2 * pad + 1 - k, hw + 2 * pad + 1 - k));
    let x = input(&mut rng, batch * si.len(), kind);
    let scale: Vec<f32> = (0..batch).map(|b| [1.0, 0.5, 2.0][b % 3]).collect();
    let packed = PackedConv::with_winograd_tile(&c, tile);
    let mut scratch = ConvScratch::default();
    let mut conv_out = vec![f32::NAN; batch * so.len()];
    let ran = conv_with(&x, &mut conv_out, si, so, &packed, &scale, &mut scratch, mode);
    let plane = so.len();
    let mut pooled = false;
    for (n, (nk, each)) in layers().into_iter().enumerate() {
        let rules: Option<Vec<Rule>> = each.map(|kinds| (0..plane).map(|i| kinds[i % kinds.len()].rule()).collect());
        let mem0: Vec<f32> = (0..batch * plane).map(|_| rng.dyadic() * 1.5).collect();
        let mem_start = mem0.clone();
        // The separate pass.
        let (mut want_mem, mut want) = (mem0.clone(), vec![f32::NAN; batch * plane]);
        let want_counts: Vec<u64> = (0..batch)
            .map(|b| {
                let (m, x, o) = (&mut want_mem[b * plane..][..plane], &conv_out[b * plane..][..plane], &mut want[b * plane..][..plane]);
                match &rules {
                    None => neuron_step(&nk, m, x, o),
                    Some(r) => neuron_step_each(r, nk.spikes(), m, x, o),
                }
            })
            .collect();
        // Fused.
        let (mut mem, mut got) = (mem0, vec![f32::NAN; batch * plane]);
        let counts: Vec<AtomicU64> = (0..batch).map(|_| AtomicU64::new(0)).collect();
        let fused = Fused::new(&nk, rules.as_deref(), &mut mem, plane, &counts);
        assert_eq!(conv_mode(&x, &mut got, si, so, &packed, &scale, &mut scratch, mode, Some(&fused)), ran);
        let what = format!("{ci}→{co} {hw}×{hw} k{k} batch {batch} {kind:?} {mode:?} F({tile}) ({ran:?}), layer {n} {}", nk.name());
        for (i, ((w, g), (wm, gm))) in want.iter().zip(&got).zip(want_mem.iter().zip(&mem)).enumerate() {
            assert!(w.to_bits() == g.to_bits() && wm.to_bits() == gm.to_bits(), "{what}: neuron {i}: output {w} / {g}, membrane {wm} / {gm}");
        }
        let counts: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, want_counts, "{what}: spike counts");
        // The same with a 2×2 average pool after the layer (run by the pass where the kernel
        // takes one, else by the caller, as the backend does).
        let pool = Pool { kernel: 2, stride: 2, padding: 0, count_include_pad: true };
        let sp = Shape::new(co, so.h / 2, so.w / 2);
        let mut want_pool = vec![f32::NAN; batch * sp.len()];
        avg_pool(&want, &mut want_pool, batch, so, sp, &pool);
        let (mut mem, mut got, mut got_pool) = (mem_start.clone(), vec![f32::NAN; batch * plane], vec![f32::NAN; batch * sp.len()]);
        let (counts, done) = ((0..batch).map(|_| AtomicU64::new(0)).collect::<Vec<_>>(), AtomicBool::new(false));
        let fused = Fused::new(&nk, rules.as_deref(), &mut mem, plane, &counts).with_pool(&pool, so, sp, &mut got_pool, &done);
        conv_mode(&x, &mut got, si, so, &packed, &scale, &mut scratch, mode, Some(&fused));
        if !done.load(Ordering::Relaxed) {
            avg_pool(&got, &mut got_pool, batch, so, sp, &pool);
        }
        pooled |= done.load(Ordering::Relaxed);
        assert!(want.iter().zip(&got).all(|(w, g)| w.to_bits() == g.to_bits()), "{what}, pooled: outputs");
        for (i, (w, g)) in want_pool.iter().zip(&got_pool).enumerate() {
            assert_eq!(w.to_bits(), g.to_bits(), "{what}: pooled value {i}: {w} / {g}");
        }
        assert!(want_counts.iter().any(|&n| n > 0) || !nk.spikes() || ran == Ran::Silent, "{what}: no spikes to compare");
    }
    (ran, pooled)
}

#[test]
fn fused_neurons_equal_the_separate_pass() {
    let ran = vec![
        check(16, 24, 9, 3, 1, 2, Kind::Spikes(0.0), Mode::Auto, 2),
        check(64, 72, 10, 3, 1, 2, Kind::Spikes(0.2), Mode::Auto, 2),
        // One sample of 147 456 neurons: in pieces (`NEURON_PIECE`) where there are threads to spare.
        check(64, 64, 48, 3, 1, 1, Kind::Spikes(0.1), Mode::Auto, 2),
        check(24, 40, 9, 3, 1, 3, Kind::Pooled(0.25), Mode::Winograd, 2),
        check(24, 40, 13, 3, 1, 3, Kind::Pooled(0.25), Mode::Winograd, 4),
        // A batch of 7 in parts of 5 and 2 (`SUB_BYTES`), each part's samples numbered from 0.
        check(16, 16, 48, 3, 1, 7, Kind::Pooled(0.3), Mode::Winograd, 2),
        check(2, 64, 20, 3, 1, 2, Kind::Counts(0.05), Mode::Auto, 2),
        check(40, 13, 6, 1, 0, 2, Kind::Pooled(0.5), Mode::NoStrip, 2),
        check(24, 40, 9, 3, 1, 2, Kind::Pooled(0.05), Mode::NoStrip, 2),
        check(17, 10, 7, 3, 1, 3, Kind::Spikes(0.3), Mode::Portable, 2),
    ];
    // The pass pooled after every kernel but Winograd and the silent input's bias.
    for (kernel, pooled) in &ran {
        assert_eq!(*pooled, !matches!(kernel, Ran::Winograd | Ran::Silent), "{kernel:?}");
    }
    let mut ran: Vec<Ran> = ran.into_iter().map(|r| r.0).collect();
    ran.dedup();
    for kernel in [Ran::Silent, Ran::Spikes, Ran::Winograd, Ran::Strip, Ran::SparseOrDense] {
        assert!(ran.contains(&kernel), "no case ran {kernel:?}: {ran:?}");
    }
}

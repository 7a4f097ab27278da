//! Timings of the CPU kernels, run by hand (every test here is ignored): the rates behind the
//! kernel choice's cost model (`conv_rates`), the weight formats side by side (`precision_rates`),
//! what each layer loses to memory (`flush_rates`), where the strip kernel stops paying
//! (`strip_rates`), the dense kernel's multiply-adds per second (`dense_rates`) and the cost of
//! packing a trainer's layers (`pack_rates`).

use super::super::conv::{ConvScratch, Mode, PackedConv, conv_with};
use super::{Kind, Rng, input, layer, rounding_layer};
use crate::model::graph::Shape;

/// Milliseconds per call of each kernel on vgg11_48_legacy's spike layers at several
/// densities (best of 100 calls, or of 100 / batch, at least 8; caches flushed between calls as in a whole network whose
/// weights exceed the L3), for the cost model in `winograd_pays`:
/// `RAYON_NUM_THREADS=1 taskset -c 0 cargo test --release --lib conv_rates -- --ignored --nocapture`
/// (`CONV_RATES_BATCH` sets the batch).
#[test]
#[ignore]
fn conv_rates() {
    use std::time::Instant;
    let batch: usize = std::env::var("CONV_RATES_BATCH").ok().and_then(|b| b.parse().ok()).unwrap_or(1);
    let mut junk = vec![0u8; 64 << 20];
    for (ci, co, hw) in [(64, 128, 48), (256, 256, 24), (512, 512, 12), (512, 512, 6)] {
        let mut rng = Rng(7);
        let c = layer(&mut rng, ci, co, 3, 1, 1);
        let p = PackedConv::new(&c);
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let mut out = vec![0.0; batch * so.len()];
        let mut scratch = ConvScratch::default();
        let mut line = format!("{ci}→{co} {hw}×{hw} batch {batch}:");
        for d in [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4] {
            let x = input(&mut rng, batch * si.len(), Kind::Spikes(d));
            let mut time = |mode| {
                (0..(100 / batch).max(8))
                    .map(|i| {
                        junk.iter_mut().step_by(64).for_each(|j| *j = j.wrapping_add(i as u8));
                        let t = Instant::now();
                        conv_with(&x, &mut out, si, so, &p, &vec![1.0; batch], &mut scratch, mode);
                        t.elapsed().as_secs_f64() * 1e3
                    })
                    .fold(f64::MAX, f64::min)
            };
            let (s, w) = (time(Mode::NoWinograd), time(Mode::Winograd));
            line += &format!(" {d}: {s:.2} / {w:.2}");
        }
        println!("{line} (ms: spikes / Winograd)");
    }
}

/// Milliseconds per call of every conv layer of vgg11_48_legacy (full width, 15 % spikes, or
/// their 2×2 average for the pooled layers) with f32, bf16 and f16 weights ([`super::super::precision`]),
/// the three alternated call by call so a busy machine slows them alike; caches flushed between
/// calls as in a whole network; min and median of 40 calls each:
/// `RAYON_NUM_THREADS=1 taskset -c 1 cargo test --release --features train --lib precision_rates -- --ignored --nocapture`
/// (`CONV_RATES_BATCH` sets the batch).
#[test]
#[ignore]
fn precision_rates() {
    use super::super::precision::Precision;
    use std::time::Instant;
    let batch: usize = std::env::var("CONV_RATES_BATCH").ok().and_then(|b| b.parse().ok()).unwrap_or(1);
    let mut junk = vec![0u8; 64 << 20];
    let layers = [(2, 64, 48, Kind::Counts(0.1)), (64, 128, 48, Kind::Spikes(0.15)), (128, 256, 24, Kind::Pooled(0.15)), (256, 256, 24, Kind::Spikes(0.15)), (256, 512, 12, Kind::Pooled(0.15)), (512, 512, 12, Kind::Spikes(0.15)), (512, 512, 6, Kind::Pooled(0.15)), (512, 512, 6, Kind::Spikes(0.15))];
    for (ci, co, hw, kind) in layers {
        let mut rng = Rng(11);
        let mut c = layer(&mut rng, ci, co, 3, 1, 1);
        c.weight.iter_mut().for_each(|v| *v = (rng.next() >> 40) as f32 / (1 << 24) as f32 - 0.5);
        let packed = [Precision::F32, Precision::Bf16, Precision::F16].map(|p| PackedConv::with_precision(&c, p, "w", (0, 0, 0)).unwrap());
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, batch * si.len(), kind);
        let (mut out, mut scratch, scale) = (vec![0.0; batch * so.len()], ConvScratch::default(), vec![1.0; batch]);
        let mut ms = [(); 3].map(|_| Vec::new());
        for i in 0..40 {
            for (p, times) in packed.iter().zip(&mut ms) {
                junk.iter_mut().step_by(64).for_each(|j| *j = j.wrapping_add(i as u8));
                let t = Instant::now();
                conv_with(&x, &mut out, si, so, p, &scale, &mut scratch, Mode::Auto);
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let text: Vec<String> = ms.iter_mut().map(|t| {
            t.sort_by(f64::total_cmp);
            format!("{:.3} / {:.3}", t[0], t[t.len() / 2])
        }).collect();
        println!("{ci}→{co} {hw}×{hw} {kind:?} batch {batch}: f32 {} | bf16 {} | f16 {} (ms, min / median)", text[0], text[1], text[2]);
    }
}

/// Milliseconds per call of vgg11_48_legacy's 3×3 layers at batch 1 (full width, 15 % spikes or
/// their 2×2 average) in each kernel choice, with the caches flushed between calls (`cold`, as
/// in a whole network, whose weights exceed the L3) and without (`hot`): what a layer loses to
/// memory. Min / median of 30 calls:
/// `RAYON_NUM_THREADS=1 taskset -c 1 cargo test --release --features train --lib flush_rates -- --ignored --nocapture`
#[test]
#[ignore]
fn flush_rates() {
    use std::time::Instant;
    let mut junk = vec![0u8; 64 << 20];
    let layers = [(64, 128, 48, Kind::Spikes(0.15)), (128, 256, 24, Kind::Pooled(0.15)), (256, 256, 24, Kind::Spikes(0.15)), (256, 512, 12, Kind::Pooled(0.15)), (512, 512, 12, Kind::Spikes(0.15)), (512, 512, 6, Kind::Pooled(0.15)), (512, 512, 6, Kind::Spikes(0.15))];
    for (ci, co, hw, kind) in layers {
        let mut rng = Rng(11);
        let mut c = layer(&mut rng, ci, co, 3, 1, 1);
        c.weight.iter_mut().for_each(|v| *v = (rng.next() >> 40) as f32 / (1 << 24) as f32 - 0.5);
        let p = PackedConv::new(&c);
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, si.len(), kind);
        let (mut out, mut scratch, scale) = (vec![0.0; so.len()], ConvScratch::default(), vec![1.0; 1]);
        let mut line = format!("{ci}→{co} {hw}×{hw} {kind:?}:");
        for mode in [Mode::Auto, Mode::Winograd, Mode::NoWinograd] {
            for cold in [true, false] {
                let mut ms: Vec<f64> = (0..30)
                    .map(|i| {
                        if cold {
                            junk.iter_mut().step_by(64).for_each(|j| *j = j.wrapping_add(i as u8));
                        }
                        let t = Instant::now();
                        conv_with(&x, &mut out, si, so, &p, &scale, &mut scratch, mode);
                        t.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                ms.sort_by(f64::total_cmp);
                line += &format!(" {mode:?} {}: {:.3} / {:.3}", if cold { "cold" } else { "hot" }, ms[0], ms[15]);
            }
        }
        println!("{line}");
    }
}

/// Milliseconds per call of the strip kernel against the dense kernel on first layers (event
/// counts of 2 channels at 48×48 and 128×128, 3×3; an ImageNet stem of 3 channels, 7×7 stride 2
/// at 224×224) at several densities, batch 1, alternated call by call, caches flushed between calls as in a
/// whole network; min / median of 20:
/// `RAYON_NUM_THREADS=1 taskset -c 1 cargo test --release --features train --lib strip_rates -- --ignored --nocapture`
#[test]
#[ignore]
fn strip_rates() {
    let mut junk = vec![0u8; 64 << 20];
    for (ci, co, hw, k, stride, pad) in [(2, 64, 48, 3, 1, 1), (2, 64, 128, 3, 1, 1), (3, 64, 224, 7, 2, 3)] {
        let mut rng = Rng(3);
        let c = layer(&mut rng, ci, co, k, stride, pad);
        let p = PackedConv::new(&c);
        let o = (hw + 2 * pad - k) / stride + 1;
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, o, o));
        let (mut out, mut scratch) = (vec![0.0; so.len()], ConvScratch::default());
        let mut line = format!("{ci}→{co} {hw}×{hw} k{k} s{stride}:");
        for d in [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5] {
            let x = input(&mut rng, si.len(), Kind::Counts(d));
            let modes = [Mode::NoWinograd, Mode::NoStrip];
            let [s, dn] = alternated::<2>(&mut junk, 20, |k| {
                conv_with(&x, &mut out, si, so, &p, &[1.0], &mut scratch, modes[k]);
            });
            line += &format!(" {d}: {:.3}/{:.3} vs {:.3}/{:.3}", s.0, s.1, dn.0, dn.1);
        }
        println!("{line} (ms, strip (below its threshold) vs dense)");
    }
}

/// Milliseconds per call of Winograd F(2×2) against F(4×4) ([`super::super::winograd_f4`]) on
/// the pooled layers of vgg11_48_legacy and sew_resnet18's wide ones (weights that round, 15 %
/// spikes averaged 2×2, or {0, 1, 2} sums), the two alternated call by call, caches flushed
/// before every call as in a whole network; min / median of 20, at the batch of
/// `CONV_RATES_BATCH` (1):
/// `RAYON_NUM_THREADS=1 taskset -c 1 cargo test --release --features train --lib tile_rates -- --ignored --nocapture`
#[test]
#[ignore]
fn tile_rates() {
    use super::rounding_layer;
    let batch: usize = std::env::var("CONV_RATES_BATCH").ok().and_then(|b| b.parse().ok()).unwrap_or(1);
    let mut junk = vec![0u8; 64 << 20];
    let layers = [(128, 256, 24, Kind::Pooled(0.15)), (256, 512, 12, Kind::Pooled(0.15)), (512, 512, 6, Kind::Pooled(0.15)), (64, 64, 56, Kind::Counts(0.3)), (128, 128, 28, Kind::Counts(0.3)), (256, 256, 14, Kind::Counts(0.3))];
    for (ci, co, hw, kind) in layers {
        let mut rng = Rng(13);
        let c = rounding_layer(&mut rng, ci, co, 3, 1, 1);
        let packed = [2, 4].map(|t| PackedConv::with_winograd_tile(&c, t));
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, hw, hw));
        let x = input(&mut rng, batch * si.len(), kind);
        let (mut out, mut scratch, scale) = (vec![0.0; batch * so.len()], ConvScratch::default(), vec![1.0; batch]);
        let [a, b] = alternated::<2>(&mut junk, 20, |k| {
            conv_with(&x, &mut out, si, so, &packed[k], &scale, &mut scratch, Mode::Winograd);
        });
        println!("{ci}→{co} {hw}×{hw} batch {batch}: F(2×2) {:.3} / {:.3}, F(4×4) {:.3} / {:.3} ms", a.0, a.1, b.0, b.1);
    }
}

/// (min, median) milliseconds of `call(k)` for each `k < N`, `rounds` calls each, alternated call
/// by call so a busy machine slows them alike, the caches flushed (by writing `junk`) before
/// every call as in a whole network whose weights exceed the L3.
fn alternated<const N: usize>(junk: &mut [u8], rounds: usize, mut call: impl FnMut(usize)) -> [(f64, f64); N] {
    use std::time::Instant;
    let mut ms: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for i in 0..rounds {
        for (k, times) in ms.iter_mut().enumerate() {
            junk.iter_mut().step_by(64).for_each(|j| *j = j.wrapping_add(i as u8));
            let t = Instant::now();
            call(k);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms.map(|mut t| {
        t.sort_by(f64::total_cmp);
        (t[0], t[t.len() / 2])
    })
}

/// Milliseconds per call and multiply-adds per second of the dense kernel on sew_resnet18's
/// stride-2 layers (3×3 and the 1×1 downsample; inputs mostly non-zero, as its SEW sums are),
/// best of 10 calls, caches not flushed, at the batch of `CONV_RATES_BATCH` (16):
/// `RAYON_NUM_THREADS=1 taskset -c 1 cargo test --release --features train --lib dense_rates -- --ignored --nocapture`
#[test]
#[ignore]
fn dense_rates() {
    use std::time::Instant;
    let batch: usize = std::env::var("CONV_RATES_BATCH").ok().and_then(|b| b.parse().ok()).unwrap_or(16);
    for (ci, co, hw, k, s, pad) in [(64, 128, 56, 3, 2, 1), (128, 256, 28, 3, 2, 1), (256, 512, 14, 3, 2, 1), (64, 128, 56, 1, 2, 0)] {
        let mut rng = Rng(5);
        let c = layer(&mut rng, ci, co, k, s, pad);
        let p = PackedConv::new(&c);
        let o = (hw + 2 * pad - k) / s + 1;
        let (si, so) = (Shape::new(ci, hw, hw), Shape::new(co, o, o));
        let x = input(&mut rng, batch * si.len(), Kind::Pooled(0.5));
        let mut out = vec![0.0; batch * so.len()];
        let mut scratch = ConvScratch::default();
        let mut best = f64::MAX;
        for _ in 0..10 {
            let t = Instant::now();
            conv_with(&x, &mut out, si, so, &p, &vec![1.0; batch], &mut scratch, Mode::NoWinograd);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let macs = (batch * so.h * so.w * co * ci * k * k) as f64;
        println!("{ci}->{co} {hw} k{k} s{s} b{batch}: {best:.3} ms, {:.1} GMAC/s", macs / best / 1e6);
    }
}

/// Milliseconds to pack the weights of a width/8 vgg11_48_legacy's 3×3 layers as the trainer
/// does twice per step (the forward layers and their flipped input-gradient layers, for calls
/// of T·B = 128 samples, so the Winograd layers pack their transformed weights too), best of
/// 20 (`PACK_ROUNDS`): `RAYON_NUM_THREADS=2 cargo test --release --features train --lib pack_rates -- --ignored --nocapture`
#[test]
#[ignore]
fn pack_rates() {
    use super::super::precision::Precision;
    use std::time::Instant;
    let layers = [(2, 8, 48), (8, 16, 48), (16, 32, 24), (32, 32, 24), (32, 64, 12), (64, 64, 12), (64, 64, 6), (64, 64, 6)];
    let mut rng = Rng(3);
    // Each layer and its flipped twin (channels swapped), as in a training step.
    // Weights that round (as trained ones do), so that layers take F(4×4) where it pays.
    let convs: Vec<_> = layers.iter().flat_map(|&(ci, co, hw)| [(rounding_layer(&mut rng, ci, co, 3, 1, 1), hw), (rounding_layer(&mut rng, co, ci, 3, 1, 1), hw)]).collect();
    let mut best = f64::MAX;
    let rounds = std::env::var("PACK_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    for _ in 0..rounds {
        let t = Instant::now();
        for (c, hw) in &convs {
            std::hint::black_box(PackedConv::with_precision(c, Precision::F32, "w", (128, *hw, *hw)).expect("f32"));
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("packing {} layers: {best:.3} ms", convs.len());
}

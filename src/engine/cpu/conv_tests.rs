//! The fast convolution ([`super::conv`]) against the specification
//! ([`super::kernels::conv_scatter`]) on seeded dyadic inputs, where every sum is exact in any
//! order so both must agree bit for bit: spikes (sparse kernel, or Winograd where dense enough),
//! average-pooled spikes (Winograd for 3×3 stride 1, else the dense kernel), event counts, several geometries and channel counts that are no multiple of 8.

use super::conv::{ConvScratch, PackedConv, conv};
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

#[allow(clippy::too_many_arguments)]
fn check(ci: usize, co: usize, hw: usize, k: usize, stride: usize, pad: usize, batch: usize, kind: Kind) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (ci * 31 + co * 7 + k) as u64);
    let c = Conv {
        in_ch: ci,
        out_ch: co,
        kernel: k,
        stride,
        padding: pad,
        weight: (0..co * ci * k * k).map(|_| rng.dyadic()).collect(),
        bias: (0..co).map(|_| rng.dyadic()).collect(),
        time_scale: None,
    };
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
    let mut got = vec![f32::NAN; batch * so.len()];
    conv(&x, &mut got, si, so, &PackedConv::new(&c), &scale, &mut ConvScratch::default());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(w.to_bits() == g.to_bits() || (*w == 0.0 && *g == 0.0), "{ci}→{co} k{k} s{stride} {kind:?}: index {i}: expected {w}, got {g}");
    }
}

#[test]
fn sparse_kernel_equals_the_specification_on_spikes() {
    check(64, 128, 12, 3, 1, 1, 2, Kind::Spikes(0.2));
    check(24, 40, 9, 3, 1, 1, 1, Kind::Spikes(0.25));
    check(17, 10, 7, 3, 2, 1, 3, Kind::Spikes(0.3));
    check(512, 24, 3, 3, 1, 1, 1, Kind::Spikes(0.03));
    check(64, 72, 10, 3, 1, 1, 2, Kind::Spikes(0.05));
}

#[test]
fn winograd_kernel_equals_the_specification() {
    check(64, 128, 12, 3, 1, 1, 2, Kind::Spikes(0.2));
    check(24, 40, 9, 3, 1, 1, 3, Kind::Pooled(0.25));
    check(512, 20, 3, 3, 1, 1, 1, Kind::Pooled(0.3));
    check(3, 16, 7, 3, 1, 1, 1, Kind::Counts(0.9));
}

#[test]
fn dense_kernel_equals_the_specification_on_pooled_spikes() {
    check(64, 128, 12, 3, 1, 1, 2, Kind::Pooled(0.3));
    check(32, 72, 5, 3, 1, 1, 1, Kind::Pooled(0.4));
    check(16, 8, 11, 7, 2, 3, 1, Kind::Pooled(0.5));
    check(40, 13, 6, 1, 1, 0, 2, Kind::Pooled(0.5));
    check(20, 24, 6, 3, 1, 1, 1, Kind::Pooled(0.5));
    check(512, 64, 3, 3, 1, 1, 1, Kind::Pooled(0.3));
}

#[test]
fn both_kernels_equal_the_specification_on_event_counts() {
    check(2, 64, 16, 3, 1, 1, 2, Kind::Counts(0.1));
    check(3, 16, 20, 7, 2, 3, 1, Kind::Counts(0.9));
}

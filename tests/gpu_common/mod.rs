//! What the GPU test files share: the one GPU context (lavapipe in CI; without an adapter the
//! tests say "skipped: no GPU adapter", except under CI, where they fail), seeded test data, and
//! named tolerances for comparing GPU values with the CPU backend's.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, OnceLock};

use spikestream::engine::gpu::{ConvMode, GpuBackend, GpuContext};
use spikestream::model::graph::Graph;

/// The shared device, or `None` (after saying so) when there is no adapter outside CI.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, (bool, String)>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| GpuContext::new().map_err(|e| (matches!(e, spikestream::gpu::GpuError::NoAdapter), e.to_string())));
    match ctx {
        Ok(ctx) => Some(ctx.clone()),
        Err((true, msg)) if std::env::var_os("CI").is_none() => {
            // Straight to stderr: libtest would swallow eprintln! of a passing test.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped: no GPU adapter ({msg})");
            None
        }
        Err((_, msg)) => panic!("GPU tests need an adapter (CI installs lavapipe with scripts/setup-lavapipe.sh): {msg}"),
    }
}

pub fn gpu_backend(ctx: &Arc<GpuContext>, graph: &Graph, batch: usize, mode: ConvMode) -> GpuBackend {
    GpuBackend::with_context(ctx.clone(), graph, batch, mode).unwrap_or_else(|e| panic!("GPU backend: {e}"))
}

/// SplitMix64: seeded, reproducible test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        spikestream::rng::splitmix64(&mut self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// A multiple of 1/16 in [-r, r]: sums of these are exact in f32.
    pub fn dyadic(&mut self, r: f32) -> f32 {
        let steps = (r * 16.0) as i64;
        (self.below(2 * steps as u64 + 1) as i64 - steps) as f32 / 16.0
    }
    pub fn vec(&mut self, n: usize, mut f: impl FnMut(&mut Self) -> f32) -> Vec<f32> {
        (0..n).map(|_| f(self)).collect()
    }
}

/// How close GPU values must be to the CPU's.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub name: &'static str,
    pub abs: f32,
    pub rel: f32,
}

/// Bit for bit (spikes, dyadic fixtures, same-order sums).
pub const EXACT: Tolerance = Tolerance { name: "exact", abs: 0.0, rel: 0.0 };
/// f32 sums in another order (random non-dyadic weights).
pub const REORDERED_SUM: Tolerance = Tolerance { name: "reordered f32 sum", abs: 1e-5, rel: 1e-5 };

#[track_caller]
pub fn assert_close(what: &str, expected: &[f32], got: &[f32], tol: Tolerance) {
    assert_eq!(expected.len(), got.len(), "{what}: length");
    for (i, (&e, &g)) in expected.iter().zip(got).enumerate() {
        let ok = if tol.abs == 0.0 && tol.rel == 0.0 { e.to_bits() == g.to_bits() } else { (e - g).abs() <= tol.abs + tol.rel * e.abs() };
        assert!(ok, "{what}: index {i}: expected {e:e} ({:#010x}), got {g:e} ({:#010x}), tolerance {}", e.to_bits(), g.to_bits(), tol.name);
    }
}

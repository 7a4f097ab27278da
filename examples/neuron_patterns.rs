//! The IMP-SNN paper's Observations 1 and 2, from the engine's own neuron rule: the spike train
//! of one neuron under a constant input `x` for T steps, starting from the initial membrane
//! potential `v0` (the IMP; 0 without IMP), over a grid of `v0` and `x`, for the neurons of the
//! shipped architectures. Each step is `NeuronKind::rule().step(&F32, v, x)`, the rule the CPU
//! kernel runs (and the specification the WGSL kernel is tested against).
//!
//! `cargo run --release --example neuron_patterns -- OUT.json [T]` writes, per neuron, the grids
//! and one T-bit spike pattern per (v0, x) cell (bit t = spike at step t + 1);
//! `scripts/neuron_patterns_plot.py OUT.json` draws the figures.

use spikestream::model::neuron::{F32, NeuronKind, Reset};
use std::path::PathBuf;

fn linspace(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n).map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32).collect()
}

/// The spike pattern of T steps of `kind` under constant `x` from membrane `v0`, as bits.
fn pattern(kind: &NeuronKind, v0: f32, x: f32, steps: usize) -> u32 {
    let rule = kind.rule();
    let (mut v, mut bits) = (v0, 0u32);
    for t in 0..steps {
        let (next, spike) = rule.step(&F32, v, x);
        v = next;
        if spike {
            bits |= 1 << t;
        }
    }
    bits
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: neuron_patterns OUT.json [T]")?);
    let steps: usize = match args.next() {
        Some(t) => t.parse().map_err(|_| format!("T = {t:?}: expected an integer 1..=16"))?,
        None => 8,
    };
    if !(1..=16).contains(&steps) {
        return Err(format!("T = {steps}: expected 1..=16").into());
    }
    let neurons = [
        ("IF (sew_resnet18): H = V + X, S = H >= 1, hard reset to 0", NeuronKind::If { v_th: 1.0, reset: Reset::Hard(0.0) }),
        ("legacy LIF (vgg11_48_legacy): H = 0.25 V + X, S = H > 1, reset to 0", NeuronKind::LegacyLif { decay: 0.25, v_th: 1.0 }),
        ("LIF tau = 2 (vgg11_dvs): H = V + (X - V)/2, S = H >= 1, hard reset to 0", NeuronKind::Lif { tau: 2.0, v_th: 1.0, reset: Reset::Hard(0.0), decay_input: true }),
    ];
    let v0s = linspace(-1.0, 1.0, 201);
    let xs = linspace(0.0, 2.0, 401);
    let mut list = Vec::new();
    for (label, kind) in &neurons {
        let grid: Vec<Vec<u32>> = v0s.iter().map(|&v0| xs.iter().map(|&x| pattern(kind, v0, x, steps)).collect()).collect();
        list.push(serde_json::json!({ "label": label, "kind": kind.name(), "patterns": grid }));
    }
    let doc = serde_json::json!({
        "generator": "cargo run --release --example neuron_patterns",
        "timesteps": steps,
        "v0": v0s,
        "x": xs,
        "bit_t_is_spike_at_step_t_plus_1": true,
        "neurons": list,
    });
    spikestream::output::write_atomic(&out, serde_json::to_string(&doc)?.as_bytes())?;
    println!("wrote {} ({} neurons, {} x {} cells, T = {steps})", out.display(), neurons.len(), v0s.len(), xs.len());
    Ok(())
}

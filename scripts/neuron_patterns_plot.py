#!/usr/bin/env python3
"""Figures for the IMP-SNN paper's Observations 1 and 2 from the engine's own neuron rule.

Reads the JSON that `cargo run --release --features train --example neuron_patterns -- OUT.json 8`
writes (one T-bit spike pattern per initial potential v0 and constant input x, for the IF,
legacy-LIF and LIF neurons) and writes to --out:
  neuron_patterns_obs1.png   spike trains under constant input, x on the vertical axis, for
                             v0 = 0 (no IMP) and some non-zero v0
  neuron_patterns_obs2.png   per (x, v0): spike count; hatched where the pattern is one that no
                             input reaches from v0 = 0
  neuron_patterns.md         how many of the 2^T patterns each neuron reaches, with and without IMP

Usage: .venv-plots/bin/python scripts/neuron_patterns_plot.py PATTERNS.json [--out experiments]
"""
import argparse
import json
import os

import numpy as np


def reachable(p, v0, lo, hi, T):
    """Distinct T-step patterns over all x for the v0 rows in [lo, hi]."""
    rows = p[(v0 >= lo - 1e-6) & (v0 <= hi + 1e-6)] & ((1 << T) - 1)
    return set(np.unique(rows).tolist())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("patterns")
    ap.add_argument("--out", default="experiments")
    a = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = json.load(open(a.patterns))
    T, v0, x = d["timesteps"], np.array(d["v0"]), np.array(d["x"])
    neurons = d["neurons"]
    shown = [0.0, -0.2, 0.2, 0.6]
    # Observation 1: spike trains under constant input.
    fig, axes = plt.subplots(len(neurons), len(shown), figsize=(2.3 * len(shown), 2.6 * len(neurons)), sharey=True)
    for i, n in enumerate(neurons):
        p = np.array(n["patterns"], dtype=np.int64)
        for j, v in enumerate(shown):
            row = p[np.argmin(np.abs(v0 - v))]
            bits = (row[:, None] >> np.arange(T)[None, :]) & 1
            ax = axes[i, j]
            ax.imshow(bits, aspect="auto", origin="lower", cmap="Greys", extent=(0.5, T + 0.5, x[0], x[-1]), interpolation="nearest")
            ax.set_xticks(range(1, T + 1))
            if i == 0:
                ax.set_title(f"v0 = {v:g}" + (" (no IMP)" if v == 0 else " (IMP)"), fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{n['kind']}\nconstant input x", fontsize=8)
            if i == len(neurons) - 1:
                ax.set_xlabel("timestep t")
    fig.suptitle("Observation 1: spike trains of one neuron under constant input (black = spike)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "neuron_patterns_obs1.png"), dpi=110)
    # Observation 2: which patterns need a non-zero initial potential.
    fig, axes = plt.subplots(1, len(neurons), figsize=(4.4 * len(neurons), 3.8))
    lines = [f"Spike patterns of T steps under a constant input x in [{x[0]:g}, {x[-1]:g}] ({len(x)} values), "
             f"from the engine's neuron rule (`examples/neuron_patterns.rs`); out of 2^T possible patterns:", "",
             "| neuron | T | 2^T | reached from v0 = 0 (no IMP) | v0 in [-0.2, 0.2] (IMP init range) | v0 in [-1, 1] |",
             "|---|---|---|---|---|---|"]
    for i, n in enumerate(neurons):
        p = np.array(n["patterns"], dtype=np.int64)
        zero = reachable(p, v0, 0.0, 0.0, T)
        count = np.vectorize(lambda b: bin(b).count("1"))(p)
        new = ~np.isin(p, list(zero))
        ax = axes[i]
        im = ax.imshow(count, aspect="auto", origin="lower", cmap="viridis", extent=(x[0], x[-1], v0[0], v0[-1]), interpolation="nearest")
        ax.contourf(x, v0, new.astype(float), levels=[0.5, 1.5], colors="none", hatches=["////"])
        ax.axhline(0, color="red", lw=0.8)
        ax.set_xlabel("constant input x")
        ax.set_ylabel("initial potential v0 (IMP)")
        ax.set_title(f"{n['kind']}: {len(zero)} patterns from v0 = 0, {len(reachable(p, v0, -1, 1, T))} over v0", fontsize=9)
        fig.colorbar(im, ax=ax, label=f"spikes in T = {T} steps")
        for t in (2, 4, T):
            lines.append(f"| {n['kind']} | {t} | {2 ** t} | {len(reachable(p, v0, 0, 0, t))} | {len(reachable(p, v0, -0.2, 0.2, t))} | {len(reachable(p, v0, -1, 1, t))} |")
    bits = lambda b, t: "".join("1" if b >> i & 1 else "0" for i in range(t))
    lines += ["", "Patterns at T = 4 (t = 1..4 left to right, 1 = spike):", ""]
    for n in neurons:
        p = np.array(n["patterns"], dtype=np.int64)
        zero = sorted(reachable(p, v0, 0, 0, 4))
        imp = sorted(reachable(p, v0, -0.2, 0.2, 4) - set(zero))
        lines.append(f"- {n['kind']}: from v0 = 0: {', '.join(bits(b, 4) for b in zero)}; added by v0 in [-0.2, 0.2]: {', '.join(bits(b, 4) for b in imp)}")
    fig.suptitle("Observation 2: hatched = a spike pattern no input reaches from v0 = 0 (red line)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "neuron_patterns_obs2.png"), dpi=110)
    open(os.path.join(a.out, "neuron_patterns.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

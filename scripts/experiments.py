#!/usr/bin/env python3
"""The paper's claims at small scale, on spikestream's own simulated data (EXPERIMENTS.md).

Writes a dataset with `spikestream simulate`, trains the runs below with `spikestream train`
(burn, CPU unless a GPU is found), evaluates each with `spikestream eval --json`, and writes
`experiments/results.json`, `experiments/results.md` (tables) and PNG plots.

  runs: imp/tet-s, noimp/tet-s       accuracy at every timestep, zero vs learned IMP (Obs. 3)
        imp/sdt, imp/tet, imp/lts     convergence of SDT, TET, TET-S, LTS
        imp/T2, noimp/T2              low T with and without IMP

Usage: python3 scripts/experiments.py [--epochs 8] [--per-class 60] [--out experiments]
Needs: a release build with training (`cargo build --release --features train`), and
matplotlib for the plots (`scripts/setup-plots.sh` makes .venv-plots with it).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--timesteps", type=int, default=6)
    ap.add_argument("--width-div", type=int, default=8)
    ap.add_argument("--size", default="32x32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments"))
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "spikestream"))
    ap.add_argument("--only", default="", help="comma-separated run names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = os.path.join(args.out, "data")
    if not os.path.isdir(os.path.join(data, "train")):
        run([args.bin, "simulate", "--out", data, "--per-class", str(args.per_class), "--split", "0.8", "--size", args.size, "--seed", str(args.seed)])
    T = args.timesteps
    runs = {
        "imp_tet-s": dict(imp="on", loss="tet-s", T=T),
        "noimp_tet-s": dict(imp="off", loss="tet-s", T=T),
        "imp_sdt": dict(imp="on", loss="sdt", T=T),
        "imp_tet": dict(imp="on", loss="tet", T=T),
        "imp_lts": dict(imp="on", loss="lts", T=T),
        "imp_T2": dict(imp="on", loss="tet-s", T=2),
        "noimp_T2": dict(imp="off", loss="tet-s", T=2),
    }
    if args.only:
        runs = {k: v for k, v in runs.items() if k in args.only.split(",")}
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    for name, r in runs.items():
        model = os.path.join(args.out, f"{name}.safetensors")
        t0 = time.time()
        stdout = run([args.bin, "train", "--arch", "vgg11_48_legacy", "--width-div", str(args.width_div), "--size", args.size,
                      "--timesteps", str(r["T"]), "--imp", r["imp"], "--loss", r["loss"], "--epochs", str(args.epochs),
                      "--batch", "16", "--lr", "0.05", "--data", data, "--out", model, "--seed", str(args.seed), "--quiet"])
        seconds = time.time() - t0
        log = list(csv.DictReader(open(model.replace(".safetensors", ".log.csv"))))
        ev = json.loads(run([args.bin, "eval", model, data, "--json"]))
        results[name] = dict(config=r, seconds=seconds, train_stdout=stdout.strip(), log=log, eval=ev)
        json.dump(results, open(results_path, "w"), indent=1)
    write_tables(results, args)
    plot(results, args.out)


def write_tables(results, args):
    lines = [f"Dataset: `spikestream simulate --per-class {args.per_class} --split 0.8 --size {args.size} --seed {args.seed}` (10 classes); "
             f"model `vgg11_48_legacy` at width / {args.width_div}, input {args.size}; {args.epochs} epochs, batch 16, SGD lr 0.05 cosine.", ""]
    lines.append("| run | T | IMP | loss | best-epoch test accuracy | accuracy at t = 1 … T | train time |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        c, ev = r["config"], r["eval"]
        at = " ".join(f"{a:.3f}" for a in ev["accuracy_at"])
        lines.append(f"| {name} | {c['T']} | {c['imp']} | {c['loss']} | {ev['accuracy']:.3f} | {at} | {r['seconds']:.0f} s |")
    lines.append("")
    lines.append("Test accuracy per epoch:")
    lines.append("")
    names = list(results)
    lines.append("| epoch | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    epochs = max(len(r["log"]) for r in results.values())
    for e in range(epochs):
        row = [results[n]["log"][e]["test_accuracy"] if e < len(results[n]["log"]) else "" for n in names]
        lines.append(f"| {e + 1} | " + " | ".join(f"{float(v):.3f}" if v else "" for v in row) + " |")
    open(os.path.join(args.out, "results.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(results, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots (scripts/setup-plots.sh)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in ["imp_tet-s", "noimp_tet-s", "imp_T2", "noimp_T2"]:
        if name in results:
            at = results[name]["eval"]["accuracy_at"]
            ax.plot(range(1, len(at) + 1), at, marker="o", label=name)
    ax.set_xlabel("timestep t (mean of logits 1..t)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy_per_timestep.png"), dpi=120)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name in ["imp_sdt", "imp_tet", "imp_tet-s", "imp_lts"]:
        if name in results:
            log = results[name]["log"]
            a1.plot([float(r["train_loss"]) for r in log], label=name)
            a2.plot([float(r["test_accuracy"]) for r in log], label=name)
    a1.set_title("training loss")
    a2.set_title("test accuracy")
    for a in (a1, a2):
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "convergence.png"), dpi=120)


if __name__ == "__main__":
    main()

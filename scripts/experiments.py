#!/usr/bin/env python3
"""The IMP-SNN paper's claims at small scale, with several seeds (EXPERIMENTS.md).

Makes the datasets (UCI digits at 16x16 via scripts/datasets/digits.py; "N-Digits" via
`spikestream simulate --from-images`; the simulator's motion classes), trains every
(configuration, seed) of the chosen groups with `spikestream train` (burn Flex, CPU), evaluates the
kept epoch with `spikestream eval --json` twice (readout "mean of steps 1..t" and "step t alone"),
and stores everything in OUT/results.json (resumable: a run already there is not run again).
`scripts/experiments_report.py` turns results.json into tables (OUT/results.md) and plots.

The seed sets the initialisation, the IMP draw and the data order; the same seeds are used for
every configuration, so configurations are compared seed by seed (paired).

  groups: obs3      static digits, SEW-ResNet18/8, T = 4, TET-S: zero / learned / fixed IMP, and
                    learned IMP with --imp-lr-mult 100 (a deviation from the reference)
          obs3t2    the same at T = 2; obs3t6: at T = 6
          obs3vgg   static digits, vgg11_48_legacy/8: zero / learned / fixed IMP at T = 4 (TET-S)
          obs3vgg_t2  the same at T = 2; obs3vgg_t6: at T = 6
          obs4      static digits, SEW T = 4, learned IMP: SDT, TET, LTS (TET-S is in obs3)
          ndigits   N-Digits, VGG T = 4: SDT / TET / TET-S (learned IMP); zero vs learned IMP at T = 2
          motion    motion classes, same five runs as ndigits

"fixed IMP" is `--imp on --imp-lr-mult 0`: the IMP keeps its U(-0.2, 0.2) draw (IMPs have no
weight decay), i.e. a fixed non-zero initial potential.

Usage: python3 scripts/experiments.py [--groups obs3,obs4,...] [--seeds 1,2,3,4,5] [--epochs 6]
       [--jobs 2] [--nice 10] [--out experiments]
Needs: `cargo test --release --all-targets --features train --no-run` (the binary) and a python
with numpy and scikit-learn for the digits (`scripts/setup-plots.sh` makes .venv-plots).
"""
import argparse
import concurrent.futures as cf
import csv
import json
import os
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = threading.Lock()


def grid(epochs):
    """Every configuration: name -> dict(group, data, arch, T, imp, mult, loss, epochs)."""
    g = {}
    vgg = "vgg11_48_legacy"

    def add(group, name, data, T, imp="on", mult=1.0, loss="tet-s", arch="sew_resnet18"):
        g[name] = dict(group=group, data=data, arch=arch, T=T, imp=imp, mult=mult, loss=loss, epochs=epochs)

    for T, group in ((4, "obs3"), (2, "obs3t2"), (6, "obs3t6")):
        add(group, f"digits_sew_T{T}_zero", "digits", T, imp="off")
        add(group, f"digits_sew_T{T}_learned", "digits", T)
        add(group, f"digits_sew_T{T}_fixed", "digits", T, mult=0.0)
        add(group, f"digits_sew_T{T}_learned_x100", "digits", T, mult=100.0)
    for loss in ("sdt", "tet", "lts"):
        add("obs4", f"digits_sew_T4_{loss}", "digits", 4, loss=loss)
    for T, group in ((4, "obs3vgg"), (2, "obs3vgg_t2"), (6, "obs3vgg_t6")):
        for imp, mult, tag in (("off", 1.0, "zero"), ("on", 1.0, "learned"), ("on", 0.0, "fixed")):
            add(group, f"digits_vgg_T{T}_{tag}", "digits", T, imp=imp, mult=mult, arch=vgg)
    for data in ("ndigits", "motion"):
        for loss in ("tet-s", "tet", "sdt"):
            add(data, f"{data}_vgg_T4_{loss}", data, 4, loss=loss, arch=vgg)
        add(data, f"{data}_vgg_T2_learned", data, 2, arch=vgg)
        add(data, f"{data}_vgg_T2_zero", data, 2, imp="off", arch=vgg)
    return g


DATA = {
    # name: (folder under OUT/data, input size given to train, how it is made)
    "digits": ("digits16", "16x16", "scripts/datasets/digits.py --out D --size 16 (1,347 train / 450 test)"),
    "ndigits": ("ndigits16", "16x16", "spikestream simulate --from-images digits16 --out D --seed 1 (22x22 sensor, frames resized to 16x16)"),
    "motion": ("motion24", "24x24", "spikestream simulate --out D --per-class 60 --split 0.8 --size 24x24 --seed 1 (480 train / 120 test)"),
}


def sh(cmd, nice):
    full = (["nice", "-n", str(nice)] if nice else []) + cmd
    out = subprocess.run(full, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout


def make_data(a):
    d = os.path.join(a.out, "data")
    digits = os.path.join(d, DATA["digits"][0])
    if not os.path.isdir(os.path.join(digits, "train")):
        sh([a.python, os.path.join(ROOT, "scripts/datasets/digits.py"), "--out", digits, "--size", "16"], a.nice)
    nd = os.path.join(d, DATA["ndigits"][0])
    if not os.path.isdir(os.path.join(nd, "train")):
        sh([a.bin, "simulate", "--from-images", digits, "--out", nd, "--seed", "1"], a.nice)
    mo = os.path.join(d, DATA["motion"][0])
    if not os.path.isdir(os.path.join(mo, "train")):
        sh([a.bin, "simulate", "--out", mo, "--per-class", "60", "--split", "0.8", "--size", "24x24", "--seed", "1"], a.nice)
    return {k: os.path.join(d, v[0]) for k, v in DATA.items()}


def with_decode(src, dst, decode):
    """A copy of a model file whose metadata `decode` is `decode` (eval's readout follows it)."""
    b = open(src, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header["__metadata__"]["decode"] = decode
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b[8 + n:])


def train_cmd(a, c, data, model, seed):
    cmd = [a.bin, "train", "--arch", c["arch"], "--width-div", "8", "--data", data, "--size", DATA[c["data"]][1],
           "--timesteps", str(c["T"]), "--imp", c["imp"], "--loss", c["loss"], "--epochs", str(c["epochs"]),
           "--batch", "32", "--optimizer", "sgd", "--lr", "0.1", "--warmup-epochs", "1", "--crop-padding", "0",
           "--device", "flex", "--seed", str(seed), "--quiet", "--out", model]
    if c["mult"] != 1.0:
        cmd += ["--imp-lr-mult", str(c["mult"])]
    return cmd


def one_run(a, name, c, seed, datasets, results):
    rdir = os.path.join(a.out, "data", "runs", name, f"s{seed}")
    os.makedirs(rdir, exist_ok=True)
    model = os.path.join(rdir, "model.safetensors")
    for f in os.listdir(rdir):  # a run cut short leaves a checkpoint; start over, not resume
        os.remove(os.path.join(rdir, f))
    cmd = train_cmd(a, c, datasets[c["data"]], model, seed)
    t0 = time.time()
    stdout = sh(cmd, a.nice)
    seconds = time.time() - t0
    log = [{k: (float(v) if v else None) for k, v in row.items()} for row in csv.DictReader(open(model.replace(".safetensors", ".log.csv")))]
    drift_path = model.replace(".safetensors", ".imp_drift.json")
    drift = json.load(open(drift_path))[-1] if os.path.exists(drift_path) else None
    ev = {}
    for decode in ("mean", "last"):
        copy = os.path.join(rdir, f"eval_{decode}.safetensors")
        with_decode(model, copy, decode)
        ev[decode] = json.loads(sh([a.bin, "eval", copy, datasets[c["data"]], "--json", "--device", "flex", "--batch", "64"], a.nice))
        os.remove(copy)
    r = dict(config=c, seed=seed, seconds=seconds, command=" ".join(cmd[1:]), stdout=stdout.strip(), log=log,
             accuracy=ev["mean" if c["loss"] != "lts" else "last"]["accuracy"],
             accuracy_at_mean=ev["mean"]["accuracy_at"], accuracy_at_step=ev["last"]["accuracy_at"],
             drift=drift, load=os.getloadavg()[0], finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    with LOCK:
        results.setdefault(name, {})[str(seed)] = r
        save(results, a)
    print(f"{time.strftime('%H:%M:%S')} {name} seed {seed}: acc {r['accuracy']:.4f} in {seconds:.0f} s (load {r['load']:.1f})", flush=True)


def save(results, a):
    path = os.path.join(a.out, "results.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", default="obs3,obs4,obs3vgg,obs3t2,ndigits,motion,obs3t6,obs3vgg_t2,obs3vgg_t6", help="comma-separated groups, run in this order")
    ap.add_argument("--only", default="", help="comma-separated configuration names (default: all of the groups)")
    ap.add_argument("--skip", default="", help="comma-separated configuration names not to run")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2, help="trainings at once (each uses about one core)")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(ROOT, "experiments"))
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv-plots", "bin", "python"), help="python with scikit-learn (digits)")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "spikestream"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    datasets = make_data(a)
    g = grid(a.epochs)
    groups = a.groups.split(",")
    names = [n for grp in groups for n, c in g.items() if c["group"] == grp]
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    names = [n for n in names if n not in a.skip.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    path = os.path.join(a.out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    todo = [(n, s) for n in names for s in seeds
            if not (str(s) in results.get(n, {}) and results[n][str(s)]["config"] == g[n])]
    print(f"{len(todo)} runs to do ({len(names)} configurations x {len(seeds)} seeds, minus {len(names) * len(seeds) - len(todo)} done)", flush=True)
    failed = []
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futs = {ex.submit(one_run, a, n, g[n], s, datasets, results): (n, s) for n, s in todo}
        for f in cf.as_completed(futs):
            if f.exception() is not None:
                failed.append(futs[f])
                print(f"FAILED {futs[f]}: {f.exception()}", file=sys.stderr, flush=True)
    if failed:
        sys.exit(f"{len(failed)} runs failed: {failed}")


if __name__ == "__main__":
    main()

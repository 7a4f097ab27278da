#!/usr/bin/env python3
"""Training throughput: `spikestream train` (burn, Flex CPU backend) against PyTorch eager on CPU,
side by side on the same machine, in samples per second.

Both train `vgg11_48_legacy` (the reference 48x48 legacy VGG-SNN: TEBN, legacy LIF with a learnable
IMP, triangle surrogate, dropout 0.25) at the same width divisor, T, batch, loss (TET-S, eps 0.01)
and optimiser (SGD, momentum 0.9, weight decay 5e-4 except IMP / TEBN / BN / biases), for the same
number of steps, on the same recordings (one `spikestream simulate --size 48x48 --split 0.8`
dataset, large enough that every timed step lies in the first epoch), with the same thread count.

- PyTorch: the model of scripts/train_demo.py (imported, not copied), its fused `LegacyLIFSeq`
  autograd op (`--lif fused`, the faster PyTorch) or the reference's step-by-step LIF through
  autograd (`--lif reference`, amazing-cls as written); `torch.set_num_threads(N)`. Frames are
  `spikestream frames` of the same recordings, held in memory. Timed: every step from the first
  batch to the last (batch gather, pad-4 crop and train_demo's horizontal and vertical flips,
  forward, loss, backward, SGD step, loss and accuracy read-out).
- spikestream: `RAYON_NUM_THREADS=N spikestream train --device flex --epochs 1 --max-steps S`.
  Timed: the CSV log's `samples_per_s` of that epoch, which is the same training loop (prefetched
  batches from its frame cache, pad-4 crop and horizontal flip, forward, loss, backward, SGD
  step), from the epoch's start to its last step. Framing the recordings into the cache happens
  before that clock starts; the evaluation on the test split and the checkpoint writes after the
  epoch are outside it. The summary line's samples/s (process-level: includes evaluation and checkpoint
  writes, not framing) is printed as `ss_e2e` for reference.

The first step (allocator warm-up) is inside the wall-clock window on both sides.

Because wall clock on a shared machine measures the other jobs too, each side is also timed by
CPU time (user + system, all threads) of the steps after the first `--skip`: PyTorch by
`time.process_time()` around those steps; spikestream by the CPU time of a `--max-steps S` process
minus that of a `--max-steps SKIP` process (start-up, cache reads, warm-up steps, evaluation and
checkpoint writes cancel; the test-split evaluation of different weights may differ a little).
CPU time counts idle-spinning worker threads too, so with 2 threads it favours neither side
reliably; with 1 thread it is the cleaner number. Configurations run interleaved, `--rounds`
times, and the best round of each quantity counts; the load average is printed with each.

`--baseline OTHER_BINARY` runs a second spikestream build (e.g. main's) interleaved with the
first, and adds its rates (`base`) and the speed-up `ss/base`.

Run:
  .venv-reference/bin/python scripts/bench_train.py --spikestream /path/to/spikestream \\
      --width-div 8,4 --threads 1,2 --batch 16 --timesteps 8 --steps 20 --rounds 2 \\
      --lif fused,reference [--baseline /path/to/main/spikestream]
"""
import argparse, csv, json, math, os, platform, re, resource, subprocess, sys, time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_demo as td  # noqa: E402  (model, loss, param groups, augmentation, dataset helpers)

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 10  # spikestream simulate --list-classes


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


class ReferenceLIF(torch.nn.Module):
    """amazing-cls StateLIFSpike as written: one autograd node per op per timestep."""

    def __init__(self, fused):
        super().__init__()
        self.mem = fused.mem

    def forward(self, x):
        return td.reference_lif(x, self.mem)


def torch_model(T, K, width_div, lif):
    model = td.StateVGG11R48x48Legacy(T, K, tuple(w // width_div for w in td.FULL_WIDTHS))
    if lif == "reference":
        feats = model.features
        for i, m in enumerate(feats):
            if isinstance(m, td.StateLIFSpike):
                feats[i] = ReferenceLIF(m)
    return model


def torch_rate(x, y, classes, a, width_div, threads, lif):
    """Samples/s of `a.steps` PyTorch training steps (see the module docstring for what is timed)."""
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = torch_model(a.timesteps, len(classes), width_div, lif)
    opt = torch.optim.SGD(td.param_groups(model, a.wd), lr=a.lr, momentum=0.9)
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    t0 = time.perf_counter()
    for s in range(a.steps):
        if s == a.skip:
            c0 = time.process_time()  # all threads of this process
        idx = perm[s * a.batch:(s + 1) * a.batch].numpy()
        xb, yb = td.augment(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), classes, gen, 4)
        z = model(xb.transpose(0, 1).contiguous())
        loss = td.tet_s_loss(z, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item(), (z.detach().mean(0).argmax(1) == yb).sum().item()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return a.steps * a.batch / wall, (a.steps - a.skip) * a.batch / cpu


def spikestream_run(binary, data, out_dir, a, width_div, threads, steps):
    """(training-loop samples/s from the CSV log, whole-run samples/s from the summary line,
    CPU seconds of the process: user + system, all threads)."""
    out = out_dir / f"bench_w{width_div}_t{threads}_s{steps}.safetensors"
    cmd = [binary, "train", "--arch", "vgg11_48_legacy", "--data", data, "--out", out, "--device", "flex",
           "--width-div", width_div, "--timesteps", a.timesteps, "--batch", a.batch, "--loss", "tet-s",
           "--optimizer", "sgd", "--lr", a.lr, "--weight-decay", a.wd, "--epochs", 1, "--max-steps", steps,
           "--seed", a.seed, "--quiet"]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([str(c) for c in cmd], env=env, text=True, capture_output=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"spikestream train failed ({r.returncode}):\n{r.stderr[-3000:]}")
    rows = list(csv.DictReader(out.with_name(out.stem + ".log.csv").open()))
    assert len(rows) == 1, rows
    e2e = re.findall(r"([0-9.]+) samples/s", r.stdout)
    cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    return float(rows[0]["samples_per_s"]), float(e2e[-1]) if e2e else float("nan"), cpu


def spikestream_rate(binary, data, out_dir, a, width_div, threads):
    """(CSV training-loop samples/s, summary samples/s, samples per CPU-second of steps skip+1..steps:
    the CPU time of a `--max-steps steps` run minus that of a `--max-steps skip` run, which leaves
    out start-up, framing cache reads, warm-up steps, evaluation and checkpoint writes)."""
    rate, e2e, cpu = spikestream_run(binary, data, out_dir, a, width_div, threads, a.steps)
    _, _, cpu_skip = spikestream_run(binary, data, out_dir, a, width_div, threads, a.skip)
    return rate, e2e, (a.steps - a.skip) * a.batch / (cpu - cpu_skip)


def dataset(binary, a):
    """The simulator dataset (reused when present) and PyTorch's in-memory frames of its train split."""
    train_per_class = math.ceil(a.steps * a.batch / N_CLASSES)
    per_class = math.ceil((train_per_class + 1) / 0.8)
    sim_dir = Path(a.work) / f"sim48_n{per_class}"
    td.simulate(binary, sim_dir, a.sim_seed, per_class, "48x48", 0.8, 2)
    classes, files = td.class_files(sim_dir / "train")
    assert len(classes) == N_CLASSES and len(files) >= a.steps * a.batch, (len(classes), len(files))
    frame_args = SimpleNamespace(timesteps=a.timesteps, resize=False, bin_threads=2)
    x, y = td.frames_of(binary, files, Path(a.work) / f"frames_{sim_dir.name}_T{a.timesteps}", frame_args)
    return sim_dir, classes, x, y


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spikestream", required=True, help="a spikestream binary built with --features train")
    p.add_argument("--baseline", help="a second spikestream binary (e.g. main's), run interleaved with the first as `base`")
    p.add_argument("--work", default=str(ROOT / "target/bench-train"), help="dataset, frames and model outputs")
    p.add_argument("--width-div", default="8,4", help="comma-separated width divisors")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--lif", default="fused", help="PyTorch LIF: fused, reference or fused,reference")
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=20, help="optimiser steps timed per measurement")
    p.add_argument("--skip", type=int, default=4, help="warm-up steps left out of the CPU-time rate")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the best counts")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sim-seed", type=int, default=0)
    p.add_argument("--json", help="write every measurement here")
    a = p.parse_args()
    binary = Path(a.spikestream).resolve()
    widths = [int(v) for v in a.width_div.split(",")]
    threads = [int(v) for v in a.threads.split(",")]
    lifs = a.lif.split(",")
    Path(a.work).mkdir(parents=True, exist_ok=True)
    td.check_lif()
    sim_dir, classes, x, y = dataset(binary, a)
    out_dir = Path(a.work) / "models"
    out_dir.mkdir(exist_ok=True)
    print(f"# {td.sh(binary, '--version').strip()}, torch {torch.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; T={a.timesteps} batch={a.batch} steps={a.steps} rounds={a.rounds}; "
          f"data {sim_dir} ({len(x)} train recordings)", flush=True)
    # Warm spikestream's frame cache once (it is outside the clock anyway; this keeps round 1 like the rest).
    spikestream_run(binary, sim_dir, out_dir, a, widths[0], threads[0], 1)

    base = Path(a.baseline).resolve() if a.baseline else None
    base_keys = ["base", "base_e2e", "base_cpu"] if base else []
    runs, keys = [], ["ss", "ss_e2e", "ss_cpu"] + base_keys + [f"{l}{c}" for l in lifs for c in ("", "_cpu")]
    for rnd in range(a.rounds):
        for wd in widths:
            for th in threads:
                m = dict(round=rnd, width_div=wd, threads=th, load_before=load())
                m["ss"], m["ss_e2e"], m["ss_cpu"] = spikestream_rate(binary, sim_dir, out_dir, a, wd, th)
                if base:
                    m["base"], m["base_e2e"], m["base_cpu"] = spikestream_rate(base, sim_dir, out_dir, a, wd, th)
                for lif in lifs:
                    m[lif], m[f"{lif}_cpu"] = torch_rate(x, y, classes, a, wd, th, lif)
                m["load_after"] = load()
                runs.append(m)
                print(f"round {rnd} width/{wd} threads {th}: " + ", ".join(f"{k} {m[k]:.2f}" for k in keys)
                      + f"; load {m['load_before']} -> {m['load_after']}", flush=True)

    # Best round of each quantity; ratios = spikestream / PyTorch.
    cols = ["ss"] + lifs + [f"ratio {l}" for l in lifs] + ["ss_cpu"] + [f"{l}_cpu" for l in lifs] + [f"ratio {l}_cpu" for l in lifs] + ["ss_e2e"]
    if base:
        cols += ["base", "base_cpu", "ss/base", "ss/base_cpu"] + [f"ratio base/{l}_cpu" for l in lifs]
    print("\nsamples/s by wall clock (ss: spikestream CSV training loop; fused/reference: PyTorch LIF), samples per"
          "\nCPU-second of the steps after --skip (_cpu), ss_e2e: spikestream's summary line (incl. evaluation)")
    print("| width_div | threads | " + " | ".join(cols) + " |\n|---:|---:|" + "---:|" * len(cols))
    best = {}
    for wd in widths:
        for th in threads:
            rs = [r for r in runs if r["width_div"] == wd and r["threads"] == th]
            b = {k: max(r[k] for r in rs) for k in keys}
            for l in lifs:
                b[f"ratio {l}"], b[f"ratio {l}_cpu"] = b["ss"] / b[l], b["ss_cpu"] / b[f"{l}_cpu"]
                if base:
                    b[f"ratio base/{l}_cpu"] = b["base_cpu"] / b[f"{l}_cpu"]
            if base:
                b["ss/base"], b["ss/base_cpu"] = b["ss"] / b["base"], b["ss_cpu"] / b["base_cpu"]
            best[f"w{wd}_t{th}"] = b
            print(f"| {wd} | {th} | " + " | ".join(f"{b[c]:.2f}" + ("x" if c.startswith("ratio") or "/" in c else "") for c in cols) + " |")
    print(f"\nload average at the end: {load()}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(args=vars(a), runs=runs, best=best), indent=1) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""spikestream vs PyTorch on the same IMP-SNN, the same weights, the same input, the same threads.

For each configuration (architecture, batch) the script builds the reference PyTorch model
(scripts/bench_torch_models.py: SpikingJelly neurons for vgg11_dvs and sew_resnet18, the legacy
LIF/TEBN as plain torch for vgg11_48_legacy) with seeded random weights scaled as spikestream's
`model::synth` scales them, writes it as a spikestream model file (safetensors, reference key
names, metadata), and times:

- spikestream: `spikestream bench FILE --backend cpu --json` (and `--backend gpu` when it works:
  on a machine without a GPU that is Mesa lavapipe, Vulkan on the CPU);
- PyTorch, per timestep: `model.step(x_t, t)` in SpikingJelly single-step mode, membranes kept
  between calls, a reset at each sequence start (inside the timed step, as spikestream does), like
  an online engine; one `time.perf_counter` interval per step (after `torch.cuda.synchronize()` on
  CUDA), p50 over the timed steps;
- PyTorch, T-batched: `model(x_seq)` on `[T,B,C,H,W]` in multi-step mode (how SpikingJelly users
  run it), the p50 of the whole forward divided by T.
Both run in eval mode under `torch.inference_mode()`. Both sides see the same input frame every
timestep: spikestream bench's own input (xorshift, seed 42: each value an event count, non-zero with
probability --spike-rate, 1 or 2 events), regenerated bit for bit here; per-layer spike rates from
both sides are printed to show they agree. Threads: `torch.set_num_threads(N)`, and
`RAYON_NUM_THREADS=N` (plus `LP_NUM_THREADS=N` for lavapipe) for spikestream.

Prints a Markdown section ready for BENCHMARKS.md (or JSON with --json). Progress goes to stderr.

Run: .venv-reference/bin/python scripts/bench_torch.py [--bin PATH] [--threads N] [--repeats R]
     [--configs vgg11_48_legacy:1,vgg11_48_legacy:16,vgg11_dvs:1,sew_resnet18:1] [--width-div D]
     [--dvs-width-div D] [--budget S] [--steps N] [--spike-rate R] [--gpu auto|off] [--cuda auto|off]
     [--models DIR] [--json] [--render SAVED.json]
The spikestream binary: --bin, else $SPIKESTREAM_BIN, else target/release/spikestream.
"""
import argparse, copy, datetime, json, math, os, platform, shlex, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_torch_models as M  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {  # arch -> (T, input CxHxW, classes), imp-snn.md §2.1-2.3
    "vgg11_48_legacy": (10, (2, 48, 48), 10),
    "vgg11_dvs": (16, (2, 128, 128), 10),
    "sew_resnet18": (4, (3, 224, 224), 100),
}
DEFAULT_CONFIGS = "vgg11_48_legacy:1,vgg11_48_legacy:16,vgg11_dvs:1,sew_resnet18:1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def spikestream_input(n, rate, seed=42):
    """Bit-for-bit `engine::bench::random_input(n, rate, seed)`."""
    s, mask, out = seed | 1, (1 << 64) - 1, np.zeros(n, np.float32)
    for i in range(n):
        s ^= (s << 13) & mask
        s ^= s >> 7
        s ^= (s << 17) & mask
        u = (s >> 11) / float(1 << 53)
        if u < rate:
            out[i] = 2.0 if u < rate / 4.0 else 1.0
    return out


def run_spikestream(binary, path, batch, backend, steps, warmup, rate, threads, timeout, extra=()):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), LP_NUM_THREADS=str(threads))
    cmd = [binary, "bench", str(path), "--batch", str(batch), "--backend", backend, "--spike-rate", str(rate),
           "--steps", str(steps), "--warmup", str(warmup), "--json", *extra]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit status %d" % p.returncode])[-1]
    return json.loads(p.stdout.strip().splitlines()[-1]), None


def percentile(xs, p):  # the same rounding as engine::bench::measure
    xs = sorted(xs)
    return xs[math.floor((len(xs) - 1) * p + 0.5)]  # Rust's f64::round: halves away from zero


def stats(ms):
    return {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "min": min(ms), "mean": statistics.fmean(ms), "n": len(ms)}


def time_step_mode(model, x, T, warmup, steps, sync):
    """Per-timestep latency of `model.step`, reset at each sequence start (timed with that step)."""
    M.set_mode(model, "s")

    def one(i):
        t0 = time.perf_counter()
        if i % T == 0:
            M.reset_state(model)
        model.step(x, i % T)
        sync()
        return (time.perf_counter() - t0) * 1e3

    for i in range(warmup):
        one(i)
    return stats([one(i) for i in range(steps)])


def time_multi_step(model, x_seq, reps, warmup, sync):
    """Whole T-batched forward, divided by T."""
    M.set_mode(model, "m")
    T, out = x_seq.shape[0], []
    for r in range(warmup + reps):
        t0 = time.perf_counter()
        M.reset_state(model)
        model(x_seq)
        sync()
        if r >= warmup:
            out.append((time.perf_counter() - t0) * 1e3 / T)
    return stats(out)


def torch_rates(model, x, T):
    """Spike rates per neuron module over one sequence in step mode, and the largest logit
    difference between step mode and the T-batched forward (the two must compute the same)."""
    counts, hooks = {}, []
    for name, m in M.neurons(model):
        hooks.append(m.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(
            name, counts.get(name, 0.0) + o.sum().item() / o.numel())))
    M.set_mode(model, "s")
    M.reset_state(model)
    step_logits = torch.stack([model.step(x, t) for t in range(T)])
    for h in hooks:
        h.remove()
    M.set_mode(model, "m")
    M.reset_state(model)
    multi = model(x.unsqueeze(0).expand(T, *x.shape).contiguous())
    return {n: c / T for n, c in counts.items()}, (step_logits - multi).abs().max().item()


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except Exception:
        return platform.processor() or "unknown"


def fmt(v):
    return "–" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def both(vals, f=fmt):
    return " / ".join(f(v) for v in vals) if vals else "–"


def get_model(arch, div, args, tmp, cache):
    """The model of `arch` (built, calibrated on the batch-1 input, written) once per run, so every
    batch size of an architecture times the same weights."""
    if (arch, div) not in cache:
        T, chw, K = PRESETS[arch]
        model, meta = M.build(arch, T, K, chw, width_div=div, seed=args.seed)
        path = Path(tmp) / f"{arch}_div{div}_seed{args.seed}_rate{args.target_rate}_in{args.spike_rate}.safetensors"
        if path.is_file():  # made by an earlier run with the same settings (--models DIR)
            model.load_state_dict(load_file(str(path)))
            log(f"   {arch}: weights from {path}")
        elif args.target_rate > 0:
            x1 = torch.from_numpy(spikestream_input(chw[0] * chw[1] * chw[2], args.spike_rate)).view(1, *chw)
            t0 = time.perf_counter()
            M.calibrate(model, x1.unsqueeze(0).expand(T, *x1.shape).contiguous(), args.target_rate)
            log(f"   {arch}: BN shifts calibrated for {args.target_rate:.0%} spikes per layer in {time.perf_counter() - t0:.1f} s")
        if not path.is_file():
            M.save_model_file(model, meta, path)
        cache[(arch, div)] = (model, path)
    return cache[(arch, div)]


def bench_config(arch, batch, args, threads, tmp, gpu_state, cache):
    T, chw, K = PRESETS[arch]
    div = args.dvs_width_div if arch == "vgg11_dvs" and args.dvs_width_div else args.width_div
    model, path = get_model(arch, div, args, tmp, cache)
    x = torch.from_numpy(spikestream_input(batch * chw[0] * chw[1] * chw[2], args.spike_rate)).view(batch, *chw)
    x_seq = x.unsqueeze(0).expand(T, *x.shape).contiguous()
    res = {"arch": arch, "batch": batch, "timesteps": T, "input": "x".join(map(str, chw)), "width_div": div,
           "density": float((x != 0).float().mean()), "runs": []}
    log(f"== {arch} batch {batch} T={T} input {res['input']} width/{div}, input density {res['density']:.4f}")
    nosync = lambda: None
    cuda = None
    if args.cuda == "auto" and torch.cuda.is_available():  # copied outside inference mode: plain parameters
        cuda = (copy.deepcopy(model).cuda(), x.cuda(), x_seq.cuda())
    with torch.inference_mode():
        res["torch_rates"], res["step_vs_multi_max_logit_diff"] = torch_rates(model, x, T)
        M.set_mode(model, "s")
        M.reset_state(model)
        t0 = time.perf_counter()
        model.step(x, 0)
        probe = time.perf_counter() - t0  # includes first-call costs, so an upper bound
        steps = args.steps or min(400, max(T, round(args.budget / probe)))
        steps = -(-steps // T) * T  # whole sequences, so both sides' spike rates cover the same steps
        warmup = min(T, max(3, round(2.0 / probe)))
        reps = max(3, min(50, round(args.budget / (probe * T))))
        res.update(steps=steps, warmup=warmup, multi_reps=reps)
        for r in range(args.repeats):
            run = {}
            ss, err = run_spikestream(args.bin, path, batch, "cpu", steps, warmup, args.spike_rate, threads, args.timeout)
            if ss is None:
                sys.exit(f"spikestream --backend cpu failed on {arch}: {err}")
            run["spikestream_cpu"] = ss
            log(f"  run {r + 1}: spikestream cpu p50 {ss['p50_ms_per_timestep']:.3f} ms ({ss['backend']})")
            if gpu_state["ok"] is not False:
                g_steps = steps if gpu_state.get("software") is False else T  # one sequence until known to be a real GPU
                g, err = run_spikestream(args.bin, path, batch, "gpu", g_steps, min(warmup, 2), args.spike_rate, threads, args.timeout)
                if g is None:
                    gpu_state.update(ok=False, why=err)
                    log(f"  spikestream --backend gpu unavailable: {err}")
                else:
                    gpu_state.update(ok=True, adapter=g["backend"],
                                     software=any(s in g["backend"].lower() for s in ("llvmpipe", "lavapipe", "cpu")))
                    run["spikestream_gpu"] = g
                    log(f"  run {r + 1}: spikestream gpu p50 {g['p50_ms_per_timestep']:.3f} ms ({g['backend']})")
            run["torch_step"] = time_step_mode(model, x, T, warmup, steps, nosync)
            log(f"  run {r + 1}: torch step p50 {run['torch_step']['p50']:.3f} ms")
            run["torch_multi"] = time_multi_step(model, x_seq, reps, 1, nosync)
            log(f"  run {r + 1}: torch T-batched p50/T {run['torch_multi']['p50']:.3f} ms")
            if cuda:
                sync = torch.cuda.synchronize
                run["torch_cuda_step"] = time_step_mode(cuda[0], cuda[1], T, max(warmup, T), max(steps, 10 * T), sync)
                run["torch_cuda_multi"] = time_multi_step(cuda[0], cuda[2], max(reps, 20), 3, sync)
                log(f"  run {r + 1}: torch cuda step p50 {run['torch_cuda_step']['p50']:.3f} ms, "
                    f"T-batched {run['torch_cuda_multi']['p50']:.3f} ms")
            run["loadavg"] = os.getloadavg()[0]
            res["runs"].append(run)
    res["spikestream_rates"] = dict(res["runs"][0]["spikestream_cpu"]["spike_rates"])
    return res


def markdown(doc):
    res, gpu = doc["results"], doc["gpu_backend"]
    has_gpu = any("spikestream_gpu" in r for x in res for r in x["runs"])
    has_cuda = any("torch_cuda_step" in r for x in res for r in x["runs"])
    ss = lambda r, k="p50": r["spikestream_cpu"][f"{k}_ms_per_timestep"]
    sg = lambda r, k="p50": r["spikestream_gpu"][f"{k}_ms_per_timestep"]
    tp = lambda key: lambda r, k="p50": r[key][k]

    def cell(runs, get):  # "p50 run 1 / p50 run 2 / ..."
        return both([get(r) for r in runs if r is not None])

    def ratio(runs, num, den):
        return both([num(r) / den(r) for r in runs], lambda v: f"{v:.1f}×")

    cols = ["model", "batch", "T", "input", "spikestream CPU", "PyTorch step", "PyTorch T-batched / T",
            "PyTorch step ÷ spikestream", "PyTorch T-batched ÷ spikestream"]
    if has_gpu:
        cols.insert(5, "spikestream GPU backend" + (" (lavapipe, on the CPU)" if gpu.get("software") else ""))
    if has_cuda:
        cols += ["PyTorch CUDA step", "PyTorch CUDA T-batched / T"]
    cols += ["GFLOP/step dense", "steps timed", "load avg"]
    rows = []
    for x in res:
        runs = x["runs"]
        name = x["arch"] + (f" (widths ÷{x['width_div']})" if x["width_div"] > 1 else "")
        row = [name, str(x["batch"]), str(x["timesteps"]), x["input"], cell(runs, ss),
               cell(runs, tp("torch_step")), cell(runs, tp("torch_multi")),
               ratio(runs, tp("torch_step"), ss), ratio(runs, tp("torch_multi"), ss)]
        if has_gpu:
            row.insert(5, cell([r if "spikestream_gpu" in r else None for r in runs], sg))
        if has_cuda:
            row += [cell([r if "torch_cuda_step" in r else None for r in runs], tp("torch_cuda_step")),
                    cell([r if "torch_cuda_multi" in r else None for r in runs], tp("torch_cuda_multi"))]
        row += [f"{runs[0]['spikestream_cpu']['flops_per_timestep'] / 1e9:.2f}",
                f"{x['steps']} (+{x['warmup']} warmup); T-batched {x['multi_reps']}×",
                both([r["loadavg"] for r in runs], lambda v: f"{v:.1f}")]
        rows.append(row)
    m = doc["machine"]
    out = [f"### spikestream vs PyTorch/SpikingJelly, per-timestep latency ({doc['date']})", "",
           f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; load average {doc['load_start']:.1f} at start, "
           f"{doc['load_end']:.1f} at the end.",
           f"- Versions: {doc['spikestream_version']}, repository at git {doc['git']}; torch {doc['torch']}, "
           f"SpikingJelly {doc['spikingjelly']}, Python {doc['python']}.",
           f"- Threads: {doc['threads']} (`torch.set_num_threads({doc['threads']})`; `RAYON_NUM_THREADS={doc['threads']}` "
           f"and `LP_NUM_THREADS={doc['threads']}` for spikestream).",
           f"- Command: `{doc['command']}`",
           f"- Each cell is p50 ms per timestep, {doc['repeats']} runs shown as `run 1 / run 2 / …` (ratios per run; "
           "> 1× means spikestream is faster); `load avg` is the 1-minute load average after each run. "
           "Same weights on both sides (one safetensors file), same input frame every timestep "
           f"(spikestream bench's, seed 42, values non-zero with probability {doc['spike_rate']}).",
           ("- Weights: seeded random, scaled as spikestream's `model::synth` scales them, then each layer's BN shift "
            f"calibrated so it fires about {doc['target_rate']:.0%} of the time on the batch-1 input (a trained network "
            "fires 10-30 %); the spike-rate list below shows both sides' rates."
            if doc["target_rate"] > 0 else "- Weights: seeded random, scaled as spikestream's `model::synth` scales them."),
           "- PyTorch step: `model.step(x_t, t)` in SpikingJelly single-step mode, membranes kept between calls; "
           "T-batched: `model(x[T,B,...])` in multi-step mode, divided by T. Eval mode, `torch.inference_mode()`.",
           ""]
    if not has_gpu:
        out.insert(-1, f"- spikestream `--backend gpu`: skipped ({gpu.get('why', 'not tried')}).")
    elif gpu.get("software"):
        out.insert(-1, f"- spikestream `--backend gpu` ran on `{gpu['adapter']}` (a software Vulkan driver on the "
                       "same CPU cores), timed over one sequence: a functional check, not a GPU number.")
    out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] + ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "Spike rates per layer, spikestream / PyTorch (%), and the largest logit difference between PyTorch's "
            "step and T-batched runs:", ""]
    for x in res:
        pairs = [f"{n} {100 * x['spikestream_rates'].get(n, float('nan')):.1f}/{100 * v:.1f}" for n, v in x["torch_rates"].items()]
        diff = max(abs(x["spikestream_rates"].get(n, float("nan")) - v) for n, v in x["torch_rates"].items())
        out.append(f"- {x['arch']} batch {x['batch']} (input density {x['density']:.3f}; max |Δ| {100 * diff:.2f} points; "
                   f"step vs T-batched logits {x['step_vs_multi_max_logit_diff']:.1e}): " + ", ".join(pairs))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SPIKESTREAM_BIN", str(ROOT / "target/release/spikestream")))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="arch:batch,... (archs: %s)" % ", ".join(PRESETS))
    ap.add_argument("--width-div", type=int, default=1, help="divide every model's channel widths by this")
    ap.add_argument("--dvs-width-div", type=int, default=None, help="override --width-div for vgg11_dvs")
    ap.add_argument("--repeats", type=int, default=2, help="measure every configuration this many times")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per timing (sets the step count)")
    ap.add_argument("--steps", type=int, default=None, help="timed timesteps (default: from --budget)")
    ap.add_argument("--spike-rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target-rate", type=float, default=0.15,
                    help="shift each layer's BN bias so it fires at about this rate on the input (0: synth scaling only)")
    ap.add_argument("--gpu", choices=["auto", "off"], default="auto", help="also time spikestream --backend gpu")
    ap.add_argument("--cuda", choices=["auto", "off"], default="auto", help="also time PyTorch on CUDA if present")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per spikestream run")
    ap.add_argument("--models", type=Path, default=None,
                    help="keep the model files here (and reuse them: calibration is the slow part) instead of a temp dir")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--render", type=Path, default=None, help="print the Markdown of a saved --json output and exit")
    args = ap.parse_args()
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return
    if not Path(args.bin).is_file():
        sys.exit(f"no spikestream binary at {args.bin} (cargo build --release, or --bin / SPIKESTREAM_BIN)")
    torch.set_num_threads(args.threads)
    import spikingjelly
    configs = [(a, int(b)) for a, b in (c.split(":") for c in args.configs.split(","))]
    for a, _ in configs:
        if a not in PRESETS:
            sys.exit(f"unknown arch {a} (one of {', '.join(PRESETS)})")
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    built = datetime.datetime.fromtimestamp(Path(args.bin).stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip()
    version += f" (`{args.bin}`, built {built})"
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
                       "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
           "spikestream_version": version, "git": git, "torch": torch.__version__,
           "spikingjelly": getattr(spikingjelly, "__version__", "0.0.0.0.14"), "python": platform.python_version(),
           "threads": args.threads, "repeats": args.repeats, "spike_rate": args.spike_rate, "target_rate": args.target_rate,
           "command": shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv)),
           "load_start": os.getloadavg()[0], "results": []}
    if os.environ.get("SPIKESTREAM_BIN") and "--bin" not in sys.argv:
        doc["command"] = f"SPIKESTREAM_BIN={shlex.quote(args.bin)} " + doc["command"]
    gpu_state = {"ok": False, "why": "--gpu off"} if args.gpu == "off" else {"ok": None}
    cache = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.models or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for arch, batch in configs:
            doc["results"].append(bench_config(arch, batch, args, args.threads, out_dir, gpu_state, cache))
    doc.update(load_end=os.getloadavg()[0], gpu_backend=gpu_state, wall_s=time.time() - t0)
    log(f"total {doc['wall_s']:.0f} s")
    print(json.dumps(doc, indent=1) if args.json else markdown(doc))


if __name__ == "__main__":
    main()

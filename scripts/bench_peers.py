#!/usr/bin/env python3
"""spikestream against the CPU inference runtimes a user could pick for the same IMP-SNN (issue 17):
PyTorch eager, torch.compile (inductor, freezing), ONNX Runtime, OpenVINO f32 and OpenVINO at its
default precision (bf16 on an AVX512_BF16 CPU), in one interleaved run; `--runtimes
…,spikestream_bf16` adds spikestream with `--precision bf16` (opt-in, not bit-exact) as a column.

The model is built, seeded, calibrated to --target-rate spikes per layer and written as a spikestream
model file exactly as scripts/bench_torch.py does (its `get_model`; full width unless --width-div),
so both scripts time the same weights. Every peer runs one timestep per call with the membranes as
explicit inputs and outputs (scripts/bench_peers_step.py; ONNX exported the same way, one static
batch size per file): the same per-timestep work as spikestream's online loop, which is what
`spikestream bench` times, rather than a T-unrolled graph whose cost per step would hide the
per-call overhead an online engine pays. The input is spikestream bench's own frame (xorshift,
seed 42), regenerated bit for bit, the same frame every timestep; a sequence starts from the IMP
membranes (spikestream's reset is inside its timed step; the peers' is a pointer swap).

Rounds: each round times every runtime at every (threads, batch) for --steps timesteps (whole
sequences), interleaved, so that load drifts hit all of them alike; each cell reports the min and the
median over rounds of the p50 ms per timestep. Threads: RAYON_NUM_THREADS for spikestream,
torch.set_num_threads, ORT intra-op threads (inter-op 1), OpenVINO INFERENCE_NUM_THREADS.

Checks printed beside the table: per-layer spike rates of every runtime (from the probe graph, which
also returns each layer's spike rate) against spikestream bench's; the largest |logit| difference of
every runtime against spikestream f32 over one sequence (`spikestream classify --decode per-step`
on the same frames); torch.compile's graph count and graph breaks (torch._dynamo.explain) and the
dynamo counters (one graph per batch size and variant, no recompiles per timestep); the precision
OpenVINO used (compiled_model.get_property).

Run:  scripts/setup-bench-peers.sh && cargo build --release
      .venv-bench/bin/python scripts/bench_peers.py [--threads 1,2] [--batches 1,16] [--rounds R]
          [--steps N] [--configs vgg11_48_legacy,vgg11_dvs,sew_resnet18] [--runtimes a,b,...]
          [--models DIR] [--json OUT.json] [--render SAVED.json]
The spikestream binary: --bin, else $SPIKESTREAM_BIN, else target/release/spikestream.
"""
import argparse, datetime, json, os, platform, shlex, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_torch as BT  # noqa: E402
import bench_peers_runtimes as R  # noqa: E402
from bench_peers_render import markdown  # noqa: E402
from bench_peers_step import StepNet, export_onnx  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def spikestream_logits(binary, path, x, T, timeout):
    """spikestream's per-step logits [T,B,K] on the frame `x` [B,C,H,W] repeated T times."""
    with tempfile.TemporaryDirectory() as d:
        frames = Path(d) / "frames.npy"
        np.save(frames, np.ascontiguousarray(np.broadcast_to(x, (T, *x.shape)), np.float32))
        cmd = [binary, "classify", str(path), str(frames), "--jsonl", "--decode", "per-step", "--backend", "cpu",
               "--batch", str(x.shape[0])]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    samples = rec.get("samples", [rec])
    return np.stack([np.asarray(s["logits"], np.float32) for s in samples], axis=1), None


def prepare(arch, args, tmp, cache, doc):
    """The model, its file, the ONNX exports and a runner per (runtime, threads, batch)."""
    T, chw, _ = BT.PRESETS[arch]
    model, path = BT.get_model(arch, args.width_div, args, tmp, cache)
    net, probe_net = StepNet(model).eval(), StepNet(model, probe=True).eval()
    info = {"arch": arch, "timesteps": T, "input": "x".join(map(str, chw)), "width_div": args.width_div,
            "model_file": path.name, "cells": {}, "checks": {}}
    rts, runners = args.runtimes, {}
    compiled, probe_compiled = {}, None
    if "torch_compile" in rts:  # one compiled graph per thread count (inductor bakes it into its kernels)
        info["compile"] = doc["explained"][arch]
        compiled = {th: R.compile_step(StepNet(model).eval()) for th in args.threads}
        probe_compiled = R.compile_step(probe_net)
    core = R.openvino_core() if any(r.startswith("openvino") for r in rts) else None
    for batch in args.batches:
        x = torch.from_numpy(BT.spikestream_input(batch * chw[0] * chw[1] * chw[2], args.spike_rate)).view(batch, *chw)
        mems0 = net.init_mems(batch)
        onnx_path = probe_path = None
        if any(r in rts for r in ("onnxruntime", "openvino_f32", "openvino_default")):
            t0 = time.perf_counter()
            onnx_path = export_onnx(net, batch, chw, Path(tmp) / f"{arch}_b{batch}.onnx")
            probe_path = export_onnx(probe_net, batch, chw, Path(tmp) / f"{arch}_b{batch}_probe.onnx")
            R.expect_io(net, onnx_path)
            R.expect_io(probe_net, probe_path)
            log(f"   {arch} batch {batch}: ONNX exported in {time.perf_counter() - t0:.1f} s")
        for th in args.threads:
            for rt in rts:
                t0 = time.perf_counter()
                if rt.startswith("spikestream"):
                    r = None
                elif rt == "torch_eager":
                    r = R.TorchRunner(net, probe_net, x, T, mems0, th)
                elif rt == "torch_compile":
                    r = R.TorchRunner(compiled[th], probe_compiled, x, T, mems0, th)
                elif rt == "onnxruntime":
                    r = R.OrtRunner(onnx_path, probe_path, x, T, mems0, th)
                else:
                    r = R.OpenVinoRunner(core, onnx_path, probe_path, x, T, mems0, th, rt == "openvino_f32")
                    doc["openvino_precision"][rt] = r.precision
                runners[(rt, th, batch)] = r
                if r is not None:  # one sequence: compiles, plans, first-call costs
                    r.begin()
                    for i in range(T):
                        r.step(i)
                    log(f"   {arch} {rt} threads {th} batch {batch}: ready in {time.perf_counter() - t0:.1f} s")
        info["checks"][str(batch)] = check(arch, batch, x, T, path, net, mems0, runners, args)
    info["neurons"] = net.names
    return info, runners, path


def check(arch, batch, x, T, path, net, mems0, runners, args):
    """Per-step logits and per-layer spike rates of every runtime over one sequence, against spikestream."""
    ref, err = spikestream_logits(args.bin, path, x.numpy(), T, args.timeout)
    out = {"spikestream_logits_error": err, "rates": {}, "max_abs_logit_diff": {}, "mean_abs_logit_diff": {},
           "ref_max_abs_logit": None, "timed_vs_probe": {}}
    if ref is not None:
        out["ref_max_abs_logit"] = float(np.abs(ref).max())
    th = args.threads[0]
    for rt in args.runtimes:
        r = runners.get((rt, th, batch))
        if r is None:
            continue
        logits, rates = r.probe()
        r.begin()
        for i in range(T):  # the timed path (membranes bound in place) against the probe graph
            r.step(i)
        out["timed_vs_probe"][rt] = float(np.abs(r.last_logits() - logits[-1]).max())
        out["rates"][rt] = dict(zip(net.names, map(float, rates.mean(0))))
        if ref is not None:
            out["max_abs_logit_diff"][rt] = float(np.abs(logits - ref).max())
            out["mean_abs_logit_diff"][rt] = float(np.abs(logits - ref).mean())
        log(f"   {arch} batch {batch} {rt}: max |logit - spikestream| "
            f"{out['max_abs_logit_diff'].get(rt, float('nan')):.2e}; timed graph vs probe {out['timed_vs_probe'][rt]:.1e}")
    return out


def measure(rt, r, arch, batch, th, path, args):
    T = BT.PRESETS[arch][0]
    steps = -(-args.steps // T) * T
    if rt.startswith("spikestream"):
        precision = ("--precision", "bf16") if rt == "spikestream_bf16" else ()
        ss, err = BT.run_spikestream(args.bin, path, batch, "cpu", steps, args.warmup, args.spike_rate, th, args.timeout,
                                     extra=("--profile-steps", "0", *precision))  # no per-layer profile after the timed steps
        if ss is None:
            sys.exit(f"spikestream bench failed on {arch} batch {batch}: {err}")
        return ss["p50_ms_per_timestep"], dict(ss["spike_rates"]) if rt == "spikestream" else None
    r.begin()
    for i in range(args.warmup):
        r.step(i)
    ms = []
    for i in range(steps):
        t0 = time.perf_counter()
        r.step(i)
        ms.append((time.perf_counter() - t0) * 1e3)
    return BT.percentile(ms, 0.5), None


def machine():
    run = lambda *c: subprocess.run(c, capture_output=True, text=True).stdout.strip()
    return {"cpu": BT.cpu_name(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "bf16": "avx512_bf16" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else None,
            "uptime": run("uptime")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SPIKESTREAM_BIN", str(BT.ROOT / "target/release/spikestream")))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100, help="timed timesteps per cell and round (rounded up to whole sequences)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--configs", default="vgg11_48_legacy", help="archs, comma-separated: " + ", ".join(BT.PRESETS))
    ap.add_argument("--runtimes", default=",".join(R.RUNTIMES), help="subset of " + ",".join(R.RUNTIMES + R.OPTIONAL))
    ap.add_argument("--width-div", type=int, default=1, help="divide the channel widths (quick checks only)")
    ap.add_argument("--spike-rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target-rate", type=float, default=0.15)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per spikestream run")
    ap.add_argument("--models", type=Path, default=None, help="keep (and reuse) model files and ONNX exports here")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="also save the raw results as JSON")
    ap.add_argument("--render", type=Path, default=None, metavar="SAVED", help="print the Markdown of a saved --json and exit")
    args = ap.parse_args()
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return
    args.threads = [int(v) for v in args.threads.split(",")]
    args.batches = [int(v) for v in args.batches.split(",")]
    args.runtimes = args.runtimes.split(",")
    configs = args.configs.split(",")
    for name, got, known in (("--configs", configs, BT.PRESETS), ("--runtimes", args.runtimes, R.RUNTIMES + R.OPTIONAL)):
        bad = [v for v in got if v not in known]
        if bad:
            sys.exit(f"{name}: unknown {', '.join(bad)} (known: {', '.join(known)})")
    if "spikestream" not in args.runtimes:
        sys.exit("--runtimes must include spikestream (the reference of every ratio and check)")
    if not Path(args.bin).is_file():
        sys.exit(f"no spikestream binary at {args.bin} (cargo build --release, or --bin / SPIKESTREAM_BIN)")
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=BT.ROOT, capture_output=True, text=True).stdout.strip()
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "spikestream_version": subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip(),
           "git": git, "versions": R.versions(), "python": platform.python_version(),
           "command": shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv)),
           "threads": args.threads, "batches": args.batches, "rounds": args.rounds, "runtimes": args.runtimes,
           "spike_rate": args.spike_rate, "target_rate": args.target_rate, "openvino_precision": {},
           "load_start": os.getloadavg()[0], "configs": []}
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.models or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        cache, setups = {}, []
        doc["explained"] = {}
        for arch in configs if "torch_compile" in args.runtimes else []:  # first: explain resets dynamo's caches
            T, chw, _ = BT.PRESETS[arch]
            net = StepNet(BT.get_model(arch, args.width_div, args, out_dir, cache)[0]).eval()
            x1 = torch.from_numpy(BT.spikestream_input(chw[0] * chw[1] * chw[2], args.spike_rate)).view(1, *chw)
            doc["explained"][arch] = R.compile_report(net, x1, net.init_mems(1))
        for arch in configs:
            log(f"== {arch}: model, exports, runtimes")
            setups.append(prepare(arch, args, out_dir, cache, doc))
        if "torch_compile" in args.runtimes:  # every graph is compiled by now (each runner ran a sequence)
            doc["dynamo_counters"] = {"after_setup": R.dynamo_counters()}
        for (info, _, _) in setups:
            for b in args.batches:  # rows as the table: 1/1, 2/1, 1/16, 2/16
                for th in args.threads:
                    info["cells"][f"{th}/{b}"] = {rt: [] for rt in args.runtimes}
            info["spikestream_rates"], info["load_per_round"] = {}, []
        for rnd in range(args.rounds):
            for info, runners, path in setups:
                for key, cell in info["cells"].items():
                    th, b = map(int, key.split("/"))
                    for rt in args.runtimes:
                        p50, rates = measure(rt, runners.get((rt, th, b)), info["arch"], b, th, path, args)
                        cell[rt].append(p50)
                        if rates is not None:
                            info["spikestream_rates"].setdefault(str(b), rates)
                    log(f"  round {rnd + 1} {info['arch']} {th}/{b}: " +
                        ", ".join(f"{rt} {cell[rt][-1]:.2f}" for rt in args.runtimes))
                info["load_per_round"].append(os.getloadavg()[0])
        if "dynamo_counters" in doc:
            doc["dynamo_counters"]["after_timing"] = R.dynamo_counters()
        doc["configs"] += [info for info, _, _ in setups]
    doc.update(load_end=os.getloadavg()[0], uptime_end=subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
               wall_s=time.time() - t_start)
    log(f"total {doc['wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1))
    print(markdown(doc))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""How far the peer benchmark's models move under rounding alone: the same PyTorch step function
(scripts/bench_peers_step.py), same weights, same input, run in float32 and in float64. Prints the
largest logit difference and the largest per-layer spike-rate difference over one sequence, next
to spikestream's difference from each.

If float32-vs-float64 moves the logits by as much as spikestream does,
the difference between spikestream and the peers is this network's sensitivity to rounding
(spikes that flip where a membrane lands within an ulp of the threshold, and what follows), not a
difference in what is computed.

    /work/wt-peers/.venv-bench/bin/python scripts/bench_peers_sensitivity.py --models bench-out/peers-big \
        --configs vgg11_dvs,sew_resnet18
"""
import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_torch as BT  # noqa: E402
from bench_peers import spikestream_logits  # noqa: E402
from bench_peers_step import StepNet, step_sequence  # noqa: E402


def run(net, x, T, dtype):
    net = copy.deepcopy(net).to(dtype).eval()
    mems0 = [m.to(dtype) for m in net.init_mems(x.shape[0])]
    ts = [torch.tensor([t], dtype=torch.int64) for t in range(T)]
    with torch.no_grad():
        logits, rates = step_sequence(lambda xx, t, m: net(xx, ts[t], *m), x.to(dtype), T, mems0, lambda o: o.double().numpy())
    return logits.astype(np.float64), rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="vgg11_dvs,sew_resnet18")
    ap.add_argument("--models", required=True, help="the --models folder of a bench_peers.py run (its calibrated model files)")
    ap.add_argument("--bin", default="target/release/spikestream")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ns = argparse.Namespace(seed=7, target_rate=0.15, spike_rate=0.1)
    for arch in args.configs.split(","):
        T, chw, _ = BT.PRESETS[arch]
        model, path = BT.get_model(arch, 1, ns, args.models, {})
        x = torch.from_numpy(BT.spikestream_input(chw[0] * chw[1] * chw[2], ns.spike_rate)).view(1, *chw)
        probe = StepNet(model, probe=True)
        l32, r32 = run(probe, x, T, torch.float32)
        l64, r64 = run(probe, x, T, torch.float64)
        ref, err = spikestream_logits(args.bin, path, x.numpy(), T, 600)
        print(f"{arch} (largest |logit| {np.abs(l64).max():.3f}):")
        print(f"  max |logit f32 - f64|               {np.abs(l32 - l64).max():.3e}   spike rate per layer differs by up to {np.abs(r32 - r64).max() * 100:.3f} points")
        if ref is not None:
            print(f"  max |logit spikestream - torch f32| {np.abs(ref - l32).max():.3e}")
            print(f"  max |logit spikestream - torch f64| {np.abs(ref - l64).max():.3e}")
        else:
            print(f"  spikestream: {err}")


if __name__ == "__main__":
    main()

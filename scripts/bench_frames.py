#!/usr/bin/env python3
"""Count-binning speed, spikestream against SpikingJelly and tonic on the same events, one core.

Both sides generate the same N events from one formula (examples/frames_speed.rs has the Rust
twin): t = i // 4, x = (i*7919 + 13) % W, y = (i*104729 + 7) % H, p = (i*31 >> 3) & 1; then
split them by number into T frames of [2, H, W] counts:
- spikestream: `frames::slice` + `frames::bin_slices` (examples/frames_speed.rs);
- SpikingJelly 0.0.0.0.14: `integrate_events_by_fixed_frames_number(events, 'number', T, H, W)`;
- tonic 1.7.0: `ToFrame(sensor_size, n_event_bins=T)` (np.add.at into int16).
Each is pinned to core 0 (taskset) and single-threaded BLAS; the best of R repeats counts.

Run: scripts/setup-reference.sh && .venv-reference/bin/python scripts/bench_frames.py [N]
"""
import json, os, platform, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
T, W, H, R = 10, 128, 128, 5
os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
os.sched_setaffinity(0, {0})

import numpy as np


def events():
    i = np.arange(N, dtype=np.int64)
    return {"t": i // 4, "x": (i * 7919 + 13) % W, "y": (i * 104729 + 7) % H, "p": (i * 31 >> 3) & 1}


def best(fn):
    times = []
    for _ in range(R):
        s = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - s)
    return min(times), out


def main():
    ev = events()
    rows = []
    binary = os.environ.get("SPIKESTREAM_EXAMPLES", str(ROOT / "target/release/examples"))
    out = subprocess.run(["taskset", "-c", "0", f"{binary}/frames_speed", str(N), str(T), str(W), str(H), str(R)], check=True, capture_output=True, text=True).stdout
    ours = json.loads(out)["events_per_s"]
    rows.append(("spikestream (bin_slices, split by number)", ours))
    from spikingjelly.datasets import integrate_events_by_fixed_frames_number
    dt, frames = best(lambda: integrate_events_by_fixed_frames_number(ev, "number", T, H, W))
    assert int(frames.sum()) == N
    rows.append(("SpikingJelly integrate_events_by_fixed_frames_number", N / dt))
    import tonic
    structured = np.zeros(N, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    for k in "xytp":
        structured[k] = ev[k]
    to_frame = tonic.transforms.ToFrame(sensor_size=(W, H, 2), n_event_bins=T)
    small = structured[: N // 10]  # np.add.at is slow; time a tenth
    dt, _ = best(lambda: to_frame(small))
    rows.append(("tonic ToFrame(n_event_bins)", len(small) / dt))
    fastest_peer = max(r[1] for r in rows[1:])
    print(f"Count binning, {N:,} events into {T} frames of 2x{H}x{W}, one core (taskset -c 0), best of {R}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}, tonic {tonic.__version__}")
    print()
    print("| binner | M events/s | spikestream / this |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate / 1e6:.1f} | {ours / rate:.2f}x |")
    print(f"\nspikestream is {ours / fastest_peer:.1f}x the fastest peer")


if __name__ == "__main__":
    main()

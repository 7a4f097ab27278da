#!/usr/bin/env python3
"""Speed of spikestream from Python against the Python peers, on the same files, one core.

Decoding + tonic-style framing (ToFrame, n_time_bins=10):
- spikestream: `spikestream.read` + `spikestream.transforms.ToFrame`;
- peers: dv-processing 2.0.4 (AEDAT4) or tonic.io (AEDAT 3.1) decoding, the events copied
  into tonic's structured layout, then tonic 1.7.0's `ToFrame`.
SpikingJelly integration (split by number, 10 frames) on the decoded events:
- spikestream: `spikestream.frames.integrate`; peer: SpikingJelly 0.0.0.0.14's
  `integrate_events_by_fixed_frames_number`.
Every result is checked equal to the peer's before it is timed. The process is pinned to core
0 (sched_setaffinity) with one BLAS thread; the best of R runs counts, and the CPU time of the
process is printed beside the wall time (the machine may be shared).

`--ray N`: classifies N simulated recordings with `spikestream.ray.classify` on a local Ray
cluster with 1 and then 2 actors (CPU backend, no pinning) and prints files per second.

Run: scripts/setup-reference.sh && .venv-reference/bin/pip install ./python "ray[data]" &&
     .venv-reference/bin/python scripts/bench_python.py [--events N] [--rounds R] [--ray FILES]
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TONIC_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("p", "<i8"), ("t", "<i8")])


def best(fn, rounds):
    wall, cpu, out = [], [], None
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu), out


def tonic_layout(t, x, y, p):
    ev = np.empty(len(t), TONIC_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def dv_read(path):
    import dv_processing as dv
    reader = dv.io.MonoCameraRecording(str(path))
    parts = []
    while reader.isRunning():
        b = reader.getNextEventBatch()
        if b is not None and len(b) > 0:
            parts.append(b.numpy())
    a = np.concatenate(parts)
    return tonic_layout(a["timestamp"], a["x"], a["y"], a["polarity"])


def tonic_aedat31_read(path):
    """tonic's AEDAT 3.1 reading (read_dvs_ibm's body: tonic 1.7.0's own call unpacks the header
    tuple wrongly, see scripts/bench_decode.py)."""
    import tonic.io as tio
    version, start, _ = tio.read_aedat_header_from_file(str(path))
    ev = tio.get_aer_events_from_file(str(path), version, start)
    a = ev["address"]
    return tonic_layout(ev["timeStamp"], (a >> 17) & 0x1FFF, (a >> 2) & 0x1FFF, (a >> 1) & 1)


def make_aedat4(folder, n):
    """n events of a 640x480 sensor, timestamps rising by 0..9 µs."""
    import spikestream
    rng = np.random.Generator(np.random.PCG64(5))
    ev = np.empty(n, spikestream.EVENT_DTYPE)
    ev["t"] = 1_000_000 + np.cumsum(rng.integers(0, 10, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 640, n), rng.integers(0, 480, n), rng.integers(0, 2, n)
    path = Path(folder) / f"random_{n}.aedat4"
    spikestream.write(path, ev, (640, 480))
    return path


def decode_and_frame(files, rounds):
    import spikestream
    import tonic
    from spikestream.transforms import ToFrame
    from spikingjelly.datasets import integrate_events_by_fixed_frames_number
    rows = []
    for name, path, (w, h), peer_name, peer_read in files:
        ours_tf, peer_tf = ToFrame(sensor_size=(w, h, 2), n_time_bins=10), tonic.transforms.ToFrame(sensor_size=(w, h, 2), n_time_bins=10)
        ours = lambda: ours_tf(spikestream.read(path)[0])  # noqa: E731
        peer = lambda: peer_tf(peer_read(path))  # noqa: E731
        same = np.array_equal(ours(), peer())
        # tonic.io ignores AEDAT 3.1's eventTSOverflow, so after that file's 31-bit rollover its
        # times (and frames) differ; every other pair must agree.
        assert same or "3.1" in name, name
        n = len(spikestream.read(path)[0])
        for who, fn in (("spikestream read + ToFrame", ours), (f"{peer_name} + tonic ToFrame", peer)):
            wall, cpu, _ = best(fn, rounds)
            rows.append((name if same else name + " (frames differ: rollover)", n, who, wall, cpu))
        events = spikestream.read(path)[0]
        d = {k: events[k].astype(np.int64) for k in "txyp"}
        assert np.array_equal(spikestream.frames.integrate(events, 10, "number", h, w), integrate_events_by_fixed_frames_number(d, "number", 10, h, w))
        for who, fn in (("spikestream frames.integrate", lambda: spikestream.frames.integrate(events, 10, "number", h, w)),
                        ("SpikingJelly integrate_events_by_fixed_frames_number", lambda: integrate_events_by_fixed_frames_number(d, "number", 10, h, w))):
            wall, cpu, _ = best(fn, rounds)
            rows.append((name, n, who, wall, cpu))
    print(f"| file | events | pipeline | best wall (s) | CPU (s) | Mev/s (wall) |\n|---|---|---|---|---|---|")
    for name, n, who, wall, cpu in rows:
        print(f"| {name} | {n:,} | {who} | {wall:.4f} | {cpu:.4f} | {n / wall / 1e6:.1f} |")


def ray_scaling(files):
    import ray
    import spikestream.ray as sray
    model = ROOT / "models/demo/sim10_vgg48_legacy.safetensors"
    with tempfile.TemporaryDirectory() as d:
        binary = os.environ.get("SPIKESTREAM_BIN", str(ROOT / "target/release/spikestream"))
        subprocess.run([binary, "simulate", "--out", f"{d}/data",
                        "--per-class", str(files // 10), "--seed", "3"], check=True, cwd=ROOT, capture_output=True)
        paths = sorted(Path(d).rglob("*.aedat4"))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
                 _system_config={"local_fs_capacity_threshold": 0.999})
        for actors in (1, 2, 1, 2):
            start = time.perf_counter()
            rows = sray.classify(paths, model, None, read="paths", backend="cpu", concurrency=actors, num_cpus=0.5).take_all()
            dt = time.perf_counter() - start
            assert len(rows) == len(paths)
            print(f"ray: {len(paths)} files, {actors} actor(s): {dt:.1f} s, {len(paths) / dt:.1f} files/s; load {os.getloadavg()[0]:.1f}")
        ray.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ray", type=int, default=0, metavar="FILES")
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.ray:
        return ray_scaling(args.ray)
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as d:
        files = [
            ("random 640x480 (AEDAT4, LZ4)", make_aedat4(d, args.events), (640, 480), "dv-processing", dv_read),
            ("dvxplorer_rollover_aedat31.aedat (AEDAT 3.1)", ROOT / "tests/data/dvxplorer_rollover_aedat31.aedat", (640, 480),
             "tonic.io (AEDAT 3.1)", tonic_aedat31_read),
        ]
        decode_and_frame(files, args.rounds)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())

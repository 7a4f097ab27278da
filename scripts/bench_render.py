#!/usr/bin/env python3
"""Rendering speed: `spikestream render` against faery 0.7.1 on the same recording, one core,
interleaved rounds. Not a test: prints a table for BENCHMARKS.md.

    python3 -m venv /tmp/venv-faery && /tmp/venv-faery/bin/pip install faery==0.7.1 numpy
    /tmp/venv-faery/bin/python scripts/bench_render.py [--seconds 10] [--rounds 3] [--input aedat4|evt2] [--bin PATH]

The recording is synthetic, 640x480 (a bar sweeping across plus 20 % background noise, about
1 M events/s), written as EVT2 and (by default, `--input aedat4`) converted to AEDAT4 (LZ4) by
spikestream; both tools read the same file. Both render 30 fps with an exponential decay of 200 ms to GIF and to MP4 (faery's
vendored x264, ffmpeg's libx264 for spikestream, at its default preset ultrafast and at
veryfast); "x real time" is seconds of event time per second of wall time. The last rows time
ffmpeg alone on the same frames, the bound of any MP4 row. `--bin` times another build of
spikestream (e.g. a copy of the binary before a change) on the same machine and load. The CPU seconds (user + system of the whole process tree, ffmpeg
included) are printed too: on a loaded machine they show the work when the wall time does not.
"""
import argparse, os, resource, subprocess, sys, tempfile, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "spikestream")


def synth_evt2(path, seconds, rate=1_000_000, w=640, h=480, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.sort(rng.integers(0, int(seconds * 1e6), n, dtype=np.int64))
    bar = (t * w // int(seconds * 1e6 / 4)) % w  # four sweeps
    noise = rng.random(n) < 0.2
    x = np.where(noise, rng.integers(0, w, n), np.clip(bar + rng.integers(-6, 7, n), 0, w - 1))
    y = rng.integers(0, h, n)
    p = rng.integers(0, 2, n)
    words = (p.astype(np.uint32) << 28) | ((t & 63).astype(np.uint32) << 22) | (x.astype(np.uint32) << 11) | y.astype(np.uint32)
    high = t >> 6
    change = np.ones(n, bool)
    change[1:] = high[1:] != high[:-1]
    out = np.empty(n + change.sum(), np.uint32)
    pos = np.arange(n) + np.cumsum(change)
    out[pos] = words
    out[pos[change] - 1] = (np.uint32(8) << 28) | high[change].astype(np.uint32)
    with open(path, "wb") as f:
        f.write(b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n")
        f.write(out.astype("<u4").tobytes())
    return n


def run_spikestream(src, out, *extra):
    subprocess.run(["taskset", "-c", "0", BIN, "render", src, "--out", out, "--fps", "30", "--tau-us", "200000", *extra], check=True, capture_output=True)


FAERY = """
import faery, sys
faery.events_stream_from_file(sys.argv[1]).regularize(frequency_hz=30.0).render(
    decay="exponential", tau="00:00:00.200000", colormap=faery.colormaps.starry_night).to_file(sys.argv[2])
"""


def run_faery(src, out):
    subprocess.run(["taskset", "-c", "0", sys.executable, "-c", FAERY, src, out], check=True, capture_output=True)


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--input", choices=["aedat4", "evt2"], default="aedat4",
                    help="the recording's format: AEDAT4 with LZ4 (16 bytes an event before compression) or Prophesee EVT2 (4 bytes an event)")
    ap.add_argument("--bin", default=BIN, help="the spikestream binary to time (default: this checkout's target/release/spikestream)")
    a = ap.parse_args()
    BIN = a.bin
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "in.raw")
        n = synth_evt2(raw, a.seconds)
        src = raw
        if a.input == "aedat4":
            src = os.path.join(d, "in.aedat4")
            subprocess.run([BIN, "convert", raw, src, "--compression", "lz4"], check=True, capture_output=True)
        print(f"# {BIN}")
        print(f"# {n} events, {a.seconds} s, 640x480, read from {a.input} ({os.path.getsize(src) / 1e6:.0f} MB); load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
        print("| output | spikestream s (CPU s) | faery s (CPU s) | spikestream x real time (CPU) | faery x real time (CPU) | faery / spikestream | spikestream MB |")
        print("|---|---:|---:|---:|---:|---:|---:|")

        def timed(fn, *args):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            fn(*args)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        # mp4: spikestream's default (--mp4-preset ultrafast) and veryfast (smaller files, the
        # default before 2026-12-06 13:30) against faery's default; faery's time is measured
        # once per format.
        faery = {}
        for ext, extra in [("gif", []), ("mp4", []), ("mp4", ["--mp4-preset", "veryfast"]), ("y4m", [])]:
            times = {"s": [], "f": []}
            for _ in range(a.rounds):
                # Y4M needs no encoder (faery has no Y4M output): spikestream alone.
                times["s"].append(timed(run_spikestream, src, os.path.join(d, f"out-s.{ext}"), *extra))
                if ext != "y4m" and ext not in faery:
                    times["f"].append(timed(run_faery, src, os.path.join(d, f"out-f.{ext}")))
            if times["f"]:
                faery[ext] = min(times["f"])
            name = f"{ext} ({extra[-1]})" if extra else ext
            (s, sc), x = min(times["s"]), a.seconds
            size = os.path.getsize(os.path.join(d, f"out-s.{ext}")) / 1e6
            if ext in faery:
                f, fc = faery[ext]
                print(f"| {name} | {s:.2f} ({sc:.2f}) | {f:.2f} ({fc:.2f}) | {x / s:.1f} ({x / sc:.1f}) | {x / f:.1f} ({x / fc:.1f}) | {f / s:.2f} | {size:.1f} |")
            else:
                print(f"| {name} | {s:.2f} ({sc:.2f}) | - | {x / s:.1f} ({x / sc:.1f}) | - | - | {size:.1f} |")

        # The encoder alone: ffmpeg/libx264 reading the same frames as a 4:2:0 Y4M file (what
        # render pipes to it), one core; the MP4 rows cannot beat 1 / (1/ours + 1/this).
        y420 = os.path.join(d, "frames420.y4m")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(d, "out-s.y4m"), "-pix_fmt", "yuvj420p", "-strict", "-1", "-f", "yuv4mpegpipe", y420], check=True)
        for preset in ["ultrafast", "veryfast"]:
            enc = lambda: subprocess.run(["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", y420, "-c:v", "libx264", "-preset", preset, "-movflags", "+faststart", "-f", "mp4", os.path.join(d, "enc.mp4")], check=True)
            e, ec = min(timed(enc) for _ in range(a.rounds))
            size = os.path.getsize(os.path.join(d, "enc.mp4")) / 1e6
            print(f"| ffmpeg alone ({preset}, from a 4:2:0 Y4M file) | {e:.2f} ({ec:.2f}) | - | {a.seconds / e:.1f} ({a.seconds / ec:.1f}) | - | - | {size:.1f} |")
        # H.264 4:0:0 (High profile, luma only): what dropping chroma would save with the
        # default grey palette; not used by render (many hardware and browser decoders play
        # only 4:2:0).
        ygray = os.path.join(d, "frames400.y4m")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(d, "out-s.y4m"), "-pix_fmt", "gray", "-strict", "-1", "-f", "yuv4mpegpipe", ygray], check=True)
        enc = lambda: subprocess.run(["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", ygray, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "gray", "-movflags", "+faststart", "-f", "mp4", os.path.join(d, "enc.mp4")], check=True)
        e, ec = min(timed(enc) for _ in range(a.rounds))
        size = os.path.getsize(os.path.join(d, "enc.mp4")) / 1e6
        print(f"| ffmpeg alone (ultrafast, 4:0:0 grey from a Y4M file; not used) | {e:.2f} ({ec:.2f}) | - | {a.seconds / e:.1f} ({a.seconds / ec:.1f}) | - | - | {size:.1f} |")
        print(f"# load at the end {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Decode speed of spikestream beside the Python peers, on the same files, on one core.

    .venv-peers/bin/python scripts/bench_decode.py [--events N] [--seconds S] [--rounds R]
        [--clock cpu|wall] [--core C] [--threads N] [--only FORMATS] [--no-build] [--json OUT]

Needs the benchmark peers (`scripts/setup-peers.sh --bench`): expelliarmus (EVT2, EVT3, DAT),
dv-processing and the `aedat` package (AEDAT4), tonic (AEDAT2, AEDAT3.1, ATIS bin).

Inputs: the synthetic files of benches/common/synth.rs (written to a temporary folder by
`examples/decode_speed.rs synth`, about 5 M events each) and the real recordings in
../shared/fixtures when present (absent ones are noted and skipped). Every run, ours and each
peer's, is a separate process pinned with `taskset -c CORE`, repeated for about SECONDS and
timed by its best run (process CPU time by default: on a shared machine it leaves out the time
other processes held the core; `--clock wall` for wall clock); ROUNDS rounds alternate ours and
the peers and the best of all counts. Rates divide the number of events spikestream decodes
from the file by the tool's time, so a peer that also returns non-event records (tonic on
AEDAT2 IMU samples) is not credited for them; differing counts are flagged.

Columns: `buffer` = spikestream decoding the file's bytes, already in memory, into a reused
event vector (the engine's steady state, and what the issue's goals name); `file` =
`spikestream::events::read_file` from the path (memory map, fresh vector, page faults
included), which is what the peers do (they read the file and allocate their arrays); `stream` =
`spikestream::events::EventReader` from the path, batch by batch (2 MiB of file at a time) into
one reused vector, bounded memory (what `inspect` and `convert` do; dv-processing's
`getNextEventBatch` loop is the peer that works the same way). The ratios are peer time over
ours; the `file` one is like for like with the peers that return whole arrays, the `stream` one
with dv-processing.

`--threads N` (N > 1) pins every run, ours and the peers', to cores C..C+N-1 instead, lets
spikestream decode runs of whole AEDAT4 packets on N rayon threads (`AEDAT4_PARALLEL=always`:
the library engages it by default only from 4 threads) and times by wall clock. The other
formats' decoders and all peers stay single-threaded, so only the AEDAT4 rows change.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
REAL = [  # (format, path under ../shared/fixtures)
    ("evt2", "expelliarmus/evt2_sample.raw"),
    ("evt2", "faery/evt2.raw"),
    ("evt3", "expelliarmus/evt3_sample.raw"),
    ("evt3", "derived/evt3_trigger_from_rosbag.raw"),
    ("dat", "tonic/sample_ncars.dat"),
    ("aedat4", "tonic/sample.aedat4"),
    ("aedat2", "PyAedatTools/IMU_translBoxes.aedat"),
    ("aedat3.1", "derived/dvxplorer_rollover_aedat31.aedat"),
    ("atis-bin", "tonic/sample_nmnist.bin"),
]
PEERS = {
    "evt2": ["expelliarmus"],
    "evt3": ["expelliarmus"],
    "dat": ["expelliarmus"],
    "aedat4": ["dv-processing", "aedat"],
    "aedat2": ["tonic"],
    "aedat3.1": ["tonic"],
    "atis-bin": ["tonic"],
}


# --- peers (run in a child process: `bench_decode.py --peer NAME FORMAT PATH SECONDS`) -------

def peer_reader(name, fmt):
    """A function path -> number of events decoded, for peer `name` on format `fmt`."""
    if name == "expelliarmus":
        import expelliarmus

        # The default read buffer (4 KiB) and 64 KiB; the faster one is kept.
        wizards = [expelliarmus.Wizard(encoding=fmt), expelliarmus.Wizard(encoding=fmt, buff_size=1 << 16)]
        return [lambda p, w=w: len(w.read(p)) for w in wizards]
    if name == "dv-processing":
        import dv_processing as dv

        def read(p):
            rec, n = dv.io.MonoCameraRecording(p), 0
            while rec.isRunning():
                batch = rec.getNextEventBatch()
                if batch is not None:
                    n += len(batch)
            return n

        return [read]
    if name == "aedat":
        import aedat

        def read(p):
            dec = aedat.Decoder(p)
            events = [s for s, info in dec.id_to_stream().items() if info["type"] == "events"]
            return sum(len(pk["events"]) for pk in dec if pk["stream_id"] == min(events))

        return [read]
    if name == "tonic":
        import tonic.io as tio

        if fmt == "aedat2":  # DAVIS layout (the synthetic file and IMU_translBoxes are DAVIS240C)
            return [lambda p: len(tio.read_davis_346(p)[2])]
        if fmt == "aedat3.1":
            # tonic.io.read_dvs_ibm unpacks two of the three values read_aedat_header_from_file
            # returns (tonic 1.7.0) and fails; this is its body with that call fixed.
            def read(p):
                version, start, _ = tio.read_aedat_header_from_file(p)
                ev = tio.get_aer_events_from_file(p, version, start)
                a = ev["address"]
                x, y, pol = (a >> 17) & 0x1FFF, (a >> 2) & 0x1FFF, (a >> 1) & 1
                return len(tio.make_structured_array(x, y, ev["timeStamp"], pol))

            return [read]
        if fmt == "atis-bin":
            return [lambda p: len(tio.read_mnist_file(p, dtype=tio.events_struct))]
    raise SystemExit(f"no peer {name} for {fmt}")


def run_peer(name, fmt, path, seconds):
    best = None
    for read in peer_reader(name, fmt):
        read(path)  # warm-up: imports, page cache
        wall, cpu, start = [], [], time.perf_counter()
        while len(wall) < 3 or time.perf_counter() - start < seconds / 2:
            t, c = time.perf_counter(), time.process_time()
            n = read(path)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        wall.sort()
        cpu.sort()
        if best is None or cpu[0] < best["best_cpu_s"]:
            best = {"events": n, "best_s": wall[0], "median_s": statistics.median(wall), "runs": len(wall),
                    "best_cpu_s": cpu[0], "median_cpu_s": statistics.median(cpu)}
    print(json.dumps(best))


# --- driver --------------------------------------------------------------------------------

def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "decode_speed"], cwd=ROOT, check=True)


def binary():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "examples" / "decode_speed"


def pinned(cores, args, env=None):
    out = subprocess.run(["taskset", "-c", cores, *map(str, args)], capture_output=True, text=True,
                         env=None if env is None else {**os.environ, **env})
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(old, new, keys):
    """`new` with each timing in `keys` replaced by the smaller of old and new."""
    if old is None or "error" in old:
        return new
    if "error" in new:
        return old
    return {**new, **{k: min(old[k], new[k]) for k in keys}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000, help="events per synthetic file")
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per tool and file")
    ap.add_argument("--core", type=int, default=0, help="the CPU every run is pinned to")
    ap.add_argument("--threads", type=int, default=1,
                    help="cores for every run; > 1 lets spikestream decode AEDAT4 packets in parallel (wall clock)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per file (best counts)")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="time runs by process CPU time (default; robust on a shared machine) or wall clock")
    ap.add_argument("--no-build", action="store_true", help="use the already built example")
    ap.add_argument("--only", help="comma-separated formats to run (default: all)")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    ap.add_argument("--peer", nargs=4, metavar=("NAME", "FORMAT", "PATH", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        name, fmt, path, seconds = args.peer
        return run_peer(name, fmt, path, float(seconds))
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin the runs to one core")
    if not args.no_build:
        build()
    cores = str(args.core) if args.threads <= 1 else f"{args.core}-{args.core + args.threads - 1}"
    ours_env = {"RAYON_NUM_THREADS": str(max(args.threads, 1))}
    if args.threads > 1:
        ours_env["AEDAT4_PARALLEL"] = "always"
        args.clock = "wall"  # CPU time would add the threads up
    only = set(args.only.split(",")) if args.only else None
    tmp = Path(tempfile.mkdtemp(prefix="spikestream-bench-"))
    try:
        synth = subprocess.run([binary(), "synth", tmp, str(args.events)], capture_output=True, text=True, check=True)
        cases = [(c["format"], Path(c["path"]), f"synthetic {c['name'].removeprefix('synthetic').lstrip('-')}".strip())
                 for c in map(json.loads, synth.stdout.splitlines())]
        for fmt, rel in REAL:
            if (FIXTURES / rel).exists():
                cases.append((fmt, FIXTURES / rel, rel))
            else:
                print(f"NOTE: fixture {FIXTURES / rel} is absent; skipped", file=sys.stderr)
        rows = []
        for fmt, path, label in cases:
            if only and fmt not in only:
                continue
            # Rounds alternate ours and the peers, so a busy spell on the machine hits both; the
            # best run of all rounds counts.
            ours, peers = None, {}
            for _ in range(args.rounds):
                run = pinned(cores, [binary(), "time", fmt, path, args.seconds], ours_env)
                ours = best(ours, run, [f"{m}_best{c}_s" for m in ["buffer", "file", "stream"] for c in ["", "_cpu"]])
                for p in PEERS[fmt]:
                    run = pinned(cores, [sys.executable, __file__, "--peer", p, fmt, path, args.seconds])
                    peers[p] = best(peers.get(p), run, ["best_s", "best_cpu_s"])
            if "error" in ours:
                print(f"NOTE: spikestream failed on {label}: {ours['error']}", file=sys.stderr)
                continue
            rows.append({"format": fmt, "input": label, "spikestream": ours, "peers": peers})
            print(f"  measured {fmt} {label}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows, args.clock, args.threads)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


def print_table(rows, clock, threads=1):
    c = "_cpu" if clock == "cpu" else ""
    mev = lambda n, s: n / s / 1e6
    peer_names = [p for p in ["expelliarmus", "dv-processing", "aedat", "tonic"] if any(p in r["peers"] for r in rows)]
    head = ["format", "input", "events", "spikestream buffer", "spikestream file", "spikestream stream", *peer_names,
            "file ÷ fastest peer", "buffer ÷ fastest peer", "stream ÷ fastest peer"]
    timed = "process CPU time" if clock == "cpu" else "wall clock"
    where = "one core" if threads <= 1 else f"{threads} cores (spikestream AEDAT4 on {threads} threads)"
    print(f"Million events per second, {where}, best run by {timed}; `—` = the peer does not read the format.\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    notes = []
    for r in rows:
        ours, n = r["spikestream"], r["spikestream"]["events"]
        cells = [r["format"], r["input"], f"{n:,}", *(f"{mev(n, ours[f'{m}_best{c}_s']):.0f}" for m in ["buffer", "file", "stream"])]
        fastest = None
        for p in peer_names:
            res = r["peers"].get(p)
            if res is None:
                cells.append("—")
            elif "error" in res:
                cells.append("failed")
                notes.append(f"{p} on {r['input']}: {res['error']}")
            else:
                mark = ""
                if res["events"] != n:
                    mark = "*"
                    notes.append(f"{p} on {r['input']}: returns {res['events']:,} records, spikestream {n:,} events")
                cells.append(f"{mev(n, res[f'best{c}_s']):.1f}{mark}")
                fastest = res[f"best{c}_s"] if fastest is None else min(fastest, res[f"best{c}_s"])
        for col in ["file", "buffer", "stream"]:
            cells.append(f"{fastest / ours[f'{col}_best{c}_s']:.1f}×" if fastest else "—")
        print("| " + " | ".join(cells) + " |")
    for note in notes:
        print(f"\n\\* {note}")


if __name__ == "__main__":
    main()

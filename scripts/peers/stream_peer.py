#!/usr/bin/env python3
"""dv-processing's NetworkWriter as the live server for spikestream's `stream` tests (tests/stream.rs).

Subcommands (each prints JSON lines on stdout; errors go to stderr, exit 1):
  check                               dv_processing importable: {"dv_processing": version}
  serve (--tcp | --unix PATH) --width W --height H --events N --duration-us D --batches B
        --seed S --compression C --events-out RAW
                                      NetworkWriter; prints {"ready": true, "port": P, "events": N}
                                      once it listens and RAW is written, waits for a client, writes
                                      the events in B batches (10 ms apart), waits for the queue to
                                      drain and exits, which closes the connection

The events are a blob moving across the sensor (so frames differ and a model's predictions do), with
Poisson timestamps over D microseconds from an absolute Unix-epoch start, both polarities. RAW is
little-endian records of 16 bytes: i64 t, i16 x, i16 y, u8 p, 3 zero bytes (the AEDAT4 layout).
"""

import argparse
import os
import sys
import time

try:
    import numpy as np
    import dv_processing as dv
except ImportError as e:  # the Rust side turns exit 3 into "peer not available"
    print(f"cannot import the peer's modules (numpy, dv_processing): {e}", file=sys.stderr)
    sys.exit(3)

from peer_common import emit, listening_port, wait_for  # noqa: E402

RAW_DTYPE = np.dtype(
    {"names": ["t", "x", "y", "p"], "formats": ["<i8", "<i2", "<i2", "u1"], "offsets": [0, 8, 10, 12], "itemsize": 16}
)
COMPRESSION = {"none": dv.CompressionType.NONE, "lz4": dv.CompressionType.LZ4, "zstd": dv.CompressionType.ZSTD}
T0 = 1_700_000_000_000_000


def moving_blob(seed, n, width, height, duration_us):
    rng = np.random.default_rng(seed)
    t = T0 + np.sort(rng.integers(0, duration_us, n))
    phase = (t - T0) / duration_us
    cx = 0.1 * width + 0.8 * width * phase
    cy = height / 2 + 0.3 * height * np.sin(2 * np.pi * phase)
    x = np.clip(np.round(cx + rng.normal(0, width / 16, n)), 0, width - 1).astype(np.int64)
    y = np.clip(np.round(cy + rng.normal(0, height / 16, n)), 0, height - 1).astype(np.int64)
    events = np.zeros(n, RAW_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, rng.random(n) < 0.5
    return events


def to_store(batch):
    store = dv.EventStore()
    for t, x, y, p in zip(batch["t"].tolist(), batch["x"].tolist(), batch["y"].tolist(), batch["p"].tolist()):
        store.push_back(t, x, y, bool(p))
    return store


def cmd_serve(a):
    events = moving_blob(a.seed, a.events, a.width, a.height, a.duration_us)
    events.tofile(a.events_out)
    stream = dv.io.Stream.EventStream(0, "events", "DVXplorer_stream_peer", (a.width, a.height))
    stream.setCompression(COMPRESSION[a.compression])
    if a.unix:
        server = dv.io.NetworkWriter(dv.Path(a.unix), stream)
        port = None
    else:
        server = dv.io.NetworkWriter("127.0.0.1", 0, stream)
        port = listening_port()
    emit({"ready": True, "port": port, "events": int(a.events)})
    # Packets written while nobody is connected are discarded, so wait for the client first.
    wait_for(lambda: server.getClientCount() > 0, a.timeout, "a client to connect")
    for batch in np.array_split(events, a.batches):
        server.writeEvents(to_store(batch))
        time.sleep(0.01)
    wait_for(lambda: server.getQueuedPacketCount() == 0, a.timeout, "the write queue to drain")
    time.sleep(0.2)
    emit({"sent": int(a.events)})
    # The NetworkWriter destructor of dv-processing 2.0.4 does not return while a client is
    # connected; exiting closes the sockets, so the client reads everything, then end of stream.
    sys.stdout.flush()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")
    s = sub.add_parser("serve")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", action="store_true")
    where.add_argument("--unix", metavar="PATH")
    s.add_argument("--width", type=int, required=True)
    s.add_argument("--height", type=int, required=True)
    s.add_argument("--events", type=int, required=True)
    s.add_argument("--duration-us", type=int, required=True)
    s.add_argument("--batches", type=int, default=20)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--compression", choices=sorted(COMPRESSION), default="lz4")
    s.add_argument("--events-out", required=True)
    s.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    if a.cmd == "check":
        emit({"dv_processing": getattr(dv, "__version__", "unknown")})
    else:
        cmd_serve(a)


if __name__ == "__main__":
    main()

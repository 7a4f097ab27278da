#!/usr/bin/env python3
"""dv-processing as an independent peer for spikestream's AEDAT4 tests (tests/peer_dv.rs).

Subcommands (all print one JSON line on stdout when they succeed; errors go to stderr, exit 1):
  check                                   dv_processing importable: {"dv_processing": version}
  write-file OUT [--davis] --compression C --width W --height H --seed S --events-out RAW
                                          MonoCameraWriter (EventOnlyConfig, or DAVISConfig with
                                          frame, IMU and trigger packets between the events),
                                          several writeEvents calls of seeded events; RAW holds
                                          exactly what was written; with --davis the JSON also
                                          lists the triggers written, [t, type code], every
                                          dv.TriggerType used
  read-file IN --events-out RAW [--window START END --window-out RAW2]
                                          MonoCameraRecording: resolution, time range, camera and
                                          every event (RAW); the window is read with
                                          getEventsTimeRange [START, END), which seeks through the
                                          file's data table
  serve (--tcp | --unix PATH) --compression C --width W --height H --seed S --events-out RAW
                                          NetworkWriter; prints {"ready": ..., "port": P} once the
                                          server listens and RAW is written, waits for a client,
                                          writes the events in batches, drains the queue and exits

RAW is little-endian records of 16 bytes: i64 t, i16 x, i16 y, u8 p, 3 zero bytes (the AEDAT4
event layout). Events are generated from --seed with numpy, so a run is reproducible.
"""

import argparse
import os
import sys
import time

try:
    import numpy as np
    import dv_processing as dv
except ImportError as e:  # the Rust side turns this into "peer not available"
    print(f"cannot import the peer's modules (numpy, dv_processing): {e}", file=sys.stderr)
    sys.exit(3)

from peer_common import emit, listening_port, wait_for  # noqa: E402

RAW_DTYPE = np.dtype(
    {"names": ["t", "x", "y", "p"], "formats": ["<i8", "<i2", "<i2", "u1"], "offsets": [0, 8, 10, 12], "itemsize": 16}
)
COMPRESSION = {
    "none": dv.CompressionType.NONE,
    "lz4": dv.CompressionType.LZ4,
    "lz4_high": dv.CompressionType.LZ4_HIGH,
    "zstd": dv.CompressionType.ZSTD,
    "zstd_high": dv.CompressionType.ZSTD_HIGH,
}
# dv.TriggerType members by code (TIMESTAMP_RESET = 0 … APS_EXPOSURE_END = 9).
TRIGGER_TYPES = [v for _, v in sorted((int(v), v) for v in dv.TriggerType.__members__.values())]
# Absolute Unix-epoch microseconds, as DV cameras stamp events.
T0 = 1_700_000_000_000_000


def generate_batches(seed, width, height, sizes):
    """Batches of events with non-decreasing timestamps (dv.EventStore requires it): runs of equal
    timestamps, small steps and occasional jumps of seconds; coordinates over the whole sensor,
    both corners included; both polarities."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    kind = rng.random(n)
    dt = np.where(kind < 0.3, 0, np.where(kind < 0.995, rng.integers(1, 50, n), rng.integers(100_000, 3_000_000, n)))
    t = T0 + rng.integers(0, 1_000_000) + np.cumsum(dt)
    x = rng.integers(0, width, n)
    y = rng.integers(0, height, n)
    p = rng.random(n) < 0.5
    x[0], y[0], x[-1], y[-1] = 0, 0, width - 1, height - 1
    events = np.zeros(n, RAW_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    bounds = np.cumsum([0] + list(sizes))
    return [events[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def to_store(batch):
    store = dv.EventStore()
    for t, x, y, p in zip(batch["t"].tolist(), batch["x"].tolist(), batch["y"].tolist(), batch["p"].tolist()):
        store.push_back(t, x, y, bool(p))
    return store


def store_to_raw(store):
    a = store.numpy()
    out = np.zeros(len(a), RAW_DTYPE)
    out["t"], out["x"], out["y"], out["p"] = a["timestamp"], a["x"], a["y"], a["polarity"] != 0
    return out


def save_raw(path, parts):
    """Writes events as RAW. Fields are copied one by one: np.concatenate of padded structured
    arrays returns a packed (13-byte) dtype, which would silently break the layout."""
    n = sum(len(a) for a in parts)
    out = np.zeros(n, RAW_DTYPE)
    for field in RAW_DTYPE.names:
        out[field] = np.concatenate([a[field] for a in parts]) if parts else []
    assert out.dtype.itemsize == 16
    out.tofile(path)


def cmd_write_file(a):
    sizes = [1, 4999, 12345, 7, 20000, 3000, 1648]
    batches = generate_batches(a.seed, a.width, a.height, sizes)
    config = dv.io.MonoCameraWriter.DAVISConfig if a.davis else dv.io.MonoCameraWriter.EventOnlyConfig
    writer = dv.io.MonoCameraWriter(a.out, config(a.camera, (a.width, a.height), COMPRESSION[a.compression]))
    written, triggers = [], []
    for k, b in enumerate(batches):
        store = to_store(b)
        writer.writeEvents(store)
        written.append(store_to_raw(store))  # what dv-processing holds, not what we meant to give it
        if a.davis:  # packets of the other DAVIS streams between the event packets
            t = int(b["t"][-1])
            writer.writeFrame(dv.Frame(t, np.full((a.height, a.width), k, np.uint8)))
            for j in range(40):
                writer.writeImu(dv.IMU(t + j, 25.0, 0.0, 0.0, 1.0, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0))
            for j in range(3):  # every trigger type, a few per batch
                code = (3 * k + j) % len(TRIGGER_TYPES)
                writer.writeTrigger(dv.Trigger(t + j, TRIGGER_TYPES[code]))
                triggers.append([t + j, code])
    del writer  # finalises the file: writes the FileDataTable and patches the IOHeader
    save_raw(a.events_out, written)
    emit({"events": int(sum(sizes)), "batches": len(sizes), "triggers": triggers})


def cmd_read_file(a):
    rec = dv.io.MonoCameraRecording(a.path)
    res = rec.getEventResolution()
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(store_to_raw(batch))
    save_raw(a.events_out, parts)
    out = {
        "streams": list(rec.getStreamNames()),
        "camera": rec.getCameraName(),
        "resolution": None if res is None else [int(res[0]), int(res[1])],
        "time_range": [int(v) for v in rec.getTimeRange()],
        "events": int(sum(len(p) for p in parts)),
    }
    if a.window:
        start, end = a.window
        store = rec.getEventsTimeRange(start, end)
        window = [store_to_raw(store)] if store is not None else []
        save_raw(a.window_out, window)
        out["window_events"] = int(sum(len(w) for w in window))
    emit(out)


def cmd_serve(a):
    sizes = [1, 2000, 5000, 333, 9000, 4000]
    batches = generate_batches(a.seed, a.width, a.height, sizes)
    save_raw(a.events_out, batches)
    stream = dv.io.Stream.EventStream(0, "events", a.camera, (a.width, a.height))
    stream.setCompression(COMPRESSION[a.compression])
    if a.unix:
        server = dv.io.NetworkWriter(dv.Path(a.unix), stream)
        port = None
    else:
        server = dv.io.NetworkWriter("127.0.0.1", 0, stream)
        port = listening_port()
    emit({"ready": True, "port": port, "events": int(sum(sizes))})
    # Packets written while nobody is connected are discarded, so wait for the client first.
    wait_for(lambda: server.getClientCount() > 0, a.timeout, "a client to connect")
    for b in batches:
        server.writeEvents(to_store(b))
        time.sleep(0.01)
    wait_for(lambda: server.getQueuedPacketCount() == 0, a.timeout, "the write queue to drain")
    time.sleep(0.2)
    # Exit without destroying the server: in dv-processing 2.0.4 the NetworkWriter destructor does
    # not return while a client is connected. Exiting closes the sockets, so the client reads
    # everything that was sent and then end of stream.
    sys.stdout.flush()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")

    def generated(p):
        p.add_argument("--compression", choices=sorted(COMPRESSION), required=True)
        p.add_argument("--width", type=int, required=True)
        p.add_argument("--height", type=int, required=True)
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--camera", default="DVXplorer_peer")
        p.add_argument("--events-out", required=True)

    w = sub.add_parser("write-file")
    w.add_argument("out")
    w.add_argument("--davis", action="store_true", help="DAVISConfig: frames, IMU and triggers between the events")
    generated(w)
    r = sub.add_parser("read-file")
    r.add_argument("path")
    r.add_argument("--events-out", required=True)
    r.add_argument("--window", type=int, nargs=2, metavar=("START", "END"))
    r.add_argument("--window-out")
    s = sub.add_parser("serve")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", action="store_true")
    where.add_argument("--unix", metavar="PATH")
    s.add_argument("--timeout", type=float, default=10.0)
    generated(s)
    a = ap.parse_args()
    if a.cmd == "check":
        emit({"dv_processing": getattr(dv, "__version__", "unknown")})
    elif a.cmd == "write-file":
        cmd_write_file(a)
    elif a.cmd == "read-file":
        cmd_read_file(a)
    else:
        cmd_serve(a)


if __name__ == "__main__":
    main()

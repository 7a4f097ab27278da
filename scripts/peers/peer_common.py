"""What the dv-processing peer scripts (dv_peer.py, stream_peer.py) share: JSON-line output, the
TCP port a NetworkWriter listens on, and polling with a timeout."""

import json
import os
import time


def emit(obj):
    print(json.dumps(obj), flush=True)


def listening_port():
    """The TCP port this process listens on (NetworkWriter was given port 0 and has no getter):
    the LISTEN sockets of /proc/net/tcp whose inode is one of our file descriptors."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:
                return int(cols[1].split(":")[1], 16)
    raise RuntimeError("no listening TCP socket found in /proc/net/tcp")


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)

"""Shared paths and helpers of the Python package's tests."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data"
sys.path.insert(0, str(Path(__file__).parent))


def reference_recordings():
    """The recordings of tests/data/frames/reference_frames.json that exist here, with the
    reference digests; the absent ones (shared fixtures) are reported once."""
    fixtures = json.loads((DATA / "frames/reference_frames.json").read_text())
    present, absent = [], []
    for name, case in fixtures["cases"].items():
        path = (ROOT / case["file"]).resolve()
        (present if path.exists() else absent).append((name, path, case))
    if absent:
        print(f"NOTE: absent recordings, not compared: {', '.join(str(p) for _, p, _ in absent)}", file=sys.stderr)
    return present


@pytest.fixture(scope="session")
def cli():
    """The spikestream binary that `cargo test --release` built (SPIKESTREAM_BIN overrides)."""
    path = Path(os.environ.get("SPIKESTREAM_BIN", ROOT / "target/release/spikestream"))
    if not path.exists():
        # In CI the test command builds it first: its absence there is a failure, not a skip.
        if os.environ.get("CI", "") not in ("", "0", "false"):
            pytest.fail(f"{path} is absent, though scripts/test.sh builds it (SPIKESTREAM_BIN or CARGO_TARGET_DIR wrong?)")
        pytest.skip(f"{path} is absent; build it with cargo build --release")
    return path

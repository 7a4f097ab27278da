"""The random event recordings and framings that python/tests compare against SpikingJelly and
tonic (live where installed, else through tests/data/python/random_frames.json, which
scripts/fixtures/make_python_fixtures.py makes with the same definitions)."""

import hashlib

import numpy as np

RANDOM_CASES = {
    "small_64x48": {"seed": 1, "events": 2_000, "width": 64, "height": 48, "gap": 40},
    "dense_34x34": {"seed": 2, "events": 9_000, "width": 34, "height": 34, "gap": 3},
    "sparse_346x260": {"seed": 3, "events": 20_000, "width": 346, "height": 260, "gap": 200},
}

# name: (split_by, frames)
SJ_FRAMINGS = {
    "number_1": ("number", 1),
    "number_7": ("number", 7),
    "number_16": ("number", 16),
    "time_5": ("time", 5),
    "time_10": ("time", 10),
}

# name: ToFrame keyword arguments (plus "single": one polarity channel, all events ON)
TONIC_FRAMINGS = {
    "n_time_bins_10": {"n_time_bins": 10},
    "n_time_bins_3_overlap_0.3": {"n_time_bins": 3, "overlap": 0.3},
    "n_event_bins_8_overlap_0.25": {"n_event_bins": 8, "overlap": 0.25},
    "n_event_bins_1": {"n_event_bins": 1},
    "time_window_5000": {"time_window": 5000.0},
    "time_window_5000_overlap_1250_incomplete": {"time_window": 5000.0, "overlap": 1250.0, "include_incomplete": True},
    "event_count_700": {"event_count": 700},
    "event_count_700_overlap_100_incomplete": {"event_count": 700, "overlap": 100, "include_incomplete": True},
    "single_polarity_n_time_bins_4": {"n_time_bins": 4, "single": True},
}


def random_events(seed, events, width, height, gap):
    """Sorted timestamps (ties included), uniform pixels and polarities, tonic's field order."""
    rng = np.random.Generator(np.random.PCG64(seed))
    dtype = np.dtype([("x", "<i8"), ("y", "<i8"), ("p", "<i8"), ("t", "<i8")])
    ev = np.empty(events, dtype)
    ev["t"] = 1_000 + np.cumsum(rng.integers(0, gap, events))
    ev["x"] = rng.integers(0, width, events)
    ev["y"] = rng.integers(0, height, events)
    ev["p"] = rng.integers(0, 2, events)
    return ev


def sha256(a):
    """Digest of an array's bytes (C order) or of a structured array's t, x, y, p fields."""
    a = np.asarray(a)
    h = hashlib.sha256()
    if a.dtype.names:
        for k in ("t", "x", "y", "p"):
            h.update(np.ascontiguousarray(a[k].astype("<i8")).tobytes())
    else:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

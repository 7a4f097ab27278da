"""SpikingJelly-compatible framing computed in Rust."""

from __future__ import annotations

import numpy as np

from . import _core
from ._events import raw


def integrate(events, frames: int, split_by: str, H: int, W: int, dtype=np.float64) -> np.ndarray:
    """SpikingJelly's ``integrate_events_by_fixed_frames_number(events, split_by, frames_num, H, W)``:
    ``[frames, 2, H, W]`` event counts, channel 0 OFF and 1 ON, bit for bit.

    ``events`` is a structured array or a dict with ``t``, ``x``, ``y``, ``p``; ``split_by`` is
    ``"number"`` (equal event counts, the last frame takes the remainder) or ``"time"`` (equal
    durations; an empty bin is an error, as SpikingJelly's IndexError). ``dtype`` float64
    (SpikingJelly's) or float32 (computed without a float64 copy).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype={dtype}: float32 or float64 expected")
    return _core.integrate(raw(events), int(frames), split_by, int(H), int(W), dtype == np.float32)

"""tonic-compatible transforms computed in Rust: ``ToFrame`` gives tonic 1.7's output bit for
bit (same arguments, ``sensor_size`` as ``(W, H, P)``, frames ``(T, P, H, W)`` int16)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from . import _core
from ._events import raw


@dataclass(frozen=True)
class ToFrame:
    """Accumulates events into frames, like ``tonic.transforms.ToFrame``: give exactly one of
    ``time_window`` (µs), ``event_count``, ``n_time_bins`` or ``n_event_bins``; ``overlap`` is
    in µs, events, or a fraction of a bin respectively; ``include_incomplete`` keeps the last,
    shorter slice of ``time_window`` / ``event_count``. Picklable (DataLoader workers).

    Differences from tonic: ``start_time`` / ``end_time`` are not supported (a ValueError), the
    events are never modified, and an event outside the sensor is a ``SpikestreamError``.
    """

    sensor_size: Optional[Tuple[int, int, int]]
    time_window: Optional[float] = None
    event_count: Optional[int] = None
    n_time_bins: Optional[int] = None
    n_event_bins: Optional[int] = None
    overlap: float = 0
    include_incomplete: bool = False
    start_time: Optional[float] = None
    end_time: Optional[float] = None

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0:
            # tonic's own answer for no events: float64 zeros shaped (T, P, W, H).
            s = self.sensor_size
            if self.time_window is not None or self.event_count is not None:
                return np.zeros((1, s[2], s[0], s[1]))
            if self.n_event_bins is not None:
                return np.zeros((self.n_event_bins, s[2], s[0], s[1]))
            if self.n_time_bins is not None:
                return np.zeros((self.n_time_bins, s[2], s[0], s[1]))
            raise ValueError("No slicing method specified.")
        given = [v is not None for v in (self.time_window, self.event_count, self.n_time_bins, self.n_event_bins)]
        if sum(given) != 1:
            raise ValueError("Please assign a value to exactly one of the parameters time_window, event_count, n_time_bins or n_event_bins.")
        if self.start_time is not None or self.end_time is not None:
            raise ValueError("ToFrame: start_time / end_time are not supported by spikestream; use tonic for them")
        if self.sensor_size:
            w, h, p = (int(v) for v in self.sensor_size)
        else:
            w, h, p = int(events["x"].max()) + 1, int(events["y"].max()) + 1, len(np.unique(events["p"]))
        # tonic tests truth, not None: time_window=0 falls through to the next argument.
        for mode in ("time_window", "event_count", "n_time_bins", "n_event_bins"):
            value = getattr(self, mode)
            if value:
                return _core.tonic_frames(raw(events), w, h, p, mode, float(value), float(self.overlap), bool(self.include_incomplete))
        raise ValueError(f"ToFrame: the slicing argument given is zero: {self}")

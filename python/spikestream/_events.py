"""Events as NumPy structured arrays: reading (whole or in batches), writing AEDAT4, and
bringing other layouts (tonic's, SpikingJelly's dicts) to spikestream's ``EVENT_DTYPE``."""

from __future__ import annotations

import os
from typing import Iterator, Optional, Tuple, Union

import numpy as np

from . import _core
from ._core import EVENT_DTYPE

#: dtype of ``info["triggers"]``: time (µs), channel (DV trigger type or Prophesee channel), edge.
TRIGGER_DTYPE = np.dtype([("t", "<u8"), ("channel", "u1"), ("rising", "?")])

Sensor = Union[None, str, Tuple[int, int]]


def sensor_pair(sensor: Sensor) -> Optional[Tuple[int, int]]:
    """``"WxH"`` or ``(W, H)`` (a tonic ``(W, H, P)`` is accepted too) as ``(W, H)``."""
    if sensor is None:
        return None
    if isinstance(sensor, str):
        w, sep, h = sensor.lower().partition("x")
        if not sep or not w.strip().isdigit() or not h.strip().isdigit():
            raise ValueError(f"sensor={sensor!r}: 'WxH' (for example '640x480') expected")
        return int(w), int(h)
    return int(sensor[0]), int(sensor[1])


def as_events(events) -> np.ndarray:
    """``events`` as a contiguous array of ``EVENT_DTYPE``, without a copy when it is one.

    Accepts any structured array or mapping with ``t``, ``x``, ``y`` and ``p`` (tonic's arrays,
    SpikingJelly's dicts). Polarity ``p > 0`` is ON (1), anything else OFF (0).
    """
    if isinstance(events, np.ndarray) and events.dtype == EVENT_DTYPE and events.flags.c_contiguous:
        return events
    names = events.dtype.names if isinstance(events, np.ndarray) else tuple(events)
    missing = [k for k in ("t", "x", "y", "p") if names is None or k not in names]
    if missing:
        raise ValueError(f"events lack the field(s) {missing}; a structured array or dict with t, x, y, p is expected")
    n = len(events["t"])
    out = np.empty(n, EVENT_DTYPE)
    out["t"] = events["t"]
    out["x"] = events["x"]
    out["y"] = events["y"]
    out["p"] = np.asarray(events["p"]) > 0
    return out


def raw(events) -> np.ndarray:
    """The bytes of ``as_events(events)``, as the Rust core takes them."""
    return as_events(events).view(np.uint8)


def _info(info: dict) -> dict:
    info["triggers"] = np.array(info["triggers"], dtype=TRIGGER_DTYPE)
    return info


def read(path: Union[str, os.PathLike], format: Optional[str] = None, sensor: Sensor = None) -> Tuple[np.ndarray, dict]:
    """Decodes a whole recording: ``(events, info)``.

    ``events`` is a structured array of ``EVENT_DTYPE`` (``t`` µs u64, ``x``/``y`` u16, ``p``
    u8 0/1); ``info`` holds ``resolution`` (``(W, H)`` or None), ``format``, ``triggers`` (an
    array of ``TRIGGER_DTYPE``) and the header ``metadata``. ``format`` forces a format
    (``aedat4``, ``evt3``, ``dat``, …; detected from the content otherwise); ``sensor`` gives
    the size where the header lacks it.
    """
    events, info = _core.read(os.fspath(path), format, sensor_pair(sensor))
    return events, _info(info)


class EventReader:
    """A recording read in batches of ``batch`` events (the last may be shorter); memory stays
    about one batch whatever the file's size.

    >>> for events in spikestream.EventReader("big.raw", batch=1_000_000): ...
    """

    def __init__(self, path: Union[str, os.PathLike], batch: int = 65536, format: Optional[str] = None, sensor: Sensor = None):
        self._reader = _core.EventReader(os.fspath(path), batch, format, sensor_pair(sensor))

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._reader)

    @property
    def resolution(self) -> Optional[Tuple[int, int]]:
        return self._reader.resolution

    @property
    def format(self) -> str:
        return self._reader.format

    @property
    def triggers(self) -> np.ndarray:
        """Triggers that came with the last batch."""
        return np.array(self._reader.triggers, dtype=TRIGGER_DTYPE)

    @property
    def offset(self) -> int:
        """Bytes of the file decoded so far."""
        return self._reader.offset


def write(path: Union[str, os.PathLike], events, resolution: Tuple[int, int]) -> int:
    """Writes ``events`` as an AEDAT4 file (LZ4 packets, readable by DV and dv-processing) of a
    ``(W, H)`` sensor; the file appears whole or not at all. Returns the number of events."""
    w, h = sensor_pair(resolution)
    return _core.write(os.fspath(path), raw(events), (w, h))

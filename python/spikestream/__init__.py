"""spikestream from Python: event-camera decoding, framing and IMP-SNN inference in Rust.

>>> import spikestream
>>> events, info = spikestream.read("recording.aedat4")      # structured array t, x, y, p
>>> frames = spikestream.transforms.ToFrame(sensor_size=(*info["resolution"], 2), n_time_bins=10)(events)
>>> model = spikestream.Model("models/demo/sim10_vgg48_legacy.safetensors")
>>> model.classify("recording.aedat4").label

Decoding, framing and inference run in Rust with the GIL released; arrays computed there are
handed to NumPy without a copy. Errors raised in Rust arrive as ``SpikestreamError`` (a
``ValueError``) or ``FileNotFoundError`` carrying the Rust message (file, offset, tensor).
"""

from . import frames, transforms
from ._core import EVENT_DTYPE, SpikestreamError, __version__
from ._events import TRIGGER_DTYPE, EventReader, as_events, read, write
from .model import Model, Prediction

__all__ = [
    "EVENT_DTYPE",
    "TRIGGER_DTYPE",
    "EventReader",
    "Model",
    "Prediction",
    "SpikestreamError",
    "as_events",
    "frames",
    "read",
    "transforms",
    "write",
    "__version__",
]

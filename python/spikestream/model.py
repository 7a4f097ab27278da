"""``spikestream.Model``: an IMP-SNN model file, its framing and a backend (GPU or CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Union

import numpy as np

from . import _core
from ._events import Sensor, raw, sensor_pair


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis (float32)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Prediction:
    """What a model says about one sample (``logits`` ``[K]``) or a batch (``[B, K]``).

    ``logits``: the decoded scores (the model's ``decode``: mean over steps, or the last);
    ``per_step``: every step's logits, ``[T, K]`` or ``[T, B, K]``; ``probabilities``: their
    softmax; ``index`` / ``label``: the predicted class (an int and a name, or arrays).
    """

    logits: np.ndarray
    per_step: np.ndarray
    classes: List[str]

    @property
    def probabilities(self) -> np.ndarray:
        return softmax(self.logits)

    @property
    def index(self):
        i = np.argmax(self.logits, axis=-1)
        return int(i) if i.ndim == 0 else i

    @property
    def label(self):
        i = self.index
        return self.classes[i] if isinstance(i, int) else [self.classes[j] for j in i]


class Model:
    """A model file (safetensors with spikestream metadata) ready to classify.

    ``backend``: ``"auto"`` (a hardware GPU if there is one, else the CPU), ``"gpu"`` (any
    adapter) or ``"cpu"``; ``batch``: samples per engine run (a larger input is run in groups).
    Picklable: a copy in another process loads the file again.
    """

    def __init__(self, path: Union[str, os.PathLike], backend: str = "auto", batch: int = 16):
        self._engine = _core.Engine(os.fspath(path), backend, int(batch))
        self.info: dict = self._engine.info()

    def __reduce__(self):
        return (Model, self._engine.args())

    @property
    def classes(self) -> List[str]:
        return self.info["classes"]

    def frames(self, x, sensor: Sensor = None, format: Optional[str] = None) -> np.ndarray:
        """The ``[T, C, H, W]`` float32 frames the model takes, from a recording's path or its
        events (a structured array; ``sensor`` ``(W, H)`` where the model's framing has none)."""
        if isinstance(x, (str, os.PathLike)):
            return self._engine.frames_of_file(os.fspath(x), format, sensor_pair(sensor))
        if isinstance(x, (bytes, bytearray, memoryview)):
            return self._engine.frames_of_bytes(bytes(x), "<bytes>", format, sensor_pair(sensor))
        return self._engine.frames_of_events(raw(x), sensor_pair(sensor))

    @property
    def is_static(self) -> bool:
        """Whether the model takes still images (direct encoding) rather than event frames."""
        return bool(self.info.get("static"))

    def classify(self, x, sensor: Sensor = None, format: Optional[str] = None) -> Prediction:
        """Classifies a recording (path), events (structured array), or frames: a float32 array
        ``[T, C, H, W]`` (one sample) or ``[T, B, C, H, W]`` (a batch), or a ``.npy`` of either.

        A static model (``is_static``) takes images instead: a PNG or JPEG path, a ``.npy`` of
        ``[N, C, H, W]``, or an array ``[C, H, W]`` (one) or ``[N, C, H, W]`` (a batch) of values
        in [0, 1]; the model's ``mean`` and ``std`` are applied as its file says."""
        if self.is_static:
            return self._classify_images(x)
        if isinstance(x, (str, os.PathLike)) and os.fspath(x).lower().endswith(".npy"):
            x = np.load(x)  # frames [T, (B,) C, H, W], or events as `spikestream convert` writes them
        if isinstance(x, np.ndarray) and x.dtype.names is None:
            frames = np.ascontiguousarray(x, dtype=np.float32)
        else:
            frames = self.frames(x, sensor, format)
        if frames.ndim == 4:
            logits, per_step = self._engine.classify_frames(frames[:, None])
            return Prediction(logits[0], per_step[:, 0], self.classes)
        logits, per_step = self._engine.classify_frames(frames)
        return Prediction(logits, per_step, self.classes)

    def _classify_images(self, x) -> Prediction:
        if isinstance(x, (str, os.PathLike)):
            logits, per_step = self._engine.classify_file(os.fspath(x))
            is_npy = os.fspath(x).lower().endswith(".npy")
            if not is_npy:
                return Prediction(logits[0], per_step[:, 0], self.classes)
            return Prediction(logits, per_step, self.classes)
        images = np.ascontiguousarray(x, dtype=np.float32)
        if images.ndim == 3:
            logits, per_step = self._engine.classify_frames(images[None])
            return Prediction(logits[0], per_step[:, 0], self.classes)
        logits, per_step = self._engine.classify_frames(images)
        return Prediction(logits, per_step, self.classes)

    def step(self, frame: np.ndarray) -> Optional[Prediction]:
        """Online use: one ``[C, H, W]`` frame at a time. Returns None until the model's T frames
        have come, then their Prediction, and starts the next window."""
        out = self._engine.step(np.ascontiguousarray(frame, dtype=np.float32))
        return None if out is None else Prediction(out[0], out[1], self.classes)

    def reset(self) -> None:
        """Forgets the frames given to ``step`` so far."""
        self._engine.reset()

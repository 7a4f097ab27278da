"""Classifying large corpora on a Ray cluster: ``spikestream.ray.classify`` builds a Ray Data
pipeline (files in, one ``Model`` per actor, a Parquet or JSONL sink) and no scheduler of its
own. The same script runs on a laptop (``ray.init()``) and on a multi-node cluster
(``ray.init(address="auto")`` on a node of it, or ``RAY_ADDRESS=...``): Ray places the actors.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Union

import numpy as np

from .model import Model

PathLike = Union[str, os.PathLike]


class _Classifier:
    """One actor's model; called on batches of files (Ray's numpy batch format)."""

    def __init__(self, model: str, backend: str, batch: int, sensor, format):
        self.model = Model(model, backend=backend, batch=batch)
        self.sensor, self.format = sensor, format

    def __call__(self, rows: dict) -> dict:
        paths = [str(p) for p in rows["path"]]
        if "bytes" in rows:
            frames = [self.model._engine.frames_of_bytes(bytes(b), p, self.format, self.sensor) for b, p in zip(rows["bytes"], paths)]
        else:
            frames = [self.model.frames(p, self.sensor, self.format) for p in paths]
        p = self.model.classify(np.stack(frames, axis=1))
        probs = p.probabilities
        return {
            "path": np.array(paths, dtype=object),
            "index": p.logits.argmax(axis=-1).astype(np.int64),
            "label": np.array([self.model.classes[i] for i in p.logits.argmax(axis=-1)], dtype=object),
            "score": probs.max(axis=-1),
            "logits": list(p.logits),
            "per_step": [p.per_step[:, b] for b in range(len(paths))],
        }


def classify(paths: Union[PathLike, Iterable[PathLike]], model: PathLike, output: Optional[PathLike] = None, *,
             sink: str = "parquet", read: str = "bytes", backend: str = "auto", batch_size: int = 16,
             concurrency: Union[int, tuple] = 1, num_gpus: float = 0, num_cpus: float = 1,
             sensor=None, format: Optional[str] = None):
    """Classifies every recording of ``paths`` (files, folders, globs Ray understands, or a
    list) with ``model``; one row per file: ``path``, ``index``, ``label``, ``score`` (the top
    probability), ``logits`` ``[K]`` (decoded) and ``per_step`` ``[T, K]``.

    - ``read="bytes"``: ``ray.data.read_binary_files`` (any filesystem Ray reads: local, NFS,
      S3, GCS); ``read="paths"``: a list of paths each actor opens itself (a shared filesystem).
    - One ``Model`` per actor; ``concurrency`` actors (an int, or ``(min, max)`` to autoscale),
      each with ``num_gpus`` GPUs (``backend="auto"`` then runs on the GPU) and ``num_cpus`` CPUs;
      leave CPUs for Ray's read and write tasks (actors holding every CPU stall the pipeline).
    - ``output``: a folder written with ``sink="parquet"`` (exact float32) or ``"jsonl"`` (15
      decimals; one file per block), or None to return the ``ray.data.Dataset`` unexecuted.
    """
    import ray

    listed = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else sorted(os.fspath(p) for p in paths)
    if read == "bytes":
        ds = ray.data.read_binary_files(listed, include_paths=True)
    elif read == "paths":
        ds = ray.data.from_items([{"path": p} for p in listed])
    else:
        raise ValueError(f"read={read!r}: 'bytes' or 'paths' expected")
    sensor = None if sensor is None else (int(sensor[0]), int(sensor[1]))
    ds = ds.map_batches(
        _Classifier,
        fn_constructor_args=(os.fspath(model), backend, batch_size, sensor, format),
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )
    if output is None:
        return ds
    if sink == "parquet":
        ds.write_parquet(os.fspath(output))
    elif sink == "jsonl":
        # pandas writes 10 decimals by default; 15 (its most) round-trips float32 logits
        ds.write_json(os.fspath(output), double_precision=15)
    else:
        raise ValueError(f"sink={sink!r}: 'parquet' or 'jsonl' expected")
    return os.fspath(output)

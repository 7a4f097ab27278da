"""ToFrame, integrate and Model survive pickling into worker processes: a torch DataLoader with
2 workers where torch is installed, and the same pickling path through a 2-process
multiprocessing pool everywhere (CI has no torch)."""

import multiprocessing
import pickle

import numpy as np
import pytest

import spikestream
from spikestream.frames import integrate
from spikestream.transforms import ToFrame
from conftest import ROOT

SAMPLES = sorted((ROOT / "models/demo/samples").glob("*/*.aedat4"))[:6]
TRANSFORM = ToFrame(sensor_size=(64, 64, 2), n_time_bins=5)


class Recordings:
    """A map-style dataset: (ToFrame frames, SpikingJelly frames) of a recording."""

    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        events, info = spikestream.read(self.paths[i])
        w, h = info["resolution"]
        return self.transform(events), integrate(events, 4, "number", h, w, dtype=np.float32)


def in_process():
    data = Recordings(SAMPLES, TRANSFORM)
    return [data[i] for i in range(len(data))]


def _item(args):
    data, i = args
    return data[i]


def test_transform_pickles():
    again = pickle.loads(pickle.dumps(TRANSFORM))
    assert again == TRANSFORM and pickle.loads(pickle.dumps(integrate)) is integrate


def test_multiprocessing_pool_with_two_workers():
    want = in_process()
    data = Recordings(SAMPLES, TRANSFORM)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map(_item, [(data, i) for i in range(len(data))])
    for (a, b), (c, d) in zip(got, want):
        assert np.array_equal(a, c) and a.dtype == np.int16 and np.array_equal(b, d)


def test_model_in_two_worker_processes():
    model = spikestream.Model(ROOT / "models/demo/sim10_vgg48_legacy.safetensors", backend="cpu", batch=2)
    want = [model.classify(p).logits for p in SAMPLES[:4]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map(_classify, [(model, p) for p in SAMPLES[:4]])
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def _classify(args):
    model, path = args
    return model.classify(path).logits


def test_torch_dataloader_with_two_workers():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    want = in_process()
    loader = DataLoader(Recordings(SAMPLES, TRANSFORM), batch_size=2, num_workers=2, multiprocessing_context="spawn")
    got = [(a, b) for batch_a, batch_b in loader for a, b in zip(batch_a, batch_b)]
    assert len(got) == len(want)
    for (a, b), (c, d) in zip(got, want):
        assert torch.equal(a, torch.from_numpy(c)) and torch.equal(b, torch.from_numpy(d))

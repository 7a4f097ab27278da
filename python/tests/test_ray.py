"""spikestream.ray.classify on a local Ray cluster (2 CPUs, loopback only) over a simulated
dataset of a few hundred files equals a single-process run of Model.classify. Runs where ray is
installed (it is not part of CI's peers: see scripts/setup-peers.sh)."""

import json
import subprocess

import numpy as np
import pytest

import spikestream
from conftest import ROOT

ray = pytest.importorskip("ray")
MODEL = ROOT / "models/demo/sim10_vgg48_legacy.safetensors"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, cli):
    out = tmp_path_factory.mktemp("sim") / "data"
    subprocess.run([cli, "simulate", "--out", out, "--per-class", "20", "--duration-ms", "60", "--seed", "7"], check=True, capture_output=True)
    files = sorted(out.rglob("*.aedat4"))
    assert len(files) == 200
    return files


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
             _node_ip_address="127.0.0.1", configure_logging=False,
             # a shared build machine's disk is often over Ray's default 95 % mark, where it
             # refuses to create objects; the objects here are small
             _system_config={"local_fs_capacity_threshold": 0.999})
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("read,sink", [("bytes", "parquet"), ("paths", "jsonl")])
def test_ray_equals_single_process(dataset, local_ray, tmp_path, read, sink):
    from spikestream.ray import classify

    out = tmp_path / "out"
    # two actors of half a CPU each leave a CPU of the 2 for the read and write tasks
    classify(dataset, MODEL, out, sink=sink, read=read, backend="cpu", batch_size=16, concurrency=2, num_cpus=0.5)
    if sink == "parquet":
        rows = ray.data.read_parquet(str(out)).take_all()
    else:
        rows = [json.loads(line) for f in sorted(out.glob("*.json*")) for line in f.read_text().splitlines()]
    assert len(rows) == len(dataset)
    by_path = {str(r["path"]): r for r in rows}
    model = spikestream.Model(MODEL, backend="cpu", batch=16)
    frames = np.stack([model.frames(p) for p in dataset], axis=1)
    want = model.classify(frames)
    for b, path in enumerate(dataset):
        r = by_path[str(path)]
        assert r["label"] == want.label[b] and r["index"] == want.index[b]
        assert np.array_equal(np.asarray(r["logits"], np.float32), want.logits[b])
        assert np.array_equal(np.asarray(r["per_step"], np.float32).reshape(want.per_step[:, b].shape), want.per_step[:, b])

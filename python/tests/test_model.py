"""Model.classify against the CLI's `classify --json` on the demo samples (same logits bit for
bit, probabilities within float rounding), the three input kinds agreeing, step() agreeing with
classify(), and error cases."""

import json
import pickle
import subprocess

import numpy as np
import pytest

import spikestream
from conftest import ROOT

MODEL = ROOT / "models/demo/sim10_vgg48_legacy.safetensors"
SAMPLES = sorted((ROOT / "models/demo/samples").glob("*/*.aedat4"))


@pytest.fixture(scope="module")
def model():
    return spikestream.Model(MODEL, backend="cpu", batch=4)


def test_info(model):
    info = model.info
    assert info["timesteps"] > 0 and len(info["classes"]) == info["num_classes"] == 10
    assert info["backend"].startswith("cpu") and len(info["input"]) == 3


def test_classify_equals_cli_json(model, cli):
    assert len(SAMPLES) >= 10
    out = subprocess.run([cli, "classify", MODEL, *SAMPLES, "--json", "--decode", "per-step", "--top-k", "10", "--backend", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    results = json.loads(out)["results"]
    assert len(results) == len(SAMPLES)
    for r, path in zip(results, SAMPLES):
        assert r["file"] == str(path)
        p = model.classify(path)
        assert p.label == r["class"] and p.index == r["index"]
        want_steps = np.array(r["logits"], dtype=np.float32)
        assert p.per_step.dtype == np.float32 and np.array_equal(p.per_step, want_steps), path.name
        probs = {t["index"]: t["score"] for t in r["top_k"]}
        np.testing.assert_allclose(p.probabilities, [probs[i] for i in range(10)], rtol=0, atol=1e-6)


def test_path_events_frames_and_batch_agree(model, tmp_path):
    path = SAMPLES[0]
    by_path = model.classify(path)
    events, info = spikestream.read(path)
    by_events = model.classify(events, sensor=info["resolution"])
    frames = model.frames(path)
    assert frames.dtype == np.float32 and frames.shape == (model.info["timesteps"], *model.info["input"])
    by_frames = model.classify(frames)
    np.save(tmp_path / "frames.npy", frames)
    by_npy = model.classify(tmp_path / "frames.npy")
    for p in (by_events, by_frames, by_npy):
        assert np.array_equal(p.logits, by_path.logits) and np.array_equal(p.per_step, by_path.per_step)
    # a batch of 6 (two groups of the model's batch 4, the last one padded) equals one by one
    stack = np.stack([model.frames(s) for s in SAMPLES[:6]], axis=1)
    batch = model.classify(stack)
    assert batch.logits.shape == (6, 10) and batch.per_step.shape == (model.info["timesteps"], 6, 10)
    for b, s in enumerate(SAMPLES[:6]):
        assert np.array_equal(batch.logits[b], model.classify(s).logits)
    assert batch.label[0] == by_path.label


def test_step_equals_classify(model):
    frames = model.frames(SAMPLES[1])
    want = model.classify(frames)
    outs = [model.step(f) for f in frames]
    assert all(o is None for o in outs[:-1])
    assert np.array_equal(outs[-1].logits, want.logits) and np.array_equal(outs[-1].per_step, want.per_step)
    assert model.step(frames[0]) is None  # the next window has started
    model.reset()


def test_model_pickles(model):
    again = pickle.loads(pickle.dumps(model))
    assert again.info == model.info
    assert np.array_equal(again.classify(SAMPLES[2]).logits, model.classify(SAMPLES[2]).logits)


def test_model_errors(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        spikestream.Model(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(spikestream.SpikestreamError, match="bad.safetensors"):
        spikestream.Model(bad)
    with pytest.raises(spikestream.SpikestreamError, match="backend='tpu'"):
        spikestream.Model(MODEL, backend="tpu")
    t, (c, h, w) = model.info["timesteps"], model.info["input"]
    with pytest.raises(spikestream.SpikestreamError, match=rf"\[{t}, B, {c}, {h}, {w}\]"):
        model.classify(np.zeros((t + 1, c, h, w), np.float32))
    with pytest.raises(spikestream.SpikestreamError, match=r"\[2, 48, 48\]"):
        model.step(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(FileNotFoundError, match="nothing.aedat4"):
        model.classify(tmp_path / "nothing.aedat4")

"""A static model (direct encoding) from Python: the shipped digits model classifies its sample
PNGs as the CLI does (same per-step logits bit for bit) and as its recorded predictions say, and
a path, an array in [0, 1] and a batch of arrays agree."""

import json
import struct
import subprocess
import zlib

import numpy as np
import pytest

import spikestream
from conftest import ROOT

MODEL = ROOT / "models/digits/digits16_sew_lts.safetensors"
SAMPLES = sorted((ROOT / "models/digits/samples").glob("*/*.png"))


def read_gray_png(path):
    """The pixels of an 8-bit greyscale, non-interlaced PNG as `[1, H, W]` floats in [0, 1]
    (the five PNG filters undone), so the test needs no imaging package."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, color, interlace) == (8, 0, 0), "8-bit greyscale expected"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, rows, prev = zlib.decompress(idat), [], [0] * width
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        f, row = line[0], list(line[1:])
        for x in range(width):
            a, b, c = (row[x - 1] if x else 0), prev[x], (prev[x - 1] if x else 0)
            if f == 1:
                row[x] = (row[x] + a) & 255
            elif f == 2:
                row[x] = (row[x] + b) & 255
            elif f == 3:
                row[x] = (row[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[x] = (row[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(row)
        prev = row
    return (np.array(rows, dtype=np.float32) / np.float32(255))[None]


@pytest.fixture(scope="module")
def model():
    return spikestream.Model(MODEL, backend="cpu", batch=8)


def test_a_static_model_says_so(model):
    assert model.is_static and model.info["static"] is True
    assert model.info["input"] == (1, 16, 16) and model.classes == [str(i) for i in range(10)]


def test_pngs_classify_as_the_cli_and_the_card_say(model, cli):
    assert len(SAMPLES) == 20
    out = subprocess.run([cli, "classify", MODEL, *SAMPLES, "--json", "--decode", "per-step", "--top-k", "10", "--backend", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    recorded = {r["file"]: r["class"] for r in json.loads((ROOT / "models/digits/predictions.json").read_text())}
    for r, path in zip(json.loads(out)["results"], SAMPLES):
        p = model.classify(path)
        assert np.array_equal(p.per_step, np.array(r["logits"], dtype=np.float32)), path.name
        # The class under the model's own decode (`last`, as trained with LTS), as recorded.
        assert p.label == recorded[str(path.relative_to(ROOT))], path.name


def test_paths_arrays_npy_and_batches_agree(model, tmp_path):
    images = np.stack([read_gray_png(p) for p in SAMPLES[:10]])
    by_path = [model.classify(p) for p in SAMPLES[:10]]
    batch = model.classify(images)
    assert batch.logits.shape == (10, 10) and batch.per_step.shape == (model.info["timesteps"], 10, 10)
    np.save(tmp_path / "images.npy", images)
    by_npy = model.classify(tmp_path / "images.npy")
    for i, p in enumerate(by_path):
        one = model.classify(images[i])
        assert np.array_equal(one.per_step, p.per_step), SAMPLES[i].name
        assert np.array_equal(batch.per_step[:, i], p.per_step) and np.array_equal(by_npy.per_step[:, i], p.per_step)


def test_wrong_shapes_are_refused_naming_the_expected_one(model):
    with pytest.raises(spikestream.SpikestreamError, match=r"\[B, 1, 16, 16\]"):
        model.classify(np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(spikestream.SpikestreamError):
        model.classify(np.zeros((4, 2, 1, 16, 16), np.float32))

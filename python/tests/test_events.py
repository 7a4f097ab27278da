"""Reading, batch reading and writing events, against dv-processing where installed, and
error cases: a missing file, a corrupt file, a bad argument raise with the Rust message."""

import hashlib

import numpy as np
import pytest

import spikestream
from conftest import DATA

AEDAT4 = sorted(DATA.glob("synthetic_*.aedat4"))


def test_read_gives_tonic_fields_and_info():
    events, info = spikestream.read(DATA / "synthetic_lz4.aedat4")
    assert events.dtype.names == ("t", "x", "y", "p")
    assert [events.dtype[k] for k in "txyp"] == [np.dtype("<u8"), np.dtype("<u2"), np.dtype("<u2"), np.dtype("u1")]
    assert len(events) == 2000 and set(np.unique(events["p"])) <= {0, 1}
    assert info["resolution"] == (640, 480) and info["format"] == "aedat4"
    assert info["triggers"].dtype == spikestream.TRIGGER_DTYPE
    assert np.all(np.diff(events["t"].astype(np.int64)) >= 0)


def test_triggers_of_an_evt3_recording():
    events, info = spikestream.read(DATA / "evt3_trigger_from_rosbag.raw")
    assert info["format"] == "evt3" and info["resolution"] == (1280, 720)
    assert len(info["triggers"]) == 2 and len(events) == 82469


@pytest.mark.parametrize("path", AEDAT4, ids=lambda p: p.name)
def test_read_equals_dv_processing(path):
    dv = pytest.importorskip("dv_processing")
    reader = dv.io.MonoCameraRecording(str(path))
    parts = []
    while reader.isRunning():
        batch = reader.getNextEventBatch()
        if batch is not None and len(batch) > 0:
            parts.append(batch.numpy())
    want = np.concatenate(parts)
    events, info = spikestream.read(path)
    assert len(events) == len(want)
    for k in ("t", "x", "y"):
        np.testing.assert_array_equal(events[k].astype(np.int64), want["timestamp" if k == "t" else k].astype(np.int64))
    np.testing.assert_array_equal(events["p"], want["polarity"].astype(np.uint8))
    assert info["resolution"] == tuple(reader.getEventResolution())


@pytest.mark.parametrize("batch", [1, 333, 2000, 10**6])
def test_event_reader_batches_concatenate_to_read(batch):
    whole, _ = spikestream.read(DATA / "dvxplorer_rollover_aedat31.aedat")
    reader = spikestream.EventReader(DATA / "dvxplorer_rollover_aedat31.aedat", batch=batch)
    sizes, parts = [], []
    for events in reader if batch > 1 else [b for _, b in zip(range(50), reader)]:
        sizes.append(len(events))
        parts.append(events)
    got = np.concatenate(parts)
    if batch == 1:  # only the first 50 single events
        assert sizes == [1] * 50 and np.array_equal(got, whole[:50])
        return
    assert all(s == batch for s in sizes[:-1]) and 0 < sizes[-1] <= batch
    assert np.array_equal(got, whole)
    assert reader.format == "aedat3.1" and reader.resolution == (640, 480)


def test_write_round_trips_and_dv_processing_reads_it(tmp_path):
    events, info = spikestream.read(DATA / "evt3_trigger_from_rosbag.raw")
    out = tmp_path / "copy.aedat4"
    assert spikestream.write(out, events, info["resolution"]) == len(events)
    again, info2 = spikestream.read(out)
    assert np.array_equal(again, events) and info2["resolution"] == (1280, 720)
    dv = pytest.importorskip("dv_processing")
    reader = dv.io.MonoCameraRecording(str(out))
    n = 0
    while reader.isRunning():
        b = reader.getNextEventBatch()
        n += 0 if b is None else len(b)
    assert n == len(events)


def test_write_takes_tonic_layout_and_spikingjelly_dicts(tmp_path):
    tonic_like = np.zeros(3, dtype=[("x", "<i8"), ("y", "<i8"), ("p", "<i8"), ("t", "<i8")])
    tonic_like["t"], tonic_like["x"], tonic_like["y"], tonic_like["p"] = [5, 6, 7], [1, 2, 3], [0, 1, 2], [1, 0, 1]
    spikestream.write(tmp_path / "a.aedat4", tonic_like, (4, 3))
    sj = {k: tonic_like[k] for k in "txyp"}
    spikestream.write(tmp_path / "b.aedat4", sj, "4x3")
    a, _ = spikestream.read(tmp_path / "a.aedat4")
    b, _ = spikestream.read(tmp_path / "b.aedat4")
    assert np.array_equal(a, b) and a["x"].tolist() == [1, 2, 3] and a["p"].tolist() == [1, 0, 1]


def test_missing_file_is_file_not_found_with_the_path(tmp_path):
    missing = tmp_path / "nope.aedat4"
    with pytest.raises(FileNotFoundError, match="nope.aedat4"):
        spikestream.read(missing)
    with pytest.raises(FileNotFoundError, match="nope.aedat4"):
        spikestream.EventReader(missing)


def test_corrupt_file_raises_the_decoder_message(tmp_path):
    data = (DATA / "synthetic_none.aedat4").read_bytes()
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(data[: len(data) - 5000])
    with pytest.raises(spikestream.SpikestreamError, match=r"cut.aedat4.*byte \d+"):
        spikestream.read(cut)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(hashlib.sha256(b"x").digest() * 10)
    with pytest.raises(spikestream.SpikestreamError, match="garbage.bin"):
        spikestream.read(garbage)


def test_bad_arguments_are_refused():
    with pytest.raises(spikestream.SpikestreamError, match="format='mp4'"):
        spikestream.read(DATA / "synthetic_lz4.aedat4", format="mp4")
    with pytest.raises(ValueError, match="WxH"):
        spikestream.read(DATA / "synthetic_lz4.aedat4", sensor="big")
    with pytest.raises(spikestream.SpikestreamError, match="batch=0"):
        spikestream.EventReader(DATA / "synthetic_lz4.aedat4", batch=0)
    with pytest.raises(spikestream.SpikestreamError, match="outside the 2x2 sensor"):
        spikestream.write("/tmp/never-written.aedat4", spikestream.read(DATA / "synthetic_lz4.aedat4")[0], (2, 2))
    with pytest.raises(ValueError, match=r"lack the field\(s\) \['p'\]"):
        spikestream.as_events(np.zeros(2, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2")]))

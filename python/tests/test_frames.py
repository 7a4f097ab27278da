"""ToFrame and integrate against tonic 1.7 and SpikingJelly, bit for bit (same dtype, shape and
bytes): live where the peer is installed, and always against committed digests of the peers'
output (tests/data/frames/reference_frames.json on recordings, tests/data/python/
random_frames.json on random events)."""

import hashlib
import json

import numpy as np
import pytest

import spikestream
from spikestream.frames import integrate
from spikestream.transforms import ToFrame
from cases import RANDOM_CASES, SJ_FRAMINGS, TONIC_FRAMINGS, random_events, sha256
from conftest import DATA, reference_recordings

RANDOM = json.loads((DATA / "python/random_frames.json").read_text())
RECORDINGS = reference_recordings()


def f32_digest(frames):
    return hashlib.sha256(np.ascontiguousarray(frames, dtype="<f4").tobytes()).hexdigest()


def tonic_args(name):
    kwargs = dict(TONIC_FRAMINGS[name])
    return kwargs, 1 if kwargs.pop("single", False) else 2


def ours_tonic(ev, w, h, name):
    kwargs, p = tonic_args(name)
    if p == 1:
        ev = ev.copy()
        ev["p"] = 1
    return ToFrame(sensor_size=(w, h, p), **kwargs)(ev), (kwargs, p, ev)


@pytest.mark.parametrize("case", RANDOM_CASES)
def test_random_events_match_committed_reference(case):
    spec = RANDOM_CASES[case]
    ev = random_events(**spec)
    want = RANDOM["cases"][case]
    assert sha256(ev) == want["events_sha256"], "numpy drew other random events than when the fixture was made"
    w, h = spec["width"], spec["height"]
    for name, (split_by, frames) in SJ_FRAMINGS.items():
        ref = want["sj"][name]
        if "error" in ref:
            with pytest.raises(spikestream.SpikestreamError, match="has no event"):
                integrate(ev, frames, split_by, h, w)
            continue
        got = integrate(ev, frames, split_by, h, w)
        assert (list(got.shape), str(got.dtype), sha256(got)) == (ref["shape"], ref["dtype"], ref["sha256"]), f"SpikingJelly {name}"
    for name in TONIC_FRAMINGS:
        ref = want["tonic"][name]
        got, _ = ours_tonic(ev, w, h, name)
        assert (list(got.shape), str(got.dtype), sha256(got)) == (ref["shape"], ref["dtype"], ref["sha256"]), f"tonic {name}"


@pytest.mark.parametrize("case", RANDOM_CASES)
def test_random_events_match_live_tonic(case):
    tonic = pytest.importorskip("tonic")
    spec = RANDOM_CASES[case]
    ev = random_events(**spec)
    for name in TONIC_FRAMINGS:
        got, (kwargs, p, events) = ours_tonic(ev, spec["width"], spec["height"], name)
        want = tonic.transforms.ToFrame(sensor_size=(spec["width"], spec["height"], p), **kwargs)(events.copy())
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), name


@pytest.mark.parametrize("case", RANDOM_CASES)
def test_random_events_match_live_spikingjelly(case):
    sj = pytest.importorskip("spikingjelly.datasets")
    spec = RANDOM_CASES[case]
    ev = random_events(**spec)
    d = {k: ev[k] for k in "txyp"}
    for name, (split_by, frames) in SJ_FRAMINGS.items():
        try:
            want = sj.integrate_events_by_fixed_frames_number(d, split_by, frames, spec["height"], spec["width"])
        except IndexError:
            with pytest.raises(spikestream.SpikestreamError):
                integrate(d, frames, split_by, spec["height"], spec["width"])
            continue
        got = integrate(d, frames, split_by, spec["height"], spec["width"])
        assert got.dtype == want.dtype and np.array_equal(got, want), name


@pytest.mark.parametrize("name,path,case", RECORDINGS, ids=[r[0] for r in RECORDINGS])
def test_recordings_match_reference_digests(name, path, case):
    w, h = case["width"], case["height"]
    ev, _ = spikestream.read(path, sensor=(w, h))
    assert len(ev) == case["events"]
    for n in (10, 16):
        assert f32_digest(integrate(ev, n, "number", h, w, dtype=np.float32)) == case[f"sj_number_{n}"]["sha256"]
    if "error" in case["sj_time_10"]:
        with pytest.raises(spikestream.SpikestreamError):
            integrate(ev, 10, "time", h, w)
    else:
        assert f32_digest(integrate(ev, 10, "time", h, w)) == case["sj_time_10"]["sha256"]
    tonic_cases = {
        "tonic_n_time_bins_10": {"n_time_bins": 10},
        "tonic_n_event_bins_8_overlap_0.25": {"n_event_bins": 8, "overlap": 0.25},
        "tonic_time_window": {"time_window": case["tonic_time_window"]["window_us"], "overlap": case["tonic_time_window"]["window_us"] // 4, "include_incomplete": True},
        "tonic_event_count": {"event_count": case["tonic_event_count"]["count"], "overlap": len(ev) // 20},
    }
    for key, kwargs in tonic_cases.items():
        got = ToFrame(sensor_size=(w, h, 2), **kwargs)(ev)
        assert got.dtype == np.int16 and list(got.shape) == case[key]["shape"]
        assert f32_digest(got) == case[key]["sha256"], key


def test_tonic_edge_cases_agree():
    tonic = pytest.importorskip("tonic")
    ev = random_events(**RANDOM_CASES["small_64x48"])
    empty = ev[:0]
    for kwargs in ({"n_time_bins": 3}, {"time_window": 100.0}, {"event_count": 5}, {"n_event_bins": 2}):
        want = tonic.transforms.ToFrame(sensor_size=(64, 48, 2), **kwargs)(empty)
        got = ToFrame(sensor_size=(64, 48, 2), **kwargs)(empty)
        assert got.dtype == want.dtype and got.shape == want.shape
    # no sensor size: inferred from the events, as tonic does
    want = tonic.transforms.ToFrame(sensor_size=None, n_time_bins=4)(ev.copy())
    assert np.array_equal(ToFrame(sensor_size=None, n_time_bins=4)(ev), want)
    # a window longer than the recording: one frame
    want = tonic.transforms.ToFrame(sensor_size=(64, 48, 2), time_window=1e9)(ev.copy())
    assert np.array_equal(ToFrame(sensor_size=(64, 48, 2), time_window=1e9)(ev), want)


def test_framing_errors():
    ev = random_events(**RANDOM_CASES["small_64x48"])
    with pytest.raises(ValueError, match="exactly one"):
        ToFrame(sensor_size=(64, 48, 2), n_time_bins=3, event_count=4)(ev)
    with pytest.raises(spikestream.SpikestreamError, match="outside the 10x10 sensor"):
        ToFrame(sensor_size=(10, 10, 2), n_time_bins=3)(ev)
    with pytest.raises(spikestream.SpikestreamError, match="both polarities"):
        ToFrame(sensor_size=(64, 48, 1), n_time_bins=3)(ev)
    with pytest.raises(ValueError, match="start_time"):
        ToFrame(sensor_size=(64, 48, 2), time_window=10.0, start_time=0)(ev)
    with pytest.raises(spikestream.SpikestreamError, match="split_by='space'"):
        integrate(ev, 4, "space", 48, 64)
    with pytest.raises(ValueError, match="float32 or float64"):
        integrate(ev, 4, "number", 48, 64, dtype=np.int32)
    shuffled = ev[::-1].copy()
    with pytest.raises(spikestream.SpikestreamError, match="not sorted"):
        ToFrame(sensor_size=(64, 48, 2), time_window=1000.0)(shuffled)

"""The on-disk cache: hits, misses on version/parameter change, atomic writes, corrupt entries, map_clips."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from melib.errors import DataError
from melib.preprocess import cache as cache_mod
from melib.preprocess.cache import cache_clear, cache_info, cached, fingerprint, map_clips


@pytest.fixture(autouse=True)
def _cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _make(version=1, name="t.step"):
    calls = []

    @cached(version=version, name=name)
    def step(clip_id, scale=2.0):
        calls.append((clip_id, scale))
        return {"x": np.arange(5) * scale, "id": clip_id}

    return step, calls


def test_second_pass_is_a_hit():
    step, calls = _make()
    first = step("clip-a")
    second = step("clip-a")
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    # explicit default == implicit default: same entry
    step("clip-a", scale=2.0)
    assert len(calls) == 1
    assert cache_info() == {"t.step": {"entries": 1, "bytes": step.cache_path("clip-a").stat().st_size}}


def test_parameter_or_clip_change_recomputes():
    step, calls = _make()
    step("clip-a")
    step("clip-a", scale=3.0)
    step("clip-b")
    assert len(calls) == 3
    assert cache_info()["t.step"]["entries"] == 3


def test_version_bump_recomputes():
    step1, calls1 = _make(version=1)
    step1("clip-a")
    step2, calls2 = _make(version=2)
    out = step2("clip-a")
    assert len(calls2) == 1 and out["id"] == "clip-a"
    assert step1.cache_path("clip-a") != step2.cache_path("clip-a")


def test_interrupted_write_leaves_no_entry(monkeypatch):
    step, calls = _make()
    path = step.cache_path("clip-a")

    class Boom(Exception):
        pass

    real_replace = cache_mod.os.replace

    def crash(*a, **k):  # the data is on disk under the temporary name; the rename never happens
        raise Boom

    monkeypatch.setattr(cache_mod.os, "replace", crash)
    with pytest.raises(Boom):
        step("clip-a")
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # the temporary file was removed too
    monkeypatch.setattr(cache_mod.os, "replace", real_replace)
    step("clip-a")
    assert path.exists() and len(calls) == 2


def test_exception_in_pickling_leaves_no_entry(monkeypatch):
    step, _ = _make()

    def bad_dumps(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.pickle, "dumps", bad_dumps)
    with pytest.raises(KeyboardInterrupt):
        step("clip-a")
    assert not step.cache_path("clip-a").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_corrupt_entry_is_recomputed(damage):
    step, calls = _make()
    step("clip-a")
    path = step.cache_path("clip-a")
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob[-3] ^= 0xFF
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    out = step("clip-a")
    assert len(calls) == 2
    np.testing.assert_array_equal(out["x"], np.arange(5) * 2.0)
    assert step("clip-a")["id"] == "clip-a" and len(calls) == 2  # the rewritten entry is good


def test_entry_file_is_header_plus_pickle():
    import struct
    import zlib

    step, _ = _make()
    step("clip-a")
    blob = step.cache_path("clip-a").read_bytes()
    length, crc = struct.unpack("<QI", blob[:12])
    assert length == len(blob) - 12 and crc == zlib.crc32(blob[12:])
    assert pickle.loads(blob[12:])["id"] == "clip-a"


def test_cache_clear_one_function_or_all():
    a, _ = _make(name="t.a")
    b, _ = _make(name="t.b")
    a("x"), a("y"), b("x")
    assert cache_clear(a) == 2
    assert set(cache_info()) == {"t.b"}
    assert cache_clear() == 1
    assert cache_info() == {}
    with pytest.raises(TypeError):
        cache_clear(len)


def test_fingerprint_distinguishes_arrays_and_rows(tmp_path):
    a = np.zeros((2, 3), np.uint8)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a) != fingerprint(a.astype(np.float32))
    b = a.copy()
    b[1, 2] = 1
    assert fingerprint(a) != fingerprint(b)
    f = tmp_path / "img1.png"
    f.write_bytes(b"12")
    row = pd.Series({"dataset": "synth", "subject": "synth/s1", "clip": "c1", "apex": 3, "frames": [str(f)]})
    key1 = fingerprint(row)
    f.write_bytes(b"123")  # the frame file changed on disk: a different clip
    assert fingerprint(row) != key1
    with pytest.raises(TypeError):
        fingerprint(object())


def test_map_clips_collects_exclusions():
    samples = pd.DataFrame({"dataset": ["synth"] * 3, "subject": ["synth/s1"] * 3, "clip": ["a", "bad", "c"]})

    @cached(version=1, name="t.rowstep")
    def rowstep(row, k=1):
        if row["clip"] == "bad":
            raise DataError("/x/bad", "a face", "none")
        return np.full(2, k)

    results, exclusions = map_clips(rowstep, samples, desc="test", progress=False, k=4)
    assert list(results) == [0, 2]
    np.testing.assert_array_equal(results[2], [4, 4])
    assert len(exclusions) == 1
    ex = exclusions[0]
    assert (ex["dataset"], ex["subject"], ex["clip"], ex["path"]) == ("synth", "synth/s1", "bad", "/x/bad")
    assert "a face" in ex["reason"]
    with pytest.raises(ZeroDivisionError):
        map_clips(lambda row: 1 / 0, samples, progress=False)


def test_data_error_is_cached_and_raised_again():
    from melib.preprocess.face import FaceNotFound

    calls = []

    @cached(version=1, name="t.noface")
    def step(clip_id):
        calls.append(clip_id)
        raise FaceNotFound(f"/d/{clip_id}/img1.jpg", "a face", "none")

    for _ in range(2):
        with pytest.raises(FaceNotFound) as info:
            step("c1")
        assert str(info.value.path) == "/d/c1/img1.jpg" and info.value.found == "none"
    assert calls == ["c1"]

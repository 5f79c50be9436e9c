"""Preprocessing over a process pool: the same results as one process, exclusions kept, errors raised with
their traceback, one cache shared by the workers, one thread per worker."""
from __future__ import annotations

import os
import threading
import time
import traceback
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from melib import datasets, parallel
from melib.errors import ConfigError, DataError
from melib.preprocess import pipelines as P
from melib.preprocess.cache import cache_info, cached
from melib.preprocess.clips import map_clips


@pytest.fixture(scope="module")
def table(synth_small, tmp_path_factory):
    """Five clips of the small synthetic set, the third one's frames replaced by noise (no face: excluded)."""
    samples = datasets.load("synth", synth_small)
    rows = pd.concat([g.head(2) for _, g in samples.groupby("dataset", sort=True)]).head(5)
    bad = rows.iloc[2].copy()
    folder = tmp_path_factory.mktemp("noface")
    rng = np.random.default_rng(0)
    frames = []
    for f in bad["frames"]:
        h, w = cv2.imread(f).shape[:2]
        dst = folder / Path(f).name
        cv2.imwrite(str(dst), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        frames.append(str(dst))
    bad["frames"] = frames
    rows.iloc[2] = bad
    return rows


@pytest.fixture
def one_thread():
    """This process computes with one thread, as each worker does (so a serial run is the same arithmetic)."""
    before = torch.get_num_threads()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(before)


def _build(table, paper, n_jobs, cache, monkeypatch, **params):
    monkeypatch.setenv("MELIB_CACHE", str(cache))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return P.build_inputs(table, paper, progress=False, n_jobs=n_jobs, **params)


@pytest.mark.parametrize("paper,params", [
    ("dlhn", {"rpca_tol": 1e-5}),
    ("psn", {"frames": 4, "n_normalised": 20, "out_size": 28}),
])
def test_pool_gives_the_serial_results(table, paper, params, tmp_path, monkeypatch, one_thread):
    serial = _build(table, paper, 1, tmp_path / "serial", monkeypatch, **params)
    pooled = _build(table, paper, 2, tmp_path / "pooled", monkeypatch, **params)
    (x1, kept1, ex1), (x2, kept2, ex2) = serial, pooled
    assert list(kept1) == list(kept2) == [table.index[i] for i in (0, 1, 3, 4)]
    assert ex1 == ex2 and len(ex1) == 1 and ex1[0]["error"] == "FaceNotFound"
    assert ex1[0]["clip"] == table.iloc[2]["clip"]
    assert x1.keys() == x2.keys()
    for k in x1:
        assert x1[k].shape[0] == 4
        np.testing.assert_array_equal(x1[k], x2[k])
    # the workers wrote to the cache of this call: a second pass finds every clip there
    assert sum(v["entries"] for v in cache_info().values()) >= len(table)
    again = _build(table, paper, 2, tmp_path / "pooled", monkeypatch, **params)
    for k in x1:
        np.testing.assert_array_equal(again[0][k], x1[k])


@pytest.mark.parametrize("paper,params", [
    ("dlhn", {"rpca_tol": 1e-5}),
    ("psn", {"frames": 4, "n_normalised": 20, "out_size": 28}),
])
def test_rpca_batched_across_clips_gives_the_clip_by_clip_results(table, paper, params, tmp_path, monkeypatch,
                                                                  one_thread):
    """The accelerator's route (the pool runs the pipelines up to RPCA, this process batches RPCA across clips,
    the pool finishes them), taken on the CPU, gives today's per-clip arrays bit for bit, the same exclusions,
    and writes the entries a per-clip pass then finds (the cache does not depend on the route)."""
    from melib.preprocess import registry, rpca

    calls = []
    real = rpca.rpca_clips
    monkeypatch.setattr(rpca, "rpca_clips", lambda clips, **kw: calls.append(len(clips)) or real(clips, **kw))
    monkeypatch.setattr(registry, "RPCA_BATCH", 3)
    per_clip = _build(table, paper, 1, tmp_path / "clip", monkeypatch, **params)
    batched = _build(table, paper, 2, tmp_path / "batched", monkeypatch, batch_rpca=True, **params)
    assert calls == [4]  # the four clips with a face, in one call (batches of 3 inside it)
    (x1, kept1, ex1), (x2, kept2, ex2) = per_clip, batched
    assert list(kept1) == list(kept2) and ex1 == ex2 and x1.keys() == x2.keys()
    for k in x1:
        np.testing.assert_array_equal(x1[k], x2[k])
    monkeypatch.setattr(P, "rpca_frames", lambda *a, **kw: pytest.fail("a cache entry was missing"))
    again = _build(table, paper, 1, tmp_path / "batched", monkeypatch, **params)
    for k in x1:
        np.testing.assert_array_equal(again[0][k], x1[k])


def test_a_batched_rpca_result_must_fit_the_clip():
    from melib.preprocess import registry

    token = registry._RPCA.set([np.zeros((2, 3, 3), np.float32)])
    try:
        with pytest.raises(DataError, match=r"shape \(4, 3, 3\)"):
            registry.batched_rpca(np.zeros((4, 3, 3), np.float32), "/x/img1.jpg")
    finally:
        registry._RPCA.reset(token)
    assert registry.batched_rpca(np.zeros((4, 3, 3), np.float32)) is None  # not batching: the pipeline computes


def explode(row):
    if row["clip"] == "boom":
        raise ValueError(f"boom in clip {row['clip']}")
    if row["clip"] == "unusable":
        raise DataError("/data/unusable/img1.jpg", "a face", "none")
    time.sleep(0.05)
    return np.full(3, len(row["clip"]))


def _rows(*clips):
    return pd.DataFrame({"dataset": "synth", "subject": "synth/s1", "clip": list(clips)},
                        index=range(10, 10 + len(clips)))


def test_data_error_in_a_worker_is_an_exclusion_in_table_order():
    results, exclusions = map_clips(explode, _rows("a", "unusable", "ccc", "dd"), progress=False, n_jobs=2)
    assert list(results) == [10, 12, 13] and results[12].tolist() == [3, 3, 3]
    assert [e["clip"] for e in exclusions] == ["unusable"]
    assert exclusions[0]["path"] == "/data/unusable/img1.jpg" and exclusions[0]["error"] == "DataError"


def test_other_errors_in_a_worker_propagate_with_its_traceback():
    with pytest.raises(ValueError, match="boom in clip boom") as info:
        map_clips(explode, _rows("a", "b", "boom", "c"), progress=False, n_jobs=2)
    chain = "".join(traceback.format_exception(info.value))
    assert "in explode" in chain  # the worker's frame, not only the pool's


@cached(version=1, name="t.slow_same")
def slow_same(row):
    """Logs who computes it, then waits until both workers compute it (at module level: workers import it)."""
    log = Path(row["log"])
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 60
    while len(set(log.read_text().split())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return np.arange(100_000, dtype=np.float64) * len(row["clip"])


def test_concurrent_writers_of_one_key_leave_one_valid_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path))
    log = tmp_path / "computed"
    same = _rows(*["x"] * 6).assign(log=str(log))  # six rows of one clip identity: one cache key
    results, _ = map_clips(slow_same, same, progress=False, n_jobs=2)
    assert len(set(log.read_text().split())) == 2  # both workers computed (and wrote) it
    assert cache_info()["t.slow_same"]["entries"] == 1
    assert [f.name for f in (tmp_path / "t.slow_same").iterdir() if f.name.startswith(".tmp-")] == []
    for r in results.values():
        np.testing.assert_array_equal(r, np.arange(100_000, dtype=np.float64))
    n = len(log.read_text().split())
    again, _ = map_clips(slow_same, same, progress=False, n_jobs=2)
    assert len(log.read_text().split()) == n  # loaded, not recomputed
    np.testing.assert_array_equal(again[10], results[10])


def thread_counts(_):
    from threadpoolctl import threadpool_info

    pools = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    return os.getpid(), torch.get_num_threads(), cv2.getNumThreads(), pools


def test_workers_keep_to_their_share_of_the_cores():
    share = max(1, parallel.cpu_count() // 2)
    out = dict(parallel.stream(thread_counts, range(4), n_jobs=2))
    assert sorted(out) == [0, 1, 2, 3]
    assert os.getpid() not in {r[0] for r in out.values()}
    for _, torch_threads, cv_threads, pools in out.values():
        assert torch_threads == share and cv_threads == share
        assert pools and all(n == share for n in pools.values()), pools


def nested(i):
    return os.getpid(), [pid for _, (pid, *_rest) in parallel.stream(thread_counts, range(3), n_jobs=2)]


def test_no_pool_inside_a_worker():
    for pid, inner in dict(parallel.stream(nested, range(2), n_jobs=2)).values():
        assert inner == [pid] * 3


@cached(version=1, name="t.where")
def where(row):
    return os.getcwd(), os.environ.get("MELIB_CACHE")


def test_workers_follow_the_callers_settings(tmp_path, monkeypatch):
    """The pool outlives a call: a cache folder set after it started is still the one the workers use."""
    list(parallel.stream(thread_counts, range(2), n_jobs=2))  # the pool is up
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "later"))
    monkeypatch.chdir(tmp_path)
    results, _ = map_clips(where, _rows("a", "bb", "ccc"), progress=False, n_jobs=2)
    assert set(results.values()) == {(str(tmp_path), str(tmp_path / "later"))}
    assert cache_info()["t.where"]["entries"] == 3


def test_a_step_that_cannot_travel_runs_here_by_default_and_is_refused_for_workers():
    lock = threading.Lock()  # a closure over a lock cannot be pickled

    def locked(row):
        with lock:
            return os.getpid()

    with pytest.warns(RuntimeWarning, match="cannot be sent to worker processes"):
        results, _ = map_clips(locked, _rows("a", "b", "c"), progress=False)
    assert set(results.values()) == {os.getpid()}
    with pytest.raises(ConfigError, match="n_jobs=1"):
        map_clips(locked, _rows("a", "b", "c"), progress=False, n_jobs=2)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_n_jobs_is_checked(bad):
    with pytest.raises(ConfigError, match="n_jobs"):
        map_clips(explode, _rows("a", "b"), progress=False, n_jobs=bad)

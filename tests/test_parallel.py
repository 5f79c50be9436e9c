"""Folds as independent jobs: a process pool and a Dask cluster give the same results as a serial run."""
import functools
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.svm import SVC

from melib import parallel, train
from melib.errors import ConfigError


def toy():
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"dataset": "d", "subject": f"d/s{s}", "clip": f"s{s}c{c}", "label": c % 3}
                       for s in range(4) for c in range(6)])
    X = rng.normal(size=(len(df), 5)).astype(np.float32)
    X[np.arange(len(df)), df["label"].to_numpy()] += 1.5
    return df, X


CFG = train.TrainConfig(epochs=5, lr=0.05, batch_size=8, threads=1, progress=False)
LINEAR = functools.partial(torch.nn.Linear, 5, 3)


def scale(a, *, b):
    return a * b


def test_run_all_serial_keeps_order_and_reports_each_result():
    seen = []
    out = parallel.run_all(scale, [1, 2, 3], shared={"b": 10}, progress=False,
                           on_result=lambda i, r: seen.append((i, r)))
    assert out == [10, 20, 30] and seen == [(0, 10), (1, 20), (2, 30)]
    with pytest.raises(ConfigError, match="unknown backend"):
        parallel.run_all(scale, [1], backend="ray")
    with pytest.raises(ConfigError, match="address="):
        parallel.run_all(scale, [1], shared={"b": 1}, backend="dask")
    with pytest.raises(ConfigError, match="backend='dask'"):
        parallel.run_all(scale, [1], shared={"b": 1}, address="tcp://127.0.0.1:1")


def run(model, **kw):
    df, X = toy()
    return train.evaluate(model, X, df, "loso", config=CFG, save=False, progress=False, **kw).predictions()


def test_process_pool_matches_serial():
    pd.testing.assert_frame_equal(run(SVC(), n_jobs=2),
                                  run(SVC()))


def worker_env():
    import os
    return os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("MELIB_WORKER_DEVICE")


def test_dask_cluster_matches_local_run(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the workers inherit this environment
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, resources={"GPU": 1}) as cluster:
        with distributed.Client(cluster) as client:
            for model in (SVC(), LINEAR):
                remote = run(model, backend="dask", address=client)
                pd.testing.assert_frame_equal(remote, run(model))
            # each worker was pinned to its own device before its first task, and keeps it
            pins = client.run(worker_env)
            assert sorted(pins.values()) == [("0", "0"), ("1", "1")]
            assert parallel.pin_workers(client) == {a: d for a, (_, d) in pins.items()}
            # MELIB_DASK (melib study --dask) sends a plain evaluate() to the cluster
            monkeypatch.setenv("MELIB_DASK", cluster.scheduler_address)
            seen = []
            real = parallel._dask
            monkeypatch.setattr(parallel, "_dask", lambda *a, **kw: seen.append(a[3]) or real(*a, **kw))
            pd.testing.assert_frame_equal(run(LINEAR), run(LINEAR, backend="local"))
            assert seen == [cluster.scheduler_address]
            monkeypatch.delenv("MELIB_DASK")
            # an address string works too, and records written on this side resume a local run
            df, X = toy()
            ev = train.evaluate(LINEAR, X, df, "loso", config=CFG, root=tmp_path, progress=False,
                                backend="dask", address=cluster.scheduler_address)
    assert len(list(tmp_path.glob("*/*/fold*.json"))) == 4
    again = train.evaluate(LINEAR, X, df, "loso", config=CFG, root=tmp_path, progress=False)
    assert again.pooled == ev.pooled

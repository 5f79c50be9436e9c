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


def test_dask_cluster_matches_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            for model in (SVC(), LINEAR):
                remote = run(model, backend="dask", address=client)
                pd.testing.assert_frame_equal(remote, run(model))
            # an address string works too, and records written on this side resume a local run
            df, X = toy()
            ev = train.evaluate(LINEAR, X, df, "loso", config=CFG, root=tmp_path, progress=False,
                                backend="dask", address=cluster.scheduler_address)
    assert len(list(tmp_path.glob("*/*/fold*.json"))) == 4
    again = train.evaluate(LINEAR, X, df, "loso", config=CFG, root=tmp_path, progress=False)
    assert again.pooled == ev.pooled

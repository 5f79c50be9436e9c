"""Folds as independent jobs: a process pool and a Dask cluster give the same results as a serial run."""
import functools
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.svm import SVC

from melib import parallel, train
from melib.errors import ConfigError
from processes import running, still_running


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


POOL_SCRIPT = """
import os, sys, time
from pathlib import Path
from melib import parallel

out = Path(sys.argv[1])

def hold(t, **shared):
    (out / f"{os.getpid()}.pid").write_text("")
    time.sleep(120)
    return t

if sys.argv[2] == "stream":
    list(parallel.stream(hold, range(4), n_jobs=2))
else:
    parallel.run_all(hold, range(4), n_jobs=2, progress=False)
"""


@pytest.mark.parametrize("how", ["stream", "run_all"])
def test_pool_workers_die_with_a_killed_parent(tmp_path, how):
    """Issue 20, case 8: after ``kill -9`` of a preprocessing run its pool workers (about 1 GB) lived on for 20
    minutes and more, busy with their clips. Each worker now exits within a second of its parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    (tmp_path / "pids").mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "pids"), how],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "pids").glob("*.pid"))) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "the pool did not start"
            time.sleep(0.2)
        workers = [int(p.stem) for p in (tmp_path / "pids").glob("*.pid")]
        assert all(running(w) for w in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    left = still_running(workers, within=10)
    for w in left:  # do not leave them behind when the check fails
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"

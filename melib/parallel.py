"""Folds are independent jobs: run them serially, in a local process pool, or on a Dask cluster.

``run_all(fn, tasks, shared=..., n_jobs=1, backend="local")`` returns ``[fn(t, **shared) for t in tasks]``
in task order whichever way the work is spread. ``shared`` holds the large inputs every task needs
(features); they are sent once per worker (memory-mapped by joblib locally, scattered by Dask).

- ``backend="local"``: ``n_jobs=1`` (the default, right for 2 cores) runs in this process; ``n_jobs>1`` uses
  a joblib ``loky`` process pool (cloudpickle, so closures and lambdas travel).
- ``backend="dask"``: ``address`` is a scheduler address (``"tcp://host:8786"``), a
  ``distributed.Client`` or a cluster object (e.g. ``distributed.LocalCluster``).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from .errors import ConfigError

BACKENDS = ("local", "dask")


def run_all(fn: Callable, tasks: Sequence, *, shared: dict[str, Any] | None = None, n_jobs: int = 1,
            backend: str = "local", address: Any = None, progress: bool = True, desc: str = "folds",
            on_result: Callable[[int, Any], None] | None = None) -> list:
    """``[fn(task, **shared) for task in tasks]`` computed serially, in a process pool or on Dask.

    ``on_result(i, result)`` is called in this process as each result arrives (to save it at once, so an
    interrupted run keeps the folds that finished).
    """
    shared = shared or {}
    on_result = on_result or (lambda i, r: None)
    tasks = list(tasks)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not tasks:
        return []
    if backend == "dask":
        return _dask(fn, tasks, shared, address, progress, desc, on_result)
    if address is not None:
        raise ConfigError("address= is for backend='dask'; add backend='dask' or drop address")
    if n_jobs == 1:
        results = (fn(t, **shared) for t in tasks)
    else:
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
            delayed(fn)(t, **shared) for t in tasks)
    out = []
    for i, r in enumerate(tqdm(results, total=len(tasks), desc=desc, disable=not progress)):
        on_result(i, r)
        out.append(r)
    return out


def _dask(fn, tasks, shared, address, progress, desc, on_result):
    try:
        from distributed import Client, as_completed
    except ImportError as e:  # pragma: no cover - distributed is a dev dependency
        raise ConfigError("backend='dask' needs the 'distributed' package (pip install distributed)") from e
    if address is None:
        raise ConfigError("backend='dask' needs address= (a scheduler address like 'tcp://host:8786', "
                          "a distributed.Client or a cluster)")
    own = not isinstance(address, Client)
    client = Client(address, set_as_default=False) if own else address
    try:
        scattered = {k: client.scatter([v], broadcast=True, hash=False)[0] for k, v in shared.items()}
        futures = client.map(fn, tasks, pure=False, **scattered)
        where = {f.key: i for i, f in enumerate(futures)}
        for fut in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            on_result(where[fut.key], fut.result())
        return client.gather(futures)
    finally:
        if own:
            client.close()

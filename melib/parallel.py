"""Independent jobs (folds, clips): run them serially, in a local process pool, or on a Dask cluster.

``run_all(fn, tasks, shared=..., n_jobs=1, backend="local")`` returns ``[fn(t, **shared) for t in tasks]``
in task order whichever way the work is spread. ``shared`` holds the large inputs every task needs
(features); they are sent once per worker (memory-mapped by joblib locally, scattered by Dask).

- ``backend="local"``: ``n_jobs=1`` (the default, right for 2 cores) runs in this process; ``n_jobs>1`` uses
  a joblib ``loky`` process pool (cloudpickle, so closures and lambdas travel).
- ``backend="dask"``: ``address`` is a scheduler address (``"tcp://host:8786"``), a
  ``distributed.Client`` or a cluster object (e.g. ``distributed.LocalCluster``). ``backend=None`` (the
  default of ``melib.train.evaluate``) means Dask at ``$MELIB_DASK`` when it is set (``melib study --dask``),
  else local. Each worker is pinned to one GPU before its first task (:func:`pin_workers`): the k-th worker
  of a host gets ``CUDA_VISIBLE_DEVICES=k`` (unless its environment already names its devices), so a task's
  ``"cuda"`` is that worker's own GPU; when every worker declares a ``GPU`` resource
  (``dask worker ... --resources GPU=1``) each task asks for one, so a GPU trains one fold at a time.

``stream(fn, tasks, n_jobs=None)`` yields ``(position, fn(task))`` as each finishes, from a pool of one
process per core by default (preprocessing clips: :func:`melib.preprocess.clips.map_clips`). Its workers keep
their BLAS, OpenMP, torch and OpenCV threads to their share of the cores (1 when every core has a worker), so
they do not fight over the cores, and see this process's working directory and ``MELIB_*`` variables.

Every local pool worker dies with the process that started it (killed or not) and leaves Ctrl-C to it.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from typing import Any
from collections.abc import Callable, Iterator, Sequence

from tqdm.auto import tqdm

from .errors import ConfigError

BACKENDS = ("local", "dask")
PARENT_POLL_S = 0.5  # how often a pool worker checks that the process that started it is alive
_worker_threads: int | None = None  # set in a stream() worker: its thread share
_watched: int | None = None  # set in a pool worker: the pid of the process it dies with (_die_with)


def cpu_count() -> int:
    """The cores this process may use (affinity and container limits included)."""
    from joblib import cpu_count as joblib_cpu_count

    return max(1, joblib_cpu_count())


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def n_workers(n_jobs: int | None) -> int:
    """``n_jobs`` checked: ``None`` means one worker per core."""
    if n_jobs is None:
        return cpu_count()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer or None (every core), not {n_jobs!r}")
    return n_jobs


def limit_threads(n: int) -> None:
    """Cap this process's torch, OpenCV and BLAS/OpenMP thread pools at ``n`` threads."""
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    threadpool_limits(n)


def exit_with_parent(parent: int) -> None:
    """A daemon thread that ends this process (exit status 1) as soon as process ``parent`` is gone, killed
    included (it polls ``os.getppid()``). ``_die_with`` keeps its own copy: the known-answer records' code hash
    covers it, and folding it in waits for their next re-measurement."""
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="melib-parent-watch", daemon=True).start()


def _die_with(parent: int) -> None:
    """In a pool worker: exit as soon as process ``parent`` (which started the pool) is gone, killed included, so
    that no worker outlives it (a watch thread polls ``os.getppid()``); and leave Ctrl-C to the parent, which
    stops its pool, instead of printing each worker's traceback. Once per worker process."""
    global _watched
    if _watched == parent:
        return
    _watched = parent
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="melib-parent-watch", daemon=True).start()


def _watched_task(fn: Callable, parent: int, task: Any, /, **shared):
    _die_with(parent)
    return fn(task, **shared)


def _in_worker(fn: Callable, i: int, task: Any, threads: int, cwd: str, env: dict[str, str], parent: int):
    global _worker_threads
    _die_with(parent)
    if _worker_threads != threads:
        limit_threads(threads)
        _worker_threads = threads
    os.chdir(cwd)  # the pool outlives a call: the caller's place and settings are set again for each task
    for key in [k for k in os.environ if k.startswith("MELIB_") and k not in env]:
        del os.environ[key]
    os.environ.update(env)
    return i, fn(task)


def _sendable(fn: Callable, n_jobs: int | None, name: str) -> bool:
    """Whether ``fn`` can travel to a worker (cloudpickle). When it cannot: an error if ``n_jobs`` asked for
    workers, else a warning (the default then computes in this process)."""
    import cloudpickle  # what loky sends tasks with

    try:
        cloudpickle.dumps(fn)
        return True
    except Exception as exc:  # noqa: BLE001 - whatever pickling raises, the answer is the same
        msg = f"{name} cannot be sent to worker processes ({type(exc).__name__}: {exc}); define it at module level"
        if n_jobs is not None:
            raise ConfigError(f"{msg}, or pass n_jobs=1") from exc
        warnings.warn(f"{msg}; computing in this process", RuntimeWarning, stacklevel=3)
        return False


def stream(fn: Callable, tasks: Sequence, n_jobs: int | None = None,
           name: str | None = None) -> Iterator[tuple[int, Any]]:
    """``(i, fn(tasks[i]))`` for every task, yielded as each finishes (in no set order), from a loky process
    pool of ``n_jobs`` workers (default: one per core). Runs in this process, in order, when ``n_jobs`` or
    the number of tasks is 1, inside a worker (no nested pools), or when ``fn`` cannot be pickled and
    ``n_jobs`` is the default (with a warning naming ``name``; :func:`_sendable`). An exception in ``fn``
    is raised here, with the worker's traceback as its cause; the tasks not yet started are dropped."""
    tasks = list(tasks)
    n = min(n_workers(n_jobs), len(tasks))
    if n <= 1 or _worker_threads is not None or not _sendable(fn, n_jobs, name or repr(fn)):
        for i, task in enumerate(tasks):
            yield i, fn(task)
        return
    from joblib import Parallel, delayed

    threads = max(1, cpu_count() // n)
    env = {k: v for k, v in os.environ.items() if k.startswith("MELIB_")}
    yield from Parallel(n_jobs=n, backend="loky", return_as="generator_unordered")(
        delayed(_in_worker)(fn, i, task, threads, os.getcwd(), env, os.getpid()) for i, task in enumerate(tasks))


def run_all(fn: Callable, tasks: Sequence, *, shared: dict[str, Any] | None = None, n_jobs: int = 1,
            backend: str | None = "local", address: Any = None, progress: bool = True, desc: str = "folds",
            on_result: Callable[[int, Any], None] | None = None) -> list:
    """``[fn(task, **shared) for task in tasks]`` computed serially, in a process pool or on Dask
    (``backend=None``: :func:`resolve_backend`).

    ``on_result(i, result)`` is called in this process as each result arrives (to save it at once, so an
    interrupted run keeps the folds that finished).
    """
    backend, address = resolve_backend(backend, address)
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
            delayed(_watched_task)(fn, os.getpid(), t, **shared) for t in tasks)
    out = []
    for i, r in enumerate(tqdm(results, total=len(tasks), desc=desc, disable=not progress)):
        on_result(i, r)
        out.append(r)
    return out


def resolve_backend(backend: str | None, address: Any = None) -> tuple[str, Any]:
    """``(backend, address)``: None means Dask at ``$MELIB_DASK`` when it is set and no address is given,
    else ``"local"``."""
    if backend is None:
        env = os.environ.get("MELIB_DASK")
        if address is None and env:
            return "dask", env
        return ("dask" if address is not None else "local"), address
    return backend, address


def _pin(index: int) -> str:
    """On a Dask worker: see only GPU ``index`` (unless the worker was started with its own
    ``CUDA_VISIBLE_DEVICES``, or CUDA is already in use here: then make it torch's current device)."""
    import torch

    if os.environ.get("MELIB_WORKER_DEVICE") is not None:
        return os.environ["MELIB_WORKER_DEVICE"]
    if "CUDA_VISIBLE_DEVICES" not in os.environ and not torch.cuda.is_initialized():
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
    elif torch.cuda.is_initialized() and torch.cuda.device_count() > index:
        torch.cuda.set_device(index)
    os.environ["MELIB_WORKER_DEVICE"] = str(index)
    return os.environ["MELIB_WORKER_DEVICE"]


def pin_workers(client) -> dict[str, str]:
    """Give each worker of ``client``'s cluster its own GPU index (its rank among the workers of its host, by
    address); returns ``{worker address: index}`` as each worker holds it (a worker keeps its first index)."""
    workers = client.scheduler_info()["workers"]
    by_host: dict[str, list[str]] = {}
    for addr, info in workers.items():
        by_host.setdefault(info.get("host") or addr.rsplit(":", 1)[0], []).append(addr)
    out = {}
    for addrs in by_host.values():
        for k, addr in enumerate(sorted(addrs)):
            out.update(client.run(_pin, k, workers=[addr]))
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
        pin_workers(client)
        workers = client.scheduler_info()["workers"].values()
        gpu = bool(workers) and all("GPU" in (w.get("resources") or {}) for w in workers)
        scattered = {k: client.scatter([v], broadcast=True, hash=False)[0] for k, v in shared.items()}
        futures = client.map(fn, tasks, pure=False, resources={"GPU": 1} if gpu else None, **scattered)
        where = {f.key: i for i, f in enumerate(futures)}
        for fut in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            on_result(where[fut.key], fut.result())
        return client.gather(futures)
    finally:
        if own:
            client.close()

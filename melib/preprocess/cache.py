"""On-disk cache of pure preprocessing steps, keyed by (clip identity, function, parameters, version).

Entries live under ``melib.config.cache_dir()/<function name>/<key>.pkl``. Each file is a 12-byte header
(payload length, CRC-32 of the payload) followed by the pickled result; a file whose length or CRC does not
match (a torn or corrupted write) is deleted and recomputed. Files are written to a temporary name in the
same folder, then renamed, so an interrupted write never leaves an entry behind.

Usage::

    @cached(version=1)
    def face_track(row, *, size=(112, 112)): ...

    face_track(row)                 # computes and stores
    face_track(row)                 # loads
    results, exclusions = map_clips(face_track, samples, desc="faces")
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import pickle
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import config
from ..errors import DataError

_HEADER = struct.Struct("<QI")  # payload length, CRC-32
_SUFFIX = ".pkl"
_TMP_PREFIX = ".tmp-"

# Columns of a samples row that identify the clip; the frame files' size and mtime are added when they exist.
_ROW_IDENTITY = ("dataset", "subject", "clip", "onset", "apex", "offset", "apex_estimated", "n_frames", "fps")


class CorruptEntry(Exception):
    """A cache file whose length or checksum does not match its content."""


@dataclass(frozen=True)
class _Failure:
    """A cached DataError: the step found the clip unusable; raised again on every hit."""
    cls: type
    path: str | None
    expected: str
    found: str | None

    def error(self) -> DataError:
        return self.cls(self.path, self.expected, self.found)


def _stat(path: str) -> tuple:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return (path,)
    return (path, st.st_size, st.st_mtime_ns)


def fingerprint(obj: Any) -> Any:
    """A nested tuple of plain values that identifies ``obj`` for the cache key.

    A samples row (``pd.Series``) is identified by its identity columns and its frame files (path, size,
    mtime); an array by dtype, shape and a digest of its bytes; containers recursively.
    """
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return obj
    if isinstance(obj, float):
        return "nan" if obj != obj else obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return fingerprint(obj.item())
    if isinstance(obj, Path):
        return ("path", str(obj))
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj)
        return ("ndarray", data.dtype.str, data.shape, hashlib.sha256(data.view(np.uint8)).hexdigest())
    if isinstance(obj, pd.Series):
        ident = tuple((k, fingerprint(_plain(obj.get(k)))) for k in _ROW_IDENTITY if k in obj.index)
        frames = obj.get("frames")
        files = tuple(_stat(str(f)) for f in frames) if frames is not None else ()
        return ("row", ident, files)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(fingerprint(x) for x in obj))
    if isinstance(obj, (set, frozenset)):
        return ("set", tuple(sorted(repr(fingerprint(x)) for x in obj)))
    if isinstance(obj, dict):
        return ("dict", tuple(sorted((repr(fingerprint(k)), fingerprint(v)) for k, v in obj.items())))
    raise TypeError(f"cannot build a cache key from a {type(obj).__name__}; pass plain values, arrays or a samples row")


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_plain(v) for v in value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _function_dir(name: str) -> Path:
    return config.cache_dir() / name


def _read(path: Path) -> Any:
    blob = memoryview(path.read_bytes())
    if len(blob) < _HEADER.size:
        raise CorruptEntry(str(path))
    length, crc = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise CorruptEntry(str(path))
    try:
        return pickle.loads(payload)
    except Exception as exc:  # a checksum-valid payload that no longer unpickles (e.g. a class moved)
        raise CorruptEntry(str(path)) from exc


def _write(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` atomically: temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_HEADER.pack(len(payload), zlib.crc32(payload)))
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def cached(version: int, name: str | None = None) -> Callable[[Callable], Callable]:
    """Cache a pure function of (clip identity, parameters) on disk.

    ``version`` is part of the key: bump it when the function's output changes. ``name`` (default
    ``module.qualname``) names the entry folder. Defaults are bound before hashing, so ``f(x)`` and
    ``f(x, p=default)`` share an entry. A :class:`~melib.errors.DataError` (an unusable clip) is cached
    too and raised again on a hit, so an excluded clip is not recomputed on every pass. The wrapper has
    ``.uncached`` (the plain function), ``.cache_path(*args, **kwargs)`` and ``.cache_name``.
    """

    def decorate(fn: Callable) -> Callable:
        fname = name or f"{fn.__module__}.{fn.__qualname__}"
        sig = inspect.signature(fn)

        def cache_path(*args, **kwargs) -> Path:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            key = repr((fname, version, tuple((k, fingerprint(v)) for k, v in bound.arguments.items())))
            return _function_dir(fname) / (hashlib.sha256(key.encode()).hexdigest() + _SUFFIX)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            path = cache_path(*args, **kwargs)
            if path.exists():
                try:
                    value = _read(path)
                except CorruptEntry:
                    path.unlink(missing_ok=True)
                else:
                    if isinstance(value, _Failure):
                        raise value.error()
                    return value
            try:
                value = fn(*args, **kwargs)
            except DataError as err:
                _write(path, _Failure(type(err), None if err.path is None else str(err.path), err.expected,
                                      err.found))
                raise
            _write(path, value)
            return value

        wrapper.uncached = fn
        wrapper.cache_path = cache_path
        wrapper.cache_name = fname
        wrapper.cache_version = version
        return wrapper

    return decorate


def cache_info() -> dict[str, dict[str, int]]:
    """``{function name: {"entries": n, "bytes": b}}`` for every function with a folder in the cache."""
    root = config.cache_dir()
    info: dict[str, dict[str, int]] = {}
    if not root.is_dir():
        return info
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in d.glob(f"*{_SUFFIX}") if not f.name.startswith(_TMP_PREFIX)]
        info[d.name] = {"entries": len(files), "bytes": sum(f.stat().st_size for f in files)}
    return info


def cache_clear(function: str | Callable | None = None) -> int:
    """Delete the entries of one function (its name or the cached function itself), or all; returns files removed."""
    root = config.cache_dir()
    if function is None:
        dirs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    else:
        fname = function if isinstance(function, str) else getattr(function, "cache_name", None)
        if fname is None:
            raise TypeError(f"{function!r} is not a @cached function or a function name")
        dirs = [root / fname] if (root / fname).is_dir() else []
    removed = 0
    for d in dirs:
        removed += sum(1 for f in d.iterdir() if f.is_file())
        shutil.rmtree(d)
    return removed


def exclusion_record(row: pd.Series, error: DataError, step: str) -> dict:
    """The exclusion dict of the samples-table contract for ``row`` failing ``step``."""
    return {
        "dataset": row.get("dataset"),
        "subject": row.get("subject"),
        "clip": row.get("clip"),
        "reason": f"{step}: {error}",
        "path": None if error.path is None else str(error.path),
        "error": type(error).__name__,
    }


def _clip_step(task: tuple, fn: Callable, step: str, params: dict) -> tuple[Any, dict | None]:
    """``(fn(row, **params), None)`` for a task ``(index, row)``, or ``(None, exclusion record)`` when the
    step raises DataError; run where :func:`map_clips` sends the row (here or in a worker)."""
    try:
        return fn(task[1], **params), None
    except DataError as err:
        return None, exclusion_record(task[1], err, step)


def map_clips(fn: Callable, samples: pd.DataFrame, desc: str | None = None, progress: bool = True,
              n_jobs: int | None = None, **params) -> tuple[dict, list[dict]]:
    """Run ``fn(row, **params)`` over every row of a samples table, with a progress bar.

    Returns ``(results, exclusions)``: ``results`` maps the row's index to ``fn``'s output, in table order; a
    row whose step raises :class:`~melib.errors.DataError` has no result and gets an exclusion record instead
    (``dataset, subject, clip, reason, path, error``), in table order. Any other exception propagates (from
    a worker with the worker's traceback as its cause).
    Rows whose result is already in the cache (``fn`` is :func:`cached`) are loaded here; the others are
    computed by ``n_jobs`` worker processes (default: one per core; 1: here, one after another; see
    :func:`melib.parallel.stream`), each result sent back once. The results are the same either way.
    """
    from .. import parallel

    step = desc or getattr(fn, "cache_name", getattr(fn, "__name__", "step"))
    tasks = list(samples.iterrows())
    stored = getattr(fn, "cache_path", None)
    hit = [stored is not None and stored(row, **params).exists() for _, row in tasks]
    done: list = [None] * len(tasks)
    todo = [j for j, h in enumerate(hit) if not h]
    run = functools.partial(_clip_step, fn=fn, step=step, params=params)
    with tqdm(total=len(tasks), desc=desc, disable=not progress) as bar:
        for j in (j for j, h in enumerate(hit) if h):
            done[j] = run(tasks[j])
            bar.update()
        for i, out in parallel.stream(run, [tasks[j] for j in todo], n_jobs, name=f"step {step!r}"):
            done[todo[i]] = out
            bar.update()
    results = {idx: out[0] for (idx, _), out in zip(tasks, done) if out[1] is None}
    return results, [out[1] for out in done if out[1] is not None]

"""On-disk cache of pure preprocessing steps, keyed by (clip identity, function, its code, parameters, version).

Entries live under ``melib.config.cache_dir()/<function name>/<key>.entry``. Each file is a 12-byte header
(payload length, CRC-32 of the payload) followed by data only: a JSON text of the result's structure (dicts,
lists, tuples, numbers, strings; each array by dtype, shape and offset) and the arrays' bytes. Nothing is ever
unpickled, so an entry cannot run code, whoever wrote it; a step returns only such values. A file whose length or CRC does not match
(a torn or corrupted write), or that is not in this form, is deleted and recomputed; so is an older melib's
entry (a pickle, ``<key>.pkl``), which is never read. Files are written to a temporary name in the same folder
(``.tmp-<host>.<pid>.<random>.entry``), then renamed, so an interrupted write never leaves an entry.

A cache that cannot be written (a full disk, a read-only or foreign folder) does not stop the work: the
results are computed and not stored, and a :class:`CacheWarning` says so once per process, naming the folder.

A clip is identified by its samples-row identity and the content of its frame files (a digest, memoised per
file while its size, mtime, inode and ctime stay the same). A step's code is identified by
:func:`melib.preprocess.codehash.code_hash` (its bytecode and that of the melib code it reaches), so editing
a step or anything it calls recomputes; ``version=`` remains an explicit extra bump.

melib writes ``CACHEDIR.TAG`` in the cache root and ``.melib-function`` in each function folder, and deletes
only its own files: entries named ``<sha256>.entry`` (or ``.pkl``, the old format) with a valid header, and its
temporary files once their writer is gone. Anything else found there is left and reported.

Usage::

    @cached(version=1, ignore=("device",))
    def face_track(row, *, size=(112, 112), device="cpu"): ...

    face_track(row)                 # computes and stores
    face_track(row)                 # loads

:func:`melib.preprocess.clips.map_clips` runs such a step over every clip of a samples table.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import socket
import struct
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import config
from ..errors import ConfigError, DataError
from .codehash import code_hash

_HEADER = struct.Struct("<QI")  # payload length, CRC-32
_MAGIC = b"melib-cache-entry 1\n"  # the payload's first bytes (a pickle's are b"\x80")
_LENGTH = struct.Struct("<Q")  # length of the JSON text of the structure
_SUFFIX = ".entry"
_OLD_SUFFIX = ".pkl"  # entries of an older melib: pickles, never read, removed when their key is recomputed
_ENTRY = re.compile(r"^[0-9a-f]{64}\.(?:entry|pkl)$")
_TMP = re.compile(r"^\.tmp-(?:(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)\.)?[A-Za-z0-9_]+\.(?:entry|pkl)$")
_MARKER = ".melib-function"
_ROOT_TAG = "CACHEDIR.TAG"
_TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
             "# This file is a cache directory tag created by melib (its preprocessing cache).\n"
             "# For information about cache directory tags see https://bford.info/cachedir/\n")
TEMP_GRACE_S = 3600  # a temporary file older than this is stale whoever wrote it
_RACY_NS = 2_000_000_000  # a frame changed this recently may change again within one timestamp tick

# Columns of a samples row that identify the clip; the frame files' content digests are added when they exist.
_ROW_IDENTITY = ("dataset", "subject", "clip", "onset", "apex", "offset", "apex_estimated", "n_frames", "fps")
_FUNCTIONS: dict[str, Callable] = {}  # name -> cached function, for `cache clear --function`
_DIGESTS: dict[str, tuple[tuple, str]] = {}  # frame path -> (stat signature, sha256 of its bytes)
_UNWRITABLE: set[Path] = set()  # cache roots this process could not write to: not tried again
_MISS = object()


class CorruptEntry(Exception):
    """A cache file whose length or checksum does not match its content, or that is not an entry of this form."""


class CacheWarning(RuntimeWarning):
    """The cache could not be written (or an entry removed): the work goes on without storing results."""


@dataclass(frozen=True)
class _Failure:
    """A cached DataError: the step found the clip unusable; raised again on every hit."""
    cls: type
    path: str | None
    expected: str
    found: str | None

    def error(self) -> DataError:
        return self.cls(self.path, self.expected, self.found)


def _frame(path: str) -> tuple:
    """(path, sha256 of the file's bytes); the digest is memoised while the file's stat signature holds."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return (path,)
    sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    memo = _DIGESTS.get(path)
    if memo is not None and memo[0] == sig:
        return (path, memo[1])
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return (path,)
    if time.time_ns() - st.st_ctime_ns > _RACY_NS:  # else a rewrite within one ctime tick could go unseen
        _DIGESTS[path] = (sig, digest)
    return (path, digest)


def fingerprint(obj: Any) -> Any:
    """A nested tuple of plain values that identifies ``obj`` for the cache key.

    A samples row (``pd.Series``) is identified by its identity columns and its frame files (path and a
    digest of the content); an array by dtype, shape and a digest of its bytes; containers recursively.
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
        files = tuple(_frame(str(f)) for f in frames) if frames is not None else ()
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


def _error_class(module: str, qualname: str) -> type:
    """The loaded DataError subclass of that name (never an import: an entry names no code to run)."""
    found, todo = None, [DataError]
    while todo and found is None:
        c = todo.pop()
        found = c if (c.__module__, c.__qualname__) == (module, qualname) else None
        todo += c.__subclasses__()
    if found is None:
        raise CorruptEntry(f"{module}.{qualname} is not a loaded melib DataError")
    return found


def _encode(value: Any) -> bytes:
    """``value`` as data: the magic line, the length of a JSON text of its structure (its arrays by dtype, shape
    and offset), that text, then the arrays' bytes."""
    arrays: list[bytes] = []
    offset = 0

    def put(arr: np.ndarray) -> list:
        nonlocal offset
        if arr.dtype.hasobject or arr.dtype.fields is not None:
            raise TypeError(f"a cached step returned an array of dtype {arr.dtype}; the cache stores arrays of "
                            "numbers, booleans, strings and dates only")
        data = np.ascontiguousarray(arr).tobytes()
        arrays.append(data)
        offset += len(data)
        return [arr.dtype.str, list(arr.shape), offset - len(data)]

    def tree(v: Any) -> Any:
        if isinstance(v, np.generic):  # before float and str: np.float64 and np.str_ are both
            return {"scalar": put(np.asarray(v))}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.ndarray):
            return {"array": put(v)}
        if isinstance(v, bytes):
            return {"bytes": put(np.frombuffer(v, np.uint8))}
        if isinstance(v, list):
            return [tree(x) for x in v]
        if isinstance(v, tuple):
            return {"tuple": [tree(x) for x in v]}
        if isinstance(v, dict):
            return {"dict": [[tree(k), tree(x)] for k, x in v.items()]}
        if isinstance(v, _Failure):
            return {"failure": [v.cls.__module__, v.cls.__qualname__, v.path, v.expected, v.found]}
        raise TypeError(f"a cached step returned a {type(v).__name__}; the cache stores arrays, numbers, strings, "
                        "and dicts, lists and tuples of them")

    structure = json.dumps(tree(value)).encode()
    return b"".join([_MAGIC, _LENGTH.pack(len(structure)), structure, *arrays])


def _decode(payload: memoryview) -> Any:
    """The value :func:`_encode` stored; CorruptEntry for anything else (nothing is ever unpickled)."""
    if bytes(payload[:len(_MAGIC)]) != _MAGIC:
        raise CorruptEntry("not a melib cache entry of this form (an older melib's pickle?)")
    start = len(_MAGIC) + _LENGTH.size
    length, = _LENGTH.unpack_from(payload, len(_MAGIC))
    data = payload[start + length:]

    def array(spec: list) -> np.ndarray:
        dtype, shape, offset = np.dtype(spec[0]), tuple(spec[1]), spec[2]
        if dtype.hasobject or dtype.fields is not None:
            raise CorruptEntry(f"an array of dtype {dtype}")
        return np.frombuffer(data, dtype, int(np.prod(shape, dtype=np.int64)), offset).reshape(shape).copy()

    def value(t: Any) -> Any:
        if isinstance(t, list):
            return [value(x) for x in t]
        if not isinstance(t, dict):
            return t
        (kind, v), = t.items()
        if kind == "array":
            return array(v)
        if kind == "scalar":
            return array(v)[()]
        if kind == "bytes":
            return array(v).tobytes()
        if kind == "tuple":
            return tuple(value(x) for x in v)
        if kind == "dict":
            return {value(k): value(x) for k, x in v}
        if kind == "failure":
            return _Failure(_error_class(v[0], v[1]), *v[2:])
        raise CorruptEntry(f"unknown node {kind!r}")

    return value(json.loads(bytes(payload[start:start + length])))


def _read(path: Path) -> Any:
    blob = memoryview(path.read_bytes())
    if len(blob) < _HEADER.size:
        raise CorruptEntry(str(path))
    length, crc = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise CorruptEntry(str(path))
    try:
        return _decode(payload)
    except CorruptEntry:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error, RecursionError) as exc:
        raise CorruptEntry(str(path)) from exc


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def _mkstemp(folder: Path) -> tuple[int, str]:
    """A temporary file in ``folder`` whose name says which host and process writes it."""
    return tempfile.mkstemp(prefix=f".tmp-{_host()}.{os.getpid()}.", suffix=_SUFFIX, dir=folder)


def _create(dest: Path, text: str) -> None:
    """Write a marker once (its presence is what counts; a second writer finds it there)."""
    try:
        with open(dest, "x") as fh:
            fh.write(text)
    except FileExistsError:
        pass


def _mark(folder: Path) -> None:
    """Create ``folder`` with melib's markers (function folder and cache root), once."""
    if (folder / _MARKER).is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    _create(folder.parent / _ROOT_TAG, _TAG_TEXT)
    _create(folder / _MARKER, f"melib cache of {folder.name}\n")


def _write(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` atomically: temporary file in the same folder, then rename."""
    payload = _encode(value)
    _mark(path.parent)
    try:
        fd, tmp = _mkstemp(path.parent)
    except FileNotFoundError:  # `cache clear` removed the emptied folder meanwhile
        (path.parent / _MARKER).unlink(missing_ok=True)
        _mark(path.parent)
        fd, tmp = _mkstemp(path.parent)
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


def _unwritable(folder: Path, err: OSError) -> None:
    """Stop writing under this cache root for the rest of the process, and say so once."""
    root = config.cache_dir()
    if root not in _UNWRITABLE:
        _UNWRITABLE.add(root)
        warnings.warn(f"melib cache: cannot write in {folder} ({err.strerror or err}); going on without caching: "
                      "results are computed, not stored", CacheWarning, stacklevel=4)


def _store(path: Path, value: Any) -> None:
    """:func:`_write`, unless the cache cannot be written: then nothing is stored."""
    if config.cache_dir() in _UNWRITABLE:
        return
    try:
        _write(path, value)
    except OSError as err:
        _unwritable(path.parent, err)


def _lookup(path: Path) -> Any:
    """The value stored at ``path``, or ``_MISS``: absent, or a damaged or older-format entry (removed)."""
    old = path.with_suffix(_OLD_SUFFIX)
    try:
        return _read(path)
    except FileNotFoundError:
        remove = []
    except CorruptEntry:
        remove = [path]
    for f in remove + ([old] if _is_entry(old) else []):
        try:
            f.unlink(missing_ok=True)
        except OSError as err:
            _unwritable(path.parent, err)
    return _MISS


def _check_name(fname: str) -> str:
    if not fname or fname in (".", "..") or fname.startswith(".") or any(c in fname for c in "/\\\0"):
        raise ConfigError(f"cache name {fname!r}: expected a plain folder name (no path separator, no leading dot)")
    return fname


def cached(version: int, name: str | None = None, ignore: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Cache a pure function of (clip identity, parameters) on disk.

    The key holds the function's code hash (its bytecode and that of the melib code it calls, computed once
    per process), ``version`` (bump it for what the code hash cannot see: data files, third-party code) and
    the arguments, except those named in ``ignore`` (e.g. ``device``: where a step runs does not change what
    it returns). ``name`` (default ``module.qualname``) names the entry folder. Defaults are bound before
    hashing, so ``f(x)`` and ``f(x, p=default)`` share an entry. A :class:`~melib.errors.DataError` (an
    unusable clip) is cached too and raised again on a hit, so an excluded clip is not recomputed on every
    pass. The wrapper has ``.uncached`` (the plain function), ``.cache_path(*args, **kwargs)``,
    ``.cache_name`` and ``.cache_version``.
    """

    def decorate(fn: Callable) -> Callable:
        fname = _check_name(name or f"{fn.__module__}.{fn.__qualname__}")
        sig = inspect.signature(fn)
        skip = (ignore,) if isinstance(ignore, str) else tuple(ignore)
        unknown = [k for k in skip if k not in sig.parameters]
        if unknown:
            raise TypeError(f"cached(ignore=...): {fn.__qualname__} has no parameter {', '.join(unknown)}")

        @functools.lru_cache(maxsize=1)
        def code() -> str:
            return code_hash(fn)

        def cache_path(*args, **kwargs) -> Path:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            params = tuple((k, fingerprint(v)) for k, v in bound.arguments.items() if k not in skip)
            key = repr((fname, version, code(), params) + config.key_settings())
            return _function_dir(fname) / (hashlib.sha256(key.encode()).hexdigest() + _SUFFIX)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            path = cache_path(*args, **kwargs)
            value = _lookup(path)
            if isinstance(value, _Failure):
                raise value.error()
            if value is not _MISS:
                return value
            try:
                value = fn(*args, **kwargs)
            except DataError as err:
                _store(path, _Failure(type(err), None if err.path is None else str(err.path), err.expected,
                                      err.found))
                raise
            _store(path, value)
            return value

        wrapper.uncached = fn
        wrapper.cache_path = cache_path
        wrapper.cache_name = fname
        wrapper.cache_version = version
        _FUNCTIONS[fname] = wrapper
        return wrapper

    return decorate


@dataclass
class _Folder:
    """What one function folder holds, sorted by whose it is."""
    path: Path
    entries: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)  # melib's temporary files whose writer is gone
    busy: list[Path] = field(default_factory=list)  # melib's temporary files a writer may still be filling
    foreign: list[Path] = field(default_factory=list)


def _is_entry(f: Path) -> bool:
    """A file melib wrote as an entry: a sha256 name and a header whose length matches the file."""
    if not _ENTRY.match(f.name) or f.is_symlink() or not f.is_file():
        return False
    try:
        with open(f, "rb") as fh:
            head = fh.read(_HEADER.size)
        return len(head) == _HEADER.size and _HEADER.unpack(head)[0] == f.stat().st_size - _HEADER.size
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _is_stale(f: Path, m: re.Match) -> bool:
    try:
        age = time.time() - f.stat().st_mtime
    except OSError:
        return False
    if age > TEMP_GRACE_S:
        return True
    return m["pid"] is not None and m["host"] == _host() and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"]))


def _scan_folder(d: Path) -> _Folder | None:
    """``d``'s content when it is a melib function folder (its marker, or entries melib wrote), else None."""
    if d.is_symlink() or not d.is_dir():
        return None
    out = _Folder(d)
    for f in sorted(d.iterdir()):
        if f.name == _MARKER and f.is_file():
            continue
        if _is_entry(f):
            out.entries.append(f)
        elif (m := _TMP.match(f.name)) and f.is_file() and not f.is_symlink():
            (out.stale if _is_stale(f, m) else out.busy).append(f)
        else:
            out.foreign.append(f)
    return out if (d / _MARKER).is_file() or out.entries else None


def _scan() -> tuple[dict[str, _Folder], list[Path]]:
    """melib's function folders in the cache root, and everything else there (not melib's)."""
    root = config.cache_dir()
    folders: dict[str, _Folder] = {}
    foreign: list[Path] = []
    if not root.is_dir():
        return folders, foreign
    for p in sorted(root.iterdir()):
        got = _scan_folder(p)
        if got is not None:
            folders[p.name] = got
        elif p.name != _ROOT_TAG:
            foreign.append(p)
    return folders, foreign


def _size(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files if f.exists())


def cache_info() -> dict[str, dict[str, int]]:
    """``{function name: {"entries": n, "bytes": b}}`` for every melib function folder in the cache."""
    return {k: {"entries": len(f.entries), "bytes": _size(f.entries)} for k, f in _scan()[0].items()}


def _listing(paths: list[Path], root: Path) -> str:
    names = [str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in paths]
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def cache_report() -> str:
    """What ``melib cache info`` prints: entries and bytes per function, stale temporary files and anything
    in the cache folder that is not melib's (listed, never touched)."""
    root = config.cache_dir()
    folders, foreign = _scan()
    lines = [f"cache: {root}" + ("" if root.is_dir() else " (does not exist yet)")]
    for name, f in folders.items():
        lines.append(f"{name}: {len(f.entries)} entries, {_size(f.entries)} bytes")
        if old := [e for e in f.entries if e.suffix == _OLD_SUFFIX]:
            lines.append(f"  {len(old)} of them from an older melib (pickles): never read, recomputed when "
                         "needed; `melib cache clear` removes them")
        if f.stale:
            lines.append(f"  {len(f.stale)} stale temporary files from interrupted writes ({_size(f.stale)} "
                         "bytes; `melib cache clear` removes them)")
        if f.busy:
            lines.append(f"  {len(f.busy)} temporary files of writers at work")
        if f.foreign:
            lines.append(f"  not melib's, left alone: {_listing(f.foreign, root)}")
    if not folders:
        lines.append("no cached functions")
    if foreign:
        lines.append(f"not melib's, left alone: {_listing(foreign, root)}")
    return "\n".join(lines)


@dataclass
class Cleared:
    """What :func:`cache_clear` did: entries and stale temporary files removed, paths left (not melib's, or
    temporary files of a writer at work)."""
    entries: int = 0
    temp_files: int = 0
    left: list[Path] = field(default_factory=list)


def cache_clear(function: str | Callable | None = None) -> Cleared:
    """Delete the entries of one function (its name or the cached function itself), or all.

    Only melib's own files are deleted (entries with melib's header, stale temporary files, its markers and
    the folders they leave empty); a name that is not a cached function is refused, never used as a path.
    """
    folders, foreign = _scan()
    out = Cleared(left=list(foreign) if function is None else [])
    if function is not None:
        fname = function if isinstance(function, str) else getattr(function, "cache_name", None)
        if fname is None:
            raise TypeError(f"{function!r} is not a @cached function or a function name")
        if fname not in folders:
            if fname in _FUNCTIONS:
                return out  # a known function with nothing cached
            raise ConfigError(f"{fname!r} is not a cached function in {config.cache_dir()}; cached functions: "
                              f"{', '.join(folders) or 'none'}")
        folders = {fname: folders[fname]}
    for f in folders.values():
        for p in f.entries + f.stale:
            p.unlink(missing_ok=True)
        out.entries += len(f.entries)
        out.temp_files += len(f.stale)
        out.left += f.busy + f.foreign
        if not f.busy and not f.foreign:
            (f.path / _MARKER).unlink(missing_ok=True)
            try:
                f.path.rmdir()
            except OSError:  # a writer added a file meanwhile: its folder stays
                pass
    return out

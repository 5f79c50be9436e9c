"""The registry of input pipelines and the batch runner.

A pipeline is a pure, cached function of one samples row (``melib.preprocess.pipelines`` holds the papers');
it registers here with :func:`register`: its name, the keyword that sets the aligned face's side (the
study's ``frame_size``, :func:`face_params`), how a model's input spec maps to its parameters
(:func:`spec_params`; ``melib.models.input_spec`` gives the spec as data) and an optional ``prepare(samples,
params)`` that fixes table-wide parameters. :func:`build_inputs` runs one over a samples table.

The device of the torch steps (RPCA) is not a parameter of the cached functions, so a cache entry does not
depend on it: :func:`build_inputs` (``device=``) and :func:`on_device` set it for the calls inside.

RPCA batched across clips (:func:`build_inputs` with ``batch_rpca``, the default on an accelerator): the
pipelines run in the worker pool up to their RPCA (:func:`batched_rpca` stops them there and hands back RPCA's
input), this process computes the sparse parts of those clips :data:`RPCA_BATCH` at a time on the device
(``melib.preprocess.rpca.rpca_clips``), and the pool runs the pipelines again with each clip's E handed in
(the steps before RPCA - face, resampling - run twice: cheap next to RPCA, and no pipeline is split in two).
The cache entries are written by the second pass under their usual keys.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, DataError
from ..registry import Registry
from .clips import map_clips

RPCA_BATCH = 32  # clips per RPCA batch on the device
RPCA_CHUNK = 256  # clips whose RPCA inputs are held at once (PSN's 150 x 112 x 112 float32: 7.5 MB a clip)


# --- the registry ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pipeline:
    """A registered input pipeline: its per-clip function, the keyword that sets the aligned face's side in
    pixels (None: the pipeline fixes it), the smallest face it takes, and ``from_spec(spec) -> params``."""
    name: str
    fn: Callable
    face: str | None
    min_face: int
    from_spec: Callable[[dict], dict] | None
    prepare: Callable[[pd.DataFrame, dict], dict] | None


PIPELINES: Registry = Registry("pipeline")


def register(name: str, face: str | None = None, min_face: int = 8, from_spec: Callable | None = None,
             prepare: Callable | None = None):
    """Register the decorated per-clip function as pipeline ``name``."""
    def deco(fn: Callable) -> Callable:
        PIPELINES.add(name, Pipeline(name, fn, face, min_face, from_spec, prepare))
        return fn
    return deco


def entry(name: str) -> Pipeline:
    from . import flow_inputs, pipelines  # noqa: F401  (the papers' pipelines register on import)

    return PIPELINES.entry(name)


def pipeline(name: str) -> Callable:
    """The per-row function of pipeline ``name`` (one of :data:`PIPELINES`)."""
    return entry(name).fn


def face_params(name: str, side: int | None) -> dict:
    """The parameters that align pipeline ``name``'s face at ``side`` x ``side`` pixels (None: its own)."""
    if side is None:
        return {}
    e = entry(name)
    if e.face is None:
        raise ConfigError(f"pipeline {name!r} fixes its face size; it takes no frame_size (got {side})")
    if int(side) < e.min_face:
        raise ConfigError(f"pipeline {name!r} needs a face of at least {e.min_face} px, not frame_size={side}")
    return {e.face: int(side)}


def spec_params(name: str, input_spec: Mapping[str, tuple]) -> dict:
    """The parameters of pipeline ``name`` that produce the arrays of a model's ``input_spec`` (no batch
    axis), e.g. ``spec_params("c3d", {"clip": (26, 1, 64, 64)}) == {"window": 26, "size": 64}``."""
    e = entry(name)
    if e.from_spec is None:
        raise ConfigError(f"pipeline {name!r} feeds no model input spec")
    return e.from_spec(dict(input_spec))


_DEVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar("melib_preprocess_device", default=None)


def torch_device(device: str | None) -> str | None:
    """``device`` as torch names it: "auto" is CUDA when present, else the CPU; None stays None."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return None if device is None else str(device)


@contextlib.contextmanager
def on_device(device: str | None):
    """Run the torch steps (RPCA) of the pipelines called inside on ``device`` ("cpu", "cuda", "auto": CUDA
    when present; None: as given, i.e. the CPU)."""
    token = _DEVICE.set(torch_device(device))
    try:
        yield
    finally:
        _DEVICE.reset(token)


def current_device() -> str | None:
    """The device :func:`on_device` set (None: the CPU, as the arrays come)."""
    return _DEVICE.get()


# --- RPCA across clips -------------------------------------------------------------------------------------

_RPCA: contextvars.ContextVar = contextvars.ContextVar("melib_batched_rpca", default=None)


class _Deferred(Exception):
    """A pipeline reached its RPCA while :func:`build_inputs` collects RPCA inputs (not an error)."""

    def __init__(self, clip: np.ndarray, kwargs: dict):
        super().__init__("RPCA deferred")
        self.clip, self.kwargs = clip, kwargs


@dataclass
class _Pending:
    """What the first pass returns for a clip whose RPCA is batched: RPCA's input and its arguments."""
    clip: np.ndarray
    kwargs: dict


def batched_rpca(clip: np.ndarray, path=None, **kwargs) -> np.ndarray | None:
    """Called by a pipeline where it needs RPCA's sparse part E of ``clip`` (T, H, W): None when RPCA is not
    batched (the pipeline computes it); while collecting, stops the pipeline, handing ``clip`` back; while
    finishing, the clip's E computed in the batch."""
    mode = _RPCA.get()
    if mode is None:
        return None
    if mode == "collect":
        raise _Deferred(clip, kwargs)
    if not mode:
        raise DataError(path, "one batched RPCA result for each RPCA a pipeline asks for", "none left")
    E = mode.pop(0)
    if E.shape != clip.shape:
        raise DataError(path, f"a batched RPCA result of shape {clip.shape}", f"shape {E.shape}")
    return E


@dataclass(frozen=True)
class _Collect:
    """Pass 1: the pipeline up to its RPCA (a :class:`_Pending`), or its whole result when it has none."""
    fn: Callable

    @property
    def cache_path(self):
        return self.fn.cache_path

    def __call__(self, row, **params):
        token = _RPCA.set("collect")
        try:
            return self.fn(row, **params)
        except _Deferred as d:
            return _Pending(d.clip, d.kwargs)
        finally:
            _RPCA.reset(token)


@dataclass(frozen=True)
class _Finish:
    """Pass 2: the pipeline with the clip's batched RPCA results (the row's ``_rpca`` column) handed in."""
    fn: Callable

    def __call__(self, row, **params):
        token = _RPCA.set(list(row["_rpca"]))
        try:
            return self.fn(row, **params)
        finally:
            _RPCA.reset(token)


def _rpca_in_batches(fn, samples: pd.DataFrame, device, desc, progress, params) -> tuple[dict, list]:
    """:func:`map_clips` of ``fn`` with every RPCA the pipeline asks for computed :data:`RPCA_BATCH` clips at a
    time on ``device`` in this process (module docstring)."""
    from tqdm.auto import tqdm

    from .rpca import rpca_clips

    results, exclusions = {}, []
    with tqdm(total=len(samples), desc=desc, disable=not progress) as bar:
        for start in range(0, len(samples), RPCA_CHUNK):
            part = samples.iloc[start:start + RPCA_CHUNK]
            rpca = {}
            while True:
                done, bad = (map_clips(_Finish(fn), part.assign(_rpca=[rpca[i] for i in part.index]),
                                       progress=False, desc=desc, **params) if rpca else
                             map_clips(_Collect(fn), part, progress=False, desc=desc, **params))
                exclusions += bad
                pending = {i: r for i, r in done.items() if isinstance(r, _Pending)}
                results.update({i: r for i, r in done.items() if not isinstance(r, _Pending)})
                if not pending:
                    break
                for kw in {repr(sorted(r.kwargs.items())): r.kwargs for r in pending.values()}.values():
                    ids = [i for i, r in pending.items() if r.kwargs == kw]
                    Es, _ = rpca_clips([pending[i].clip for i in ids], device=device or "cpu",
                                       batch_size=RPCA_BATCH, **kw)
                    for i, E in zip(ids, Es):
                        rpca[i] = [*rpca.get(i, []), E.astype(np.float32, copy=False)]
                part = part.loc[list(pending)]  # a pipeline asking for a further RPCA goes round again
            bar.update(min(RPCA_CHUNK, len(samples) - start))
    return results, exclusions


# --- batches ---------------------------------------------------------------------------------------------

def build_inputs(samples: pd.DataFrame, name: str, progress: bool = True, device: str | None = None,
                 batch_rpca: bool | None = None, **params) -> tuple[dict[str, np.ndarray], pd.Index, list[dict]]:
    """Run pipeline ``name``'s per-clip function over every row of ``samples`` and stack the results.

    Returns ``(inputs, kept_index, exclusions)``: ``inputs`` maps each key to an array (N, ...) in the order
    of ``kept_index`` (the samples' index of the rows that worked, in table order); for ``"lbp"`` the key is
    ``"features"`` (N, D). A row whose pipeline raises DataError (no face, too short ...) is left out and
    listed in ``exclusions`` (``dataset, subject, clip, reason, path, error``). ``params`` go to the
    pipeline, after its ``prepare`` hook (C3D: one window length for the table); ``device`` is where RPCA
    runs (:func:`on_device`). ``batch_rpca``: RPCA batched across clips in this process on ``device``
    (module docstring; None: on an accelerator, not on the CPU, where each worker runs its clips' RPCA); the
    results are the same as clip by clip, bit for bit on the CPU.
    """
    e = entry(name)
    if e.prepare is not None:
        params = e.prepare(samples, params)
    on_accelerator = torch_device(device) not in (None, "cpu")
    batch_rpca = on_accelerator if batch_rpca is None else bool(batch_rpca)
    desc = f"{name} inputs"
    if batch_rpca:  # the workers never touch the device: RPCA runs here
        results, exclusions = _rpca_in_batches(e.fn, samples, torch_device(device), desc, progress, params)
    else:
        if on_accelerator:  # the device is this process's setting; one process owns the GPU
            params = {**params, "n_jobs": 1}
        with on_device(device):
            results, exclusions = map_clips(e.fn, samples, desc=desc, progress=progress, **params)
    kept = pd.Index([i for i in samples.index if i in results])
    if not len(kept):
        return {}, kept, exclusions
    first = results[kept[0]]
    if isinstance(first, np.ndarray):
        return {"features": np.stack([results.pop(i) for i in kept])}, kept, exclusions
    # key by key, dropping each clip's copy once stacked: the peak is the whole set plus one key, not twice it
    return {k: np.stack([results[i].pop(k) for i in kept]) for k in list(first)}, kept, exclusions

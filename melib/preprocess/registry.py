"""The registry of input pipelines and the batch runner.

A pipeline is a pure, cached function of one samples row (``melib.preprocess.pipelines`` holds the papers');
it registers here with :func:`register`: its name, the keyword that sets the aligned face's side (the
study's ``frame_size``, :func:`face_params`), how a model's input spec maps to its parameters
(:func:`spec_params`; ``melib.models.input_spec`` gives the spec as data) and an optional ``prepare(samples,
params)`` that fixes table-wide parameters. :func:`build_inputs` runs one over a samples table.

The device of the torch steps (RPCA) is not a parameter of the cached functions, so a cache entry does not
depend on it: :func:`build_inputs` (``device=``) and :func:`on_device` set it for the calls inside.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError
from ..registry import Registry
from .clips import map_clips


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
    from . import pipelines  # noqa: F401  (the papers' pipelines register on import)

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


# --- batches ---------------------------------------------------------------------------------------------

def build_inputs(samples: pd.DataFrame, name: str, progress: bool = True, device: str | None = None,
                 **params) -> tuple[dict[str, np.ndarray], pd.Index, list[dict]]:
    """Run pipeline ``name``'s per-clip function over every row of ``samples`` and stack the results.

    Returns ``(inputs, kept_index, exclusions)``: ``inputs`` maps each key to an array (N, ...) in the order
    of ``kept_index`` (the samples' index of the rows that worked, in table order); for ``"lbp"`` the key is
    ``"features"`` (N, D). A row whose pipeline raises DataError (no face, too short ...) is left out and
    listed in ``exclusions`` (``dataset, subject, clip, reason, path, error``). ``params`` go to the
    pipeline, after its ``prepare`` hook (C3D: one window length for the table); ``device`` is where RPCA
    runs (:func:`on_device`).
    """
    e = entry(name)
    if e.prepare is not None:
        params = e.prepare(samples, params)
    if torch_device(device) not in (None, "cpu"):  # the device is this process's setting; one process owns the GPU
        params = {**params, "n_jobs": 1}
    with on_device(device):
        results, exclusions = map_clips(e.fn, samples, desc=f"{name} inputs", progress=progress, **params)
    kept = pd.Index([i for i in samples.index if i in results])
    if not len(kept):
        return {}, kept, exclusions
    first = results[kept[0]]
    if isinstance(first, np.ndarray):
        return {"features": np.stack([results.pop(i) for i in kept])}, kept, exclusions
    # key by key, dropping each clip's copy once stacked: the peak is the whole set plus one key, not twice it
    return {k: np.stack([results[i].pop(k) for i in kept]) for k in list(first)}, kept, exclusions

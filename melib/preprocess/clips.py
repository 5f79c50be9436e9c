"""A per-clip preprocessing step over a samples table: results in table order, a counted exclusion record for
each clip the step refuses (:class:`~melib.errors.DataError`), cached clips loaded here and the others computed
by a pool of worker processes (:func:`melib.parallel.stream`)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..errors import DataError


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

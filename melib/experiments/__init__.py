"""The book's chapters: samples -> labels -> inputs -> protocol -> trainer -> records -> tables.

One module per chapter of the book, each declaring the chapter contract (:mod:`.contract`: ``CHAPTER``):
``data`` (00), ``preprocessing`` (01), ``dlhn``, ``psn``, ``c3d``, ``cropnet``, ``local_regions`` (10-14),
``baselines`` (20), ``protocol_comparison`` (30), ``known_answer`` (40) and ``overview`` (50). What they
share is in :mod:`.common` (planning and running a training) and :mod:`.views` (tables and figures beside
the papers'). :func:`chapters` finds every module that declares a ``CHAPTER``: a new chapter is one module
and one notebook. Nothing here imports the study runner (``melib.study``).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from ..errors import ConfigError
from .contract import Chapter, TrainingSpec, clip_steps

__all__ = ["Chapter", "TrainingSpec", "chapters", "chapter", "clip_steps"]


@functools.cache
def chapters() -> tuple[Chapter, ...]:
    """Every chapter's contract, in notebook order."""
    found = []
    for m in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{m.name}")
        if isinstance(getattr(module, "CHAPTER", None), Chapter):
            found.append(module.CHAPTER)
    return tuple(sorted(found, key=lambda c: c.notebook))


def chapter(name: str) -> Chapter:
    """The chapter called ``name`` or whose notebook is ``name``."""
    for c in chapters():
        if name in (c.name, c.notebook):
            return c
    raise ConfigError(f"no chapter {name!r}; the chapters: {', '.join(c.notebook for c in chapters())}")

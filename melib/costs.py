"""The cost of a study before it runs: every training the chapters plan, and an estimate of its time.

:func:`planned` enumerates each chapter's trainings (``Chapter.plan``: nothing is trained or preprocessed; a
synthetic set that is not there yet is generated, since its clips decide the folds), marking a training that
an earlier one already makes (the same run records). :func:`estimate` prices them with a
:class:`melib.calibration.Calibration` (a few optimiser steps of each model at its planned input size and
batch, each pipeline on a few clips, measured on this machine and cached; or a calibration file of another
machine):

- training: per fold ``epochs x stages x ceil(training clips / batch)`` steps, the forward passes of the
  validation and monitored clips each epoch and of the test clips once, and the fit's setup; early stopping
  (``patience``) can only make a run shorter than this;
- preprocessing: each pipeline (with its parameters) once per distinct clip (:func:`clip_ids`: the cache is
  keyed by the frames' content, so it serves the rest, and later chapters), the face landmarks once per
  distinct clip, spread over the worker pool with the pool's measured speed-up; on an accelerator RPCA is
  batched on the device in this process (``device_s``) and the pool runs the rest;
- each notebook's fixed cost (kernel, imports) and, where it preprocesses, the pool's start.

A chapter whose plan has an ``n_jobs`` key runs its trainings that many at a time (the measured pool
speed-up applies). Not included: generating synthetic sets (the plan does that first), the book's build.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import records
from .params import Params, data_root, samples as load_samples, train_config

RUNTIME_CONFIG = ("threads", "progress", "device")  # trainer fields that do not change a run record


@dataclass(frozen=True)
class Item:
    """One planned training: its chapter (notebook), spec and parameters; ``jobs``: how many of the
    chapter's trainings run at a time; ``shared``: an earlier item makes the same run records."""
    chapter: str
    spec: object  # melib.experiments.TrainingSpec
    p: Params
    jobs: int = 1
    shared: bool = False
    source: str = ""  # the data the clips come from


@dataclass
class Plan:
    """Every planned training (:class:`Item`), each chapter's parameters and the clips of each data source."""
    items: list[Item]
    chapters: list[str]
    params: dict[str, Params] = field(default_factory=dict)
    sources: dict[str, pd.DataFrame] = field(default_factory=dict)  # the clips of each data source

    def table(self) -> pd.DataFrame:
        """One row per planned training: chapter, model, protocol, folds, clips, epochs, batch, input size
        and clip-steps (0 when an earlier training makes the same runs)."""
        rows = []
        for it in self.items:
            s = it.spec
            cfg = _config(it)
            rows.append({"chapter": it.chapter, "key": " / ".join(map(str, s.key)), "model": s.model,
                         "protocol": s.protocol, "folds": s.n_folds, "clips": s.n_clips,
                         "train_clips": s.train_clips, "epochs": s.epochs, "stages": s.stages,
                         "batch": None if cfg is None else cfg.batch_size, "input": input_size(s.input_spec),
                         "clip_steps": 0 if it.shared else s.clip_steps(), "shared": it.shared})
        return pd.DataFrame(rows)


def input_size(spec) -> str:
    """A model's input spec as text: ``sparse 16x1x112x112, frames 16x1x112x112``."""
    return ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in dict(spec or {}).items()) or "features"


def _frozen(d) -> str:
    return records.key({"v": dict(d or {})})


def run_identity(it: Item) -> str:
    """What decides an item's run records besides the inputs: equal for two items that train the same runs."""
    s = it.spec
    config = {k: v for k, v in dict(s.config).items() if k not in RUNTIME_CONFIG}
    return records.key({"name": s.name, "model": s.model, "model_params": dict(s.model_params),
                        "profile": it.p.model_profile, "pipeline": s.pipeline, "pp": _frozen(s.pipeline_params),
                        "protocol": s.protocol, "protocol_params": dict(s.protocol_params), "scheme": s.scheme,
                        "config": config, "epochs": s.epochs, "seed": it.p.seed, "source": it.source,
                        "inputs": s.inputs})


def _config(it: Item):
    """The trainer configuration the item runs with (None for a scikit-learn baseline)."""
    if it.spec.epochs is None:
        return None
    return train_config(it.p, it.spec.model, **dict(it.spec.config))


def planned(chapters: Sequence[tuple[str, dict]], progress: bool = False) -> Plan:
    """The trainings of each ``(notebook, parameters)`` (parameters as ``melib study`` sends them), in order.
    A training on a set of the chapter's own (``TrainingSpec.data``) gets its clips from ``Chapter.data``."""
    from .errors import ConfigError
    from .experiments import chapter as chapter_of

    items, seen, plan = [], set(), Plan([], [])
    for name, given in chapters:
        ch = chapter_of(name)
        p = ch.setup(runs_here=False, **given)  # melib study --plan checked the device where it is measured here
        plan.chapters.append(ch.notebook)
        plan.params[ch.notebook] = p
        smp = load_samples(p, progress) if "data" in ch.parameters else None  # else only sets of its own
        specs = ch.plan(p, smp)
        jobs = int(ch.settings(p).get("n_jobs") or 1)
        root = str(data_root(p) or "real")
        for s in specs:
            source = root if s.data is None else f"{root}:{s.data}"
            if s.data is not None and ch.data is None:
                raise ConfigError(f"chapter {ch.notebook} plans a training on its own set {s.data!r} but has no "
                                  "data(p, name) to give its clips (melib.experiments.contract)")
            if source not in plan.sources:
                plan.sources[source] = smp if s.data is None else ch.data(p, s.data)
            it = Item(ch.notebook, s, p, jobs, source=source)
            ident = run_identity(it)
            items.append(Item(ch.notebook, s, p, jobs, ident in seen, source))
            seen.add(ident)
    plan.items = items
    return plan


# --------------------------------------------------------------------------------------------- the estimate

def training_seconds(it: Item, cost: dict) -> dict:
    """Steps, forward passes and seconds of one item from its model's calibration ``cost``
    (``step_s``, ``forward_s`` a clip, ``setup_s`` a fit; a baseline: ``fit_s`` a fold)."""
    s = it.spec
    folds = max(s.n_folds, 1)
    if s.epochs is None:
        return {"steps": 0, "forward_clips": 0, "seconds": folds * cost["fit_s"]}
    cfg = _config(it)
    per_fold = s.train_clips / folds
    fit_clips = per_fold * (1 - cfg.val_fraction)
    val = per_fold * cfg.val_fraction
    test_total = folds * s.n_clips - s.train_clips
    steps = folds * s.stages * s.epochs * max(1, math.ceil(fit_clips / cfg.batch_size))
    scored = val + (test_total / folds if cfg.track_test else 0)
    fwd = folds * s.stages * s.epochs * scored + test_total
    seconds = steps * cost["step_s"] + fwd * cost["forward_s"] + folds * cost["setup_s"]
    return {"steps": int(steps), "forward_clips": int(round(fwd)), "seconds": seconds}


@dataclass
class Estimate:
    """Per training and per chapter: clip-steps and estimated seconds; ``calibration`` names the source."""
    trainings: pd.DataFrame
    preprocessing: pd.DataFrame
    chapters: pd.DataFrame
    calibration: str

    @property
    def total_s(self) -> float:
        return float(self.chapters["total_s"].sum())


def clip_ids(samples: pd.DataFrame) -> list[str]:
    """An identity of each clip's frames: a digest of its frame count and of the bytes of its first, middle
    and last frames (the cache is keyed by the frames' content, so two sets that share frames, e.g. synthetic
    sets differing only in their labels, share cache entries)."""
    import hashlib

    out = []
    for frames in samples["frames"]:
        frames = list(frames)
        h = hashlib.sha1(str(len(frames)).encode())
        for f in {0: frames[0], 1: frames[len(frames) // 2], 2: frames[-1]}.values() if frames else ():
            try:
                h.update(Path(f).read_bytes())
            except OSError:
                h.update(str(f).encode())
        out.append(h.hexdigest())
    return out


def _preprocessing(plan: Plan, cal, progress: bool) -> pd.DataFrame:
    """Per chapter and pipeline: clips computed and loaded, and the seconds of each part (see the module
    docstring): ``pool_s`` (worker processes), ``device_s`` and ``parent_s`` (this process)."""
    from .experiments.common import labelled

    rows, computed, faces, built, hashed, ids = [], {}, set(), set(), {}, {}
    for it in plan.items:
        s = it.spec
        sig = (s.pipeline, _frozen(s.pipeline_params))
        if (it.chapter, sig, it.source, s.scheme) in built:  # a chapter builds a set of inputs once
            continue
        built.add((it.chapter, sig, it.source, s.scheme))
        c = cal.pipeline(it, plan.sources[it.source], progress=progress)
        if (it.source, s.scheme) not in ids:
            ids[(it.source, s.scheme)] = set(clip_ids(labelled(plan.sources[it.source], s.scheme)))
        clips = ids[(it.source, s.scheme)]
        done = computed.setdefault(sig, set())
        new, new_faces = len(clips - done), len(clips - faces)
        to_hash = len(clips - hashed.setdefault(it.chapter, set()))  # digests are remembered in a process
        done |= clips
        faces |= clips
        hashed[it.chapter] |= clips
        n = len(clips)
        rows.append({"chapter": it.chapter, "pipeline": s.pipeline, "clips": n, "computed": new,
                     "new_faces": new_faces, "pool_s": new * (c["clip_s"] + c["key_s"]) + new_faces * c["landmarks_s"],
                     "device_s": new * c["device_s"], "parent_s": (n - new) * c["hit_s"] + to_hash * c["key_s"]})
    return pd.DataFrame(rows, columns=["chapter", "pipeline", "clips", "computed", "new_faces", "pool_s",
                                       "device_s", "parent_s"])


def estimate(plan: Plan, cal, progress: bool = False) -> Estimate:
    """Price every item of ``plan`` with calibration ``cal`` (:class:`melib.calibration.Calibration`)."""
    rows = []
    for it in plan.items:
        s = it.spec
        row = {"chapter": it.chapter, "key": " / ".join(map(str, s.key)), "model": s.model,
               "clip_steps": 0 if it.shared else s.clip_steps(), "steps": 0, "train_s": 0.0}
        if not it.shared:
            t = training_seconds(it, cal.training(it, plan.sources[it.source], progress=progress))
            row.update(steps=t["steps"], train_s=t["seconds"])
        rows.append(row)
    trainings = pd.DataFrame(rows, columns=["chapter", "key", "model", "clip_steps", "steps", "train_s"])
    pre = _preprocessing(plan, cal, progress)
    over = cal.overheads(progress=progress)
    out = []
    for name in plan.chapters:
        mine = trainings["chapter"] == name
        jobs = max([it.jobs for it in plan.items if it.chapter == name] or [1])
        part = pre[pre["chapter"] == name]
        train_s = float(trainings.loc[mine, "train_s"].sum())
        serial = float(part["device_s"].sum() + part["parent_s"].sum())
        if jobs > 1:  # the trainings, and their preprocessing (in each worker), run jobs at a time
            speed = cal.speedup(jobs)
            train_s, pre_s = train_s / speed, (float(part["pool_s"].sum()) + serial) / speed
            pool = over["pool_s"] if mine.any() else 0.0
        else:
            workers = cal.preprocess_workers()
            pre_s = float(part["pool_s"].sum()) / cal.speedup(workers) + serial
            pool = over["pool_s"] if workers > 1 and part["computed"].sum() > 1 else 0.0
        out.append({"chapter": name, "trainings": int(mine.sum()),
                    "clip_steps": int(trainings.loc[mine, "clip_steps"].sum()),
                    "preprocess_s": pre_s, "train_s": train_s, "overhead_s": over["notebook_s"] + pool})
    chapters = pd.DataFrame(out, columns=["chapter", "trainings", "clip_steps", "preprocess_s", "train_s",
                                          "overhead_s"])
    chapters["total_s"] = chapters[["preprocess_s", "train_s", "overhead_s"]].sum(axis=1)
    return Estimate(trainings, pre, chapters, cal.source)


def hms(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12 s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def report(plan: Plan, est: Estimate, actual: dict[str, float] | None = None) -> str:
    """The plan and its estimate as text; ``actual``: seconds per chapter of a finished run, shown beside."""
    table = plan.table()
    lines = [f"{len(table)} trainings planned ({int(table['shared'].sum()) if len(table) else 0} shared with "
             f"an earlier one), {int(table['clip_steps'].sum()) if len(table) else 0:,} clip-steps in total",
             ""]
    if len(table):
        lines += [table.drop(columns=["shared", "train_clips"]).to_string(index=False), ""]
    ch = est.chapters.copy()
    if actual is not None:
        ch["actual_s"] = [actual.get(n) for n in ch["chapter"]]
    show = ch.copy()
    for c in [c for c in show.columns if c.endswith("_s")]:
        show[c] = [None if v is None or pd.isna(v) else hms(v) for v in show[c]]
    lines += [show.to_string(index=False), "",
              f"estimated time: {hms(est.total_s)} (chapters only; the book's build not included)",
              f"calibration: {est.calibration}"]
    if actual:
        have = [n for n in ch["chapter"] if actual.get(n) is not None]
        a = sum(actual[n] for n in have)
        e = float(ch.loc[ch["chapter"].isin(have), "total_s"].sum())
        lines.append(f"last run of these chapters: {hms(a)}; estimate {hms(e)} ({(e - a) / a:+.0%})")
    return "\n".join(lines)

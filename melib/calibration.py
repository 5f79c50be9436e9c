"""Measured costs behind the study's estimate (:mod:`melib.costs`), cached per machine, torch version and device.

- training (:meth:`Calibration.training`): a model built as the plan builds it, at its planned input size,
  trained by ``melib.train.fit`` with the plan's trainer (batch, optimiser, loss, threads, device) on
  :data:`TRAIN_BATCHES` batches of random clips for 1 and then 3 epochs: the difference is the time of a step,
  the rest the fit's setup; the forward pass of a clip from ``predict_proba``; a scikit-learn baseline's fit
  and prediction of one fold on random features of the pipeline's size;
- preprocessing (:meth:`Calibration.pipeline`): the pipeline on :data:`PIPELINE_CLIPS` of the plan's clips
  (those at a third and two thirds of the clip lengths) in a private empty cache: the face landmarks of a clip
  (once per clip, shared by every pipeline), the pipeline itself, the frames' digests of a cache key and a
  cache hit; CPU steps with one thread, as in a pool worker;
- this moment's machine (:meth:`Calibration.speedup`, :meth:`Calibration.overheads`, measured on every use,
  not cached): the speed-up of a pool of n worker processes on CPU-bound tasks, the pool's start, and a
  notebook's fixed cost (a Python process importing what the notebooks import).

The cache is ``<home>/.cache/melib-calibration/<host>-<device>-torch<version>.json``; delete it to measure
again. A calibration file of another machine (:func:`load_file`, e.g. ``benches/calibration_h200_issue14.json``)
prices training and the accelerator's share of preprocessing from that machine's numbers instead.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import config, parallel, records
from .errors import ConfigError, DataError

VERSION = 1
TRAIN_BATCHES = 3
PIPELINE_CLIPS = 2
NOTEBOOK_IMPORTS = ("melib.experiments", "melib.report", "matplotlib.pyplot", "IPython.display")


def machine(device: str = "cpu") -> dict:
    """The machine a calibration holds for: host, CPU, cores, torch version, device and its name."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else parallel.cpu_name()
    return {"host": platform.node(), "cpu": parallel.cpu_name(), "cores": parallel.cpu_count(),
            "torch": torch.__version__, "device": dev.type, "device_name": name}


def cache_file(device: str = "cpu") -> Path:
    m = machine(device)
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{m['host']}-{m['device_name']}-torch{m['torch']}").strip("-")
    return config.home() / ".cache" / "melib-calibration" / f"{slug}.json"


@contextlib.contextmanager
def _private_cache():
    """The preprocessing cache in an empty temporary folder (and the frames' digests forgotten) for the block."""
    from .preprocess import cache

    old, digests = os.environ.get("MELIB_CACHE"), dict(cache._DIGESTS)
    with tempfile.TemporaryDirectory(prefix="melib-calibration-") as tmp:
        os.environ["MELIB_CACHE"] = tmp
        cache._DIGESTS.clear()
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("MELIB_CACHE", None)
            else:
                os.environ["MELIB_CACHE"] = old
            cache._DIGESTS.clear()
            cache._DIGESTS.update(digests)


@contextlib.contextmanager
def _one_thread():
    """torch, OpenCV and BLAS on one thread, as in a pool worker; restored after."""
    import cv2
    from threadpoolctl import threadpool_limits

    t, c = torch.get_num_threads(), cv2.getNumThreads()
    parallel.limit_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(t)
        cv2.setNumThreads(c)


def _timed(fn, device: torch.device | None = None) -> float:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def cpu_task(seed: int) -> float:
    """A CPU-bound task of about 0.2 s (sorting 2 million numbers), for the pool's speed-up."""
    return float(np.sort(np.random.default_rng(seed).random(2_000_000))[0])


def calibration_rows(samples, n: int = PIPELINE_CLIPS) -> list:
    """``n`` rows of ``samples`` at evenly spaced quantiles of their clip lengths (a third and two thirds)."""
    order = samples.sort_values("n_frames", kind="stable")
    picks = sorted({int(len(order) * (i + 1) / (n + 1)) for i in range(n)})
    return [order.iloc[min(i, len(order) - 1)] for i in picks]


def measure_training(model: str, model_params: dict, cfg, n_classes: int, features: int | None = None,
                     train_clips: int = 0, test_clips: int = 0) -> dict:
    """Seconds of a training step, a clip's forward pass and a fit's setup (or a baseline's fold)."""
    from . import models, train
    from .models import baselines

    if model in baselines.ESTIMATORS:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(max(train_clips, n_classes * 2) + test_clips, features or 1))
        y = np.arange(len(X)) % n_classes
        est = baselines.ESTIMATORS[model](**model_params)
        n = max(train_clips, n_classes * 2)
        return {"fit_s": _timed(lambda: est.fit(X[:n], y[:n]).predict(X[n:] if test_clips else X[:1]))}
    device = train.resolve_device(cfg.device)
    torch.manual_seed(0)
    t_build = time.perf_counter()
    net = models.build(model, **model_params)
    t_build = time.perf_counter() - t_build
    n = cfg.batch_size * TRAIN_BATCHES
    x = models.example_input(net, batch=n, seed=1)
    x = {k: v.cpu() for k, v in x.items()} if isinstance(x, dict) else x.cpu()
    y = np.arange(n) % n_classes
    run = cfg.replace(val_fraction=0.0, patience=None, track_test=False, select="last", progress=False)
    stages = len(net.training_stages()) if hasattr(net, "training_stages") else 1
    one = _timed(lambda: train.fit(net, x, y, run.replace(epochs=1), n_classes=n_classes), device)
    three = _timed(lambda: train.fit(net, x, y, run.replace(epochs=3), n_classes=n_classes), device)
    step = max(three - one, 1e-9) / (2 * stages * TRAIN_BATCHES)
    with train.torch_state(cfg.deterministic, cfg.threads):
        fwd = _timed(lambda: train.predict_proba(net, x, batch_size=max(cfg.batch_size, 64), device=device),
                     device) / n
    return {"step_s": step, "forward_s": fwd, "setup_s": max(0.0, one - stages * TRAIN_BATCHES * step) + t_build}


def measure_pipeline(name: str, params: dict, rows: list, device: str | None = None) -> dict:
    """Seconds a clip of pipeline ``name`` (means over ``rows``): ``landmarks_s`` (once per clip), ``clip_s``
    (the pipeline with landmarks cached, RPCA inside), ``key_s`` (the frames' digests of a cache key), ``hit_s``
    (a cache hit); for a pipeline with RPCA, ``split_s`` (its two passes around a batched RPCA) and ``rpca_s``
    (RPCA of one clip on ``device``, in a batch of :data:`~melib.preprocess.registry.RPCA_BATCH` on an
    accelerator); ``features``: the size of a feature vector."""
    from .preprocess import face, registry
    from .preprocess.rpca import rpca_clips

    fn = registry.entry(name).fn
    times: dict[str, list[float]] = {}
    features = None
    landmark = face.ground_truth_landmarks if config.landmarks() == "ground_truth" else face.face_landmarks
    gpu = registry.torch_device(device) not in (None, "cpu")
    for row in rows:
        with _private_cache(), _one_thread():
            t = {"key_s": _timed(lambda: fn.cache_path(row, **params))}
            try:
                t["landmarks_s"] = _timed(lambda: landmark(row))
                out = {}
                t["clip_s"] = _timed(lambda: out.update(v=fn(row, **params)))  # computed and written
                t["hit_s"] = _timed(lambda: fn(row, **params))
                first: dict = {}
                t1 = _timed(lambda: first.update(v=registry._Collect(fn.uncached)(row, **params)))
            except DataError:
                continue
            pending = first["v"] if isinstance(first["v"], registry._Pending) else None
            if pending is not None:
                E = rpca_clips([pending.clip], **pending.kwargs)[0][0]
                if not gpu:
                    t["rpca_s"] = _timed(lambda: rpca_clips([pending.clip], **pending.kwargs))
                with_e = pd.concat([row, pd.Series({"_rpca": [E]}, dtype=object)])
                t["split_s"] = t1 + _timed(lambda: registry._Finish(fn.uncached)(with_e, **params))
        if pending is not None and gpu:
            batch = [pending.clip] * registry.RPCA_BATCH
            rpca_clips(batch[:2], device=device, batch_size=2, **pending.kwargs)  # warm-up
            t["rpca_s"] = _timed(lambda: rpca_clips(batch, device=device, batch_size=len(batch), **pending.kwargs),
                                 torch.device(device)) / len(batch)
        if isinstance(out.get("v"), np.ndarray):
            features = int(out["v"].size)
        for k, v in t.items():
            times.setdefault(k, []).append(v)
    if not times.get("clip_s"):
        raise DataError(None, f"a clip pipeline {name!r} accepts, to time it", f"none of {len(rows)} tried")
    return {**{k: float(np.mean(v)) for k, v in times.items()}, "features": features}


class Calibration:
    """Costs measured on this machine for ``device`` (cached in ``path``, default :func:`cache_file`), or
    read from another machine's calibration file (``external``, :func:`load_file`)."""

    def __init__(self, device: str = "cpu", path: str | Path | None = None, external: dict | None = None):
        self.device = registry_device(device)
        self.path = Path(path) if path else cache_file(self.device)
        self.external = external
        self.data = {"version": VERSION, "machine": machine(self.device), "training": {}, "pipeline": {}}
        if self.path.is_file():
            try:
                old = json.loads(self.path.read_text())
            except (OSError, ValueError):
                old = {}
            if old.get("version") == VERSION and old.get("machine") == self.data["machine"]:
                self.data = old
        self._now: dict = {}
        m = self.data["machine"]
        here = f"measured on {m['host']} ({m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['device_name']})"
        self.source = here if external is None else f"{external['source']}; preprocessing on the CPU {here}"

    def _cached(self, kind: str, key: dict, measure) -> dict:
        k = records.key(key)
        if k not in self.data[kind]:
            self.data[kind][k] = measure()
            self.save()
        return self.data[kind][k]

    def training(self, it, samples, progress: bool = False) -> dict:
        """A planned training's step, forward and setup seconds (a baseline: seconds a fold)."""
        from .costs import _config
        from .experiments.common import labelled

        s, cfg = it.spec, _config(it)
        mp = {"profile": it.p.model_profile, **dict(s.model_params)}
        if cfg is not None and self.external is not None:
            return external_training(self.external, s.model, mp, cfg)
        k = len(s.model_params.get("classes") or []) or int(s.model_params.get("n_classes") or 0) or \
            int(labelled(samples, s.scheme)["label"].nunique())
        if cfg is None:
            folds = max(s.n_folds, 1)
            feats = self.pipeline(it, samples)["features"]
            key = {"model": s.model, "params": mp, "features": feats, "train": s.train_clips // folds,
                   "classes": k}
            return self._cached("training", key, lambda: measure_training(
                s.model, dict(s.model_params), None, k, feats, s.train_clips // folds,
                (folds * s.n_clips - s.train_clips) // folds))
        fields = ("batch_size", "optimizer", "loss", "l2", "input_norm", "autocast", "threads", "deterministic")
        key = {"model": s.model, "params": mp, "classes": k, "config": {f: getattr(cfg, f) for f in fields},
               "device": self.device}
        if progress:
            print(f"calibrating {s.model} (batch {cfg.batch_size}) ...", file=sys.stderr, flush=True)
        return self._cached("training", key, lambda: measure_training(s.model, mp, cfg.replace(device=self.device),
                                                                      k))

    def pipeline(self, it, samples, progress: bool = False) -> dict:
        """Seconds a clip of a planned training's pipeline on ``samples``: ``clip_s`` in a pool worker,
        ``device_s`` in this process (RPCA batched on an accelerator), ``landmarks_s``, ``key_s``, ``hit_s``
        (:func:`measure_pipeline`), and ``features``."""
        from .experiments.common import labelled
        from .preprocess import registry

        s = it.spec
        lab = labelled(samples, s.scheme)
        e = registry.entry(s.pipeline)
        params = dict(s.pipeline_params)
        params = e.prepare(lab, params) if e.prepare is not None else params
        rows = calibration_rows(lab)
        device = self.device if self.external is None else "cpu"
        key = {"pipeline": s.pipeline, "params": params, "device": device, "landmarks": config.landmarks(),
               "clips": [[str(r["dataset"]), str(r["clip"]), int(r["n_frames"]), str(r["frames"][0])] for r in rows]}
        if progress:
            print(f"calibrating the {s.pipeline} pipeline ...", file=sys.stderr, flush=True)
        c = dict(self._cached("pipeline", key, lambda: measure_pipeline(s.pipeline, params, rows, device)))
        accelerator = self.external is not None or registry.torch_device(self.device) != "cpu"
        c["device_s"] = 0.0
        if accelerator and "split_s" in c:  # build_inputs batches RPCA on the device (registry.build_inputs)
            rpca = c["rpca_s"] if self.external is None else (self.external.get("rpca_s") or {}).get(s.pipeline)
            if rpca is None:
                raise ConfigError(f"the calibration file ({self.external['source']}) gives no RPCA time for "
                                  f"pipeline {s.pipeline!r} (rpca_s)")
            c["clip_s"], c["device_s"] = c["split_s"], float(rpca)
        return c

    def speedup(self, n: int) -> float:
        """This moment's throughput of ``n`` worker processes over one process, on CPU-bound tasks."""
        n = int(n)
        if n <= 1:
            return 1.0
        if self.external is not None:
            return float(min(n, self.external.get("cores", n)))
        if n not in self._now.setdefault("speedup", {}):
            tasks = list(range(2 * n))
            serial = _timed(lambda: [cpu_task(i) for i in tasks])
            first = _timed(lambda: list(parallel.stream(cpu_task, tasks, n_jobs=n)))
            warm = _timed(lambda: list(parallel.stream(cpu_task, tasks, n_jobs=n)))
            self._now["speedup"][n] = max(1.0, serial / warm)
            self._now["pool_s"] = max(0.0, first - warm)
        return self._now["speedup"][n]

    def preprocess_workers(self) -> int:
        """Worker processes ``build_inputs`` uses: one per core (on an accelerator too: the pool runs the
        pipelines around the batched RPCA, :func:`melib.preprocess.registry.build_inputs`)."""
        return int(self.external.get("cores", 1)) if self.external is not None else parallel.cpu_count()

    def overheads(self, progress: bool = False) -> dict:
        """A notebook's fixed seconds (a process importing :data:`NOTEBOOK_IMPORTS`) and a pool's start."""
        if "notebook_s" not in self._now:
            code = "import " + ", ".join(NOTEBOOK_IMPORTS)
            self._now["notebook_s"] = _timed(lambda: subprocess.run([sys.executable, "-c", code], check=True,
                                                                    capture_output=True))
        if "pool_s" not in self._now:
            self.speedup(max(2, parallel.cpu_count()))
        return {"notebook_s": self._now["notebook_s"], "pool_s": self._now.get("pool_s", 0.0)}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True, default=str))
        os.replace(tmp, self.path)


def registry_device(device: str | None) -> str:
    """``device`` as torch names it ("auto": CUDA when present); None is the CPU."""
    from .preprocess.registry import torch_device

    return torch_device(device) or "cpu"


# --------------------------------------------------------------------------------------------- another machine

def load_file(path: str | Path) -> dict:
    """A calibration file of another machine: JSON with ``source`` (who measured what, where), ``device``,
    ``cores``, ``train`` ({model: {"clips_per_s", "batch", "profile"}}), ``rpca_s`` (seconds of RPCA a clip on
    the accelerator, by pipeline) and ``assumptions`` (text)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(path, "a calibration file (JSON)", str(e)) from None
    missing = [k for k in ("source", "device", "cores", "train") if k not in data]
    if missing:
        raise DataError(path, "a calibration file with source, device, cores and train", f"no {', '.join(missing)}")
    return data


def _flops(model: str, model_params: dict) -> float:
    """FLOPs of one clip's forward and backward pass (torch's counter, on the CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    from . import models

    net = models.build(model, **model_params)
    x = models.example_input(net, batch=1)
    with FlopCounterMode(display=False) as counter:
        out = net(x)
        out.sum().backward()
    return float(counter.get_total_flops())


def external_training(ext: dict, model: str, model_params: dict, cfg) -> dict:
    """A training step on the file's machine: the measured model's rate, or the measured model of the same
    family (the longest name that starts the model's: ``c3d_model_b`` -> ``c3d_model_a``) scaled by the ratio of
    FLOPs; a step of ``batch`` clips takes ``batch / clips_per_s``, and a step of a smaller batch as long as
    the measured one (launch bound), of a larger batch proportionally longer."""
    known = ext["train"]
    ref = model if model in known else max((m for m in known if model.split("_")[0] == m.split("_")[0]),
                                           key=len, default=None)
    if ref is None:
        raise ConfigError(f"the calibration file ({ext['source']}) has no model of {model!r}'s family")
    r = known[ref]
    step = r["batch"] / r["clips_per_s"] * max(1.0, cfg.batch_size / r["batch"])
    if ref != model or model_params.get("profile", "paper") != r.get("profile", "paper"):
        step *= _flops(model, model_params) / _flops(ref, {"profile": r.get("profile", "paper")})
    return {"step_s": step, "forward_s": step / max(cfg.batch_size, 1) / 3, "setup_s": ext.get("setup_s", 1.0)}

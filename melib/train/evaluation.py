"""One evaluation for torch and scikit-learn models alike: ``evaluate(model, X, samples, protocol)`` runs every
fold of a protocol, with run records, resume, parallel folds, pooled and mean-of-folds scores and the leakage
audit (:class:`Evaluation`); ``compare`` is a paired comparison of two runs on the same folds.

Inputs ``X`` are aligned with the samples rows (see :mod:`melib.train.loop`).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from .. import metrics, parallel, protocols, records
from ..errors import ConfigError, DataError
from .config import TrainConfig, seed_everything, torch_state
from .loop import Inputs, fit, predict_proba

# --------------------------------------------------------------------------------------------- evaluation

def _is_sklearn(model) -> bool:
    return all(hasattr(model, a) for a in ("fit", "predict", "get_params"))


def _model_spec(model, name: str | None, model_params: dict | None) -> tuple[str, str, dict]:
    """(kind, name, recorded parameters) of a model given as a melib.models name, an estimator or a factory."""
    params = dict(model_params or {})
    if isinstance(model, str):
        return "torch", name or model, params
    if _is_sklearn(model):
        if params:
            raise ConfigError("model_params= is for torch model factories; set estimator parameters on the "
                              "estimator itself")
        return "sklearn", name or type(model).__name__, model.get_params(deep=False)
    if callable(model):
        if isinstance(model, functools.partial):
            params = {**{f"arg{i}": a for i, a in enumerate(model.args)}, **model.keywords, **params}
            model = model.func
        qual = getattr(model, "__qualname__", "")
        if name is None and ("<lambda>" in qual or "<locals>" in qual or not qual):
            raise ConfigError("give name= for a lambda or local model factory: the run records are keyed by it")
        return "torch", name or f"{getattr(model, '__module__', '')}.{qual}".strip("."), params
    raise ConfigError(f"model must be a melib.models name, a scikit-learn estimator or a factory returning a "
                      f"torch module, not {type(model).__name__}")


def _build(model, model_params: dict) -> nn.Module:
    if isinstance(model, str):
        from .. import models
        return models.build(model, **model_params)
    return model(**model_params)


def _run_fold(task: dict, *, X, table: pd.DataFrame) -> dict:
    """Train and test one fold; returns its run record (written by the caller)."""
    t0 = time.time()
    labels = task["labels"]
    codes = table["code"].to_numpy()
    train, test = np.asarray(task["train"]), np.asarray(task["test"])
    info: dict[str, Any] = {}
    if task["kind"] == "sklearn":
        from sklearn.base import clone
        est = clone(task["model"])
        Xa = np.asarray(X)
        est.fit(Xa[train], codes[train])
        pred = np.asarray(est.predict(Xa[test]), dtype=int)
        proba = None
        if hasattr(est, "predict_proba"):
            proba = np.zeros((len(test), len(labels)))
            proba[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(Xa[test])
        curves, device = {}, "cpu"
    else:
        cfg = TrainConfig(**task["config"], **task["runtime"])
        fit_idx, val_idx, vkind = train, None, None
        if cfg.val_fraction > 0:
            fit_idx, val_idx, vkind = protocols.validation_split(table, train, cfg.val_fraction, cfg.seed)
        seed_everything(cfg.seed)
        net = _build(task["model"], task["build_params"])
        res = fit(net, X, codes, cfg, train=fit_idx, val=val_idx, monitor=test if cfg.track_test else None,
                  n_classes=len(labels), desc=f"{task['name']} {task['fold_name']}")
        with torch_state(cfg.deterministic, cfg.threads):
            proba = predict_proba(res.model, X, test, batch_size=max(cfg.batch_size, 64), device=res.device)
        pred = proba.argmax(1)
        curves, device = res.curves, res.device
        info = {"best_epoch": res.best_epoch, "validation": vkind,
                "n_val": 0 if val_idx is None else int(len(val_idx))}
    lab = np.asarray(labels, dtype=object)
    y_true, y_pred = lab[codes[test]], lab[pred]
    rows = table.iloc[test]
    predictions = [{"clip": c, "dataset": d, "subject": s, "y_true": t, "y_pred": p,
                    **({"proba": [round(float(v), 6) for v in proba[i]]} if proba is not None else {})}
                   for i, (c, d, s, t, p) in enumerate(zip(rows["clip"], rows["dataset"], rows["subject"],
                                                            y_true, y_pred))]
    return {
        "run": task["run"], "model": task["name"], "kind": task["kind"], "model_params": task["params"],
        "train_config": task["config"], "protocol": task["protocol"], "protocol_params": task["protocol_params"],
        "scheme": task.get("scheme"),
        "labels": labels, "fold": task["fold"], "fold_name": task["fold_name"], "n_folds": task["n_folds"],
        "seed": task["config"].get("seed"), "data": task["data"], **records.provenance(),
        "audit": task["audit"], "metrics": metrics.scores(y_true.tolist(), y_pred.tolist(), labels),
        "predictions": predictions, "curves": curves, **info,
        "wall_s": round(time.time() - t0, 3), "device": device,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Evaluation:
    """The fold records of one run, with the two aggregations, the audit and per-dataset breakdowns."""
    records: list[dict]
    labels: list
    run: str | None = None
    paths: list[Path] = field(default_factory=list)

    def predictions(self) -> pd.DataFrame:
        """One row per test clip and fold: fold, fold_name, clip, dataset, subject, y_true, y_pred, p_<class>."""
        rows = []
        for r in self.records:
            for p in r["predictions"]:
                row = {"fold": r["fold"], "fold_name": r["fold_name"],
                       **{k: v for k, v in p.items() if k != "proba"}}
                if "proba" in p:
                    row.update({f"p_{c}": v for c, v in zip(self.labels, p["proba"])})
                rows.append(row)
        return pd.DataFrame(rows)

    def proba(self) -> np.ndarray:
        return np.array([p["proba"] for r in self.records for p in r["predictions"]])

    @property
    def pooled(self) -> dict:
        """Scores over all folds' predictions pooled (MEGC2019 rule)."""
        return metrics.pooled([[p["y_true"] for p in r["predictions"]] for r in self.records],
                              [[p["y_pred"] for p in r["predictions"]] for r in self.records], self.labels)

    @property
    def mean(self) -> dict:
        """Mean and std of per-fold scores (DLHN Eqs. 10-11)."""
        return metrics.mean_of_folds([r["metrics"] for r in self.records])

    def folds(self) -> pd.DataFrame:
        return pd.DataFrame([{"fold": r["fold"], "fold_name": r["fold_name"], **r["audit"],
                              **{m: r["metrics"][m] for m in metrics.METRICS}} for r in self.records])

    def leakage(self) -> dict:
        """Share of test clips whose subject is also in training: mean and max over folds."""
        v = np.array([r["audit"]["leakage"] for r in self.records])
        return {"leakage_mean": float(v.mean()), "leakage_max": float(v.max())}

    def by_dataset(self) -> pd.DataFrame:
        """Pooled scores per dataset inside a composite run (PSN Table 6, CropNet Table 3)."""
        return metrics.by_group(self.predictions(), self.labels, "dataset")

    def ci(self, metric: str = "uf1", n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
        """Bootstrap confidence interval of a pooled metric over the test clips (``metrics.bootstrap_ci``)."""
        p = self.predictions()
        return metrics.bootstrap_ci(p["y_true"], p["y_pred"], self.labels, metric, n_boot, level, seed)

    def summary(self) -> dict:
        """Pooled and mean-of-folds scores with the leakage audit beside them."""
        p, m = self.pooled, self.mean
        return {"n_folds": len(self.records), "n_clips": p["n"],
                **{m_: p[m_] for m_ in metrics.METRICS},
                **{f"{k}_mean": m[k] for k in metrics.METRICS}, **{f"{k}_std": m[f"{k}_std"] for k in metrics.METRICS},
                **self.leakage()}


def evaluate(model, X, samples: pd.DataFrame, protocol: str, *, protocol_params: dict | None = None,
             config: TrainConfig | None = None, labels: Sequence | None = None, name: str | None = None,
             model_params: dict | None = None, n_jobs: int = 1, backend: str | None = None, address: Any = None,
             root: str | Path | None = None, save: bool = True, resume: bool = True, data_tag: str | None = None,
             progress: bool = True) -> Evaluation:
    """Run ``model`` under ``protocol`` on inputs ``X`` (row i = ``samples.iloc[i]``, which has ``label``).

    ``model``: a scikit-learn estimator (cloned per fold; ``X`` is (n, d)), a ``melib.models`` name built with
    ``model_params``, or a factory ``model(**model_params) -> torch.nn.Module`` trained by ``fit`` with
    ``config``. ``labels`` fixes the class order (default: the order of the label scheme named in
    ``samples.attrs["scheme"]``, else sorted labels) and so the model's output index of each class. Each fold's record goes to
    ``<root or runs_dir()>/<name>/<run key>/foldNNN.json``; with ``resume`` an existing record is read, not
    recomputed. Folds run serially (``n_jobs=1``), in a process pool, or on Dask
    (``backend="dask", address=...``; the default None: Dask at ``$MELIB_DASK`` when it is set, as
    ``melib study --dask`` sets it): see ``melib.parallel``, which pins each Dask worker to its own GPU.
    """
    protocol_params = dict(protocol_params or {})
    backend, address = parallel.resolve_backend(backend, address)
    kind, mname, params = _model_spec(model, name, model_params)
    fs = protocols.folds(samples, protocol, **protocol_params)
    pool = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in fs]))
    present = pd.unique(samples["label"].to_numpy()[pool])
    scheme = samples.attrs.get("scheme")
    if labels is None and scheme:
        from .. import labels as label_schemes
        order = label_schemes.classes(scheme)
        labels = [c for c in order if c in set(present)] + sorted(set(present) - set(order), key=str)
    classes = list(labels) if labels is not None else sorted(present, key=str)
    missing = set(present) - set(classes)
    if missing:
        raise DataError(None, f"labels among {classes}", f"{sorted(map(str, missing))}; add them to labels=")
    inputs = Inputs(X) if kind == "torch" else None
    n_rows = len(inputs) if inputs is not None else len(X)
    if n_rows != len(samples):
        raise DataError(None, "one input row per samples row", f"{n_rows} inputs for {len(samples)} samples")
    if kind == "sklearn" and np.asarray(X).ndim != 2:
        raise DataError(None, "features X of shape (n_clips, n_features) for a scikit-learn model",
                        f"shape {np.asarray(X).shape}")
    table = samples[["dataset", "subject", "clip", "label"]].reset_index(drop=True).copy()
    code_of = {c: i for i, c in enumerate(classes)}
    table["code"] = [code_of.get(v, -1) if not pd.isna(v) else -1 for v in table["label"]]
    cfg = config or TrainConfig()
    data = data_tag or (inputs.fingerprint() if inputs is not None else Inputs(np.asarray(X)).fingerprint())
    if data is None and save:
        raise ConfigError("inputs given as a Dataset cannot be fingerprinted: pass data_tag= naming them "
                          "(it keys the run records)")
    clips = records.key({"rows": table.iloc[pool][["dataset", "clip", "label"]].astype(str).values.tolist()})
    spec = {"model": mname, "kind": kind, "params": params, "protocol": protocol, "scheme": scheme,
            "protocol_params": protocol_params, "labels": classes, "data": data, "clips": clips,
            "config": cfg.identity() if kind == "torch" else None}
    run = records.key(spec)
    root = Path(root) if root else None
    paths = [records.path(mname, run, f.index, root) for f in fs]
    done: dict[int, dict] = {}
    if resume:
        done = records.resume({f.index: p for f, p in zip(fs, paths)})
    runtime = {"device": cfg.device, "threads": cfg.threads, "progress": cfg.progress and n_jobs == 1
               and backend == "local" and progress}
    tasks = [{"run": run, "name": mname, "kind": kind, "model": model,
              "build_params": dict(model_params or {}), "params": params,
              "config": cfg.identity() if kind == "torch" else {},
              "runtime": runtime, "protocol": protocol, "scheme": scheme, "protocol_params": protocol_params, "labels": classes,
              "data": data, "fold": f.index, "fold_name": f.name, "n_folds": len(fs), "train": f.train,
              "test": f.test, "audit": f.audit} for f in fs if f.index not in done]

    def keep(i: int, rec: dict) -> None:
        if save:
            records.write(rec, paths[tasks[i]["fold"]])
        done[tasks[i]["fold"]] = rec

    parallel.run_all(_run_fold, tasks, shared={"X": X, "table": table}, n_jobs=n_jobs, backend=backend,
                     address=address, progress=progress, desc=f"{mname} {protocol}", on_result=keep)
    return Evaluation([done[f.index] for f in fs], classes, run, paths if save else [])


def same_clips(a: Evaluation, b: Evaluation) -> None:
    if a.labels != b.labels or len(a.records) != len(b.records):
        raise DataError(None, "two runs with the same classes and folds", f"{a.labels}/{len(a.records)} folds "
                        f"vs {b.labels}/{len(b.records)} folds")
    for ra, rb in zip(a.records, b.records):
        if [(p["dataset"], p["clip"]) for p in ra["predictions"]] != [(p["dataset"], p["clip"]) for p in rb["predictions"]]:
            raise DataError(None, "the same test clips in each fold of both runs",
                            f"fold {ra['fold_name']!r} differs; run both under one protocol and seed")


def compare(a: Evaluation, b: Evaluation, metric: str = "uf1", n_boot: int = 1000, seed: int = 0,
            by_subject: bool = True) -> dict:
    """Paired comparison of two methods on the same folds: metric(A) - metric(B) over pooled clips.

    ``bootstrap``: paired bootstrap (``metrics.paired_bootstrap``), resampling whole subjects when
    ``by_subject`` (clips of one subject are not independent); ``mcnemar``: exact McNemar on clip
    correctness; ``wilcoxon``: signed-rank test of per-fold scores (needs several folds).
    """
    same_clips(a, b)
    pa, pb = a.predictions(), b.predictions()
    out = {"metric": metric,
           "bootstrap": metrics.paired_bootstrap(pa["y_true"], pa["y_pred"], pb["y_pred"], a.labels, metric, n_boot,
                                                 seed=seed, groups=pa["subject"] if by_subject else None),
           "mcnemar": metrics.mcnemar(pa["y_true"], pa["y_pred"], pb["y_pred"])}
    if len(a.records) > 1:
        out["wilcoxon"] = metrics.wilcoxon_folds([r["metrics"][metric] for r in a.records],
                                                 [r["metrics"][metric] for r in b.records])
    return out

"""The known-answer chapter: every method's UF1 / UAR against the synthetic set's motion amplitude.

The synthetic generator (``melib.synth``) plants the expression as landmark motion of ``amplitude`` pixels at
apex; at ``amplitude=0`` the pixels do not depend on the label at all. A method that works must score near
chance at 0 and clearly above it once the motion is there; a method above chance at 0 leaks labels.

- :func:`amplitude_samples`: generate (once) and load the set of one amplitude, at
  ``<home>/data/synth-amp<a>``.
- :func:`lbp_evaluation`: LBP-TOP / LBP-SIP + SVM run straight through ``melib.train.evaluate`` (the
  engine-level known-answer check).
- :func:`evaluate_method`: one method (a baseline name of :data:`BASELINES` or a registered model) on one set.
- :func:`chance_band`: what "near chance" means for a given run: the permutation null of the metric
  (true labels shuffled against the predictions, which keeps both class distributions).
- :func:`sweep`: methods x amplitudes -> one long table with bootstrap confidence intervals, the protocol,
  the leakage audit and the provenance on every row (for ``melib.report.amplitude_figure``).

Choices (not from the papers): the 3-class MEGC2019 scheme (chance UAR 1/3; the synthetic set has 4:1:1
negative : positive : surprise clips in CASME II and SAMM layouts, 1:1:1 in SMIC's), a subject-disjoint
``group_kfold`` (3 folds by default; ``loso`` on request), percentile bootstrap over clips (1000 draws).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import config, metrics, train
from ..errors import ConfigError
from ..models import baselines as baseline_models
from ..preprocess import pipelines
from . import evaluate_model, labelled

AMPLITUDES = (0.0, 1.0, 3.0)
# method name -> LBP kind of the handcrafted baselines (melib.models.baselines.lbp_svm)
BASELINES = {"lbp_top_svm": "top", "lbp_sip_svm": "sip"}
# each paper's main model (registered names; DLHN's fusion is dlhn)
PAPER_MODELS = ("dlhn", "psn", "c3d_model_a", "cropnet", "localregions")
METHODS = (*BASELINES, *PAPER_MODELS)
SCHEME = "megc2019"
PROTOCOL = "group_kfold"
PROTOCOL_PARAMS = {"n_splits": 3, "seed": 0}


def amplitude_root(amplitude: float, home: str | Path | None = None) -> Path:
    """``<home>/data/synth-amp<a>`` (``a`` as ``%g``: 0, 1, 3, 0.5)."""
    return Path(home or config.home()) / "data" / f"synth-amp{float(amplitude):g}"


def amplitude_samples(amplitude: float, seed: int = 0, root: str | Path | None = None, progress: bool = False,
                      **synth_params) -> pd.DataFrame:
    """The samples table of the synthetic set with motion ``amplitude`` (generated on first use; the other
    generator parameters ``synth_params`` as ``melib.synth.generate_default``)."""
    from .. import datasets, synth

    root = Path(root) if root is not None else amplitude_root(amplitude)
    synth.generate_default(root, seed=seed, progress=progress, amplitude=float(amplitude), **synth_params)
    return datasets.load("synth", root)


def lbp_evaluation(samples: pd.DataFrame, kind: str = "top", protocol: str = PROTOCOL,
                   protocol_params: dict | None = None, lbp_params: dict | None = None,
                   svm_params: dict | None = None, progress: bool = False, save: bool = True,
                   root: str | Path | None = None) -> tuple[train.Evaluation, pd.DataFrame, list[dict]]:
    """LBP-``kind`` features (``preprocess.pipelines.lbp_features``, MEGC2019 baseline settings unless
    ``lbp_params``) + SVM (``models.baselines.lbp_svm``) under ``protocol`` on labelled ``samples``.

    Returns ``(evaluation, kept_samples, exclusions)``.
    """
    feats, kept, exclusions = pipelines.build_inputs(samples, "lbp", progress=progress, kind=kind,
                                                     **(lbp_params or {}))
    kept_samples = samples.loc[kept]
    kept_samples.attrs = dict(samples.attrs)
    est = baseline_models.lbp_svm(kind, **(svm_params or {}))
    ev = train.evaluate(est, feats["features"], kept_samples, protocol, protocol_params=protocol_params,
                        name=f"lbp_{kind}_svm", save=save, root=root, progress=progress)
    return ev, kept_samples, exclusions


def evaluate_method(p, samples: pd.DataFrame, method: str, protocol: str = PROTOCOL,
                    protocol_params: dict | None = None, progress: bool = False,
                    **config_changes) -> train.Evaluation:
    """``method`` (a key of :data:`BASELINES` or a registered model at ``p``'s model profile) on labelled
    ``samples``; deep models train with ``threads=1`` unless told otherwise."""
    protocol_params = dict(PROTOCOL_PARAMS if protocol_params is None and protocol == "group_kfold"
                           else protocol_params or {})
    if method in BASELINES:
        return lbp_evaluation(samples, BASELINES[method], protocol, protocol_params, progress=progress)[0]
    config_changes.setdefault("threads", 1)
    return evaluate_model(p, samples, method, protocol=protocol, protocol_params=protocol_params,
                          progress=progress, **config_changes).evaluation


def chance(ev: train.Evaluation) -> float:
    """Expected UAR (and about the UF1) of a classifier that ignores its input: 1 / number of classes."""
    return 1.0 / len(ev.labels)


def null_distribution(ev: train.Evaluation, metric: str = "uar", n: int = 2000, seed: int = 0,
                      within: str | None = "subject") -> np.ndarray:
    """The metric of the run's predictions against permuted true labels (``n`` permutations).

    ``within="subject"`` permutes labels only among each subject's clips, which keeps every subject's (and so
    every dataset's) class mix: the exact null of "the input tells nothing about the label" on the synthetic
    set, whose class mix differs by layout (4:1:1 negative : positive : surprise in CASME II and SAMM, 1:1:1 in
    SMIC) while the layout itself is visible in the pixels. A global permutation (``within=None``) ignores
    that and puts "chance" too low (measured: LBP-SIP reached UAR 0.51 at amplitude 0, above its global 99 %
    band 0.46).
    """
    pred = ev.predictions()
    labels = list(ev.labels)
    codes = {c: i for i, c in enumerate(labels)}
    t = pred["y_true"].map(codes).to_numpy()
    y = pred["y_pred"].map(codes).to_numpy()
    fn = metrics._metric_fn(metric, labels)
    rng = np.random.default_rng(seed)
    groups = [np.arange(len(t))] if within is None else \
        [np.asarray(ix) for ix in pred.groupby(within, sort=True).indices.values()]
    out = np.empty(n)
    perm = np.empty_like(t)
    for b in range(n):
        for ix in groups:
            perm[ix] = t[rng.permutation(ix)]
        out[b] = fn(perm, y)
    return out


def chance_band(ev: train.Evaluation, metric: str = "uar", level: float = 0.99, n: int = 2000,
                seed: int = 0, within: str | None = "subject") -> tuple[float, float]:
    """The central ``level`` interval of the metric under the permutation null (:func:`null_distribution`):
    the scores a run with these clips and this prediction mix reaches without any signal."""
    null = null_distribution(ev, metric, n, seed, within)
    a = (1 - level) / 2
    return float(np.quantile(null, a)), float(np.quantile(null, 1 - a))


def result_rows(ev: train.Evaluation, method: str, amplitude: float, protocol: str, provenance: str,
                metrics_: Sequence[str] = ("uf1", "uar"), n_boot: int = 1000) -> list[dict]:
    """One row per metric: value with its bootstrap CI, the chance level, the null band, the leakage audit."""
    rows = []
    leak = ev.leakage()
    for m in metrics_:
        ci = ev.ci(m, n_boot=n_boot)
        lo, hi = chance_band(ev, m)
        rows.append({"method": method, "amplitude": float(amplitude), "metric": m, "value": ci["value"],
                     "ci_low": ci["low"], "ci_high": ci["high"], "chance": chance(ev), "null_low": lo,
                     "null_high": hi, "n_classes": len(ev.labels), "n_clips": ev.pooled["n"],
                     "n_folds": len(ev.records), "protocol": protocol, **leak, "provenance": provenance})
    return rows


def sweep(p, amplitudes: Sequence[float] = AMPLITUDES, methods: Sequence[str] = METHODS,
          scheme: str = SCHEME, protocol: str = PROTOCOL, protocol_params: dict | None = None,
          synth_params: dict | None = None, progress: bool = False, **config_changes) -> pd.DataFrame:
    """Every method on the set of every amplitude (:func:`amplitude_samples` with ``synth_params``, default
    the profile's own ``p.synth``); rows of :func:`result_rows`."""
    from ..report import provenance_label

    unknown = [m for m in methods if m not in BASELINES and m not in pipelines.MODEL_PAPER]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; use {', '.join(BASELINES)} or a registered model")
    synth_params = dict(p.synth or {}) if synth_params is None else dict(synth_params)
    rows = []
    for a in amplitudes:
        lab = labelled(amplitude_samples(a, seed=p.seed, progress=progress, **synth_params), scheme)
        prov = provenance_label(lab)
        for m in methods:
            ev = evaluate_method(p, lab, m, protocol, protocol_params, progress=progress, **config_changes)
            rows += result_rows(ev, m, a, protocol, prov)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`sweep`'s rows as a table: one row per method and amplitude, ``value [low, high]`` per metric,
    with chance, protocol, leakage and provenance columns."""
    d = df.copy()
    d["cell"] = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in zip(d["value"], d["ci_low"], d["ci_high"])]
    wide = d.pivot_table(index=["method", "amplitude"], columns="metric", values="cell", aggfunc="first",
                         sort=False)
    wide.columns = [f"{c.upper()} [95% CI]" for c in wide.columns]
    keep = d.drop_duplicates(["method", "amplitude"]).set_index(["method", "amplitude"])
    extra = keep[["chance", "n_clips", "protocol", "leakage_max", "provenance"]]
    return wide.join(extra)

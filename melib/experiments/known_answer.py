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
- :func:`settings`: the paper models' known-answer settings (:data:`TRAINING`, :data:`INPUTS`,
  :data:`CONFIG`), shared by the chapter and ``tests/test_known_answer.py``.
- :func:`sweep`: methods x amplitudes -> one long table with bootstrap confidence intervals, the protocol,
  the leakage audit and the provenance on every row (for ``melib.report.amplitude_figure``); serial or in a
  process pool.

Choices (not from the papers): the 3-class MEGC2019 scheme (chance UAR 1/3; the synthetic set has 4:1:1
negative : positive : surprise clips in CASME II and SAMM layouts, 1:1:1 in SMIC's), a subject-disjoint
``group_kfold`` (3 folds by default; ``loso`` on request), percentile bootstrap over clips (1000 draws).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import config, metrics, parallel, train
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


# The set each profile sweeps (melib.synth.generate_default parameters; None: the profile's own set's), its
# methods and process-pool size. Default: 5 subjects per layout, 7 clips each, 12-16 frames of 256x192 (105
# clips, 95 with a MEGC2019 label; tests/test_known_answer.py checks every method on the same set), every
# method at amplitudes 0 and 3 on both cores (3.6 minutes cold); the paper profile adds amplitude 1. On 3
# subjects per layout (57 labelled clips) DLHN reached only 0.43 at amplitude 3 (null band up to 0.46).
KA_SYNTH = {"subjects": 5, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
FAST_METHODS = ("lbp_top_svm", "lbp_sip_svm", "psn", "c3d_model_a")
PLAN = {"smoke": {"amplitudes": (0.0, 3.0), "methods": FAST_METHODS, "synth": None, "n_jobs": 1},
        "default": {"amplitudes": (0.0, 3.0), "methods": METHODS, "synth": KA_SYNTH, "n_jobs": 2},
        "paper": {"amplitudes": AMPLITUDES, "methods": METHODS, "synth": {}, "n_jobs": 1}}


# The paper models' known-answer settings: deviations from the default profile that let each model learn the
# planted motion on the small synthetic set (each measured; tests/test_known_answer.py records the numbers and
# the book's known-answer chapter lists them); ``sweep(known_answer_settings=False)`` runs the profile's.
TRAINING = {"epochs": 30, "class_weights": "balanced"}  # n / (K n_i): the layouts are 4:1:1 in two of three
# Signed inputs: frames minus the onset frame (C3D, LocalRegions: on raw frames the face's appearance drowns
# 3 px of motion and the training loss stays at ln 3), scaled to unit sd per clip (LocalRegions: its stage-1
# region CNNs learnt nothing from inputs of sd 0.03; C3D: with Keras' BatchNorm momentum the running variance,
# which starts at 1, still held 0.8 % of it after 480 steps, 30 times the conv outputs' variance on inputs of sd
# 0.016, and Model-A fell from 0.74 to 0.60 at amplitude 3; melib.deviations: c3d.yaml).
INPUTS = {"c3d_model_a": {"onset_difference": True, "scale": "clip_sd"},
          "localregions": {"onset_difference": True, "scale": "clip_sd"}}
# Trainer changes on top of TRAINING: CropNet memorised its training clips at lr 1e-3, batch 16 (AdamP, from
# scratch); LocalRegions took 2 optimiser steps an epoch at batch 32.
CONFIG = {"cropnet": {"lr": 1e-2, "batch_size": 8, "weight_decay": 0.05}, "localregions": {"batch_size": 8}}


def settings(p, method: str) -> dict:
    """:func:`evaluate_method` keyword arguments of ``method``'s known-answer run under profile ``p``: the
    paper models' :data:`TRAINING`, :data:`INPUTS` and :data:`CONFIG` (the smoke profile keeps its one
    epoch); nothing for the baselines."""
    if method in BASELINES:
        return {}
    training = {k: v for k, v in TRAINING.items() if not (k == "epochs" and p.profile == "smoke")}
    return {"inputs": INPUTS.get(method), **training, **CONFIG.get(method, {})}


def plan(p, amplitudes=None, methods=None) -> dict:
    """What the chapter runs under profile ``p`` (:data:`PLAN`), with the notebook's overrides
    (``methods="all"``: :data:`METHODS`)."""
    out = dict(PLAN.get(p.profile, PLAN["paper"]))
    if amplitudes is not None:
        out["amplitudes"] = tuple(float(a) for a in amplitudes)
    if methods is not None:
        out["methods"] = METHODS if methods == "all" else tuple(methods)
    return out


def amplitude_root(amplitude: float, home: str | Path | None = None, **synth_params) -> Path:
    """``<home>/data/synth-amp<a>`` (``a`` as ``%g``: 0, 1, 3, 0.5) for the default set's other parameters;
    other ``synth_params`` add a short hash of them (``synth-amp3-1a2b3c4d``), so sets never overwrite
    each other."""
    name = f"synth-amp{float(amplitude):g}"
    if synth_params:
        import hashlib
        import json

        text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in sorted(synth_params.items())})
        name += "-" + hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    return Path(home or config.home()) / "data" / name


def amplitude_samples(amplitude: float, seed: int = 0, root: str | Path | None = None, progress: bool = False,
                      **synth_params) -> pd.DataFrame:
    """The samples table of the synthetic set with motion ``amplitude`` (generated on first use at
    :func:`amplitude_root`; the other generator parameters ``synth_params`` as ``melib.synth.generate_default``)."""
    from .. import datasets, synth

    root = Path(root) if root is not None else amplitude_root(amplitude, **synth_params)
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


def pipeline_kwargs(p, model: str) -> dict:
    """Input-pipeline settings shared with the model's own chapter, so that its preprocessing cache serves
    both: PSN's RPCA on the 16 sampled frames under the smoke and default profiles (``experiments.psn.plan``)."""
    if pipelines.MODEL_PAPER.get(model) == "psn":
        from .psn import plan

        return {"rpca_on": plan(p)["rpca_on"]}
    return {}


def evaluate_method(p, samples: pd.DataFrame, method: str, protocol: str = PROTOCOL,
                    protocol_params: dict | None = None, progress: bool = False, inputs: dict | None = None,
                    **config_changes) -> train.Evaluation:
    """``method`` (a key of :data:`BASELINES` or a registered model at ``p``'s model profile, built for the
    number of classes in ``samples``) on labelled ``samples``; deep models train with ``threads=1`` unless
    told otherwise. ``inputs``: pipeline settings on top of :func:`pipeline_kwargs` (e.g. C3D's
    ``onset_difference``)."""
    protocol_params = dict(PROTOCOL_PARAMS if protocol_params is None and protocol == "group_kfold"
                           else protocol_params or {})
    if method in BASELINES:
        return lbp_evaluation(samples, BASELINES[method], protocol, protocol_params, progress=progress)[0]
    config_changes.setdefault("threads", 1)
    if method == "localregions":  # both stages (the registered model alone trains stage 2 on untrained CNNs)
        from .local_regions import run

        return run(p, samples, protocol=protocol, protocol_params=protocol_params, progress=progress,
                   inputs=inputs, **config_changes).evaluation
    return evaluate_model(p, samples, method, protocol=protocol, protocol_params=protocol_params,
                          model_kwargs={"n_classes": int(samples["label"].nunique())},
                          pipeline_kwargs={**pipeline_kwargs(p, method), **(inputs or {})}, progress=progress,
                          **config_changes).evaluation


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
    fn = metrics.metric_fn(metric, labels)
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
          synth_params: dict | None = None, progress: bool = False, known_answer_settings: bool = True,
          n_jobs: int = 1, **config_changes) -> tuple[pd.DataFrame, dict]:
    """Every method on the set of every amplitude (:func:`amplitude_samples` with ``synth_params``, default
    the profile's own ``p.synth``), each with its known-answer :func:`settings` (``known_answer_settings=False``:
    the profile's own) and ``config_changes`` on top. ``n_jobs`` > 1 runs the (method, amplitude) pairs in a
    process pool (``melib.parallel``; each deep model trains on one thread). Returns ``(rows, evaluations)``:
    the rows of :func:`result_rows` and ``evaluations[(method, amplitude)]``."""
    from ..report import provenance_label

    unknown = [m for m in methods if m not in BASELINES and m not in pipelines.MODEL_PAPER]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; use {', '.join(BASELINES)} or a registered model")
    synth_params = dict(p.synth or {}) if synth_params is None else dict(synth_params)
    from .. import study, synth

    sets = {}
    for a in amplitudes:
        # the profile's own set when it is this one (its preprocessing is then shared with the other chapters)
        own = (p.data == "synth" and synth_params == dict(p.synth or {}) and p.seed == study.SYNTH_SEED
               and float(a) == float(synth.DEFAULTS["amplitude"]))
        root = study.data_root(p) if own else None
        sets[float(a)] = labelled(amplitude_samples(a, seed=p.seed, root=root, progress=progress, **synth_params),
                                  scheme)
    tasks = [(m, a) for a in sets for m in methods]
    kws = {m: {**(settings(p, m) if known_answer_settings else {}), **config_changes} for m in methods}
    env = {k: v for k, v in os.environ.items() if k.startswith("MELIB_")}
    shared = dict(p=p, sets=sets, protocol=protocol, protocol_params=protocol_params, kws=kws, env=env)
    done = parallel.run_all(_evaluate_task, tasks, shared=shared, n_jobs=n_jobs, progress=progress,
                            desc="known answers")
    rows, evals = [], {}
    for (m, a), ev in zip(tasks, done):
        evals[(m, a)] = ev
        rows += result_rows(ev, m, a, protocol, provenance_label(sets[a]))
    return pd.DataFrame(rows), evals


def _evaluate_task(task, p, sets, protocol, protocol_params, kws, env) -> train.Evaluation:
    """One (method, amplitude) of :func:`sweep`, in this process or a pool worker (given the caller's
    ``MELIB_*`` environment, since a reused worker may have started under another)."""
    for k in [k for k in os.environ if k.startswith("MELIB_")]:
        del os.environ[k]
    os.environ.update(env)
    m, a = task
    return evaluate_method(p, sets[a], m, protocol, protocol_params, progress=False, **kws[m])


def verdict(df: pd.DataFrame, metric: str = "uar") -> pd.DataFrame:
    """Per method: is ``metric`` inside the permutation null band at amplitude 0 (no signal, no leak) and
    above it at the largest amplitude (the planted motion is learnt)?"""
    d = df[df["metric"] == metric]
    rows = []
    for m, g in d.groupby("method", sort=False):
        g = g.set_index("amplitude")
        row = {"method": m, "metric": metric}
        if 0.0 in g.index:
            z = g.loc[0.0]
            row.update({"at 0": z["value"], "null band at 0": f"[{z['null_low']:.3f}, {z['null_high']:.3f}]",
                        "chance at 0": bool(z["null_low"] <= z["value"] <= z["null_high"])})
        top = g.index.max()
        if top > 0:
            t = g.loc[top]
            row.update({"top amplitude": top, "at top": t["value"],
                        "null band at top": f"[{t['null_low']:.3f}, {t['null_high']:.3f}]",
                        "above chance at top": bool(t["value"] > t["null_high"])})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


# method -> (paper, table, printed method) of its published UF1 / UAR under MEGC2019 LOSO, where there is one
PUBLISHED_MEGC = {"lbp_top_svm": ("CropNet", "Table 3", "LBP-TOP"), "cropnet": ("CropNet", "Table 3", "ARS+CropNet"),
                  "localregions": ("LocalRegions", "Table 10", "LocalRegions")}


def beside_published(df: pd.DataFrame, amplitude: float | None = None) -> pd.DataFrame:
    """The results at ``amplitude`` (default the largest) beside each method's published MEGC2019 LOSO UF1 /
    UAR on the composite (``published_method`` names the row; "not published" where the paper has none).
    A synthetic number is a check of the code, not an attempt at the published one."""
    from .. import published
    from ..report import side_by_side

    amplitude = df["amplitude"].max() if amplitude is None else float(amplitude)
    mine = df[df["amplitude"] == amplitude]
    pubs = []
    for m, (paper, tab, printed) in PUBLISHED_MEGC.items():
        t = published.table(paper, tab)
        t = t[(t["method"] == printed) & (t["dataset"] == "casme2+samm+smic") & t["metric"].isin(["uf1", "uar"])]
        pubs.append(t.assign(method=m, published_method=f"{printed} ({paper} {tab})"))
    pub = pd.concat(pubs, ignore_index=True)
    pub = pub[pub["method"].isin(set(mine["method"]))]
    out = side_by_side(mine[["method", "metric", "value", "provenance"]], pub, on=["method", "metric"])
    out["published_method"] = out["method"].map(pub.drop_duplicates("method").set_index("method")["published_method"])
    meta = mine.drop_duplicates("method").set_index("method")
    for c in ("protocol", "leakage_max", "n_clips"):
        out[c] = out["method"].map(meta[c])
    out["amplitude"] = amplitude
    return out


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

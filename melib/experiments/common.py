"""What every chapter shares: planning a training (:func:`training`), running it (:func:`execute`), the
protocol a ``protocol`` parameter means (:func:`protocol_for`) and the headline rows.

The one way a model is run here: samples -> labels (``scheme``) -> inputs (the spec's pipeline, on the
study's device) -> protocol -> ``melib.train.evaluate`` (cached run records) -> :class:`Run`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import config, metrics, models, protocols, published, records, report, train
from .. import labels as label_schemes
from ..models import baselines as estimators
from ..models.dlhn import A_PAPER
from ..models.dlhn import fuse as fuse_probabilities
from ..errors import ConfigError, DataError
from ..params import Params, train_config
from ..preprocess import registry as pipelines
from .contract import TrainingSpec

# method name -> LBP kind of the handcrafted baselines (melib.models.baselines.lbp_svm)
BASELINES = {"lbp_top_svm": "top", "lbp_sip_svm": "sip"}
# Which frames PSN's RPCA sees per profile: on the 16 sampled frames under smoke and default (0.36 s a clip
# against 1.6 s on the shared CPU), on the 150-frame normalised clip under paper (PSN 3.2 (2))
RPCA_ON = {"smoke": "sampled", "default": "sampled", "paper": "normalised"}
# The protocols the study parameter ``protocol`` may name (:func:`protocol_for` gives their parameters).
PROTOCOLS = ("loso", "stratified_kfold", "group_kfold", "holdout", "lodo")
# What the protocol parameter means when a chapter has no setting of its own for it.
HOLDOUT = {"test_size": 0.2, "n_repeats": 5}  # C3D 8.1: five random splits; the share is a choice
GROUP_FOLDS = 5


@dataclass
class Run:
    """A model's evaluation under one protocol, with what was left out on the way and the spec it ran."""
    model: str
    protocol: str
    evaluation: train.Evaluation
    samples: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)
    spec: TrainingSpec | None = None

    @property
    def scheme(self) -> str | None:
        return self.samples.attrs.get("scheme")

    def summary(self) -> dict:
        return {"model": self.model, "scheme": self.scheme, "protocol": self.protocol,
                **self.evaluation.summary(), "excluded": len(self.exclusions)}


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: unchanged), then restore the count. Preprocessing
    (RPCA is torch) runs with one thread: on the shared 2-core machine RPCA of one clip took 0.1 s with one
    thread and 5.5 s with two (oversubscription)."""
    prev = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def labelled(samples: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """The clips that ``scheme`` gives a label, with the scheme recorded in ``attrs``."""
    df = samples if "label" in samples.columns and samples.attrs.get("scheme") == scheme \
        else label_schemes.assign(samples, scheme)
    kept = df[df["label"].notna()]
    kept.attrs = dict(df.attrs)
    if not len(kept):
        raise DataError(None, f"clips that label scheme {scheme!r} keeps",
                        "none; choose another scheme or dataset")
    return kept


def model_pipeline(model: str, profile: str, **model_kwargs) -> tuple[str, dict]:
    """(pipeline, parameters) that feed registered ``model`` built with ``profile`` and ``model_kwargs``:
    read from the registry's input spec (``melib.models.input_spec``), no network built."""
    name = models.pipeline_of(model)
    return name, pipelines.spec_params(name, models.input_spec(model, profile, **model_kwargs))


def kfold_splits(samples: pd.DataFrame, want: int = 10) -> int:
    """``want`` folds, or fewer when the rarest class of labelled ``samples`` has fewer clips (at least 2)."""
    rarest = int(samples["label"].value_counts().min()) if len(samples) else 0
    if rarest < 2:
        raise ConfigError(f"stratified k-fold needs at least 2 clips per class; the rarest class has {rarest}")
    return min(int(want), rarest)


def protocol_for(p: Params, protocol: str, lab: pd.DataFrame, settings: Mapping, k: int = 10,
                 datasets=None) -> tuple[str, dict]:
    """(protocol, parameters) of ``protocol`` on labelled clips ``lab`` (``datasets``: only those), under the
    chapter's ``settings``: LOSO (over more subjects than ``max_folds``: that many stratified subject-disjoint
    folds), stratified k-fold with ``folds`` (default ``k``; fewer when the rarest class has fewer clips, at
    least 2), subject-disjoint ``group_kfold`` (``folds``, default :data:`GROUP_FOLDS`, stratified), the
    repeated holdout (:data:`HOLDOUT`), or leave one dataset out (``lodo``: one fold per dataset; more datasets
    than ``max_folds`` is refused); the study seed shuffles."""
    pool = lab if datasets is None else lab[lab["dataset"].isin(datasets)]
    where = {} if datasets is None else {"datasets": tuple(datasets)}
    subjects = pool["subject"].nunique()
    cap = settings.get("max_folds")
    if protocol == "loso":
        if cap and subjects > cap:
            return "group_kfold", {"n_splits": int(cap), "stratify": True, "seed": p.seed, **where}
        return "loso", where
    if protocol == "stratified_kfold":
        want = int(settings.get("folds") or k)
        return protocol, {"n_splits": kfold_splits(pool, min(want, cap or want)), "seed": p.seed, **where}
    if protocol == "group_kfold":
        want = int(settings.get("folds") or GROUP_FOLDS)
        return protocol, {"n_splits": max(2, min(want, subjects, cap or want)), "stratify": True, "seed": p.seed,
                          **where}
    if protocol == "holdout":
        return protocol, {**HOLDOUT, "seed": p.seed, **where}
    if protocol == "lodo":
        n = pool["dataset"].nunique()
        if cap and n > cap:
            raise ConfigError(f"lodo runs one fold per dataset: {n} datasets, more than max_folds={cap}; raise it "
                              f"(plan={{'max_folds': {n}}}) or choose another protocol")
        return protocol, where
    raise ConfigError(f"protocol {protocol!r} needs parameters of its own; the study parameter protocol takes "
                      f"{', '.join(PROTOCOLS)}")


def training(p: Params, key: tuple, model: str, lab: pd.DataFrame, protocol: str, protocol_params: Mapping, *,
             name: str | None = None, model_params: Mapping | None = None, pipeline_params: Mapping | None = None,
             config: Mapping | None = None, inputs: tuple[str, ...] | None = None, data: str | None = None,
             classes_as: str = "n_classes") -> TrainingSpec:
    """The :class:`TrainingSpec` of ``model`` on labelled clips ``lab`` under ``protocol``: its pipeline and
    parameters from the model's input spec (``frame_size`` sets the face), its folds and clips counted
    (``melib.protocols.folds``, nothing trained), the model built for the classes the folds hold (passed
    as ``classes_as``: ``n_classes``, or ``classes`` for a model that takes the class names)."""
    fs = protocols.folds(lab, protocol, **protocol_params)
    pool = sorted({int(i) for f in fs for i in (*f.train, *f.test)})
    present = set(lab["label"].iloc[pool])
    order = [c for c in label_schemes.classes(lab.attrs["scheme"]) if c in present]
    mp = {classes_as: order if classes_as == "classes" else len(order), **(model_params or {})}
    baseline = model in estimators.ESTIMATORS
    if baseline:
        mp.pop(classes_as)
        pipeline, pp, spec, epochs, stages = "lbp", {}, {}, None, 1
    else:
        pipeline, pp = model_pipeline(model, p.model_profile, **mp)
        spec = models.input_spec(model, p.model_profile, **mp)
        epochs = train_config(p, model, **(config or {})).epochs
        stages = int(models.paper_training(model).get("stages", 1))
    pp = {**pp, **pipelines.face_params(pipeline, p.frame_size), **(pipeline_params or {})}
    return TrainingSpec(key=tuple(key), name=name or model, model=model, pipeline=pipeline, pipeline_params=pp,
                        protocol=protocol, protocol_params=dict(protocol_params), scheme=lab.attrs["scheme"],
                        model_params=mp, config=dict(config or {}), inputs=inputs, data=data, n_clips=len(pool),
                        n_folds=len(fs), train_clips=sum(len(f.train) for f in fs), epochs=epochs, stages=stages,
                        input_spec=spec)


def execute(p: Params, spec: TrainingSpec, samples: pd.DataFrame, progress: bool = False,
            memo: dict | None = None) -> Run:
    """Run one planned training on ``samples`` (labelled here by ``spec.scheme``): its inputs (on the
    study's device; ``memo`` keeps those of earlier specs with the same pipeline and parameters), then
    ``melib.train.evaluate`` with the profile's trainer (``melib.params.train_config``) and cached records."""
    lab = labelled(samples, spec.scheme)
    key = (spec.pipeline, repr(sorted(spec.pipeline_params.items())), spec.scheme, tuple(lab.index))
    if memo is None or key not in memo:
        with torch_threads(spec.config.get("threads")):
            X, kept, exclusions = pipelines.build_inputs(lab, spec.pipeline, progress=progress, device=p.device,
                                                         **spec.pipeline_params)
        kept_samples = lab.loc[kept]
        kept_samples.attrs = dict(lab.attrs)
        if memo is not None:
            memo[key] = (X, kept_samples, exclusions)
    else:
        X, kept_samples, exclusions = memo[key]
    if not len(kept_samples):
        raise DataError(None, f"clips that {spec.model}'s preprocessing accepts",
                        f"none of {len(lab)} ({len(exclusions)} exclusions)")
    if spec.model in estimators.ESTIMATORS:
        est = estimators.ESTIMATORS[spec.model](**spec.model_params)
        ev = train.evaluate(est, X["features"], kept_samples, spec.protocol,
                            protocol_params=dict(spec.protocol_params), name=spec.name, progress=progress)
    else:
        x = {k: X[k] for k in spec.inputs} if spec.inputs else X
        cfg = train_config(p, spec.model, **{"progress": progress, **spec.config})
        ev = train.evaluate(spec.model, x, kept_samples, spec.protocol, protocol_params=dict(spec.protocol_params),
                            config=cfg, model_params={"profile": p.model_profile, **spec.model_params},
                            name=spec.name, progress=progress)
    return Run(spec.name, spec.protocol, ev, kept_samples, exclusions, spec)


def execute_all(p: Params, specs, samples: pd.DataFrame, progress: bool = False) -> dict[tuple, Run]:
    """:func:`execute` of every spec, sharing their inputs; runs keyed by ``spec.key``."""
    memo: dict = {}
    return {s.key: execute(p, s, samples, progress, memo) for s in specs}


def shared_inputs(p: Params, model: str) -> dict:
    """Input-pipeline settings a model keeps in every chapter, so that one preprocessing cache serves them
    all: PSN's RPCA frames (:data:`RPCA_ON`)."""
    return {"rpca_on": RPCA_ON[p.profile]} if model == "psn" else {}


def method_spec(p: Params, samples: pd.DataFrame, method: str, protocol: str, protocol_params: Mapping,
                inputs: Mapping | None = None, key: tuple | None = None, data: str | None = None,
                model_params: Mapping | None = None, **config_changes) -> TrainingSpec:
    """The TrainingSpec of ``method`` (a key of :data:`BASELINES` or a registered model at ``p``'s model
    profile, built for the classes of ``samples``; ``localregions`` trains both stages) on labelled
    ``samples``; deep models train with ``threads=1`` unless told otherwise. ``inputs``: pipeline settings
    on top of :func:`shared_inputs` (e.g. C3D's ``onset_difference``); ``model_params``: build arguments on
    top of the profile's (deep models only)."""
    if method not in BASELINES and method not in models.names():
        raise ConfigError(f"unknown method {method!r}; use {', '.join(BASELINES)} or a registered model")
    key = key or (method,)
    if method in BASELINES and model_params:
        raise ConfigError(f"{method} takes no model_params (an SVM on LBP features); got {dict(model_params)}")
    if method in BASELINES:
        kind = BASELINES[method]
        return training(p, key, "lbp_svm", samples, protocol, protocol_params, name=f"lbp_{kind}_svm",
                        model_params={"kind": kind}, pipeline_params={"kind": kind}, data=data)
    model = "localregions_2stage" if method == "localregions" else method
    return training(p, key, model, samples, protocol, protocol_params, data=data, model_params=model_params,
                    pipeline_params={**shared_inputs(p, method), **(inputs or {})},
                    config={"threads": 1, **config_changes},
                    classes_as="classes" if model == "localregions_2stage" else "n_classes")


def evaluate_method(p: Params, samples: pd.DataFrame, method: str, protocol: str, protocol_params: Mapping,
                    progress: bool = False, inputs: Mapping | None = None, **config_changes) -> train.Evaluation:
    """:func:`method_spec` run on ``samples`` (:func:`execute`)."""
    return execute(p, method_spec(p, samples, method, protocol, protocol_params, inputs, **config_changes),
                   samples, progress).evaluation


def parts(ev: train.Evaluation) -> pd.DataFrame:
    """Pooled scores on the whole test set (``dataset``: its composite key) and, when it holds several
    datasets, on each one's part (PSN Table 6, CropNet Table 3, LocalRegions Tables 10-11)."""
    by = ev.by_dataset().reset_index()
    names = [d for d in by["dataset"] if d != "all"]
    whole = published.dataset_key(*names)
    by = by if len(names) > 1 else by[by["dataset"] == "all"]
    return by.assign(dataset=by["dataset"].replace({"all": whole})).reset_index(drop=True)


# ---- known-answer sets and their null --------------------------------------------------------------------

def amplitude_root(amplitude: float, home: str | Path | None = None, **synth_params) -> Path:
    """``<home>/data/synth-amp<a>`` (``a`` as ``%g``: 0, 1, 3, 0.5) for the default set's other parameters;
    other ``synth_params`` add a short hash of them (``synth-amp3-1a2b3c4d``), so sets never overwrite
    each other."""
    name = f"synth-amp{float(amplitude):g}"
    if synth_params:
        text = json.dumps(synth_params, sort_keys=True, default=list)
        name += "-" + hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    return Path(home or config.home()) / "data" / name


def amplitude_samples(amplitude: float, seed: int = 0, root: str | Path | None = None, progress: bool = False,
                      layouts: Mapping[str, Mapping] | None = None, **synth_params) -> pd.DataFrame:
    """The samples table of the synthetic set with motion ``amplitude`` (generated on first use at
    :func:`amplitude_root`; the other generator parameters ``synth_params`` as ``melib.synth.generate_default``).
    ``layouts`` ({layout: parameters}): only those layouts, each with its own parameters on top of
    ``synth_params`` (e.g. a paper's subjects and clips per dataset); a layout already there with the same
    parameters is kept."""
    from .. import datasets, synth
    from ..synth.store import read_record

    if layouts is None:
        root = Path(root) if root is not None else amplitude_root(amplitude, **synth_params)
        synth.generate_default(root, seed=seed, progress=progress, amplitude=float(amplitude), **synth_params)
        return datasets.load("synth", root)
    root = Path(root) if root is not None else amplitude_root(amplitude, layouts=layouts, **synth_params)
    for layout, own in layouts.items():
        kw = {**synth_params, **own, "amplitude": float(amplitude)}
        if read_record(root / layout) != synth.spec.resolve(layout, seed, kw) or synth.verify(root / layout):
            synth.generate(root, layout, seed, progress=progress, **kw)
    return datasets.load("synth", root)


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


def scored(ev: train.Evaluation) -> dict:
    """What a stored measurement keeps of a run: pooled UAR and its 99 % null band (:func:`chance_band`), the
    clips, chance (1 / classes), the most frequent prediction and its share, and the collapse label
    (``melib.verdicts.collapsed``; None when the run predicts two classes or more)."""
    from ..verdicts import collapsed_run, top_share

    lo, hi = chance_band(ev)
    top, share = top_share(ev.predictions()["y_pred"])
    return {"uar": round(float(ev.pooled["uar"]), 4), "null_low": round(lo, 4), "null_high": round(hi, 4),
            "n_clips": int(ev.pooled["n"]), "chance": round(1 / len(ev.labels), 4), "top_class": top,
            "top_share": round(share, 3), "collapsed": collapsed_run(ev)}


# ---- late fusion -------------------------------------------------------------------------------------------

def fuse(a: train.Evaluation, b: train.Evaluation, weight: float = A_PAPER,
         name: str | None = None) -> train.Evaluation:
    """Late fusion of two runs on the same folds: O = a P_a + (1 - a) P_b, then argmax (DLHN Eq. 8, a = 0.45).

    Both runs must have per-clip probabilities for the same clips in the same folds (HCRNN and RPRNN).
    """
    train.same_clips(a, b)
    out = []
    lab = np.asarray(a.labels, dtype=object)
    for ra, rb in zip(a.records, b.records):
        if not all("proba" in q for q in ra["predictions"] + rb["predictions"]):
            raise DataError(None, "per-clip probabilities in both runs", "a run without them (an estimator "
                            "without predict_proba)")
        pa = np.array([q["proba"] for q in ra["predictions"]])
        pb = np.array([q["proba"] for q in rb["predictions"]])
        fused = fuse_probabilities(pa, pb, weight)  # DLHN Eq. 8
        preds = [{**q, "y_pred": lab[k], "proba": [float(v) for v in row]}
                 for q, k, row in zip(ra["predictions"], fused.argmax(1), fused)]
        out.append({**ra, "model": name or f"fuse({ra['model']},{rb['model']},{weight})", "run": None,
                    "predictions": preds, "curves": {}, "fused": [ra["run"], rb["run"], weight],
                    "metrics": metrics.scores([q["y_true"] for q in preds], [q["y_pred"] for q in preds], a.labels)})
    return train.Evaluation(out, list(a.labels), None)


# ---- headline rows ---------------------------------------------------------------------------------------

def protocol_name(run: Run) -> str:
    """The run's protocol as shown: ``stratified_kfold(k=10)``, ``loso``."""
    params = run.evaluation.records[0].get("protocol_params") or {}
    k = params.get("n_splits")
    return f"{run.protocol}(k={k})" if k else run.protocol


def chance_of(ev: train.Evaluation, metric: str) -> float:
    """What ``metric`` reaches without learning anything: the majority class's share of the clips for
    accuracy (predicting it everywhere), 1 / classes for UAR and UF1."""
    if metric == "accuracy":
        return float(ev.predictions()["y_true"].value_counts(normalize=True).iloc[0])
    return 1.0 / len(ev.labels)


def headline_row(paper: str, table: str, method: str, run: Run, metric: str, value: float,
                 setting: str | None = None, samples: pd.DataFrame | None = None) -> dict:
    """One headline number of ``paper`` scored by ``run`` (:data:`melib.records.HEADLINE_COLUMNS`): the
    dataset key of its test clips, its label scheme and protocol, the leakage audit's maximum as subject
    overlap (0: subject disjoint), the provenance of ``samples`` (default: the run's clips), the metric's
    chance (:func:`chance_of`) and the collapse label of a run that predicts one class for every clip."""
    from ..verdicts import collapsed_run

    ev = run.evaluation
    return {"paper": paper, "table": table, "method": method,
            "dataset": published.dataset_key(*ev.predictions()["dataset"].unique()), "setting": setting,
            "metric": metric, "value": float(value), "scheme": run.scheme, "protocol": protocol_name(run),
            "subject_overlap": ev.leakage()["leakage_max"], "n_clips": int(ev.pooled["n"]),
            "provenance": report.provenance_label(run.samples if samples is None else samples),
            "chance": chance_of(ev, metric), "collapsed": collapsed_run(ev)}


def headline_frame(paper: str, rows: list[dict]) -> pd.DataFrame:
    """A paper's headline rows as a table (``attrs["paper"]`` names the paper even when there is no row)."""
    out = pd.DataFrame(rows, columns=records.HEADLINE_COLUMNS)
    out.attrs["paper"] = paper
    return out

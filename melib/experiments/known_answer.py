"""The known-answer chapter: every method's UF1 / UAR against the synthetic set's motion amplitude.

The synthetic generator (``melib.synth``) plants the expression as landmark motion of ``amplitude`` pixels at
apex; at ``amplitude=0`` the pixels do not depend on the label at all. A method that works must score near
chance at 0 and clearly above it once the motion is there; a method above chance at 0 leaks labels.

- :func:`amplitude_samples`: generate (once) and load the set of one amplitude, at
  ``<home>/data/synth-amp<a>``.
- :func:`method_spec` / :func:`evaluate_method`: one method (a baseline name of :data:`BASELINES` or a
  registered model) on one set, as a planned training and run.
- :func:`chance_band`: what "near chance" means for a given run: the permutation null of the metric
  (true labels shuffled against the predictions, which keeps both class distributions).
- :func:`settings`: the paper models' known-answer settings (:data:`TRAINING`, :data:`INPUTS`,
  :data:`CONFIG`), shared by the chapter and ``tests/test_known_answer.py``.
- :func:`sweep`: methods x amplitudes -> one long table with bootstrap confidence intervals, the protocol,
  the leakage audit and the provenance on every row (for ``melib.report.amplitude_figure``); serial or in a
  process pool. :func:`run` sweeps the profile's plan (:data:`PLANS`; the notebook's ``amplitudes``,
  ``methods`` and ``known_answer_settings`` are plan keys), :func:`plan` lists its trainings.

Choices (not from the papers): the 3-class MEGC2019 scheme (chance UAR 1/3; the synthetic set has 4:1:1
negative : positive : surprise clips in CASME II and SAMM layouts, 1:1:1 in SMIC's), a subject-disjoint
``group_kfold`` (3 folds by default; ``loso`` on request), percentile bootstrap over clips (1000 draws).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import models, parallel, report, train
from ..errors import ConfigError
from ..params import SYNTH_SEED, data_root, setup
from . import common
from .common import (BASELINES, amplitude_samples, chance_band, execute, labelled, measured_on, method_spec,
                     protocol_for, upsert_csv)
from .common import amplitude_root, null_distribution  # noqa: F401  (the chapter's, re-exported)
from .contract import Chapter

AMPLITUDES = (0.0, 1.0, 3.0)
# each paper's main model (registered names; DLHN's fusion is dlhn)
PAPER_MODELS = ("dlhn", "psn", "c3d_model_a", "cropnet", "localregions")
METHODS = (*BASELINES, *PAPER_MODELS)
SCHEME = "megc2019"
PROTOCOL = "group_kfold"
PROTOCOL_PARAMS = {"n_splits": 3, "seed": 0}  # subject-disjoint, not stratified (the chapter's measurements)


# The set each profile sweeps (melib.synth.generate_default parameters; None: the profile's own set's), its
# methods and process-pool size. Default: 5 subjects per layout, 7 clips each, 12-16 frames of 256x192 (105
# clips, 95 with a MEGC2019 label; tests/test_known_answer.py checks every method on the same set), every
# method at amplitudes 0 and 3 on both cores (3.6 minutes cold); the paper profile adds amplitude 1. On 3
# subjects per layout (57 labelled clips) DLHN reached only 0.43 at amplitude 3 (null band up to 0.46).
KA_SYNTH = {"subjects": 5, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
FAST_METHODS = ("lbp_top_svm", "lbp_sip_svm", "psn", "c3d_model_a")
_PLAN = {"folds": 3, "known_answer_settings": True}
PLANS = {"smoke": {**_PLAN, "amplitudes": (0.0, 3.0), "methods": FAST_METHODS, "synth": None, "n_jobs": 1},
         "default": {**_PLAN, "amplitudes": (0.0, 3.0), "methods": METHODS, "synth": KA_SYNTH, "n_jobs": 2},
         "paper": {**_PLAN, "amplitudes": AMPLITUDES, "methods": METHODS, "synth": {}, "n_jobs": 1}}


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
    epoch, and epochs the notebook set win); nothing for the baselines."""
    if method in BASELINES:
        return {}
    keep_epochs = p.profile == "smoke" or "epochs" in p.given
    training_ = {k: v for k, v in TRAINING.items() if not (k == "epochs" and keep_epochs)}
    return {"inputs": INPUTS.get(method), **training_, **CONFIG.get(method, {})}


def sweep_settings(p, **changes) -> dict:
    """The chapter's plan under ``p`` (:data:`PLANS`, the ``plan`` parameter, then ``changes``: amplitudes,
    methods (``"all"``: :data:`METHODS`), synth, n_jobs, known_answer_settings, folds)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    st = CHAPTER.settings(p, **changes)
    st["amplitudes"] = tuple(float(a) for a in st["amplitudes"])
    st["methods"] = METHODS if st["methods"] == "all" else tuple(st["methods"])
    return st


def protocol_params_of(p, protocol: str, lab: pd.DataFrame, folds: int | None = None) -> dict:
    """The chapter's parameters of ``protocol``: :data:`PROTOCOL_PARAMS` (``folds`` subject-disjoint folds,
    the study seed) for its own ``group_kfold``, else ``common.protocol_for``'s."""
    if protocol == PROTOCOL:
        return {**PROTOCOL_PARAMS, "n_splits": int(folds or PROTOCOL_PARAMS["n_splits"]), "seed": p.seed}
    return protocol_for(p, protocol, lab, {"folds": folds})[1]


def evaluate_method(p, samples: pd.DataFrame, method: str, protocol: str = PROTOCOL,
                    protocol_params: dict | None = None, progress: bool = False, inputs: dict | None = None,
                    **config_changes) -> train.Evaluation:
    """``common.evaluate_method`` under the chapter's protocol by default (:data:`PROTOCOL_PARAMS`)."""
    if protocol_params is None and protocol == PROTOCOL:
        protocol_params = dict(PROTOCOL_PARAMS)
    return common.evaluate_method(p, samples, method, protocol, protocol_params, progress, inputs, **config_changes)


def chance(ev: train.Evaluation) -> float:
    """Expected UAR (and about the UF1) of a classifier that ignores its input: 1 / number of classes."""
    return 1.0 / len(ev.labels)


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


def _sets(p, amplitudes, scheme: str, synth_params: dict | None, progress: bool = False) -> dict[float, pd.DataFrame]:
    """The labelled set of each amplitude: the profile's own set when it is that one (its preprocessing is
    then shared with the other chapters), else :func:`amplitude_samples`."""
    from .. import synth

    synth_params = dict(p.synth or {}) if synth_params is None else dict(synth_params)
    sets = {}
    for a in amplitudes:
        own = (p.data == "synth" and synth_params == dict(p.synth or {}) and p.seed == SYNTH_SEED
               and float(a) == float(synth.DEFAULTS["amplitude"]))
        root = data_root(p) if own else None
        sets[float(a)] = labelled(amplitude_samples(a, seed=p.seed, root=root, progress=progress, **synth_params),
                                  scheme)
    return sets


def _check_methods(methods) -> None:
    unknown = [m for m in methods if m not in BASELINES and m not in models.names()]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; use {', '.join(BASELINES)} or a registered model")


def _specs(p, sets: dict, methods, protocol: str, protocol_params: dict | None, known_answer_settings: bool,
           config_changes: dict, folds: int | None = None) -> list:
    _check_methods(methods)
    specs = []
    for a, lab in sets.items():
        pp = protocol_params if protocol_params is not None else protocol_params_of(p, protocol, lab, folds)
        for m in methods:
            kw = {**(settings(p, m) if known_answer_settings else {}), **config_changes}
            specs.append(method_spec(p, lab, m, protocol, pp, key=(m, a), data=f"amplitude {a:g}", **kw))
    return specs


def sweep(p, amplitudes: Sequence[float] = AMPLITUDES, methods: Sequence[str] = METHODS,
          scheme: str = SCHEME, protocol: str = PROTOCOL, protocol_params: dict | None = None,
          synth_params: dict | None = None, progress: bool = False, known_answer_settings: bool = True,
          n_jobs: int = 1, folds: int | None = None, sets: dict | None = None,
          **config_changes) -> tuple[pd.DataFrame, dict]:
    """Every method on the set of every amplitude (:func:`amplitude_samples` with ``synth_params``, default
    the profile's own ``p.synth``), each with its known-answer :func:`settings` (``known_answer_settings=False``:
    the profile's own) and ``config_changes`` on top. ``n_jobs`` > 1 runs the (method, amplitude) pairs in a
    process pool (``melib.parallel``; each deep model trains on one thread). Returns ``(rows, evaluations)``:
    the rows of :func:`result_rows` and ``evaluations[(method, amplitude)]``. ``sets``: the labelled clips of
    each amplitude when the caller has them already ({amplitude: clips}, one per amplitude)."""
    from ..report import provenance_label

    if sets is not None and set(sets) != {float(a) for a in amplitudes}:
        raise ConfigError(f"sets are for amplitudes {sorted(sets)}, not the sweep's {sorted(map(float, amplitudes))}")

    _check_methods(methods)
    sets = sets if sets is not None else _sets(p, amplitudes, scheme, synth_params, progress)
    specs = _specs(p, sets, methods, protocol, protocol_params, known_answer_settings, config_changes, folds)
    env = {k: v for k, v in os.environ.items() if k.startswith("MELIB_")}
    done = parallel.run_all(_evaluate_task, specs, shared=dict(p=p, sets=sets, env=env), n_jobs=n_jobs,
                            progress=progress, desc="known answers")
    rows, evals = [], {}
    for spec, ev in zip(specs, done):
        m, a = spec.key
        evals[(m, a)] = ev
        rows += result_rows(ev, m, a, protocol, provenance_label(sets[a]))
    return pd.DataFrame(rows), evals


def _evaluate_task(spec, p, sets, env) -> train.Evaluation:
    """One (method, amplitude) of :func:`sweep`, in this process or a pool worker (given the caller's
    ``MELIB_*`` environment, since a reused worker may have started under another)."""
    for k in [k for k in os.environ if k.startswith("MELIB_")]:
        del os.environ[k]
    os.environ.update(env)
    return execute(p, spec, sets[spec.key[1]]).evaluation


def plan(p, samples: pd.DataFrame | None = None, **changes) -> list:
    """Every (method, amplitude) training of the plan (:func:`sweep_settings`; the amplitude sets are
    generated when missing). ``samples`` is not used: the chapter makes its own sets."""
    st = sweep_settings(p, **changes)
    sets = _sets(p, st["amplitudes"], p.scheme or SCHEME, st["synth"])
    return _specs(p, sets, st["methods"], p.protocol or PROTOCOL, None, st["known_answer_settings"],
                  CHAPTER.trainer(p, st), st["folds"])


def data(p, name: str) -> pd.DataFrame:
    """The labelled clips of a planned training's ``data`` (``"amplitude 3"``): that amplitude's set."""
    st = sweep_settings(p)
    for a in st["amplitudes"]:
        if name == f"amplitude {a:g}":
            return _sets(p, (a,), p.scheme or SCHEME, st["synth"])[a]
    raise ConfigError(f"no set {name!r} in the known-answer plan (amplitudes {st['amplitudes']})")


@dataclass
class Result:
    """:func:`sweep`'s rows and evaluations, and the plan they ran."""
    rows: pd.DataFrame
    evaluations: dict
    settings: dict
    samples: pd.DataFrame | None = None  # the largest amplitude's labelled clips

    def summary(self) -> pd.DataFrame:
        return table(self.rows)


def run(p, samples: pd.DataFrame | None = None, *, progress: bool = False, **changes) -> Result:
    """The sweep of the chapter's plan (:func:`sweep_settings`), under the notebook's scheme and protocol."""
    st = sweep_settings(p, **changes)
    sets = _sets(p, st["amplitudes"], p.scheme or SCHEME, st["synth"], progress)
    rows, evals = sweep(p, st["amplitudes"], st["methods"], scheme=p.scheme or SCHEME,
                        protocol=p.protocol or PROTOCOL, synth_params=st["synth"], progress=progress,
                        known_answer_settings=st["known_answer_settings"], n_jobs=st["n_jobs"], folds=st["folds"],
                        sets=sets, **CHAPTER.trainer(p, st))
    return Result(rows, evals, st, sets[max(sets)])


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


def finding(df: pd.DataFrame, metric: str = "uar", known_answer_settings: bool = True) -> str:
    """:func:`verdict` in a sentence: which methods stay in their null band at amplitude 0 and rise above it at
    the largest amplitude, and which do not, with the settings, data, protocol and subject overlap they ran
    under (``known_answer_settings``: :func:`settings`, else the profile's own)."""
    v = verdict(df, metric)
    if v.empty:
        return ""
    ok = v.get("chance at 0", pd.Series(True, index=v.index)).fillna(False).astype(bool) & \
        v.get("above chance at top", pd.Series(False, index=v.index)).fillna(False).astype(bool)
    top = df["amplitude"].max()
    runs = df[df["metric"] == metric]
    said = (f"{int(ok.sum())} of {len(v)} methods learn the planted motion ({metric.upper()} inside its 99 % null "
            f"band at amplitude 0, above it at {top:g} px)")
    if ok.any():
        said += ": " + ", ".join(f"`{m}` {v.loc[m, 'at top']:.2f}" for m in v.index[ok])
    if (~ok).any():
        said += "; not: " + ", ".join(f"`{m}`" for m in v.index[~ok])
    overlap = float(runs["leakage_max"].max())
    how = "Known-answer settings" if known_answer_settings else "The profile's own settings"
    return (said + f". {how}, {int(runs['n_clips'].max())} clips per amplitude, protocol "
            f"`{runs['protocol'].iloc[0]}`, " + (f"subject overlap up to {overlap:.0%}." if overlap > 0 else
                                                "subject-disjoint folds."))


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


# ---- how far one seed is from another -------------------------------------------------------------------

SEEDS_FILE = Path(__file__).resolve().parents[1] / "data" / "known_answer_seeds.csv"
SEED_COLUMNS = ("method", "amplitude", "seed", "uar", "null_low", "null_high", "n_clips", "protocol", "device",
                "torch", "date", "commit")


def seed_spread(methods: Sequence[str] = PAPER_MODELS, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                amplitudes: Sequence[float] = (3.0, 0.0), out: str | Path | None = SEEDS_FILE,
                progress: bool = False) -> pd.DataFrame:
    """Each method's known-answer run (default profile, :func:`settings`, the :data:`KA_SYNTH` sets of seed 0,
    the chapter's 3 subject-disjoint folds) under every study ``seed`` (initialisation and batch order): pooled
    UAR and 99 % null band, with where and when it ran; each row is added to ``out`` as it is measured
    (None: not saved). A threshold measured on one seed must leave the room these spreads show
    (``tests/test_known_answer.py``)."""
    sets = {float(a): labelled(amplitude_samples(a, seed=0, **KA_SYNTH), SCHEME) for a in amplitudes}
    rows = []
    for s in seeds:
        p = setup("default", seed=int(s))
        for m in methods:
            for a, lab in sets.items():
                ev = evaluate_method(p, lab, m, progress=progress, **settings(p, m))
                lo, hi = chance_band(ev)
                rows.append({"method": m, "amplitude": a, "seed": int(s), "uar": round(ev.pooled["uar"], 4),
                             "null_low": round(lo, 4), "null_high": round(hi, 4), "n_clips": int(ev.pooled["n"]),
                             "protocol": f"{PROTOCOL}(k={PROTOCOL_PARAMS['n_splits']})", **measured_on(p.device)})
                if out is not None:
                    upsert_csv(rows[-1:], out, ("method", "amplitude", "seed", "device"), SEED_COLUMNS,
                               sort=("method", "amplitude", "seed"))
    return pd.DataFrame(rows, columns=list(SEED_COLUMNS))


def seed_table(path: str | Path = SEEDS_FILE) -> pd.DataFrame:
    """The stored seed spreads (:func:`seed_spread`) per method and amplitude: UAR lowest, mean and highest
    over the seeds, the widest null band's top, the lowest margin above it, where and when measured."""
    if not Path(path).is_file():  # none measured yet
        return pd.DataFrame(columns=["method", "amplitude", "seeds", "uar_min", "uar_mean", "uar_max",
                                     "null_high_max", "margin_min", "device", "date", "commit"])
    d = pd.read_csv(path)
    d["margin"] = d["uar"] - d["null_high"]
    g = d.groupby(["method", "amplitude"], sort=False)
    out = g.agg(seeds=("seed", "nunique"), uar_min=("uar", "min"), uar_mean=("uar", "mean"), uar_max=("uar", "max"),
                null_high_max=("null_high", "max"), margin_min=("margin", "min"), device=("device", "first"),
                date=("date", "max"), commit=("commit", "first"))
    return out.reset_index()


CHAPTER = Chapter(
    name="known_answer", notebook="40_known_answer", paper=None, schemes=(SCHEME, "c3d", "pnso"), scheme=SCHEME,
    protocols=("group_kfold", "loso", "stratified_kfold", "holdout"), protocol=PROTOCOL,
    parameters=("profile", "scheme", "protocol", "epochs", "seed", "device", "plan"),
    plans=PLANS, plan=plan, run=run, data=data,
    tables={"known answers": lambda r: table(r.rows), "verdict": lambda r: verdict(r.rows),
            "published": lambda r: beside_published(r.rows)},
    figures={"amplitudes": lambda r: report.amplitude_figure(r.rows)}, summary=Result.summary)


def main(argv=None) -> None:
    """``python -m melib.experiments.known_answer seeds [--methods ...] [--seeds ...] [--amplitudes ...]``"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m melib.experiments.known_answer",
                                 description="known-answer runs of each method under several study seeds")
    ap.add_argument("what", choices=("seeds",))
    ap.add_argument("--methods", nargs="*", default=list(PAPER_MODELS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--amplitudes", nargs="*", type=float, default=[3.0, 0.0])
    ap.add_argument("--out", default=str(SEEDS_FILE))
    a = ap.parse_args(argv)
    seed_spread(a.methods, a.seeds, a.amplitudes, a.out)
    print(seed_table(a.out).to_string())


if __name__ == "__main__":
    sys.exit(main())

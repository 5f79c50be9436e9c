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
from .common import (BASELINES, amplitude_samples, chance_band, execute, labelled, method_spec, protocol_for,
                     scored)
from .common import amplitude_root, null_distribution  # noqa: F401  (the chapter's, re-exported)
from .contract import Chapter

AMPLITUDES = (0.0, 1.0, 3.0)
# each paper's main model (registered names; DLHN's fusion is dlhn)
PAPER_MODELS = ("dlhn", "psn", "c3d_model_a", "cropnet", "localregions")
# the MEGC2019 composite's standard methods: measured on the known answer (ledger), not swept by the chapter
COMPOSITE_MODELS = ("ststnet", "off_apexnet")
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
# CropNet: its Table 4 optical-flow input (Farneback onset -> apex) instead of the ARS image: on ARS the
# known-answer trainer learnt, but not surely (seeds 0-2: 0.46-0.59 on an Intel Xeon, 0.45 under seed 0 on an AMD
# EPYC, band tops 0.41-0.49); ARS wraps every negative residual to about 255 (CropNet Eq. 5), RRS 0.51 (AMD, seed 0).
INPUTS = {"c3d_model_a": {"onset_difference": True, "scale": "clip_sd"},
          "localregions": {"onset_difference": True, "scale": "clip_sd"},
          "cropnet": {"kind": "farneback"}}
# Trainer changes on top of TRAINING: CropNet memorised its training clips at lr 1e-3, batch 16 (AdamP, from
# scratch); LocalRegions took 2 optimiser steps an epoch at batch 32; STSTNet's own recipe (Adam 5e-5, batch 256)
# takes one step an epoch on this set (deviation ststnet-training).
CONFIG = {"cropnet": {"lr": 1e-2, "batch_size": 8, "weight_decay": 0.05}, "localregions": {"batch_size": 8},
          "ststnet": {"lr": 1e-3, "batch_size": 16}}


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
    """One row per metric: value with its bootstrap CI, the chance level, the null band, the leakage audit and
    the collapse label (``melib.verdicts.collapsed``: None unless every clip gets one class)."""
    from ..verdicts import collapsed_run

    rows = []
    leak = ev.leakage()
    gone = collapsed_run(ev)
    for m in metrics_:
        ci = ev.ci(m, n_boot=n_boot)
        lo, hi = chance_band(ev, m)
        rows.append({"method": method, "amplitude": float(amplitude), "metric": m, "value": ci["value"],
                     "ci_low": ci["low"], "ci_high": ci["high"], "chance": chance(ev), "null_low": lo,
                     "null_high": hi, "n_classes": len(ev.labels), "n_clips": ev.pooled["n"],
                     "n_folds": len(ev.records), "protocol": protocol, **leak, "provenance": provenance,
                     "collapsed": gone})
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
    """Per method, its runs at each amplitude together (one per seed): the verdict by rule
    (``melib.verdicts.known_answer``: "learns" needs at least 3 seeds above their 99 % null bands at the largest
    amplitude by the stated margin and every seed inside its band at 0), the mean value and widest null band at
    0 and at the largest amplitude, whether every seed is inside its band at 0 and above it at the top, and the
    collapse label of a run that predicts one class for every clip."""
    from ..verdicts import known_answer, verdict_of

    d = df[df["metric"] == metric]
    rows = []
    for m, g in d.groupby("method", sort=False):
        top = float(g["amplitude"].max())
        t, z = g[g["amplitude"] == top], g[g["amplitude"] == 0.0]
        vt = verdict_of(t, "value")
        vz = verdict_of(z, "value") if top > 0 and len(z) else None
        word, text = known_answer(vt, vz, top)
        row = {"method": m, "metric": metric, "verdict": word, "seeds": vt.seeds}
        if vz is not None:
            row.update({"at 0": vz.mean, "null band at 0": f"[{z['null_low'].min():.3f}, {vz.top:.3f}]",
                        "chance at 0": vz.inside == vz.seeds})
        row.update({"top amplitude": top, "at top": vt.mean, "null band at top": f"[{t['null_low'].min():.3f}, "
                    f"{vt.top:.3f}]", "above chance at top": vt.above == vt.seeds,
                    "collapsed at top": next((c for c in t.get("collapsed", ()) if isinstance(c, str)), None),
                    "verdict with its numbers": text})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


RULE = ("by rule: at least 3 seeds, each above its 99 % null band at {top:g} px and their mean {margin:g} above "
        "the highest band top, and every seed inside its band at 0")


def finding(df: pd.DataFrame, metric: str = "uar", known_answer_settings: bool = True) -> str:
    """:func:`verdict` in a sentence: which methods learn the planted motion by rule, which do not, which are
    undecided (with their numbers) and which collapsed onto one class, with the settings, data, protocol and
    subject overlap they ran under (``known_answer_settings``: :func:`settings`, else the profile's own)."""
    from ..verdicts import MARGIN

    v = verdict(df, metric)
    if v.empty:
        return ""
    top = df["amplitude"].max()
    runs = df[df["metric"] == metric]
    said = (f"{int((v['verdict'] == 'learns').sum())} of {len(v)} methods learn the planted motion "
            f"({RULE.format(top=top, margin=MARGIN)})")
    learn = v.index[v["verdict"] == "learns"]
    if len(learn):
        said += ": " + ", ".join(f"`{m}` {v.loc[m, 'at top']:.2f}" for m in learn)
    no = v.index[v["verdict"] == "does not learn"]
    if len(no):
        said += "; do not learn: " + ", ".join(f"`{m}`" for m in no)
    open_ = v[v["verdict"] == "undecided"]
    if len(open_):
        said += "; undecided: " + ", ".join(
            f"`{m}` {r['at top']:.2f} at {top:g} px (band top {r['null band at top'].split(', ')[1][:-1]}"
            + (f", {r['at 0']:.2f} at 0, band {r['null band at 0']}" if "at 0" in r and pd.notna(r["at 0"]) else "")
            + f"; {r['seeds']} seed{'s' * (r['seeds'] != 1)})" for m, r in open_.iterrows())
    gone = v[v["collapsed at top"].notna()] if "collapsed at top" in v else v.iloc[:0]
    if len(gone):
        said += ". At " + f"{top:g} px " + "; ".join(f"`{m}` is {r['collapsed at top']}" for m, r in gone.iterrows())
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
    with chance, protocol, leakage, provenance and collapse columns."""
    d = df.copy()
    d["cell"] = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in zip(d["value"], d["ci_low"], d["ci_high"])]
    wide = d.pivot_table(index=["method", "amplitude"], columns="metric", values="cell", aggfunc="first",
                         sort=False)
    wide.columns = [f"{c.upper()} [95% CI]" for c in wide.columns]
    keep = d.drop_duplicates(["method", "amplitude"]).set_index(["method", "amplitude"])
    extra = keep[[c for c in ("chance", "n_clips", "protocol", "leakage_max", "provenance", "collapsed") if c in keep]]
    return wide.join(extra)


# ---- how far one seed is from another -------------------------------------------------------------------

SEEDS_FILE = Path(__file__).resolve().parents[1] / "data" / "known_answer_seeds.csv"
SEED_COLUMNS = ("method", "amplitude", "seed", "uar", "null_low", "null_high", "n_clips", "protocol", "device",
                "torch", "date", "commit")


def seed_run(lab: pd.DataFrame, method: str, amplitude: float, seed: int) -> dict:
    """One known-answer run of ``method`` (default profile, :func:`settings`, the chapter's 3 subject-disjoint
    folds) on labelled ``lab`` under study ``seed``: ``common.scored`` and the protocol (the ledger's
    ``known_answer_seeds`` unit; ``amplitude`` names the set)."""
    p = setup("default", seed=int(seed))
    ev = evaluate_method(p, lab, method, **settings(p, method))
    return {**scored(ev), "protocol": f"{PROTOCOL}(k={PROTOCOL_PARAMS['n_splits']})"}


def seed_spread(methods: Sequence[str] = PAPER_MODELS, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                amplitudes: Sequence[float] = (3.0, 0.0), force: bool = False) -> pd.DataFrame:
    """Each method's known-answer run (:func:`seed_run`, the :data:`KA_SYNTH` sets of seed 0) under every study
    ``seed``, each a record of the ledger's ``known_answer_seeds`` as soon as it is measured (a unit with a
    current record is not run again unless ``force``; ``SEEDS_FILE`` is the records' view). A threshold
    measured on one seed must leave the room these spreads show (``tests/test_known_answer.py``)."""
    from .. import ledger

    rows = [{**(r := ledger.run("known_answer_seeds", {"method": m, "amplitude": float(a), "seed": int(s)},
                                force=force))["params"], **r["result"]}
            for s in seeds for m in methods for a in amplitudes]
    return pd.DataFrame(rows)


def seed_table(root: str | Path | None = None) -> pd.DataFrame:
    """The stored seed spreads (:func:`seed_spread`, the ledger's records) per method and amplitude: UAR lowest,
    mean and highest over the seeds, the widest null band's top, the lowest margin above it, the verdict by
    rule (``melib.verdicts.verdict``), where and when measured and the records' state (the worst of them)."""
    from .. import ledger
    from ..verdicts import verdict_of

    d = ledger.table("known_answer_seeds", root)
    cols = ["method", "amplitude", "seeds", "uar_min", "uar_mean", "uar_max", "null_high_max", "margin_min",
            "verdict", "device", "date", "commit", "record"]
    if not len(d):  # none measured yet
        return pd.DataFrame(columns=cols)
    d["margin"] = d["uar"] - d["null_high"]
    g = d.groupby(["method", "amplitude", "device"], sort=False)
    out = g.agg(seeds=("seed", "nunique"), uar_min=("uar", "min"), uar_mean=("uar", "mean"), uar_max=("uar", "max"),
                null_high_max=("null_high", "max"), margin_min=("margin", "min"),
                date=("date", "max"), commit=("commit", lambda c: "/".join(sorted(set(map(str, c))))))
    out["verdict"] = [verdict_of(t).text() for _, t in g]
    rank = {s: i for i, s in enumerate(ledger.STATES)}
    out["record"] = [t.loc[t["state"].map(rank).idxmax(), "record"] for _, t in g]
    return out.reset_index()[cols]


CHAPTER = Chapter(
    name="known_answer", notebook="40_known_answer", paper=None, schemes=(SCHEME, "c3d", "pnso"), scheme=SCHEME,
    protocols=("group_kfold", "loso", "stratified_kfold", "holdout"), protocol=PROTOCOL,
    parameters=("profile", "scheme", "protocol", "epochs", "seed", "device", "plan"),
    plans=PLANS, plan=plan, run=run, data=data,
    tables={"known answers": lambda r: table(r.rows), "verdict": lambda r: verdict(r.rows),
            "published": lambda r: beside_published(r.rows)},
    figures={"amplitudes": lambda r: report.amplitude_figure(r.rows)}, summary=Result.summary)


def main(argv=None) -> None:
    """``python -m melib.experiments.known_answer seeds [--methods ...] [--seeds ...] [--amplitudes ...]``
    (through the ledger: ``python -m melib.ledger run known_answer_seeds`` runs its sweep)"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m melib.experiments.known_answer",
                                 description="known-answer runs of each method under several study seeds")
    ap.add_argument("what", choices=("seeds",))
    ap.add_argument("--methods", nargs="*", default=list(PAPER_MODELS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--amplitudes", nargs="*", type=float, default=[3.0, 0.0])
    ap.add_argument("--force", action="store_true", help="run again what has a current ledger record")
    a = ap.parse_args(argv)
    seed_spread(a.methods, a.seeds, a.amplitudes, a.force)
    print(seed_table().to_string())


if __name__ == "__main__":
    sys.exit(main())

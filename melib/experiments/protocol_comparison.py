"""The protocols chapter: how the evaluation protocol moves the numbers and the ranking of the same methods.

The papers evaluate differently: LOSO (CropNet 4.3, LocalRegions 4.5), sample-level stratified k-fold (DLHN
4.1, PSN 3.2, C3D 8.2) and single train-test splits (C3D 8.1, whose Fig. 4 shows the accuracy swinging over
random splits). Here the same methods run under each on the same clips, with the leakage audit (the share
of test clips whose subject is also in training, ``melib.protocols.audit``) beside every number:

- :func:`compare`: methods x protocols (:func:`protocol_specs`) -> one table, scores pooled over folds and
  the mean and std of per-fold scores, leakage mean and max.
- :func:`ranking`: the methods' rank under each protocol.
- :func:`holdout_spread` / :func:`spread_figure`: the per-seed scores of the repeated holdout (C3D Fig. 4)
  and :func:`spread_beside_published` beside C3D Sec. 8.1's best and worst split.
- :func:`cross_dataset`: train on each layout, test on each other (the diagonal: LOSO inside the layout);
  :func:`cross_matrix` as a train x test matrix, :func:`cross_beside_published` beside LocalRegions
  Table 12.
- What a leaky protocol is worth on a known answer (:func:`leak_specs`, :func:`leak_rows`,
  :func:`leak_table`, :func:`leak_figure`): at motion amplitude 0 (the pixels say nothing about the label),
  with the generator's ``subject_label_dependence`` d (some subjects show mostly one class, as in the
  releases; ``melib.synth``), each method under LOSO and under sample-level stratified k-fold, over
  :data:`LEAK_DEPENDENCE` and several label draws (``label_seed``: the frames stay identical, only who shows
  which label changes). k-fold puts a subject's clips in training and test, so it learns "this face -> this
  label" and rises above chance with d; LOSO cannot, and at large d goes *below* chance: the held-out
  subject's class is rare or missing in its training part. The null band is the 99 % permutation band of
  each run with labels permuted within each layout (whose class mix the pixels do show), not within subjects.

Methods are the baselines' names of :data:`melib.experiments.common.BASELINES` or registered models
(default profile; deep models train with ``threads=1``). ``result = protocol_comparison.run(p, samples)``
runs the plan (:func:`plan`: every method under every protocol, then across datasets). Choices: the
MEGC2019 3-class scheme by default (it is the one whose classes exist in every layout, so cross-dataset runs
are possible; ``scheme`` may name another); holdout test share 0.2, not stratified (C3D states neither,
``melib.protocols``); 5 seeds as in C3D 8.1 (plan key ``n_seeds``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import published, synth
from ..errors import ConfigError
from ..report import provenance_label
from .common import (amplitude_samples, chance_band, evaluate_method, execute, execute_all, kfold_splits,
                     labelled, method_spec)
from .contract import Chapter

SCHEME = "megc2019"
METHODS = ("lbp_top_svm", "psn")
N_SEEDS = 5  # C3D 8.1: five random splits
TEST_SIZE = 0.2
# The leak study (#12.3): subject-label dependence d, label draws, methods, and the amplitude-0 set's size (the
# known-answer chapter's: 5 subjects per layout, 7 clips each, 12-16 frames of 256x192; its frames are those
# of every d and draw, so their features are computed once). LBP-TOP + SVM by default: a deep model under
# LOSO trains 15 folds per (d, draw).
LEAK_DEPENDENCE = (0.0, 0.25, 0.5, 0.75, 1.0)
LEAK_SEEDS = (0, 1, 2)
LEAK_SYNTH = {"subjects": 5, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
_LEAK = {"leak_methods": ("lbp_top_svm",), "leak_dependence": LEAK_DEPENDENCE, "leak_seeds": LEAK_SEEDS,
         "leak_synth": LEAK_SYNTH}
PLANS = {profile: {"folds": 10, "methods": METHODS, "n_seeds": N_SEEDS, **_LEAK} for profile in ("default", "paper")}
PLANS["smoke"] = {"folds": 10, "methods": METHODS, "n_seeds": N_SEEDS, **_LEAK, "leak_dependence": (0.0, 1.0),
                  "leak_seeds": (0,), "leak_synth": {**LEAK_SYNTH, "subjects": 3}}


def protocol_specs(samples: pd.DataFrame, n_splits: int = 10, n_seeds: int = N_SEEDS,
                   test_size: float = TEST_SIZE, seed: int = 0) -> list[tuple[str, str, dict]]:
    """(label, protocol, params) of LOSO, stratified k-fold (fewer folds than ``n_splits`` when the rarest
    class of labelled ``samples`` has fewer clips) and the holdout repeated over ``n_seeds`` seeds."""
    k = kfold_splits(samples, n_splits)
    return [("LOSO", "loso", {}),
            (f"stratified {k}-fold", "stratified_kfold", {"n_splits": k, "seed": seed}),
            (f"holdout {test_size:g} x {n_seeds} seeds", "holdout",
             {"test_size": test_size, "n_repeats": n_seeds, "seed": seed})]


def compare(p, samples: pd.DataFrame, methods: Sequence[str] = METHODS, specs=None, scheme: str = SCHEME,
            progress: bool = False, evaluations: Mapping | None = None, **config_changes) -> tuple[pd.DataFrame, dict]:
    """Every method under every protocol of ``specs`` (default :func:`protocol_specs`) on ``samples``
    labelled by ``scheme`` (``evaluations``: those already run, by (method, label)). Returns ``(table,
    evaluations)``, ``evaluations[(method, label)]``."""
    lab = labelled(samples, scheme)
    prov = provenance_label(lab)
    specs = specs or protocol_specs(lab, seed=p.seed)
    rows, evals = [], {}
    for label, protocol, params in specs:
        for m in methods:
            ev = (evaluations or {}).get((m, label)) or evaluate_method(p, lab, m, protocol, params, progress=progress,
                                                                         **config_changes)
            evals[(m, label)] = ev
            s = ev.summary()
            rows.append({"method": m, "protocol": label, "n_folds": s["n_folds"], "n_clips": s["n_clips"],
                         **{k: s[k] for k in ("accuracy", "uf1", "uar", "accuracy_mean", "accuracy_std",
                                              "uf1_mean", "uf1_std", "leakage_mean", "leakage_max")},
                         "provenance": prov})
    return pd.DataFrame(rows), evals


def ranking(table: pd.DataFrame, metric: str = "uf1") -> pd.DataFrame:
    """Rank of each method (1 = best ``metric``) under each protocol: rows protocol, columns method."""
    wide = table.pivot_table(index="protocol", columns="method", values=metric, sort=False)
    return wide.rank(axis=1, ascending=False, method="min").astype(int)


def holdout_spread(evals: Mapping, label: str | None = None) -> pd.DataFrame:
    """Per-seed scores of the repeated holdout: one row per method and seed (the holdout label of
    :func:`protocol_specs` unless ``label``)."""
    rows = []
    for (m, lab), ev in evals.items():
        if (label is None and not lab.startswith("holdout")) or (label is not None and lab != label):
            continue
        f = ev.folds()
        rows += [{"method": m, "seed": r["fold_name"], "accuracy": r["accuracy"], "uf1": r["uf1"],
                  "uar": r["uar"], "leakage": r["leakage"], "n_test": r["n_test"]} for _, r in f.iterrows()]
    if not rows:
        raise ConfigError("no holdout runs among the evaluations")
    return pd.DataFrame(rows)


def spread_figure(spread: pd.DataFrame, metric: str = "accuracy", title: str | None = None):
    """Per-seed ``metric`` of each method (points) and its range (bar), cf. C3D Fig. 4."""
    methods = list(dict.fromkeys(spread["method"]))
    fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2.5, 3.4))
    for i, m in enumerate(methods):
        v = spread.loc[spread["method"] == m, metric].to_numpy(dtype=float)
        ax.vlines(i, v.min(), v.max(), color="lightgrey", lw=8)
        ax.plot(np.full(len(v), i), v, "o", ms=5)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"{metric} over holdout seeds")
    fig.tight_layout()
    return fig


def spread_beside_published(spread: pd.DataFrame, provenance: str, metric: str = "accuracy") -> pd.DataFrame:
    """Best and worst split and their gap per method beside C3D Sec. 8.1 (Split Model, five splits of CASME
    II: best 85.2 %, worst 45.0 %). Columns as ``report.side_by_side`` plus ``study_method``."""
    from ..report import side_by_side

    pub = published.table("C3D", "Sec. 8.1")
    split = pub[pub["method"] == "Split Model"]["value"].astype(float)
    prov = split.index.map(pub["provenance"]).tolist()[0]
    pub_rows = pd.DataFrame({"statistic": ["best split", "worst split", "best - worst"], "metric": metric,
                             "value": [split.max(), split.min(), split.max() - split.min()], "provenance": prov})
    out = []
    for m, g in spread.groupby("method", sort=False):
        v = g[metric].astype(float)
        mine = pd.DataFrame({"statistic": ["best split", "worst split", "best - worst"], "metric": metric,
                             "value": [v.max(), v.min(), v.max() - v.min()], "provenance": provenance})
        out.append(side_by_side(mine, pub_rows, on=["statistic", "metric"]).assign(
            study_method=m, published_method="C3D Split Model (CASME II)", n_seeds=len(v),
            leakage_max=float(g["leakage"].max())))
    return pd.concat(out, ignore_index=True)


def cross_dataset(p, samples: pd.DataFrame, method: str, scheme: str = SCHEME,
                  datasets: Sequence[str] | None = None, progress: bool = False, evaluations: Mapping | None = None,
                  **config_changes) -> pd.DataFrame:
    """``method`` trained on each dataset and tested on each other (``cross_dataset``); the diagonal is LOSO
    inside one dataset (``evaluations``: those already run, by (train, test)). One row per (train, test):
    accuracy, uf1, uar (pooled), n_train, n_test, leakage."""
    lab = labelled(samples, scheme)
    rows = []
    for a, b in _cross_pairs(lab, datasets):
        ev = (evaluations or {}).get((a, b))
        if ev is None:
            ev = evaluate_method(p, lab, method, *_pair_protocol(a, b), progress=progress, **config_changes)
        s, f = ev.summary(), ev.folds()
        rows.append({"method": method, "train": a, "test": b, "protocol": "loso" if a == b else "cross_dataset",
                     "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"],
                     "n_train": int(f["n_train"].max()), "n_test": s["n_clips"], "leakage_max": s["leakage_max"]})
    return pd.DataFrame(rows)


def cross_matrix(cross: pd.DataFrame, metric: str = "uf1") -> pd.DataFrame:
    """:func:`cross_dataset` rows as a matrix: rows the training dataset, columns the test dataset."""
    order = list(dict.fromkeys(cross["train"]))
    m = cross.pivot_table(index="train", columns="test", values=metric, sort=False)
    m = m.reindex(index=order, columns=order)
    m.index.name, m.columns.name = "train \\ test", None
    return m


def cross_beside_published(cross: pd.DataFrame, provenance: str) -> pd.DataFrame:
    """Single-dataset cross-dataset pairs beside LocalRegions Table 12 (MEGC2019, their model): accuracy and
    F1 (their "F1-score"; this study's number is UF1, the macro F1). Keyed by train, test and metric, with
    the two methods named in ``published_method`` / ``study_method``."""
    from ..report import side_by_side

    pub = published.table("LocalRegions", "Table 12").rename(columns={"dataset": "test"})
    rows = cross[cross["train"] != cross["test"]]
    mine = pd.concat([rows.assign(metric="accuracy", value=rows["accuracy"]),
                      rows.assign(metric="f1", value=rows["uf1"])], ignore_index=True)
    mine["provenance"] = provenance
    key = ["train", "test", "metric"]
    pub = pub[pub["train"].isin(set(rows["train"])) & pub["test"].isin(set(rows["test"]))]
    out = side_by_side(mine[key + ["value", "provenance"]], pub[key + ["value", "provenance"]], on=key)
    out["published_method"] = "LocalRegions"
    out["study_method"] = ", ".join(dict.fromkeys(rows["method"]))
    out["leakage_max"] = out.set_index(["train", "test"]).index.map(
        rows.set_index(["train", "test"])["leakage_max"]).to_numpy()
    return out


def _pair_protocol(a: str, b: str) -> tuple[str, dict]:
    """Train on dataset ``a``, test on ``b``: across datasets, or LOSO inside one (the diagonal)."""
    return ("loso", {"datasets": (a,)}) if a == b else ("cross_dataset", {"train": (a,), "test": (b,)})


def _cross_pairs(lab: pd.DataFrame, datasets=None) -> list[tuple[str, str]]:
    datasets = list(datasets or dict.fromkeys(lab["dataset"]))
    return [(a, b) for a in datasets for b in datasets]


# ---- leaky protocols on a known answer ---------------------------------------------------------------------

def leak_sets(p, dependence=LEAK_DEPENDENCE, seeds=LEAK_SEEDS, synth_params=None, scheme: str = SCHEME,
              progress: bool = False) -> dict:
    """{(d, label seed): labelled clips} of the amplitude-0 set (``synth_params``, default :data:`LEAK_SYNTH`)
    with subject-label dependence d and that label draw; the frames of all of them are the same."""
    synth_params = dict(LEAK_SYNTH if synth_params is None else synth_params)
    return {(float(d), int(s)): labelled(amplitude_samples(0.0, seed=p.seed, progress=progress, label_seed=int(s),
                                                           subject_label_dependence=float(d), **synth_params), scheme)
            for d in dependence for s in seeds}


def leak_protocols(lab: pd.DataFrame, folds: int = 10, seed: int = 0) -> list[tuple[str, str, dict]]:
    """(label, protocol, params): LOSO and sample-level stratified k-fold (:func:`protocol_specs`'s)."""
    return [s for s in protocol_specs(lab, folds, seed=seed) if s[1] in ("loso", "stratified_kfold")]


def leak_specs(p, sets: dict, methods=("lbp_top_svm",), folds: int = 10) -> list:
    """The trainings of the leak study: every method under :func:`leak_protocols` on every set of
    :func:`leak_sets`, keyed ("leak", method, d, label seed, protocol label)."""
    return [method_spec(p, lab, m, protocol, params, key=("leak", m, d, s, label), data=f"d={d:g}, labels {s}")
            for (d, s), lab in sets.items() for label, protocol, params in leak_protocols(lab, folds, p.seed)
            for m in methods]


def leak_rows(runs: dict, sets: dict) -> pd.DataFrame:
    """One row per leak training: method, d, label seed, protocol, UAR, its null band (labels permuted within
    each layout), the leakage audit and the set's subject-label association (Cramer's V)."""
    rows = []
    for key, run in runs.items():
        if key[0] != "leak":
            continue
        _, m, d, s, label = key
        ev, lab = run.evaluation, sets[(d, s)]
        lo, hi = chance_band(ev, within="dataset")
        rows.append({"method": m, "dependence": d, "label_seed": s, "protocol": label, "uar": ev.pooled["uar"],
                     "null_low": lo, "null_high": hi, "leakage_max": ev.leakage()["leakage_max"],
                     "cramers_v": synth.label_dependence(lab["subject"], lab["label"]), "n_clips": ev.pooled["n"]})
    return pd.DataFrame(rows)


def leak_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method, d and protocol: UAR over the label draws (mean, lowest, highest), the mean null band, how
    many draws lie above / below their band, Cramer's V and the leakage audit."""
    g = rows.groupby(["method", "dependence", "protocol"], sort=False)
    out = g.agg(uar_mean=("uar", "mean"), uar_min=("uar", "min"), uar_max=("uar", "max"),
                null_low=("null_low", "mean"), null_high=("null_high", "mean"), draws=("uar", "size"),
                cramers_v=("cramers_v", "mean"), leakage_max=("leakage_max", "max"))
    out["above band"] = g.apply(lambda t: int((t["uar"] > t["null_high"]).sum()), include_groups=False)
    out["below band"] = g.apply(lambda t: int((t["uar"] < t["null_low"]).sum()), include_groups=False)
    return out.reset_index()


def leak_figures(rows: pd.DataFrame) -> list:
    """:func:`leak_figure` of every method of the leak study."""
    draws = rows["label_seed"].nunique()
    return [leak_figure(rows, m, title=f"{m}, amplitude 0 ({draws} label draws per d)") for m in rows["method"].unique()]


def cross_tables(result, provenance: str) -> list[tuple[str, pd.DataFrame]]:
    """(caption, table) pairs: each method's cross-dataset UF1 matrix and its rows, then the first method's
    pairs beside LocalRegions Table 12."""
    out = []
    for m, c in result.cross.items():
        out += [(f"**{m}**, UF1 (train \\ test), {provenance}", cross_matrix(c, "uf1")), (f"**{m}**, every pair", c)]
    if result.cross:
        out.append(("**Beside LocalRegions Table 12**", cross_beside_published(next(iter(result.cross.values())),
                                                                               provenance)))
    return out


def leak_finding(rows: pd.DataFrame) -> str:
    """The leak study in a sentence per method: at the smallest and the largest dependence d, each protocol's
    mean UAR and how many label draws lie above (below) their 99 % null band."""
    out = []
    for m, g in leak_table(rows).groupby("method", sort=False):
        said = []
        for d in sorted({g["dependence"].min(), g["dependence"].max()}):
            at = g[g["dependence"] == d].to_dict("records")
            said.append(f"at d = {d:g}, " + "; ".join(
                f"{r['protocol']} {r['uar_mean']:.2f} ({r['above band']} of {r['draws']} draws above the band"
                + (f", {r['below band']} below" if r["below band"] else "") + ")" for r in at))
        out.append(f"`{m}` with no motion at all (amplitude 0), UAR against subject-label dependence d: "
                   + "; ".join(said) + ".")
    return " ".join(out) + (" A score above the band at amplitude 0 is the subject seen in training, not an "
                            "expression learnt." if out else "")


def leak_figure(rows: pd.DataFrame, method: str | None = None, title: str | None = None):
    """UAR against subject-label dependence at amplitude 0, one line per protocol (mean over the label
    draws, the draws as points), each protocol's mean 99 % null band shaded, chance dotted."""
    method = method or rows["method"].iloc[0]
    t = leak_table(rows[rows["method"] == method])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (label, g) in enumerate(t.groupby("protocol", sort=False)):
        colour = f"C{i}"
        ax.fill_between(g["dependence"], g["null_low"], g["null_high"], color=colour, alpha=0.12, lw=0)
        ax.plot(g["dependence"], g["uar_mean"], "o-", color=colour, label=f"{label} (band: 99 % null)")
        pts = rows[(rows["method"] == method) & (rows["protocol"] == label)]
        ax.plot(pts["dependence"], pts["uar"], ".", color=colour, alpha=0.5)
    ax.axhline(1 / 3, color="grey", ls=":", lw=1)
    ax.set_xlabel("subject-label dependence d (melib.synth)")
    ax.set_ylabel("UAR at amplitude 0")
    ax.set_title(title or f"{method}: no motion at all")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Every method under every protocol (:func:`protocol_specs`), then trained on each dataset and tested on
    each other (``changes``: plan keys ``methods``, ``n_seeds``, ``folds``)."""
    st = CHAPTER.settings(p, **changes)
    lab = labelled(samples, p.scheme or SCHEME)
    specs = [method_spec(p, lab, m, protocol, params, key=("protocols", m, label))
             for label, protocol, params in protocol_specs(lab, st["folds"], st["n_seeds"], seed=p.seed)
             for m in st["methods"]]
    for m in st["methods"]:
        for a, b in _cross_pairs(lab):
            specs.append(method_spec(p, lab, m, *_pair_protocol(a, b), key=("cross", m, a, b)))
    return specs + leak_specs(p, _leak_sets(p, st), st["leak_methods"], st["folds"])


def _leak_sets(p, st: dict) -> dict:
    return leak_sets(p, st["leak_dependence"], st["leak_seeds"], st["leak_synth"], p.scheme or SCHEME)


def data(p, name: str) -> pd.DataFrame:
    """The labelled clips of a planned leak training's ``data`` (``"d=0.25, labels 1"``): that leak set."""
    for (d, s), lab in _leak_sets(p, CHAPTER.settings(p)).items():
        if name == f"d={d:g}, labels {s}":
            return lab
    raise ConfigError(f"no leak set {name!r} in the 30_protocols plan")


@dataclass
class Result:
    """The comparison table and evaluations (:func:`compare`), each method's cross-dataset rows and the leak
    study's rows (:func:`leak_rows`)."""
    table: pd.DataFrame
    evaluations: dict
    cross: dict
    provenance: str
    leak: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Run the plan (:func:`plan`; the leak study on its own sets) and gather :func:`compare`'s table,
    :func:`cross_dataset`'s rows and :func:`leak_rows`."""
    st = CHAPTER.settings(p, **changes)
    lab = labelled(samples, p.scheme or SCHEME)
    planned = plan(p, samples, **changes)
    runs = execute_all(p, [s for s in planned if s.key[0] != "leak"], samples, progress)
    sets, memo = _leak_sets(p, st), {}
    leak = {s.key: execute(p, s, sets[s.key[2:4]], progress, memo) for s in planned if s.key[0] == "leak"}
    specs = protocol_specs(lab, st["folds"], st["n_seeds"], seed=p.seed)
    table, evals = compare(p, lab, st["methods"], specs, scheme=p.scheme or SCHEME,
                           evaluations={k[1:]: r.evaluation for k, r in runs.items() if k[0] == "protocols"})
    cross = {m: cross_dataset(p, lab, m, scheme=p.scheme or SCHEME,
                              evaluations={k[2:]: r.evaluation for k, r in runs.items() if k[:2] == ("cross", m)})
             for m in st["methods"]}
    return Result(table, evals, cross, provenance_label(lab), leak_rows(leak, sets))


CHAPTER = Chapter(
    name="protocol_comparison", notebook="30_protocols", paper=None,
    schemes=(SCHEME, "pnso", "c3d", "objective"), scheme=SCHEME, protocols=(), protocol=None,
    parameters=("profile", "data", "dataset", "scheme", "epochs", "frame_size", "seed", "device", "plan"),
    plans=PLANS, plan=plan, run=run, data=data, pipelines=("lbp", "psn"),
    tables={"comparison": lambda r: r.table, "ranking": lambda r: ranking(r.table, "uf1"),
            "holdout spread": lambda r: spread_beside_published(holdout_spread(r.evaluations), r.provenance),
            "cross-dataset": lambda r: cross_beside_published(next(iter(r.cross.values())), r.provenance),
            "leak": lambda r: leak_table(r.leak)},
    figures={"holdout spread": lambda r: spread_figure(holdout_spread(r.evaluations)),
             "leak": lambda r: leak_figure(r.leak)}, summary=Result.summary)

"""C3D's experiments (C3D sections 7-8): Model-A against Model-B, Model-C and the Split Model in the eight
intra- and cross-dataset scenarios of Table 4 (:data:`SCENARIOS`), the apex-window versus initial-frames
comparison of Table 3, the random splits of 8.1, per-epoch test curves (Fig. 4), confusion matrices and the
leakage audit of every scenario.

``result = c3d.run(p, samples)`` runs the plan (:func:`plan`); ``scheme`` may be ``c3d`` (the paper's three
classes) or ``megc2019``; ``protocol`` (default ``stratified_kfold``, C3D 8.2) is the protocol of the
intra-dataset scenarios 1-3 and of Table 3 (the cross-dataset scenarios are defined by their datasets, 8.1's
splits by C3D 8.1).

What each profile runs (:data:`PLANS`; the paper's full grid under ``paper``):

- ``smoke``: Model-A in all eight scenarios and Table 3, the Split Model on five random splits (8.1); folds
  lowered to what the tiny set allows (:func:`scenario_protocol`), 1 epoch.
- ``default``: Model-A and Model-B (the fastest) in all eight scenarios, Model-A for Table 3, the Split Model
  for 8.1; 4 epochs (:data:`PLANS`), the study's CPU model profile. Model-C's scenarios are left to ``paper``
  to keep the chapter within its time budget.
- ``paper``: Model-A, B, C and the Split Model (where its window fits: :func:`fits`) in the scenarios, Model-C
  beside the Split Model in 8.1; 100 epochs (C3D 6.1-6.3), each scenario's window (36 CASME II, 26 SMIC,
  30 combined; C3D 5.1) and stratified 5-fold in the cross-dataset scenarios too.

Choices (C3D is silent; listed in the book's deviation page):

- Reported accuracy is the mean over folds (C3D 8.2 reports one accuracy per scenario of a k-fold run);
  the model kept is the last epoch's: C3D describes no validation part, and its curves (Fig. 4) are scored
  on the test part, here recorded with ``track_test`` and never used for any decision.
- Cross-dataset scenarios (4-8): one model trained on all of the training datasets (``default``) or five,
  one per stratified fold of them, each tested on the whole test dataset (``paper``, one reading of 8.2).
- The window length of a scenario is that of its training datasets (:func:`melib.preprocess.pipelines.c3d_window`);
  the test dataset is cut to the same length (SAMM has none of its own in C3D).
- The "initial frame sequence" of Table 3 is the window that starts at the onset (``c3d_inputs(anchor="onset")``).
- Stratified k-fold needs k clips of each class: a set with fewer (the smoke set) gets k = its smallest
  class count (at least 2), said in the table's ``protocol`` column.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from .. import models, published, recipes, report
from ..errors import ConfigError
from ..preprocess.pipelines import c3d_window
from .common import (PROTOCOLS, Run, execute_all, headline_frame, headline_row, labelled, protocol_for, protocol_name,
                     training)
from .contract import MODEL_PARAMETERS, Chapter

PAPER = "C3D"
SCHEME = "c3d"
PROTOCOL = "stratified_kfold"
MODELS = {"Model-A": "c3d_model_a", "Model-B": "c3d_model_b", "Model-C": "c3d_model_c",
          "Split Model": "c3d_split"}
# C3D Table 4: the eight scenarios (train datasets, test datasets); "Combined" = CASME II + SMIC.
# Scenarios 1-3 are intra-dataset (stratified 5-fold, C3D 8.2), 4-8 cross-dataset.
SCENARIOS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    1: (("smic",), ("smic",)),
    2: (("casme2",), ("casme2",)),
    3: (("casme2", "smic"), ("casme2", "smic")),
    4: (("smic",), ("samm",)),
    5: (("casme2",), ("samm",)),
    6: (("smic",), ("casme2",)),
    7: (("casme2",), ("smic",)),
    8: (("casme2", "smic"), ("samm",)),
}
TABLE3 = (("casme2", 2), ("smic", 1))  # C3D Table 3: Model-A on CASME II and SMIC (their scenarios)
ANCHORS = {"apex frame sequence": "apex", "initial frame sequence": "onset"}
HOLDOUT = {"test_size": 0.2, "n_repeats": 5}  # C3D 8.1: five random splits; the share is a choice
_ALL = tuple(SCENARIOS)
PLANS = {
    "smoke": {"folds": 5, "models": ("Model-A",), "scenarios": _ALL, "table3": ("Model-A",), "cross_splits": None,
              "holdout": ("Split Model",)},
    "default": {"folds": 5, "models": ("Model-A", "Model-B"), "scenarios": _ALL, "table3": ("Model-A",),
                "epochs": 4, "cross_splits": None, "holdout": ("Split Model",)},
    "paper": {"folds": 5, "models": tuple(MODELS), "scenarios": _ALL, "table3": ("Model-A",), "cross_splits": 5,
              "holdout": ("Split Model", "Model-C")},
}


def scenario_protocol(p, lab: pd.DataFrame, number: int, settings: dict) -> tuple[str, dict]:
    """(protocol, params) of C3D scenario ``number`` (Table 4) on labelled ``lab``: inside its datasets the
    chapter's protocol (stratified ``folds``-fold, lowered to the smallest class count when a set is too
    small); across datasets ``cross_dataset``, with ``cross_splits`` folds over the training datasets or one
    model."""
    if number not in SCENARIOS:
        raise ConfigError(f"C3D has scenarios 1-8 (Table 4), not {number!r}")
    train, test = SCENARIOS[number]
    if train == test:
        return protocol_for(p, p.protocol or PROTOCOL, lab, settings, k=5, datasets=train)
    params: dict = {"train": train, "test": test}
    if settings.get("cross_splits"):
        counts = lab[lab["dataset"].isin(train)]["label"].value_counts()
        params.update(n_splits=max(2, min(int(settings["cross_splits"]), int(counts.min()))), seed=p.seed)
    return "cross_dataset", params


def _window_kwargs(p, number: int) -> dict:
    """The paper profile sets each scenario's window (C3D 5.1); smaller profiles keep their own frame count."""
    if p.model_profile != "paper":
        return {}
    return {"frames": c3d_window(SCENARIOS[number][0])}


@cache
def _builds(model: str, profile: str, frames: int | None) -> bool:
    try:
        models.build(model, profile, **({} if frames is None else {"frames": frames}))
    except (RuntimeError, ValueError):
        return False
    return True


def fits(p, model: str, number: int) -> bool:
    """Can registered ``model`` take scenario ``number``'s window under ``p``'s model profile? (The Split
    Model's three valid 3×3×3 poolings need 27 frames: not SMIC's 26-frame window of the paper profile.)"""
    return _builds(model, p.model_profile, _window_kwargs(p, number).get("frames"))


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Every (model, scenario) of the plan whose datasets are present and whose window the model takes
    (:func:`fits`), Table 3's two windows, and 8.1's random splits on CASME II (``changes``: plan keys, e.g.
    ``scenarios=(2, 4)``, ``models``, ``table3=()``, ``holdout=()``)."""
    st = CHAPTER.settings(p, **changes)
    lab = labelled(samples, p.scheme or SCHEME)
    present = set(lab["dataset"])
    cfg = CHAPTER.trainer(p, st, threads=1, track_test=True)
    specs = []

    def add(key, method, number, protocol, params, **pipeline):
        name = MODELS.get(method, method)
        specs.append(training(p, key, name, lab, protocol, params, model_params=_window_kwargs(p, number),
                              pipeline_params=pipeline, config=cfg))

    for method in st["models"]:
        for n in st["scenarios"]:
            train, test = SCENARIOS[n]
            if set(train + test) <= present and fits(p, MODELS.get(method, method), n):
                add((method, n), method, n, *scenario_protocol(p, lab, n, st))
    for method in st["table3"]:
        for ds, n in TABLE3:
            if ds in present:
                for setting, anchor in ANCHORS.items():
                    add(("Table 3", method, ds, setting), method, n, *scenario_protocol(p, lab, n, st),
                        anchor=anchor)
    if "casme2" in present:
        for method in st["holdout"]:
            add(("Sec. 8.1", method), method, 2, "holdout", {**HOLDOUT, "seed": p.seed, "datasets": ("casme2",)})
    return specs


@dataclass
class Result:
    """Every run of the plan keyed as :func:`plan` keys them, on clips ``samples`` (labelled)."""
    runs: dict
    samples: pd.DataFrame
    provenance: str

    @property
    def scheme(self) -> str:
        return self.samples.attrs.get("scheme")

    def scenarios(self) -> dict:
        """The Table 4 runs, keyed by (method, scenario number)."""
        return {k: r for k, r in self.runs.items() if isinstance(k[1], int)}

    def summary(self) -> pd.DataFrame:
        """One row per Table 4 run (see :func:`scenario_table`)."""
        return scenario_table(self)


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Run the chapter's plan (:func:`plan`; ``changes``: plan keys)."""
    runs = execute_all(p, plan(p, samples, **changes), samples, progress)
    lab = labelled(samples, p.scheme or SCHEME)
    return Result(runs, lab, report.provenance_label(lab))


def _row(run: Run, method: str, setting: str, train, test) -> dict:
    s = run.evaluation.summary()
    f = run.evaluation.folds()
    return {"method": method, "setting": setting, "train": published.dataset_key(*train),
            "test": published.dataset_key(*test), "scheme": run.scheme, "protocol": protocol_name(run),
            "n_folds": s["n_folds"], "n_test": int(f["n_test"].sum()), "accuracy": s["accuracy_mean"],
            "accuracy_std": s["accuracy_std"], "uf1": s["uf1_mean"], "leakage_mean": s["leakage_mean"],
            "leakage_max": s["leakage_max"]}


def scenario_table(result: Result) -> pd.DataFrame:
    """One row per (model, scenario) run: method, setting "Scenario-N", train, test, scheme, protocol,
    n_folds, n_test, accuracy (mean over folds), accuracy_std, uf1, leakage_mean, leakage_max."""
    return pd.DataFrame([_row(r, m, f"Scenario-{n}", *SCENARIOS[n]) for (m, n), r in result.scenarios().items()])


def table4(result: Result) -> pd.DataFrame:
    """C3D Table 4 beside this study's accuracies, with each run's protocol and leakage audit; rows the study
    did not run say so."""
    results = scenario_table(result)
    pub = published.table(PAPER, "Table 4")
    if not len(results):
        return report.side_by_side(pd.DataFrame(columns=["method", "setting", "metric", "value"]), pub,
                                   on=("method", "setting", "metric"), provenance=result.provenance)
    study = results.assign(metric="accuracy", value=results["accuracy"])[["method", "setting", "metric", "value"]]
    out = report.side_by_side(study, pub, on=("method", "setting", "metric"), provenance=result.provenance)
    extra = results[["method", "setting", "train", "test", "scheme", "protocol", "n_folds", "leakage_max"]]
    out = out.merge(extra, on=["method", "setting"], how="left")
    order = {f"Scenario-{n}": n for n in SCENARIOS}
    out["_n"] = out["setting"].map(order)
    return out.sort_values(["_n", "method"], kind="stable").drop(columns="_n").reset_index(drop=True)


HEADLINE = (("Model-A", 2), ("Model-A", 3))  # C3D Table 4's headline rows: (method, scenario)


def headline(result: Result) -> pd.DataFrame:
    """C3D's headline (Table 4, Model-A in scenarios 2 and 3): accuracy, mean over folds; a scenario this
    study did not run has no row. The provenance is that of the scenario's datasets."""
    rows = []
    for method, n in HEADLINE:
        if (method, n) in result.runs:
            run = result.runs[(method, n)]
            train, test = SCENARIOS[n]
            used = run.samples[run.samples["dataset"].isin(train + test)]
            rows.append(headline_row(PAPER, "Table 4", method, run, "accuracy",
                                     run.evaluation.mean["accuracy"], setting=f"Scenario-{n}", samples=used))
    return headline_frame(PAPER, rows)


def table3(result: Result) -> pd.DataFrame:
    """C3D Table 3: Model-A on CASME II and SMIC (scenarios 2 and 1) fed the apex-centred window or the window
    starting at the onset, beside the published accuracies."""
    rows = []
    for key, run in result.runs.items():
        if key[0] == "Table 3":
            s = run.evaluation.summary()
            rows.append({"method": key[1], "dataset": key[2], "setting": key[3], "metric": "accuracy",
                         "value": s["accuracy_mean"], "protocol": protocol_name(run), "leakage_max": s["leakage_max"]})
    res = pd.DataFrame(rows, columns=["method", "dataset", "setting", "metric", "value", "protocol", "leakage_max"])
    out = report.side_by_side(res.drop(columns=["protocol", "leakage_max"]), published.table(PAPER, "Table 3"),
                              on=("method", "dataset", "setting", "metric"), provenance=result.provenance)
    return out.merge(res[["method", "dataset", "setting", "protocol", "leakage_max"]],
                     on=["method", "dataset", "setting"], how="left")


def holdout(result: Result) -> pd.DataFrame:
    """C3D 8.1: the Split Model (and Model-C under ``paper``) on CASME II with five random train-test splits
    (``holdout``, seeds ``p.seed`` ...; C3D gives no split ratio: a test share of 0.2 is a choice), each
    split's accuracy and the best one beside the numbers C3D quotes (run 1, run 3, best split)."""
    rows = []
    for key, run in result.runs.items():
        if key[0] == "Sec. 8.1":
            acc = [r["metrics"]["accuracy"] for r in run.evaluation.records]
            leak = run.evaluation.leakage()["leakage_max"]
            rows += [{"method": key[1], "fold": f"run {i}", "metric": "accuracy", "value": a, "leakage_max": leak}
                     for i, a in enumerate(acc, start=1)]
            rows.append({"method": key[1], "fold": "best split", "metric": "accuracy", "value": max(acc),
                         "leakage_max": leak})
    res = pd.DataFrame(rows, columns=["method", "fold", "metric", "value", "leakage_max"])
    out = report.side_by_side(res.drop(columns="leakage_max"), published.table(PAPER, "Sec. 8.1"),
                              on=("method", "fold", "metric"), provenance=result.provenance)
    out = out.merge(res[["method", "fold", "leakage_max"]], on=["method", "fold"], how="left")
    out.insert(3, "protocol", f"holdout(test={HOLDOUT['test_size']}, repeats={HOLDOUT['n_repeats']})")
    return out


def splits_figure(run: Run, title: str | None = None):
    """Test-part accuracy per epoch, one line per random split (C3D Fig. 4); monitored, never used to select."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for r in run.evaluation.records:
        c = next(iter(r["curves"].values()))
        acc = c.get("test_accuracy")
        if acc:
            ax.plot(np.arange(1, len(acc) + 1), acc, marker="o", ms=3, label=r["fold_name"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def split_figures(result: Result) -> list:
    """:func:`splits_figure` of every Sec. 8.1 run (C3D Fig. 4)."""
    return [splits_figure(run, title=f"{key[1]}, CASME II, five random splits (test part)")
            for key, run in result.runs.items() if key[0] == "Sec. 8.1"]


def scenario_figures(result: Result, provenance: str) -> list:
    """Model-A's training curves and pooled confusion matrix in scenarios 3 (intra-dataset) and 4 (SMIC to
    SAMM), where they ran."""
    from .views import confusion_figure, curves_figure

    runs, figs = result.scenarios(), []
    for key, what in ((("Model-A", 3), "scenario 3 (intra-dataset)"), (("Model-A", 4), "scenario 4 (SMIC to SAMM)")):
        if key in runs:
            figs += [curves_figure(runs[key], title=f"Model-A, {what} ({provenance})"),
                     confusion_figure(runs[key], title=f"Model-A, {what}, pooled over folds")]
    return figs


CHAPTER = Chapter("c3d", "12_c3d", PAPER, ("c3d", "megc2019"), SCHEME, PROTOCOLS, PROTOCOL, MODEL_PARAMETERS,
                  PLANS, plan, run, ("c3d",), {"Table 4": table4, "Table 3": table3, "Sec. 8.1": holdout},
                  {"Fig. 4": splits_figure}, headline, Result.summary, learns=recipes.learns(PAPER))

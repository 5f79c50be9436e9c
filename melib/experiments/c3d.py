"""C3D's experiments (C3D sections 7-8): Model-A against Model-B, Model-C and the Split Model in the eight
intra- and cross-dataset scenarios of Table 4, the apex-window versus initial-frames comparison of Table 3,
per-epoch test curves (Fig. 4), confusion matrices and the leakage audit of every scenario.

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
- The "initial frame sequence" of Table 3 is the window that starts at the onset (:func:`initial_frames`).
- Stratified k-fold needs k clips of each class: a set with fewer (the smoke set) gets k = its smallest
  class count (at least 2), said in the table's ``protocol`` column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import protocols, published, report
from ..datasets import frame_number
from ..errors import ConfigError
from ..preprocess.pipelines import c3d_window, model_params
from . import Run, evaluate_model, headline_frame, headline_row, labelled

PAPER = "C3D"
SCHEME = "c3d"
MODELS = {"Model-A": "c3d_model_a", "Model-B": "c3d_model_b", "Model-C": "c3d_model_c",
          "Split Model": "c3d_split"}
SCENARIOS = tuple(protocols.C3D_SCENARIOS)
PLANS = {
    "smoke": {"models": ("Model-A",), "scenarios": SCENARIOS, "table3": ("Model-A",), "epochs": None,
              "cross_splits": None, "holdout": ("Split Model",)},
    "default": {"models": ("Model-A", "Model-B"), "scenarios": SCENARIOS, "table3": ("Model-A",), "epochs": 4,
                "cross_splits": None, "holdout": ("Split Model",)},
    "paper": {"models": tuple(MODELS), "scenarios": SCENARIOS, "table3": ("Model-A",), "epochs": None,
              "cross_splits": 5, "holdout": ("Split Model", "Model-C")},
}


def plan(p) -> dict:
    """What profile ``p.profile`` runs (:data:`PLANS`)."""
    if p.profile not in PLANS:
        raise ConfigError(f"no C3D plan for profile {p.profile!r}; choose one of {', '.join(PLANS)}")
    return dict(PLANS[p.profile])


def samples(p, samples_table: pd.DataFrame) -> pd.DataFrame:
    """The clips C3D's label scheme keeps (C3D Table 1: happiness, disgust, surprise on CASME II, SMIC, SAMM)."""
    return labelled(samples_table, p.scheme or SCHEME)


def _config(p, **changes) -> dict:
    out = {"threads": 1, "track_test": True, **plan_epochs(p, PLANS)}
    return {**out, **changes}


def plan_epochs(p, plans: dict) -> dict:
    """``{"epochs": n}`` when the chapter's plan lowers the profile's epochs and the notebook did not set
    ``epochs`` itself; else ``{}`` (the profile's or the notebook's epochs)."""
    from .. import study

    want = plans.get(p.profile, {}).get("epochs")
    if want is None or p.epochs != study.PROFILES[p.profile].epochs:
        return {}
    return {"epochs": want}


def scenario_protocol(samples: pd.DataFrame, number: int, n_splits: int = 5, cross_splits: int | None = None,
                      seed: int = 0) -> tuple[str, dict]:
    """(protocol, params) of C3D scenario ``number`` (Table 4) on ``samples``: stratified ``n_splits``-fold
    inside the datasets (lowered to the smallest class count when a set is too small), cross-dataset otherwise
    (``cross_splits`` folds over the training datasets, or one model)."""
    protocol, params = protocols.c3d_scenario(number, n_splits=n_splits, seed=seed)
    train, _ = protocols.C3D_SCENARIOS[number]
    counts = samples[samples["dataset"].isin(train)]["label"].value_counts()
    smallest = int(counts.min()) if len(counts) else 0
    if protocol == "stratified_kfold":
        params["n_splits"] = max(2, min(n_splits, smallest))
    elif cross_splits:
        params.update(n_splits=max(2, min(cross_splits, smallest)), seed=seed)
    return protocol, params


def _window_kwargs(p, model: str, number: int) -> dict:
    """The paper profile sets each scenario's window (C3D 5.1); smaller profiles keep their own frame count."""
    if p.model_profile != "paper":
        return {}
    train, _ = protocols.C3D_SCENARIOS[number]
    return {"frames": c3d_window(train)}


def fits(p, model: str, number: int) -> bool:
    """Can registered ``model`` take scenario ``number``'s window under ``p``'s model profile? (The Split
    Model's three valid 3×3×3 poolings need 27 frames: not SMIC's 26-frame window of the paper profile.)"""
    try:
        model_params(model, p.model_profile, **_window_kwargs(p, model, number))
    except (RuntimeError, ValueError):
        return False
    return True


def run_scenario(p, samples: pd.DataFrame, number: int, model: str = "Model-A", progress: bool = False,
                 **config_changes) -> Run:
    """Train and test ``model`` (a Table 4 name or a registered name) in scenario ``number``."""
    name = MODELS.get(model, model)
    pl = plan(p)
    protocol, params = scenario_protocol(samples, number, cross_splits=pl["cross_splits"], seed=p.seed)
    cfg = _config(p, **config_changes)
    return evaluate_model(p, samples, name, protocol=protocol, protocol_params=params,
                          model_kwargs=_window_kwargs(p, name, number), progress=progress, **cfg)


def initial_frames(samples: pd.DataFrame, window: int) -> pd.DataFrame:
    """The same clips with the apex moved so that C3D's apex-centred window of ``window`` frames starts at the
    onset: the "initial frame sequence" of C3D Table 3 (apex := the frame ``window // 2`` after the onset,
    or the last frame of a shorter clip; ``apex_estimated`` set)."""
    out = samples.copy()
    apex = []
    for frames in out["frames"]:
        pos = min(window // 2, len(frames) - 1)
        apex.append(frame_number(frames[pos]))
    out["apex"] = apex
    out["apex_estimated"] = True
    out.attrs = dict(samples.attrs)
    return out


def _row(run: Run, method: str, setting: str, train, test) -> dict:
    s = run.evaluation.summary()
    f = run.evaluation.folds()
    return {"method": method, "setting": setting, "train": published.dataset_key(*train),
            "test": published.dataset_key(*test), "protocol": protocol_name(run), "n_folds": s["n_folds"],
            "n_test": int(f["n_test"].sum()), "accuracy": s["accuracy_mean"], "accuracy_std": s["accuracy_std"],
            "uf1": s["uf1_mean"], "leakage_mean": s["leakage_mean"], "leakage_max": s["leakage_max"]}


def protocol_name(run: Run) -> str:
    rec = run.evaluation.records[0]
    params = rec.get("protocol_params") or {}
    k = params.get("n_splits")
    return f"{run.protocol}(k={k})" if k else run.protocol


def scenarios(p, samples: pd.DataFrame, models=None, numbers=None, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Every (model, scenario) of the plan whose datasets are in ``samples`` and whose window the model takes
    (:func:`fits`): a table (one row each: method, setting "Scenario-N", train, test,
    protocol, n_folds, n_test, accuracy (mean over folds), accuracy_std, uf1, leakage_mean, leakage_max)
    and the runs keyed by (method, scenario number)."""
    pl = plan(p)
    present = set(samples["dataset"])
    rows, runs = [], {}
    for method in models or pl["models"]:
        for n in numbers or pl["scenarios"]:
            train, test = protocols.C3D_SCENARIOS[n]
            if not set(train + test) <= present:  # e.g. real data with only some releases configured
                continue
            if not fits(p, MODELS.get(method, method), n):
                continue
            run = run_scenario(p, samples, n, method, progress=progress)
            runs[(method, n)] = run
            rows.append(_row(run, method, f"Scenario-{n}", train, test))
    return pd.DataFrame(rows), runs


def table4(results: pd.DataFrame, provenance: str) -> pd.DataFrame:
    """C3D Table 4 beside this study's accuracies (``scenarios``' table), with each run's protocol and
    leakage audit; rows the study did not run say so."""
    pub = published.table(PAPER, "Table 4")
    study = results.assign(metric="accuracy", value=results["accuracy"])[["method", "setting", "metric", "value"]]
    out = report.side_by_side(study, pub, on=("method", "setting", "metric"), provenance=provenance)
    extra = results[["method", "setting", "train", "test", "protocol", "n_folds", "leakage_max"]]
    out = out.merge(extra, on=["method", "setting"], how="left")
    order = {f"Scenario-{n}": n for n in SCENARIOS}
    out["_n"] = out["setting"].map(order)
    return out.sort_values(["_n", "method"], kind="stable").drop(columns="_n").reset_index(drop=True)


HEADLINE = (("Model-A", 2), ("Model-A", 3))  # C3D Table 4's headline rows: (method, scenario)


def headline(runs: dict) -> pd.DataFrame:
    """C3D's headline (Table 4, Model-A in scenarios 2 and 3): accuracy, mean over folds, from
    :func:`scenarios`' runs; a scenario this study did not run has no row. The provenance is that of the
    scenario's datasets."""
    rows = []
    for method, n in HEADLINE:
        if (method, n) in runs:
            run = runs[(method, n)]
            train, test = protocols.C3D_SCENARIOS[n]
            used = run.samples[run.samples["dataset"].isin(train + test)]
            rows.append(headline_row(PAPER, "Table 4", method, run, "accuracy",
                                     run.evaluation.mean["accuracy"], setting=f"Scenario-{n}", samples=used))
    return headline_frame(PAPER, rows)


def table3(p, samples: pd.DataFrame, provenance: str, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """C3D Table 3: Model-A on CASME II and SMIC (scenarios 2 and 1) fed the apex-centred window or the window
    starting at the onset, beside the published accuracies. Returns (table, runs keyed by (dataset, setting))."""
    pl = plan(p)
    rows, runs = [], {}
    for method in pl["table3"]:
        name = MODELS[method]
        for ds, number in (("casme2", 2), ("smic", 1)):
            if ds not in set(samples["dataset"]):
                continue
            window = model_params(name, p.model_profile, **_window_kwargs(p, name, number))["window"]
            for setting, table in (("apex frame sequence", samples),
                                   ("initial frame sequence", initial_frames(samples, window))):
                run = run_scenario(p, table, number, method, progress=progress)
                runs[(ds, setting)] = run
                s = run.evaluation.summary()
                rows.append({"method": method, "dataset": ds, "setting": setting, "metric": "accuracy",
                             "value": s["accuracy_mean"], "protocol": protocol_name(run),
                             "leakage_max": s["leakage_max"]})
    res = pd.DataFrame(rows)
    pub = published.table(PAPER, "Table 3")
    out = report.side_by_side(res.drop(columns=["protocol", "leakage_max"]), pub,
                              on=("method", "dataset", "setting", "metric"), provenance=provenance)
    out = out.merge(res[["method", "dataset", "setting", "protocol", "leakage_max"]],
                    on=["method", "dataset", "setting"], how="left")
    return out, runs


def holdout(p, samples: pd.DataFrame, provenance: str, n_repeats: int = 5, test_size: float = 0.2,
            progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """C3D 8.1: the Split Model (and Model-C under ``paper``) on CASME II with ``n_repeats`` random train-test
    splits (``holdout``, seeds ``p.seed`` ...; C3D gives no split ratio: ``test_size`` 0.2 is a choice), each
    split's accuracy and the best one beside the numbers C3D quotes (run 1, run 3, best split). Returns
    (table, runs keyed by method); :func:`splits_figure` draws the per-split test curves (C3D Fig. 4)."""
    if "casme2" not in set(samples["dataset"]):
        return pd.DataFrame(), {}
    rows, runs = [], {}
    params = {"test_size": test_size, "n_repeats": n_repeats, "seed": p.seed, "datasets": ("casme2",)}
    for method in plan(p)["holdout"]:
        name = MODELS[method]
        cfg = _config(p)
        run = evaluate_model(p, samples, name, protocol="holdout", protocol_params=params,
                             model_kwargs=_window_kwargs(p, name, 2), progress=progress, **cfg)
        runs[method] = run
        acc = [r["metrics"]["accuracy"] for r in run.evaluation.records]
        leak = run.evaluation.leakage()["leakage_max"]
        for i, a in enumerate(acc, start=1):
            rows.append({"method": method, "fold": f"run {i}", "metric": "accuracy", "value": a, "leakage_max": leak})
        rows.append({"method": method, "fold": "best split", "metric": "accuracy", "value": max(acc),
                     "leakage_max": leak})
    res = pd.DataFrame(rows)
    out = report.side_by_side(res.drop(columns="leakage_max"), published.table(PAPER, "Sec. 8.1"),
                              on=("method", "fold", "metric"), provenance=provenance)
    out = out.merge(res[["method", "fold", "leakage_max"]], on=["method", "fold"], how="left")
    out.insert(3, "protocol", f"holdout(test={test_size}, repeats={n_repeats})")
    return out, runs


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


# ---- figures and per-run views (shared with the CropNet and LocalRegions chapters) ------------------------

def curves(run: Run, stage: str | None = None) -> pd.DataFrame:
    """Per-epoch curves of a run, averaged over folds: epoch, train_loss, train_acc and, when the run tracked
    its test part (``track_test``), test_loss, test_acc (monitored only, never used for selection)."""
    frames = []
    for r in run.evaluation.records:
        cs = r.get("curves") or {}
        if not cs:
            continue
        c = cs[stage] if stage else cs[list(cs)[-1]]
        d = pd.DataFrame({k: v for k, v in c.items() if isinstance(v, list)})
        d["epoch"] = np.arange(1, len(d) + 1)
        frames.append(d)
    if not frames:
        raise ConfigError(f"run {run.model} has no training curves (a scikit-learn model or fused run)")
    mean = pd.concat(frames).groupby("epoch").mean(numeric_only=True).reset_index()
    ren = {"train_accuracy": "train_acc", "test_accuracy": "test_acc"}
    return mean.rename(columns=ren)


def curves_figure(run: Run, title: str | None = None, stage: str | None = None):
    """Training loss and accuracy per epoch with the test part's (dashed: monitored, not used for any
    decision), mean over folds (C3D Fig. 4)."""
    c = curves(run, stage)
    hist = c.rename(columns={"test_loss": "val_loss", "test_acc": "val_acc"})
    fig = report.curves_figure(hist, title=title)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label() == "validation":
                line.set_label("test part (monitor only)")
        if ax.get_legend() is not None:
            ax.legend(frameon=False)
    return fig


def confusion(run: Run) -> pd.DataFrame:
    """Pooled confusion matrix of a run (rows true, columns predicted), in the run's class order."""
    pred = run.evaluation.predictions()
    labels = list(run.evaluation.labels)
    cm = pd.crosstab(pd.Categorical(pred["y_true"], labels), pd.Categorical(pred["y_pred"], labels),
                     dropna=False)
    cm.index, cm.columns = labels, labels
    cm.index.name, cm.columns.name = "true", "predicted"
    return cm


def confusion_figure(run: Run, title: str | None = None):
    return report.confusion_figure(confusion(run), title=title)


def audit(runs: dict) -> pd.DataFrame:
    """The leakage audit of each run: protocol, folds, test clips, test subjects also seen in training."""
    rows = []
    for key, run in runs.items():
        f = run.evaluation.folds()
        rows.append({"run": " / ".join(map(str, key if isinstance(key, tuple) else (key,))),
                     "protocol": protocol_name(run), "n_folds": len(f), "n_test": int(f["n_test"].sum()),
                     "shared_subjects_max": int(f["n_shared_subjects"].max()),
                     **run.evaluation.leakage()})
    return pd.DataFrame(rows)

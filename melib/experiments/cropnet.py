"""CropNet's experiments (CropNet section 4): CASME II five classes under LOSO (Table 2), the MEGC2019
composite three classes with UF1 and UAR pooled over all folds and per dataset (Table 3), the ablations of
Table 4 (ARS, RRS, optical flow inputs; with and without CGPO) and the CGPO crops of one clip.

What each profile runs (:data:`PLANS`; the paper's full grid under ``paper``):

- ``smoke``: every Table 2-4 run except TV-L1 flow (5 s per clip to compute), LOSO, 1 epoch.
- ``default``: Table 2 (ARS, RRS), Table 3 (ARS) and Table 4's ARS, RRS and ARS without CGPO; the optical
  flow rows only under ``paper`` (TV-L1 takes 5 s per clip to compute). 3 epochs at batch 32 (CropNet's
  extractor is the slowest model of the study on CPU: 10 sub-images per clip); 3 subject-disjoint folds
  (``group_kfold``, stratified) instead of LOSO (5 folds on CASME II, 15 on the composite set).
- ``paper``: every run, LOSO everywhere, the trainer's 30 epochs (CropNet states none), batch 16.

Choices (CropNet is silent; the book lists them):

- Accuracy, UF1 and UAR are pooled over the folds' predictions (the MEGC2019 rule, CropNet Eqs. 9-11); Table 3's
  per-dataset parts are the pooled scores of each dataset's clips inside the composite run.
- The model kept is the last epoch's (no validation part is described); no augmentation (CropNet 4.2 lists
  colour jitter, grey, flips and rotations; not implemented here) and no ImageNet pre-training.
- AdamP with the trainer's learning rate 1e-3 and label smoothing 0.1 (``melib.models.cropnet.PAPER_TRAINING``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import published, report, study as study_mod
from ..errors import ConfigError
from ..preprocess import pipelines
from . import Run, evaluate_model, headline_frame, headline_row, labelled
from .c3d import plan_epochs, protocol_name

PAPER = "CropNet"
MODEL = "cropnet"
INPUTS = {  # Table 4 row -> (pipeline kind, CGPO)
    "CropNet+ARS": ("ars", True),
    "CropNet+RRS": ("rrs", True),
    "CropNet+Optical FLOW(Farneback)": ("farneback", True),
    "CropNet+Optical FLOW(TV-L1)": ("tvl1", True),
    "CropNet without CGPO +ARS": ("ars", False),
}
_ALL = tuple(INPUTS)
PLANS = {
    "smoke": {"table2": ("ARS", "RRS"), "table4": tuple(k for k in _ALL if "TV-L1" not in k), "epochs": None,
              "batch_size": None, "max_folds": None},
    "default": {"table2": ("ARS", "RRS"), "table4": ("CropNet+ARS", "CropNet+RRS", "CropNet without CGPO +ARS"),
                "epochs": 3, "batch_size": 32, "max_folds": 3},
    "paper": {"table2": ("ARS", "RRS"), "table4": _ALL, "epochs": None, "batch_size": None,
              "max_folds": None},
}


def plan(p) -> dict:
    if p.profile not in PLANS:
        raise ConfigError(f"no CropNet plan for profile {p.profile!r}; choose one of {', '.join(PLANS)}")
    return dict(PLANS[p.profile])


def subject_protocol(p, samples: pd.DataFrame, max_folds: int | None) -> tuple[str, dict]:
    """The chapter's subject-independent protocol: ``p.protocol`` when the notebook set one, else LOSO, or
    ``max_folds`` stratified subject-disjoint folds (``group_kfold``) when the set has more subjects than that
    (the ``default`` profile's time budget)."""
    if p.protocol:
        return p.protocol, {}
    n_subjects = samples["subject"].nunique()
    if max_folds and n_subjects > max_folds:
        return "group_kfold", {"n_splits": max_folds, "stratify": True, "seed": p.seed}
    return "loso", {}


def _n_classes(samples: pd.DataFrame) -> int:
    return int(samples["label"].nunique())


def run(p, samples: pd.DataFrame, method: str = "CropNet+ARS", max_folds: int | None = None,
        progress: bool = False, **config_changes) -> Run:
    """Train and test CropNet with the input of Table 4 row ``method`` on labelled ``samples``."""
    if method not in INPUTS:
        raise ConfigError(f"unknown CropNet input {method!r}; choose one of {', '.join(INPUTS)}")
    kind, cgpo = INPUTS[method]
    pl = plan(p)
    protocol, params = subject_protocol(p, samples, plan(p)["max_folds"] if max_folds is None else max_folds)
    cfg = {"threads": 1, **plan_epochs(p, PLANS), **config_changes}
    if pl["batch_size"] and "batch_size" not in cfg:
        cfg["batch_size"] = pl["batch_size"]
    return evaluate_model(p, samples, MODEL, protocol=protocol, protocol_params=params,
                          model_kwargs={"n_classes": _n_classes(samples), "cgpo": cgpo},
                          pipeline_kwargs={"kind": kind}, name=f"{MODEL}_{kind}" + ("" if cgpo else "_nocgpo"),
                          progress=progress, **cfg)


def _scores(r: Run, method: str) -> dict:
    pooled = r.evaluation.pooled
    return {"method": method, "protocol": protocol_name(r), "n_folds": len(r.evaluation.records),
            "n_test": pooled["n"], "accuracy": pooled["accuracy"], "uf1": pooled["uf1"], "uar": pooled["uar"],
            "leakage_max": r.evaluation.leakage()["leakage_max"]}


def _beside(rows: pd.DataFrame, pub: pd.DataFrame, on: list[str], provenance: str, metrics) -> pd.DataFrame:
    long = rows.melt(id_vars=[c for c in rows.columns if c not in metrics], value_vars=list(metrics),
                     var_name="metric", value_name="value")
    out = report.side_by_side(long[on + ["value"]], pub, on=on, provenance=provenance)
    extra = rows[[c for c in ("method", "dataset", "protocol", "n_folds", "leakage_max") if c in rows.columns]]
    keys = [c for c in on if c in extra.columns]
    return out.merge(extra.drop_duplicates(keys), on=keys, how="left")


def casme2(p, samples_table: pd.DataFrame, provenance: str | None = None,
           progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """CASME II five classes (cropnet5), LOSO: Table 2 (accuracy; ARS and RRS beside the published methods)
    and Table 4 (UF1 and accuracy of each input and of CropNet without CGPO). Returns (table 2, table 4,
    runs keyed by Table 4 row)."""
    lab = labelled(samples_table, "cropnet5")
    provenance = provenance or report.provenance_label(lab)
    pl = plan(p)
    wanted = list(dict.fromkeys([f"CropNet+{m}" for m in pl["table2"]] + list(pl["table4"])))
    runs = {m: run(p, lab, m, progress=progress) for m in wanted}
    rows = pd.DataFrame([_scores(r, m) for m, r in runs.items()])
    t2_rows = rows[rows["method"].isin([f"CropNet+{m}" for m in pl["table2"]])].copy()
    t2_rows["method"] = t2_rows["method"].str.replace(r"^CropNet\+(\w+)$", r"\1+CropNet", regex=True)
    t2 = _beside(t2_rows, published.table(PAPER, "Table 2"), ["method", "metric"], provenance, ("accuracy",))
    t4 = _beside(rows, published.table(PAPER, "Table 4"), ["method", "metric"], provenance, ("uf1", "accuracy"))
    return t2, t4, runs


def composite(p, samples_table: pd.DataFrame, provenance: str | None = None, method: str = "CropNet+ARS",
              progress: bool = False) -> tuple[pd.DataFrame, Run]:
    """MEGC2019 composite three classes (Table 3): UF1 and UAR pooled over all folds, on the whole set and on
    each dataset's part, beside CropNet's published rows. Returns (table, run)."""
    lab = labelled(samples_table, "megc2019")
    provenance = provenance or report.provenance_label(lab)
    r = run(p, lab, method, progress=progress)
    parts = r.evaluation.by_dataset().reset_index()
    every = published.dataset_key(*lab["dataset"].unique())
    parts["dataset"] = parts["dataset"].replace({"all": every})
    kind = INPUTS[method][0].upper()
    rows = parts.assign(method=f"{kind}+CropNet", protocol=protocol_name(r), n_folds=len(r.evaluation.records),
                        leakage_max=r.evaluation.leakage()["leakage_max"])
    pub = published.table(PAPER, "Table 3")
    pub = pub[pub["ours"].astype(bool)]
    out = _beside(rows[["method", "dataset", "protocol", "n_folds", "leakage_max", "n", "uf1", "uar"]], pub,
                  ["method", "dataset", "metric"], provenance, ("uf1", "uar"))
    order = {d: i for i, d in enumerate([every, "smic", "casme2", "samm"])}
    out = out.sort_values(["method", "dataset"], key=lambda s: s.map(order) if s.name == "dataset" else s,
                          kind="stable")
    return out.reset_index(drop=True), r


def headline(runs5: dict, run3: Run) -> pd.DataFrame:
    """CropNet's headline: ARS+CropNet's accuracy on CASME II (Table 2; ``runs5`` of :func:`casme2`) and its
    UF1 and UAR on the MEGC2019 composite (Table 3; ``run3`` of :func:`composite`), all pooled over folds."""
    rows = []
    if "CropNet+ARS" in runs5:
        r = runs5["CropNet+ARS"]
        rows.append(headline_row(PAPER, "Table 2", "ARS+CropNet", r, "accuracy", r.evaluation.pooled["accuracy"]))
    rows += [headline_row(PAPER, "Table 3", "ARS+CropNet", run3, m, run3.evaluation.pooled[m]) for m in ("uf1", "uar")]
    return headline_frame(PAPER, rows)


def cgpo_example(samples_table: pd.DataFrame, show_real_frames: bool = False, kind: str = "ars"):
    """The ten CGPO sub-images (CropNet 3.2.2) of one clip's ARS image at the paper's 160×160, with titles
    ("z0 (whole, 160)", "z1 (tile 1 of 320)", ...), as (crops (10, 160, 160, 3), titles, row); ``None`` for
    the crops when the clip is a licensed one and ``show_real_frames`` is False."""
    row = study_mod.example_clip(samples_table, show_real_frames)
    if not study_mod.frames_allowed(row, show_real_frames):
        return None, [], row
    x = pipelines.cropnet_inputs(row, kind=kind)["cgpo"]  # (10, 3, 160, 160) in [0, 1]
    crops = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    titles = ["z0 (whole, 160)"] + [f"z{i} (tile {i} of 320)" for i in range(1, len(crops))]
    return crops, titles, row

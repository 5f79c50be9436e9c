"""CropNet's experiments (CropNet section 4): CASME II five classes under LOSO (Table 2), the MEGC2019
composite three classes with UF1 and UAR pooled over all folds and per dataset (Table 3), the ablations of
Table 4 (ARS, RRS, optical flow inputs; with and without CGPO) and the CGPO crops of one clip.

``result = cropnet.run(p, samples)`` runs the plan (:func:`plan`). ``scheme`` chooses the settings: None
(the paper's) runs both, ``cropnet5`` Tables 2 and 4 (CASME II, five classes), ``megc2019`` Table 3 (the
composite, three classes); ``protocol`` (default LOSO, CropNet 4.3) is every run's.

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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import published, recipes, report
from ..frames import example_clip, frames_allowed
from ..errors import ConfigError
from ..preprocess import pipelines
from .common import (PROTOCOLS, Run, execute_all, headline_frame, headline_row, labelled, parts, protocol_for,
                     protocol_name, training)
from .contract import MODEL_PARAMETERS, Chapter

PAPER = "CropNet"
MODEL = "cropnet"
PROTOCOL = "loso"
TABLE234 = "cropnet5"  # Tables 2 and 4: CASME II, five classes (CropNet 4.3)
TABLE3 = "megc2019"    # Table 3: the MEGC2019 composite, three classes
INPUTS = {  # Table 4 row -> (pipeline kind, CGPO)
    "CropNet+ARS": ("ars", True),
    "CropNet+RRS": ("rrs", True),
    "CropNet+Optical FLOW(Farneback)": ("farneback", True),
    "CropNet+Optical FLOW(TV-L1)": ("tvl1", True),
    "CropNet without CGPO +ARS": ("ars", False),
}
_ALL = tuple(INPUTS)
PLANS = {
    "smoke": {"table2": ("ARS", "RRS"), "table4": tuple(k for k in _ALL if "TV-L1" not in k),
              "table3": ("CropNet+ARS",)},
    "default": {"table2": ("ARS", "RRS"), "table4": ("CropNet+ARS", "CropNet+RRS", "CropNet without CGPO +ARS"),
                "table3": ("CropNet+ARS",), "epochs": 3, "batch_size": 32, "max_folds": 3},
    "paper": {"table2": ("ARS", "RRS"), "table4": _ALL, "table3": ("CropNet+ARS",)},
}


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Tables 2 and 4 on ``cropnet5`` and Table 3 on ``megc2019``, as ``p.scheme`` chooses (``changes``: plan
    keys, e.g. ``table4=("CropNet+ARS",)``). Keys (scheme, Table 4 row)."""
    st = CHAPTER.settings(p, **changes)
    wanted = {TABLE234: list(dict.fromkeys([f"CropNet+{m}" for m in st["table2"]] + list(st["table4"]))),
              TABLE3: list(st["table3"])}
    unknown = sorted({m for ms in wanted.values() for m in ms} - set(INPUTS))
    if unknown:
        raise ConfigError(f"unknown CropNet input(s) {unknown}; choose from {', '.join(INPUTS)}")
    specs = []
    for scheme, methods in wanted.items():
        if p.scheme not in (None, scheme) or not methods:
            continue
        lab = labelled(samples, scheme)
        protocol, pp = protocol_for(p, p.protocol or PROTOCOL, lab, st)
        cfg = CHAPTER.trainer(p, st, threads=1)
        for m in methods:
            kind, cgpo = INPUTS[m]
            specs.append(training(p, (scheme, m), MODEL, lab, protocol, pp, model_params={"cgpo": cgpo},
                                  pipeline_params={"kind": kind},
                                  name=f"{MODEL}_{kind}" + ("" if cgpo else "_nocgpo"), config=cfg))
    return specs


@dataclass
class Result:
    """The runs of the plan keyed by (scheme, Table 4 row), and the provenance of each scheme's clips."""
    runs: dict
    provenance: dict

    def of(self, scheme: str) -> dict[str, Run]:
        return {m: r for (s, m), r in self.runs.items() if s == scheme}

    def summary(self) -> pd.DataFrame:
        """One row per run: scheme, input, protocol, folds, clips and pooled scores, leakage."""
        return pd.DataFrame([{"scheme": s, **_scores(r, m)} for (s, m), r in self.runs.items()])


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Run the chapter's plan (:func:`plan`)."""
    runs = execute_all(p, plan(p, samples, **changes), samples, progress)
    prov = {s: report.provenance_label(labelled(samples, s)) for s in {k[0] for k in runs}}
    return Result(runs, prov)


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


_COLUMNS = ["method", "protocol", "n_folds", "n_test", "accuracy", "uf1", "uar", "leakage_max"]


def table2(result: Result) -> pd.DataFrame:
    """CropNet Table 2 (accuracy; ARS and RRS on CASME II's five classes beside the published methods)."""
    runs = result.of(TABLE234)
    rows = pd.DataFrame([_scores(r, m) for m, r in runs.items()], columns=_COLUMNS)
    rows = rows[rows["method"].isin(["CropNet+ARS", "CropNet+RRS"])].copy()
    rows["method"] = rows["method"].str.replace(r"^CropNet\+(\w+)$", r"\1+CropNet", regex=True)
    return _beside(rows, published.table(PAPER, "Table 2"), ["method", "metric"],
                   result.provenance.get(TABLE234, report.NOT_RUN), ("accuracy",))


def table4(result: Result) -> pd.DataFrame:
    """CropNet Table 4 (UF1 and accuracy of each input and of CropNet without CGPO, CASME II five classes)."""
    rows = pd.DataFrame([_scores(r, m) for m, r in result.of(TABLE234).items()], columns=_COLUMNS)
    return _beside(rows, published.table(PAPER, "Table 4"), ["method", "metric"],
                   result.provenance.get(TABLE234, report.NOT_RUN), ("uf1", "accuracy"))


def table3(result: Result, method: str = "CropNet+ARS") -> pd.DataFrame:
    """MEGC2019 composite three classes (Table 3): UF1 and UAR pooled over all folds, on the whole set and on
    each dataset's part, beside CropNet's published rows."""
    pub = published.table(PAPER, "Table 3")
    pub = pub[pub["ours"].astype(bool)]
    r = result.of(TABLE3).get(method)
    cols = ["method", "dataset", "protocol", "n_folds", "leakage_max", "n", "uf1", "uar"]
    if r is None:
        rows = pd.DataFrame(columns=cols)
        every = None
    else:
        every = published.dataset_key(*r.evaluation.predictions()["dataset"].unique())
        rows = parts(r.evaluation).assign(method=f"{INPUTS[method][0].upper()}+CropNet", protocol=protocol_name(r),
                            n_folds=len(r.evaluation.records), leakage_max=r.evaluation.leakage()["leakage_max"])
    out = _beside(rows[cols], pub, ["method", "dataset", "metric"], result.provenance.get(TABLE3, report.NOT_RUN),
                  ("uf1", "uar"))
    order = {d: i for i, d in enumerate([every, "smic", "casme2", "samm"])}
    out = out.sort_values(["method", "dataset"], key=lambda s: s.map(order) if s.name == "dataset" else s,
                          kind="stable")
    return out.reset_index(drop=True)


def headline(result: Result) -> pd.DataFrame:
    """CropNet's headline: ARS+CropNet's accuracy on CASME II (Table 2) and its UF1 and UAR on the MEGC2019
    composite (Table 3), all pooled over folds; a setting the scheme left out has no row."""
    rows = []
    r5 = result.of(TABLE234).get("CropNet+ARS")
    if r5 is not None:
        rows.append(headline_row(PAPER, "Table 2", "ARS+CropNet", r5, "accuracy", r5.evaluation.pooled["accuracy"]))
    r3 = result.of(TABLE3).get("CropNet+ARS")
    if r3 is not None:
        rows += [headline_row(PAPER, "Table 3", "ARS+CropNet", r3, m, r3.evaluation.pooled[m]) for m in ("uf1", "uar")]
    return headline_frame(PAPER, rows)


def cgpo_example(samples_table: pd.DataFrame, show_real_frames: bool = False, kind: str = "ars"):
    """The ten CGPO sub-images (CropNet 3.2.2) of one clip's ARS image at the paper's 160×160, with titles
    ("z0 (whole, 160)", "z1 (tile 1 of 320)", ...), as (crops (10, 160, 160, 3), titles, row); ``None`` for
    the crops when the clip is a licensed one and ``show_real_frames`` is False."""
    row = example_clip(samples_table, show_real_frames)
    if not frames_allowed(row, show_real_frames):
        return None, [], row
    x = pipelines.cropnet_inputs(row, kind=kind)["cgpo"]  # (10, 3, 160, 160) in [0, 1]
    crops = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    titles = ["z0 (whole, 160)"] + [f"z{i} (tile {i} of 320)" for i in range(1, len(crops))]
    return crops, titles, row


PARAMETERS = (*[k for k in MODEL_PARAMETERS if k != "frame_size"], "show_real_frames")  # CGPO's 320 px is fixed
CHAPTER = Chapter("cropnet", "13_cropnet", PAPER, (TABLE234, TABLE3), None, PROTOCOLS, PROTOCOL, PARAMETERS, PLANS,
                  plan, run, ("cropnet",), {"Table 2": table2, "Table 3": table3, "Table 4": table4},
                  {"Fig. 3": cgpo_example}, headline, Result.summary, learns=recipes.learns(PAPER))

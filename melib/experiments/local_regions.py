"""LocalRegions' experiments (LocalRegions section 4): two-stage training inside every fold, MEGC2019 FULL three
classes (Tables 3, 10), five AU-based classes (Tables 4, 11), the region, CNN and loss ablations (Tables 5-7)
and the cross-dataset runs (Tables 12-13).

The model is ``localregions_2stage`` (``melib.models.local_regions_stages``): stage ``cnn`` trains the six
region CNNs on single frames with their region-specific labels (LocalRegions Table 1: the clip's class, or
"no_reaction" where the class does not show) and the focal loss (Eq. 5, alpha 1/2, gamma 2: Table 7);
stage ``lstm`` freezes those CNNs and trains the per-region LSTMs and the classifier (Eqs. 6-7) on their
FCL_20 features, in one fit. The test clips are scored once, after stage 2.

``result = local_regions.run(p, samples)`` runs the plan (:func:`plan`). ``scheme`` chooses the settings:
None (the paper's) runs both, ``megc2019`` Table 10, the ablations of Tables 5-7 and Table 12,
``localregions5`` Tables 11 and 13; ``protocol`` (default LOSO, LocalRegions 4.5) is every run's but the
cross-dataset ones (Tables 12-13, defined by their datasets).

What each profile runs (:data:`PLANS`; the paper's grid under ``paper``):

- ``smoke``: FULL (3 classes) and 5 classes, the whole-face ablation, LOSO, 1 epoch per stage.
- ``default``: FULL and 5 classes, the whole-face ablation (Table 5's first column) and Table 13's two
  cross-dataset runs; 3 epochs per stage at batch 32, and 3 subject-disjoint folds (``group_kfold``, stratified)
  instead of LOSO (15 folds on the composite set, 10 on the 5-class set). The classic-CNN, no-nose / no-cheeks, cross-entropy and Table 12 runs are left to ``paper``.
- ``paper``: everything, LOSO, the trainer's 30 epochs per stage (LocalRegions states none).

Choices (LocalRegions is silent; the book lists them):

- Stage 1 trains the six region CNNs together, padding frames unlabelled (``melib.models.local_regions_stages``).
- Optimiser Adam, learning rate 1e-3 (the trainer's defaults), the same for both stages; the last epoch of
  each stage is kept (no validation part is described).
- Scores are pooled over folds (MEGC2019). Tables 12-13 print "F1-score": this study puts its macro F1 (UF1)
  there.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import published, recipes, report
from ..errors import ConfigError
from .common import (PROTOCOLS, Run, execute_all, headline_frame, headline_row, labelled, parts, protocol_for,
                     protocol_name, training)
from .contract import MODEL_PARAMETERS, Chapter

PAPER = "LocalRegions"
MODEL = "localregions_2stage"
PROTOCOL = "loso"
FULL, FIVE = "megc2019", "localregions5"  # Table 10 (with Tables 5-7, 12) and Table 11 (with Table 13)
ALL = ("eye_left", "eye_right", "nose", "cheek_right", "cheek_left", "mouth")
ABLATIONS = {  # (table, setting printed in melib.published) -> model changes / trainer changes
    ("Table 5", "regions=whole face"): ({"regions": ("face",)}, {}),
    ("Table 5", "regions=no cheeks"): ({"regions": tuple(r for r in ALL if "cheek" not in r)}, {}),
    ("Table 5", "regions=no nose"): ({"regions": tuple(r for r in ALL if r != "nose")}, {}),
    ("Table 6", "cnn=simple CNN"): ({"cnn": "classic"}, {}),
    ("Table 7", "loss=CE"): ({}, {"loss": "ce"}),
}
FULL_SETTINGS = {"Table 5": "regions=all regions", "Table 6": "cnn=proposed",
                 "Table 7": "loss=focal (alpha=1/2, gamma=2)"}
# LocalRegions Table 12 (MEGC2019 3 classes) and Table 13 (5 AU-based classes): (train, test) datasets.
CROSS = {
    "Table 12": (FULL, ((("casme2", "smic"), ("samm",)), (("casme2", "samm"), ("smic",)),
                        (("smic", "samm"), ("casme2",)), (("casme2",), ("smic",)), (("casme2",), ("samm",)),
                        (("smic",), ("casme2",)), (("smic",), ("samm",)), (("samm",), ("casme2",)),
                        (("samm",), ("smic",)))),
    "Table 13": (FIVE, ((("casme2",), ("samm",)), (("samm",), ("casme2",)))),
}
PLANS = {
    "smoke": {"ablations": (("Table 5", "regions=whole face"),), "cross": ("Table 13",)},
    "default": {"ablations": (("Table 5", "regions=whole face"),), "cross": ("Table 13",), "epochs": 3,
                "batch_size": 32, "max_folds": 3},
    "paper": {"ablations": tuple(ABLATIONS), "cross": ("Table 12", "Table 13")},
}


def spec(p, key: tuple, lab: pd.DataFrame, settings: dict, protocol: str | None = None, params: dict | None = None,
         model_changes: dict | None = None, inputs: dict | None = None, **config_changes):
    """The TrainingSpec of two-stage LocalRegions on labelled ``lab`` under the chapter's protocol (or the one
    given); ``inputs``: pipeline settings (``preprocess.pipelines.local_regions_inputs``)."""
    if protocol is None:
        protocol, params = protocol_for(p, p.protocol or PROTOCOL, lab, settings)
    cfg = CHAPTER.trainer(p, settings, threads=1, **config_changes)
    return training(p, key, MODEL, lab, protocol, params or {}, model_params=model_changes,
                    pipeline_params=inputs, config=cfg, classes_as="classes")


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """FULL (Table 10) and its ablations and Table 12 under ``megc2019``, five classes (Table 11) and Table 13
    under ``localregions5``, as ``p.scheme`` chooses (``changes``: plan keys, e.g. ``ablations=()``)."""
    st = CHAPTER.settings(p, **changes)
    specs = []
    for scheme in (FULL, FIVE):
        if p.scheme not in (None, scheme):
            continue
        lab = labelled(samples, scheme)
        specs.append(spec(p, (scheme, "FULL"), lab, st))
        if scheme == FULL:
            for key in map(tuple, st["ablations"]):  # a plan given as JSON holds lists
                if key not in ABLATIONS:
                    raise ConfigError(f"unknown LocalRegions ablation {list(key)}; choose from "
                                      f"{', '.join(str(list(k)) for k in ABLATIONS)}")
                mk, ck = ABLATIONS[key]
                specs.append(spec(p, (scheme, *key), lab, st, model_changes=mk, **ck))
        present = set(lab["dataset"])
        for table in st["cross"]:
            if CROSS[table][0] != scheme:
                continue
            for train_sets, test_sets in CROSS[table][1]:
                if set(train_sets + test_sets) <= present:
                    key = (scheme, table, published.dataset_key(*train_sets), published.dataset_key(*test_sets))
                    specs.append(spec(p, key, lab, st, "cross_dataset", {"train": train_sets, "test": test_sets}))
    return specs


@dataclass
class Result:
    """The runs of the plan keyed as :func:`plan` keys them, and the provenance of each scheme's clips."""
    runs: dict
    provenance: dict

    def full(self, scheme: str = FULL) -> Run | None:
        return self.runs.get((scheme, "FULL"))

    def summary(self) -> pd.DataFrame:
        """One row per run: its key, scheme, protocol, folds and pooled scores, leakage."""
        return pd.DataFrame([{"run": " / ".join(k[1:]), "scheme": k[0], "protocol": protocol_name(r),
                              "n_folds": len(r.evaluation.records), **{m: r.evaluation.pooled[m] for m in
                                                                       ("accuracy", "uf1", "uar")},
                              "leakage_max": r.evaluation.leakage()["leakage_max"]} for k, r in self.runs.items()])


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Run the chapter's plan (:func:`plan`)."""
    runs = execute_all(p, plan(p, samples, **changes), samples, progress)
    return Result(runs, {s: report.provenance_label(labelled(samples, s)) for s in {k[0] for k in runs}})


def _rows(r: Run, **keys) -> pd.DataFrame:
    return parts(r.evaluation).assign(method="LocalRegions", protocol=protocol_name(r),
                                      n_folds=len(r.evaluation.records),
                                      leakage_max=r.evaluation.leakage()["leakage_max"], **keys)


def _beside(rows: pd.DataFrame, pub: pd.DataFrame, on: list[str], metrics, provenance: str) -> pd.DataFrame:
    long = rows.melt(id_vars=[c for c in rows.columns if c not in metrics], value_vars=list(metrics),
                     var_name="metric", value_name="value")
    out = report.side_by_side(long[on + ["value"]], pub, on=on, provenance=provenance)
    keys = [c for c in on if c != "metric"]
    extra = rows[keys + ["protocol", "n_folds", "leakage_max"]].drop_duplicates(keys)
    return out.merge(extra, on=keys, how="left")


_PARTS = ["method", "dataset", "protocol", "n_folds", "leakage_max", "accuracy", "uf1", "uar"]


def _whole(result: Result, scheme: str, table: str, metrics) -> pd.DataFrame:
    r = result.full(scheme)
    rows = _rows(r) if r is not None else pd.DataFrame(columns=_PARTS)
    return _beside(rows, published.table(PAPER, table), ["method", "dataset", "metric"], metrics,
                   result.provenance.get(scheme, report.NOT_RUN))


def table10(result: Result) -> pd.DataFrame:
    """MEGC2019 FULL, three classes (LocalRegions Table 10): UF1 and UAR pooled over the folds, on the whole
    set and each dataset's part."""
    return _whole(result, FULL, "Table 10", ("uf1", "uar"))


def table11(result: Result) -> pd.DataFrame:
    """Five AU-based classes I-V on CASME II + SAMM (LocalRegions Table 11): UF1 and accuracy pooled, whole
    and per dataset."""
    return _whole(result, FIVE, "Table 11", ("uf1", "accuracy"))


def ablations(result: Result) -> pd.DataFrame:
    """Tables 5-7 on the FULL set: the ablations run beside the full model, each with accuracy, UAR and UF1
    pooled."""
    runs = {k[1:]: r for k, r in result.runs.items() if k[0] == FULL and k[1:] in ABLATIONS}
    tables = sorted({k[0] for k in runs} | ({"Table 5"} if runs else set()))
    if result.full(FULL) is not None:
        runs.update({(t, FULL_SETTINGS[t]): result.full(FULL) for t in tables})
    rows = pd.DataFrame([{"table": t, "method": "LocalRegions", "setting": setting, "protocol": protocol_name(r),
                          "n_folds": len(r.evaluation.records), "leakage_max": r.evaluation.leakage()["leakage_max"],
                          **{m: r.evaluation.pooled[m] for m in ("accuracy", "uar", "uf1")}}
                         for (t, setting), r in runs.items()],
                        columns=["table", "method", "setting", "protocol", "n_folds", "leakage_max", "accuracy",
                                 "uar", "uf1"])
    if not tables:
        return rows
    pub = pd.concat([published.table(PAPER, t).assign(table=t) for t in tables], ignore_index=True)
    out = _beside(rows, pub, ["table", "method", "setting", "metric"], ("accuracy", "uar", "uf1"),
                  result.provenance.get(FULL, report.NOT_RUN))
    return out.sort_values(["table", "setting", "metric"], kind="stable").reset_index(drop=True)


def cross_dataset(result: Result) -> pd.DataFrame:
    """Tables 12-13 (as the plan allowed): train on some datasets, test on another, one model each; accuracy
    and macro F1 beside the published numbers, with the leakage audit (0 by construction)."""
    rows, tables = [], []
    for key, r in result.runs.items():
        if len(key) == 4:
            scheme, table, train_key, test_key = key
            tables.append(table)
            pooled = r.evaluation.pooled
            rows.append({"table": table, "method": "LocalRegions", "train": train_key, "dataset": test_key,
                         "protocol": protocol_name(r), "n_folds": 1,
                         "leakage_max": r.evaluation.leakage()["leakage_max"], "accuracy": pooled["accuracy"],
                         "f1": pooled["uf1"], "provenance": result.provenance[scheme]})
    if not rows:
        return pd.DataFrame()
    rows = pd.DataFrame(rows)
    pub = pd.concat([published.table(PAPER, t).assign(table=t) for t in dict.fromkeys(tables)], ignore_index=True)
    out = _beside(rows.drop(columns="provenance"), pub, ["table", "method", "train", "dataset", "metric"],
                  ("accuracy", "f1"), rows["provenance"].iloc[0])
    return out.sort_values(["table", "train", "dataset", "metric"], kind="stable").reset_index(drop=True)


def headline(result: Result) -> pd.DataFrame:
    """LocalRegions' headline, pooled over folds on the whole set: UF1 and UAR on the MEGC2019 composite
    (Table 10) and UF1 and accuracy on the five classes (Table 11); a setting the scheme left out has no row."""
    rows = [headline_row(PAPER, table, "LocalRegions", r, m, r.evaluation.pooled[m])
            for table, r, metrics in (("Table 10", result.full(FULL), ("uf1", "uar")),
                                      ("Table 11", result.full(FIVE), ("uf1", "accuracy")))
            if r is not None for m in metrics]
    return headline_frame(PAPER, rows)


TABLES = {"Table 10": table10, "Table 11": table11, "Tables 5-7": ablations, "Tables 12-13": cross_dataset}
CHAPTER = Chapter("local_regions", "14_local_regions", PAPER, (FULL, FIVE), None, PROTOCOLS, PROTOCOL,
                  MODEL_PARAMETERS, PLANS, plan, run, ("localregions",), TABLES, {}, headline, Result.summary,
                  learns=recipes.learns(PAPER))

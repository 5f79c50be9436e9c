"""The handcrafted-baselines chapter: LBP-TOP + SVM and LBP-SIP + SVM under the papers' two protocols.

- MEGC2019 (3 classes) under LOSO, pooled UF1 / UAR per dataset and on the composite (the MEGC2019 rule),
  beside the LBP-TOP rows of CropNet Table 3 and LocalRegions Table 8 (the MEGC2019 baseline: 5x5 blocks,
  radii (1, 1, 4), 4 points per plane).
- PNSO (4 classes, DLHN / PSN relabelling) under sample-level stratified 10-fold, beside the handcrafted
  rows of DLHN Table 6 (LBP-TOP and LBP-SIP on 2x2 and 4x4 blocks, accuracy as the mean of the folds,
  DLHN Eq. 11) and PSN Table 5 (LBP-SIP on 6x6, 7x7, 8x8 blocks) and Table 6 (LBP-SIP 7x7, UAR / UF1).

Features: ``melib.preprocess.pipelines.lbp_features`` (cached per clip); classifier:
``melib.models.baselines.lbp_svm`` (linear SVC, C = 1, standardised features); evaluation:
``melib.train.evaluate`` (run records, leakage audit).

Choices where the papers are silent or the data are too small (deviations): with fewer than 10 clips in
some class (the smoke set) the k-fold protocol uses as many folds as the rarest class has clips
(:func:`kfold_splits`), and the table says so; DLHN's folds are "equally randomly distributed" (DLHN 4.1), not
said to be stratified, PSN's are stratified (PSN 3.2): both are run as stratified 10-fold here; UF1 and UAR
are pooled over folds (the MEGC2019 rule) everywhere, accuracy is the mean of folds under k-fold (DLHN
Eq. 11) and pooled under LOSO.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from .. import published, train
from ..errors import ConfigError
from ..preprocess import pipelines
from . import labelled

LOSO_SCHEME = "megc2019"
KFOLD_SCHEME = "pnso"
MEGC_BLOCKS = (5, 5)  # the MEGC2019 baseline (melib.preprocess.pipelines.lbp_features defaults)
# method (as the papers print it) -> (LBP kind, blocks)
LOSO_METHODS: dict[str, tuple[str, tuple[int, int]]] = {"LBP-TOP": ("top", MEGC_BLOCKS),
                                                       "LBP-SIP": ("sip", MEGC_BLOCKS)}
KFOLD_METHODS: dict[str, tuple[str, tuple[int, int]]] = {
    "LBP-TOP(2×2)+SVM": ("top", (2, 2)), "LBP-TOP(4×4)+SVM": ("top", (4, 4)),  # DLHN Table 6
    "LBP-SIP(2×2)+SVM": ("sip", (2, 2)), "LBP-SIP(4×4)+SVM": ("sip", (4, 4)),
    "LBP-SIP 6×6": ("sip", (6, 6)), "LBP-SIP 7×7": ("sip", (7, 7)), "LBP-SIP 8×8": ("sip", (8, 8)),  # PSN Table 5
}
# the published tables each protocol is compared with
LOSO_TABLES = (("CropNet", "Table 3"), ("LocalRegions", "Table 8"))
KFOLD_TABLES = (("DLHN", "Table 6"), ("PSN", "Table 5"), ("PSN", "Table 6"))


@dataclass
class BaselineRun:
    """One LBP + SVM method under one protocol."""
    method: str
    kind: str
    blocks: tuple[int, int]
    protocol: str  # as shown: "loso", "stratified_kfold(k=10)"
    aggregate: str  # accuracy: "pooled" or "mean" of folds
    evaluation: train.Evaluation
    samples: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        s = self.evaluation.summary()
        return {"method": self.method, "protocol": self.protocol, "n_clips": s["n_clips"],
                "n_folds": s["n_folds"], "accuracy": s["accuracy" if self.aggregate == "pooled" else "accuracy_mean"],
                "uf1": s["uf1"], "uar": s["uar"], "leakage_mean": s["leakage_mean"],
                "leakage_max": s["leakage_max"], "excluded": len(self.exclusions)}


def kfold_splits(samples: pd.DataFrame, want: int = 10) -> int:
    """``want`` folds, or fewer when the rarest class of labelled ``samples`` has fewer clips (at least 2)."""
    rarest = int(samples["label"].value_counts().min())
    if rarest < 2:
        raise ConfigError(f"stratified k-fold needs at least 2 clips per class; the rarest class has {rarest}")
    return min(want, rarest)


def run(samples: pd.DataFrame, kind: str, blocks=MEGC_BLOCKS, protocol: str = "loso",
        protocol_params: dict | None = None, method: str | None = None, progress: bool = False,
        lbp_params: Mapping | None = None, **svm_params) -> BaselineRun:
    """LBP-``kind`` (``blocks``) + SVM under ``protocol`` on labelled ``samples``."""
    feats, kept, exclusions = pipelines.build_inputs(samples, "lbp", progress=progress, kind=kind,
                                                     blocks=tuple(blocks), **dict(lbp_params or {}))
    kept_samples = samples.loc[kept]
    kept_samples.attrs = dict(samples.attrs)
    from ..models.baselines import lbp_svm

    name = method or f"LBP-{kind.upper()}({blocks[0]}x{blocks[1]})+SVM"
    ev = train.evaluate(lbp_svm(kind, **svm_params), feats["features"], kept_samples, protocol,
                        protocol_params=protocol_params, name=f"lbp_{kind}_{blocks[0]}x{blocks[1]}_svm",
                        progress=progress)
    k = (protocol_params or {}).get("n_splits")
    shown = f"{protocol}(k={k})" if protocol == "stratified_kfold" else protocol
    return BaselineRun(name, kind, tuple(blocks), shown, "mean" if protocol == "stratified_kfold" else "pooled",
                       ev, kept_samples, exclusions)


def loso_runs(samples: pd.DataFrame, methods: Mapping = LOSO_METHODS, scheme: str = LOSO_SCHEME,
              protocol: str = "loso", seed: int = 0, progress: bool = False) -> dict[str, BaselineRun]:
    """Each of ``methods`` on the MEGC2019 3-class labels (or ``scheme``) under LOSO (or ``protocol``:
    ``group_kfold`` with 5 folds, ``stratified_kfold`` with 10 or fewer (:func:`kfold_splits`), ``holdout``)."""
    lab = labelled(samples, scheme)
    params = {"loso": {}, "group_kfold": {"n_splits": 5, "seed": seed},
              "stratified_kfold": {"n_splits": kfold_splits(lab, 10), "seed": seed},
              "holdout": {"seed": seed}}.get(protocol)
    if params is None:
        raise ConfigError(f"protocol {protocol!r}: use loso, group_kfold, stratified_kfold or holdout here")
    return {m: run(lab, kind, blocks, protocol, params, method=m, progress=progress)
            for m, (kind, blocks) in methods.items()}


def kfold_runs(samples: pd.DataFrame, methods: Mapping = KFOLD_METHODS, n_splits: int = 10, seed: int = 0,
               progress: bool = False) -> dict[str, BaselineRun]:
    """Each of ``methods`` on the PNSO labels under stratified ``n_splits``-fold (fewer: :func:`kfold_splits`)."""
    lab = labelled(samples, KFOLD_SCHEME)
    k = kfold_splits(lab, n_splits)
    return {m: run(lab, kind, blocks, "stratified_kfold", {"n_splits": k, "seed": seed}, method=m,
                   progress=progress) for m, (kind, blocks) in methods.items()}


def summary(runs: Mapping[str, BaselineRun]) -> pd.DataFrame:
    """One row per run: scores, protocol and the leakage audit."""
    return pd.DataFrame([r.summary() for r in runs.values()]).set_index("method")


def _composite(samples: pd.DataFrame) -> str:
    return published.dataset_key(*samples["dataset"].unique())


def study_rows(runs: Mapping[str, BaselineRun], provenance: str, by_dataset: bool = False) -> pd.DataFrame:
    """Long rows (method, dataset, metric, value, protocol, leakage_max, provenance) for ``side_by_side``;
    ``by_dataset`` adds each dataset's pooled UF1 / UAR inside the composite (CropNet Table 3)."""
    rows = []
    for m, r in runs.items():
        s = r.summary()
        base = {"method": m, "protocol": r.protocol, "leakage_max": s["leakage_max"], "provenance": provenance}
        comp = _composite(r.samples)
        for metric in ("accuracy", "uf1", "uar"):
            rows.append({**base, "dataset": comp, "metric": metric, "value": s[metric]})
        if by_dataset:
            per = r.evaluation.by_dataset().drop(index="all")
            for ds, v in per.iterrows():
                for metric in ("uf1", "uar"):
                    rows.append({**base, "dataset": ds, "metric": metric, "value": float(v[metric])})
    return pd.DataFrame(rows)


def beside(rows: pd.DataFrame, paper: str, table: str, match_dataset: bool = True) -> pd.DataFrame:
    """``rows`` (:func:`study_rows`) beside ``published.table(paper, table)``'s rows of the same methods.

    ``match_dataset`` pairs numbers of the same (composite) dataset (LOSO on MEGC2019: the same three
    layouts); without it the composite of the study stands beside the paper's (the synthetic set has no
    CASME or CAS(ME)² layout), and both are named in ``published_dataset`` / ``study_dataset``. Published
    per-fold rows are dropped (only ``fold == "mean"`` or no fold). Columns: method, [dataset,] metric,
    published, published_provenance, study, study_provenance, difference, protocol (this study's),
    published_protocol, leakage_max (this study's).
    """
    from ..report import side_by_side

    pub = published.table(paper, table)
    pub = pub[pub["fold"].isna() | (pub["fold"].astype(str) == "mean")]
    pub = pub[pub["method"].isin(set(rows["method"])) & pub["metric"].isin(set(rows["metric"]))]
    if not len(pub):
        raise ConfigError(f"{paper} {table} has no rows for methods {sorted(set(rows['method']))}")
    if not match_dataset:  # the paper's composite rows only (PSN Table 6 also prints each database)
        size = pub["dataset"].str.count(r"\+")
        pub = pub[size == size.max()]
    study = rows[rows["method"].isin(set(pub["method"])) & rows["metric"].isin(set(pub["metric"]))]
    on = ["method", "dataset", "metric"] if match_dataset else ["method", "metric"]
    if not match_dataset:
        pub_ds = dict(zip(pub["method"], pub["dataset"]))
        comp = study.groupby("method")["dataset"].first()
        study = study[study["dataset"] == study["method"].map(comp)]
        pub = pub.assign(published_dataset=pub["dataset"].map(published.dataset_name))
    else:
        study = study[study["dataset"].isin(set(pub["dataset"]))]
    out = side_by_side(study[on + ["value", "provenance"]], pub[on + ["value", "provenance"]], on=on)
    meta = study.drop_duplicates("method").set_index("method")
    out["protocol"] = out["method"].map(meta["protocol"])
    out["published_protocol"] = out["method"].map(pub.drop_duplicates("method").set_index("method")["protocol"])
    out["leakage_max"] = out["method"].map(meta["leakage_max"])
    if not match_dataset:
        out["published_dataset"] = out["method"].map(pub_ds).map(published.dataset_name)
        out["study_dataset"] = out["method"].map(meta["dataset"]).map(published.dataset_name)
    return out


def confusion(run_: BaselineRun) -> tuple[list, list]:
    """The pooled confusion matrix (rows true) and its class labels."""
    pooled = run_.evaluation.pooled
    return pooled["confusion"], pooled["labels"]

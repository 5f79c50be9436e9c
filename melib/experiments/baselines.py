"""The handcrafted-baselines chapter: LBP-TOP + SVM and LBP-SIP + SVM under the papers' two protocols.

- MEGC2019 (3 classes) under LOSO, pooled UF1 / UAR per dataset and on the composite (the MEGC2019 rule),
  beside the LBP-TOP rows of CropNet Table 3 and LocalRegions Table 8 (the MEGC2019 baseline: 5x5 blocks,
  radii (1, 1, 4), 4 points per plane).
- PNSO (4 classes, DLHN / PSN relabelling) under sample-level stratified 10-fold, beside the handcrafted
  rows of DLHN Table 6 (LBP-TOP and LBP-SIP on 2x2 and 4x4 blocks, accuracy as the mean of the folds,
  DLHN Eq. 11) and PSN Table 5 (LBP-SIP on 6x6, 7x7, 8x8 blocks) and Table 6 (LBP-SIP 7x7, UAR / UF1).

Features: ``melib.preprocess.pipelines.lbp_features`` (cached per clip); classifier:
``melib.models.baselines.lbp_svm`` (linear SVC, C = 1, standardised features); evaluation:
``melib.train.evaluate`` (run records, leakage audit). ``result = baselines.run(p, samples)`` runs the plan
(:func:`plan`); ``scheme`` and ``protocol`` apply to both parts (None: each part's papers': MEGC2019 and
LOSO, PNSO and stratified 10-fold), and each table says the scheme and protocol of both sides.

Choices where the papers are silent or the data are too small (deviations): with fewer than 10 clips in
some class (the smoke set) the k-fold protocol uses as many folds as the rarest class has clips
(:func:`kfold_splits`), and the table says so; DLHN's folds are "equally randomly distributed" (DLHN 4.1), not
said to be stratified, PSN's are stratified (PSN 3.2): both are run as stratified 10-fold here; UF1 and UAR
are pooled over folds (the MEGC2019 rule) everywhere, accuracy is the mean of folds under k-fold (DLHN
Eq. 11) and pooled under LOSO.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from .. import published, report, train
from ..errors import ConfigError
from ..report import provenance_label, side_by_side
from .common import execute_all, labelled, parts, protocol_for, training
from .contract import Chapter

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
# the chapter's two parts: (methods, the papers' scheme and protocol)
PARTS = {"loso": (LOSO_METHODS, LOSO_SCHEME, "loso"), "kfold": (KFOLD_METHODS, KFOLD_SCHEME, "stratified_kfold")}
# the published tables each part is compared with
LOSO_TABLES = (("CropNet", "Table 3"), ("LocalRegions", "Table 8"))
KFOLD_TABLES = (("DLHN", "Table 6"), ("PSN", "Table 5"), ("PSN", "Table 6"))
PLANS = {profile: {"folds": 10, "loso": tuple(LOSO_METHODS), "kfold": tuple(KFOLD_METHODS)}
         for profile in ("smoke", "default", "paper")}


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

    @property
    def scheme(self) -> str | None:
        return self.samples.attrs.get("scheme")

    def summary(self) -> dict:
        s = self.evaluation.summary()
        return {"method": self.method, "scheme": self.scheme, "protocol": self.protocol, "n_clips": s["n_clips"],
                "n_folds": s["n_folds"], "accuracy": s["accuracy" if self.aggregate == "pooled" else "accuracy_mean"],
                "uf1": s["uf1"], "uar": s["uar"], "leakage_mean": s["leakage_mean"],
                "leakage_max": s["leakage_max"], "excluded": len(self.exclusions)}


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Each part's methods (``changes``: plan keys ``loso`` / ``kfold``, method names of the part, and
    ``folds``), keyed (part, method), on the notebook's scheme and protocol or the part's own."""
    st = CHAPTER.settings(p, **changes)
    specs = []
    for part, (methods, scheme, protocol) in PARTS.items():
        if not st[part]:
            continue
        unknown = sorted(set(st[part]) - set(methods))
        if unknown:
            raise ConfigError(f"unknown {part} method(s) {unknown}; choose from {', '.join(methods)}")
        lab = labelled(samples, p.scheme or scheme)
        proto, params = protocol_for(p, p.protocol or protocol, lab, st)
        for m in st[part]:
            kind, blocks = methods[m]
            specs.append(training(p, (part, m), "lbp_svm", lab, proto, params, model_params={"kind": kind},
                                  pipeline_params={"kind": kind, "blocks": tuple(blocks)},
                                  name=f"lbp_{kind}_{blocks[0]}x{blocks[1]}_svm"))
    return specs


@dataclass
class Result:
    """Each part's runs by method (:class:`BaselineRun`), and the provenance of the clips."""
    loso: dict
    kfold: dict
    provenance: str

    def summary(self) -> pd.DataFrame:
        return pd.concat([summary(r) for r in (self.loso, self.kfold) if r])


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Run the plan (:func:`plan`)."""
    runs = execute_all(p, plan(p, samples, **changes), samples, progress)
    parts: dict = {"loso": {}, "kfold": {}}
    for (part, m), r in runs.items():
        kind, blocks = PARTS[part][0][m]
        k = r.spec.protocol_params.get("n_splits")
        shown = f"{r.protocol}(k={k})" if r.protocol == "stratified_kfold" else r.protocol
        parts[part][m] = BaselineRun(m, kind, tuple(blocks), shown, "mean" if r.protocol == "stratified_kfold"
                                     else "pooled", r.evaluation, r.samples, r.exclusions)
    return Result(parts["loso"], parts["kfold"], provenance_label(samples))


def summary(runs: Mapping[str, BaselineRun]) -> pd.DataFrame:
    """One row per run: scores, scheme, protocol and the leakage audit."""
    return pd.DataFrame([r.summary() for r in runs.values()]).set_index("method")


def _composite(samples: pd.DataFrame) -> str:
    return published.dataset_key(*samples["dataset"].unique())


def study_rows(runs: Mapping[str, BaselineRun], provenance: str, by_dataset: bool = False) -> pd.DataFrame:
    """Long rows (method, dataset, metric, value, protocol, leakage_max, provenance) for ``side_by_side``;
    ``by_dataset`` adds each dataset's pooled UF1 / UAR inside the composite (CropNet Table 3)."""
    rows = []
    for m, r in runs.items():
        s = r.summary()
        base = {"method": m, "scheme": r.scheme, "protocol": r.protocol, "leakage_max": s["leakage_max"],
                "provenance": provenance}
        comp = _composite(r.samples)
        for metric in ("accuracy", "uf1", "uar"):
            rows.append({**base, "dataset": comp, "metric": metric, "value": s[metric]})
        if by_dataset:
            per = parts(r.evaluation)
            for _, v in per[per["dataset"] != comp].iterrows():
                for metric in ("uf1", "uar"):
                    rows.append({**base, "dataset": v["dataset"], "metric": metric, "value": float(v[metric])})
    return pd.DataFrame(rows)


def beside(rows: pd.DataFrame, paper: str, table: str, match_dataset: bool = True) -> pd.DataFrame:
    """``rows`` (:func:`study_rows`) beside ``published.table(paper, table)``'s rows of the same methods.

    ``match_dataset`` pairs numbers of the same (composite) dataset (LOSO on MEGC2019: the same three
    layouts); without it the composite of the study stands beside the paper's (the synthetic set has no
    CASME or CAS(ME)² layout), and both are named in ``published_dataset`` / ``study_dataset``. Published
    per-fold rows are dropped (only ``fold == "mean"`` or no fold). Columns: method, [dataset,] metric,
    published, published_provenance, study, study_provenance, difference, scheme and protocol (this
    study's), published_scheme, published_protocol, leakage_max (this study's).
    """
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
    pub_meta = pub.drop_duplicates("method").set_index("method")
    out["scheme"] = out["method"].map(meta["scheme"])
    out["published_scheme"] = out["method"].map(pub_meta["scheme"])
    out["protocol"] = out["method"].map(meta["protocol"])
    out["published_protocol"] = out["method"].map(pub_meta["protocol"])
    out["leakage_max"] = out["method"].map(meta["leakage_max"])
    if not match_dataset:
        out["published_dataset"] = out["method"].map(pub_ds).map(published.dataset_name)
        out["study_dataset"] = out["method"].map(meta["dataset"]).map(published.dataset_name)
    return out


def confusion(run_: BaselineRun) -> tuple[list, list]:
    """The pooled confusion matrix (rows true) and its class labels."""
    pooled = run_.evaluation.pooled
    return pooled["confusion"], pooled["labels"]


def _beside_all(rows: pd.DataFrame, tables, match_dataset: bool) -> dict:
    return {(paper, table): beside(rows, paper, table, match_dataset) for paper, table in tables}


def loso_tables(result: Result) -> dict:
    """The first part beside CropNet Table 3 and LocalRegions Table 8 (per dataset and composite)."""
    return _beside_all(study_rows(result.loso, result.provenance, by_dataset=True), LOSO_TABLES, True)


def kfold_tables(result: Result) -> dict:
    """The second part beside DLHN Table 6 and PSN Tables 5 and 6 (composite beside composite)."""
    return _beside_all(study_rows(result.kfold, result.provenance), KFOLD_TABLES, False)


def captions(tables: dict) -> list[tuple[str, pd.DataFrame]]:
    """:func:`loso_tables` or :func:`kfold_tables` as (caption, table) pairs."""
    return [(f"**Beside {paper} {table}** ({published.title(paper, table)})", t) for (paper, table), t in tables.items()]


def confusion_figures(runs: Mapping, provenance: str) -> list:
    """The pooled confusion matrix of every run of one part (:attr:`Result.loso` or :attr:`Result.kfold`)."""
    return [report.confusion_figure(*confusion(run), title=f"{name} + SVM, {run.protocol}, {run.scheme} ({provenance})")
            for name, run in runs.items()]


CHAPTER = Chapter(
    name="baselines", notebook="20_baselines", paper=None, schemes=(LOSO_SCHEME, KFOLD_SCHEME, "c3d", "objective"),
    scheme=None, protocols=("loso", "stratified_kfold", "group_kfold", "holdout"), protocol=None,
    parameters=("profile", "data", "dataset", "scheme", "protocol", "frame_size", "seed", "plan"),
    plans=PLANS, plan=plan, run=run, pipelines=("lbp",),
    tables={"MEGC2019": loso_tables, "k-fold": kfold_tables}, summary=Result.summary)

"""The five papers' published numbers, kept as data (transcribed from ``../shared/papers``).

``table(paper, table)`` gives one transcribed table in long (tidy) form, one row per printed number:

==============  ==========================================================================================
column          meaning
==============  ==========================================================================================
paper           DLHN, PSN, C3D, CropNet or LocalRegions
table           "Table 5", "Fig. 9", "Sec. 8.1" (numbers quoted in the running text)
kind            results | confusion | counts
dataset         the evaluated data, melib dataset keys joined by "+" in ``DATASET_ORDER`` (``casme2+samm+smic``)
train           the data the model was trained on (same key form; equals ``dataset`` within one set)
protocol        loso | stratified_kfold(k=10) | kfold(k=10) | cross_dataset | holdout | not stated
scheme          melib label scheme (``melib.labels``): pnso, megc2019, c3d, cropnet5, localregions5, objective,
                original
method          the method as the paper names it, without citation marks
ours            True for the paper's own method and its variants
setting         any further condition printed with the number (fusion weight, backbone, regions, scenario)
fold            fold number, "mean", or NA
true/predicted  confusion tables: the true and the predicted class (``melib.labels`` class names)
class           counts tables: the class counted ("total" for a dataset's size)
metric          canonical name: accuracy, uf1, uar, f1, rr_std, count, rate, n_classes, fps
metric_printed  the column or row heading as printed
value           the number: rates as fractions in [0, 1] (printed percentages divided by 100), counts as is
printed         the cell exactly as printed (bold marks dropped)
provenance      "published (<paper> <table>)"
==============  ==========================================================================================

Transcription notes (also listed in the book's deviation pages):

- PSN Table 5's "F1 score" equals Table 6's UF1 of the combined set for every method printed in both, so its
  canonical metric is ``uf1``; the same holds for LocalRegions Table 9's "F1-score" against Table 11's UF1.
  LocalRegions Tables 12-13 print an "F1-score" with no UF1 to compare against: canonical ``f1``.
- Numbers are kept as printed, inconsistencies included: DLHN Table 6 gives LBP-SIP(2x2) a mean of 43.08
  although its folds average 53.69; DLHN Table 4's a=0.45 folds average 59.69, not the printed 60.309 (the
  mean of Table 5's DLHN row, which differs in fold 7); PSN Table 8's rows need not sum to 1 (KFC, CASME,
  N row sums to 1.33).
- DLHN's 10 folds are "equally randomly distributed" (DLHN 4.1), not said to be stratified: ``kfold(k=10)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from .errors import ConfigError

PAPERS = ("DLHN", "PSN", "C3D", "CropNet", "LocalRegions")
DATASET_ORDER = ("casme", "casme2", "casme_sq", "samm", "smic")
DATASET_NAMES = {"casme": "CASME", "casme2": "CASME II", "casme_sq": "CAS(ME)²", "samm": "SAMM",
                 "smic": "SMIC", "synth": "synthetic"}
COLUMNS = ["paper", "table", "kind", "dataset", "train", "protocol", "scheme", "method", "ours", "setting",
           "fold", "true", "predicted", "class", "metric", "metric_printed", "value", "printed", "provenance"]


def dataset_key(*names: str) -> str:
    """A composite's key: melib dataset names in ``DATASET_ORDER`` joined by "+" (``casme2+samm+smic``)."""
    parts = {p for n in names for p in n.split("+")}
    unknown = parts - set(DATASET_ORDER) - {"synth"}
    if unknown:
        raise ConfigError(f"unknown dataset(s) {sorted(unknown)}; use {', '.join(DATASET_ORDER)}")
    order = DATASET_ORDER + ("synth",)
    return "+".join(sorted(parts, key=order.index))


def dataset_name(key: str) -> str:
    """A dataset key as people write it: ``casme2+samm`` -> ``CASME II + SAMM``."""
    return " + ".join(DATASET_NAMES.get(p, p) for p in str(key).split("+"))


# ---- the transcription ---------------------------------------------------------------------------------
# A table is one or more blocks; a block has column attributes and rows (label, row attributes, cells).
# ``label`` is the row heading as printed (tab where the paper has a tab) and ``cells`` the printed cells
# after it, separated by spaces, so that tests can find each row in the paper's text. Cells without a digit
# ("-", footnote marks, "emotion/AUs") are kept for that check but give no number.

@dataclass(frozen=True)
class _Block:
    cols: tuple[dict | None, ...]  # None: a printed column that holds no number (a footnote mark, a label)
    rows: tuple[tuple[str, dict, str], ...]


@dataclass(frozen=True)
class _Table:
    paper: str
    table: str
    kind: str
    title: str
    base: dict
    blocks: tuple[_Block, ...]
    source: str = "table"  # "table": rows are printed table lines; "text": numbers quoted in the prose
    pct: bool = False  # printed rates are percentages
    extra: dict = field(default_factory=dict)


_TABLES: dict[tuple[str, str], _Table] = {}


def _add(paper, table, kind, title, base, *blocks, source="table", pct=False):
    _TABLES[(paper, table)] = _Table(paper, table, kind, title, base, tuple(blocks), source, pct)


def _b(cols, rows) -> _Block:
    return _Block(tuple(cols), tuple(rows))


def _m(metric, printed, **kw) -> dict:
    return dict(metric=metric, metric_printed=printed, **kw)


PNSO = ("positive", "negative", "surprise", "others")

# -- DLHN (000_be3a9aae2404fb3e.txt) ---------------------------------------------------------------------
_DLHN = dataset_key("casme", "casme2", "casme_sq", "samm")
_dlhn = dict(dataset=_DLHN, train=_DLHN, protocol="kfold(k=10)", scheme="pnso")
_folds = [dict(fold=str(i)) for i in range(1, 11)] + [dict(fold="mean")]
_acc = _m("accuracy", "accuracy (%)")

_add("DLHN", "Table 3", "counts", "Four spontaneous micro-expression databases", dict(scheme="original"),
     _b([_m("count", "Sample Size", **{"class": "total"}), _m("n_classes", "Emotions Class"), _m("fps", "FPS"),
         None],
        [("CASME I", dict(dataset="casme"), "195 8 60 emotion/AUs"),
         ("CASME II", dict(dataset="casme2"), "247 5 200 emotion/AUs"),
         ("CAS(ME) ²", dict(dataset="casme_sq"), "57 4 30 emotion/AUs"),
         ("SAMM", dict(dataset="samm"), "159 7 200 emotion/AUs")]))

_add("DLHN", "Table 4", "results", "DLHN accuracy (%) per fold for fusion weights a (Eq. 8)",
     dict(_dlhn, method="DLHN", ours=True, **_acc),
     _b([dict(setting=f"a={a}") for a in ("0.1", "0.2", "0.3", "0.4", "0.45", "0.5", "0.6", "0.7", "0.8", "0.9")],
        [("Fold1", dict(fold="1"), "55.38 52.31 55.38 53.85 53.85 58.46 58.46 56.92 55.38 53.85"),
         ("Fold2", dict(fold="2"), "66.15 64.62 69.23 70.77 70.77 70.77 69.23 67.69 63.08 63.08"),
         ("Fold3", dict(fold="3"), "60 60 61.54 61.54 61.54 63.08 61.54 63.08 60 58.46"),
         ("Fold4", dict(fold="4"), "61.54 63.08 63.08 66.15 66.15 64.62 66.15 66.15 64.62 63.08"),
         ("Fold5", dict(fold="5"), "56.92 56.92 55.38 60 60 58.46 58.46 58.46 56.92 56.92"),
         ("Fold6", dict(fold="6"), "63.08 63.08 64.62 63.08 64.62 63.08 58.46 61.54 61.54 60"),
         ("Fold7", dict(fold="7"), "55.38 53.85 52.31 53.85 47.69 41.54 41.54 41.54 41.54 41.54"),
         ("Fold8", dict(fold="8"), "60 58.46 60 60 58.46 58.46 53.85 52.31 50.77 52.31"),
         ("Fold9", dict(fold="9"), "52.31 52.31 52.31 53.85 53.85 56.92 53.85 53.85 56.92 56.92"),
         ("Fold10", dict(fold="10"), "63.08 63.08 63.08 61.54 60 61.54 52.31 52.31 52.31 52.31"),
         ("Mean", dict(fold="mean"), "59.385 58.769 59.692 60.308 60.309 60.308 57.385 57.385 56.308 55.847")]),
     pct=True)

_add("DLHN", "Table 5", "results", "Ablation: HCRNN, RPRNN and their fusion DLHN, accuracy (%) per fold",
     dict(_dlhn, ours=True, **_acc),
     _b(_folds,
        [("HCRNN", dict(method="HCRNN"), "53.85 63.08 58.46 63.08 56.92 56.92 40 52.31 55.38 50.77 55.08"),
         ("RPRNN", dict(method="RPRNN"), "56.82 64.62 60 61.54 56.92 60 56.92 60 56.92 61.54 59.53"),
         ("DLHN", dict(method="DLHN", setting="a=0.45"),
          "53.85 70.77 61.54 66.15 60 64.62 53.85 58.46 53.85 60 60.31")]),
     pct=True)

_add("DLHN", "Table 6", "results", "Accuracy (%) of DLHN and methods the authors re-ran on the same folds",
     dict(_dlhn, ours=False, **_acc),
     _b(_folds,
        [("FDM+SVM", dict(method="FDM+SVM"), "36.92 41.54 52.31 43.08 33.85 43.08 43.08 52.31 33.85 50.77 43.08"),
         ("LBP ₁ +SVM", dict(method="LBP-TOP(2×2)+SVM"),
          "55.38 52.31 50.77 56.92 58.46 47.69 53.85 55.38 56.92 53.85 53.85"),
         ("LBP ₂ +SVM", dict(method="LBP-TOP(4×4)+SVM"),
          "66.15 58.46 64.62 58.46 63.08 58.46 49.23 52.31 61.54 61.54 58.38"),
         ("LBP ₃ +SVM", dict(method="LBP-SIP(2×2)+SVM"),
          "55.38 58.46 58.46 53.85 46.15 50.77 43.08 58.46 58.46 53.85 43.08"),
         ("LBP ₄ +SVM", dict(method="LBP-SIP(4×4)+SVM"),
          "60 55.38 41.54 49.23 60 47.69 46.15 55.38 55.38 49.23 46.15"),
         ("STSTNet", dict(method="STSTNet"), "46.15 60.00 58.46 55.38 50.77 53.85 50.77 49.23 52.31 55.38 53.23"),
         ("RCN_w", dict(method="RCN_w"), "47.69 61.54 53.85 52.31 49.23 56.92 46.15 58.46 55.38 53.85 53.54"),
         ("RCN_s", dict(method="RCN_s"), "38.46 63.08 49.23 56.92 46.15 53.85 46.15 55.38 60.00 36.92 50.61"),
         ("RCN_a", dict(method="RCN_a"), "35.38 61.54 47.69 61.54 46.15 46.15 49.23 64.62 47.69 36.92 49.69"),
         ("RCN_f", dict(method="RCN_f"), "46.15 72.31 56.92 53.85 46.15 50.77 53.85 50.77 58.46 47.69 53.69"),
         ("FR", dict(method="FR"), "46.15 61.54 58.46 66.15 61.54 56.92 50.77 44.62 56.92 56.92 56.00"),
         ("DLHN", dict(method="DLHN", ours=True, setting="a=0.45"),
          "53.85 70.77 61.54 66.15 60 64.62 53.85 58.46 53.85 60 60.31")]),
     pct=True)

_add("DLHN", "Fig. 9", "confusion", "DLHN confusion matrix (counts) on the combined databases",
     dict(_dlhn, method="DLHN", ours=True, **_m("count", "samples")),
     _b([dict(predicted=c) for c in PNSO],
        [("Positive (55)", dict(true="positive"), "0 11 0 44"),
         ("Negative (280)", dict(true="negative"), "0 208 0 72"),
         ("Surprise (50)", dict(true="surprise"), "0 19 0 31"),
         ("Others (265)", dict(true="others"), "0 81 0 184")]))

# -- PSN (001_a1085f9a55216a7a.txt) ----------------------------------------------------------------------
_PSN = _DLHN
_psn = dict(dataset=_PSN, train=_PSN, protocol="stratified_kfold(k=10)", scheme="pnso")

_add("PSN", "Table 4", "counts", "Samples per class after AU-based relabelling (PSN Table 3)",
     dict(scheme="pnso", **_m("count", "samples")),
     _b([{"class": c} for c in PNSO + ("total",)],
        [("CASME", dict(dataset="casme"), "8 100 14 67 189"),
         ("CASME II", dict(dataset="casme2"), "24 132 15 77 248"),
         ("CAS(ME) ²", dict(dataset="casme_sq"), "2 18 7 27 54"),
         ("SAMM", dict(dataset="samm"), "21 30 14 94 159"),
         ("Total", dict(dataset=_PSN), "55 280 50 265 650")]))

_add("PSN", "Table 5", "results", "Recognition rate (%) and F1 of PSN and re-run methods, 10-fold",
     dict(_psn, ours=False),
     _b([_m("accuracy", "Recognition Rate (%)"), _m("uf1", "F1 score")],
        [("6×6", dict(method="LBP-SIP 6×6"), "53.08"),
         ("7×7", dict(method="LBP-SIP 7×7"), "55.08"),
         ("8×8", dict(method="LBP-SIP 8×8"), "54.62"),
         ("KFC", dict(method="KFC"), "26.31 0.2284"),
         ("BDCNN", dict(method="BDCNN"), "49.84 0.2713"),
         ("a-extension", dict(method="RCN-a"), "50.62"),
         ("s-extension", dict(method="RCN-s"), "49.69"),
         ("w-extension", dict(method="RCN-w"), "53.54"),
         ("STSTNet", dict(method="STSTNet"), "53.23 0.2895"),
         ("FR", dict(method="FR"), "56.00 0.3727"),
         ("MERANet", dict(method="MERANet"), "54.00 0.4183"),
         ("FG-AU-Fusion", dict(method="FG-AU-Fusion"), "57.23 0.4474"),
         ("MERSiamC3D", dict(method="MERSiamC3D"), "59.38 0.4670"),
         ("PSN", dict(method="PSN", ours=True), "64.92 0.5211")]),
     pct=True)

_t6_cols = [dict(dataset=d, **_m(m, m.upper())) for d in (_PSN, "casme", "casme2", "casme_sq", "samm")
            for m in ("uar", "uf1")]
_add("PSN", "Table 6", "results", "UAR and UF1 on the combined set and on each database",
     dict(_psn, ours=False),
     _b(_t6_cols,
        [("LBP-SIP 7×7", dict(method="LBP-SIP 7×7"),
          "0.3452 0.4016 0.2882 0.2704 0.3041 0.2595 0.2731 0.2432 0.2861 0.2575"),
         ("KFC", dict(method="KFC"), "0.2603 0.2284 0.2924 0.2164 0.2308 0.2026 0.4509 0.3666 0.2657 0.2316"),
         ("BDCNN", dict(method="BDCNN"), "0.2974 0.2713 0.2917 0.2686 0.3047 0.2745 0.2593 0.2143 0.3066 0.2553"),
         ("RCN-w", dict(method="RCN-w"), "0.3237 0.3563 0.3104 0.2856 0.3019 0.2732 0.3657 0.3086 0.2244 0.2065"),
         ("STSTNet", dict(method="STSTNet"),
          "0.3167 0.2895 0.2887 0.2724 0.2614 0.2633 0.2639 0.2175 0.2445 0.2158"),
         ("FR", dict(method="FR"), "0.3563 0.3727 0.3031 0.2869 0.4044 0.4066 0.3102 0.2638 0.2841 0.2635"),
         ("MERANet", dict(method="MERANet"),
          "0.4139 0.4183 0.4272 0.4241 0.3492 0.3425 0.4944 0.4546 0.4760 0.4521"),
         ("FG-AU-Fusion", dict(method="FG-AU-Fusion"),
          "0.4387 0.4474 0.3998 0.3868 0.4175 0.4210 0.4054 0.4111 0.5055 0.4843"),
         ("MERSiamC3D", dict(method="MERSiamC3D"),
          "0.4473 0.4670 0.3829 0.4015 0.4618 0.4552 0.3306 0.3282 0.4297 0.4548"),
         ("PSN", dict(method="PSN", ours=True),
          "0.4871 0.5211 0.4349 0.4591 0.4347 0.4685 0.4481 0.4295 0.4378 0.4545")]))


def _cm_cols(methods, **kw):
    return [dict(method=m, ours=(m == "PSN"), predicted=c, **kw) for m in methods for c in PNSO]


_add("PSN", "Table 7", "confusion", "Confusion matrices (counts) on the combined set",
     dict(_psn, **_m("count", "samples")),
     _b(_cm_cols(("LBP-SIP 7×7", "KFC", "BDCNN", "RCN-w", "STSTNet")),
        [("P (55)", dict(true="positive"), "3 25 1 26 13 17 17 8 0 11 0 44 1 14 0 40 0 15 0 40"),
         ("N (280)", dict(true="negative"), "1 210 4 65 84 91 72 33 0 163 0 117 0 162 0 118 0 192 0 88"),
         ("S (50)", dict(true="surprise"), "1 21 3 25 15 13 14 8 0 26 0 24 0 21 0 29 0 25 0 25"),
         ("O (265)", dict(true="others"), "1 119 3 142 83 61 68 53 0 104 0 161 1 79 0 185 3 108 0 154")]),
     _b(_cm_cols(("FR", "MERANet", "FG-AU-Fusion", "MERSiamC3D", "PSN")),
        [("P (55)", dict(true="positive"), "5 12 1 37 12 13 3 27 20 14 1 20 10 15 0 30 10 20 0 25"),
         ("N (280)", dict(true="negative"), "5 181 6 88 10 181 14 75 6 171 9 94 8 191 6 75 2 226 3 49"),
         ("S (50)", dict(true="surprise"), "0 26 1 23 3 14 12 21 4 18 6 22 1 19 14 16 1 21 6 22"),
         ("O (265)", dict(true="others"), "6 80 2 177 19 83 17 146 14 63 13 175 15 73 6 171 6 79 0 180")]))

_t8 = [
    ("CASME (189)\tP (8)", "casme", "positive", "0.00 0.50 0.00 0.50 0.13 0.30 0.29 0.28 0.00 0.23 0.00 0.77 0.00 0.38 0.00 0.63 0.00 0.38 0.00 0.63"),
    ("N (100)", "casme", "negative", "0.00 0.72 0.00 0.28 0.50 0.32 0.21 0.30 0.00 0.54 0.00 0.46 0.00 0.57 0.00 0.43 0.00 0.72 0.00 0.28"),
    ("S (14)", "casme", "surprise", "0.00 0.57 0.00 0.43 0.25 0.26 0.29 0.24 0.00 0.67 0.00 0.33 0.00 0.64 0.00 0.36 0.00 0.64 0.00 0.36"),
    ("O (67)", "casme", "others", "0.00 0.57 0.00 0.43 0.13 0.12 0.21 0.18 0.00 0.38 0.00 0.62 0.00 0.33 0.00 0.67 0.03 0.55 0.00 0.45"),
    ("CASME II (248)\tP (24)", "casme2", "positive", "0.00 0.83 0.04 0.13 0.33 0.21 0.29 0.17 0.00 0.24 0.00 0.76 0.00 0.25 0.00 0.75 0.00 0.29 0.00 0.71"),
    ("N (132)", "casme2", "negative", "0.00 0.98 0.02 0.00 0.33 0.30 0.24 0.13 0.00 0.62 0.00 0.38 0.00 0.64 0.00 0.36 0.00 0.77 0.00 0.23"),
    ("S (15)", "casme2", "surprise", "0.00 0.80 0.20 0.00 0.40 0.33 0.13 0.13 0.00 0.44 0.00 0.56 0.00 0.33 0.00 0.67 0.00 0.60 0.00 0.40"),
    ("O (77)", "casme2", "others", "0.00 0.95 0.01 0.04 0.32 0.26 0.26 0.16 0.00 0.40 0.00 0.60 0.00 0.43 0.00 0.57 0.01 0.45 0.00 0.55"),
    ("CAS(ME) ² (57)\tP (2)", "casme_sq", "positive", "0.00 0.50 0.00 0.50 0.50 0.50 0.00 0.00 0.00 0.00 0.00 1.00 0.00 0.00 0.00 1.00 0.00 0.00 0.00 1.00"),
    ("N (18)", "casme_sq", "negative", "0.00 0.39 0.11 0.50 0.33 0.44 0.22 0.00 0.00 0.56 0.00 0.44 0.00 0.72 0.00 0.28 0.00 0.61 0.00 0.39"),
    ("S (15)", "casme_sq", "surprise", "0.00 0.00 0.00 1.00 0.14 0.29 0.57 0.00 0.00 0.43 0.00 0.57 0.00 0.29 0.00 0.71 0.00 0.43 0.00 0.57"),
    ("O (27)", "casme_sq", "others", "0.00 0.22 0.07 0.70 0.26 0.15 0.33 0.26 0.00 0.52 0.00 0.48 0.00 0.26 0.00 0.74 0.04 0.52 0.00 0.44"),
    ("SAMM (159)\tP (21)", "samm", "positive", "0.14 0.00 0.00 0.86 0.14 0.33 0.38 0.14 0.00 0.16 0.00 0.84 0.05 0.24 0.00 0.71 0.00 0.24 0.00 0.76"),
    ("N (30)", "samm", "negative", "0.03 0.03 0.00 0.93 0.13 0.40 0.33 0.13 0.00 0.58 0.00 0.42 0.00 0.03 0.00 0.77 0.00 0.23 0.00 0.77"),
    ("S (14)", "samm", "surprise", "0.07 0.07 0.00 0.86 0.29 0.21 0.29 0.21 0.00 0.50 0.00 0.50 0.00 0.36 0.00 0.64 0.00 0.29 0.00 0.71"),
    ("O (94)", "samm", "others", "0.01 0.02 0.00 0.97 0.34 0.18 0.24 0.23 0.00 0.34 0.00 0.66 0.01 0.18 0.00 0.81 0.02 0.23 0.00 0.74"),
]
_add("PSN", "Table 8", "confusion",
     "Row-normalised confusion matrices per database (only five methods are printed)",
     dict(_psn, **_m("rate", "share of the true class")),
     _b(_cm_cols(("LBP-SIP 7×7", "KFC", "BDCNN", "RCN-w", "STSTNet")),
        [(label, dict(dataset=ds, true=t), cells) for label, ds, t, cells in _t8]))

# PSN 3.4.2 quotes the PSN_spatial bar of Fig. 7 (the figure is not in the text copy); PSN's own bar is Table 5's
_add("PSN", "Fig. 7", "results", "Ablations: the values the text quotes (PSN_spatial)",
     dict(_psn, method="PSN_spatial", ours=True),
     _b([_m("accuracy", "recognition rate", pct=True)],
        [("PSN_spatial gets the highest recognition rate", {}, "66%")]),
     _b([_m("uf1", "F1 score")], [("its F1 score only is", {}, "0.3586")]),
     source="text")

_add("PSN", "Table 9", "results", "Backbones and fusion models: mean and std of recognition rate, F1",
     dict(_psn, method="PSN", ours=True),
     _b([_m("accuracy", "RR_{mean}", pct=True), _m("rr_std", "RR_{std}"), _m("uf1", "F1 score")],
        [(f"{lab}", dict(setting=f"backbone={bb}; fusion={fu}"), cells) for lab, bb, fu, cells in (
            ("AlexNet\tSUM", "AlexNet", "SUM", "64.92 0.084 0.5211"),
            ("PROD", "AlexNet", "PROD", "62.77 0.057 0.4702"),
            ("CONCAT", "AlexNet", "CONCAT", "65.08 0.086 0.5073"),
            ("VGG16\tSUM", "VGG16", "SUM", "61.08 0.072 0.4799"),
            ("PROD", "VGG16", "PROD", "61.23 0.061 0.4659"),
            ("CONCAT", "VGG16", "CONCAT", "61.23 0.071 0.4823"),
            ("ResNet10\tSUM", "ResNet10", "SUM", "62.15 0.056 0.4902"),
            ("PROD", "ResNet10", "PROD", "63.38 0.059 0.4671"),
            ("CONCAT", "ResNet10", "CONCAT", "61.54 0.042 0.4510"))]))

# -- C3D (002_7aeb182ee121b922.txt) ----------------------------------------------------------------------
_C3D_COMB = dataset_key("casme2", "smic")
_add("C3D", "Table 1", "counts", "Samples per class used by C3D", dict(scheme="c3d", **_m("count", "samples")),
     _b([dict(dataset="casme2"), dict(dataset="smic"), dict(dataset="samm")],
        [("Happy", {"class": "happiness"}, "32 51 26"),
         ("Disgust", {"class": "disgust"}, "63 70 15"),
         ("Surprise", {"class": "surprise"}, "28 43 9"),
         ("Total", {"class": "total"}, "123 164 50")]))

_add("C3D", "Table 3", "results", "Model-A accuracy from the first frames versus the apex-centred sequence",
     dict(scheme="c3d", protocol="not stated", method="Model-A", ours=True, **_m("accuracy", "accuracy")),
     _b([dict(setting="initial frame sequence"), dict(setting="apex frame sequence")],
        [("CASME II", dict(dataset="casme2", train="casme2"), "46.9% 56.5%"),
         ("SMIC", dict(dataset="smic", train="smic"), "34.3% 43.7%")]),
     pct=True)

_c3d_rows = []
for _n, _tr, _te, _cells in (
        ("01", "SMIC", "SMIC", "43.7% 33.5% 37.3%"), ("02", "CASME II", "CASME II", "56.5% 45.4% 48.1%"),
        ("03", "Combined", "Combined", "88.2% 85.4% 80.4%"), ("04", "SMIC", "SAMM", "44.3% 31.1% 42.0%"),
        ("05", "CASME II", "SAMM", "24.8% 24.3% 23.1%"), ("06", "SMIC", "CASME II", "44.7% 43.7% 39.1%"),
        ("07", "CASME II", "SMIC", "37.7% 35.4% 36.5%"), ("08", "Combined", "SAMM", "27.1% 23.1% 36.9%")):
    _key = {"SMIC": "smic", "CASME II": "casme2", "SAMM": "samm", "Combined": _C3D_COMB}
    _c3d_rows.append((f"{_n}\t{_tr}\t{_te}",
                      dict(train=_key[_tr], dataset=_key[_te], setting=f"Scenario-{int(_n)}",
                           protocol="stratified_kfold(k=5)" if _tr == _te else "cross_dataset"), _cells))
_add("C3D", "Table 4", "results", "Accuracy of Model-A (proposed), Model-B and Model-C in eight scenarios",
     dict(scheme="c3d", **_m("accuracy", "accuracy")),
     _b([dict(method="Model-A", ours=True), dict(method="Model-B", ours=False),
         dict(method="Model-C", ours=False)], _c3d_rows),
     pct=True)

_add("C3D", "Sec. 8.1", "results", "Train-test split on CASME II: best split, and the spread over five random splits",
     dict(scheme="c3d", dataset="casme2", train="casme2", protocol="holdout", **_m("accuracy", "accuracy")),
     _b([{}],
        [("achieved an accuracy of", dict(method="Split Model", ours=True, fold="best split"), "85.2%"),
         ("compared to", dict(method="Model-C", ours=False, fold="best split"), "80.3%"),
         ("Run-1 achieved the highest accuracy of", dict(method="Split Model", ours=True, fold="run 1"), "85.2%"),
         ("Run-3 achieved only", dict(method="Split Model", ours=True, fold="run 3"), "45%")]),
     source="text", pct=True)

# -- CropNet (003_4ad2325407fcd5f9.txt) ------------------------------------------------------------------
_MEGC = dataset_key("smic", "casme2", "samm")
_CASME2_EMO = ("others", "disgust", "surprise", "repression", "sadness", "happiness", "fear")
_SMIC_EMO = ("negative", "positive", "surprise")
_SAMM_EMO = ("others", "happiness", "disgust", "surprise", "sadness", "anger", "fear", "contempt")
_add("CropNet", "Table 1", "counts", "The three datasets and their emotion labels",
     dict(scheme="original", **_m("count", "samples")),
     _b([dict(dataset="casme2", **{"class": "total"}), dict(dataset="smic", **{"class": "total"}),
         dict(dataset="samm", **{"class": "total"})],
        [("Samples", {}, "255 157 159")]),
     _b([dict(dataset="casme2", **{"class": c}) for c in _CASME2_EMO]
        + [dict(dataset="smic", **{"class": c}) for c in _SMIC_EMO]
        + [dict(dataset="samm", **{"class": c}) for c in _SAMM_EMO],
        [("Emotion", {}, "Other(99) Disgust(63) Surprise(28) Repression(27) Sadness(4) Happiness(32) Fear(2) "
                         "Negative(66) Positive(51) Surprise(40) Other(26) Happiness(26) Disgust(9) "
                         "Surprise(15) Sadness(6) Anger(57) Fear(8) Contempt(12)")]))

_add("CropNet", "Table 2", "results", "Accuracy on CASME II, 5 classes, LOSO",
     dict(dataset="casme2", train="casme2", protocol="loso", scheme="cropnet5", ours=False,
          **_m("accuracy", "Accuracy")),
     _b([{}],
        [("LBP-Top+AdaBoost", dict(method="LBP-TOP+AdaBoost"), "0.437"),
         ("STCLQP", dict(method="STCLQP"), "0.583"),
         ("ELRCN", dict(method="ELRCN"), "0.524"),
         ("DSSN", dict(method="DSSN"), "0.707"),
         ("TSCNN-I", dict(method="TSCNN-I"), "0.740"),
         ("SSSN", dict(method="SSSN"), "0.711"),
         ("TSCNN-II", dict(method="TSCNN-II"), "0.810"),
         ("Bi-WOOF (apex and onset)", dict(method="Bi-WOOF (apex and onset)"), "0.578"),
         ("Su et al.", dict(method="Su et al."), "0.727"),
         ("RRS+CropNet(ours)", dict(method="RRS+CropNet", ours=True), "0.790"),
         ("ARS+CropNet(ours)", dict(method="ARS+CropNet", ours=True), "0.862")]))

_add("CropNet", "Table 3", "results", "UF1 and UAR on the MEGC2019 composite set and its parts, LOSO",
     dict(train=_MEGC, protocol="loso", scheme="megc2019", ours=False),
     _b([dict(dataset=d, **_m(m, m.upper())) for d in (_MEGC, "smic", "casme2", "samm") for m in ("uf1", "uar")],
        [("LBP-TOP", dict(method="LBP-TOP"), "0.588 0.578 0.200 0.528 0.702 0.742 0.395 0.410"),
         ("Bi-WOOF", dict(method="Bi-WOOF"), "0.629 0.622 0.572 0.582 0.780 0.802 0.521 0.512"),
         ("CapsuleNet", dict(method="CapsuleNet"), "0.652 0.650 0.582 0.587 0.706 0.701 0.620 0.598"),
         ("OFF-ApexNet", dict(method="OFF-ApexNet"), "0.719 0.709 0.681 0.669 0.876 0.868 0.540 0.539"),
         ("Dual-Inception", dict(method="Dual-Inception"), "0.732 0.727 0.664 0.672 0.862 0.856 0.586 0.566"),
         ("STSTNet (Liong", dict(method="STSTNet"), "0.735 0.760 0.680 0.701 0.838 0.868 0.658 0.681"),
         ("ELTRCN", dict(method="ELTRCN"), "0.788 0.782 0.746 0.753 0.829 0.820 0.775 0.715"),
         ("RCN-S", dict(method="RCN-S"), "0.746 0.710 0.651 0.657 0.836 0.791 0.764 0.656"),
         ("STSTNet+GA", dict(method="STSTNet+GA"), "0.836 0.836 0.814 0.812 0.882 0.891 0.800 0.790"),
         ("RRS+CropNet(ours)", dict(method="RRS+CropNet", ours=True),
          "0.875 0.877 0.813 0.819 0.972 0.969 0.842 0.827"),
         ("ARS+CropNet(ours)", dict(method="ARS+CropNet", ours=True),
          "0.911 0.904 0.855 0.851 0.974 0.979 0.912 0.893")]))

_add("CropNet", "Table 4", "results", "Ablations on CASME II, 5 classes",
     dict(dataset="casme2", train="casme2", protocol="loso", scheme="cropnet5", ours=True),
     _b([_m("uf1", "UF1"), _m("accuracy", "Accuracy")],
        [("CropNet+ARS", dict(method="CropNet+ARS", setting="paper method"), "0.863 0.862"),
         ("CropNet+RRS", dict(method="CropNet+RRS", setting="paper method"), "0.803 0.790"),
         ("CropNet+Optical FLOW(Farneback)", dict(method="CropNet+Optical FLOW(Farneback)",
                                                  setting="preprocessing method"), "0.661 0.625"),
         ("CropNet+Optical FLOW(TV-L1)", dict(method="CropNet+Optical FLOW(TV-L1)",
                                              setting="preprocessing method"), "0.697 0.669"),
         ("CropNet without GCOP +ARS", dict(method="CropNet without CGPO +ARS", setting="model architecture"),
          "0.841 0.813")]))

# -- LocalRegions (004_ae5b1337345f4e21.txt) -------------------------------------------------------------
_LR5 = dataset_key("casme2", "samm")
_lr = dict(dataset=_MEGC, train=_MEGC, protocol="loso", scheme="megc2019", method="LocalRegions", ours=True)
_lr_metric = {"Accuracy": _m("accuracy", "Accuracy"), "UAR": _m("uar", "UAR"), "UF1": _m("uf1", "UF1")}

_add("LocalRegions", "Table 2", "counts", "The three datasets", dict(scheme="original"),
     _b([dict(dataset=d, **{"class": "total"}, **_m("count", "# Sequences")) for d in ("smic", "casme2", "samm")],
        [("# Sequences", {}, "164 247 159")]))

_add("LocalRegions", "Table 3", "counts", "MEGC2019 conditions: the FULL composite set",
     dict(scheme="megc2019", **_m("count", "samples")),
     _b([dict(dataset="smic"), dict(dataset="casme2"), None, dict(dataset="samm"), None, dict(dataset=_MEGC)],
        [("Negative", {"class": "negative"}, "70 88 [†] 92 [⊕] 250")]),
     _b([dict(dataset="smic"), dict(dataset="casme2"), dict(dataset="samm"), dict(dataset=_MEGC)],
        [("Positive", {"class": "positive"}, "51 32 26 109"),
         ("Surprise", {"class": "surprise"}, "43 25 15 83"),
         ("Total", {"class": "total"}, "164 145 133 442")]))

_add("LocalRegions", "Table 4", "counts", "Objective classes I-VII in CASME II and SAMM (5 kept: I-V)",
     dict(scheme="objective", **_m("count", "samples")),
     _b([dict(dataset="casme2"), dict(dataset="samm"), dict(dataset=_LR5)],
        [(c, {"class": c}, cells) for c, cells in (
            ("I", "25 24 49"), ("II", "15 13 28"), ("III", "99 20 119"), ("IV", "26 8 34"), ("V", "20 3 23"),
            ("VI", "1 7 8"), ("VII", "69 84 153"))]
        + [("Total", {"class": "total"}, "255 159 414")]))

_add("LocalRegions", "Table 5", "results", "Which facial regions: FULL set, LOSO", dict(_lr),
     _b([dict(setting=f"regions={r}") for r in ("whole face", "no cheeks", "no nose", "all regions")],
        [("Accuracy", _lr_metric["Accuracy"], "0.85 0.89 0.91 0.92"),
         ("UAR", _lr_metric["UAR"], "0.84 0.84 0.84 0.89"),
         ("UF1", _lr_metric["UF1"], "0.84 0.84 0.85 0.89")]))

_add("LocalRegions", "Table 6", "results", "Simple CNN versus the proposed shallow Inception-like CNN", dict(_lr),
     _b([dict(setting="cnn=simple CNN"), dict(setting="cnn=proposed")],
        [("Accuracy", _lr_metric["Accuracy"], "0.85 0.92"),
         ("UAR", _lr_metric["UAR"], "0.79 0.89"),
         ("UF1", _lr_metric["UF1"], "0.79 0.89")]))

_add("LocalRegions", "Table 7", "results", "Cross-entropy versus focal loss", dict(_lr),
     _b([dict(setting="loss=CE"), dict(setting="loss=focal (alpha=1/2, gamma=2)")],
        [("Accuracy", _lr_metric["Accuracy"], "0.91 0.92"),
         ("UAR", _lr_metric["UAR"], "0.87 0.89"),
         ("UF1", _lr_metric["UF1"], "0.87 0.89")]))

_add("LocalRegions", "Table 8", "results", "UF1 and UAR under MEGC2019 conditions, LOSO",
     dict(_lr, ours=False, method=None),
     _b([dict(dataset=d, **_m(m, m.upper())) for d in (_MEGC, "smic", "casme2", "samm") for m in ("uf1", "uar")],
        [("LBP-TOP [39]", dict(method="LBP-TOP"), "0.58 0.57 0.20 0.52 0.70 0.74 0.39 0.41"),
         ("Bi-WOOF [28]", dict(method="Bi-WOOF"), "0.62 0.62 0.57 0.58 0.78 0.80 0.52 0.51"),
         ("OFF-ApexNet [17]", dict(method="OFF-ApexNet"), "0.71 0.70 0.68 0.66 0.87 0.86 0.54 0.53"),
         ("Micro-Attention [43]", dict(method="Micro-Attention"), "0.50 0.49 0.47 0.46 0.53 0.51 0.40 0.34"),
         ("ATNet (Fusion) [34]", dict(method="ATNet (Fusion)"), "0.63 0.61 0.55 0.54 0.79 0.77 0.49 0.48"),
         ("Quang et al. [37]", dict(method="Quang et al."), "0.65 0.65 0.58 0.58 0.70 0.70 0.58 0.59"),
         ("Zhou et al. [52]", dict(method="Zhou et al."), "0.73 0.72 0.66 0.67 0.86 0.85 0.58 0.56"),
         ("Liong et al. [27]", dict(method="Liong et al."), "0.73 0.76 0.68 0.70 0.83 0.86 0.65 0.68"),
         ("Liu et al. [29]", dict(method="Liu et al."), "0.78 0.78 0.74 0.75 0.82 0.82 0.77 0.71"),
         ("LFM-based (CNN+LSTM) [3]", dict(method="LFM-based (CNN+LSTM)"),
          "0.77 0.75 0.72 0.71 0.87 0.84 0.67 0.60"),
         ("ICE-GAN [48]", dict(method="ICE-GAN"), "0.85 0.84 0.79 0.79 0.87 0.86 0.85 0.82"),
         ("Our proposed method", dict(method="LocalRegions", ours=True),
          "0.90 0.90 0.88 0.88 0.98 0.98 0.78 0.81")]))

_add("LocalRegions", "Table 9", "results", "F1 and accuracy with 5 AU-based classes, LOSO",
     dict(train=_LR5, protocol="loso", scheme="localregions5", ours=False),
     _b([dict(dataset=d, **m) for d in (_LR5, "casme2", "samm")
         for m in (_m("uf1", "F1-score"), _m("accuracy", "Accuracy"))],
        [("LBP-TOP*", dict(method="LBP-TOP"), "0.40 0.52 0.51 0.67 0.38 0.44"),
         ("HOOF*", dict(method="HOOF"), "0.40 0.52 0.56 0.69 0.33 0.42"),
         ("HOG3D*", dict(method="HOG3D"), "0.27 0.43 0.51 0.69 0.22 0.34"),
         ("ELRCN [19]", dict(method="ELRCN"), "0.41 0.57 - - - -"),
         ("Micro-Attention [43]", dict(method="Micro-Attention"), "0.66 0.76 - - - -"),
         ("Our proposed method", dict(method="LocalRegions", ours=True), "0.83 0.86 0.84 0.88 0.82 0.79")]))

_add("LocalRegions", "Table 10", "results", "The proposed method under MEGC2019 conditions, LOSO", dict(_lr),
     _b([_m("uf1", "UF1"), _m("uar", "UAR")],
        [("FULL", dict(dataset=_MEGC), "0.90 0.90"),
         ("SMIC part", dict(dataset="smic"), "0.88 0.88"),
         ("CASME II part", dict(dataset="casme2"), "0.98 0.98"),
         ("SAMM part", dict(dataset="samm"), "0.78 0.81")]))

_add("LocalRegions", "Table 11", "results", "The proposed method with 5 AU-based classes, LOSO",
     dict(_lr, train=_LR5, scheme="localregions5"),
     _b([_m("uf1", "UF1"), _m("accuracy", "Accuracy")],
        [("CASME II + SAMM", dict(dataset=_LR5), "0.83 0.86"),
         ("CASME II part", dict(dataset="casme2"), "0.84 0.88"),
         ("SAMM part", dict(dataset="samm"), "0.82 0.79")]))

_XD = {"CASME II": "casme2", "SMIC": "smic", "SAMM": "samm", "CASME II & SMIC": dataset_key("casme2", "smic"),
       "CASME II & SAMM": dataset_key("casme2", "samm"), "SMIC & SAMM": dataset_key("smic", "samm")}


def _xd_rows(pairs):
    return [(f"{tr}\t{te}", dict(train=_XD[tr], dataset=_XD[te]), cells) for tr, te, cells in pairs]


_add("LocalRegions", "Table 12", "results", "Cross-dataset results under MEGC2019 conditions",
     dict(_lr, protocol="cross_dataset"),
     _b([_m("accuracy", "Accuracy"), _m("f1", "F1-score")], _xd_rows((
         ("CASME II & SMIC", "SAMM", "0.89 0.83"), ("CASME II & SAMM", "SMIC", "0.75 0.75"),
         ("SMIC & SAMM", "CASME II", "0.92 0.91"), ("CASME II", "SMIC", "0.70 0.71"),
         ("CASME II", "SAMM", "0.87 0.79"), ("SMIC", "CASME II", "0.75 0.79"), ("SMIC", "SAMM", "0.79 0.75"),
         ("SAMM", "CASME II", "0.90 0.88"), ("SAMM", "SMIC", "0.75 0.76")))))

_add("LocalRegions", "Table 13", "results", "Cross-dataset results with 5 AU-based classes",
     dict(_lr, protocol="cross_dataset", scheme="localregions5"),
     _b([_m("accuracy", "Accuracy"), _m("f1", "F1-score")], _xd_rows((
         ("CASME II", "SAMM", "0.75 0.59"), ("SAMM", "CASME II", "0.82 0.69")))))


# ---- access --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _cells(text: str) -> list[str]:
    return text.split()


def _long(t: _Table) -> pd.DataFrame:
    recs = []
    for block in t.blocks:
        for label, row_attrs, cells in block.rows:
            cells = _cells(cells)
            if len(cells) > len(block.cols):
                raise AssertionError(f"{t.paper} {t.table} row {label!r}: more cells than columns")
            for col_attrs, cell in zip(block.cols, cells):
                m = _NUMBER.search(cell)
                if col_attrs is None or not m:
                    continue
                attrs = {**t.base, **row_attrs, **col_attrs}
                if not attrs.get("metric"):
                    raise AssertionError(f"{t.paper} {t.table} row {label!r}: no metric")
                pct = attrs.pop("pct", t.pct) and attrs["metric"] == "accuracy"
                value = float(m.group())
                if pct:
                    value = round(value / 100, 6)
                rec = {c: None for c in COLUMNS}
                rec.update({k: v for k, v in attrs.items() if k in rec})
                rec.update(paper=t.paper, table=t.table, kind=t.kind, value=value, printed=cell,
                           provenance=f"published ({t.paper} {t.table})")
                if rec["train"] is None and rec["dataset"] is not None and t.kind != "counts":
                    rec["train"] = rec["dataset"]
                recs.append(rec)
    df = pd.DataFrame.from_records(recs, columns=COLUMNS)
    for c in COLUMNS:
        if c not in ("ours", "value"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["ours"] = df["ours"].astype("boolean")
    df.attrs.update(paper=t.paper, table=t.table, title=t.title)
    return df


def _get(paper: str, table: str) -> _Table:
    key = (paper, _norm_table(table))
    if key not in _TABLES:
        known = ", ".join(f"{p} {n}" for p, n in _TABLES)
        raise ConfigError(f"no published table {paper} {table!r}; transcribed: {known}")
    return _TABLES[key]


def _norm_table(table) -> str:
    if isinstance(table, int) or str(table).isdigit():
        return f"Table {int(table)}"
    text = str(table).strip()
    m = re.fullmatch(r"(?i)(table|fig\.?|figure|sec\.?|section)\s*([\d.]+)", text)
    if not m:
        return text
    word = m.group(1).lower().rstrip(".")
    return {"table": "Table", "fig": "Fig.", "figure": "Fig.", "sec": "Sec.", "section": "Sec."}[word] + " " + m.group(2)


def tables(kind: str | None = None) -> list[tuple[str, str]]:
    """Every transcribed (paper, table) pair, optionally only one kind (results, confusion, counts)."""
    return [k for k, t in _TABLES.items() if kind is None or t.kind == kind]


def table(paper: str, table: str | int) -> pd.DataFrame:
    """One published table in long form (see the module docstring); ``table`` may be 5, "Table 5", "Fig. 9"."""
    return _long(_get(paper, table))


def title(paper: str, table: str | int) -> str:
    """A one-line description of the table (our words, not the caption)."""
    return _get(paper, table).title


def all_tables(kind: str | None = None) -> pd.DataFrame:
    """Every transcribed number in one long table."""
    return pd.concat([table(p, t) for p, t in tables(kind)], ignore_index=True)


def source_rows(paper: str, table: str | int) -> list[tuple[str, list[str]]]:
    """The rows as transcribed: (printed row heading, printed cells) - for checking against the paper text."""
    t = _get(paper, table)
    return [(label, _cells(cells)) for block in t.blocks for label, _, cells in block.rows]


def source_kind(paper: str, table: str | int) -> str:
    """"table" when the numbers come from a printed table, "text" when they are quoted in the prose."""
    return _get(paper, table).source


def class_counts(paper: str | None = None) -> pd.DataFrame:
    """The class counts the papers report per dataset (PSN Table 4, LocalRegions Tables 2-4, C3D Table 1,
    CropNet Table 1, DLHN Table 3), columns paper, table, dataset, scheme, class, count, printed, provenance.

    ``class`` is "total" for a dataset's size. Schemes differ between papers: compare within one scheme.
    """
    keys = [k for k in tables("counts") if paper is None or k[0] == paper]
    if not keys:
        raise ConfigError(f"no class counts transcribed for {paper!r}")
    df = pd.concat([table(*k) for k in keys], ignore_index=True)
    df = df[df["metric"] == "count"].rename(columns={"value": "count"})
    df["count"] = df["count"].astype(int)
    return df[["paper", "table", "dataset", "scheme", "class", "count", "printed", "provenance"]].reset_index(drop=True)


def confusion(paper: str, table: str | int, method: str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """A published confusion matrix as a square frame: index true class, columns predicted class."""
    full = _long(_get(paper, table))
    df = full
    if df["kind"].iloc[0] != "confusion":
        raise ConfigError(f"{paper} {table} is not a confusion table")
    if method is not None:
        df = df[df["method"] == method]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if df.empty:
        raise ConfigError(f"{paper} {table}: nothing for method={method!r}, dataset={dataset!r}; "
                          f"methods: {sorted(set(full['method']))}")
    if df.duplicated(["true", "predicted"]).any():
        raise ConfigError(f"{paper} {table} holds several matrices: name method= and/or dataset=")
    order = [c for c in PNSO if c in set(df["true"])] or sorted(set(df["true"]))
    cm = df.pivot(index="true", columns="predicted", values="value").reindex(index=order, columns=order)
    if (df["metric"] == "count").all():
        cm = cm.astype(int)
    cm.attrs["provenance"] = df["provenance"].iloc[0]
    return cm


# The number each paper leads with (the intro's table and the results overview).
_HEADLINES = (
    ("DLHN", "Table 6", dict(method="DLHN", fold="mean")),
    ("PSN", "Table 5", dict(method="PSN")),
    ("C3D", "Table 4", dict(method="Model-A", setting="Scenario-2")),
    ("C3D", "Table 4", dict(method="Model-A", setting="Scenario-3")),
    ("CropNet", "Table 2", dict(method="ARS+CropNet")),
    ("CropNet", "Table 3", dict(method="ARS+CropNet", dataset=_MEGC)),
    ("LocalRegions", "Table 10", dict(dataset=_MEGC)),
    ("LocalRegions", "Table 11", dict(dataset=_LR5)),
)


def headlines() -> pd.DataFrame:
    """Each paper's own headline numbers (its method, its main protocol), in long form."""
    parts = []
    for paper, tab, sel in _HEADLINES:
        df = table(paper, tab)
        for k, v in sel.items():
            df = df[df[k] == v]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)

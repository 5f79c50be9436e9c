"""Scores of predictions, the two ways of aggregating folds, per-dataset breakdowns, uncertainty.

Per-class values are lists aligned with ``labels`` (so a score dict survives a JSON round trip).
Classes absent from both truth and prediction (common in one LOSO fold) have no F1 and no recall;
UF1 and UAR average over the classes that have one (NaN entries are skipped), as sklearn's
``zero_division=np.nan`` does.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, multilabel_confusion_matrix, recall_score

from .errors import ConfigError, DataError

METRICS = ("accuracy", "uf1", "uar")


def _array(y) -> np.ndarray:
    """A plain numpy array of labels (sklearn rejects object arrays of non-strings)."""
    a = np.asarray(y)
    if a.dtype == object and a.size and not isinstance(a.flat[0], str):
        a = np.array(a.tolist())
    return a


def _arrays(y_true, y_pred, labels):
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape != y_pred.shape:
        raise DataError(None, "as many predictions as true labels", f"{len(y_pred)} for {len(y_true)}")
    labels = list(labels)
    unknown = (set(y_true) | set(y_pred)) - set(labels)
    if unknown:
        raise DataError(None, f"labels among {labels}", f"{sorted(map(str, unknown))}")
    return y_true, y_pred, labels


def scores(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> dict:
    """Accuracy, UF1, UAR, per-class F1/TPR/TNR/support and the confusion matrix (rows true, cols predicted).

    accuracy: CropNet Eq. 11 (DLHN Eq. 10 for one fold); UF1 = macro F1, CropNet Eq. 9; UAR = mean per-class
    recall (balanced accuracy), CropNet Eq. 10; TPR and TNR one-vs-rest per class (PSN Fig. 6).
    """
    y_true, y_pred, labels = _arrays(y_true, y_pred, labels)
    if len(y_true) == 0:
        raise DataError(None, "at least one prediction to score", "none")
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    tpr = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tnr = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), np.nan)
    return {
        "labels": labels,
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uf1": float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan"),
        "uar": float(np.nanmean(tpr)) if np.isfinite(tpr).any() else float("nan"),
        "f1": [float(v) for v in f1],
        "tpr": [float(v) for v in tpr],
        "tnr": [float(v) for v in tnr],
        "support": [int(v) for v in mcm[:, 1, 0] + mcm[:, 1, 1]],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def per_class(s: dict) -> pd.DataFrame:
    """The per-class part of a score dict as a table indexed by class."""
    return pd.DataFrame({k: s[k] for k in ("f1", "tpr", "tnr", "support")}, index=pd.Index(s["labels"], name="class"))


def mean_of_folds(fold_scores: Sequence[dict], metrics: Sequence[str] = METRICS) -> dict:
    """Mean and standard deviation over folds of per-fold scores (DLHN Eqs. 10-11; PSN Table 9's RR_std).

    NaN fold scores (e.g. UF1 of a fold with no defined class) are skipped.
    """
    out = {"n_folds": len(fold_scores)}
    for m in metrics:
        v = np.array([s[m] for s in fold_scores], dtype=float)
        out[m] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        out[f"{m}_std"] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")
    return out


def pooled(y_true_per_fold: Sequence[Sequence], y_pred_per_fold: Sequence[Sequence], labels: Sequence) -> dict:
    """Scores over all folds' predictions pooled together (the MEGC2019 rule; LocalRegions, CropNet Table 3)."""
    return scores(np.concatenate([_array(y) for y in y_true_per_fold]),
                  np.concatenate([_array(y) for y in y_pred_per_fold]), labels)


def by_group(predictions: pd.DataFrame, labels: Sequence, by: str = "dataset") -> pd.DataFrame:
    """Pooled scores per value of ``by`` inside a composite run (PSN Table 6, CropNet Table 3).

    ``predictions`` has columns ``y_true``, ``y_pred`` and ``by``; one row per group plus ``all``.
    """
    rows = []
    for key, g in list(predictions.groupby(by, sort=True)) + [("all", predictions)]:
        s = scores(g["y_true"], g["y_pred"], labels)
        rows.append({by: key, "n": s["n"], "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"]})
    return pd.DataFrame(rows).set_index(by)


def from_confusion(cm: np.ndarray) -> dict:
    """Accuracy, UF1 and UAR from a confusion matrix (rows true), with ``scores``' rules for absent classes."""
    cm = np.asarray(cm, dtype=float)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
        rec = np.where(support > 0, tp / support, np.nan)
    nanmean = lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")  # noqa: E731
    return {"accuracy": float(tp.sum() / cm.sum()), "uf1": nanmean(f1), "uar": nanmean(rec)}


def metric_fn(metric: str | Callable, labels) -> Callable:
    """metric(y_true, y_pred) on label codes 0..K-1: a fast confusion-matrix path for the named metrics."""
    if callable(metric):
        return lambda t, p: metric(np.asarray(labels, dtype=object)[t], np.asarray(labels, dtype=object)[p])
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)} or pass a function")
    k = len(labels)
    return lambda t, p: from_confusion(np.bincount(t * k + p, minlength=k * k).reshape(k, k))[metric]


def _codes(y, labels) -> np.ndarray:
    pos = {c: i for i, c in enumerate(labels)}
    return np.array([pos[v] for v in y.tolist()], dtype=int)


def bootstrap_ci(y_true: Sequence, y_pred: Sequence, labels: Sequence, metric: str | Callable = "uf1",
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap confidence interval of ``metric`` over clips (clips resampled with replacement).

    Resampling clips treats them as independent although clips of one subject are not; a cluster bootstrap
    (``groups=`` in :func:`paired_bootstrap`) is the stricter choice.
    """
    y_true, y_pred, labels = _arrays(y_true, y_pred, labels)
    y_true, y_pred = _codes(y_true, labels), _codes(y_pred, labels)
    fn = metric_fn(metric, labels)
    rng = np.random.default_rng(seed)
    n = len(y_true)
    boot = np.array([fn(y_true[i], y_pred[i]) for i in (rng.integers(0, n, n) for _ in range(n_boot))])
    a = (1 - level) / 2
    return {"value": float(fn(y_true, y_pred)), "low": float(np.nanquantile(boot, a)),
            "high": float(np.nanquantile(boot, 1 - a)), "level": level, "n_boot": n_boot}


def paired_bootstrap(y_true: Sequence, pred_a: Sequence, pred_b: Sequence, labels: Sequence,
                     metric: str | Callable = "uf1", n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                     groups: Sequence | None = None) -> dict:
    """Paired bootstrap of metric(A) - metric(B) on the same clips (same folds).

    Both methods are scored on each resample of clips (or of whole ``groups``, e.g. subjects, when given).
    ``p`` is the two-sided bootstrap p-value: twice the smaller share of resampled differences on either
    side of 0 (capped at 1).
    """
    y_true, pred_a, labels = _arrays(y_true, pred_a, labels)
    _, pred_b, _ = _arrays(y_true, pred_b, labels)
    y_true, pred_a, pred_b = (_codes(v, labels) for v in (y_true, pred_a, pred_b))
    fn = metric_fn(metric, labels)
    rng = np.random.default_rng(seed)
    if groups is None:
        members = [np.array([i]) for i in range(len(y_true))]
    else:
        g = pd.Series(np.asarray(groups))
        members = [np.asarray(ix) for ix in g.groupby(g, sort=True).indices.values()]
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        i = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        diffs[b] = fn(y_true[i], pred_a[i]) - fn(y_true[i], pred_b[i])
    a = (1 - level) / 2
    p = 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    return {"diff": float(fn(y_true, pred_a) - fn(y_true, pred_b)), "low": float(np.nanquantile(diffs, a)),
            "high": float(np.nanquantile(diffs, 1 - a)), "p": float(min(1.0, p)), "n_boot": n_boot}


def mcnemar(y_true: Sequence, pred_a: Sequence, pred_b: Sequence) -> dict:
    """Exact McNemar test on the clips one method gets right and the other wrong.

    b = A right and B wrong, c = A wrong and B right; p = two-sided binomial test of b against Bin(b + c, 1/2).
    """
    y_true = _array(y_true)
    ra = _array(pred_a) == y_true
    rb = _array(pred_b) == y_true
    b, c = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
    p = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p": p}


def wilcoxon_folds(fold_scores_a: Sequence[float], fold_scores_b: Sequence[float]) -> dict:
    """Wilcoxon signed-rank test of per-fold scores of two methods on the same folds (e.g. DLHN Table 6)."""
    a, b = np.asarray(fold_scores_a, float), np.asarray(fold_scores_b, float)
    if a.shape != b.shape:
        raise DataError(None, "per-fold scores of both methods on the same folds", f"{len(a)} vs {len(b)}")
    d = a - b
    if np.allclose(d, 0):
        return {"statistic": 0.0, "p": 1.0, "mean_diff": 0.0}
    r = stats.wilcoxon(a, b)
    return {"statistic": float(r.statistic), "p": float(r.pvalue), "mean_diff": float(d.mean())}

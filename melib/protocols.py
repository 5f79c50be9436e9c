"""Evaluation protocols: which clips train and which test, fold by fold, with a leakage audit.

``split(samples, protocol, **params)`` yields ``(train, test)`` pairs of positional indices into ``samples``
(use ``samples.iloc[idx]``); ``folds(...)`` gives the same folds with a name and an audit each.
Rows whose ``label`` is NA (excluded by the label scheme) are in no fold; the audit counts them.

Protocols (the papers disagree, and comparing them is one of the study's results):

- ``loso``: leave one (namespaced) subject out (CropNet 4.3, LocalRegions 4.5).
- ``group_kfold``: ``n_splits`` subject-disjoint folds (``stratify=True`` uses ``StratifiedGroupKFold``).
- ``group_holdout``: one subject-disjoint split, the first fold of ``group_kfold`` (for trainings too long
  to repeat per fold: DLHN's 1500 epochs on a CPU, ``melib.experiments.recipe_checks``).
- ``stratified_kfold``: sample-level folds keeping class proportions (DLHN 4.1 and PSN 3.2: 10 folds;
  C3D 8.2: 5 folds).
- ``cross_dataset``: train on the datasets ``train``, test on the datasets ``test`` (C3D Table 4,
  LocalRegions Tables 12-13); one fold, or ``n_splits`` folds over the training datasets.
- ``holdout``: a train-test split repeated ``n_repeats`` times with seeds ``seed, seed+1, ...``
  (C3D 8.1 and its Fig. 4).
- ``lodo``: leave one dataset out: each dataset of the samples (or of ``datasets=``) is tested in turn by a model
  trained on all the others, one fold each, as the MEGC challenges since 2023 hold out CAS(ME)³ or 4DME.
  Subjects are namespaced by dataset, so the folds are subject-disjoint by construction (audit: leakage 0).

Every protocol but ``cross_dataset`` takes ``datasets=`` to restrict the samples to a union of datasets (a
composite set, e.g. MEGC2019's smic+casme2+samm) labelled by one scheme.

Registry: a protocol is one function ``fn(samples, pool, **params) -> list[Fold]`` registered with
:func:`register` (``pool``: the positional indices of the labelled rows it may use); :func:`names` lists them.
A paper's scenarios (C3D Table 4, LocalRegions Tables 12-13) are that chapter's, in ``melib.experiments``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import (GroupKFold, GroupShuffleSplit, LeaveOneGroupOut, ShuffleSplit,
                                     StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit)

from .errors import ConfigError, DataError
from .registry import Registry

_PROTOCOLS: Registry = Registry("protocol")
_NO_DATASETS = set()  # protocols that choose their own datasets (no ``datasets=``)


def register(name: str, datasets: bool = True):
    """Register ``fn(samples, pool, **params) -> list[Fold]`` as protocol ``name`` (``datasets=False``: it
    takes no ``datasets=`` restriction and its ``pool`` is every labelled row)."""
    def deco(fn: Callable) -> Callable:
        _PROTOCOLS.add(name, fn)
        if not datasets:
            _NO_DATASETS.add(name)
        return fn
    return deco


def names() -> tuple[str, ...]:
    """The registered protocols."""
    return tuple(_PROTOCOLS)


@dataclass
class Fold:
    """One fold: positional indices into the samples table, a readable name and its leakage audit."""
    index: int
    name: str
    train: np.ndarray
    test: np.ndarray
    audit: dict = field(default_factory=dict)


def composite(*tables: pd.DataFrame) -> pd.DataFrame:
    """The union of several samples tables (one per dataset, labelled by one scheme) as one table.

    Raises DataError when a (subject, clip) pair repeats across tables or when the tables were labelled by
    different schemes (``attrs["scheme"]``, when the label step records it).
    """
    if not tables:
        raise ConfigError("composite() needs at least one samples table")
    schemes = {t.attrs.get("scheme") for t in tables} - {None}
    if len(schemes) > 1:
        raise DataError(None, "samples tables labelled by one scheme",
                        f"schemes {sorted(schemes)}; call melib.labels.assign with the same scheme on each")
    out = pd.concat(tables, ignore_index=True)
    key = out[["subject", "clip"]].astype(str).agg("/".join, axis=1)  # CASME II reuses clip names across subjects
    if key.duplicated().any():
        raise DataError(None, "each (subject, clip) once in the composite set",
                        f"repeated clips {sorted(key[key.duplicated()].unique())[:5]}")
    out.attrs = {"scheme": schemes.pop() if schemes else None,
                 "exclusions": [e for t in tables for e in t.attrs.get("exclusions", [])],
                 "fixes": [f for t in tables for f in t.attrs.get("fixes", [])]}
    return out


def labelled(samples: pd.DataFrame, datasets: Sequence[str] | str | None = None) -> np.ndarray:
    """Positional indices of the rows that have a label (and belong to ``datasets`` when given)."""
    for col in ("dataset", "subject", "clip"):
        if col not in samples.columns:
            raise DataError(None, f"a samples table with a {col!r} column", f"columns {list(samples.columns)}")
    if "label" not in samples.columns:
        raise DataError(None, "a samples table with a 'label' column",
                        "none; call melib.labels.assign(samples, scheme) first")
    keep = samples["label"].notna().to_numpy().copy()
    if datasets is not None:
        datasets = (datasets,) if isinstance(datasets, str) else tuple(datasets)
        unknown = set(datasets) - set(samples["dataset"])
        if unknown:
            raise ConfigError(f"datasets {sorted(unknown)} are not in the samples (which hold "
                              f"{sorted(samples['dataset'].unique())}); change datasets=")
        keep &= samples["dataset"].isin(datasets).to_numpy()
    return np.flatnonzero(keep)


def audit(samples: pd.DataFrame, train: np.ndarray, test: np.ndarray) -> dict:
    """Leakage audit of one fold: the share of test clips whose subject also appears in training."""
    subj = samples["subject"].to_numpy()
    train_subjects = set(subj[train])
    shared = np.array([s in train_subjects for s in subj[test]], dtype=bool)
    return {
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "n_test_subjects": int(len(set(subj[test]))),
        "n_shared_subjects": int(len(set(subj[test][shared]))),
        "leakage": float(shared.mean()) if len(test) else float("nan"),
        "n_unlabelled": int(samples["label"].isna().sum()),
    }


def _check(samples: pd.DataFrame, pool: np.ndarray, folds: list[Fold], protocol: str) -> None:
    """Every fold has a test part and a training part holding every class of the evaluated clips."""
    y = samples["label"].to_numpy()
    classes = set(y[pool])
    if not folds:
        raise DataError(None, f"at least one fold from protocol {protocol!r}", "none; check the samples")
    for f in folds:
        if len(f.test) == 0 or len(f.train) == 0:
            part = "test" if len(f.test) == 0 else "training"
            raise DataError(None, f"a non-empty {part} part in every fold of {protocol!r}",
                            f"fold {f.name!r} has none; use fewer folds or more data")
        missing = classes - set(y[f.train])
        if missing:
            raise DataError(None, f"every class in the training part of each {protocol!r} fold",
                            f"fold {f.name!r} trains without {sorted(map(str, missing))}; use fewer folds, "
                            "a coarser label scheme, or drop the rare class")


def folds(samples: pd.DataFrame, protocol: str, **params) -> list[Fold]:
    """The folds of ``protocol`` on ``samples``, each with its leakage audit; see the module docstring."""
    fn = _PROTOCOLS.entry(protocol)
    params = dict(params)
    datasets = params.pop("datasets", None)
    own = protocol in _NO_DATASETS
    accepted = [p for p in inspect.signature(fn).parameters if p not in ("samples", "pool")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"protocol {protocol!r} has no parameter {', '.join(unknown)}; it takes "
                          f"{', '.join(accepted + ([] if own else ['datasets'])) or 'none'}")
    if own and datasets is not None:
        raise ConfigError(f"{protocol} chooses its own datasets ({', '.join(accepted)}), it takes no datasets=")
    pool = labelled(samples, datasets)
    if not len(pool):
        raise DataError(None, f"labelled clips for {protocol!r}", "none; check the samples, datasets= and the "
                                                                  "label scheme's exclusions")
    out = fn(samples, pool, **params)
    if own:  # the folds say which rows they use
        pool = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in out]))
    _check(samples, pool, out, protocol)
    for f in out:
        f.train, f.test = np.sort(f.train), np.sort(f.test)
        f.audit = audit(samples, f.train, f.test)
    return out


def split(samples: pd.DataFrame, protocol: str, **params) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (train, test) positional indices of each fold of ``protocol``."""
    for f in folds(samples, protocol, **params):
        yield f.train, f.test


def _labels(samples, pool):
    return samples["label"].to_numpy()[pool].astype(str)


@register("loso")
def _loso(samples, pool):
    groups = samples["subject"].to_numpy()[pool]
    if len(set(groups)) < 2:
        raise DataError(None, "'loso' folds: at least 2 subjects",
                        f"{len(set(groups))} ({', '.join(sorted(set(groups)))}); use stratified_kfold or holdout")
    return [Fold(i, str(groups[te][0]), pool[tr], pool[te])
            for i, (tr, te) in enumerate(LeaveOneGroupOut().split(pool, groups=groups))]


@register("group_kfold")
def _group_kfold(samples, pool, n_splits: int = 5, seed: int | None = 0, stratify: bool = False):
    _at_least("n_splits", n_splits, 2, "group_kfold")
    groups = samples["subject"].to_numpy()[pool]
    n_groups = len(set(groups))
    if n_splits > n_groups:
        raise DataError(None, f"at least n_splits={n_splits} subjects for group_kfold",
                        f"{n_groups}; lower n_splits or use loso")
    if stratify:
        cv = StratifiedGroupKFold(n_splits, shuffle=seed is not None, random_state=seed)
    else:
        cv = GroupKFold(n_splits, shuffle=seed is not None, random_state=seed)
    it = cv.split(pool, _labels(samples, pool), groups=groups)
    return [Fold(i, f"fold{i + 1}", pool[tr], pool[te]) for i, (tr, te) in enumerate(it)]


@register("group_holdout")
def _group_holdout(samples, pool, n_splits: int = 3, seed: int | None = 0, stratify: bool = True):
    """One subject-disjoint split: the first fold of ``group_kfold(n_splits, seed, stratify)`` (about
    1 / n_splits of the clips tested)."""
    return _group_kfold(samples, pool, n_splits, seed, stratify)[:1]


@register("stratified_kfold")
def _stratified_kfold(samples, pool, n_splits: int = 10, seed: int | None = 0):
    """Sample-level k folds with the class proportions of the whole set in each (PSN 3.2, C3D 8.2).

    ``seed=None`` keeps the table order (no shuffle); the papers shuffle, so the default is seed 0.
    """
    _at_least("n_splits", n_splits, 2, "stratified_kfold")
    y = _labels(samples, pool)
    counts = pd.Series(y).value_counts()
    rare = counts[counts < n_splits]
    if len(rare):
        raise DataError(None, f"at least n_splits={n_splits} clips of each class for stratified_kfold",
                        f"{dict(rare)}; lower n_splits or drop/merge those classes")
    cv = StratifiedKFold(n_splits, shuffle=seed is not None, random_state=seed)
    return [Fold(i, f"fold{i + 1}", pool[tr], pool[te]) for i, (tr, te) in enumerate(cv.split(pool, y))]


@register("holdout")
def _holdout(samples, pool, test_size: float = 0.2, n_repeats: int = 5, seed: int = 0,
             stratify: bool = False):
    """C3D 8.1: random train-test splits, one per seed. C3D states neither test size nor stratification:
    test_size=0.2 and no stratification are this library's choices."""
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise ConfigError(f"test_size of holdout is the share of clips tested, a number in (0, 1), not {test_size!r}")
    _at_least("n_repeats", n_repeats, 1, "holdout")
    y = _labels(samples, pool)
    out = []
    for r in range(n_repeats):
        cv = (StratifiedShuffleSplit if stratify else ShuffleSplit)(1, test_size=test_size, random_state=seed + r)
        tr, te = next(cv.split(pool, y))
        out.append(Fold(r, f"seed{seed + r}", pool[tr], pool[te]))
    return out


@register("cross_dataset", datasets=False)
def _cross_dataset(samples, pool, train: Sequence[str] | str = (), test: Sequence[str] | str = (),
                   n_splits: int | None = None, seed: int | None = 0):
    """Train on datasets ``train``, test on datasets ``test``: one fold, or with ``n_splits`` k folds that each
    train on k-1 stratified folds of the training datasets and test on all of the test datasets (one reading
    of C3D 8.2, which applies stratified 5-fold to its cross-dataset scenarios too)."""
    if n_splits is not None:
        _at_least("n_splits", n_splits, 2, "cross_dataset")
    train = (train,) if isinstance(train, str) else tuple(train)
    test = (test,) if isinstance(test, str) else tuple(test)
    if not train or not test:
        raise ConfigError("cross_dataset needs train=(datasets...) and test=(datasets...)")
    if set(train) & set(test):
        raise ConfigError(f"cross_dataset train {train} and test {test} share datasets; "
                          "use stratified_kfold/loso with datasets= for intra-dataset evaluation")
    tr, te = labelled(samples, train), labelled(samples, test)
    y = samples["label"].to_numpy()
    ltr, lte = set(y[tr]), set(y[te])
    if ltr != lte:
        raise DataError(None, f"the same label set in train {train} and test {test}",
                        f"train-only {sorted(map(str, ltr - lte))}, test-only {sorted(map(str, lte - ltr))}; "
                        "label both with one scheme whose classes occur in both (e.g. a 3-class scheme)")
    name = f"{'+'.join(train)}->{'+'.join(test)}"
    if not n_splits:
        return [Fold(0, name, tr, te)]
    return [Fold(f.index, f"{name} {f.name}", f.train, te.copy())
            for f in _stratified_kfold(samples, tr, n_splits=n_splits, seed=seed)]


@register("lodo")
def _lodo(samples, pool):
    """Leave one dataset out: one fold per dataset, tested on it after training on every other one."""
    ds = samples["dataset"].to_numpy()[pool]
    names = sorted(set(ds))
    if len(names) < 2:
        raise ConfigError(f"lodo (leave one dataset out) needs at least 2 datasets; the labelled clips hold "
                          f"{len(names)} ({', '.join(map(str, names))}): load a composite set (or widen datasets=), "
                          "or use loso within one dataset")
    subjects = pd.DataFrame({"subject": samples["subject"].to_numpy()[pool], "dataset": ds})
    shared = subjects.groupby("subject")["dataset"].nunique()
    if (shared > 1).any():
        raise DataError(None, "subjects namespaced by dataset (casme2/sub01), none in two datasets",
                        f"{int((shared > 1).sum())} subject(s) in several datasets, e.g. {shared[shared > 1].index[0]}")
    return [Fold(i, f"{'+'.join(n for n in names if n != d)}->{d}", pool[ds != d], pool[ds == d])
            for i, d in enumerate(names)]


def _at_least(name: str, value, minimum: int, protocol: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} of {protocol} must be an integer >= {minimum}, not {value!r}")


PROTOCOLS = names()  # the built-in protocols (those registered later: names())


def validation_split(samples: pd.DataFrame, train: np.ndarray, fraction: float = 0.1, seed: int = 0,
                     tries: int = 20) -> tuple[np.ndarray, np.ndarray, str]:
    """Carve a validation part out of a fold's training part: (fit, val, kind).

    Subject-disjoint (``GroupShuffleSplit`` over subjects, ``kind="subject"``) when the training part has
    at least two subjects and some draw keeps every class in the fit part; otherwise a stratified
    sample-level split (``kind="sample"``). The test fold is never involved.
    """
    train = np.asarray(train)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"the validation fraction is a share of the training part in (0, 1), not {fraction!r}")
    if len(train) < 2:
        raise DataError(None, "at least 2 clips in a training part to carve a validation part from",
                        f"{len(train)}; lower val_fraction to 0 or use more data")
    y = samples["label"].to_numpy()[train].astype(str)
    groups = samples["subject"].to_numpy()[train]
    classes = set(y)
    if len(set(groups)) >= 2:
        for t in range(tries):
            fit, val = next(GroupShuffleSplit(1, test_size=fraction, random_state=seed + t).split(train, y, groups))
            if len(val) and set(y[fit]) == classes:
                return train[fit], train[val], "subject"
    counts = pd.Series(y).value_counts()
    strat = y if counts.min() >= 2 and round(fraction * len(y)) >= len(classes) else None
    cv = (StratifiedShuffleSplit if strat is not None else ShuffleSplit)(1, test_size=fraction, random_state=seed)
    fit, val = next(cv.split(train, y))
    return train[fit], train[val], "sample"

"""What the notebooks display: provenance labels, published-versus-study tables and figures (the book build is
:mod:`melib.book`, the display of tables :mod:`melib.display`).

Provenance rules (every number in the book carries one of these, in the table itself):

- ``published (<paper> <table>)``: copied from a paper (``melib.published``).
- ``re-run on real data (<datasets>)``: this study's run of its re-implementation on the licensed releases the
  user supplied; whether it agrees with the paper is the difference column's to say.
- ``synthetic (melib default set, seed s)``: this study's run on melib's known-answer set. It checks
  whether the code learns what the set plants; it is never a reproduction of a paper's number.
- ``mixed: synthetic and real data (...); not a reproduction``: a run that used both.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
import seaborn as sns

from .errors import ConfigError, DataError
from .datasets import display_name, order

RATE_METRICS = ("accuracy", "uf1", "uar", "f1", "rate")
NOT_RUN = "not run in this study"
NOT_PUBLISHED = "not published"


# ---- provenance ----------------------------------------------------------------------------------------

def provenance_kind(label: str) -> str:
    """published | real | synthetic | mixed, read back from a provenance label."""
    # "reproduced on real data": the label of headline rows saved before it became "re-run on real data"
    for prefix, kind in (("published", "published"), ("re-run on real data", "real"),
                         ("reproduced on real data", "real"), ("synthetic", "synthetic"), ("mixed", "mixed")):
        if str(label).startswith(prefix):
            return kind
    raise ConfigError(f"not a provenance label: {label!r}")


def _synth_seed_and_default(samples: pd.DataFrame, seed: int | None) -> tuple[int | None, bool | None]:
    """The synthetic set's seed, and whether it is the default set (None: unknown), from ``attrs`` and the
    ``synth_params.json`` that ``melib.synth.generate_default`` writes at the set's root."""
    root = samples.attrs.get("root")
    params = None
    if root and (Path(root) / "synth_params.json").is_file():
        try:
            params = json.loads((Path(root) / "synth_params.json").read_text())
        except json.JSONDecodeError:
            params = None
    if seed is None:
        seed = samples.attrs.get("seed", params.get("seed") if isinstance(params, dict) else None)
    default = None
    if isinstance(params, dict) and seed is not None:
        from . import synth

        default = params == synth.default_params(int(seed))
    return seed, default


def provenance_label(samples: pd.DataFrame, seed: int | None = None) -> str:
    """The provenance of numbers computed on ``samples`` (a melib samples table), decided by its ``synthetic``
    column; rows with a NA ``label`` (excluded by the label scheme) do not count.

    Synthetic clips are written in the releases' layouts, so dataset names alone cannot tell synthetic from
    real: the ``synthetic`` column decides, the dataset names only fill in the label.
    """
    if "synthetic" not in samples.columns:
        raise DataError(None, "a samples table with a 'synthetic' column (melib.datasets.load)",
                        f"columns {', '.join(map(str, samples.columns))}")
    used = samples[samples["label"].notna()] if "label" in samples.columns else samples
    if used.empty:
        raise DataError(None, "at least one labelled clip to attribute numbers to", "none")
    if used["synthetic"].isna().any():
        raise DataError(None, "'synthetic' set to True or False on every clip", f"{used['synthetic'].isna().sum()} blank")
    syn = used["synthetic"].astype(bool)
    names = ", ".join(display_name(d) for d in order(used.loc[~syn, "dataset"])) if "dataset" in used \
        else "unnamed datasets"
    if syn.all():
        s, default = _synth_seed_and_default(samples, seed)
        kind = {True: "melib default set", False: "melib synthetic set, non-default parameters",
                None: "melib synthetic set"}[default]
        return f"synthetic ({kind}, seed {s})" if s is not None else f"synthetic ({kind})"
    if not syn.any():
        return f"re-run on real data ({names})"
    return f"mixed: synthetic and real data ({names}); not a reproduction"


# ---- published beside this study -----------------------------------------------------------------------

def study_table(results: pd.DataFrame, provenance: str, method: str | None = None, aggregate: str = "pooled",
                metrics=("accuracy", "uf1", "uar")) -> pd.DataFrame:
    """Run rows of ``melib.records.results(...)`` in the long form ``side_by_side`` takes.

    ``aggregate``: "pooled" (all folds' predictions scored together: the MEGC2019 rule, CropNet and
    LocalRegions) or "mean" (mean of per-fold scores: DLHN Eq. 11, PSN, C3D). ``method`` names the rows as
    the published table does (default: the record's model name). Columns: method, metric, value,
    aggregate, protocol, scheme, provenance.
    """
    if aggregate not in ("pooled", "mean"):
        raise ConfigError(f"aggregate={aggregate!r}; use 'pooled' or 'mean'")
    provenance_kind(provenance)
    rows = []
    for _, r in results.iterrows():
        for m in metrics:
            col = m if aggregate == "pooled" else f"{m}_mean"
            if col not in r.index:
                raise DataError(None, f"a results table with column {col!r} (melib.records.results)",
                                f"columns {', '.join(map(str, results.columns))}")
            rows.append({"method": method or r.get("model"), "metric": m, "value": float(r[col]),
                         "aggregate": aggregate, "protocol": r.get("protocol"), "scheme": r.get("scheme"),
                         "provenance": provenance})
    return pd.DataFrame(rows, columns=["method", "metric", "value", "aggregate", "protocol", "scheme", "provenance"])


def side_by_side(reproduced: pd.DataFrame, published: pd.DataFrame, on=("method", "metric"),
                 provenance: str | None = None) -> pd.DataFrame:
    """This study's numbers beside the published ones, one row per ``on`` key, both provenances on every row.

    ``reproduced``: long form with the ``on`` columns, ``value`` and ``provenance`` (or pass ``provenance=``,
    e.g. ``provenance_label(samples)``). ``published``: a ``melib.published.table`` (filtered to the rows to
    show). Rates are fractions in [0, 1] on both sides. Returns the ``on`` columns then ``published``,
    ``published_provenance``, ``study``, ``study_provenance`` and ``difference`` (study - published, only when
    the study ran on real data: a synthetic number is not an attempt at the published one).
    """
    on = [on] if isinstance(on, str) else list(on)
    study = reproduced.copy()
    if provenance is not None:
        study["provenance"] = provenance
    for name, df in (("reproduced", study), ("published", published)):
        missing = [c for c in on + ["value", "provenance"] if c not in df.columns]
        if missing:
            raise ConfigError(f"side_by_side: the {name} table lacks column(s) {', '.join(missing)}"
                              + (" (pass provenance=provenance_label(samples))" if name == "reproduced"
                                 and "provenance" in missing else ""))
        if df["provenance"].isna().any():
            raise ConfigError(f"side_by_side: {name} rows without a provenance")
        dup = df.duplicated(on, keep=False)
        if dup.any():
            raise ConfigError(f"side_by_side: several {name} rows share {on}: "
                              f"{df.loc[dup, on].drop_duplicates().to_dict('records')[:3]}; "
                              f"filter the table or join on more columns")
    kinds = {provenance_kind(p) for p in study["provenance"]}
    if "published" in kinds:
        raise ConfigError("side_by_side: the reproduced table holds published numbers")
    rates = study["metric"].isin(RATE_METRICS) if "metric" in study else pd.Series(False, study.index)
    if (study.loc[rates, "value"].astype(float) > 1).any():
        raise ConfigError("side_by_side: study rates above 1; give fractions, not percentages")
    left = published[on + ["value", "provenance"]].rename(
        columns={"value": "published", "provenance": "published_provenance"})
    right = study[on + ["value", "provenance"]].rename(columns={"value": "study", "provenance": "study_provenance"})
    out = left.merge(right, on=on, how="outer", sort=False)
    out["published_provenance"] = out["published_provenance"].fillna(NOT_PUBLISHED)
    out["study_provenance"] = out["study_provenance"].fillna(NOT_RUN)
    real = out["study_provenance"].map(lambda p: p != NOT_RUN and provenance_kind(p) == "real")
    out["difference"] = np.where(real, out["study"] - out["published"], np.nan)
    return out.reset_index(drop=True)


OVERVIEW_KEY = ["paper", "table", "method", "setting", "metric"]


def results_overview(study_rows: pd.DataFrame, published_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each paper's headline number beside this study's, one row per published headline, both provenances on
    every row.

    ``study_rows``: the chapters' ``headline(...)`` rows (``melib.params.kept_headlines``); ``published_rows``:
    default ``melib.published.headlines()``. Matched on paper, table, method, setting and metric
    (:func:`side_by_side`); the published and the study's dataset, label scheme and protocol and the study's
    subject overlap (the leakage audit's maximum share of test clips whose subject is in training; 0 =
    subject-disjoint) stand beside them, with what the study's metric reaches by chance (``study_chance``) and
    the collapse label of a run that predicts one class for every clip (``study_collapsed``). A headline no
    chapter produced says "not run in this study".
    ``difference`` (study - published) is filled only for a study number on real data of the published
    dataset under the published scheme.
    """
    from . import published

    pub = published.headlines() if published_rows is None else published_rows
    pub = pub.assign(setting=pub["setting"].fillna(""))
    study = study_rows.assign(setting=study_rows["setting"].fillna(""), value=study_rows["value"].astype(float))
    both = side_by_side(study, pub, on=OVERVIEW_KEY)
    out = pub[OVERVIEW_KEY + ["dataset", "scheme", "protocol"]].rename(
        columns={"scheme": "published_scheme", "protocol": "published_protocol"})
    for c in ("chance", "collapsed"):  # rows saved before these columns
        if c not in study:
            study[c] = None
    out = out.merge(both, on=OVERVIEW_KEY, how="left").merge(
        study[OVERVIEW_KEY + ["dataset", "scheme", "protocol", "subject_overlap", "n_clips", "chance",
                              "collapsed"]].rename(
            columns={"dataset": "study_dataset", "scheme": "study_scheme", "protocol": "study_protocol",
                     "chance": "study_chance", "collapsed": "study_collapsed"}),
        on=OVERVIEW_KEY, how="left")
    out.loc[(out["study_dataset"] != out["dataset"]) | (out["study_scheme"] != out["published_scheme"]),
            "difference"] = np.nan
    out["n_clips"] = out["n_clips"].astype("Int64")
    return out[OVERVIEW_KEY[:4] + ["dataset", "metric", "published", "published_scheme", "published_protocol",
                                   "published_provenance", "study", "study_dataset", "study_scheme",
                                   "study_protocol", "subject_overlap", "n_clips", "study_provenance", "difference",
                                   "study_chance", "study_collapsed"]]


def overview_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`results_overview` laid out for reading: one cell per number with its dataset and protocol (and
    the study's subject overlap and collapse label) beside it, then its provenance, so the page needs no
    sideways scrolling."""
    from .published import dataset_name

    def cell(value, dataset, scheme, protocol, overlap=None, collapsed=None):
        if pd.isna(value):
            return "—"
        extra = f", subject overlap {overlap:.2f}" if overlap is not None and not pd.isna(overlap) else ""
        gone = f"; {collapsed}" if isinstance(collapsed, str) and collapsed else ""
        return f"{value:.3f} ({dataset_name(dataset)}; {scheme}; {protocol}{extra}){gone}"

    out = pd.DataFrame({
        "headline": [f"{r.paper} {r.table}: {r.method}{' ' + r.setting if r.setting else ''}, {r.metric}"
                     for r in table.itertuples()],
        "published": [cell(r.published, r.dataset, r.published_scheme, r.published_protocol)
                      for r in table.itertuples()],
        "published provenance": table["published_provenance"].to_numpy(),
        "this study": [cell(r.study, r.study_dataset, r.study_scheme, r.study_protocol, r.subject_overlap,
                            getattr(r, "study_collapsed", None)) for r in table.itertuples()],
        "study provenance": table["study_provenance"].to_numpy(),
        "difference": table["difference"].round(3).to_numpy(),
    })
    return out.set_index("headline")


# ---- figures -------------------------------------------------------------------------------------------

def _style():
    return sns.axes_style("whitegrid")


def confusion_figure(cm, labels=None, title: str | None = None, normalize: bool = False):
    """A confusion matrix as an annotated heatmap (rows: true class, columns: predicted class)."""
    if isinstance(cm, pd.DataFrame):
        labels = list(cm.index) if labels is None else labels
        cm = cm.to_numpy()
    cm = np.asarray(cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise DataError(None, "a square confusion matrix", f"shape {cm.shape}")
    labels = [str(i) for i in range(len(cm))] if labels is None else [str(x) for x in labels]
    if len(labels) != len(cm):
        raise DataError(None, f"{len(cm)} class labels", f"{len(labels)}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    integral = not normalize and np.allclose(cm, np.round(cm))
    with _style():
        fig, ax = plt.subplots(figsize=(1.2 * len(cm) + 2.5, 1.0 * len(cm) + 1.8))
        sns.heatmap(shown.round().astype(int) if integral else shown, annot=True, fmt="d" if integral else ".2f",
                    cmap="Blues", cbar=False, square=True, vmin=0, xticklabels=labels, yticklabels=labels, ax=ax,
                    annot_kws={"size": 9})
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="y", rotation=0)
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def curves_figure(history, title: str | None = None):
    """Per-epoch loss (left) and accuracy (right), train and validation; keys that were not logged are skipped.
    Where the training and validation values differ more than five-fold in scale (a loss with its weight penalty
    beside one without), the validation curve has its own axis on the right. Epoch ticks are whole numbers.

    ``history``: a list of dicts with ``epoch`` and any of ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc`` (or a DataFrame with those columns).
    """
    df = pd.DataFrame(list(history) if not isinstance(history, pd.DataFrame) else history)
    if df.empty:
        raise DataError(None, "a training history with at least one epoch", "none")
    if "epoch" not in df:
        df["epoch"] = np.arange(1, len(df) + 1)
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, what, ylabel in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
            drawn, lines = 0, []
            scales = [df[f"{s}_{what}"].abs().median() for s in ("train", "val")
                      if f"{s}_{what}" in df and df[f"{s}_{what}"].notna().any()]
            # a training loss with its regularisation term can be 100 times the validation loss: own axes then
            apart = len(scales) == 2 and min(scales) > 0 and max(scales) / min(scales) > 5
            for split, style, colour in (("train", "-", "tab:blue"), ("val", "--", "tab:orange")):
                col = f"{split}_{what}"
                if col in df and df[col].notna().any():
                    d = df[["epoch", col]].dropna()
                    on = ax.twinx() if apart and split == "val" else ax
                    lines += on.plot(d["epoch"], d[col], style, color=colour, marker="o" if len(d) < 30 else None,
                                     ms=3, label=("train" if split == "train" else "validation")
                                     + (" (right axis)" if on is not ax else " (left axis)" if apart else ""))
                    if on is not ax:
                        on.set_ylabel(f"validation {ylabel}")
                    drawn += 1
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
            ax.set_ylabel(f"training {ylabel}" if apart else ylabel)
            if drawn:
                ax.legend(handles=lines, frameon=False)
            else:
                ax.text(0.5, 0.5, f"no {ylabel} logged", ha="center", va="center", transform=ax.transAxes)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def amplitude_figure(df: pd.DataFrame, chance: float | None = None, title: str | None = None):
    """UF1 and UAR against the synthetic set's motion amplitude, with confidence intervals and chance.

    ``df``: one row per (amplitude, metric[, method]) with columns ``amplitude``, ``metric`` (uf1, uar, ...),
    ``value``, ``ci_low``, ``ci_high`` and optionally ``method`` (one line each) and ``n_classes`` (chance =
    1 / n_classes when ``chance`` is not given; the expected UF1 and UAR of a classifier that ignores the
    input are both about 1/K for balanced classes).
    """
    need = {"amplitude", "metric", "value", "ci_low", "ci_high"}
    if not need <= set(df.columns):
        raise DataError(None, f"columns {', '.join(sorted(need))}", f"{', '.join(map(str, df.columns))}")
    if chance is None and "n_classes" in df and df["n_classes"].notna().any():
        chance = 1.0 / float(df["n_classes"].dropna().iloc[0])
    metrics = [m for m in ("uf1", "uar") if m in set(df["metric"])] + \
        sorted(set(df["metric"]) - {"uf1", "uar"})
    methods = list(dict.fromkeys(df["method"])) if "method" in df else [None]
    with _style():
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False, sharey=True)
        for ax, metric in zip(axes[0], metrics):
            for method in methods:
                d = df[(df["metric"] == metric) & ((df["method"] == method) if method is not None else True)]
                d = d.sort_values("amplitude")
                err = np.vstack([d["value"] - d["ci_low"], d["ci_high"] - d["value"]])
                ax.errorbar(d["amplitude"], d["value"], yerr=err, marker="o", capsize=3,
                            label=method if method is not None else metric.upper())
            if chance is not None:
                ax.axhline(chance, color="grey", ls=":", label="chance")
            ax.set_xlabel("motion amplitude (px at apex)")
            ax.set_ylabel(metric.upper())
            ax.set_title(metric.upper())
            ax.set_ylim(0, 1.02)
        # one legend beside the panels, never over the lines
        axes[0][-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig


_STUDY_MARKS = {"real": ("tab:blue", "tab:blue", "this study, real data"),
                "synthetic": ("none", "tab:orange", "this study, synthetic data (not a reproduction)"),
                "mixed": ("tab:red", "tab:red", "this study, mixed data (not a reproduction)")}
_OVERLAP_MARKS = {False: ("o", "subject-disjoint folds"), True: ("^", "folds share subjects")}


def overview_figure(table: pd.DataFrame):
    """:func:`results_overview` as a dot plot, one line per headline: the published number (diamond) and this
    study's, coloured by provenance (synthetic: hollow; "not run" where there is none) and shaped by subject
    overlap (circle: subject-disjoint folds; triangle: folds share subjects), the chance of this study's run
    (grey tick) and a red cross on a run that collapsed onto one class; each line names both protocols."""
    from matplotlib.lines import Line2D

    labels = [f"{r.paper} {r.table}: {r.method}{' ' + r.setting if r.setting else ''}, {r.metric}\n"
              f"paper: {r.published_protocol}" + (f" | here: {r.study_protocol}" if isinstance(r.study_protocol, str)
                                                  else "") for r in table.itertuples()]
    y = np.arange(len(table))[::-1]
    with _style():
        fig, ax = plt.subplots(figsize=(8, 0.62 * len(table) + 2.2))
        ax.scatter(table["published"], y, marker="D", color="black", zorder=3)
        handles = [Line2D([], [], marker="D", color="black", ls="", label="published")]
        kinds = table["study_provenance"].map(lambda p: "not run" if p == NOT_RUN else provenance_kind(p))
        shared = (table["subject_overlap"].fillna(0) > 0).to_numpy()
        for kind, (face, edge, label) in _STUDY_MARKS.items():
            for overlap, (marker, _) in _OVERLAP_MARKS.items():
                sel = (kinds == kind).to_numpy() & (shared == overlap)
                if sel.any():
                    ax.scatter(table["study"][sel], y[sel], marker=marker, s=60, facecolors=face, edgecolors=edge,
                               linewidths=1.5, zorder=4)
            if (kinds == kind).any():
                handles.append(Line2D([], [], marker="o", ls="", markerfacecolor=face, markeredgecolor=edge,
                                      markeredgewidth=1.5, markersize=8, label=label))
        for overlap, (marker, label) in _OVERLAP_MARKS.items():
            if ((kinds != "not run").to_numpy() & (shared == overlap)).any():
                handles.append(Line2D([], [], marker=marker, ls="", color="grey", markerfacecolor="none",
                                      label=f"this study, {label}"))
        chance = pd.to_numeric(table.get("study_chance", pd.Series(np.nan, index=table.index)), errors="coerce")
        has = chance.notna().to_numpy()
        if has.any():
            ax.scatter(chance[has], y[has], marker="|", s=160, color="grey", zorder=2)
            handles.append(Line2D([], [], marker="|", ls="", color="grey", markersize=10,
                                  label="chance of this study's run (1 / classes; accuracy: the majority rate)"))
        gone = table.get("study_collapsed", pd.Series(None, index=table.index)).map(
            lambda c: isinstance(c, str) and bool(c)).to_numpy()
        if gone.any():
            ax.scatter(table["study"][gone], y[gone], marker="x", s=90, color="tab:red", zorder=5)
            for yi, v in zip(y[gone], table["study"][gone]):
                ax.text(v, yi + 0.28, "collapsed: one class for every clip", fontsize=7, color="tab:red",
                        ha="center")
            handles.append(Line2D([], [], marker="x", ls="", color="tab:red",
                                  label="collapsed: this study's run predicts one class for every clip"))
        for yi in y[(kinds == "not run").to_numpy()]:
            ax.text(0.01, yi, "not run in this study", va="center", fontsize=8, color="grey", style="italic")
        ax.set_yticks(y, labels, fontsize=9)
        ax.set_ylim(-0.7, len(table) - 0.3)
        ax.set_xlim(0, 1)
        ax.set_xlabel("value (rates as fractions)")
        ax.set_title("Published headline numbers beside this study\n"
                     "synthetic numbers check the code; they are not reproductions", fontsize=10)
        ax.legend(handles=handles, frameon=False, fontsize=9, loc="upper center", bbox_to_anchor=(0.4, -0.08),
                  ncol=2)
        fig.tight_layout()
    return fig

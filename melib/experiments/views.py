"""Views every chapter shares: this study's numbers beside the published ones, laid out like the paper,
with captions that say the provenance, scheme, protocol and subject overlap; the leakage audit of the
folds; training curves (mean over folds) and confusion matrices of a run."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import display, report, train
from ..datasets import display_name
from ..errors import ConfigError
from .common import Run, protocol_name


def beside(study: pd.DataFrame, pub: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """``report.side_by_side`` with the rows in the published table's order, this study's extra rows after."""
    out = report.side_by_side(study, pub, on=on)
    rank = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, pub[on].astype(str).to_numpy())))}
    own = {k: len(rank) + i for i, k in enumerate(dict.fromkeys(map(tuple, study[on].astype(str).to_numpy())))}
    keys = [tuple(k) for k in out[on].astype(str).to_numpy()]
    pos = [rank.get(k, own.get(k, len(rank) + len(own))) for k in keys]
    return out.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)


def wide(beside: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """A ``side_by_side`` table laid out like the paper's: rows (``index``, source), columns ``columns``; the
    source of each row is its provenance label (published, or this study's: synthetic / real), so the
    provenance stays in the table. Rows with no number (a method this study did not run) are dropped."""
    parts = []
    for side in ("published", "study"):
        d = beside[[index, columns, side, f"{side}_provenance"]].rename(
            columns={side: "value", f"{side}_provenance": "source"})
        parts.append(d[d["value"].notna()])
    long = pd.concat(parts, ignore_index=True)
    rows = list(dict.fromkeys(zip(long[index], long["source"])))
    rows.sort(key=lambda k: list(dict.fromkeys(beside[index])).index(k[0]))
    out = long.pivot_table(index=[index, "source"], columns=columns, values="value", aggfunc="first", sort=False)
    out = out.reindex(index=pd.MultiIndex.from_tuples(rows, names=[index, "source"]),
                      columns=list(dict.fromkeys(beside[columns])))
    out.columns.name = columns
    return out


def confusion_beside(evaluation: train.Evaluation, published_cm: pd.DataFrame,
                     provenance: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this study's pooled confusion counts, a published matrix), rows true and columns predicted, in the
    published class order (then any class it lacks); each carries ``attrs["provenance"]``."""
    labels = list(evaluation.labels)
    cm = pd.DataFrame(evaluation.pooled["confusion"], index=labels, columns=labels)
    order = [c for c in published_cm.index if c in labels] + [c for c in labels if c not in published_cm.index]
    cm = cm.reindex(index=order, columns=order)
    cm.index.name, cm.columns.name = "true", "predicted"
    cm.attrs["provenance"] = provenance
    return cm, published_cm


def fold_audit(ev: train.Evaluation, protocol: str) -> pd.DataFrame:
    """Per fold: training and test clips, test subjects, test subjects also seen in training, and the share of
    test clips whose subject is in training (leakage)."""
    f = ev.folds()[["fold_name", "n_train", "n_test", "n_test_subjects", "n_shared_subjects", "leakage"]]
    return f.assign(protocol=protocol).set_index("fold_name")


def params_text(params: dict) -> str:
    """Protocol (or other) parameters as ``k=v, ...`` for a sentence."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def leakage_sentence(ev: train.Evaluation, protocol: str, params: dict, source: str) -> str:
    """The leakage audit in one sentence, for the page (``source``: where the paper states its protocol)."""
    lk = ev.leakage()
    verdict = ("sample-level k-fold is not subject-independent, as in the paper" if lk["leakage_max"] > 0
               else "no test subject is seen in training")
    return (f"**Leakage audit.** Protocol `{protocol}` ({params_text(params)}): {lk['leakage_mean']:.0%} of the test "
            f"clips (max {lk['leakage_max']:.0%} in one fold) come from subjects who also appear in the training "
            f"folds; {verdict} ({source}).")


def table_caption(ev: train.Evaluation, protocol: str, params: dict, provenance: str, what: str,
                  scheme: str | None = None) -> str:
    """One line above a results table: what it shows, this study's provenance, scheme, protocol and subject
    overlap."""
    lk = ev.leakage()
    sch = f"scheme `{scheme}`; " if scheme else ""
    return (f"**{what}.** This study: {provenance}; {sch}protocol `{protocol}` ({params_text(params)}); subject "
            f"overlap {lk['leakage_mean']:.0%} of the test clips (leakage audit).")


class FoldViews:
    """Views of a result whose runs share one set of folds (DLHN, PSN): ``evaluation`` is the run the views
    show, ``SOURCE`` where the paper states its protocol; the result has ``protocol``, ``protocol_params``,
    ``provenance`` and ``samples`` (labelled: ``attrs["scheme"]``)."""
    SOURCE = ""

    @property
    def scheme(self) -> str | None:
        return self.samples.attrs.get("scheme")

    def caption(self, what: str) -> str:
        """:func:`table_caption` of the shared folds."""
        return table_caption(self.evaluation, self.protocol, self.protocol_params, self.provenance, what, self.scheme)

    def audit(self) -> pd.DataFrame:
        """:func:`fold_audit` of the shared folds."""
        return fold_audit(self.evaluation, self.protocol)

    def audit_sentence(self) -> str:
        return leakage_sentence(self.evaluation, self.protocol, self.protocol_params, self.SOURCE)


def audit(runs: dict) -> pd.DataFrame:
    """The leakage audit of each run: scheme, protocol, folds, test clips, test subjects also in training."""
    rows = []
    for key, run in runs.items():
        f = run.evaluation.folds()
        rows.append({"run": " / ".join(map(str, key if isinstance(key, tuple) else (key,))),
                     "scheme": run.scheme, "protocol": protocol_name(run), "n_folds": len(f),
                     "n_test": int(f["n_test"].sum()), "shared_subjects_max": int(f["n_shared_subjects"].max()),
                     **run.evaluation.leakage()})
    return pd.DataFrame(rows)


# ---- curves and confusion matrices --------------------------------------------------------------------

def curves(run: Run | train.Evaluation, stage: str | None = None) -> pd.DataFrame:
    """Per-epoch curves of a run, averaged over folds: epoch, train_loss, train_acc and, when the run tracked
    its test part (``track_test``), test_loss, test_acc (monitored only, never used for selection);
    ``stage``: that stage's curves (default the last)."""
    ev = run.evaluation if isinstance(run, Run) else run
    frames = []
    for r in ev.records:
        cs = r.get("curves") or {}
        if not cs:
            continue
        c = cs[stage] if stage else cs[list(cs)[-1]]
        d = pd.DataFrame({k: v for k, v in c.items() if isinstance(v, list)})
        d["epoch"] = np.arange(1, len(d) + 1)
        frames.append(d)
    if not frames:
        raise ConfigError("the run has no training curves (a scikit-learn model or a fused run)")
    mean = pd.concat(frames).groupby("epoch").mean(numeric_only=True).reset_index()
    return mean.rename(columns={"train_accuracy": "train_acc", "test_accuracy": "test_acc"})


def has_curves(run: Run | train.Evaluation) -> bool:
    """Whether the run logged per-epoch curves (torch models do; an SVM has none)."""
    ev = run.evaluation if isinstance(run, Run) else run
    return any(r.get("curves") for r in ev.records)


def curves_figure(run: Run | train.Evaluation, title: str | None = None, stage: str | None = None):
    """Training loss and accuracy per epoch with the test part's (dashed: monitored, not used for any
    decision), mean over folds (C3D Fig. 4, DLHN Fig. 8, PSN Fig. 9 plot test-part curves)."""
    hist = curves(run, stage).rename(columns={"test_loss": "val_loss", "test_acc": "val_acc"})
    fig = report.curves_figure(hist, title=title)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label() == "validation":
                line.set_label("test part (monitor only)")
        if ax.get_legend() is not None:
            ax.legend(frameon=False)
    return fig


def confusion(run: Run | train.Evaluation) -> pd.DataFrame:
    """Pooled confusion matrix of a run (rows true, columns predicted), in the run's class order."""
    ev = run.evaluation if isinstance(run, Run) else run
    pred = ev.predictions()
    labels = list(ev.labels)
    cm = pd.crosstab(pd.Categorical(pred["y_true"], labels), pd.Categorical(pred["y_pred"], labels),
                     dropna=False)
    cm.index, cm.columns = labels, labels
    cm.index.name, cm.columns.name = "true", "predicted"
    return cm


def confusion_figure(run: Run | train.Evaluation, title: str | None = None):
    return report.confusion_figure(confusion(run), title=title)


def figures(figs) -> list[display.Figure]:
    """Matplotlib figures as outputs to display in order (each closed once drawn)."""
    return [display.Figure(f, "figure") for f in figs]


def evaluation_figures(evals: dict, keep, title) -> list[display.Figure]:
    """The pooled confusion matrix of every evaluation whose key ``keep(key)`` accepts, then the training
    curves (mean over folds) of those that logged them; ``title(key)`` names each."""
    kept = {k: ev for k, ev in evals.items() if keep(k)}
    return figures([confusion_figure(ev, title(k)) for k, ev in kept.items()]
                   + [curves_figure(ev, f"{title(k)}, mean over folds") for k, ev in kept.items() if has_curves(ev)])


def captioned(pairs, empty: str | None = None, note: str | None = None) -> list:
    """(caption, table or PNG bytes) pairs as outputs in order: the caption as Markdown above its object;
    ``empty`` (Markdown) when there is none, ``note`` (Markdown) after them when given."""
    from IPython.display import Image, Markdown

    out = []
    for caption, obj in pairs:
        out += [Markdown(caption), Image(data=obj, format="png") if isinstance(obj, bytes) else obj]
    return (out or ([Markdown(empty)] if empty else [])) + ([Markdown(note)] if note else [])


# ---- the chapter's opening box -------------------------------------------------------------------------

def parameters(p, chapter=None) -> display.Block:
    """What the notebook's parameters resolved to (``melib.params.describe``) and the chapter's plan for them,
    for the re-run block."""
    from ..params import describe

    table = describe(p)
    table["value"] = [_said(getattr(p, k)) if hasattr(p, k) else v for k, v in table["value"].items()]
    if chapter is not None:
        plan = {k: v for k, v in chapter.settings(p).items() if v is not None}
        table.loc["plan (resolved)"] = _said(plan)
    return display.Block(display.markdown_table(table), display.PARAMETERS)


def _said(value) -> str:
    """A resolved parameter as a reader reads it: names joined by commas, a dict as ``k=v`` pairs, "not set"
    for None, "no changes" for an empty dict (never a Python tuple or ``{}``)."""
    if value is None:
        return "not set"
    if isinstance(value, dict):
        pairs = [f"{k}={_said(v)}" for k, v in value.items()]
        return ("; " if any("," in x for x in pairs) else ", ").join(pairs) or "no changes"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(map(_said, value)) or "(empty)"
    return str(value)


def at_a_glance(table: pd.DataFrame) -> display.Figure:
    """The results overview's figure (``report.overview_figure``), marked for the book's landing page."""
    return display.Figure(report.overview_figure(table), display.GLANCE)


def _data_kind(label: str) -> str:
    """A provenance label as the data it names, for "This study ran on ...": "real data", "synthetic data (melib
    default set, seed 0)", "synthetic and real data (not a reproduction)"."""
    kind = report.provenance_kind(label)
    if kind == "synthetic":
        return label.replace("synthetic", "synthetic data", 1)
    return {"real": "real data", "mixed": "synthetic and real data (not a reproduction)"}.get(kind, label)


def _ran(samples: pd.DataFrame | None, rows: pd.DataFrame | None) -> str:
    """What this study ran on: the data's provenance, datasets with clips and subjects, protocols, overlap."""
    from ..params import presence

    said = []
    if samples is not None and len(samples):
        present = presence(samples)
        mixed = present["kind"].nunique() > 1
        data = "; ".join(f"{display_name(r.dataset)} ({r.clips} clips, {r.subjects} subjects"
                         + (f", {r.kind})" if mixed else ")") for r in present.itertuples())
        said.append(f"{_data_kind(report.provenance_label(samples))}: {data}")
    if rows is not None and rows["study"].notna().any():
        ran = rows[rows["study"].notna()]
        overlap = ran["subject_overlap"].max()
        said.append(f"protocol {', '.join(f'`{x}`' for x in dict.fromkeys(ran['study_protocol']))}, "
                    + (f"subject overlap up to {overlap:.0%} of a test fold's clips" if overlap > 0
                       else "subject-disjoint folds (no test subject is seen in training)"))
    return "**This study ran** on " + "; ".join(said) + "." if said else ""


def _verdict(kinds: set, rows: pd.DataFrame | None, learns: str) -> str:
    """What the numbers can and cannot show, from their provenance, protocols and subject overlap; ``learns``
    says where the book asks whether a recipe learns planted motion."""
    can, cannot = [], []
    if kinds & {"synthetic", "mixed"}:
        can.append("that the code runs end to end on clips whose labels, timing and planted motion are known, and "
                   "under which scheme, protocol and aggregation any score is computed")
        cannot.append("anything about the published numbers or the real datasets: a synthetic clip is not a real face "
                      "and a synthetic score is not an estimate of a real one (whether a recipe learns planted motion is "
                      + learns + ")")
    if "real" in kinds and rows is not None:
        same = rows["difference"].notna()
        if same.any():
            can.append(f"how {int(same.sum())} of {len(rows)} headline numbers compare with the paper's on its own "
                       "dataset and label scheme (the difference column)")
        if (~same & rows["study"].notna()).any():
            cannot.append("a direct comparison where the dataset or the label scheme differs from the paper's")
    if rows is not None and len(rows):
        ran = rows[rows["study"].notna()]
        other = ran[ran["study_protocol"] != ran["published_protocol"]]
        if len(other):
            cannot.append(f"the paper's exact protocol for {len(other)} of {len(ran)} numbers (e.g. "
                          f"`{other['study_protocol'].iloc[0]}` here, `{other['published_protocol'].iloc[0]}` in "
                          "the paper)")
        if (ran["subject_overlap"] > 0).any():
            cannot.append("subject-independent scores where folds share subjects (subject overlap above 0)")
        if ran.empty:
            cannot.append("anything: no headline number was run with these parameters")
    out = []
    if can:
        out.append("**What this can show:** " + "; ".join(can) + ".")
    if cannot:
        out.append("**What it cannot show:** " + "; ".join(cannot) + ".")
    return "\n\n".join(out)


def opening(chapter, p, result, samples: pd.DataFrame | None = None, rows: pd.DataFrame | None = None,
            finding: str | None = None, answers_learning: bool = False) -> display.Block:
    """The short box that opens a chapter (the book build puts it under the title): what the paper claims (its
    headline numbers and protocols, ``melib.published``), what this study ran (data, protocol, subject
    overlap) and what that can and cannot show; the chapter's "does this recipe learn?" panel
    (``chapter.learns(p)``) when it has one. ``rows``: overview rows (``report.results_overview``) to state
    instead of the chapter's own headline; ``finding``: what a chapter without a paper measured, in a sentence
    or two of its own results; ``answers_learning``: the chapter itself asks whether the pipelines learn planted
    motion (the known-answer chapter)."""
    if rows is None and chapter.headline is not None:
        rows = report.results_overview(chapter.headline(result))
        rows = rows[rows["paper"] == chapter.paper]
    parts = []
    if rows is not None and len(rows) and chapter.paper:
        claims = report.overview_table(rows)[["published", "this study"]]
        parts.append("**What the paper claims, beside this study** (value: dataset; label scheme; protocol):\n\n"
                     + display.markdown_table(claims))
    elif rows is not None and len(rows):
        ran = int(rows["study"].notna().sum())
        parts.append(f"**The papers' headline numbers:** {len(rows)}, from {rows['paper'].nunique()} papers; {ran} "
                     "have a number from this study beside them (table and figure below).")
    parts.append(_ran(samples, rows))
    if finding:
        parts.append("**What this chapter finds:** " + finding)
    panel = chapter.learns(p) if chapter.learns is not None else None
    if panel is not None:
        table = isinstance(panel, pd.DataFrame)
        parts.append("**Does this recipe learn?** " + (panel.attrs.get("finding", "") if table else str(panel))
                     + ("\n\n" + display.markdown_table(panel) if table and len(panel) else ""))
    kinds = set()
    if rows is not None:
        kinds |= {report.provenance_kind(x) for x in rows["study_provenance"] if x != report.NOT_RUN}
    if samples is not None and len(samples):
        kinds.add(report.provenance_kind(report.provenance_label(samples)))
    parts.append(_verdict(kinds, rows, "the panel above's question" if panel is not None else
                          "this chapter's question" if answers_learning else "the known-answer chapter's question"))
    return display.Block("\n\n".join(x for x in parts if x), display.SUMMARY)

"""The datasets chapter (00): what the study runs on, clip counts per label scheme beside the papers', the
fixes and exclusions of the loaders and of each label scheme, and one clip of each dataset.

``result = data.run(p, samples)`` gathers the tables (:class:`Result`); ``scheme`` restricts the counts and
the scheme exclusions to that scheme (None: every scheme of ``melib.labels``). Nothing is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .. import labels, published, report
from ..errors import DataError
from ..report import NOT_RUN
from .contract import Chapter

PLANS = {"smoke": {}, "default": {}, "paper": {}}


def class_counts(samples: pd.DataFrame, schemes=None) -> pd.DataFrame:
    """Clips per dataset x label scheme x class (``melib.labels.assign``), plus a ``total`` row per dataset and
    scheme (labelled clips). Columns: dataset, scheme, class, count."""
    rows = []
    for scheme in schemes or labels.schemes():
        lab = labels.assign(samples, scheme)
        kept = lab[lab["label"].notna()]
        for ds in dict.fromkeys(samples["dataset"]):
            d = kept[kept["dataset"] == ds]
            for cls in labels.classes(scheme):
                n = int((d["label"] == cls).sum())
                if n:
                    rows.append({"dataset": ds, "scheme": scheme, "class": cls, "count": n})
            rows.append({"dataset": ds, "scheme": scheme, "class": "total", "count": len(d)})
    return pd.DataFrame(rows, columns=["dataset", "scheme", "class", "count"])


def counts_beside_published(samples: pd.DataFrame, provenance: str | None = None, schemes=None) -> pd.DataFrame:
    """This study's clip counts beside the papers' (``melib.published.class_counts``: PSN Table 4, C3D Table 1,
    CropNet Table 1, LocalRegions Tables 2-4, DLHN Table 3), matched on paper table, dataset (composites
    ``a+b`` summed over their members), scheme and class. Columns as ``melib.report.side_by_side``, keyed by
    paper, table, dataset, scheme and class; where a dataset is absent here the study count is NA and its
    provenance ``melib.report.NOT_RUN``."""
    provenance = provenance or report.provenance_label(samples)
    pub = published.class_counts()
    if schemes is not None:
        pub = pub[pub["scheme"].isin(schemes)]
    ours = class_counts(samples, sorted(set(pub["scheme"])))
    present = set(samples["dataset"])
    rows = []
    for (paper, table, dataset, scheme), grp in pub.groupby(["paper", "table", "dataset", "scheme"], sort=False):
        members = dataset.split("+")
        if not set(members) <= present:
            continue
        mine = ours[(ours["scheme"] == scheme) & ours["dataset"].isin(members)].groupby("class")["count"].sum()
        for cls in grp["class"]:
            rows.append({"paper": paper, "table": table, "dataset": dataset, "scheme": scheme, "class": cls,
                         "value": int(mine.get(cls, 0)), "metric": "count", "provenance": provenance})
    key = ["paper", "table", "dataset", "scheme", "class"]
    study = pd.DataFrame(rows, columns=key + ["value", "metric", "provenance"])
    pub = pub.rename(columns={"count": "value"})
    out = report.side_by_side(study[key + ["value", "provenance"]], pub[key + ["value", "provenance"]], on=key)
    return out


def counts_wide(counts: pd.DataFrame) -> pd.DataFrame:
    """``class_counts`` as a table: rows (scheme, class), one column per dataset, whole numbers."""
    wide = counts.pivot_table(index=["scheme", "class"], columns="dataset", values="count", aggfunc="sum",
                              fill_value=0, sort=False)
    rows = [(s, c) for s in dict.fromkeys(counts["scheme"]) for c in [*labels.classes(s), "total"]
            if (s, c) in wide.index]
    return wide.reindex(index=rows, columns=list(dict.fromkeys(counts["dataset"]))).fillna(0).astype(int)


def beside_tables(beside: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``counts_beside_published`` as one table per paper table, laid out like it: rows class, columns
    (dataset, published | this study); the caption names the scheme and both provenances."""
    out = []
    for (paper, table), t in beside.groupby(["paper", "table"], sort=False):
        study_prov = "; ".join(p for p in dict.fromkeys(t["study_provenance"]) if p != NOT_RUN) or NOT_RUN
        caption = (f"**{paper} {table}**, scheme `{'`, `'.join(dict.fromkeys(t['scheme']))}`: "
                   f"{t['published_provenance'].iloc[0]} beside this study: {study_prov}")
        t = t.rename(columns={"study": "this study"})
        wide = t.set_index(["class", "dataset"])[["published", "this study"]].astype("Int64").unstack("dataset")
        datasets = list(dict.fromkeys(t["dataset"]))
        wide = wide.swaplevel(axis=1).reindex(columns=pd.MultiIndex.from_product([datasets, ["published", "this study"]]))
        classes = [c for c in dict.fromkeys(t["class"]) if c != "total"] + ["total"] * ("total" in set(t["class"]))
        out.append((caption, wide.reindex(classes)))
    return out


def fixes_and_exclusions(samples: pd.DataFrame) -> pd.DataFrame:
    """Every fix and exclusion the loaders made (``attrs``), one row each: kind, dataset, subject, clip, reason."""
    rows = [{"kind": kind[:-2] if kind == "fixes" else "exclusion", **{k: e.get(k) for k in
             ("dataset", "subject", "clip", "reason")}}
            for kind in ("fixes", "exclusions") for e in samples.attrs.get(kind, [])]
    return pd.DataFrame(rows, columns=["kind", "dataset", "subject", "clip", "reason"])


def scheme_exclusions(samples: pd.DataFrame, schemes=None) -> pd.DataFrame:
    """Clips each label scheme leaves out, counted by dataset and reason (``excluded_because``)."""
    parts = []
    for scheme in schemes or labels.schemes():
        lab = labels.assign(samples, scheme)
        out = lab[lab["label"].isna()]
        if len(out):
            c = out.groupby(["dataset", "excluded_because"], sort=False).size().rename("clips").reset_index()
            parts.append(c.assign(scheme=scheme))
    cols = ["scheme", "dataset", "excluded_because", "clips"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


FIGURE_SCHEMES = ("pnso", "objective", "megc2019", "c3d")


def counts_figure(counts: pd.DataFrame, schemes=None):
    """Bar charts of clips per class, one panel per scheme (default :data:`FIGURE_SCHEMES`, or the schemes
    counted when none of those is), bars grouped by dataset (cf. DLHN Fig. 6)."""
    counted = list(dict.fromkeys(counts["scheme"]))
    schemes = schemes or [s for s in FIGURE_SCHEMES if s in counted] or counted
    d = counts[(counts["class"] != "total") & counts["scheme"].isin(schemes)]
    shown = [s for s in schemes if s in set(d["scheme"])]
    if not shown:
        raise DataError(None, f"counts for at least one of the schemes {', '.join(schemes)}", "none")
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.2), squeeze=False)
        for ax, scheme in zip(axes[0], shown):
            sns.barplot(data=d[d["scheme"] == scheme], x="class", y="count", hue="dataset", ax=ax)
            ax.set_title(scheme)
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=45)
            if ax is not axes[0, 0] and ax.get_legend() is not None:
                ax.get_legend().remove()
        fig.tight_layout()
    return fig


@dataclass
class Result:
    """The chapter's tables: clip counts, counts beside the papers', loader fixes and exclusions, and the
    clips each scheme leaves out."""
    counts: pd.DataFrame
    beside: pd.DataFrame
    fixes: pd.DataFrame
    scheme_exclusions: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return counts_wide(self.counts)


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Nothing to train."""
    CHAPTER.settings(p, **changes)
    return []


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """The chapter's tables for ``samples`` (the scheme ``p.scheme``, or every scheme)."""
    plan(p, samples, **changes)
    schemes = [p.scheme] if p.scheme else None
    return Result(class_counts(samples, schemes), counts_beside_published(samples, schemes=schemes),
                  fixes_and_exclusions(samples), scheme_exclusions(samples, schemes))


CHAPTER = Chapter(
    name="data", notebook="00_datasets", paper=None, schemes=tuple(labels.schemes()), scheme=None, protocols=(),
    protocol=None, parameters=("profile", "data", "dataset", "scheme", "show_real_frames"), plans=PLANS, plan=plan,
    run=run, tables={"counts": lambda r: counts_wide(r.counts), "beside": lambda r: beside_tables(r.beside),
                     "fixes": lambda r: r.fixes, "scheme exclusions": lambda r: r.scheme_exclusions},
    figures={"counts": lambda r: counts_figure(r.counts)}, summary=Result.summary)

"""The papers' published numbers, kept as data: one YAML file per paper under ``melib/data/published/``
(transcribed from ``../shared/papers``; STSTNet's and OFF-ApexNet's, whose texts are not there, from their
arXiv abstracts; each file says how it is laid out). A new paper is one more file and one name in :data:`PAPERS`.

``table(paper, table)`` gives one transcribed table in long (tidy) form, one row per printed number:

==============  ==========================================================================================
column          meaning
==============  ==========================================================================================
paper           DLHN, PSN, C3D, CropNet, LocalRegions, STSTNet or OFF-ApexNet
table           "Table 5", "Fig. 9", "Sec. 8.1" (numbers quoted in the running text)
kind            results | confusion | counts
dataset         the evaluated data, melib dataset keys joined by "+" in the registry's order (``casme2+samm+smic``)
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

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .errors import ConfigError

DATA = Path(__file__).resolve().parent / "data" / "published"
PAPERS = ("DLHN", "PSN", "C3D", "CropNet", "LocalRegions", "STSTNet", "OFF-ApexNet")
COLUMNS = ["paper", "table", "kind", "dataset", "train", "protocol", "scheme", "method", "ours", "setting",
           "fold", "true", "predicted", "class", "metric", "metric_printed", "value", "printed", "provenance"]


def dataset_key(*names: str) -> str:
    """A composite's key: dataset names joined by "+" in the registry's order (``casme2+samm+smic``); a
    dataset the registry does not know (a release the papers never used) sorts after the known ones."""
    from .datasets import order

    parts = {p for n in names for p in str(n).split("+") if p}
    return "+".join(order(parts))


def dataset_name(key: str) -> str:
    """A dataset key as people write it: ``casme2+samm`` -> ``CASME II + SAMM``."""
    from .datasets import display_name

    return " + ".join(display_name(p) for p in str(key).split("+"))


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


@functools.cache
def _transcription() -> tuple[dict, tuple]:
    """Every paper's tables keyed by (paper, table), and the headline selections, from the YAML files."""
    tables, heads = {}, []
    for paper in PAPERS:
        doc = yaml.safe_load((DATA / f"{paper}.yaml").read_text(encoding="utf-8"))
        for t in doc["tables"]:
            blocks = tuple(_Block(tuple(b["cols"]), tuple((r[0], r[1] or {}, r[2]) for r in b["rows"]))
                           for b in t["blocks"])
            tables[(paper, t["table"])] = _Table(paper, t["table"], t["kind"], t["title"], t.get("base") or {},
                                                 blocks, t.get("source", "table"), bool(t.get("pct", False)))
        heads += [(paper, h["table"], h["where"]) for h in doc.get("headlines", [])]
    return tables, tuple(heads)


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
                # a printed percentage sign makes any rate a percentage (STSTNet's abstract: UAR "70.13%")
                pct = (attrs.pop("pct", t.pct) and attrs["metric"] == "accuracy") or cell.endswith("%")
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
    tables = _transcription()[0]
    if key not in tables:
        known = ", ".join(f"{p} {n}" for p, n in tables)
        raise ConfigError(f"no published table {paper} {table!r}; transcribed: {known}")
    return tables[key]


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
    return [k for k, t in _transcription()[0].items() if kind is None or t.kind == kind]


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
    from .labels import classes

    order = [c for c in classes("pnso") if c in set(df["true"])] or sorted(set(df["true"]))
    cm = df.pivot(index="true", columns="predicted", values="value").reindex(index=order, columns=order)
    if (df["metric"] == "count").all():
        cm = cm.astype(int)
    cm.attrs["provenance"] = df["provenance"].iloc[0]
    return cm


def headlines() -> pd.DataFrame:
    """Each paper's own headline numbers (its method, its main protocol), in long form."""
    parts = []
    for paper, tab, sel in _transcription()[1]:
        df = table(paper, tab)
        for k, v in sel.items():
            df = df[df[k] == v]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)

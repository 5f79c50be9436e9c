"""One quantity, one value: every number the built book states about a named quantity, read back from its HTML.

A quantity is a kind (:data:`KINDS`) and a key (paper, recipe, method, amplitude, ...). The book states one in
two ways, both structured, so no prose is parsed:

- in a melib table: :data:`TABLES` names, for each kind, the columns of the melib tables that state it (the
  columns ``melib.recipes`` and ``melib.experiments.known_answer`` give them): the key columns and the value
  columns. A model chapter's tables may leave the paper out; the page's chapter names it (:func:`page_paper`).
- in text melib writes: :func:`mark` wraps the number (or word) in a ``<span class="melib-q">`` that carries
  its kind and key.

:func:`read` collects them from one page, :func:`read_book` from every page of a built book, and
:func:`conflicts` lists each quantity stated with more than one value, with the pages that state each.
"""
from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CLASS = "melib-q"
COLUMNS = ("kind", "key", "value", "page")


@dataclass(frozen=True)
class Kind:
    """A kind of quantity as melib tables state it: a table states it when it has every column of ``key``
    (``paper`` may come from the page) and at least one of ``values``."""
    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]


# Column names as the book shows them (melib.display: underscores become spaces).
TABLES = (
    # a paper's recipe on the known answer (recipes.panel / recipes.overview)
    Kind("recipe check", ("paper", "recipe", "top amplitude"),
         ("verdict (by rule)", "seeds", "UAR at top", "null band at top", "UAR at 0", "null band at 0")),
    # a paper's recipe as run (recipes.described)
    Kind("recipe setting", ("paper", "recipe", "part"), ("model", "optimiser", "lr", "batch", "loss", "epochs")),
    # the known-answer seed records (known_answer.seed_table)
    Kind("known-answer seeds", ("method", "amplitude"), ("seeds", "uar min", "uar mean", "uar max", "verdict")),
    # a paper's headline number beside this study's (report.overview_table: the results overview, the openings)
    Kind("headline", ("headline",), ("published", "this study")),
)
KINDS = tuple(k.name for k in TABLES) + ("known-answer record",)


def _key_text(key: Mapping) -> str:
    return json.dumps({str(k): str(v) for k, v in key.items()}, sort_keys=True)


def mark(kind: str, key: Mapping, text: str) -> str:
    """``text`` (a number or a verdict as the page shows it) marked as the value of quantity (``kind``, ``key``):
    inline HTML that Markdown and MyST keep."""
    return (f'<span class="{CLASS}" data-kind="{html_lib.escape(kind, quote=True)}" '
            f'data-key="{html_lib.escape(_key_text(key), quote=True)}">{html_lib.escape(str(text))}</span>')


def plain(text: str) -> str:
    """``text`` with its :func:`mark` spans replaced by what they show."""
    return re.sub(rf'<span class="{CLASS}"[^>]*>(.*?)</span>', lambda m: html_lib.unescape(m.group(1)), text)


def _grid(table) -> tuple[list[str], list[list[str]]]:
    """A pandas-written HTML table as (column names, rows of cell texts): the index names' header row merged
    into the columns' row, row-spanning index cells repeated."""
    head = table.find("thead")
    names: list[str] = []
    for tr in head.find_all("tr") if head else []:
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])]
        names = cells if not names else [a or b for a, b in zip(names, cells + [""] * len(names))]
    body = table.find("tbody") or table
    rows, spans = [], {}
    for tr in body.find_all("tr"):
        row, j = [], 0
        cells = list(tr.find_all(["th", "td"]))
        while cells or j in spans:
            if j in spans:
                text, left = spans[j]
                row.append(text)
                spans[j] = (text, left - 1)
                if left - 1 <= 0:
                    del spans[j]
            else:
                c = cells.pop(0)
                text = c.get_text(" ", strip=True)
                span = int(c.get("rowspan", 1) or 1)
                if span > 1:
                    spans[j] = (text, span - 1)
                row.append(text)
            j += 1
        rows.append(row)
    return names, rows


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip()


def read(page_html: str, page: str = "", paper: str | None = None) -> pd.DataFrame:
    """The quantities one page states (:data:`COLUMNS`): its marked spans and the rows of its tables (melib's,
    and the Markdown tables of its opening box) whose columns state a kind of :data:`TABLES` (``paper``: the page's paper, for tables that leave it out)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page_html, "html.parser")
    out = [(s.get("data-kind"), s.get("data-key"), s.get_text(" ", strip=True), page)
           for s in soup.find_all("span", class_=CLASS)]
    for table in soup.find_all("table"):
        names, rows = _grid(table)
        names = [_norm(n) for n in names]
        box = table.find_parent("div", class_="melib-scroll")
        shared = {_norm(k): v for k, v in json.loads(box["data-shared"]).items()} \
            if box is not None and box.has_attr("data-shared") else {}
        if shared:  # values every row shares, said once above the table (melib.display.fit)
            names, rows = names + list(shared), [row + list(shared.values()) for row in rows]
        for kind in TABLES:
            have = set(names) | ({"paper"} if paper else set())
            values = [v for v in kind.values if v in names]
            if not set(kind.key) <= have or not values:
                continue
            for row in rows:
                cell = dict(zip(names, row))
                key = {k: cell.get(k, paper) for k in kind.key}
                out += [(kind.name, _key_text({**key, "column": v}), cell.get(v, ""), page) for v in values]
    return pd.DataFrame(out, columns=list(COLUMNS))


def page_paper(page: Path) -> str | None:
    """The paper of the chapter whose page ``page`` is (None: a page of no one paper)."""
    from .experiments import chapters

    return next((c.paper for c in chapters() if c.notebook == page.stem and c.paper), None)


def read_book(html_dir: str | Path) -> pd.DataFrame:
    """:func:`read` of every HTML page under a built book's ``html_dir`` (search and index pages left out)."""
    html_dir = Path(html_dir)
    found = [read(p.read_text(encoding="utf-8"), str(p.relative_to(html_dir)), page_paper(p))
             for p in sorted(html_dir.rglob("*.html"))
             if p.name not in ("search.html", "genindex.html") and "_static" not in p.parts]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(COLUMNS))


_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


def same(a: str, b: str) -> bool:
    """Whether two statements of one value agree: equal text, or numbers equal at the coarser one's decimals
    (0.848 and 0.85 agree; 0.85 and 0.86 do not)."""
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    ma, mb = _NUMBER.fullmatch(a), _NUMBER.fullmatch(b)
    if not (ma and mb):
        return False
    places = min(len(ma.group(1) or ""), len(mb.group(1) or ""))
    return abs(float(a) - float(b)) <= 0.5 * 10 ** -places + 1e-12


def conflicts(found: pd.DataFrame) -> pd.DataFrame:
    """The quantities stated with values that disagree (:func:`same`): kind, key, and ``values``, each value
    with the pages that state it."""
    rows = []
    for (kind, key), g in found.groupby(["kind", "key"], sort=True):
        by_value = g.groupby("value")["page"].agg(lambda s: sorted(set(s)))
        texts = list(by_value.index)
        if any(not same(x, y) for i, x in enumerate(texts) for y in texts[i + 1:]):
            rows.append({"kind": kind, "key": key, "values": dict(by_value)})
    return pd.DataFrame(rows, columns=["kind", "key", "values"])


def describe(conflicting: pd.DataFrame) -> str:
    """:func:`conflicts` as lines a test failure prints."""
    return "\n".join(f"{r.kind} {r.key}: " + "; ".join(f"{v!r} on {', '.join(p)}" for v, p in r.values.items())
                     for r in conflicting.itertuples())


def stated(found: pd.DataFrame, kinds: Iterable[str]) -> dict[str, int]:
    """How many quantities of each kind in ``kinds`` ``found`` holds."""
    return {k: int(found.loc[found["kind"] == k, "key"].nunique()) for k in kinds}

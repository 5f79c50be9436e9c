"""How the book shows a table (:func:`table`): numbers to three decimals, "—" where a number does not exist, no
0..N index, column names without underscores, provenance labels as short tags with a legend under the table, no
absolute path of the machine that ran it, and a frame that scrolls sideways instead of cutting a wide table.

:func:`install` makes it the notebook's display of every DataFrame (``Chapter.setup`` calls it), so the chapters
return plain DataFrames and every page formats them alike. :class:`Block` is a piece of Markdown the book build
places (:data:`SUMMARY`: the chapter's opening box; :data:`PARAMETERS`: inside the re-run block), :class:`Figure`
a figure it finds (:data:`GLANCE`: the landing page's results at a glance).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .errors import ConfigError
from .report import NOT_PUBLISHED, NOT_RUN, provenance_kind

DASH = "—"
SUMMARY, PARAMETERS, GLANCE, TABLE = "summary", "parameters", "at-a-glance", "table"  # outputs the book build places
DECIMALS = 3
MISSING_TEXT = {"nan", "none", "<na>", "nat"}
PROVENANCE_NAMES = ("provenance", "source")  # a column or index level whose name holds one of these
_PATH = re.compile(r"(?<![\w.~:/\\-])/(?:[^\s/'\"<>()\[\]{},;|`*]+/)+[^\s/'\"<>()\[\]{},;|`*]*")
# "<paper>", "<reason>": a placeholder in prose, which Markdown would take for an HTML tag and swallow
_PLACEHOLDER = re.compile(r"<(?!/?(?:a|b|br|code|details|div|em|i|img|p|small|span|strong|sub|summary|sup|table|"
                          r"t[dhr]|u)\b)([a-z][\w .,-]*)>")
_NUMBER = re.compile(r"[-+−]?\d[\d,]*(\.\d+)?%?|—")
_KIND_TAG = {"published": "published", "real": "real data", "synthetic": "synthetic", "mixed": "mixed"}


def short_path(path: str) -> str:
    """``path`` as a reader of the book sees it: relative to the study's home (``MELIB_HOME``) or the repository
    inside them, ``~/...`` in the user's home, else ``…/`` and its last two parts."""
    from .params import PACKAGE_ROOT

    p = Path(path)
    for base in (config.home(), PACKAGE_ROOT):
        if p == base or base in p.parents:
            return str(p.relative_to(base)) if p != base else "."
    if Path.home() in p.parents and Path.home() != Path("/"):
        return "~/" + str(p.relative_to(Path.home()))
    return "…/" + "/".join(p.parts[-2:])


def clean_text(text: str) -> str:
    """``text`` with every absolute path shortened (:func:`short_path`)."""
    return _PATH.sub(lambda m: short_path(m.group()), str(text))


def escape_placeholders(markdown: str) -> str:
    """``markdown`` with every ``<placeholder>`` written so that it shows (``&lt;placeholder&gt;``)."""
    return _PLACEHOLDER.sub(r"&lt;\1&gt;", markdown)


def is_missing(value) -> bool:
    """A number that does not exist: None, NaN, NA, NaT, or their text ("nan", "None", "<NA>")."""
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TEXT
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is a value
        return False


def number(value, integral: bool = False) -> str:
    """One cell as text: :data:`DASH` when missing, ``integral`` floats as integers, other floats to
    :data:`DECIMALS` decimals, booleans as yes / no, text with its paths shortened."""
    if is_missing(value):
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(round(value))) if integral else f"{value:.{DECIMALS}f}"
    return clean_text(value)


def _integral(values) -> bool:
    """Floats that are counts (whole numbers, some above 1; a NaN made the column float): shown as integers."""
    nums = [float(v) for v in values if isinstance(v, (float, np.floating)) and not is_missing(v)]
    return bool(nums) and all(v.is_integer() for v in nums) and max(abs(v) for v in nums) >= 2


def _is_provenance_name(name) -> bool:
    return any(w in str(name).lower() for w in PROVENANCE_NAMES)


def provenance_tags(labels) -> dict[str, str]:
    """A short tag for each provenance label of this study: its kind ("synthetic", "real data", "mixed"), with a
    letter when several labels of one kind meet in a table. Published labels are short and name their table
    ("published (PSN Table 5)"): they stay whole, as do "not run" / "not published"."""
    by_kind: dict[str, list[str]] = {}
    for label in dict.fromkeys(str(x) for x in labels if not is_missing(x)):
        if label in (NOT_RUN, NOT_PUBLISHED):
            continue
        try:
            kind = _KIND_TAG[provenance_kind(label)]
        except ConfigError:  # not a provenance label: shown as it is
            continue
        if kind == "published":
            continue
        by_kind.setdefault(kind, []).append(label)
    tags = {}
    for kind, labels_ in by_kind.items():
        for i, label in enumerate(labels_):
            tags[label] = kind if len(labels_) == 1 else f"{kind} {chr(ord('a') + i)}"
    return tags


def _formatted(df: pd.DataFrame) -> tuple[pd.DataFrame, bool, dict[str, str]]:
    """``df`` as text cells, whether to show its index, and the provenance tags used."""
    labels = [v for c in df.columns if _is_provenance_name(c) for v in df[c]]
    names = list(df.index.names)
    labels += [v for i, n in enumerate(names) if _is_provenance_name(n) for v in df.index.get_level_values(i)]
    tags = provenance_tags(labels)
    cells = []
    for j, c in enumerate(df.columns):
        col = list(df.iloc[:, j])
        integral = _integral(col)
        cells.append([tags.get(str(v), number(v)) if _is_provenance_name(c) else number(v, integral) for v in col])
    out = pd.DataFrame(dict(enumerate(cells)), index=df.index, dtype=object)
    out.columns = df.columns

    def level(values, name):
        integral = _integral(values)
        return [tags.get(str(v), number(v)) if _is_provenance_name(name) else number(v, integral) for v in values]

    raw = df.index.nlevels == 1 and df.index.name is None and pd.api.types.is_integer_dtype(df.index)
    if not raw:
        said = [None if n is None else str(n).replace("_", " ") for n in names]
        out.index = pd.MultiIndex.from_arrays([level(df.index.get_level_values(i), n) for i, n in enumerate(names)],
                                              names=said) if df.index.nlevels > 1 else \
            pd.Index(level(df.index, df.index.name), name=said[0])
    header = (lambda v: number(v, _integral([v])).replace("_", " ")) if df.columns.nlevels == 1 else None
    if header is not None:
        out.columns = pd.Index([header(c) for c in df.columns], name=df.columns.name)
    return out, not raw, {label: tag for label, tag in tags.items() if tag != label}


def _cell(tag: str, text, span: int = 1, scope: str | None = None) -> str:
    text = str(text)
    cls = ' class="melib-num"' if _NUMBER.fullmatch(text.strip()) else ""
    attrs = (f' colspan="{span}"' if span > 1 else "") + (f' scope="{scope}"' if scope else "")
    return f"<{tag}{cls}{attrs}>{html.escape(text)}</{tag}>"


def html_table(frame: pd.DataFrame, show_index: bool) -> str:
    """``frame`` (text cells) as an HTML table of class ``melib-table``: one header row per column level, the
    index names on the last one (no row of blank header cells), equal neighbouring labels of an upper column
    level merged into one spanning cell, the name of the columns' axis spanning them on a row of its own; number
    cells are marked ``melib-num`` (kept on one line), text wraps."""
    levels = frame.columns.nlevels
    labels = [list(frame.columns.get_level_values(i)) for i in range(levels)]
    names = [n for n in frame.columns.names if n is not None]
    index_names = [("" if n is None else str(n)) for n in frame.index.names] if show_index else []
    head = []
    if names and levels == 1 and frame.shape[1] > 1:
        head.append([_cell("th", "") for _ in index_names] + [_cell("th", names[0], frame.shape[1], "colgroup")])
    for i, row in enumerate(labels):
        last = i == levels - 1
        cells = [_cell("th", n if last else "") for n in index_names]
        j = 0
        while j < len(row):
            k = j + 1
            if not last:  # merge equal neighbours whose upper levels are equal too
                while k < len(row) and all(labels[u][k] == labels[u][j] for u in range(i + 1)):
                    k += 1
            cells.append(_cell("th", "" if is_missing(row[j]) else row[j], k - j, "col" if k - j == 1 else "colgroup"))
            j = k
        head.append(cells)
    body = []
    for r in range(len(frame)):
        key = frame.index[r] if show_index else ()
        key = key if isinstance(key, tuple) else (key,) if show_index else ()
        body.append([_cell("th", v, scope="row") for v in key] + [_cell("td", v) for v in frame.iloc[r]])
    rows = lambda cells_rows: "".join(f"<tr>{''.join(c)}</tr>" for c in cells_rows)  # noqa: E731
    return (f'<table class="dataframe melib-table"><thead>{rows(head)}</thead>'
            f"<tbody>{rows(body)}</tbody></table>")


# What fits the book's text column (about 830 px at a 1400-px window, cells at 0.85 em, about 7 px a character)
COLUMN_CHARS = 85


def min_chars(frame: pd.DataFrame, show_index: bool) -> int:
    """About how many characters wide ``frame`` is at the least once its text wraps: per column its longest
    word (a number is one word), plus two for the padding."""
    def widest(values) -> int:
        return max((len(w) for v in values for w in (str(v).split() if not _NUMBER.fullmatch(str(v).strip())
                                                      else [str(v)])), default=1)
    cols = [widest([" ".join(map(str, c)) if isinstance(c, tuple) else c, *frame.iloc[:, j]])
            for j, c in enumerate(frame.columns)]
    idx = [widest([n, *frame.index.get_level_values(i)]) for i, n in enumerate(frame.index.names)] \
        if show_index else []
    return sum(w + 2 for w in cols + idx)


def fit(frame: pd.DataFrame, show_index: bool) -> tuple[pd.DataFrame, bool, dict]:
    """``frame`` laid out to fit the text column (:data:`COLUMN_CHARS`) when its wrapped width would not: the
    columns that hold one value in every row (of several) are said once above it (returned, column -> value),
    then a table of at most four rows is turned on its side (its rows become columns)."""
    same = {}
    if min_chars(frame, show_index) <= COLUMN_CHARS or frame.columns.nlevels > 1:
        return frame, show_index, same
    if len(frame) > 1:
        for c in list(frame.columns):
            values = set(frame[c])
            if len(values) == 1 and frame.shape[1] - len(same) > 1:
                same[str(c)] = next(iter(values))
        frame = frame.drop(columns=list(same))
    if min_chars(frame, show_index) > COLUMN_CHARS and len(frame) <= 4:
        if show_index:  # the rows' labels name the new columns
            names = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in frame.index]
            side = frame
        elif frame.shape[1] > 1 and frame.iloc[:, 0].is_unique:  # else the first column's values, if unique
            names, side = [str(v) for v in frame.iloc[:, 0]], frame.iloc[:, 1:]
        else:
            names, side = [f"row {i + 1}" for i in range(len(frame))], frame
        side = side.T
        side.columns = names if len(set(names)) == len(names) else [f"row {i + 1}" for i in range(len(names))]
        side.index.name = None
        return side, True, same
    return frame, show_index, same


def table_html(stored: dict) -> str:
    """A table kept by :meth:`Table.stored` as the book shows it: its caption, the table (:func:`html_table`)
    without the columns that hold no value in any row, and under it the provenance legend and the names of the
    columns left out."""
    cols = [tuple(level[j] for level in stored["columns"]) for j in range(len(stored["columns"][0]))] \
        if stored["columns"] and stored["columns"][0] else []
    rows = stored["rows"]
    keep = [j for j in range(len(cols)) if not rows or any(r[j] != DASH for r in rows)]
    columns = pd.MultiIndex.from_tuples([cols[j] for j in keep], names=stored["column_names"]) \
        if len(stored["columns"]) > 1 else pd.Index([cols[j][0] for j in keep], name=stored["column_names"][0])
    show = stored.get("index") is not None
    index = None
    if show:
        index = pd.MultiIndex.from_arrays(stored["index"], names=stored["index_names"]) \
            if len(stored["index"]) > 1 else pd.Index(stored["index"][0], name=stored["index_names"][0])
    frame = pd.DataFrame([[r[j] for j in keep] for r in rows], columns=columns, index=index, dtype=object)
    notes = [f"Provenance: {stored['legend']}"] if stored.get("legend") else []
    gone = [" ".join(c) for j, c in enumerate(cols) if j not in keep]
    if gone:
        notes.append(f"No value in any row, so not shown: {', '.join(gone)}")
    frame, show, same = fit(frame, show)
    if same:
        notes.insert(0, "Every row: " + "; ".join(f"{k} {v}" for k, v in same.items()))
    cap = f'<p class="melib-caption">{html.escape(stored["caption"])}</p>' if stored.get("caption") else ""
    leg = "".join(f'<p class="melib-legend"><small>{html.escape(n)}</small></p>' for n in notes)
    # the shared values, as data too: melib.quantities reads them as every row's
    shared = html.escape(json.dumps({str(k): str(v) for k, v in same.items()}), quote=True) if same else ""
    attr = f' data-shared="{shared}"' if same else ""
    return (f'{cap}<div class="melib-scroll"{attr} style="overflow-x: auto; max-width: 100%">'
            f"{html_table(frame, show)}</div>{leg}")


class Table:
    """A DataFrame formatted for the book (see the module docstring); ``caption`` goes above it."""

    def __init__(self, df: pd.DataFrame, caption: str | None = None):
        self.frame, self.show_index, self.tags = _formatted(df)
        self.caption = caption

    def legend(self) -> str:
        """The provenance tags of the table and the labels they stand for."""
        def said(label: str) -> str:
            m = re.fullmatch(r"(?:published|synthetic|re-run on real data|reproduced on real data) \((.*)\)", label)
            return m.group(1) if m else label
        return "; ".join(f"{tag}: {said(label)}" for label, tag in sorted(self.tags.items(), key=lambda kv: kv[1]))

    def stored(self) -> dict:
        """The formatted table as data (text cells, labels, caption, legend), kept beside its HTML in the notebook
        so that the book build lays it out again with today's :func:`table_html` without re-running anything."""
        f = self.frame
        return {"rows": f.astype(str).to_numpy().tolist(),
                "columns": [list(map(str, f.columns.get_level_values(i))) for i in range(f.columns.nlevels)],
                "column_names": [None if n is None else str(n) for n in f.columns.names],
                "index": [list(map(str, f.index.get_level_values(i))) for i in range(f.index.nlevels)]
                if self.show_index else None,
                "index_names": [None if n is None else str(n) for n in f.index.names],
                "caption": self.caption, "legend": self.legend() if self.tags else None}

    def _repr_html_(self):
        stored = self.stored()
        return table_html(stored), {"melib": TABLE, "table": stored}

    def __repr__(self) -> str:
        text = self.frame.to_string(index=self.show_index)
        return "\n".join(x for x in (self.caption, text, self.tags and f"Provenance: {self.legend()}") if x)


def table(df: pd.DataFrame, caption: str | None = None) -> Table:
    """``df`` formatted for reading (the module docstring says how)."""
    return Table(df, caption)


class Block:
    """Markdown the book build places: ``kind`` "summary" (the box that opens a chapter) or "parameters" (the
    resolved parameters, shown in the re-run block). In a notebook it shows where it was displayed."""

    def __init__(self, markdown: str, kind: str):
        self.markdown, self.kind = markdown, kind

    def _repr_markdown_(self):
        return self.markdown, {"melib": self.kind}

    def __repr__(self) -> str:
        return self.markdown


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown pipe table, formatted like :func:`table` (its provenance legend below)."""
    t = Table(df)
    frame, show, same = fit(t.frame, t.show_index)
    frame = frame.reset_index() if show else frame
    if show and frame.columns[0] == "index":
        frame = frame.rename(columns={"index": ""})
    esc = [[escape_placeholders(str(x)).replace("|", "\\|") for x in row] for row in frame.astype(str).to_numpy()]
    cols = [str(c).replace("|", "\\|") for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)] + ["| " + " | ".join(r) + " |" for r in esc]
    said = ("Every row: " + "; ".join(f"{k} {v}" for k, v in same.items()) + "\n\n") if same else ""
    return said + "\n".join(lines) + (f"\n\nProvenance: {t.legend()}" if t.tags else "")


def install(shell=None) -> bool:
    """Make :func:`table` the HTML display of every DataFrame in this IPython kernel, and shorten the paths in
    displayed Markdown; False (nothing done) outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown
    except ImportError:
        return False
    shell = shell or get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda df: Table(df)._repr_html_())  # (HTML, its table data)
    formatters["text/plain"].for_type(pd.DataFrame, lambda df, p, cycle: p.text(repr(Table(df))))
    formatters["text/markdown"].for_type(Markdown, lambda m: escape_placeholders(clean_text(m.data)))
    return True


class Figure:
    """A matplotlib figure as a PNG output marked ``metadata.melib = kind`` (the book build finds it there);
    the figure is closed."""

    def __init__(self, fig, kind: str, dpi: int = 100):
        import io

        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        self.png, self.kind = buf.getvalue(), kind

    def _repr_png_(self):
        return self.png, {"melib": self.kind}

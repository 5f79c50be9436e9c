"""Every difference between a paper and melib, decided once, as data.

One YAML file per paper beside this module (``dlhn.yaml``, ``psn.yaml``, ``c3d.yaml``, ``cropnet.yaml``,
``local_regions.yaml``, ``ststnet.yaml``, ``off_apexnet.yaml``), one entry per deviation with the fields of :data:`FIELDS`: what the paper says (with
its section, table or equation), what the official code says where there is one, what melib does, the status
(``fixed``: melib now follows the paper or its code; ``kept``: melib's choice stays, for the reason given;
``open``: not decided or not implemented), why, and the measured effect on the known answer (numbers and the
command, or "not measured: <reason>"). ``issue12`` marks the ten differences listed in issue #12 (kept in the
data for the tests; the book does not print it).

- :func:`load` / :func:`table`: the entries of one paper (list of dicts / DataFrame).
- :func:`markdown`: the book's rendering (one table per topic); :func:`write_book` writes it next to the
  deviations pages (``book/deviations/generated/<paper>.md``, included by ``book/deviations/<paper>.md``).
- :func:`docstring`: the plain-text rendering that each model module appends to its ``__doc__`` (the entries
  whose ``where`` names that module).
"""
from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path

import yaml

from ..errors import ConfigError, DataError

HERE = Path(__file__).parent
PAPERS = {"dlhn": "DLHN", "psn": "PSN", "c3d": "C3D", "cropnet": "CropNet", "local_regions": "LocalRegions",
          "ststnet": "STSTNet", "off_apexnet": "OFF-ApexNet"}
FIELDS = ("id", "topic", "where", "paper_says", "official_code_says", "melib_does", "status", "why",
          "measured_effect")
REQUIRED = ("id", "topic", "where", "paper_says", "melib_does", "status", "why", "measured_effect")
STATUSES = ("fixed", "kept", "open")
TOPICS = {"data": "Data, labels and protocol", "preprocessing": "Preprocessing", "model": "Model",
          "training": "Training", "numbers": "Published numbers", "profile": "CPU profile",
          "known_answer": "Known-answer settings (the known-answer chapter and tests only)"}
COLUMNS = ("Item", "The paper (and its official code)", "melib", "Status", "Why", "Measured effect")


def _key(paper: str) -> str:
    key = paper.lower().replace("localregions", "local_regions").replace("-", "_")
    if key not in PAPERS:
        raise ConfigError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS.values())}")
    return key


@functools.cache
def _read(key: str) -> tuple:
    path = HERE / f"{key}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("paper") != PAPERS[key] or not isinstance(doc.get("deviations"), list):
        raise DataError(path, f"a mapping with paper: {PAPERS[key]} and a list of deviations", type(doc).__name__)
    seen = set()
    for i, d in enumerate(doc["deviations"]):
        where = f"{path.name}, entry {i} ({d.get('id') if isinstance(d, dict) else d!r})"
        if not isinstance(d, dict):
            raise DataError(path, "each deviation a mapping", where)
        missing = [f for f in REQUIRED if not str(d.get(f) or "").strip()]
        unknown = set(d) - set(FIELDS) - {"issue12"}
        if missing or unknown:
            raise DataError(path, f"fields {', '.join(REQUIRED)} filled (and no others)",
                            f"{where}: missing {missing}, unknown {sorted(unknown)}")
        if d["status"] not in STATUSES or d["topic"] not in TOPICS:
            raise DataError(path, f"status in {STATUSES} and topic in {tuple(TOPICS)}",
                            f"{where}: status {d['status']!r}, topic {d['topic']!r}")
        if d["id"] in seen:
            raise DataError(path, "unique ids", f"{where}: {d['id']!r} twice")
        seen.add(d["id"])
    return tuple(doc["deviations"])


def load(paper: str) -> list[dict]:
    """The deviations of ``paper`` (a short name: DLHN, PSN, C3D, CropNet, LocalRegions, STSTNet, OFF-ApexNet), validated."""
    return [{f: d.get(f) for f in (*FIELDS, "issue12")} for d in _read(_key(paper))]


def table(paper: str):
    """The deviations of ``paper`` as a DataFrame, one row per deviation, columns :data:`FIELDS` + ``issue12``."""
    import pandas as pd

    out = pd.DataFrame(load(paper), columns=[*FIELDS, "issue12"])
    out["issue12"] = out["issue12"].astype("Int64")
    return out


def _cell(text) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


_CODE = re.compile(r"(`[^`]*`)")
_OPTIONS = re.compile(r"`([^`]+)`((?:\s*\[[^\]`]*\])+)")  # `command` [--option ...] [...]
_FLAG = re.compile(r"(?<![\w`-])(--[a-z][\w-]*(?:[ =][^\s,;)\]`]+)?)")
_BEFORE = re.compile(r'\s*Before: (.*?\.)(?=\s+["A-Z*]|\s*$)')


def commands_as_code(text: str) -> str:
    """``text`` with its commands as code: a command's bracketed options join its code span, and every other
    ``--flag value`` outside code becomes code (so that no typography turns ``--`` into a dash)."""
    text = _OPTIONS.sub(lambda m: f"`{m.group(1)} {' '.join(m.group(2).split())}`", text)
    return "".join(part if part.startswith("`") else _FLAG.sub(r"`\1`", part) for part in _CODE.split(text))


def _split_before(text: str) -> tuple[str, str | None]:
    """(what melib does now, what it did before this entry's fix), from "... Before: <sentence>. ..."."""
    m = _BEFORE.search(text)
    if not m:
        return text, None
    return (text[:m.start()] + text[m.end():]).strip(), m.group(1)


def _paper_cell(d: dict) -> str:
    out = _cell(d["paper_says"])
    return out + (f" *Official code:* {_cell(d['official_code_says'])}" if d.get("official_code_says") else "")


def markdown(paper: str) -> str:
    """The book's rendering of ``paper``'s deviations: per topic, one two-column table per entry (so that prose
    wraps in the text column): its id, status and code object (``where``) as the header, then the paper, melib,
    what melib did before a fix, why, and the measured effect, commands as code."""
    rows = load(paper)
    out = [f"<!-- generated from melib/deviations/{_key(paper)}.yaml by melib.deviations.write_book; "
           "do not edit -->", ""]
    for topic, title in TOPICS.items():
        part = [d for d in rows if d["topic"] == topic]
        if not part:
            continue
        out += [f"### {title}", ""]
        for d in part:
            now, before = _split_before(_cell(d["melib_does"]))
            fields = [("The paper", _paper_cell(d)), ("melib", now), ("melib before this fix", before),
                      ("Why", _cell(d["why"])), ("Measured effect", _cell(d["measured_effect"]))]
            out += [f"| **{_cell(d['id'])}** ({d['status']}) | `{_cell(d['where'])}` |", "|---|---|"]
            out += [f"| {name} | {commands_as_code(text)} |" for name, text in fields if text]
            out.append("")
    return "\n".join(out)


def docstring(paper: str, module: str) -> str:
    """Plain-text rendering of the deviations of ``paper`` whose ``where`` names ``module``."""
    rows = [d for d in load(paper) if str(d["where"]).startswith(module)]
    if not rows:
        return ""
    out = [f"Deviations from {PAPERS[_key(paper)]} (melib.deviations.table({PAPERS[_key(paper)]!r}); the book's "
           "deviations page renders the same data):", ""]
    for d in rows:
        out.append(f"- {d['id']} [{d['status']}] {_cell(d['melib_does'])} Paper: {_cell(d['paper_says'])} "
                   f"Why: {_cell(d['why'])} Effect: {_cell(d['measured_effect'])}")
    return "\n".join(out)


def append_to_doc(doc: str | None, paper: str, module: str) -> str | None:
    """``doc`` followed by :func:`docstring` (None stays None: ``python -OO`` strips docstrings)."""
    if doc is None:
        return None
    extra = docstring(paper, module)
    return doc.rstrip() + "\n\n" + extra + "\n" if extra else doc


def write_book(book_dir: str | Path = "book") -> list[Path]:
    """Write :func:`markdown` of every paper to ``<book_dir>/deviations/generated/<paper>.md`` (a temporary
    file, then renamed; unchanged files are left alone). Returns the paths."""
    out_dir = Path(book_dir) / "deviations" / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, name in PAPERS.items():
        path = out_dir / f"{key}.md"
        text = markdown(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        paths.append(path)
    return paths

"""Run records: one JSON file per (model, parameters, protocol, fold) under ``melib.config.runs_dir()``.

Layout: ``<runs>/<model>/<run key>/fold<NNN>.json``. The run key is a hash of everything that defines
the run (model and its parameters, training configuration, protocol and its parameters, classes, data),
so a record that exists is the answer for that fold and is not recomputed: an interrupted study resumes.
Files are written to a temporary name, then renamed. Each record carries a checksum (sha256 of its canonical
JSON) and names its model, run and fold; :func:`read` refuses a record that was edited, or copied from another
fold's or run's file, and a resumed run recomputes such a fold with a note (:func:`resume`).

Each chapter's headline numbers (one uniform table, :data:`HEADLINE_COLUMNS`) are kept beside the records in
``<runs>/headlines/<tag>/<paper>.csv`` (:func:`save_headline`, :func:`headlines`) for the results overview.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__, config
from .errors import ConfigError, DataError
from .metrics import mean_of_folds, scores

_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+"
CHECKSUM = "checksum"
_FOLD_FILE = re.compile(r"^fold(\d+)\.json$")
_FOLD_FIELDS = ("run", "model", "fold", "fold_name", "n_folds", "protocol", "labels", "metrics", "predictions",
                "audit")
# The packages whose versions decide a number: recorded in every run record (``provenance()["packages"]``).
PACKAGES = {"torch": ("torch",), "numpy": ("numpy",), "scipy": ("scipy",),
            "opencv": ("opencv-contrib-python-headless", "opencv-python-headless", "opencv-contrib-python",
                       "opencv-python"),
            "scikit-image": ("scikit-image",), "scikit-learn": ("scikit-learn",), "pandas": ("pandas",),
            "dlib": ("dlib-bin", "dlib")}


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, paths, tuples and sets turned into JSON types."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in (sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj)]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is pd.NA or obj is None:
        return None
    if isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


def key(spec: dict) -> str:
    """A 16-hex-digit key of a run specification (canonical JSON, sorted keys)."""
    text = json.dumps(jsonable(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def safe_name(name: str) -> str:
    return "".join(c if c in _SAFE else "_" for c in str(name)) or "model"


def path(model: str, run_key: str, fold: int, root: str | Path | None = None) -> Path:
    return Path(root or config.runs_dir()) / safe_name(model) / run_key / f"fold{fold:03d}.json"


def _atomic(dest: str | Path, dump) -> Path:
    """Call ``dump(fh)`` on a temporary file beside ``dest``, then rename it to ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            dump(fh)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def checksum(record: dict) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, no spaces) of ``record`` without its checksum."""
    body = {k: v for k, v in jsonable(record).items() if k != CHECKSUM}
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write(record: dict, dest: str | Path) -> Path:
    """Write ``record`` with its checksum as JSON to ``dest`` through a temporary file in the same folder,
    then rename."""
    rec = {k: v for k, v in jsonable(record).items() if k != CHECKSUM}
    rec[CHECKSUM] = checksum(rec)
    return _atomic(dest, lambda fh: json.dump(rec, fh, indent=1))


def _check_fold(rec: dict, src: Path, fold: int) -> None:
    """A fold record read from ``<model>/<run>/foldNNN.json`` must be that model's, run's and fold's."""
    missing = [k for k in _FOLD_FIELDS if k not in rec]
    if missing:
        raise DataError(src, "a fold record (melib.train.evaluate)", f"no {', '.join(missing)}; delete the file "
                        "to recompute")
    want = (src.parent.parent.name, src.parent.name, fold)
    found = (safe_name(rec["model"]), rec["run"], rec["fold"])
    if found != want:
        raise DataError(src, "the record of model {}, run {}, fold {} (its path)".format(*want),
                        "that of model {}, run {}, fold {}: a record copied from elsewhere; delete the file to "
                        "recompute".format(*found))


def read(src: str | Path) -> dict:
    """The record in ``src`` (without its checksum), after checking the checksum and, for a fold record
    (``foldNNN.json``), that it is the record of the model, run and fold its path names."""
    src = Path(src)
    redo = "; delete the file to recompute"
    try:
        rec = json.loads(src.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(src, "a UTF-8 JSON run record", f"bytes that are not UTF-8 at offset {e.start}{redo}") from e
    except json.JSONDecodeError as e:
        raise DataError(src, "a JSON run record", f"unreadable JSON ({e}){redo}") from e
    if not isinstance(rec, dict):
        raise DataError(src, "a JSON object (a run record)", f"a JSON {type(rec).__name__}{redo}")
    stored = rec.pop(CHECKSUM, None)
    if stored is None:
        raise DataError(src, "a run record with melib's checksum", f"none (not written by this melib){redo}")
    if stored != checksum(rec):
        raise DataError(src, "a run record whose content matches its checksum",
                        f"a mismatch: the file was changed after melib wrote it{redo}")
    m = _FOLD_FILE.match(src.name)
    if m:
        _check_fold(rec, src, int(m[1]))
    return rec


def resume(paths: dict[int, Path]) -> dict[int, dict]:
    """``{fold: record}`` of the fold records that exist and pass :func:`read`; a record that does not is
    reported on stderr and left out, so the caller recomputes that fold (and replaces the file)."""
    done = {}
    for fold, p in paths.items():
        if not p.exists():
            continue
        try:
            done[fold] = read(p)
        except DataError as e:
            print(f"melib: not using a run record: {e}; recomputing fold {fold}", file=sys.stderr)
    return done


def _package_version(dists: tuple[str, ...]) -> str | None:
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def provenance() -> dict:
    """melib version, the git commit of the working tree melib is imported from (None outside git), and
    the versions of Python and of the packages that decide a number (:data:`PACKAGES`; None when absent)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    packages = {"python": platform.python_version(), **{k: _package_version(d) for k, d in PACKAGES.items()}}
    return {"melib_version": __version__, "git_commit": commit, "packages": packages}


def iter_records(root: str | Path | None = None, model: str | None = None, skipped: list | None = None):
    """``(path, record)`` of every fold record under ``root``; a record :func:`read` refuses raises its
    DataError, or, when a ``skipped`` list is given, is appended to it (``path``, ``reason``) and left out."""
    base = Path(root or config.runs_dir())
    pattern = f"{safe_name(model)}/*/fold*.json" if model else "*/*/fold*.json"
    for p in sorted(base.glob(pattern)):
        try:
            rec = read(p)
        except DataError as e:
            if skipped is None:
                raise
            skipped.append({"path": str(p), "reason": str(e)})
            continue
        yield p, rec


def _flat(params: dict | None, prefix: str) -> dict:
    return {f"{prefix}{k}": (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in (params or {}).items()}


def results(root: str | Path | None = None, *, model: str | None = None, level: str = "run",
            skip_bad: bool = False, **where) -> pd.DataFrame:
    """Gather run records into a table for the book.

    ``level="run"``: one row per run with pooled scores (all folds' predictions together, the MEGC2019
    rule), mean and std of per-fold scores (DLHN Eq. 11), mean/max leakage, folds done of folds planned,
    total wall time. ``level="fold"``: one row per fold record. ``level="clip"``: one row per test clip.
    Keyword filters select on record fields (e.g. ``protocol="loso"``). A record that :func:`read` refuses
    raises its DataError, or with ``skip_bad`` is left out and listed in ``table.attrs["skipped"]``.
    """
    if level not in ("run", "fold", "clip"):
        raise ConfigError(f"unknown level {level!r}; choose run, fold or clip")
    skipped: list | None = [] if skip_bad else None
    recs = [r for _, r in iter_records(root, model, skipped) if all(r.get(k) == v for k, v in where.items())]
    table = _table(recs, level)
    table.attrs["skipped"] = skipped or []
    return table


def _table(recs: list[dict], level: str) -> pd.DataFrame:
    if level == "clip":
        rows = [{"model": r["model"], "run": r["run"], "protocol": r["protocol"], "fold": r["fold"],
                 "fold_name": r["fold_name"], **p} for r in recs for p in r["predictions"]]
        return pd.DataFrame(rows)
    if level == "fold":
        rows = [{"model": r["model"], "run": r["run"], "protocol": r["protocol"], "fold": r["fold"],
                 "fold_name": r["fold_name"], "seed": r.get("seed"), "n_test": r["audit"]["n_test"],
                 "leakage": r["audit"]["leakage"], "accuracy": r["metrics"]["accuracy"],
                 "uf1": r["metrics"]["uf1"], "uar": r["metrics"]["uar"], "wall_s": r.get("wall_s"),
                 "device": r.get("device")} for r in recs]
        return pd.DataFrame(rows)
    runs: dict[str, list[dict]] = {}
    for r in recs:
        runs.setdefault(r["run"], []).append(r)
    rows = []
    for run_key, rs in runs.items():
        rs.sort(key=lambda r: r["fold"])
        r0 = rs[0]
        labels = r0["labels"]
        preds = [p for r in rs for p in r["predictions"]]
        pool = scores([p["y_true"] for p in preds], [p["y_pred"] for p in preds], labels)
        mean = mean_of_folds([r["metrics"] for r in rs])
        leak = [r["audit"]["leakage"] for r in rs]
        rows.append({
            "model": r0["model"], "run": run_key, "protocol": r0["protocol"], "scheme": r0.get("scheme"),
            **_flat(r0.get("protocol_params"), "protocol."), **_flat(r0.get("model_params"), "model."),
            "seed": r0.get("seed"), "folds_done": len(rs), "folds": r0.get("n_folds"),
            "complete": len(rs) == r0.get("n_folds"), "n_clips": pool["n"],
            "accuracy": pool["accuracy"], "uf1": pool["uf1"], "uar": pool["uar"],
            "accuracy_mean": mean["accuracy"], "accuracy_std": mean["accuracy_std"],
            "uf1_mean": mean["uf1"], "uar_mean": mean["uar"],
            "leakage_mean": float(np.mean(leak)), "leakage_max": float(np.max(leak)),
            "wall_s": float(sum(r.get("wall_s") or 0.0 for r in rs)), "device": r0.get("device"),
            "melib_version": r0.get("melib_version"), "git_commit": r0.get("git_commit"),
        })
    return pd.DataFrame(rows)


# ---- headline numbers ----------------------------------------------------------------------------------

HEADLINE_COLUMNS = ["paper", "table", "method", "dataset", "setting", "metric", "value", "scheme", "protocol",
                    "subject_overlap", "n_clips", "provenance", "chance", "collapsed"]


def headline_dir(tag: str, root: str | Path | None = None) -> Path:
    return Path(root or config.runs_dir()) / "headlines" / safe_name(tag)


def save_headline(rows: pd.DataFrame, tag: str, paper: str, root: str | Path | None = None) -> Path:
    """Write a chapter's headline rows (:data:`HEADLINE_COLUMNS`) to ``<root>/headlines/<tag>/<paper>.csv``
    through a temporary file, then rename; a chapter that yields no row writes the header only."""
    missing = [c for c in HEADLINE_COLUMNS if c not in rows.columns]
    if missing:
        raise ConfigError(f"headline rows lack column(s) {', '.join(missing)}")
    others = sorted(set(rows["paper"]) - {paper})
    if others:
        raise ConfigError(f"headline rows of {', '.join(map(str, others))} saved as {paper}'s")
    dest = headline_dir(tag, root) / f"{safe_name(paper)}.csv"
    return _atomic(dest, lambda fh: rows[HEADLINE_COLUMNS].to_csv(fh, index=False))


def headlines(tag: str, root: str | Path | None = None) -> pd.DataFrame:
    """Every paper's headline rows saved under ``tag`` (:func:`save_headline`), in one table."""
    files = sorted(headline_dir(tag, root).glob("*.csv"))
    parts = [pd.read_csv(f, dtype={"setting": object, "dataset": str, "table": str}) for f in files]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    return pd.concat(parts, ignore_index=True).reindex(columns=HEADLINE_COLUMNS)  # rows saved before "scheme": NA

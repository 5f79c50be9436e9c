"""Dataset loaders: each release in its native layout -> one samples table (one row per clip).

``load(name, root)`` returns the samples table of CONTRIBUTING ("Shared contracts"); the fixes and
exclusions made while reconciling annotations with the frames on disk are in ``df.attrs["fixes"]`` and
``df.attrs["exclusions"]``. ``read_clip(row)`` reads a clip's frames; ``check()`` / ``check_report()``
say which releases are present and what was fixed or excluded (``melib data check``).

Registry: every module of this package whose name does not start with ``_`` and that defines ``load`` is a
release loader, named by its ``DATASET`` (else after the module; ``fourdme.py`` is ``4dme``, a name no module
can have) (:data:`LOADERS`, in name order); its manifest is
``melib/manifests/<name>.yaml`` (``display:`` gives the name people write, :func:`display_name`). A new
dataset is one loader module and one manifest.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import pkgutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import config
from ..errors import ConfigError, DataError
from ._common import COLUMNS
from ._frames import IMAGE_EXTS, frame_number, list_frames, read_frames


def _discover() -> dict:
    """Every loader module of this package (see the module docstring), by name."""
    found = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not m.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{m.name}")
            if callable(getattr(module, "load", None)):
                found[getattr(module, "DATASET", m.name)] = module.load
    return dict(sorted(found.items()))


LOADERS = _discover()
SYNTH_PARTS = ("casme2", "samm", "smic", "casme3a", "casme3c", "4dme", "mmew")  # the layouts melib.synth writes
NAMES = (*LOADERS, "synth")
MANIFESTS = config.MANIFESTS
SYNTH_MARKER = "synth_params.json"  # what melib.synth writes in a synthetic set's root and in each layout

__all__ = ["load", "read_clip", "check", "check_report", "failed", "manifest", "fingerprint", "frame_number",
           "list_frames", "COLUMNS", "NAMES", "LOADERS", "order", "display_name"]


def order(names) -> list[str]:
    """``names`` in the registry's order (the releases, then any other name sorted, then ``synth``)."""
    names = set(names)
    known = [n for n in LOADERS if n in names]
    return known + sorted(names - set(LOADERS) - {"synth"}) + (["synth"] if "synth" in names else [])


@functools.cache
def display_name(name: str) -> str:
    """The name people write for dataset ``name`` (its manifest's ``display``; else ``name`` itself)."""
    path = MANIFESTS / f"{name}.yaml"
    if not path.is_file():
        return name
    return str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("display") or name)


def load(name: str, root: str | Path | None = None, **options) -> pd.DataFrame:
    """The samples table of release ``name`` found at ``root`` (default: ``melib.config.data_root(name)``).

    Options go to the release loader: ``smic`` takes ``variant`` (HS, VIS, NIR), ``casme2`` takes
    ``frames_dir`` (e.g. ``'Cropped'``). ``synth`` is the union of the layout sub-folders present at root
    (``casme2/``, ``samm/``, ``smic/`` of the default set; ``casme3a/``, ``casme3c/``, ``4dme/``, ``mmew/``), each read by its release loader, with ``synthetic=True``; its options are
    per part, e.g. ``load("synth", root, smic={"variant": "VIS"})``.
    """
    if name not in NAMES:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if root is None:
        root = config.data_root(name)
        if root is None:
            raise DataError(None, f"a root for {name}: set MELIB_DATA_{name.upper()} or 'data: {{{name}: PATH}}' "
                                  f"in {config.config_file()}")
    if name == "synth":
        return _load_synth(Path(root), **options)
    df = LOADERS[name](root, **options)
    marker = None if options.get("synthetic") else _synth_marker(Path(root), df.attrs.get("frames_dir"))
    if marker is None:
        return df
    note = (f"{root} is a melib synthetic set ({marker}), not the {name} release: loaded as synthetic "
            f"(synthetic=True, fps as rendered); point MELIB_DATA_{name.upper()} at the release")
    warnings.warn(note, stacklevel=2)
    df["synthetic"] = True
    df = _synth_part(df, marker, name)
    df.attrs["note"] = note
    return df


CONTENT_LIMIT = 64 << 20  # bytes: a non-image file up to this size is fingerprinted by content, a larger one by stat


def fingerprint(root: str | Path) -> str:
    """A digest of what the release or set at ``root`` holds, cheap enough to take before every run: each image
    file by its path, size and modification time (a stat, no read), every other file (coding sheets, manifests,
    ground truth) by its content (stat above :data:`CONTENT_LIMIT`). An edited label or a replaced frame
    changes it. Symlinked folders are followed (once each); hidden entries and Excel's ``~$`` lock files are not
    data and are left out. A root that does not exist has a digest of its own."""
    import hashlib

    root = Path(root).expanduser()
    h = hashlib.sha256()
    seen = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:  # removed while walking
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        prefix = os.path.relpath(folder, root).encode() + b"/"
        for name in sorted(f for f in files if not f.startswith((".", "~$"))):
            path = os.path.join(folder, name)
            rel = prefix + name.encode()
            try:
                st = os.stat(path)
            except OSError as e:  # a dangling link, a file removed meanwhile
                h.update(b"F\0%s\0%s\n" % (rel, type(e).__name__.encode()))
                continue
            if os.path.splitext(name)[1].lower() in IMAGE_EXTS or st.st_size > CONTENT_LIMIT:
                h.update(b"S\0%s\0%d\0%d\n" % (rel, st.st_size, st.st_mtime_ns))
            else:
                with open(path, "rb") as fh:
                    h.update(b"C\0%s\0%s\n" % (rel, hashlib.file_digest(fh, "sha256").hexdigest().encode()))
    if not seen:
        h.update(b"absent " + str(root).encode())
    return h.hexdigest()[:16]


def _synth_marker(root: Path, frames_dir) -> Path | None:
    """melib's synthetic-set marker in the root, in a folder above it (up to two), or beside the frame folder."""
    root = root.expanduser().resolve()
    places = [root, *root.parents[:2]]
    if frames_dir:
        places += [Path(frames_dir).resolve().parent, Path(frames_dir).resolve().parent.parent]
    return next((d / SYNTH_MARKER for d in places if (d / SYNTH_MARKER).is_file()), None)


def _load_synth(root: Path, **options) -> pd.DataFrame:
    unknown = sorted(set(options) - set(SYNTH_PARTS))
    if unknown:
        raise ConfigError(f"unknown synth option(s) {', '.join(unknown)}; give per-part options as "
                          f"{', '.join(SYNTH_PARTS)}={{...}}")
    if not root.is_dir():
        raise DataError(root, f"the synthetic set (sub-folders {', '.join(p + '/' for p in SYNTH_PARTS)})",
                        "no such folder")
    parts = [_synth_part(LOADERS[p](root / p, synthetic=True, **options.get(p, {})), root / p / SYNTH_MARKER, p)
             for p in SYNTH_PARTS if (root / p).is_dir()]
    if not parts:
        raise DataError(root, f"the synthetic set: at least one of the sub-folders "
                              f"{', '.join(p + '/' for p in SYNTH_PARTS)}", "none")
    df = pd.concat(parts, ignore_index=True)
    df.attrs = {"fixes": [f for p in parts for f in p.attrs["fixes"]],
                "exclusions": [e for p in parts for e in p.attrs["exclusions"]],
                "root": str(root), "parts": [p.attrs.get("root") for p in parts],
                "annotation": [p.attrs.get("annotation") or f"{p.attrs['root']} (folder names)" for p in parts]}
    return df


def _synth_part(df: pd.DataFrame, params: Path, layout: str) -> pd.DataFrame:
    """The fps melib.synth recorded (it renders at its own rate, not the release's): ``fps`` of a layout's
    ``synth_params.json``, or ``layouts.<layout>.fps`` of a set root's."""
    if params.is_file():
        try:
            got = json.loads(params.read_text())
            fps = got["fps"] if params.parent.name == layout else got.get("layouts", {}).get(layout, {}).get("fps")
            fps = None if fps is None else float(fps)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(params, "a JSON object with a numeric 'fps'", repr(exc)) from None
        if fps is not None:
            df["fps"] = int(fps) if fps.is_integer() else fps
    return df


def read_clip(row, gray: bool = False) -> np.ndarray:
    """A clip's frames as uint8, (T, H, W, 3) RGB or (T, H, W) grey.

    A missing, unreadable or truncated frame (a JPEG without its end-of-image marker), or frames of different
    sizes, raise DataError naming the file.
    """
    frames = row["frames"]
    if len(frames) == 0:
        raise DataError(None, f"frames for clip {row.get('subject')}/{row.get('clip')}", "an empty list")
    return read_frames(frames, gray)


# --- manifests and the data check -----------------------------------------------------------------

def manifest(name: str) -> dict:
    """The data manifest of release ``name`` (``melib/manifests/<name>.yaml``)."""
    path = MANIFESTS / f"{name}.yaml"
    if not path.exists():
        raise DataError(path, f"the data manifest of {name}", "no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(path, f"the YAML data manifest of {name}", str(exc).splitlines()[0]) from None


def _annotation(name: str, df: pd.DataFrame) -> str:
    """What a loader read its labels from: the coding sheet(s), or SMIC's folder names."""
    if name == "smic":
        return "folder names (SMIC ships no coding sheet)"
    got = df.attrs.get("annotation")
    got = ", ".join(map(str, got)) if isinstance(got, list) else str(got)
    return got + (f" (sheet {df.attrs['annotation_sheet']})" if df.attrs.get("annotation_sheet") else "")


def check(names=None) -> pd.DataFrame:
    """One row per dataset: status (present / not configured / missing / error / synthetic: a release variable
    pointed at a melib synthetic set; ``not generated`` for the default synthetic set before ``melib data
    synth``), root, the annotation read, clips found vs expected,
    number of fixes and of exclusions, and a note (an annotation chosen among several, a synthetic set
    configured as a release). The full lists are in ``attrs["details"]``."""
    names = list(names) if names is not None else list(NAMES)
    rows, details = [], {}
    for name in names:
        if name not in NAMES:
            raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
        expected = manifest(name).get("expected_clips")
        root = config.data_root(name)
        row = {"dataset": name, "status": "not configured", "root": None if root is None else str(root),
               "annotation": None, "clips": None, "expected": expected, "fixes": None, "exclusions": None,
               "error": None, "note": None}
        if root is not None and not Path(root).exists():
            row["status"] = "not generated" if name == "synth" and not os.environ.get("MELIB_DATA_SYNTH") else "missing"
        elif root is not None:
            try:
                with warnings.catch_warnings():  # the notes are in the report
                    warnings.simplefilter("ignore", UserWarning)
                    df = load(name, root)
            except DataError as exc:
                row.update(status="error", error=str(exc))
            else:
                fake = name != "synth" and bool(df["synthetic"].any())
                row.update(status="synthetic" if fake else "present", annotation=_annotation(name, df),
                           clips=len(df), fixes=len(df.attrs["fixes"]), exclusions=len(df.attrs["exclusions"]),
                           note=df.attrs.get("note") or df.attrs.get("annotation_note"))
                details[name] = {"fixes": df.attrs["fixes"], "exclusions": df.attrs["exclusions"]}
        rows.append(row)
    table = pd.DataFrame(rows, columns=["dataset", "status", "root", "annotation", "clips", "expected", "fixes",
                                        "exclusions", "error", "note"])
    for col in ("clips", "expected", "fixes", "exclusions"):
        table[col] = table[col].astype("Int64")
    table.attrs["details"] = details
    return table


def failed(table: pd.DataFrame) -> list[str]:
    """The datasets of a ``check`` table that are configured but missing, broken, or a synthetic set."""
    return table.loc[table["status"].isin(["missing", "error", "synthetic"]), "dataset"].tolist()


def check_report(names=None, table: pd.DataFrame | None = None) -> str:
    """``check`` rendered as text: the table, what each dataset was read from, then every fix and exclusion
    with its reason."""
    table = check(names) if table is None else table
    brief = table.drop(columns=["error", "note", "annotation"])
    shown = brief.astype(object).where(brief.notna(), "-")
    lines = ["Datasets", "", shown.to_string(index=False), ""]
    for _, r in table.iterrows():
        if r["status"] == "not configured":
            lines.append(f"{r['dataset']}: not configured; set MELIB_DATA_{r['dataset'].upper()} or add it to "
                         f"melib.yaml (see melib/manifests/{r['dataset']}.yaml for where to request it)")
        elif r["status"] in ("missing", "not generated"):
            hint = " (write it with `melib data synth`)" if r["dataset"] == "synth" else ""
            lines.append(f"{r['dataset']}: {r['root']} does not exist{hint}")
        elif r["status"] == "error":
            lines.append(f"{r['dataset']}: {r['error']}")
        else:
            lines.append(f"{r['dataset']}: read {r['annotation']}")
            if isinstance(r["note"], str):
                lines.append(f"{r['dataset']}: note: {r['note']}")
            if not pd.isna(r["expected"]) and r["clips"] != r["expected"]:
                lines.append(f"{r['dataset']}: {r['clips']} clips found, {r['expected']} expected")
            trimmed = [e for e in table.attrs.get("details", {}).get(r["dataset"], {}).get("fixes", [])
                       if e.get("trimmed")]
            if trimmed:
                lines.append(f"{r['dataset']}: {len(trimmed)} clip folder(s) hold frames outside the sheet's "
                             f"onset..offset, left out (listed with the fixes below)")
    for name, d in table.attrs.get("details", {}).items():
        for kind in ("fixes", "exclusions"):
            if d[kind]:
                lines += ["", f"{name}: {len(d[kind])} {kind}"]
                lines += [f"  {e['subject']}/{e['clip']}: {e['reason']}" for e in d[kind]]
    return "\n".join(lines).rstrip() + "\n"

"""Helpers shared by the release loaders: frame ordering, spreadsheet reading, the fix log, clip rows."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import DataError
from ..labels import normalise_objective, objective_class, parse_aus

COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "apex_estimated", "n_frames",
           "aus", "au_set", "emotion", "objective_class", "fps", "frames", "synthetic"]
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
_DIGITS = re.compile(r"\d+")


# --- frames ------------------------------------------------------------------------------------

def frame_number(path: str | Path) -> int:
    """The frame number in a frame file name: the last run of digits in its stem (``reg_img46.jpg`` -> 46)."""
    runs = _DIGITS.findall(Path(path).stem)
    if not runs:
        raise DataError(path, "a frame file name with a frame number (e.g. img46.jpg)")
    return int(runs[-1])


def list_frames(folder: str | Path) -> list[Path]:
    """The image files in ``folder``, ordered by frame number (``img100`` after ``img99``), others ignored."""
    folder = Path(folder)
    try:
        entries = [Path(e.path) for e in os.scandir(folder)
                   if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTS]
    except FileNotFoundError:
        return []
    return sorted((p for p in entries if _DIGITS.search(p.stem)), key=frame_number)


def has_frames(folder: Path) -> bool:
    return folder.is_dir() and any(Path(e.name).suffix.lower() in IMAGE_EXTS for e in os.scandir(folder))


# --- folders and files -------------------------------------------------------------------------

def existing_dir(root, what: str) -> Path:
    if root is None:
        raise DataError(None, f"a root folder for {what}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(root, f"the folder of {what}", "no such folder")
    return root


def find_dir(root: Path, names: Iterable[str], what: str) -> Path:
    """The first of ``names`` found in ``root`` or one level below it (root itself if it is one of them)."""
    names = list(names)
    if root.name in names:
        return root
    for name in names:
        for cand in (root / name, *root.glob(f"*/{name}")):
            if cand.is_dir():
                return cand
    raise DataError(root, f"{what}: a folder named {' or '.join(names)}", "none")


def find_files(root: Path, patterns: Iterable[str], what: str, depth: int = 2) -> list[Path]:
    """Files matching any of ``patterns`` in ``root`` and up to ``depth`` levels below, sorted by name."""
    found = set()
    for pat in patterns:
        for d in range(depth + 1):
            found.update(p for p in root.glob("*/" * d + pat) if p.is_file() and not p.name.startswith("~$"))
    if not found:
        raise DataError(root, f"{what} ({' or '.join(patterns)})", "no such file")
    return sorted(found, key=lambda p: (p.name, str(p)))


# --- spreadsheets ------------------------------------------------------------------------------

def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def excel_sheets(path: Path) -> list[str]:
    try:
        with pd.ExcelFile(path, engine="openpyxl") as xf:
            return list(xf.sheet_names)
    except Exception as exc:  # openpyxl raises many kinds on a bad file
        raise DataError(path, "a readable .xlsx spreadsheet", f"{type(exc).__name__}: {exc}") from None


def read_raw_sheet(path: Path, sheet: str | int = 0) -> pd.DataFrame:
    """A sheet read without a header row, cells as written."""
    if Path(path).suffix.lower() == ".xls":
        raise DataError(path, "an .xlsx spreadsheet (save the .xls as .xlsx; melib reads them with openpyxl)")
    try:
        return pd.read_excel(path, sheet_name=sheet, header=None, engine="openpyxl", dtype=object)
    except Exception as exc:
        raise DataError(path, f"a readable .xlsx spreadsheet with sheet {sheet!r}",
                        f"{type(exc).__name__}: {exc}") from None


def read_table(path: Path, columns: dict[str, tuple[str, ...]], sheet: str | int = 0,
               optional: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """A coding sheet as a table with the logical column names of ``columns`` (and of ``optional`` if present).

    The header row is the first row (of the first 50) whose first non-blank cell is one of the names of
    the first logical column, so notes above the header are skipped. Header names are compared
    ignoring case, spaces and punctuation. A missing required column raises DataError naming it.
    """
    raw = read_raw_sheet(path, sheet)
    first = {_norm(n) for n in next(iter(columns.values()))}
    header_row = None
    for i in range(min(50, len(raw))):
        cells = [c for c in raw.iloc[i].tolist() if not pd.isna(c) and str(c).strip()]
        if cells and _norm(cells[0]) in first:
            header_row = i
            break
    wanted = ", ".join(names[0] for names in columns.values())
    if header_row is None:
        raise DataError(path, f"a header row with columns {wanted} (sheet {sheet!r})", "no such row")
    header = [_norm(c) if not pd.isna(c) else "" for c in raw.iloc[header_row].tolist()]
    out = {}
    missing = []
    for key, names in {**columns, **(optional or {})}.items():
        idx = next((header.index(_norm(n)) for n in names if _norm(n) in header), None)
        if idx is None:
            if key in columns:
                missing.append(names[0])
            continue
        out[key] = raw.iloc[header_row + 1:, idx].tolist()
    if missing:
        found = ", ".join(str(c) for c in raw.iloc[header_row].tolist() if not pd.isna(c))
        raise DataError(path, f"columns {wanted} (sheet {sheet!r}); missing {', '.join(missing)}", found)
    table = pd.DataFrame(out, dtype=object)
    table.index = range(header_row + 2, header_row + 2 + len(table))  # the spreadsheet's row numbers
    if len(table):
        table = table[~table.apply(lambda r: all(pd.isna(v) or not str(v).strip() for v in r), axis=1)]
    return table


def to_int(value) -> int | None:
    """A frame-number cell as int; None for blank, '/', '-', text or NaN."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else None
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+(\.0+)?", text) else None


def text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def subject_number(value) -> int | None:
    """The number in a subject cell (``1``, ``'01'``, ``'sub01'``, ``'s1'``)."""
    n = to_int(value)
    if n is not None:
        return n
    runs = _DIGITS.findall(text(value))
    return int(runs[-1]) if runs else None


# --- the fix log and the clip rows ---------------------------------------------------------------

@dataclass
class Log:
    """Every fix and every exclusion made while loading one release, each with its reason."""
    dataset: str
    fixes: list[dict] = field(default_factory=list)
    exclusions: list[dict] = field(default_factory=list)

    def _entry(self, subject: str, clip: str, reason: str, extra: dict) -> dict:
        return {"dataset": self.dataset, "subject": f"{self.dataset}/{subject}", "clip": clip, "reason": reason,
                **extra}

    def fix(self, subject: str, clip: str, reason: str, **extra) -> None:
        self.fixes.append(self._entry(subject, clip, reason, extra))

    def exclude(self, subject: str, clip: str, reason: str, **extra) -> None:
        self.exclusions.append(self._entry(subject, clip, reason, extra))


def resolve_clip(log: Log, subject: str, clip: str, frames: list[Path], onset: int | None,
                 apex: int | None, offset: int | None, annotated: bool = True, apex_written: str = ""):
    """Reconcile an annotation with the frames on disk.

    Returns ``(frames, onset, apex, offset, apex_estimated)`` or None when the clip is excluded.
    Unambiguous fixes (onset before the first frame on disk or offset after the last: clamp to the
    folder; onset or offset not annotated: the folder's first or last frame; apex missing or outside
    onset..offset: the middle frame, flagged as estimated) are logged; anything else is an exclusion.
    ``annotated=False`` (a release that annotates nothing, SMIC): the folder is the clip and nothing is logged.
    """
    if not frames:
        log.exclude(subject, clip, "no frames on disk")
        return None
    numbers = [frame_number(f) for f in frames]
    first, last = numbers[0], numbers[-1]
    if not annotated:
        onset, offset = first, last
    if onset is None or onset <= 0:
        log.fix(subject, clip, f"onset not annotated; first frame on disk ({first}) used", field="onset",
                old=onset, new=first)
        onset = first
    if offset is None or offset <= 0:
        log.fix(subject, clip, f"offset not annotated; last frame on disk ({last}) used", field="offset",
                old=offset, new=last)
        offset = last
    if onset > offset:
        log.exclude(subject, clip, f"onset {onset} after offset {offset}")
        return None
    if onset > last or offset < first:
        log.exclude(subject, clip, f"onset..offset {onset}..{offset} outside the frames on disk {first}..{last}")
        return None
    if onset < first:
        log.fix(subject, clip, f"onset {onset} before the first frame on disk; set to {first}",
                field="onset", old=onset, new=first)
        onset = first
    if offset > last:
        log.fix(subject, clip, f"offset {offset} after the last frame on disk; set to {last}",
                field="offset", old=offset, new=last)
        offset = last
    kept = [f for f, n in zip(frames, numbers) if onset <= n <= offset]
    gap = (offset - onset + 1) - len(kept)
    if gap > 0:
        log.fix(subject, clip, f"{gap} frame(s) missing between onset {onset} and offset {offset}; "
                               f"the clip keeps the {len(kept)} on disk", field="frames")
    estimated = False
    if apex is None or apex <= 0 or not onset <= apex <= offset or apex not in {frame_number(f) for f in kept}:
        middle = frame_number(kept[(len(kept) - 1) // 2])
        if annotated:
            if apex is not None and onset <= apex <= offset:
                why = f"apex {apex} not among the clip's frames"
            elif apex is not None and apex > 0:
                why = f"apex {apex} outside onset..offset {onset}..{offset}"
            else:
                why = f"apex not annotated (written {apex_written!r})" if apex_written else "apex not annotated"
            log.fix(subject, clip, f"{why}; middle frame {middle} used (apex_estimated)", field="apex",
                    old=apex, new=middle)
        apex, estimated = middle, True
    return [str(f) for f in kept], onset, apex, offset, estimated


def clip_row(dataset: str, subject: str, clip: str, resolved, aus: str, emotion: str,
             objective, fps: int, synthetic: bool, has_aus: bool = True) -> dict:
    frames, onset, apex, offset, estimated = resolved
    au_set = parse_aus(aus)
    cls = normalise_objective(objective)
    if cls is None and has_aus:
        cls = objective_class(au_set)
    return {"dataset": dataset, "subject": f"{dataset}/{subject}", "clip": clip, "onset": onset, "apex": apex,
            "offset": offset, "apex_estimated": estimated, "n_frames": len(frames), "aus": aus,
            "au_set": au_set, "emotion": emotion.lower(), "objective_class": cls, "fps": fps,
            "frames": frames, "synthetic": synthetic}


def samples_frame(rows: list[dict], log: Log, **attrs) -> pd.DataFrame:
    """The samples table (``COLUMNS``) with the fixes and exclusions in ``attrs``."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("onset", "apex", "offset", "n_frames", "fps"):
        df[col] = df[col].astype("int64")
    for col in ("apex_estimated", "synthetic"):
        df[col] = df[col].astype(bool)
    for col in ("au_set", "frames", "objective_class"):
        df[col] = df[col].astype(object)
    df = df.sort_values(["subject", "clip"], kind="stable").reset_index(drop=True)
    df.attrs["fixes"] = list(log.fixes)
    df.attrs["exclusions"] = list(log.exclusions)
    df.attrs.update({k: (str(v) if isinstance(v, Path) else v) for k, v in attrs.items()})
    return df


def unannotated_folders(log: Log, clip_dirs: Iterable[tuple[str, Path]], used: set[Path]) -> None:
    """Log an exclusion for every clip folder with frames but no annotation row."""
    for subject, folder in clip_dirs:
        if folder not in used and has_frames(folder):
            log.exclude(subject, folder.name, f"folder {folder} has frames but no annotation row")


def require_subjects(folder: Path, accept, what: str) -> list[Path]:
    """The subject folders of ``folder`` whose names ``accept`` takes; none raises DataError (wrong layout)."""
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and accept(p.name))
    if not subs:
        raise DataError(folder, what, "none (wrong layout?)")
    return subs


def coded_clips(log: Log, table: pd.DataFrame, sheet: Path, locate, fps: int, synthetic: bool,
                apex=None, used: set[Path] | None = None) -> tuple[list[dict], set[Path]]:
    """The clip rows of a coding sheet with one row per clip folder (CASME, CASME II, SAMM).

    ``locate(subject_number, clip) -> (subject, folder or None, why)`` finds a row's folder; ``apex(row)``
    reads its apex cell (default: column ``apex``). Rows without a subject or file name, without a folder,
    or repeating a clip (also one already in ``used``) are exclusions. Returns the rows and the folders used.
    """
    rows, used = [], set() if used is None else used
    for line, r in table.iterrows():
        n, clip = subject_number(r["subject"]), text(r["clip"])
        if n is None or not clip:
            log.exclude(text(r["subject"]), clip, f"{sheet.name} row {line}: no subject or file name")
            continue
        subject, folder, why = locate(n, clip)
        if folder is None:
            log.exclude(subject, clip, why)
            continue
        if folder in used:
            log.exclude(subject, clip, f"{sheet.name} row {line}: a second row for the same clip")
            continue
        used.add(folder)
        apex_cell = apex(r) if apex else r["apex"]
        res = resolve_clip(log, subject, clip, list_frames(folder), to_int(r["onset"]), to_int(apex_cell),
                           to_int(r["offset"]), apex_written=text(apex_cell))
        if res is not None:
            rows.append(clip_row(log.dataset, subject, clip, res, text(r["aus"]), text(r["emotion"]),
                                 r.get("objective"), fps, synthetic))
    return rows, used


def clip_folders(subjects: Iterable[Path]) -> list[tuple[str, Path]]:
    """(subject folder name, clip folder) for every sub-folder of the given subject folders."""
    return [(s.name, c) for s in subjects for c in sorted(s.iterdir()) if c.is_dir()]

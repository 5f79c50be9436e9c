"""Helpers shared by the release loaders: frame ordering, spreadsheet reading, the fix log, clip rows."""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable

import pandas as pd

from ..errors import DataError
from ..labels import au_readings, certain_aus, derived_objective, normalise_objective
from ._frames import frame_number, frame_sets, has_frames, scan

COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "apex_estimated", "apex_placeholder",
           "n_frames", "aus", "au_set", "emotion", "objective_class", "fps", "frames", "synthetic"]
_DIGITS = re.compile(r"\d+")
PLACEHOLDER_MS = 5.0  # an annotated apex this close to the onset or offset is a placeholder (one frame at 200 fps)


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


def _version(path: Path) -> tuple[str, int] | None:
    """The version a sheet's name carries: a date (``CASME2-coding-20190701``) or ``v2``; None without one."""
    date = re.search(r"(?<!\d)((?:19|20)\d{6})(?!\d)", path.stem)
    if date:
        return "date", int(date.group(1))
    v = re.search(r"(?i)(?<![a-z])v(\d+)(?!\d)", path.stem)
    return ("v", int(v.group(1))) if v else None


def pick_sheet(root: Path, patterns: Iterable[str], what: str, annotation=None) -> tuple[Path, str | None]:
    """The annotation file of a release and a note when it was chosen among several.

    ``annotation`` (a path, absolute or relative to root) picks one. Otherwise several matches are read only
    when each name carries a different version (a date or ``v<N>``): the newest is read, with a warning and
    the note saying so; any other ambiguity raises DataError listing the files.
    """
    patterns = tuple(patterns)
    if annotation is not None:
        path = Path(annotation).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(path, f"the {what} given as annotation=", "no such file")
        return path, None
    found = find_files(root, patterns, f"the {what}")
    if len(found) == 1:
        return found[0], None
    names = ", ".join(str(p.relative_to(root)) for p in found)
    versions = [_version(p) for p in found]
    if None in versions or len({v[0] for v in versions}) > 1 or len(set(versions)) < len(versions):
        raise DataError(root, f"one {what} ({' or '.join(patterns)})",
                        f"{len(found)}: {names}; pass annotation=<file> to choose one, or move the others away")
    newest = found[versions.index(max(versions))]
    note = (f"{len(found)} {what}s found ({names}); read the newest by the version in its name, {newest.name} "
            f"(annotation=<file> reads another)")
    warnings.warn(note, stacklevel=3)
    return newest, note


# --- spreadsheets ------------------------------------------------------------------------------

def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def spreadsheets(*stems: str) -> tuple[str, ...]:
    """File patterns for a release's sheets in either Excel format: ``stem.xlsx`` and ``stem.xls``."""
    return tuple(f"{stem}{ext}" for stem in stems for ext in (".xlsx", ".xls"))


def _engine(path: Path) -> tuple[str, str]:
    """(pandas engine, format) of a spreadsheet: openpyxl for .xlsx, python-calamine for the old .xls (the
    reader pandas recommends; xlrd's engine is deprecated there)."""
    return ("calamine", ".xls") if Path(path).suffix.lower() == ".xls" else ("openpyxl", ".xlsx")


def excel_sheets(path: Path) -> list[str]:
    engine, kind = _engine(path)
    try:
        with pd.ExcelFile(path, engine=engine) as xf:
            return list(xf.sheet_names)
    except ImportError as exc:
        raise DataError(path, f"python-calamine installed to read {kind} spreadsheets (a melib dependency)",
                        str(exc)) from None
    except Exception as exc:  # the readers raise many kinds on a bad file
        raise DataError(path, f"a readable {kind} spreadsheet", f"{type(exc).__name__}: {exc}") from None


def read_raw_sheet(path: Path, sheet: str | int = 0) -> pd.DataFrame:
    """A sheet read without a header row, cells as written."""
    engine, kind = _engine(path)
    try:
        return pd.read_excel(path, sheet_name=sheet, header=None, engine=engine, dtype=object)
    except ImportError as exc:
        raise DataError(path, f"python-calamine installed to read {kind} spreadsheets (a melib dependency)",
                        str(exc)) from None
    except Exception as exc:
        raise DataError(path, f"a readable {kind} spreadsheet with sheet {sheet!r}",
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


_NOT_ANNOTATED = {"/", "-", "-1", "0", "?"}


def frame_cell(value) -> tuple[int | None, str | None]:
    """A frame-number cell: (number, None), or (None, why) quoting what is written when it is no frame number."""
    n = to_int(value)
    if n is not None and n > 0:
        return n, None
    written = text(value)
    if not written:
        return None, "not annotated"
    if written in _NOT_ANNOTATED:
        return None, f"not annotated (written {written!r})"
    return None, f"{written!r} is not a frame number"


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


@dataclass(frozen=True)
class KnownFix:
    """A known error of a release's sheet, keyed to its clip: cell ``field`` of clip ``subject``/``clip`` holds
    ``found`` and means ``value`` (``why``). Applied only where the sheet holds ``found``."""
    subject: str
    clip: str
    field: str
    found: object
    value: object
    why: str


def _same(cell, want) -> bool:
    got = to_int(cell)
    return got == want if isinstance(want, int) and got is not None else text(cell) == text(want)


def apply_known_fixes(log: Log, table: pd.DataFrame, fixes: Iterable[KnownFix], key) -> None:
    """Apply each known fix to its clip's row of ``table`` (changed in place; ``key(row) -> (subject, clip)``),
    logged with its reason. A fix whose clip is absent or whose cell holds something else is not applied and is
    reported (a fix entry with ``applied=False``): the sheet is not the one the fix was written for."""
    where = {key(r): i for i, r in table.iterrows()}
    for k in fixes:
        i = where.get((k.subject, k.clip))
        if i is None:
            log.fix(k.subject, k.clip, f"known fix of {k.field} not applied: no row for this clip ({k.why})",
                    field=k.field, applied=False)
        elif not _same(table.at[i, k.field], k.found):
            log.fix(k.subject, k.clip, f"known fix of {k.field} not applied: the sheet has "
                                       f"{text(table.at[i, k.field])!r} where {k.found!r} was expected ({k.why})",
                    field=k.field, applied=False)
        else:
            log.fix(k.subject, k.clip, f"{k.field} {k.found!r} read as {k.value!r}: {k.why}", field=k.field,
                    old=k.found, new=k.value, applied=True)
            table.at[i, k.field] = k.value


def clip_frames(log: Log, subject: str, clip: str, folder: Path, prefer: Iterable[str] = ()) -> list[Path] | None:
    """The frames of one clip folder: one naming set, macOS AppleDouble ``._*`` files left out (a logged fix).

    A folder holding several sets (raw ``img*.jpg`` and cropped ``reg_img*.jpg`` unpacked together) keeps the
    first set of ``prefer`` present, logging the files left out; without such a rule the clip is excluded.
    """
    frames, apple = scan(folder)
    if apple:
        log.fix(subject, clip, f"{apple} macOS AppleDouble file(s) (._*) ignored", field="frames")
    sets = frame_sets(frames)
    if len(sets) <= 1:
        return frames
    chosen = next((p for p in prefer if p in sets), None)
    others = ", ".join(f"{k}: {len(v)}" for k, v in sets.items())
    if chosen is None:
        log.exclude(subject, clip, f"folder {folder} holds {len(sets)} sets of frames ({others}); which one is the "
                                   f"clip is ambiguous")
        return None
    left = [k for k in sets if k != chosen]
    log.fix(subject, clip, f"{sum(len(sets[k]) for k in left)} frame file(s) of another set ({', '.join(left)}) "
                           f"ignored; the clip is the {chosen} set", field="frames")
    return sets[chosen]


def resolve_clip(log: Log, subject: str, clip: str, frames: list[Path], onset: int | None,
                 apex: int | None, offset: int | None, annotated: bool = True, unread: dict | None = None,
                 cut: bool = False, apex_column: bool = True):
    """Reconcile an annotation with the frames on disk.

    Returns ``(frames, onset, apex, offset, apex_estimated, annotated_bounds)`` or None when the clip is excluded.
    Unambiguous fixes (onset before the first frame on disk or offset after the last: clamp to the
    folder; onset or offset missing or not a frame number: the folder's first or last frame; apex missing or
    outside onset..offset: the middle frame, flagged as estimated) are logged; anything else is an exclusion.
    ``unread`` says, per field, why a cell gave no number (``frame_cell``), quoting what is written.
    ``annotated=False`` (a release that annotates nothing, SMIC): the folder is the clip and nothing is logged;
    ``apex_column=False`` (a release that annotates no apex, CAS(ME)³ C): the middle frame, not logged per clip.
    A clip folder holding frames before the onset or after the offset is cut to onset..offset and the frames
    left out are logged (a fix with ``trimmed=(before, after)``): the sheet's bound may be a typo. ``cut``:
    the folder holds more than the clip by design (a whole recording the clips are cut from, CAS(ME)² and
    CAS(ME)³ A; the lead-in and lead-out frames melib's synthetic sets render), so cutting is not reported.
    """
    if not frames:
        log.exclude(subject, clip, "no frames on disk")
        return None
    unread = unread or {}
    numbers = [frame_number(f) for f in frames]
    first, last = numbers[0], numbers[-1]
    if not annotated:
        onset, offset = first, last
    bounds = (onset if onset and onset > 0 else None, offset if offset and offset > 0 else None)
    if onset is None or onset <= 0:
        log.fix(subject, clip, f"onset {unread.get('onset', 'not annotated')}; first frame on disk ({first}) used",
                field="onset", old=onset, new=first)
        onset = first
    if offset is None or offset <= 0:
        log.fix(subject, clip, f"offset {unread.get('offset', 'not annotated')}; last frame on disk ({last}) used",
                field="offset", old=offset, new=last)
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
    before, after = sum(n < onset for n in numbers), sum(n > offset for n in numbers)
    if (before or after) and not cut:
        parts = [f"{before} frame(s) before the onset {onset} (from {first})"] * bool(before) + \
                [f"{after} frame(s) after the offset {offset} (up to {last})"] * bool(after)
        log.fix(subject, clip, f"folder holds {' and '.join(parts)}; left out, the clip is onset..offset as the "
                               f"sheet says (check the sheet for a typo)", field="frames", trimmed=(before, after))
    gap = (offset - onset + 1) - len(kept)
    if gap > 0:
        log.fix(subject, clip, f"{gap} frame(s) missing between onset {onset} and offset {offset}; "
                               f"the clip keeps the {len(kept)} on disk", field="frames")
    estimated = False
    if apex is None or apex <= 0 or not onset <= apex <= offset or apex not in {frame_number(f) for f in kept}:
        middle = frame_number(kept[(len(kept) - 1) // 2])
        if annotated and apex_column:
            if apex is not None and onset <= apex <= offset:
                why = f"apex {apex} not among the clip's frames"
            elif apex is not None and apex > 0:
                why = f"apex {apex} outside onset..offset {onset}..{offset}"
            else:
                why = f"apex {unread.get('apex', 'not annotated')}"
            log.fix(subject, clip, f"{why}; middle frame {middle} used (apex_estimated)", field="apex",
                    old=apex, new=middle)
        apex, estimated = middle, True
    return [str(f) for f in kept], onset, apex, offset, estimated, bounds


def apex_placeholder(log: Log, subject: str, clip: str, apex: int, bounds, fps: float) -> bool:
    """Is an annotated apex a placeholder: on the annotated onset or offset, or within ``PLACEHOLDER_MS`` of one
    (the releases' boundary apexes, e.g. CASME II sub05 EP09_05f, SAMM 032_3_2)? Logged as a fix."""
    for name, b in zip(("onset", "offset"), bounds):
        if b is None or abs(apex - b) * 1000.0 / fps > PLACEHOLDER_MS:
            continue
        where = (f"on the {name} ({b})" if apex == b
                 else f"within {PLACEHOLDER_MS:g} ms of the {name} ({b}) at {fps} fps")
        log.fix(subject, clip, f"apex {apex} {where}: a boundary placeholder, not a measured apex (apex_placeholder)",
                field="apex_placeholder", old=apex, new=True)
        return True
    return False


def clip_row(log: Log, subject: str, clip: str, resolved, aus: str, emotion: str, objective, fps: int,
             synthetic: bool, has_aus: bool = True) -> dict:
    """One samples-table row. An objective class that is not I-VII, and an AU cell listing alternatives
    (``'R6 or R12'``: ``au_set`` keeps the AUs every alternative has), are logged fixes; the class is derived
    from the AUs (``labels.derived_objective``) where the release writes none."""
    frames, onset, apex, offset, estimated, bounds = resolved
    cls, why = normalise_objective(objective), None
    if cls is None and has_aus:
        cls, why = derived_objective(aus)
        if text(objective):
            got = f"derived from the AUs {aus!r}: {cls}" if cls else f"none derived from the AUs {aus!r} ({why})"
            log.fix(subject, clip, f"objective class {objective!r} is not one of I-VII; {got}",
                    field="objective_class", old=objective, new=cls)
    readings = au_readings(aus)
    au_set = certain_aus(aus)
    if len(readings) > 1:
        alts = " | ".join("+".join(map(str, sorted(r))) or "none" for r in readings)
        kept = "+".join(map(str, sorted(au_set))) or "none"
        log.fix(subject, clip, f"AUs {aus!r} list alternatives ({alts}); au_set keeps the AUs of every one ({kept})"
                               + (f"; no objective class: {why}" if cls is None and why else ""),
                field="aus", old=aus, new=sorted(au_set))
    placeholder = not estimated and not synthetic and apex_placeholder(log, subject, clip, apex, bounds, fps)
    return {"dataset": log.dataset, "subject": f"{log.dataset}/{subject}", "clip": clip, "onset": onset,
            "apex": apex, "offset": offset, "apex_estimated": estimated, "apex_placeholder": placeholder,
            "n_frames": len(frames), "aus": aus, "au_set": au_set, "emotion": emotion.lower(),
            "objective_class": cls, "fps": fps, "frames": frames, "synthetic": synthetic}


def samples_frame(rows: list[dict], log: Log, **attrs) -> pd.DataFrame:
    """The samples table (``COLUMNS``) with the fixes and exclusions in ``attrs`` (and the ``attrs`` given,
    those that are not None)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("onset", "apex", "offset", "n_frames", "fps"):
        df[col] = df[col].astype("int64")
    for col in ("apex_estimated", "apex_placeholder", "synthetic"):
        df[col] = df[col].astype(bool)
    for col in ("au_set", "frames", "objective_class"):
        df[col] = df[col].astype(object)
    df = df.sort_values(["subject", "clip"], kind="stable").reset_index(drop=True)
    df.attrs["fixes"] = list(log.fixes)
    df.attrs["exclusions"] = list(log.exclusions)
    df.attrs.update({k: (str(v) if isinstance(v, Path) else v) for k, v in attrs.items() if v is not None})
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
                apex=None, used: set | None = None, prefer: Iterable[str] = (), subject=subject_number,
                name=None, cut: bool = False, apex_column: bool = True) -> tuple[list[dict], set]:
    """The clip rows of a coding sheet (CASME, CASME II, SAMM, CAS(ME)³, 4DME, MMEW).

    ``locate(subject, clip) -> (subject folder name, folder or None, why)`` finds a row's folder, given the
    subject cell as ``subject(cell)`` reads it (default: its number) and the clip name (``name(row)``, default
    column ``clip``); ``apex(row)`` reads its apex cell (default: column ``apex``; ``apex_column=False``: the
    release has none); ``prefer`` goes to ``clip_frames``. ``cut``: the folders are whole recordings that several
    rows cut clips from. Rows without a subject or file name, without a folder, or repeating a clip (also one
    already in ``used``) are exclusions. Returns the rows and the folders (or, with ``cut``, clips) used.
    """
    rows, used = [], set() if used is None else used
    for line, r in table.iterrows():
        n, clip = subject(r["subject"]), (name(r) if name else text(r["clip"]))
        if n is None or n == "" or not clip:
            log.exclude(text(r["subject"]), clip, f"{sheet.name} row {line}: no subject or file name")
            continue
        sub, folder, why = locate(n, clip)
        if folder is None:
            log.exclude(sub, clip, why)
            continue
        key = (folder, clip) if cut else folder
        if key in used:
            log.exclude(sub, clip, f"{sheet.name} row {line}: a second row for the same clip")
            continue
        used.add(key)
        frames = clip_frames(log, sub, clip, folder, prefer)
        if frames is None:
            continue
        cells = {"onset": frame_cell(r["onset"]), "offset": frame_cell(r["offset"]),
                 "apex": frame_cell(apex(r) if apex else r["apex"]) if apex_column else (None, None)}
        res = resolve_clip(log, sub, clip, frames, *(cells[k][0] for k in ("onset", "apex", "offset")),
                           unread={k: why for k, (_, why) in cells.items() if why}, cut=cut or synthetic,
                           apex_column=apex_column)
        if res is not None:
            rows.append(clip_row(log, sub, clip, res, text(r["aus"]), text(r["emotion"]), r.get("objective"),
                                 fps, synthetic))
    return rows, used


def clip_folders(subjects: Iterable[Path]) -> list[tuple[str, Path]]:
    """(subject folder name, clip folder) for every sub-folder of the given subject folders."""
    return [(s.name, c) for s in subjects for c in sorted(s.iterdir()) if c.is_dir()]

"""CAS(ME)²: long videos ``rawpic/s15/15_0101disgustingteeth/img1.jpg`` and ``CAS(ME)^2code_final.xlsx``.

The code sheet has no header row: subject id, expression name (e.g. ``anger1_1``), onset, apex, offset
(0 = unknown), AUs, emotion, expression type (macro/micro), self-report. Sheet ``naming rule1`` maps the
subject id to its folder (``s15``) and file prefix (``15``); ``naming rule2`` maps the video name
(``anger1``) to its code (``0401``). Only micro-expression rows are clips (30 fps).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ._common import (Log, _norm, clip_frames, clip_row, excel_sheets, existing_dir, find_dir, frame_cell,
                      pick_sheet, read_raw_sheet, resolve_clip, samples_frame, spreadsheets, text, to_int)

DATASET = "casme_sq"
FPS = 30
SHEET = spreadsheets("CAS(ME)*code*", "CASME*2*code*")
CODE_COLUMNS = "subject id, expression name, onset, apex, offset, AUs, emotion, expression type, self-report"


def _naming(path: Path, names: list[str]):
    by_norm = {_norm(n): n for n in names}
    for want in ("namingrule1", "namingrule2"):
        if want not in by_norm:
            raise DataError(path, "sheets 'naming rule1' and 'naming rule2'", ", ".join(names))
    subjects = {}
    for r in read_raw_sheet(path, by_norm["namingrule1"]).itertuples(index=False):
        if len(r) >= 3 and to_int(r[2]) is not None:
            prefix = to_int(r[1])
            subjects[to_int(r[2])] = (text(r[0]), str(prefix) if prefix is not None else text(r[1]))
    videos = {}
    for r in read_raw_sheet(path, by_norm["namingrule2"]).itertuples(index=False):
        if len(r) >= 2 and text(r[1]):
            code = to_int(r[0])
            videos[text(r[1]).lower()] = f"{code:04d}" if code is not None else text(r[0])
    if not subjects or not videos:
        raise DataError(path, "naming rule1 rows (folder, prefix, subject id) and naming rule2 rows (code, name)",
                        "empty sheets")
    return subjects, videos


def _kind(cell) -> str:
    """``micro`` / ``macro`` from an expression-type cell, else what is written."""
    written = text(cell).lower()
    return next((k for k in ("micro", "macro") if k in written), written)


def load(root, annotation=None, synthetic: bool = False):
    """CAS(ME)² micro-expression clips cut from the long videos.

    An unknown offset (0) with a known apex is set to apex + (apex − onset) (a symmetric estimate, logged as
    a fix); an unknown onset, or an unknown offset with an unknown apex, is an exclusion. Rows whose subject
    id or expression type cannot be read are exclusions quoting the cell; rows with no number in the subject
    and frame cells are title rows (counted in ``attrs["title_rows"]``)."""
    root = existing_dir(root, "CAS(ME)² (rawpic/ and CAS(ME)^2code_final.xlsx)")
    rawpic = find_dir(root, ("rawpic",), "CAS(ME)² frames")
    path, note = pick_sheet(root, SHEET, "CAS(ME)² code sheet", annotation)
    names = excel_sheets(path)
    subjects, videos = _naming(path, names)
    code_sheet = next((n for n in names if not _norm(n).startswith("namingrule")), None)
    raw = read_raw_sheet(path, code_sheet)
    if raw.shape[1] < 8:
        raise DataError(path, f"a code sheet {code_sheet!r} with columns {CODE_COLUMNS}", f"{raw.shape[1]} columns")
    log = Log(DATASET)
    rows, seen, not_micro, titles = [], set(), 0, 0
    for line, r in enumerate(raw.itertuples(index=False), start=1):
        sid, clip = to_int(r[0]), text(r[1])
        if sid is None or not clip:
            if not any(to_int(v) is not None for v in (r[0], r[2], r[3], r[4])):
                titles += bool(text(r[0]) or clip)  # blank rows are not counted
                continue
            log.exclude(text(r[0]), clip, f"{path.name} row {line}: subject id {text(r[0])!r} or expression name "
                                          f"{clip!r} cannot be read")
            continue
        kind = _kind(r[7])
        if kind == "macro":
            not_micro += 1
            continue
        if kind != "micro":
            log.exclude(str(sid), clip, f"{path.name} row {line}: expression type {text(r[7])!r} is neither "
                                        f"micro- nor macro-expression")
            continue
        if sid not in subjects:
            log.exclude(str(sid), clip, f"{path.name} row {line}: subject id {sid} not in naming rule1")
            continue
        folder_name, prefix = subjects[sid]
        subject = folder_name or f"s{prefix}"
        video = videos.get(clip.rsplit("_", 1)[0].lower())
        if video is None:
            log.exclude(subject, clip, f"{path.name} row {line}: video name {clip.rsplit('_', 1)[0]!r} "
                                       f"not in naming rule2")
            continue
        if (subject, clip) in seen:
            log.exclude(subject, clip, f"{path.name} row {line}: a second row for the same clip")
            continue
        seen.add((subject, clip))
        sub_dir = rawpic / subject
        pattern = f"{prefix}_{video}*"
        dirs = [p for p in (sub_dir.glob(pattern) if sub_dir.is_dir() else rawpic.glob(f"*/{pattern}")) if p.is_dir()]
        if len(dirs) != 1:
            log.exclude(subject, clip, f"{len(dirs)} folders match {sub_dir / pattern}")
            continue
        (onset, on_why), (apex, apex_why), (offset, off_why) = (frame_cell(v) for v in (r[2], r[3], r[4]))
        if onset is None:
            log.exclude(subject, clip, f"{path.name} row {line}: onset {on_why}")
            continue
        if offset is None:
            if apex is None or apex <= onset:
                log.exclude(subject, clip, f"{path.name} row {line}: offset {off_why} and no apex after the onset")
                continue
            offset = apex + (apex - onset)
            log.fix(subject, clip, f"offset {off_why}; set to apex + (apex - onset) = {offset} (an estimate)",
                    field="offset", old=r[4], new=offset)
        frames = clip_frames(log, subject, clip, dirs[0])
        res = None if frames is None else resolve_clip(log, subject, clip, frames, onset, apex, offset,
                                                       unread={"apex": apex_why} if apex_why else None,
                                                       cut=True)
        if res is not None:
            rows.append(clip_row(log, subject, clip, res, text(r[5]), text(r[6]), None, FPS, synthetic))
    return samples_frame(rows, log, root=root, annotation=path, frames_dir=rawpic, not_micro_rows=not_micro,
                         title_rows=titles, annotation_note=note)

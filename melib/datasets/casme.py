"""CASME: ``CASME_A/Section A/sub01/EP01_5/...`` and ``CASME_B/Section B/...``; coding sheet(s) with
Subject, Filename, OnsetF, ApexF1, ApexF2, OffsetF, AUs, Emotion (60 fps)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ._common import (Log, clip_folders, coded_clips, excel_sheets, existing_dir, find_files, read_table,
                      samples_frame, spreadsheets, to_int, unannotated_folders)

DATASET = "casme"
FPS = 60
SHEETS = spreadsheets("*CASME*cod*")  # the original release ships .xls
COLUMNS = {
    "subject": ("Subject",), "clip": ("Filename",), "onset": ("OnsetF", "Onset Frame", "OnsetFrame"),
    "apex1": ("ApexF1", "ApexF", "Apex Frame"), "apex2": ("ApexF2",), "offset": ("OffsetF", "Offset Frame"),
    "aus": ("AUs", "Action Units"), "emotion": ("Emotion", "Estimated Emotion"),
}


def sections(root: Path) -> list[Path]:
    """The ``Section A`` / ``Section B`` folders (directly in root or one level down, e.g. CASME_A/)."""
    found = sorted({p for pat in ("Section *", "*/Section *") for p in root.glob(pat) if p.is_dir()})
    if not found:
        raise DataError(root, "CASME folders 'Section A'/'Section B' (e.g. CASME_A/Section A/sub01/EP01_5/)", "none")
    return found


def _apex(row):
    """ApexF1, else ApexF2."""
    first = to_int(row["apex1"])
    return row["apex1"] if first is not None and first > 0 else row["apex2"]


def load(root, synthetic: bool = False):
    """CASME clips from both sections. A row's folder is ``<section>/sub<NN>/<Filename>`` in whichever section
    holds it; the apex is ApexF1, else ApexF2. Onsets and offsets outside the frames on disk are clamped,
    intervals wholly outside are excluded. Every sheet of every coding workbook with the columns is read."""
    root = existing_dir(root, "CASME (CASME_A/Section A/, CASME_B/Section B/ and the coding sheet)")
    secs = sections(root)
    sheets = find_files(root, SHEETS, "the CASME coding sheet")

    def locate(n, clip):
        subject = f"sub{n:02d}"
        folders = [s / subject / clip for s in secs if (s / subject / clip).is_dir()]
        if len(folders) == 1:
            return subject, folders[0], ""
        return subject, None, f"folder {subject}/{clip} {'in no section' if not folders else 'in both sections'}"

    log = Log(DATASET)
    rows, used = [], set()
    for sheet in sheets:
        for table in _tables(sheet):
            rows += coded_clips(log, table, sheet, locate, FPS, synthetic, apex=_apex, used=used)[0]
    unannotated_folders(log, clip_folders(s for sec in secs for s in sorted(sec.iterdir()) if s.is_dir()), used)
    return samples_frame(rows, log, root=root, annotation=[str(s) for s in sheets])


def _tables(sheet: Path):
    """Every sheet of a coding workbook that has the CASME columns (Section A and B may be separate sheets)."""
    out, first_error = [], None
    for name in excel_sheets(sheet):
        try:
            out.append(read_table(sheet, COLUMNS, sheet=name))
        except DataError as exc:
            first_error = first_error or exc
    if not out:
        raise first_error
    return out

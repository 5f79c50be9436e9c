"""CAS(ME)³ part C: ``ME_C/01/1/color/<N>.jpg`` and ``CAS(ME)3_part_C_ME.xlsx`` with columns sub, count, onset,
offset, au (comma-separated), emotion and no apex (30 fps): the middle frame stands in (``apex_estimated``)."""
from __future__ import annotations

from ._common import (KnownFix, Log, apply_known_fixes, coded_clips, existing_dir, find_dir, pick_sheet,
                      read_table, samples_frame, spreadsheets, subject_number, text)

DATASET = "casme3c"
FPS = 30
SHEET = spreadsheets("CAS(ME)3_part_C_ME*")
FRAME_DIRS = ("ME_C",)
COLUMNS = {"subject": ("sub", "Subject"), "clip": ("count", "Filename"), "onset": ("onset", "Onset"),
           "offset": ("offset", "Offset"), "aus": ("au", "AU", "AUs"), "emotion": ("emotion", "Emotion")}
OPTIONAL = {"objective": ("Objective class", "Objective Class")}
KNOWN_FIXES: tuple[KnownFix, ...] = ()


def load(root, annotation=None, synthetic: bool = False, known_fixes=None):
    """CAS(ME)³ part C micro-expression clips; subject ``1`` is folder ``01`` (``casme3c/01``), clip ``count``
    its folder (frames in its ``color/`` when there is one). The sheet has no apex: every clip's apex is its
    middle frame, flagged ``apex_estimated`` (said once, in ``attrs["note"]``, not per clip)."""
    root = existing_dir(root, "CAS(ME)³ part C (ME_C/ and CAS(ME)3_part_C_ME.xlsx)")
    frames = find_dir(root, FRAME_DIRS, "CAS(ME)³ part C frames")
    sheet, note = pick_sheet(root, SHEET, "CAS(ME)³ part C ME sheet", annotation)
    table = read_table(sheet, COLUMNS, optional=OPTIONAL)
    log = Log(DATASET)
    apply_known_fixes(log, table, KNOWN_FIXES if known_fixes is None else known_fixes,
                      key=lambda r: (f"{subject_number(r['subject']) or 0:02d}", text(r["clip"])))

    def locate(n, clip):
        folder = frames / f"{n:02d}" / clip
        found = folder / "color" if (folder / "color").is_dir() else folder if folder.is_dir() else None
        return f"{n:02d}", found, f"folder {folder} not found"

    rows, _ = coded_clips(log, table, sheet, locate, FPS, synthetic, apex_column=False)
    return samples_frame(rows, log, root=root, annotation=sheet, frames_dir=frames, annotation_note=note,
                         note="CAS(ME)³ part C annotates no apex: every clip's apex is its middle frame "
                              "(apex_estimated)")

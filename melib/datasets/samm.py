"""SAMM: ``SAMM/006/006_1_2/006_05562.jpg`` and ``SAMM_Micro_FACS_Codes_v2.xlsx`` sheet MICRO_ONLY (200 fps)."""
from __future__ import annotations

from ._common import (Log, clip_folders, coded_clips, excel_sheets, existing_dir, pick_sheet, read_table,
                      require_subjects, samples_frame, spreadsheets, unannotated_folders)

DATASET = "samm"
FPS = 200
SHEET = spreadsheets("SAMM_Micro_FACS_Codes*")
SHEET_NAME = "MICRO_ONLY"
COLUMNS = {
    "subject": ("Subject",), "clip": ("Filename",), "onset": ("Onset Frame", "OnsetFrame"),
    "apex": ("Apex Frame", "ApexFrame"), "offset": ("Offset Frame", "OffsetFrame"),
    "aus": ("Action Units", "AUs"), "emotion": ("Estimated Emotion", "Emotion"),
}
OPTIONAL = {"objective": ("Objective Classes", "Objective Class")}


def load(root, annotation=None, synthetic: bool = False):
    """SAMM micro-expression clips. The header row is found below any notes; Subject ``6`` is folder ``006``.
    An apex of -1 or blank becomes the middle frame, flagged ``apex_estimated``. ``annotation`` picks the
    FACS codes workbook; of several versioned ones (``_v2``) the newest is read, with a warning."""
    root = existing_dir(root, "SAMM (SAMM/ and SAMM_Micro_FACS_Codes_v2.xlsx)")
    frames = root / "SAMM" if (root / "SAMM").is_dir() else root
    subjects = require_subjects(frames, str.isdigit, "SAMM subject folders like 006/")
    sheet, note = pick_sheet(root, SHEET, "SAMM FACS codes workbook", annotation)
    names = excel_sheets(sheet)
    sheet_name = SHEET_NAME if SHEET_NAME in names else names[0]
    table = read_table(sheet, COLUMNS, sheet=sheet_name, optional=OPTIONAL)

    def locate(n, clip):
        folder = frames / f"{n:03d}" / clip
        return f"{n:03d}", folder if folder.is_dir() else None, f"folder {folder} not found"

    log = Log(DATASET)
    rows, used = coded_clips(log, table, sheet, locate, FPS, synthetic)
    unannotated_folders(log, clip_folders(subjects), used)
    return samples_frame(rows, log, root=root, annotation=sheet, annotation_sheet=sheet_name,
                         frames_dir=frames, annotation_note=note)

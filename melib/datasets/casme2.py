"""CASME II: ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` and ``CASME2-coding-*.xlsx`` (200 fps)."""
from __future__ import annotations

from ._common import (Log, clip_folders, coded_clips, existing_dir, find_dir, pick_sheet, read_table,
                      require_subjects, samples_frame, spreadsheets, unannotated_folders)

DATASET = "casme2"
FPS = 200
FRAME_DIRS = ("CASME2_RAW_selected", "CASME2_RAW", "CASME2_Cropped", "Cropped")
SHEET = spreadsheets("CASME2-coding-*")
COLUMNS = {
    "subject": ("Subject",), "clip": ("Filename",), "onset": ("OnsetFrame", "Onset Frame"),
    "apex": ("ApexFrame", "Apex Frame"), "offset": ("OffsetFrame", "Offset Frame"),
    "aus": ("Action Units", "AUs"), "emotion": ("Estimated Emotion", "Emotion"),
}
OPTIONAL = {"objective": ("Objective Classes", "Objective Class")}


def load(root, frames_dir: str | None = None, annotation=None, synthetic: bool = False):
    """CASME II clips. ``frames_dir`` picks the frame folder (default: the first of ``FRAME_DIRS`` found,
    so the raw release before the cropped one); a clip folder holding both raw ``img*.jpg`` and cropped
    ``reg_img*.jpg`` frames keeps the set of its frame folder (cropped in a ``*Cropped`` folder).
    ``annotation`` picks the coding sheet; of several dated ones the newest is read, with a warning.
    An ApexFrame written ``/`` (sub04 EP12_01f) becomes the middle frame, flagged ``apex_estimated``."""
    root = existing_dir(root, "CASME II (CASME2_RAW_selected/ and CASME2-coding-*.xlsx)")
    frames = find_dir(root, (frames_dir,) if frames_dir else FRAME_DIRS, "CASME II frames")
    subjects = require_subjects(frames, lambda n: n.startswith("sub"), "CASME II subject folders like sub01/")
    sheet, note = pick_sheet(root, SHEET, "CASME II coding sheet", annotation)
    table = read_table(sheet, COLUMNS, optional=OPTIONAL)
    prefer = ("reg_img*.jpg", "img*.jpg") if "crop" in frames.name.lower() else ("img*.jpg", "reg_img*.jpg")

    def locate(n, clip):
        folder = frames / f"sub{n:02d}" / clip
        return f"sub{n:02d}", folder if folder.is_dir() else None, f"folder {folder} not found"

    log = Log(DATASET)
    rows, used = coded_clips(log, table, sheet, locate, FPS, synthetic, prefer=prefer)
    unannotated_folders(log, clip_folders(subjects), used)
    return samples_frame(rows, log, root=root, annotation=sheet, frames_dir=frames, annotation_note=note)

"""MMEW: ``Micro_Expression/<emotion>/<Filename>/<N>.jpg`` and ``MMEW_Micro_Exp.xlsx`` with columns Subject,
Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion, remarks (90 fps)."""
from __future__ import annotations

from ._common import (KnownFix, Log, apply_known_fixes, clip_folders, coded_clips, existing_dir, find_dir,
                      pick_sheet, read_table, samples_frame, spreadsheets, subject_number, text,
                      unannotated_folders)

DATASET = "mmew"
FPS = 90
SHEET = spreadsheets("MMEW_Micro_Exp*")
FRAME_DIRS = ("Micro_Expression",)
COLUMNS = {"subject": ("Subject",), "clip": ("Filename",), "onset": ("OnsetFrame", "Onset Frame"),
           "apex": ("ApexFrame", "Apex Frame"), "offset": ("OffsetFrame", "Offset Frame"),
           "aus": ("Action Units", "AUs"), "emotion": ("Estimated Emotion", "Emotion")}
# 16 rows carry a missing or wrong apex or offset; a peer toolkit (meb) overwrites them by row position with its
# own optical-flow estimates. melib reads them by its logged rules (apex missing or outside the clip: the middle
# frame, apex_estimated; offset missing: the folder's last frame; offset past the folder: clamped; offset before
# the onset: excluded) and keeps clip-keyed fixes here, none known yet.
KNOWN_FIXES: tuple[KnownFix, ...] = ()


def load(root, annotation=None, synthetic: bool = False, known_fixes=None):
    """MMEW micro-expression clips; subject ``13`` is ``mmew/S13``. A row's folder is
    ``Micro_Expression/<emotion>/<Filename>`` under the emotion the sheet gives; a folder found under another
    emotion is used and logged (the label stays the sheet's)."""
    root = existing_dir(root, "MMEW (Micro_Expression/ and MMEW_Micro_Exp.xlsx)")
    frames = find_dir(root, FRAME_DIRS, "MMEW micro-expression frames")
    emotions = sorted(p for p in frames.iterdir() if p.is_dir())
    sheet, note = pick_sheet(root, SHEET, "MMEW micro-expression sheet", annotation)
    table = read_table(sheet, COLUMNS)
    log = Log(DATASET)
    apply_known_fixes(log, table, KNOWN_FIXES if known_fixes is None else known_fixes,
                      key=lambda r: (f"S{subject_number(r['subject']) or 0:02d}", text(r["clip"])))
    emotion_of = dict(zip(table["clip"].map(text), table["emotion"].map(text)))

    def locate(n, clip):
        subject, said = f"S{n:02d}", emotion_of.get(clip, "")
        found = [e / clip for e in emotions if (e / clip).is_dir()]
        mine = [f for f in found if f.parent.name.lower() == said.lower()]
        if mine or len(found) == 1:
            folder = (mine or found)[0]
            if not mine:
                log.fix(subject, clip, f"folder under {folder.parent.name}/ while the sheet says {said!r}; the "
                                       f"label stays the sheet's", field="frames")
            return subject, folder, ""
        where = "in no emotion folder" if not found else f"in {len(found)} emotion folders"
        return subject, None, f"folder {clip} {where} of {frames}"

    rows, used = coded_clips(log, table, sheet, locate, FPS, synthetic)
    unannotated_folders(log, [("", c) for _, c in clip_folders(emotions)], used)
    return samples_frame(rows, log, root=root, annotation=sheet, frames_dir=frames, annotation_note=note)

"""CAS(ME)³ part A: whole recordings ``part_A/data/part_A_split/part_A/spNO.1/a/color/0.jpg`` and
``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (sheet ``label``), whose frame indices are the jpg numbers
(30 fps). Each row cuts one clip out of a recording; a recording holds several, so a clip is named
``<Filename>_<Onset>`` (``a_160``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ._common import (KnownFix, Log, apply_known_fixes, coded_clips, excel_sheets, existing_dir, pick_sheet,
                      read_table, samples_frame, spreadsheets, text, to_int)

DATASET = "casme3a"
FPS = 30
SHEET = spreadsheets("cas(me)3_part_A_ME_label_JpgIndex*")
SHEET_NAME = "label"
FRAME_DIRS = (("data", "part_A_split", "part_A"), ("part_A", "data", "part_A_split", "part_A"), ("part_A",), ())
COLUMNS = {"subject": ("Subject",), "clip": ("Filename",), "onset": ("Onset",), "apex": ("Apex",),
           "offset": ("Offset",), "aus": ("AU", "AUs", "Action Units"), "emotion": ("emotion", "Emotion")}
OPTIONAL = {"objective": ("Objective class", "Objective Class", "Objective Classes"),
            "kind": ("Expression type",)}
# Known errors of the v2 sheet, keyed to their clip. A peer toolkit (meb) patches six rows by position; melib
# cannot key those to clips without the sheet, so the list is empty and the generic logged rules apply.
KNOWN_FIXES: tuple[KnownFix, ...] = ()


def frames_root(root: Path) -> Path:
    """The folder holding the subject folders (``spNO.1/``), in the release's place or given directly."""
    for parts in FRAME_DIRS:
        cand = root.joinpath(*parts)
        if cand.is_dir() and any(p.is_dir() and p.name.lower().startswith("spno") for p in cand.iterdir()):
            return cand
    raise DataError(root, "CAS(ME)³ part A recordings: subject folders like spNO.1/ in "
                          "data/part_A_split/part_A/ (or in the root)", "none")


def clip_name(row) -> str:
    """``<Filename>_<Onset>``: a recording (``a``) holds several clips."""
    onset = to_int(row["onset"])
    return f"{text(row['clip'])}_{onset if onset is not None else text(row['onset'])}"


def load(root, annotation=None, synthetic: bool = False, known_fixes=None):
    """CAS(ME)³ part A micro-expression clips cut from the recordings' ``color/`` frames by the sheet's jpg
    indices. Rows of another expression type (when the sheet has the column) are counted in
    ``attrs["not_micro_rows"]``. ``known_fixes`` replaces :data:`KNOWN_FIXES` (clip-keyed, checked against
    the cell they expect)."""
    root = existing_dir(root, "CAS(ME)³ part A (data/part_A_split/part_A/ and the ME label sheet)")
    frames = frames_root(root)
    sheet, note = pick_sheet(root, SHEET, "CAS(ME)³ part A ME label sheet", annotation)
    names = excel_sheets(sheet)
    sheet_name = SHEET_NAME if SHEET_NAME in names else names[0]
    table = read_table(sheet, COLUMNS, sheet=sheet_name, optional=OPTIONAL)
    not_micro = 0
    if "kind" in table:
        micro = table["kind"].map(lambda v: "micro" in text(v).lower())
        not_micro, table = int((~micro).sum()), table[micro].copy()
    log = Log(DATASET)
    apply_known_fixes(log, table, KNOWN_FIXES if known_fixes is None else known_fixes,
                      key=lambda r: (text(r["subject"]), clip_name(r)))

    def locate(subject, clip):
        folder = frames / subject / clip.rsplit("_", 1)[0]
        color = folder / "color"
        found = color if color.is_dir() else folder if folder.is_dir() else None
        return subject, found, f"recording {color} not found"

    rows, _ = coded_clips(log, table, sheet, locate, FPS, synthetic, subject=text, name=clip_name, cut=True)
    return samples_frame(rows, log, root=root, annotation=sheet, annotation_sheet=sheet_name, frames_dir=frames,
                         annotation_note=note, not_micro_rows=not_micro)

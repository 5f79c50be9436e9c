"""4DME: grey frontal frames ``gray_micro/<sub_ID>/<fold_name>/<N>.jpg`` and
``4DME_Labelling_Micro_release v1.xlsx`` with columns sub_ID, fold_name, Onset, Apex, Offset, AUs, Emotion
(60 fps). AUs marked ``(k)`` (``AU4+AU12(k)``) are read as ``k_aus`` says."""
from __future__ import annotations

import re

from ..errors import ConfigError
from ._common import (KnownFix, Log, apply_known_fixes, clip_folders, coded_clips, existing_dir, find_dir,
                      pick_sheet, read_table, require_subjects, samples_frame, spreadsheets, text, to_int,
                      unannotated_folders)

DATASET = "4dme"
FPS = 60
SHEET = spreadsheets("4DME_Labelling_Micro_release*")
FRAME_DIRS = ("gray_micro",)
COLUMNS = {"subject": ("sub_ID", "Subject"), "clip": ("fold_name", "Filename"), "onset": ("Onset",),
           "apex": ("Apex",), "offset": ("Offset",), "aus": ("AUs", "AU", "Action Units"),
           "emotion": ("Emotion", "Estimated Emotion")}
OPTIONAL = {"objective": ("Objective class", "Objective Class")}
# The release's rows 144 and 145 (a peer toolkit's 0-based positions) carry each other's AUs. melib keys fixes
# to clips and cannot name these two without the sheet: the list is empty until someone with the sheet fills
# in both clips' AU cells (KnownFix(subject, clip, "aus", found, value, why)), or passes known_fixes=.
KNOWN_FIXES: tuple[KnownFix, ...] = ()
K_AUS = ("keep", "drop")
_K = re.compile(r"\(\s*k\s*\)", re.IGNORECASE)


def subject_cell(value) -> str:
    """A sub_ID cell as its folder is named: text as written, a number without a trailing ``.0``."""
    n = to_int(value)
    return str(n) if n is not None else text(value)


def marked_k(aus: str) -> tuple[str, list[str]]:
    """(the AU cell without its ``(k)``-marked AUs, the marked AUs as written)."""
    terms = [t for t in re.split(r"\s*\+\s*", aus) if t.strip()]
    return "+".join(t for t in terms if not _K.search(t)), [_K.sub("", t).strip() for t in terms if _K.search(t)]


def load(root, annotation=None, synthetic: bool = False, k_aus: str = "keep", known_fixes=None):
    """4DME micro-expression clips; subject folder ``<sub_ID>`` as the sheet writes it (``4dme/<sub_ID>``).
    ``k_aus``: AUs marked ``(k)`` stay in ``au_set`` (``keep``, the cell as written) or are left out (``drop``,
    as the peer toolkit meb reads them); either way each such clip is a logged fix naming the AUs, since the
    release does not say what ``(k)`` means."""
    if k_aus not in K_AUS:
        raise ConfigError(f"k_aus={k_aus!r}; choose one of {', '.join(K_AUS)}")
    root = existing_dir(root, "4DME (gray_micro/ and 4DME_Labelling_Micro_release v1.xlsx)")
    frames = find_dir(root, FRAME_DIRS, "4DME frames")
    subjects = require_subjects(frames, lambda n: True, "4DME subject folders in gray_micro/")
    sheet, note = pick_sheet(root, SHEET, "4DME labelling sheet", annotation)
    table = read_table(sheet, COLUMNS, optional=OPTIONAL)
    log = Log(DATASET)
    apply_known_fixes(log, table, KNOWN_FIXES if known_fixes is None else known_fixes,
                      key=lambda r: (subject_cell(r["subject"]), text(r["clip"])))
    for i, r in table.iterrows():
        kept, marked = marked_k(text(r["aus"]))
        if marked:
            what = "left out of au_set" if k_aus == "drop" else "kept in au_set"
            log.fix(subject_cell(r["subject"]), text(r["clip"]), f"AU(s) {', '.join(marked)} marked '(k)' (meaning not "
                    f"documented by the release) {what} (k_aus={k_aus!r})", field="aus", old=text(r["aus"]),
                    new=kept if k_aus == "drop" else _K.sub("", text(r["aus"])))
            table.at[i, "aus"] = kept if k_aus == "drop" else _K.sub("", text(r["aus"]))

    def locate(subject, clip):
        folder = frames / subject / clip
        return subject, folder if folder.is_dir() else None, f"folder {folder} not found"

    rows, used = coded_clips(log, table, sheet, locate, FPS, synthetic, subject=subject_cell)
    unannotated_folders(log, clip_folders(subjects), used)
    return samples_frame(rows, log, root=root, annotation=sheet, frames_dir=frames, annotation_note=note,
                         k_aus=k_aus)

"""The native layouts: clip and frame names, the releases' annotation sheets, and the ground truth beside them."""
from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..labels import OBJECTIVE_EMOTION
from .motion import draw_nuisance, timing
from .spec import CLASSES, NATIVE_EMOTION, SMIC_SHORT, labels, rng

ANNOTATION = {"casme2": "CASME2-coding-20140508.xlsx", "samm": "SAMM_Micro_FACS_Codes_v2.xlsx",
              "casme3a": "part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
              "casme3c": "CAS(ME)3_part_C_ME.xlsx", "4dme": "4DME_Labelling_Micro_release v1.xlsx",
              "mmew": "MMEW_Micro_Exp.xlsx"}
GROUND_TRUTH = ("ground_truth.csv", "ground_truth.npz")
GT_ARRAYS = ("landmarks", "intensity", "pose")
CASME3A_FRAMES = "part_A/data/part_A_split/part_A"
CLIPS_PER_RECORDING = 2  # CAS(ME)³ A: clips cut from one recording


def frame_name(layout: str, subject: str, number: int) -> str:
    """The file name of frame ``number`` as the release writes it (``subject`` as the release names it)."""
    if layout == "casme2":
        return f"img{number}.jpg"
    if layout == "samm":
        return f"{subject}_{number:05d}.jpg"
    if layout == "smic":
        return f"image{number:06d}.bmp"
    return f"{number}.jpg"


def aus_text(aus, sep: str = "+", prefix: str = "") -> str:
    return sep.join(f"{prefix}{a}" for a in sorted(aus))


def _recording(j: int) -> str:
    """CAS(ME)³ A's recording names: a, b, ..., z, aa, ab, ..."""
    name = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        name = chr(97 + r) + name
    return name


def _names(layout: str, s: int, j: int, nz, native: str, counts: dict, start: int) -> tuple[str, str, str]:
    """(subject, clip, folder relative to the layout root) of clip ``j`` of subject ``s``, as the release names
    them. Only SMIC's and MMEW's folders (the label is a folder there) depend on the label."""
    if layout == "casme2":
        subject, clip = f"sub{s + 1:02d}", f"EP{nz.name_code:02d}_{j + 1:02d}{'f' if nz.suffix else ''}"
        return subject, clip, f"CASME2_RAW_selected/{subject}/{clip}"
    if layout == "samm":
        n = s + 6
        subject, clip = f"{n:03d}", f"{n:03d}_{1 + nz.name_code % 7}_{j + 1}"
        return subject, clip, f"SAMM/{subject}/{clip}"
    if layout == "smic":
        counts[native] = counts.get(native, 0) + 1
        subject, clip = f"s{s + 1}", f"s{s + 1}_{SMIC_SHORT[native]}_{counts[native]:02d}"
        return subject, clip, f"SMIC_all_raw/HS/{subject}/micro/{native}/{clip}"
    if layout == "casme3a":  # the loader names a clip <recording>_<onset>
        subject, rec = f"spNO.{s + 1}", _recording(j // CLIPS_PER_RECORDING)
        return subject, f"{rec}_{start + timing(nz)[0]}", f"{CASME3A_FRAMES}/{subject}/{rec}/color"
    if layout == "casme3c":
        subject, clip = f"{s + 1:02d}", str(j + 1)
        return subject, clip, f"ME_C/{subject}/{clip}/color"
    if layout == "4dme":
        subject = f"S{s + 1:02d}"
        clip = f"{subject}_{j + 1:03d}"
        return subject, clip, f"gray_micro/{subject}/{clip}"
    subject, clip = f"S{s + 1:02d}", f"S{s + 1:02d}-{nz.name_code:02d}-{j + 1:03d}"  # mmew
    return subject, clip, f"Micro_Expression/{native}/{clip}"


def plan(p: dict) -> tuple[list[dict], list[tuple]]:
    """The clips of a layout (names, paths, labels, nuisance) and its subjects' (seed, layout, index).

    CAS(ME)³ A's clips are cut from whole recordings: :data:`CLIPS_PER_RECORDING` clips of a subject, rendered
    one after the other, share a folder numbered from 0 (each clip's ``first`` is where the previous ended)."""
    layout = p["layout"]
    clips, subjects = [], []
    for s, row in enumerate(labels(p)):
        subjects.append((p["seed"], layout, s))
        counts: dict[str, int] = {}
        start = 0
        for j, (cls, aus) in enumerate(row):
            nz = draw_nuisance(rng(p["seed"], layout, 1, s, j), layout, tuple(p["frames"]))
            if layout == "casme3a":
                start = 0 if j % CLIPS_PER_RECORDING == 0 else start
                nz = dataclasses.replace(nz, first=start)
            native = NATIVE_EMOTION[layout][cls]
            subject, clip, folder = _names(layout, s, j, nz, native, counts, nz.first)
            start = nz.first + nz.n_frames
            names = [frame_name(layout, subject, k) for k in range(nz.first, nz.first + nz.n_frames)]
            clips.append({"subject_index": s, "subject": subject, "clip": clip, "folder": folder, "names": names,
                          "objective_class": cls, "aus": aus, "emotion": OBJECTIVE_EMOTION[cls],
                          "native_emotion": native, "nuisance": nz})
    return clips, subjects


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with fixed timestamps, so that the same content gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2014, 5, 8, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    path.write_bytes(buf.getvalue())


def _write_xlsx(path: Path, sheet: str, header: list, rows: list[list]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as z:
        members = {n: z.read(n) for n in z.namelist()}
    fixed = b"2014-05-08T00:00:00Z"
    members["docProps/core.xml"] = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fixed, members["docProps/core.xml"])
    write_zip(path, members)


def write_annotation(layout_dir: Path, p: dict, clips: list[dict]) -> None:
    """The release's coding sheet (every layout but SMIC, whose labels are folder names)."""
    layout = p["layout"]
    cls_no = {c: i + 1 for i, c in enumerate(CLASSES)}
    if layout == "casme2":
        header = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion", "Objective Classes"]
        rows = [[c["subject_index"] + 1, c["clip"], None, c["onset_no"], c["apex_no"], c["offset_no"], None,
                 aus_text(c["aus"]), c["native_emotion"], cls_no[c["objective_class"]]] for c in clips]
        sheet = "Sheet1"
    elif layout == "samm":
        header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
                  "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
        rows = [[c["subject_index"] + 6, c["clip"], int(c["clip"].split("_")[1]), c["onset_no"], c["apex_no"],
                 c["offset_no"], c["offset_no"] - c["onset_no"] + 1, "Micro - 1/2", aus_text(c["aus"]),
                 c["native_emotion"], cls_no[c["objective_class"]], None] for c in clips]
        sheet = "MICRO_ONLY"
    elif layout == "casme3a":  # jpg indices into the recording; Filename is the recording
        header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
        rows = [[c["subject"], c["clip"].rsplit("_", 1)[0], c["onset_no"], c["apex_no"], c["offset_no"],
                 aus_text(c["aus"], ","), cls_no[c["objective_class"]], c["native_emotion"]] for c in clips]
        sheet = "label"
    elif layout == "casme3c":  # no apex column
        header = ["sub", "count", "onset", "offset", "au", "emotion"]
        rows = [[c["subject_index"] + 1, int(c["clip"]), c["onset_no"], c["offset_no"], aus_text(c["aus"], ","),
                 c["native_emotion"]] for c in clips]
        sheet = "Sheet1"
    elif layout == "4dme":  # with the per-emotion flag columns after Emotion
        words = ("Positive", "Negative", "Surprise", "Repression", "Others")
        header = ["sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs", "Emotion", *words]
        rows = [[c["subject"], c["clip"], c["onset_no"], c["apex_no"], c["offset_no"],
                 aus_text(c["aus"], "+", "AU"), c["native_emotion"], *(int(c["native_emotion"] == w) for w in words)]
                for c in clips]
        sheet = "Sheet1"
    elif layout == "mmew":
        header = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                  "Estimated Emotion", "remarks"]
        rows = [[c["subject_index"] + 1, c["clip"], c["onset_no"], c["apex_no"], c["offset_no"], aus_text(c["aus"]),
                 c["native_emotion"], None] for c in clips]
        sheet = "Sheet1"
    else:
        return
    path = layout_dir / ANNOTATION[layout]
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_xlsx(path, sheet, header, rows)


def write_ground_truth(layout_dir: Path, p: dict, clips: list[dict], results: list[dict]) -> None:
    """``ground_truth.csv`` (one row per clip) and ``ground_truth.npz`` (per-frame arrays); sets each clip's
    ``onset_no``/``apex_no``/``offset_no`` frame numbers."""
    arrays, table = {}, []
    for c, r in zip(clips, results):
        first = c["nuisance"].first
        c.update(onset_no=first + r["onset"], apex_no=first + r["apex"], offset_no=first + r["offset"])
        key = f"{c['subject']}/{c['clip']}"
        for k in GT_ARRAYS:
            arrays[f"{key}/{k}.npy"] = r[k]
        table.append({"subject": c["subject"], "clip": c["clip"], "folder": c["folder"],
                      "first_frame": first, "last_frame": first + len(c["names"]) - 1,
                      "n_frames": len(c["names"]), "onset": c["onset_no"], "apex": c["apex_no"],
                      "offset": c["offset_no"], "aus": aus_text(c["aus"]), "objective_class": c["objective_class"],
                      "emotion": c["emotion"], "native_emotion": c["native_emotion"], "fps": p["fps"],
                      "amplitude": round(p["amplitude"] * c["nuisance"].strength, 4),
                      "frame_ext": Path(c["names"][0]).suffix})
    pd.DataFrame(table).to_csv(layout_dir / GROUND_TRUTH[0], index=False)
    members = {}
    for name, arr in arrays.items():
        b = io.BytesIO()
        np.lib.format.write_array(b, np.ascontiguousarray(arr), allow_pickle=False)
        members[name] = b.getvalue()
    write_zip(layout_dir / GROUND_TRUTH[1], members)


def read_ground_truth_table(layout_root) -> pd.DataFrame:
    """``ground_truth.csv`` of a synthetic layout folder (no arrays)."""
    csv = Path(layout_root) / GROUND_TRUTH[0]
    if not csv.is_file():
        raise DataError(csv, "a synthetic set's ground truth (written by melib.synth.generate)", "no such file")
    return pd.read_csv(csv, dtype={"subject": str, "clip": str})


def read_ground_truth(layout_root) -> pd.DataFrame:
    """``ground_truth.csv`` of a synthetic layout folder plus ``landmarks``, ``intensity`` and ``pose`` arrays."""
    npz = Path(layout_root) / GROUND_TRUTH[1]
    df = read_ground_truth_table(layout_root)
    if not npz.is_file():
        raise DataError(npz, "a synthetic set's ground truth (written by melib.synth.generate)", "no such file")
    with np.load(npz) as z:
        for k in GT_ARRAYS:
            df[k] = [z[f"{s}/{c}/{k}"] for s, c in zip(df["subject"], df["clip"])]
    return df


def ground_truth_files(layout_root: Path, layout: str) -> list[str]:
    """Every file a layout folder holds by its ground truth (frames and sheets), relative to it."""
    gt = read_ground_truth_table(layout_root)
    files = [*GROUND_TRUTH, *([ANNOTATION[layout]] if layout in ANNOTATION else [])]
    for r in gt.itertuples():
        files += [f"{r.folder}/{frame_name(layout, r.subject, k)}" for k in range(r.first_frame, r.last_frame + 1)]
    return files

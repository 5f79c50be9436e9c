"""The synthetic layouts written by name (CAS(ME)³ A and C, 4DME, MMEW): each release's loader reads back the
planted ground truth, and the default set stays casme2, samm and smic."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from melib import datasets, labels, synth
from melib.errors import ConfigError
from melib.preprocess import face as face_mod
from melib.synth.layouts import CLIPS_PER_RECORDING, frame_name
from melib.synth.spec import labels as planned_labels, resolve

NEW = ("casme3a", "casme3c", "4dme", "mmew")
FPS = {"casme3a": 30, "casme3c": 30, "4dme": 60, "mmew": 90}
# 2 subjects, every class I-VII once each
TINY = {"subjects": 2, "clips_per_subject": 7, "width": 128, "height": 96, "frames": (5, 7)}


@pytest.fixture(scope="module")
def named(tmp_path_factory) -> Path:
    return synth.generate_default(tmp_path_factory.mktemp("named") / "synth", seed=0, progress=False, layouts=NEW,
                                  **TINY)


@pytest.fixture(scope="module")
def loaded(named) -> pd.DataFrame:
    return datasets.load("synth", named)


def test_named_layouts_make_a_set_of_their_own(named):
    assert sorted(p.name for p in named.iterdir()) == sorted([*NEW, synth.PARAMS_FILE])
    record = json.loads((named / synth.PARAMS_FILE).read_text())
    assert sorted(record["layouts"]) == sorted(NEW) and synth.verify(named) == []
    stamp = {p: p.stat().st_mtime_ns for p in named.rglob("*")}
    synth.generate_default(named, seed=0, progress=False, layouts=NEW[::-1], **TINY)  # same set: nothing rebuilt
    assert {p: p.stat().st_mtime_ns for p in named.rglob("*")} == stamp
    assert synth.DEFAULT_LAYOUTS == ("casme2", "samm", "smic")
    assert list(synth.default_params()["layouts"]) == list(synth.DEFAULT_LAYOUTS)  # the study's set is unchanged
    assert set(datasets.SYNTH_PARTS) == set(synth.LAYOUTS)  # load("synth") reads every layout melib writes
    for bad in ((), ("casme3",), ("4dme", "4dme")):
        with pytest.raises(ConfigError, match="synth layouts="):
            synth.generate_default(named, layouts=bad)


@pytest.mark.parametrize("layout", NEW)
def test_the_release_loader_reads_back_the_ground_truth(loaded, named, layout):
    """Labels, onsets, offsets, apexes and AUs as planted; CAS(ME)³ C annotates no apex, so its loader's apex is
    the middle frame (apex_estimated) while the ground truth keeps the rendered one."""
    gt = synth.read_ground_truth(named / layout)
    df = loaded[loaded["dataset"] == layout].set_index(["subject", "clip"])
    assert len(gt) == len(df) == 14 and (df["synthetic"]).all() and (df["fps"] == FPS[layout]).all()
    assert not [e for e in loaded.attrs["fixes"] + loaded.attrs["exclusions"] if e["dataset"] == layout]
    assert Counter(gt["objective_class"]) == {c: 2 for c in synth.CLASSES}
    for r in gt.itertuples():
        row = df.loc[(f"{layout}/{r.subject}", r.clip)]
        assert (row["onset"], row["offset"], row["n_frames"]) == (r.onset, r.offset, r.offset - r.onset + 1)
        assert row["objective_class"] == r.objective_class and row["au_set"] == labels.parse_aus(r.aus)
        assert row["emotion"] == r.native_emotion.lower() == synth.NATIVE_EMOTION[layout][r.objective_class].lower()
        assert Path(row["frames"][0]).name == frame_name(layout, r.subject, r.onset)
        if layout == "casme3c":
            assert row["apex_estimated"] and row["apex"] == r.onset + (r.offset - r.onset) // 2
        else:
            assert not row["apex_estimated"] and row["apex"] == r.apex
    assert not df["apex_placeholder"].any()
    scheme = labels.assign(loaded[loaded["dataset"] == layout], "original")
    assert scheme["label"].notna().all()  # every planted word is one the scheme knows (happy -> happiness)


def test_release_sheets_and_folders(named):
    sheet = pd.read_excel(named / "casme3a/part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
                          sheet_name=None, engine="openpyxl")
    assert list(sheet) == ["label"]
    a = sheet["label"]
    assert list(a.columns) == ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    assert set(a["emotion"]) == {"happy", "surprise", "anger", "disgust", "sad", "fear", "others"}
    recordings = a.groupby(["Subject", "Filename"]).size()
    assert recordings.max() == CLIPS_PER_RECORDING and list(recordings.index[:2]) == [("spNO.1", "a"), ("spNO.1", "b")]
    for (sub, rec), rows in a.groupby(["Subject", "Filename"]):  # whole recordings numbered from 0
        folder = named / "casme3a/part_A/data/part_A_split/part_A" / sub / rec / "color"
        numbers = sorted(int(p.stem) for p in folder.iterdir())
        assert numbers == list(range(numbers[-1] + 1)) and rows["Onset"].min() >= 1
    c = pd.read_excel(named / "casme3c/CAS(ME)3_part_C_ME.xlsx", engine="openpyxl")
    assert list(c.columns) == ["sub", "count", "onset", "offset", "au", "emotion"]  # no apex, as released
    assert (named / "casme3c/ME_C/01/1/color").is_dir()
    d = pd.read_excel(named / "4dme/4DME_Labelling_Micro_release v1.xlsx", engine="openpyxl")
    assert list(d.columns[:7]) == ["sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs", "Emotion"]
    assert d["AUs"].str.fullmatch(r"AU\d+(\+AU\d+)*").all()
    assert set(d["Emotion"]) == {"Positive", "Negative", "Surprise", "Repression", "Others"}
    assert (d[["Positive", "Negative", "Surprise", "Repression", "Others"]].sum(axis=1) == 1).all()
    first = next((named / "4dme/gray_micro/S01/S01_001").iterdir())
    assert cv2.imread(str(first), cv2.IMREAD_UNCHANGED).ndim == 2  # grey, like the release
    m = pd.read_excel(named / "mmew/MMEW_Micro_Exp.xlsx", engine="openpyxl")
    assert list(m.columns) == ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                               "Estimated Emotion", "remarks"]
    for _, r in m.iterrows():
        assert (named / "mmew/Micro_Expression" / r["Estimated Emotion"] / r["Filename"]).is_dir()  # by emotion
    colour = cv2.imread(str(next((named / "mmew/Micro_Expression").rglob("*.jpg"))), cv2.IMREAD_UNCHANGED)
    assert colour.ndim == 3


def test_casme3a_names_and_frames_do_not_depend_on_the_label(tmp_path):
    """The chance-level control holds for clips cut from recordings: at amplitude 0 another label stream
    gives the same files, bytes and clip names; only the sheet's labels move."""
    params = {**TINY, "subjects": 1, "amplitude": 0.0}
    sets = [synth.generate(tmp_path / str(k), "casme3a", seed=1, label_seed=k, progress=False, **params)
            for k in (1, 2)]
    files = [{p.relative_to(s).as_posix(): p.read_bytes() for p in s.rglob("*.jpg")} for s in sets]
    assert files[0] == files[1] and files[0]
    gts = [synth.read_ground_truth(s) for s in sets]
    assert list(gts[0]["clip"]) == list(gts[1]["clip"]) and list(gts[0]["onset"]) == list(gts[1]["onset"])
    assert list(gts[0]["objective_class"]) != list(gts[1]["objective_class"])


def test_ground_truth_landmarks_of_clips_sharing_a_recording(loaded, named):
    """The face stage's ground-truth landmarks (MELIB_LANDMARKS=ground_truth) of a clip cut from a recording are
    its own, also for the second clip of a recording and seven folders below the layout."""
    gt = synth.read_ground_truth(named / "casme3a").set_index(["subject", "clip"])
    rows = loaded[loaded["dataset"] == "casme3a"]
    recordings = rows["subject"] + "/" + rows["clip"].str.split("_").str[0]
    assert recordings.duplicated().any()  # recordings holding several clips
    for _, row in rows.iterrows():
        truth = gt.loc[(row["subject"].split("/", 1)[1], row["clip"])]
        want = truth["landmarks"][row["onset"] - truth["first_frame"]]
        np.testing.assert_allclose(face_mod.ground_truth_landmarks(row)["landmarks"], want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("layout", NEW)
def test_release_presets_and_counts(layout):
    full = synth.PRESETS["release-full"][layout]
    manifest = datasets.manifest(layout)
    assert full["fps"] == manifest["fps"] == FPS[layout]
    assert (full["subjects"], full["clips"]) == (manifest["expected_subjects"], manifest["expected_clips"])
    classes = Counter(cls for row in planned_labels(resolve(layout, 0, full)) for cls, _ in row)
    assert sum(classes.values()) == full["clips"] and max(classes.values()) - min(classes.values()) <= 2
    p = synth.default_params(preset="release", layouts=(layout,))["layouts"][layout]
    assert (p["width"], p["height"], p["fps"]) == (full["width"], full["height"], float(FPS[layout]))


def test_cli_layouts(tmp_path):
    base = [sys.executable, "-m", "melib.cli", "data", "synth"]
    out = subprocess.run(base + ["--layouts", "4dme"], capture_output=True, text=True)
    assert out.returncode == 2 and "--root" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(base + ["--root", str(tmp_path / "s"), "--layouts", "4dme", "casme4"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "casme4" in out.stderr and "mmew" in out.stderr and not (tmp_path / "s").exists()

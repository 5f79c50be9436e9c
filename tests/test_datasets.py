"""Loaders on small fixture trees in each release's native layout (tests/release_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import release_fixtures as rf
from melib import datasets
from melib.datasets import casme, casme2, casme_sq, samm, smic
from melib.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("releases")
    return {"casme2": rf.make_casme2(base / "casme2"), "samm": rf.make_samm(base / "samm"),
            "smic": rf.make_smic(base / "smic"), "casme": rf.make_casme(base / "casme"),
            "casme_sq": rf.make_casme_sq(base / "casme_sq"), "synth": rf.make_synth(base / "synth")}


@pytest.fixture(scope="module")
def loaded(trees):
    return {name: datasets.load(name, root) for name, root in trees.items()}


def numbers(frames):
    return [datasets.frame_number(f) for f in frames]


def by_clip(df, clip):
    rows = df[df["clip"] == clip]
    assert len(rows) == 1, clip
    return rows.iloc[0]


def reasons(entries):
    return {(e["subject"], e["clip"]): e["reason"] for e in entries}


# --- shared helpers ----------------------------------------------------------------------------

def test_frames_are_ordered_numerically_and_other_files_ignored(tmp_path):
    for n in (100, 9, 99, 10):
        rf.write_frame(tmp_path / f"img{n}.jpg", n)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "Thumbs.db").write_text("x")
    assert [p.name for p in datasets.list_frames(tmp_path)] == ["img9.jpg", "img10.jpg", "img99.jpg", "img100.jpg"]
    assert datasets.frame_number("reg_img46.jpg") == 46
    assert datasets.frame_number("006_05562.jpg") == 5562
    assert datasets.frame_number("EP01_5-12.jpg") == 12


def test_every_loader_gives_the_contract_columns_and_types(loaded):
    for name, df in loaded.items():
        assert list(df.columns) == datasets.COLUMNS, name
        for col in ("onset", "apex", "offset", "n_frames", "fps"):
            assert df[col].dtype == np.int64, (name, col)
        assert df["apex_estimated"].dtype == bool and df["synthetic"].dtype == bool
        assert (df["onset"] <= df["apex"]).all() and (df["apex"] <= df["offset"]).all(), name
        assert (df["n_frames"] == df["frames"].map(len)).all()
        for frames in df["frames"]:
            assert numbers(frames) == sorted(numbers(frames))
        assert all(s.startswith(f"{d}/") for d, s in zip(df["dataset"], df["subject"]))
        assert isinstance(df.attrs["fixes"], list) and isinstance(df.attrs["exclusions"], list)
        for entry in df.attrs["fixes"] + df.attrs["exclusions"]:
            assert {"dataset", "subject", "clip", "reason"} <= set(entry)


# --- CASME II ----------------------------------------------------------------------------------

def test_casme2_rows_fixes_and_exclusions(loaded):
    df = loaded["casme2"]
    assert len(df) == 7  # 8 rows, one without a folder
    assert set(df["subject"]) == {"casme2/sub01", "casme2/sub02", "casme2/sub04", "casme2/sub05", "casme2/sub06"}
    assert (df["fps"] == 200).all() and not df["synthetic"].any()
    first = by_clip(df, "EP02_01f")
    assert numbers(first["frames"]) == list(range(95, 105))  # img99 before img100
    assert first["frames"][0].endswith("CASME2_RAW_selected/sub01/EP02_01f/img95.jpg")
    assert (first["onset"], first["apex"], first["offset"]) == (95, 99, 104)
    slash = by_clip(df, "EP12_01f")  # ApexFrame '/'
    assert slash["apex"] == 23 and slash["apex_estimated"]
    assert df["apex_estimated"].sum() == 1
    early = by_clip(df, "EP12_03f")
    assert (early["onset"], early["n_frames"]) == (5, 4)
    disgust = by_clip(df, "EP19_05f")
    assert disgust["aus"] == "4+L10" and disgust["au_set"] == {4, 10}
    assert disgust["objective_class"] == "IV"  # blank in the sheet: derived from the AUs
    assert by_clip(df, "EP01_11f")["objective_class"] == "III"  # written 3
    fixes = reasons(df.attrs["fixes"])
    assert set(fixes) == {("casme2/sub04", "EP12_01f"), ("casme2/sub05", "EP12_03f")}
    assert "apex not annotated (written '/')" in fixes[("casme2/sub04", "EP12_01f")]
    assert "onset 3" in fixes[("casme2/sub05", "EP12_03f")]
    excl = reasons(df.attrs["exclusions"])
    assert set(excl) == {("casme2/sub06", "EP01_01"), ("casme2/sub06", "EP99_99f")}
    assert "not found" in excl[("casme2/sub06", "EP01_01")]
    assert "no annotation row" in excl[("casme2/sub06", "EP99_99f")]


def test_casme2_subject_as_text_and_without_objective_column(tmp_path, loaded):
    df = datasets.load("casme2", rf.make_casme2(tmp_path, subject_as_text=True, objective=False))
    ref = loaded["casme2"]
    assert list(df["subject"]) == list(ref["subject"]) and list(df["clip"]) == list(ref["clip"])
    derived = dict(zip(df["clip"], df["objective_class"]))
    assert derived == {"EP02_01f": "I", "EP19_05f": "IV", "EP01_11f": "III", "EP12_01f": "II",
                       "EP09_05f": "VII", "EP12_03f": "II", "EP16_05": "VI"}


def test_casme2_cropped_release(tmp_path):
    df = datasets.load("casme2", rf.make_casme2(tmp_path, cropped=True))
    assert len(df) == 7
    assert Path(by_clip(df, "EP02_01f")["frames"][-1]).name == "reg_img104.jpg"
    assert df.attrs["frames_dir"].endswith("Cropped")


# --- SAMM --------------------------------------------------------------------------------------

def test_samm_header_below_notes_and_padded_subjects(loaded):
    df = loaded["samm"]
    assert len(df) == 6
    assert set(df["subject"]) == {"samm/006", "samm/007", "samm/011", "samm/015"}
    row = by_clip(df, "006_1_2")
    assert numbers(row["frames"]) == list(range(5562, 5571))
    assert Path(row["frames"][0]).name == "006_05562.jpg"
    assert row["emotion"] == "anger" and row["objective_class"] == "III"
    assert dict(zip(df["clip"], df["objective_class"])) == {
        "006_1_2": "III", "006_1_3": "I", "007_3_1": "II", "011_2_4": "IV", "011_2_5": "VII", "015_5_3": "II"}
    minus = by_clip(df, "007_3_1")
    assert minus["apex"] == 12 and minus["apex_estimated"]
    assert by_clip(df, "011_2_5")["offset"] == 55
    assert set(reasons(df.attrs["fixes"])) == {("samm/007", "007_3_1"), ("samm/011", "011_2_5")}
    assert df.attrs["exclusions"] == []


# --- SMIC --------------------------------------------------------------------------------------

def test_smic_labels_from_folders_and_estimated_apex(loaded):
    df = loaded["smic"]
    assert len(df) == 5  # non_micro and README ignored
    assert set(df["subject"]) == {"smic/s01", "smic/s02", "smic/s03"}
    assert df["apex_estimated"].all() and (df["fps"] == 100).all()
    assert df["objective_class"].isna().all() and (df["aus"] == "").all()
    assert dict(zip(df["clip"], df["emotion"])) == {"s1_ne_01": "negative", "s1_ne_02": "negative",
                                                   "s1_po_01": "positive", "s2_sur_01": "surprise",
                                                   "s03_ne_01": "negative"}
    four = by_clip(df, "s1_ne_02")
    assert (four["onset"], four["apex"], four["offset"], four["n_frames"]) == (10, 11, 13, 4)
    assert numbers(by_clip(df, "s2_sur_01")["frames"]) == [98, 99, 100, 101, 102]
    assert df.attrs["fixes"] == [] and df.attrs["exclusions"] == []


def test_smic_vis_variant_and_unknown_variant(trees):
    vis = datasets.load("smic", trees["smic"], variant="VIS")
    assert len(vis) == 5 and (vis["fps"] == 25).all()
    for root in (trees["smic"] / "SMIC_all_raw", trees["smic"] / "SMIC_all_raw" / "HS"):
        assert len(datasets.load("smic", root)) == 5
    with pytest.raises(ConfigError, match="HS"):
        datasets.load("smic", trees["smic"], variant="IR")
    with pytest.raises(DataError, match="NIR"):
        datasets.load("smic", trees["smic"], variant="NIR")  # not in the fixture


# --- CASME and CAS(ME)² --------------------------------------------------------------------------

def test_casme_sections_apex2_and_disagreeing_frames(loaded):
    df = loaded["casme"]
    assert list(df["clip"]) == ["EP01_5", "EP03_1", "EP02_3", "EP05_2"]
    assert (df["fps"] == 60).all()
    assert by_clip(df, "EP02_3")["apex"] == 3 and not by_clip(df, "EP02_3")["apex_estimated"]  # ApexF2
    assert by_clip(df, "EP03_1")["onset"] == 4 and by_clip(df, "EP05_2")["offset"] == 14
    assert "Section B" in by_clip(df, "EP05_2")["frames"][0]
    assert len(df.attrs["fixes"]) == 2
    excl = reasons(df.attrs["exclusions"])
    assert list(excl) == [("casme/sub09", "EP06_1")] and "outside" in excl[("casme/sub09", "EP06_1")]


def test_casme_sq_micro_rows_naming_rules_and_unknowns(loaded):
    df = loaded["casme_sq"]
    assert list(zip(df["subject"], df["clip"])) == [("casme_sq/s15", "disgust1_1"), ("casme_sq/s15", "disgust1_2"),
                                                    ("casme_sq/s15", "disgust1_3"), ("casme_sq/s16", "anger1_2")]
    assert (df["fps"] == 30).all()
    one = by_clip(df, "disgust1_1")
    assert numbers(one["frames"]) == list(range(5, 13)) and "15_0101disgustingteeth" in one["frames"][0]
    assert by_clip(df, "disgust1_2")["offset"] == 30  # offset 0: apex + (apex - onset)
    three = by_clip(df, "disgust1_3")
    assert three["apex"] == 32 and three["apex_estimated"]
    assert df.attrs["not_micro_rows"] == 1
    assert len(df.attrs["fixes"]) == 2
    excl = reasons(df.attrs["exclusions"])
    assert list(excl) == [("casme_sq/s16", "anger1_1")] and "onset unknown" in excl[("casme_sq/s16", "anger1_1")]


# --- synth -------------------------------------------------------------------------------------

def test_synth_is_the_union_of_the_native_loaders(loaded):
    df = loaded["synth"]
    assert df["synthetic"].all()
    assert df["dataset"].value_counts().to_dict() == {"casme2": 2, "samm": 2, "smic": 2}
    assert set(df["subject"]) == {"casme2/sub01", "samm/006", "smic/s01"}
    assert df.groupby("dataset")["fps"].first().to_dict() == {"casme2": 200, "samm": 200, "smic": 50}
    assert df["fps"].dtype == np.int64
    assert len(df.attrs["exclusions"]) == 1  # the fixture's unannotated CASME II folder


def test_synth_with_only_some_parts(tmp_path):
    rf.make_smic(tmp_path / "smic", variants=("HS",))
    df = datasets.load("synth", tmp_path)
    assert set(df["dataset"]) == {"smic"} and df["synthetic"].all()
    with pytest.raises(ConfigError, match="variant"):
        datasets.load("synth", tmp_path, variant="VIS")
    with pytest.raises(DataError, match="VIS"):
        datasets.load("synth", tmp_path, smic={"variant": "VIS"})
    (tmp_path / "smic" / "synth_params.json").write_text("{}")
    with pytest.raises(DataError, match=r"synth_params\.json.*numeric 'fps'"):
        datasets.load("synth", tmp_path)
    with pytest.raises(DataError, match="casme2/, samm/, smic/"):
        datasets.load("synth", tmp_path / "smic" / "SMIC_all_raw")


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["casme", "casme2", "casme_sq", "samm", "smic", "synth"])
def test_missing_root_names_the_folder(tmp_path, name):
    with pytest.raises(DataError, match="no_such_root"):
        datasets.load(name, tmp_path / "no_such_root")


def test_wrong_layouts(tmp_path):
    (tmp_path / "casme2").mkdir()
    with pytest.raises(DataError, match="CASME2_RAW_selected"):
        datasets.load("casme2", tmp_path / "casme2")
    rf.make_samm(tmp_path / "samm")
    (tmp_path / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx").unlink()
    with pytest.raises(DataError, match="SAMM_Micro_FACS_Codes"):
        datasets.load("samm", tmp_path / "samm")
    (tmp_path / "smic" / "HS" / "subject1").mkdir(parents=True)
    with pytest.raises(DataError, match="s1/"):
        datasets.load("smic", tmp_path / "smic")
    (tmp_path / "casme").mkdir()
    with pytest.raises(DataError, match="Section A"):
        datasets.load("casme", tmp_path / "casme")
    (tmp_path / "cas" / "rawpic").mkdir(parents=True)
    with pytest.raises(DataError, match="code sheet"):
        datasets.load("casme_sq", tmp_path / "cas")


def test_annotation_without_expected_columns(tmp_path):
    header = ["Subject", "Filename", None, "OnsetFrame", "Apex", "OffsetFrame", None, "Action Units",
              "Estimated Emotion"]
    rf.make_casme2(tmp_path / "c2", header=header)
    with pytest.raises(DataError, match=r"CASME2-coding-20190701\.xlsx.*missing ApexFrame"):
        datasets.load("casme2", tmp_path / "c2")
    rf.make_samm(tmp_path / "s", header=["Subj", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                                         "Offset Frame", "Duration", "Micro", "Action Units",
                                         "Estimated Emotion", "Objective Classes", "Notes"])
    with pytest.raises(DataError, match="header row with columns Subject"):
        datasets.load("samm", tmp_path / "s")
    rf.make_casme_sq(tmp_path / "sq", rows=[r[:5] for r in rf.CASME_SQ_ROWS])
    with pytest.raises(DataError, match="5 columns"):
        datasets.load("casme_sq", tmp_path / "sq")


def test_duplicate_rows_are_exclusions(tmp_path):
    clips = rf.CASME2_CLIPS[:2] + [rf.CASME2_CLIPS[0]]
    df = datasets.load("casme2", rf.make_casme2(tmp_path, clips=clips))
    assert list(df["clip"]) == ["EP02_01f", "EP19_05f"]
    excl = reasons(df.attrs["exclusions"])
    assert "row 4: a second row for the same clip" in excl[("casme2/sub01", "EP02_01f")]


def test_casme_xls_sheet_asks_for_xlsx(tmp_path):
    rf.make_casme(tmp_path)
    for p in tmp_path.glob("*.xlsx"):
        p.rename(p.with_suffix(".xls"))
    with pytest.raises(DataError, match=r"\.xls.*save the \.xls as \.xlsx"):
        datasets.load("casme", tmp_path)


def test_unreadable_spreadsheet(tmp_path):
    rf.make_casme2(tmp_path)
    (tmp_path / "CASME2-coding-20190701.xlsx").write_text("not a workbook")
    with pytest.raises(DataError, match="readable .xlsx"):
        datasets.load("casme2", tmp_path)


def test_unknown_dataset_and_unconfigured_root(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="casme2"):
        datasets.load("casme3", tmp_path)
    monkeypatch.delenv("MELIB_DATA_SAMM", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "none.yaml"))
    with pytest.raises(DataError, match="MELIB_DATA_SAMM"):
        datasets.load("samm")


# --- read_clip ---------------------------------------------------------------------------------

def test_read_clip_rgb_and_grey_values(loaded):
    row = by_clip(loaded["smic"], "s2_sur_01")  # lossless .bmp frames 98..102
    clip = datasets.read_clip(row)
    assert clip.dtype == np.uint8 and clip.shape == (5, *rf.SIZE, 3)
    assert [tuple(int(v) for v in frame[0, 0]) for frame in clip] == [rf.colour(n) for n in range(98, 103)]
    grey = datasets.read_clip(row, gray=True)
    assert grey.shape == (5, *rf.SIZE) and grey.dtype == np.uint8
    r, g, b = rf.colour(98)
    assert abs(int(grey[0, 0, 0]) - round(0.299 * r + 0.587 * g + 0.114 * b)) <= 1


def test_read_clip_bad_frames(tmp_path):
    rf.write_frame(tmp_path / "img1.bmp", 1)
    rf.write_frame(tmp_path / "img2.bmp", 2, size=(7, 8))
    (tmp_path / "img3.bmp").write_bytes(b"not an image")
    row = {"frames": [str(tmp_path / "img1.bmp"), str(tmp_path / "img3.bmp")]}
    with pytest.raises(DataError, match=r"img3\.bmp.*readable image"):
        datasets.read_clip(row)
    row = {"frames": [str(tmp_path / "img1.bmp"), str(tmp_path / "img9.bmp")]}
    with pytest.raises(DataError, match=r"img9\.bmp.*no such file"):
        datasets.read_clip(row)
    row = pd.Series({"frames": [str(tmp_path / "img1.bmp"), str(tmp_path / "img2.bmp")]})
    with pytest.raises(DataError, match=r"img2\.bmp.*8x6.*8x7"):
        datasets.read_clip(row)


# --- manifests and the data check ----------------------------------------------------------------

def test_manifests_agree_with_the_loaders():
    fps = {"casme": casme.FPS, "casme2": casme2.FPS, "casme_sq": casme_sq.FPS, "samm": samm.FPS, "smic": smic.FPS}
    expected = {"casme": 195, "casme2": 255, "casme_sq": 57, "samm": 159, "smic": 164}
    for name in datasets.NAMES:
        m = datasets.manifest(name)
        assert m["name"] == name and "licence" in m and "layout" in m
        assert f"MELIB_DATA_{name.upper()}" in m["configure"]["env"]
        if name != "synth":
            assert m["fps"] == fps[name] and m["expected_clips"] == expected[name] and "request" in m


def test_check_and_report(monkeypatch, tmp_path, trees):
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "melib.yaml"))
    (tmp_path / "melib.yaml").write_text(f"data:\n  samm: {trees['samm']}\n")
    monkeypatch.setenv("MELIB_DATA_CASME2", str(trees["casme2"]))
    monkeypatch.setenv("MELIB_DATA_SMIC", str(tmp_path / "gone"))
    monkeypatch.setenv("MELIB_DATA_CASME_SQ", str(trees["casme"]))  # wrong layout
    monkeypatch.setenv("MELIB_DATA_SYNTH", str(trees["synth"]))
    monkeypatch.delenv("MELIB_DATA_CASME", raising=False)
    table = datasets.check()
    got = table.set_index("dataset")
    assert list(table["dataset"]) == ["casme", "casme2", "casme_sq", "samm", "smic", "synth"]
    assert got.loc["casme", "status"] == "not configured"
    assert got.loc["casme2", ["status", "clips", "expected", "fixes", "exclusions"]].tolist() == \
        ["present", 7, 255, 2, 2]
    assert got.loc["samm", ["status", "clips", "fixes"]].tolist() == ["present", 6, 2]
    assert got.loc["smic", "status"] == "missing"
    assert got.loc["casme_sq", "status"] == "error" and "rawpic" in got.loc["casme_sq", "error"]
    assert got.loc["synth", "clips"] == 6
    report = datasets.check_report(table=table)
    assert "casme2/sub04/EP12_01f: apex not annotated" in report
    assert "casme2/sub06/EP99_99f: folder" in report
    assert "casme2: 7 clips found, 255 expected" in report
    assert "casme: not configured; set MELIB_DATA_CASME" in report
    assert "samm: 2 fixes" in report
    assert datasets.check(["samm"])["dataset"].tolist() == ["samm"]
    with pytest.raises(ConfigError):
        datasets.check(["nope"])

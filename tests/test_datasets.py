"""Loaders on small fixture trees in each release's native layout (tests/release_fixtures.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import release_fixtures as rf
from melib import datasets, labels
from melib.datasets import casme, casme2, casme3a, casme3c, casme_sq, fourdme, mmew, samm, smic
from melib.datasets._common import KnownFix
from melib.errors import ConfigError, DataError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("releases")
    return {"casme2": rf.make_casme2(base / "casme2"), "samm": rf.make_samm(base / "samm"),
            "smic": rf.make_smic(base / "smic"), "casme": rf.make_casme(base / "casme"),
            "casme_sq": rf.make_casme_sq(base / "casme_sq"), "synth": rf.make_synth(base / "synth"),
            "casme3a": rf.make_casme3a(base / "casme3a"), "casme3c": rf.make_casme3c(base / "casme3c"),
            "4dme": rf.make_4dme(base / "4dme"), "mmew": rf.make_mmew(base / "mmew")}


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
    assert disgust["objective_class"] == "VII"  # blank in the sheet: derived; 4+10 is no PSN Table 2 combination
    assert by_clip(df, "EP01_11f")["objective_class"] == "III"  # written 3
    fixes = reasons(df.attrs["fixes"])
    assert set(fixes) == {("casme2/sub04", "EP12_01f"), ("casme2/sub05", "EP12_03f"), ("casme2/sub06", "EP16_05")}
    assert list(df.loc[df["apex_placeholder"], "clip"]) == ["EP16_05"]  # apex 2 of 1..3: one frame at 200 fps
    assert "apex 2 within 5 ms of the onset (1)" in fixes[("casme2/sub06", "EP16_05")]
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
    assert derived == {"EP02_01f": "I", "EP19_05f": "VII", "EP01_11f": "III", "EP12_01f": "II",
                       "EP09_05f": "VII", "EP12_03f": "VII", "EP16_05": "VI"}  # exact PSN Table 2 combinations


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
    assert set(reasons(df.attrs["fixes"])) == {("samm/007", "007_3_1"), ("samm/011", "011_2_5"),
                                               ("samm/011", "011_2_4")}
    assert list(df.loc[df["apex_placeholder"], "clip"]) == ["011_2_4"]
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
    assert excl == {("casme_sq/s16", "anger1_1"): "CAS(ME)^2code_final.xlsx row 5: onset not annotated (written '0')"}


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

@pytest.mark.parametrize("name", ["casme", "casme2", "casme_sq", "samm", "smic", "synth", "casme3a", "casme3c",
                                  "4dme", "mmew"])
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


def test_casme_xls_sheet_is_read_like_the_xlsx(tmp_path):
    """The original CASME release ships .xls: tests/data/casme_a_coding.xls is Section A's fixture sheet in that
    format (written by tests/data/make_xls_fixture.py), read with python-calamine."""
    want = datasets.load("casme", rf.make_casme(tmp_path / "xlsx"))
    root = rf.make_casme(tmp_path / "xls")
    (root / "CASME_A_Section_coding.xlsx").unlink()
    shutil.copy(DATA / "casme_a_coding.xls", root / "CASME_A_Section_coding.xls")
    got = datasets.load("casme", root)
    assert any(a.endswith("CASME_A_Section_coding.xls") for a in got.attrs["annotation"])
    cols = ["subject", "clip", "onset", "apex", "offset", "aus", "emotion", "n_frames"]
    pd.testing.assert_frame_equal(got[cols], want[cols])
    assert reasons(got.attrs["fixes"]).keys() == reasons(want.attrs["fixes"]).keys()
    (root / "CASME_A_Section_coding.xls").write_bytes(b"not a workbook")
    with pytest.raises(DataError, match=r"CASME_A_Section_coding\.xls.*readable \.xls spreadsheet"):
        datasets.load("casme", root)


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
    fps = {"casme": casme.FPS, "casme2": casme2.FPS, "casme_sq": casme_sq.FPS, "samm": samm.FPS, "smic": smic.FPS,
           "casme3a": casme3a.FPS, "casme3c": casme3c.FPS, "4dme": fourdme.FPS, "mmew": mmew.FPS}
    expected = {"casme": 195, "casme2": 255, "casme_sq": 57, "samm": 159, "smic": 164, "casme3a": 860,
                "casme3c": 166, "4dme": 267, "mmew": 300}
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
    assert list(table["dataset"]) == ["4dme", "casme", "casme2", "casme3a", "casme3c", "casme_sq", "mmew", "samm",
                                      "smic", "synth"]
    assert got.loc["casme", "status"] == "not configured"
    assert got.loc["casme2", ["status", "clips", "expected", "fixes", "exclusions"]].tolist() == \
        ["present", 7, 255, 3, 2]
    assert got.loc["samm", ["status", "clips", "fixes"]].tolist() == ["present", 6, 3]
    assert got.loc["smic", "status"] == "missing"
    assert got.loc["casme_sq", "status"] == "error" and "rawpic" in got.loc["casme_sq", "error"]
    assert got.loc["synth", "clips"] == 6
    report = datasets.check_report(table=table)
    assert "casme2/sub04/EP12_01f: apex not annotated" in report
    assert "casme2/sub06/EP99_99f: folder" in report
    assert "casme2: 7 clips found, 255 expected" in report
    assert "casme: not configured; set MELIB_DATA_CASME" in report
    assert "samm: 3 fixes" in report
    assert datasets.check(["samm"])["dataset"].tolist() == ["samm"]
    with pytest.raises(ConfigError):
        datasets.check(["nope"])


# --- bad input (issue #10): nothing dropped, mixed or changed without a counted record ------------------

def entries(records, subject, clip):
    return [e["reason"] for e in records if (e["subject"], e["clip"]) == (subject, clip)]


def test_raw_and_cropped_frames_in_one_folder_are_not_mixed_and_appledouble_is_ignored(tmp_path):
    root = rf.make_casme2(tmp_path / "raw", clips=rf.CASME2_CLIPS[:2])
    folder = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    for n in range(95, 105):  # the cropped release unpacked over the raw one
        rf.write_frame(folder / f"reg_img{n}.jpg", n)
    (folder / "._img95.jpg").write_bytes(b"\x00\x05\x16\x07 macOS AppleDouble")
    (folder / "._reg_img96.jpg").write_bytes(b"\x00\x05\x16\x07 macOS AppleDouble")
    df = datasets.load("casme2", root)
    row = by_clip(df, "EP02_01f")
    assert row["n_frames"] == 10 and [Path(f).name for f in row["frames"]] == [f"img{n}.jpg" for n in range(95, 105)]
    why = " | ".join(entries(df.attrs["fixes"], "casme2/sub01", "EP02_01f"))
    assert "10 frame file(s) of another set (reg_img*.jpg) ignored" in why
    assert "2 macOS AppleDouble file(s) (._*) ignored" in why
    cropped = rf.make_casme2(tmp_path / "crop", clips=rf.CASME2_CLIPS[:2], cropped=True)
    for n in range(95, 105):
        rf.write_frame(cropped / "Cropped" / "sub01" / "EP02_01f" / f"img{n}.jpg", n)
    row = by_clip(datasets.load("casme2", cropped), "EP02_01f")
    assert {Path(f).name[:7] for f in row["frames"]} == {"reg_img"} and row["n_frames"] == 10


def test_two_frame_sets_without_a_rule_exclude_the_clip_naming_the_folder(tmp_path):
    root = rf.make_samm(tmp_path, clips=rf.SAMM_CLIPS[:2])
    folder = root / "SAMM" / "006" / "006_1_2"
    for n in range(5562, 5571):
        rf.write_frame(folder / f"copy_{n}.jpg", n)
    df = datasets.load("samm", root)
    assert list(df["clip"]) == ["006_1_3"]
    (why,) = entries(df.attrs["exclusions"], "samm/006", "006_1_2")
    assert str(folder) in why and "006_*.jpg" in why and "copy_*.jpg" in why


def test_two_coding_sheets_the_newest_is_read_and_named(tmp_path):
    root = rf.make_casme2(tmp_path)
    rf.make_casme2(tmp_path / "old", clips=rf.CASME2_CLIPS[:1])
    (tmp_path / "old" / "CASME2-coding-20190701.xlsx").rename(root / "CASME2-coding-20140508.xlsx")
    with pytest.warns(UserWarning, match="CASME2-coding-20190701.xlsx"):
        df = datasets.load("casme2", root)
    assert len(df) == 7 and df.attrs["annotation"].endswith("CASME2-coding-20190701.xlsx")
    assert "CASME2-coding-20140508.xlsx" in df.attrs["annotation_note"]
    old = datasets.load("casme2", root, annotation="CASME2-coding-20140508.xlsx")
    assert len(old) == 1 and "annotation_note" not in old.attrs
    (root / "CASME2-coding-20140508.xlsx").rename(root / "CASME2-coding-20190701 (copy).xlsx")
    with pytest.raises(DataError, match=r"one CASME II coding sheet.*20190701 \(copy\)\.xlsx.*annotation="):
        datasets.load("casme2", root)
    with pytest.raises(DataError, match="nope.xlsx"):
        datasets.load("casme2", root, annotation="nope.xlsx")


def test_casme_sq_rows_with_typos_are_exclusions_with_the_value(tmp_path):
    rows = [["Subject", "Expression", "Onset", "Apex", "Offset", "AUs", "Emotion", "Type", "Self-report"],
            *rf.CASME_SQ_ROWS[:2],
            ["1O", "disgust1_3", 30, 32, 35, "1+2", "surprise", "micro-expression", ""],  # O for 0
            [2, "anger1_2", 10, 12, 14, "14", "others", "mirco-expression", ""]]            # micro misspelt
    df = datasets.load("casme_sq", rf.make_casme_sq(tmp_path, rows=rows))
    assert list(df["clip"]) == ["disgust1_1", "disgust1_2"]
    why = [e["reason"] for e in df.attrs["exclusions"]]
    assert any("row 4" in w and "subject id '1O'" in w for w in why), why
    assert any("row 5" in w and "expression type 'mirco-expression'" in w for w in why), why
    assert df.attrs["title_rows"] == 1 and df.attrs["not_micro_rows"] == 0


def test_smic_subject_folder_spelling(tmp_path):
    root = rf.make_smic(tmp_path / "a", variants=("HS",))
    base = root / "SMIC_all_raw" / "HS"
    (base / "s2").rename(base / "s2 ")
    df = datasets.load("smic", root)
    assert len(df) == 5 and "smic/s02" in set(df["subject"])
    assert any("'s2 '" in r for r in entries(df.attrs["fixes"], "smic/s02", ""))
    root = rf.make_smic(tmp_path / "b", variants=("HS",))
    base = root / "SMIC_all_raw" / "HS"
    rf.write_frames(base / "s01" / "micro" / "negative" / "s01_ne_01", range(1, 6), lambda n: f"image{n:06d}.bmp")
    with pytest.raises(DataError, match=r"one folder per subject.*s01.*s1"):
        datasets.load("smic", root)


def test_an_invalid_objective_class_cell_is_a_fix_and_no_annotation_gives_no_class(tmp_path):
    clips = [rf.Clip(1, "EP02_01f", range(95, 105), 95, 99, 104, "12", "happiness", 9),
             rf.Clip(1, "EP19_05f", range(1, 6), 1, 3, 5, "4+9", "disgust", "X"),
             rf.Clip(2, "EP01_11f", range(10, 15), 10, 12, 14, "", "", None)]
    df = datasets.load("casme2", rf.make_casme2(tmp_path, clips=clips))
    assert dict(zip(df["clip"], df["objective_class"].where(df["objective_class"].notna(), None))) == {
        "EP02_01f": "I", "EP19_05f": "IV", "EP01_11f": None}
    assert entries(df.attrs["fixes"], "casme2/sub01", "EP02_01f") == [
        "objective class 9 is not one of I-VII; derived from the AUs '12': I"]
    assert entries(df.attrs["fixes"], "casme2/sub01", "EP19_05f") == [
        "objective class 'X' is not one of I-VII; derived from the AUs '4+9': IV"]


def test_truncated_jpeg_names_the_file(tmp_path, capfd):
    folder = tmp_path / "clip"
    rf.write_frames(folder, range(1, 4), lambda n: f"img{n}.jpg")
    import cv2
    big = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    for n in (1, 2, 3):
        cv2.imwrite(str(folder / f"img{n}.jpg"), big)
    data = (folder / "img2.jpg").read_bytes()
    (folder / "img2.jpg").write_bytes(data[: len(data) // 2])
    row = {"frames": [str(folder / f"img{n}.jpg") for n in (1, 2, 3)]}
    capfd.readouterr()
    with pytest.raises(DataError, match=r"img2\.jpg.*complete JPEG.*truncated"):
        datasets.read_clip(row)
    assert "Premature end" not in capfd.readouterr().err  # refused before libjpeg fills in grey
    with (folder / "img3.jpg").open("ab") as f:
        f.write(b"\x00" * 16)  # bytes after the end-of-image marker (some writers pad) are no truncation
    row = {"frames": [str(folder / "img1.jpg"), str(folder / "img3.jpg")]}
    assert datasets.read_clip(row).shape == (2, 64, 64, 3)


def test_a_release_variable_pointed_at_the_synthetic_set_loads_it_as_synthetic(tmp_path):
    root = rf.make_synth(tmp_path / "synth")
    for folder, fps in ((root / "smic", 50), (root / "smic" / "SMIC_all_raw", 50), (root / "casme2", 200)):
        name = folder.relative_to(root).parts[0]
        with pytest.warns(UserWarning, match="synthetic set"):
            df = datasets.load(name, folder)
        assert df["synthetic"].all() and (df["fps"] == fps).all(), folder
        assert "synth_params.json" in df.attrs["note"]
    with pytest.warns(UserWarning, match="synthetic set"):
        assert datasets.load("casme2", root)["synthetic"].all()  # the set's root: frames found one level down


def test_bad_frame_number_cells_are_quoted(tmp_path):
    import datetime
    clips = [rf.Clip(1, "EP02_01f", range(95, 105), "abc", 99, 104, "12", "happiness", 1),
             rf.Clip(1, "EP19_05f", range(1, 6), 41.5, 3, 5, "4+9", "disgust", 4),
             rf.Clip(2, "EP01_11f", range(10, 15), -5, 12, 14, "4+7", "repression", 3),
             rf.Clip(4, "EP12_01f", range(20, 27), 20, 23, datetime.datetime(2019, 7, 1), "1+2", "surprise", 2),
             rf.Clip(5, "EP09_05f", range(1, 6), None, 3, 5, "14", "others", 7)]
    df = datasets.load("casme2", rf.make_casme2(tmp_path, clips=clips))
    assert len(df) == 5
    fixes = {(e["subject"], e["clip"]): e["reason"] for e in df.attrs["fixes"] if e.get("field") in ("onset", "offset")}
    assert fixes[("casme2/sub01", "EP02_01f")] == "onset 'abc' is not a frame number; first frame on disk (95) used"
    assert fixes[("casme2/sub01", "EP19_05f")] == "onset '41.5' is not a frame number; first frame on disk (1) used"
    assert fixes[("casme2/sub02", "EP01_11f")] == "onset '-5' is not a frame number; first frame on disk (10) used"
    assert fixes[("casme2/sub04", "EP12_01f")] == \
        "offset '2019-07-01 00:00:00' is not a frame number; last frame on disk (26) used"
    assert fixes[("casme2/sub05", "EP09_05f")] == "onset not annotated; first frame on disk (1) used"


def test_samm_au_alternatives_are_recorded_not_merged(tmp_path):
    clips = [rf.Clip(6, "006_1_2", range(5562, 5571), 5562, 5566, 5570, "R6 or R12", "Happiness", 1),
             rf.Clip(6, "006_1_3", range(100, 109), 100, 104, 108, "4+R9 or 4+R7+R9", "Disgust", None),
             rf.Clip(7, "007_3_1", range(10, 15), 10, 12, 14, "12 or 4", "Other", None)]
    df = datasets.load("samm", rf.make_samm(tmp_path, clips=clips))
    sets = dict(zip(df["clip"], df["au_set"]))
    assert sets == {"006_1_2": set(), "006_1_3": {4, 9}, "007_3_1": set()}
    assert dict(zip(df["clip"], df["objective_class"].where(df["objective_class"].notna(), None))) == {
        "006_1_2": "I", "006_1_3": "IV", "007_3_1": None}
    why = {(e["clip"]): e["reason"] for e in df.attrs["fixes"] if e.get("field") == "aus"}
    assert "'R6 or R12'" in why["006_1_2"] and "alternatives" in why["006_1_2"]
    assert "classes I, III" in why["007_3_1"]


def test_samm_grouped_alternative_keeps_the_au_every_reading_has(tmp_path):
    clips = [rf.Clip(7, "007_6_1", range(10, 20), 10, 14, 19, "(R6 or R12)+R15", "Other", 7),
             rf.Clip(7, "007_6_5", range(30, 40), 30, 34, 39, "(R6 or R12)+R15", "Other", 7)]
    df = datasets.load("samm", rf.make_samm(tmp_path, clips=clips))
    assert dict(zip(df["clip"], df["au_set"])) == {"007_6_1": {15}, "007_6_5": {15}}
    why = [e["reason"] for e in df.attrs["fixes"] if e.get("field") == "aus"]
    assert len(why) == 2 and all("(6+15 | 12+15)" in w and "(15)" in w for w in why)


def test_a_folder_past_its_rows_offset_is_reported_and_cut_as_the_sheet_says(monkeypatch, tmp_path):
    """CASME II sub07 EP06_01: the sheet's offset is 68, the folder runs to 91 (a peer toolkit reads 91)."""
    clips = [rf.Clip(7, "EP06_01", range(40, 92), 46, 59, 68, "4", "repression", 3),
             rf.Clip(1, "EP02_01f", range(95, 105), 95, 99, 104, "12", "happiness", 1)]
    root = rf.make_casme2(tmp_path / "c2", clips=clips)
    df = datasets.load("casme2", root)
    row = by_clip(df, "EP06_01")
    assert (row["onset"], row["offset"], row["n_frames"]) == (46, 68, 23)  # what is loaded is unchanged
    fix = [e for e in df.attrs["fixes"] if e["clip"] == "EP06_01"]
    assert len(fix) == 1 and fix[0]["trimmed"] == (6, 23)
    assert fix[0]["reason"].startswith("folder holds 6 frame(s) before the onset 46 (from 40) and 23 frame(s) "
                                       "after the offset 68 (up to 91)")
    assert not [e for e in df.attrs["fixes"] if e["clip"] == "EP02_01f"]
    monkeypatch.setenv("MELIB_DATA_CASME2", str(root))
    report = datasets.check_report(["casme2"])
    assert "casme2: 1 clip folder(s) hold frames outside the sheet's onset..offset" in report
    assert "casme2/sub07/EP06_01: folder holds 6 frame(s) before the onset" in report
    cas = datasets.load("casme_sq", rf.make_casme_sq(tmp_path / "sq"))  # long videos: cutting is the layout
    assert not [e for e in cas.attrs["fixes"] if e.get("trimmed")]


def test_boundary_apexes_are_flagged_as_placeholders(tmp_path):
    clips = [rf.Clip(5, "EP09_05f", range(1, 11), 1, 1, 10, "14", "others", 7),     # apex = onset
             rf.Clip(12, "EP09_06", range(1, 11), 1, 10, 10, "14", "others", 7),     # apex = offset
             rf.Clip(1, "EP02_01f", range(95, 105), 95, 99, 104, "12", "happiness", 1)]
    df = datasets.load("casme2", rf.make_casme2(tmp_path / "c2", clips=clips))
    assert df["apex_placeholder"].dtype == bool
    assert dict(zip(df["clip"], df["apex_placeholder"])) == {"EP02_01f": False, "EP09_05f": True, "EP09_06": True}
    assert entries(df.attrs["fixes"], "casme2/sub05", "EP09_05f") == [
        "apex 1 on the onset (1): a boundary placeholder, not a measured apex (apex_placeholder)"]
    samm = datasets.load("samm", rf.make_samm(tmp_path / "samm", clips=[
        rf.Clip(32, "032_3_2", range(10, 30), 10, 11, 29, "12", "Happiness", 1),      # apex = onset + 1 at 200 fps
        rf.Clip(6, "006_1_3", range(100, 109), 100, 102, 108, "R12", "Happiness", 1)]))
    assert dict(zip(samm["clip"], samm["apex_placeholder"])) == {"006_1_3": False, "032_3_2": True}
    assert "within 5 ms of the onset" in entries(samm.attrs["fixes"], "samm/032", "032_3_2")[0]


def test_check_names_the_annotation_read_and_flags_broken_releases(monkeypatch, tmp_path, trees):
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "none.yaml"))
    for name in datasets.NAMES:
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    for name in ("casme", "casme2", "casme_sq", "samm", "smic", "synth"):
        monkeypatch.setenv(f"MELIB_DATA_{name.upper()}", str(trees[name]))
    table = datasets.check()
    assert not datasets.failed(table)
    got = table.set_index("dataset")["annotation"].to_dict()
    assert got["casme2"].endswith("CASME2-coding-20190701.xlsx") and got["samm"].endswith("_v2.xlsx (sheet MICRO_ONLY)")
    assert got["casme_sq"].endswith("code_final.xlsx") and "CASME_B_Section_coding.xlsx" in got["casme"]
    assert got["smic"] == "folder names (SMIC ships no coding sheet)"
    report = datasets.check_report(table=table)
    assert f"casme2: read {trees['casme2'] / 'CASME2-coding-20190701.xlsx'}" in report
    assert "smic: read folder names" in report
    monkeypatch.setenv("MELIB_DATA_SMIC", str(tmp_path / "gone"))
    monkeypatch.setenv("MELIB_DATA_SAMM", str(trees["casme"]))
    monkeypatch.setenv("MELIB_DATA_CASME2", str(trees["synth"] / "casme2"))  # a synthetic set, not the release
    table = datasets.check(["casme2", "smic", "samm"])
    assert table["status"].tolist() == ["synthetic", "missing", "error"]
    assert datasets.failed(table) == ["casme2", "smic", "samm"]
    assert "casme2: note: " in datasets.check_report(table=table)
    monkeypatch.delenv("MELIB_DATA_SYNTH")  # the default synthetic set not yet generated is not a failure
    assert datasets.check(["synth"]).loc[0, "status"] == "not generated"
    assert datasets.failed(datasets.check(["synth"])) == []


# --- the releases MER uses since 2023 (issue 22): CAS(ME)³ A and C, 4DME, MMEW --------------------------------

def test_casme3a_clips_are_cut_from_the_recordings_by_the_sheets_jpg_indices(loaded):
    df = loaded["casme3a"]
    assert list(zip(df["subject"], df["clip"])) == [("casme3a/spNO.1", "a_30"), ("casme3a/spNO.1", "a_5"),
                                                   ("casme3a/spNO.1", "b_10"), ("casme3a/spNO.2", "a_35")]
    a5 = by_clip(df, "a_5")
    assert numbers(a5["frames"]) == list(range(5, 13)) and Path(a5["frames"][0]).parent.name == "color"
    assert (a5["fps"], sorted(a5["au_set"]), a5["objective_class"]) == (30, [4, 7], "III")
    assert (by_clip(df, "b_10")["apex"], by_clip(df, "b_10")["apex_estimated"]) == (15, True)
    assert by_clip(df, "a_35")["offset"] == 40
    assert not [e for e in df.attrs["fixes"] if e.get("trimmed")]  # cutting recordings is the layout, not a fix
    excl = reasons(df.attrs["exclusions"])
    assert "not found" in excl[("casme3a/spNO.2", "c_1")] and "second row" in excl[("casme3a/spNO.1", "a_5")]
    assert df.attrs["annotation_sheet"] == "label"
    lab = labels.assign(df, "original")
    assert dict(zip(lab["clip"], lab["label"])) == {"a_30": "happiness", "a_5": "disgust", "b_10": "surprise",
                                                    "a_35": "others"}


def test_casme3c_has_no_apex_column_so_every_apex_is_estimated_without_a_fix_each(loaded):
    df = loaded["casme3c"]
    assert list(zip(df["subject"], df["clip"], df["apex"])) == [("casme3c/01", "1", 15), ("casme3c/01", "2", 7),
                                                              ("casme3c/02", "1", 105)]
    assert df["apex_estimated"].all() and not df["apex_placeholder"].any()
    assert not [e for e in df.attrs["fixes"] if e.get("field") == "apex"]
    assert "no apex" in df.attrs["note"]
    assert list(reasons(df.attrs["exclusions"])) == [("casme3c/03", "1")]


def test_4dme_subjects_k_marked_aus_and_unannotated_folders(loaded, trees):
    df = loaded["4dme"]
    assert list(df["subject"]) == ["4dme/S01", "4dme/S01", "4dme/S02"] and (df["fps"] == 60).all()
    assert by_clip(df, "S01_002")["au_set"] == {6, 12}
    fix = entries(df.attrs["fixes"], "4dme/S01", "S01_002")
    assert fix == ["AU(s) AU6 marked '(k)' (meaning not documented by the release) kept in au_set (k_aus='keep')"]
    assert "no annotation row" in reasons(df.attrs["exclusions"])[("4dme/S02", "S02_009")]
    dropped = datasets.load("4dme", trees["4dme"], k_aus="drop")
    assert by_clip(dropped, "S01_002")["au_set"] == {12} and by_clip(dropped, "S01_002")["objective_class"] == "I"
    with pytest.raises(ConfigError, match="k_aus"):
        datasets.load("4dme", trees["4dme"], k_aus="maybe")


def test_mmew_folders_under_their_emotion_and_the_generic_fixes(loaded):
    df = loaded["mmew"]
    assert list(df["subject"]) == ["mmew/S01", "mmew/S01", "mmew/S02", "mmew/S03"] and (df["fps"] == 90).all()
    assert (by_clip(df, "S01-02-001")["apex"], by_clip(df, "S01-02-001")["apex_estimated"]) == (4, True)
    assert by_clip(df, "S02-01-001")["offset"] == 12
    s03 = by_clip(df, "S03-01-001")
    assert s03["emotion"] == "fear" and Path(s03["frames"][0]).parts[-3] == "disgust"
    assert "under disgust/ while the sheet says 'fear'" in entries(df.attrs["fixes"], "mmew/S03", "S03-01-001")[0]
    assert "in no emotion folder" in reasons(df.attrs["exclusions"])[("mmew/S04", "S04-01-001")]


def test_known_fixes_are_keyed_to_the_clip_and_checked_against_the_sheet(tmp_path):
    """4DME's two rows with each other's AUs, as a clip-keyed fix: applied where the sheet holds the AUs it
    expects; a fix whose cell differs, or whose clip is absent, is reported and not applied."""
    root = rf.make_4dme(tmp_path / "4dme")
    swap = [KnownFix("S01", "S01_001", "aus", "AU4+AU7", "AU1+AU2", "rows swapped"),
            KnownFix("S02", "S02_001", "aus", "AU1+AU2", "AU4+AU7", "rows swapped")]
    df = datasets.load("4dme", root, known_fixes=swap)
    assert by_clip(df, "S01_001")["au_set"] == {1, 2} and by_clip(df, "S02_001")["au_set"] == {4, 7}
    applied = [e for e in df.attrs["fixes"] if e.get("applied")]
    assert [e["reason"] for e in applied] == ["aus 'AU4+AU7' read as 'AU1+AU2': rows swapped",
                                              "aus 'AU1+AU2' read as 'AU4+AU7': rows swapped"]
    stale = [KnownFix("S01", "S01_001", "aus", "AU9", "AU1", "x"), KnownFix("S09", "S09_001", "onset", 3, 4, "y")]
    df = datasets.load("4dme", root, known_fixes=stale)
    assert by_clip(df, "S01_001")["au_set"] == {4, 7}
    notes = [e["reason"] for e in df.attrs["fixes"] if e.get("applied") is False]
    assert notes == ["known fix of aus not applied: the sheet has 'AU4+AU7' where 'AU9' was expected (x)",
                     "known fix of onset not applied: no row for this clip (y)"]
    cas = datasets.load("casme3a", rf.make_casme3a(tmp_path / "c3"),
                        known_fixes=[KnownFix("spNO.2", "a_35", "offset", 50, 39, "a typo")])
    assert by_clip(cas, "a_35")["offset"] == 39


def test_data_check_reports_the_four_new_releases(monkeypatch, tmp_path, trees):
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "none.yaml"))
    for name in datasets.NAMES:
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    new = ["4dme", "casme3a", "casme3c", "mmew"]
    for name in new:
        monkeypatch.setenv(f"MELIB_DATA_{name.upper()}", str(trees[name]))
    table = datasets.check(new).set_index("dataset")
    assert table["status"].tolist() == ["present"] * 4
    assert table["clips"].tolist() == [3, 4, 3, 4] and table["expected"].tolist() == [267, 860, 166, 300]
    report = datasets.check_report(new)
    assert "casme3a: read " in report and "label_JpgIndex_v2.xlsx (sheet label)" in report
    assert "casme3c: note: CAS(ME)³ part C annotates no apex" in report
    assert "mmew: 4 clips found, 300 expected" in report
    assert [datasets.display_name(n) for n in new] == ["4DME", "CAS(ME)³ A", "CAS(ME)³ C", "MMEW"]

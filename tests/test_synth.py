"""The synthetic generator: native layouts, ground truth that the pixels obey, determinism, the chance control."""
from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from melib import labels, synth
from melib.synth.faces import _MIRROR
from melib.synth.spec import SMIC_SHORT
from melib.errors import ConfigError

TINY = {"subjects": 1, "clips_per_subject": 3, "width": 160, "height": 120, "frames": (5, 6)}


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def onset_frame(layout_root: Path, row) -> np.ndarray:
    name = {"casme2": f"img{row.onset}.jpg", "samm": f"{row.subject}_{row.onset:05d}.jpg",
            "smic": f"image{row.onset:06d}.bmp"}[layout_root.name]
    img = cv2.imread(str(layout_root / row.folder / name))
    assert img is not None, layout_root / row.folder / name
    return np.ascontiguousarray(img[:, :, ::-1])


@pytest.fixture(scope="module")
def clip_parts():
    """A subject and a nuisance draw with the whole amplitude reached at apex."""
    subject = synth.make_subject(0, "casme2", 1)
    nz = synth.draw_nuisance(np.random.default_rng(3), "casme2", (20, 20))
    return subject, dataclasses.replace(nz, strength=1.0)


# --- native layouts ------------------------------------------------------------------------------

def test_casme2_layout(synth_small):
    root = Path(synth_small) / "casme2"
    sheet = pd.read_excel(root / "CASME2-coding-20140508.xlsx")
    assert list(sheet.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                   "Unnamed: 6", "Action Units", "Estimated Emotion", "Objective Classes"]
    assert sheet["Unnamed: 2"].isna().all() and sheet["Unnamed: 6"].isna().all()
    assert sheet["Subject"].dtype.kind == "i" and set(sheet["Objective Classes"]) == set(range(1, 8))
    assert set(sheet["Estimated Emotion"]) == {"happiness", "surprise", "repression", "disgust", "sadness", "fear",
                                               "others"}
    assert Counter(sheet["Objective Classes"]) == {k: 3 for k in range(1, 8)}  # 3 subjects x every class once
    for _, r in sheet.iterrows():
        folder = root / "CASME2_RAW_selected" / f"sub{r['Subject']:02d}" / r["Filename"]
        numbers = sorted(int(re.fullmatch(r"img(\d+)\.jpg", p.name).group(1)) for p in folder.iterdir())
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert numbers[0] <= r["OnsetFrame"] < r["ApexFrame"] < r["OffsetFrame"] <= numbers[-1]
        assert re.fullmatch(r"EP\d\d_\d\df?", r["Filename"])
        combo = labels.parse_aus(r["Action Units"])
        cls = synth.CLASSES[r["Objective Classes"] - 1]
        assert combo in (synth.OTHER_AU_COMBOS if cls == "VII" else labels.OBJECTIVE_AU_COMBOS[cls])


def test_samm_layout(synth_small):
    root = Path(synth_small) / "samm"
    book = pd.read_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", sheet_name=None)
    assert list(book) == ["MICRO_ONLY"]
    sheet = book["MICRO_ONLY"]
    assert list(sheet.columns) == ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                                   "Offset Frame", "Duration", "Micro", "Action Units", "Estimated Emotion",
                                   "Objective Classes", "Notes"]
    assert sorted(set(sheet["Subject"])) == [6, 7, 8]
    assert (sheet["Duration"] == sheet["Offset Frame"] - sheet["Onset Frame"] + 1).all()
    for r in sheet.itertuples():
        assert r.Filename.startswith(f"{r.Subject:03d}_")
        frames = sorted((root / "SAMM" / f"{r.Subject:03d}" / r.Filename).iterdir())
        assert all(re.fullmatch(rf"{r.Subject:03d}_\d{{5}}\.jpg", p.name) for p in frames)
        assert cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED).ndim == 2  # grey, like the release


def test_smic_layout(synth_small):
    root = Path(synth_small) / "smic"
    assert not list(root.glob("*.xlsx"))
    gt = synth.read_ground_truth(root)
    want = {"I": "positive", "II": "surprise", "III": "negative", "IV": "negative", "V": "negative", "VI": "negative"}
    for r in gt.itertuples():
        m = re.fullmatch(r"SMIC_all_raw/HS/(s\d+)/micro/(positive|negative|surprise)/(s\d+)_(po|ne|sur)_\d\d", r.folder)
        assert m and m.group(1) == m.group(3) == r.subject and m.group(4) == SMIC_SHORT[m.group(2)]
        assert m.group(2) == want[r.objective_class]
        names = sorted(p.name for p in (root / r.folder).iterdir())
        assert names == [f"image{k:06d}.bmp" for k in range(r.first_frame, r.last_frame + 1)]
    assert set(Counter(gt["native_emotion"]).values()) == {7}  # 3 subjects x 7 clips, the 3 classes in turn


def test_every_class_several_times_and_fps_recorded(synth_small):
    for layout in synth.DEFAULT_LAYOUTS:
        gt = synth.read_ground_truth(Path(synth_small) / layout)
        counts = Counter(gt["objective_class"])
        classes = synth.CLASSES[:6] if layout == "smic" else synth.CLASSES
        assert set(counts) <= set(classes) and min(Counter(gt["native_emotion"]).values()) >= 3
        assert gt["subject"].nunique() == 3
        params = json.loads((Path(synth_small) / layout / synth.PARAMS_FILE).read_text())
        assert (gt["fps"] == params["fps"]).all() and params["fps"] == (50.0 if layout == "smic" else 100.0)


# --- ground truth --------------------------------------------------------------------------------

def test_ground_truth_consistent(synth_small):
    for layout in synth.DEFAULT_LAYOUTS:
        gt = synth.read_ground_truth(Path(synth_small) / layout)
        for r in gt.itertuples():
            assert r.first_frame <= r.onset < r.apex < r.offset <= r.last_frame
            on_disk = len(list((Path(synth_small) / layout / r.folder).iterdir()))
            assert r.n_frames == r.last_frame - r.first_frame + 1 == on_disk
            assert r.landmarks.shape == (r.n_frames, 68, 2) and r.pose.shape == (r.n_frames, 2, 3)
            i = r.intensity
            on, ap, off = (k - r.first_frame for k in (r.onset, r.apex, r.offset))
            assert i[on] == 0 and i[off] == 0 and i[ap] == 1 and np.argmax(i) == ap
            assert (np.diff(i[on:ap + 1]) > 0).all() and (np.diff(i[ap:off + 1]) < 0).all()
            assert 0.75 * 3.0 <= r.amplitude <= 3.0


def test_landmark_motion_peaks_at_apex(clip_parts):
    subject, nz = clip_parts
    r = synth.render_clip(subject, frozenset({6, 12}), nz, amplitude=3.0, noise=0, jitter=0, flicker=0)
    move = np.linalg.norm(r["landmarks"] - r["landmarks"][r["onset"]], axis=2).max(axis=1)
    assert move[r["onset"]] == 0 and move[r["offset"]] < 1e-6 and np.argmax(move) == r["apex"]
    assert move[r["apex"]] == pytest.approx(3.0, abs=0.05)  # amplitude = largest landmark motion at apex
    assert np.allclose(r["landmarks"][0], subject.landmarks, atol=1e-4)


def test_pixels_move_as_the_ground_truth_says(clip_parts):
    subject, nz = clip_parts
    for aus in ({1, 2}, {6, 12}, {4}, {15}):
        r = synth.render_clip(subject, frozenset(aus), nz, amplitude=4.0, noise=0, jitter=0, flicker=0)
        grey = [cv2.cvtColor(r["frames"][k], cv2.COLOR_RGB2GRAY) for k in (r["onset"], r["apex"])]
        flow = cv2.calcOpticalFlowFarneback(*grey, None, 0.5, 3, 9, 5, 5, 1.1, 0)
        start = r["landmarks"][r["onset"]]
        truth = r["landmarks"][r["apex"]] - start
        moved = np.linalg.norm(truth, axis=1) > 1.5
        assert moved.sum() >= 4
        xy = np.round(start[moved]).astype(int)
        err = np.linalg.norm(flow[xy[:, 1], xy[:, 0]] - truth[moved], axis=1)
        assert err.mean() < 0.4 * np.linalg.norm(truth[moved], axis=1).mean(), aus
        assert np.abs(flow[:30, :30]).max() < 0.05  # a far corner of the frame stays still


def test_mirror_swaps_sides():
    m = _MIRROR
    assert sorted(m) == list(range(68)) and (m[m] == np.arange(68)).all()
    assert (m[[0, 17, 36, 39, 48, 27, 8]] == [16, 26, 45, 42, 54, 27, 8]).all()


def test_au_motions_cover_every_class():
    for cls, combos in {**labels.OBJECTIVE_AU_COMBOS, "VII": synth.OTHER_AU_COMBOS}.items():
        assert combos
        for combo in combos:
            assert combo <= set(synth.AU_MOTION)
            assert labels.objective_class(combo) == cls, (cls, combo)


# --- the chance-level control and determinism ----------------------------------------------------

def test_amplitude_zero_frames_do_not_depend_on_the_label(clip_parts):
    subject, nz = clip_parts
    a, b = ({1, 2}, {6, 12})
    zero = [synth.render_clip(subject, frozenset(s), nz, amplitude=0.0)["frames"] for s in (a, b)]
    np.testing.assert_array_equal(zero[0], zero[1])
    moving = [synth.render_clip(subject, frozenset(s), nz, amplitude=3.0)["frames"] for s in (a, b)]
    assert not np.array_equal(moving[0], moving[1])


def test_amplitude_zero_set_is_the_same_whatever_the_labels(tmp_path):
    params = {**TINY, "clips_per_subject": 7, "amplitude": 0.0}
    sets = [synth.generate(tmp_path / str(k), "casme2", seed=1, label_seed=k, progress=False, **params)
            for k in (1, 2)]
    frames = [{k: v for k, v in files_of(s).items() if k.endswith(".jpg")} for s in sets]
    assert frames[0] == frames[1] and frames[0]
    truths = [pd.read_csv(s / "ground_truth.csv") for s in sets]
    assert list(truths[0]["objective_class"]) != list(truths[1]["objective_class"])


def test_deterministic_for_a_seed(tmp_path):
    a = files_of(synth.generate(tmp_path / "a", "smic", seed=5, n_jobs=1, progress=False, **TINY))
    b = files_of(synth.generate(tmp_path / "b", "smic", seed=5, n_jobs=2, progress=False, **TINY))
    assert a == b  # every byte, ground truth included, whatever the number of threads
    c = files_of(synth.generate(tmp_path / "c", "smic", seed=6, progress=False, **TINY))
    def frames(d):
        return [v for k, v in d.items() if k.endswith(".bmp")]
    assert frames(a) != frames(c)


def test_deterministic_spreadsheets(tmp_path):
    a = files_of(synth.generate(tmp_path / "a", "samm", seed=5, progress=False, **TINY))
    b = files_of(synth.generate(tmp_path / "b", "samm", seed=5, progress=False, **TINY))
    assert a["SAMM_Micro_FACS_Codes_v2.xlsx"] == b["SAMM_Micro_FACS_Codes_v2.xlsx"]
    assert a == b


def test_generate_default_skips_a_complete_set(tmp_path):
    root = tmp_path / "synth"
    synth.generate_default(root, seed=0, progress=False, **TINY)
    assert sorted(p.name for p in root.iterdir()) == ["casme2", "samm", "smic", synth.PARAMS_FILE]
    stamp = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    synth.generate_default(root, seed=0, progress=False, **TINY)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamp  # same parameters: nothing rebuilt
    synth.generate_default(root, seed=0, progress=False, **{**TINY, "noise": 1.0})
    assert json.loads((root / synth.PARAMS_FILE).read_text())["layouts"]["samm"]["noise"] == 1.0
    assert synth.verify(root) == []
    assert not list(tmp_path.glob(".*"))


def test_bad_parameters_raise():
    with pytest.raises(ConfigError, match="subject_label_dependence"):
        synth.generate("/nonexistent", "casme2", seed=0, subject_label_dependence=1.5)
    with pytest.raises(ConfigError, match="clips_per_subject, not both"):
        synth.generate("/nonexistent", "casme2", seed=0, clips=10, clips_per_subject=2)
    with pytest.raises(ConfigError, match="preset"):
        synth.generate_default("/nonexistent", preset="huge")
    with pytest.raises(ConfigError, match="layout"):
        synth.generate("/nonexistent", "casme", seed=0)
    with pytest.raises(ConfigError, match="amplitud"):
        synth.generate("/nonexistent", "casme2", seed=0, amplitud=3)
    with pytest.raises(ConfigError, match="frames"):
        synth.generate("/nonexistent", "casme2", seed=0, frames=(8, 4))


# --- what the later steps see: dlib finds the face and its landmarks -----------------------------

def test_source_landmarks_are_dlibs():
    """The kept landmarks of the source photo are where dlib puts them (generating needs no dlib)."""
    from melib.preprocess.face import detect_face, detect_landmarks

    img, lm = synth.source_face()
    found = detect_landmarks(img, detect_face(img)[0])
    assert np.abs(found - synth.SOURCE_LANDMARKS).max() <= 1 and np.array_equal(lm, synth.SOURCE_LANDMARKS)


def test_dlib_finds_the_generated_face(synth_small):
    from melib.preprocess.face import detector, predictor
    errors = []
    for layout in synth.DEFAULT_LAYOUTS:
        gt = synth.read_ground_truth(Path(synth_small) / layout)
        for r in gt.groupby("subject").head(1).itertuples():  # one clip of every subject
            img = onset_frame(Path(synth_small) / layout, r)
            truth = r.landmarks[r.onset - r.first_frame]
            dets = detector()(img, 0)
            assert len(dets) == 1, (layout, r.clip, len(dets))
            box = dets[0]
            (x0, y0), (x1, y1) = truth[17:].min(0), truth[17:].max(0)
            assert box.left() - 3 <= x0 and x1 <= box.right() + 3 and box.top() - 3 <= y0 and y1 <= box.bottom() + 3
            found = np.array([(p.x, p.y) for p in predictor()(img, box).parts()])
            err = np.linalg.norm(found - truth, axis=1)
            assert np.median(err) < 3 and err.max() < 10, (layout, r.clip, np.median(err), err.max())
            errors.append(err)
    assert np.mean(np.concatenate(errors)) < 2.5

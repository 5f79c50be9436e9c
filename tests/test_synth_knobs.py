"""The generator's knobs for the leaky-protocol and release-scale studies (issues #12.3 and #14.1)."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from melib import datasets, synth
from melib.synth import spec
from melib.synth.layouts import plan

TINY = {"subjects": 2, "clips_per_subject": 7, "width": 96, "height": 72, "frames": (3, 4)}


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def planned(layout: str, seed: int = 0, **params) -> tuple[list[str], list[str]]:
    """(subject, label) of every clip a layout would get (no rendering); SMIC's label is its folder's word."""
    clips, _ = plan(spec.resolve(layout, seed, params))
    return [c["subject"] for c in clips], [c["native_emotion"] for c in clips]


# --- subject-label dependence ----------------------------------------------------------------------

def test_dependence_zero_is_todays_set(tmp_path):
    a = files_of(synth.generate(tmp_path / "a", "samm", seed=2, progress=False, **TINY))
    b = files_of(synth.generate(tmp_path / "b", "samm", seed=2, progress=False, subject_label_dependence=0.0,
                                **TINY))
    assert a == b
    assert synth.default_params(subject_label_dependence=0) == synth.default_params()


@pytest.mark.parametrize("layout", synth.LAYOUTS)
def test_dependence_rises_with_the_knob_and_keeps_the_class_counts(layout):
    knob = (0.0, 0.25, 0.5, 0.75, 1.0)
    v = np.zeros((len(knob), 5))
    for seed in range(5):
        base = Counter(planned(layout, seed)[1])
        for i, d in enumerate(knob):
            subjects, labels = planned(layout, seed, subject_label_dependence=d)
            assert Counter(labels) == base  # labels are only moved between clips
            v[i, seed] = synth.label_dependence(subjects, labels)
    today = [synth.label_dependence(*planned(layout, seed)) for seed in range(5)]
    assert np.array_equal(v[0], today)
    mean = v.mean(axis=1)
    assert (np.diff(mean) > 0.03).all(), mean
    assert mean[0] < 0.1 and mean[-1] > 0.6, mean


def test_dependence_is_a_property_of_the_labels_only(tmp_path):
    """At amplitude 0 the frames are the same whatever the dependence: only who shows which label changes."""
    sets = [synth.generate(tmp_path / str(d), "casme2", seed=1, progress=False, amplitude=0.0,
                           subject_label_dependence=d, **TINY) for d in (0.0, 1.0)]
    frames = [{k: v for k, v in files_of(s).items() if k.endswith(".jpg")} for s in sets]
    assert frames[0] == frames[1]


def _first_frame_features(df) -> np.ndarray:
    return np.stack([cv2.resize(cv2.imread(f[0]), (12, 9), interpolation=cv2.INTER_AREA).ravel()
                     for f in df["frames"]]).astype(float)


def test_a_leaky_protocol_learns_the_subject_at_amplitude_zero(tmp_path):
    """No motion at all (amplitude 0): a 5-NN on the first frame's thumbnail learns subject -> label under a
    sample-level k-fold when the knob is up, and stays at or below chance when subjects are held out."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    acc = {}
    for d in (0.0, 1.0):
        for seed in (0, 1):
            root = synth.generate(tmp_path / f"{d}-{seed}", "casme2", seed=seed, progress=False, amplitude=0.0,
                                  subject_label_dependence=d, subjects=6, clips_per_subject=14, width=96,
                                  height=72, frames=(3, 3))
            df = datasets.load("casme2", root)
            x, y, g = _first_frame_features(df), df["objective_class"].astype(str).to_numpy(), df["subject"]
            clf = make_pipeline(StandardScaler(), KNeighborsClassifier(5))
            kfold = cross_val_predict(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
            loso = cross_val_predict(clf, x, y, cv=LeaveOneGroupOut(), groups=g)
            acc[d, seed] = ((kfold == y).mean(), (loso == y).mean())
    chance = 1 / 7
    for seed in (0, 1):
        assert acc[1.0, seed][0] > 3 * chance, acc  # measured 0.65-0.70
        assert acc[1.0, seed][1] < chance + 0.06, acc  # measured 0.00-0.01
        assert acc[0.0, seed][0] < chance + 0.1 and acc[0.0, seed][1] < chance + 0.1, acc


# --- release-scale presets -------------------------------------------------------------------------

def test_release_preset_has_each_releases_frames():
    p = synth.default_params(preset="release")
    assert p["preset"] == "release"
    want = {"casme2": (640, 480, 200.0, 280.0), "samm": (960, 650, 200.0, 400.0), "smic": (640, 480, 100.0, 190.0)}
    for layout, (w, h, fps, face) in want.items():
        q = p["layouts"][layout]
        assert (q["width"], q["height"], q["fps"], q["face_width"]) == (w, h, fps, face)
        assert q["subjects"] == synth.DEFAULTS["subjects"] and 20 <= q["frames"][0] < q["frames"][1] <= 140
    tuned = synth.default_params(preset="release", amplitude=1.5)["layouts"]["smic"]
    assert tuned["amplitude"] == 1.5 and tuned["width"] == 640  # parameters override the preset's
    fewer = synth.default_params(preset="release-full", clips_per_subject=2)["layouts"]["samm"]
    assert fewer["subjects"] == 29 and fewer["clips_per_subject"] == 2 and "clips" not in fewer


@pytest.mark.parametrize("layout,subjects,clips", [("casme2", 26, 255), ("samm", 29, 159), ("smic", 16, 164)])
def test_release_full_has_each_releases_counts(layout, subjects, clips):
    subject_of, labels = planned(layout, **synth.PRESETS["release-full"][layout])
    counts = Counter(subject_of)
    assert len(labels) == clips and len(counts) == subjects and max(counts.values()) - min(counts.values()) <= 1
    by_label = Counter(labels).values()
    assert max(by_label) - min(by_label) <= 2 if layout != "smic" else len(by_label) == 3


def test_release_scale_frames_on_disk(tmp_path):
    """One release-scale clip per layout, written and read back at its release's size and rate."""
    want = {}
    for layout in synth.DEFAULT_LAYOUTS:
        want[layout] = {**synth.PRESETS["release"][layout], "subjects": 1, "clips_per_subject": 1, "frames": (20, 20)}
        synth.generate(tmp_path, layout, progress=False, **want[layout])
    df = datasets.load("synth", tmp_path)
    for layout, params in want.items():
        row = df[df["dataset"] == layout].iloc[0]
        frame = datasets.read_clip({**row, "frames": row["frames"][:1]}, gray=True)[0]
        assert frame.shape == (params["height"], params["width"]) and row["fps"] == params["fps"]


def test_cli_presets(tmp_path):
    out = subprocess.run([sys.executable, "-m", "melib.cli", "data", "synth", "--help"], capture_output=True,
                         text=True)
    text = " ".join(out.stdout.split())
    assert "--preset" in text and "--full" in text and "s a clip" in text  # the measured cost, before the run
    out = subprocess.run([sys.executable, "-m", "melib.cli", "data", "synth", "--root", str(tmp_path / "s"),
                          "--full"], capture_output=True, text=True)
    assert out.returncode == 2 and "--full" in out.stderr and "Traceback" not in out.stderr

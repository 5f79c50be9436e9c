"""The face stage on synthetic sets without dlib: landmarks from the set's ground truth (issue #14.7)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from melib import datasets
from melib.errors import ConfigError
from melib.preprocess import face as face_mod
from melib.preprocess.face import face_track

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(synth_small):
    return datasets.load("synth", synth_small)


@pytest.fixture
def no_dlib(monkeypatch, tmp_path):
    """dlib cannot be imported (as on a machine where it does not install); a cache of the test's own."""
    monkeypatch.setitem(sys.modules, "dlib", None)
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    face_mod.detector.cache_clear()
    face_mod.predictor.cache_clear()
    yield
    face_mod.detector.cache_clear()
    face_mod.predictor.cache_clear()


def test_ground_truth_landmarks_are_close_to_dlibs(samples, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path))
    rows = samples.groupby("dataset").head(3)
    errors, pixels = [], []
    for _, row in rows.iterrows():
        truth = face_track(row, size=(112, 112), gray=True, landmarks="ground_truth")
        found = face_track(row, size=(112, 112), gray=True, landmarks="dlib")
        assert np.isnan(truth["score"]) and not np.isnan(found["score"])
        # the ground truth, mapped by dlib's alignment, against dlib's landmarks (112x112 face pixels)
        gt = face_mod.ground_truth_landmarks(row)["landmarks"]
        errors.append(np.linalg.norm(face_mod.apply_transform(found["transform"], gt) - found["landmarks"], axis=1))
        pixels.append(np.abs(truth["frames"].astype(float) - found["frames"]).mean())
    errors = np.concatenate(errors)
    assert np.median(errors) < 2.0 and errors.max() < 8, (np.median(errors), errors.max())
    assert np.mean(pixels) < 12  # the two crops show the same face, nearly in the same place


def test_ground_truth_needs_no_dlib(samples, no_dlib):
    row = samples.iloc[0]
    out = face_track(row, size=(64, 64), landmarks="ground_truth")
    assert out["frames"].shape[1:3] == (64, 64) and out["landmarks"].shape == (68, 2)
    with pytest.raises(ConfigError, match="MELIB_LANDMARKS=ground_truth"):
        face_track(row, size=(64, 64), landmarks="dlib")  # a clear error, not an ImportError


def test_the_environment_selects_the_source_and_keys_the_cache(samples, no_dlib, monkeypatch):
    from melib.preprocess import pipelines

    row = samples.iloc[0]
    dlib_key = pipelines.dlhn_inputs.cache_path(row)
    monkeypatch.setenv("MELIB_LANDMARKS", "dlib")
    assert pipelines.dlhn_inputs.cache_path(row) == dlib_key  # the default spelt out: the same entries
    monkeypatch.setenv("MELIB_LANDMARKS", "ground_truth")
    assert pipelines.dlhn_inputs.cache_path(row) != dlib_key  # never a dlib result for a ground-truth run
    assert face_track(row, size=(64, 64))["landmarks"].shape == (68, 2)  # no dlib needed
    pipelines.dlhn_inputs(row)
    assert pipelines.dlhn_inputs.cache_path(row).exists()
    monkeypatch.setenv("MELIB_LANDMARKS", "dilb")
    with pytest.raises(ConfigError, match="MELIB_LANDMARKS"):
        face_track(row)


def test_refused_for_real_data(tmp_path):
    import release_fixtures as rf

    real = datasets.load("casme2", rf.make_casme2(tmp_path / "casme2"))
    with pytest.raises(ConfigError, match="synthetic"):
        face_track(real.iloc[0], landmarks="ground_truth")


def test_refused_for_real_data_even_beside_a_ground_truth_file(casme2_release):
    as_real = datasets.load("casme2", casme2_release)  # a synthetic layout without melib's marker: read as real
    assert not as_real["synthetic"].any()
    with pytest.raises(ConfigError, match="synthetic"):
        face_track(as_real.iloc[0], landmarks="ground_truth")


def test_import_and_generate_without_dlib(tmp_path):
    code = ("import sys; sys.modules['dlib'] = None\n"
            "import melib.preprocess.face, melib.preprocess.pipelines\n"
            "from melib import synth\n"
            f"synth.generate({str(tmp_path)!r}, 'smic', progress=False, subjects=1, clips_per_subject=2, "
            "width=96, height=72, frames=(4, 5))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert synth_verify(tmp_path / "smic") == []


def synth_verify(path):
    from melib import synth

    return synth.verify(path)

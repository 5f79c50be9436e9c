"""Face detection, landmarks and one alignment + crop per clip, on a public-domain photo in a larger canvas."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from melib.errors import DataError
from melib.preprocess import face as face_mod
from melib.preprocess.face import (
    FACE_SIZES,
    FaceNotFound,
    align_clip,
    alignment_transform,
    apply_transform,
    detect_face,
    detect_landmarks,
    detector,
    eye_centres,
    predictor,
)

OFFSET = np.array([150, 100])  # where the 512x512 photo sits in the canvas (x, y)
# The face in skimage's astronaut photo, by eye: x 175-275, y 75-180 (photo coordinates).
FACE_REGION = np.array([175, 75, 275, 180]) + np.r_[OFFSET, OFFSET]


@pytest.fixture(scope="module")
def canvas():
    c = np.full((700, 800, 3), 128, np.uint8)
    c[OFFSET[1]:OFFSET[1] + 512, OFFSET[0]:OFFSET[0] + 512] = skimage.data.astronaut()
    return c


def rotate(image, degrees):
    h, w = image.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, M, (w, h), borderMode=cv2.BORDER_REPLICATE)


def shift(image, dx, dy):
    M = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, M, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def test_models_load_once():
    assert detector() is detector() and predictor() is predictor()


def test_detects_the_one_face(canvas):
    (left, t, r, b), score = detect_face(canvas)
    fx0, fy0, fx1, fy1 = FACE_REGION
    # the box overlaps the face region by more than 60 % of its own area
    ix = max(0, min(r, fx1) - max(left, fx0))
    iy = max(0, min(b, fy1) - max(t, fy0))
    assert ix * iy > 0.6 * (r - left) * (b - t)
    assert score > 0.5
    # upsample 1 makes dlib report a false second face; the best-scoring box is still the true one
    dets, scores, _ = detector().run(canvas, 1, 0.0)
    assert len(dets) >= 2
    (l1, t1, r1, b1), _ = detect_face(canvas, upsample=1)
    assert abs(l1 - left) < 15 and abs(t1 - t) < 15
    # and a score threshold removes the false one
    assert len(detector().run(canvas, 1, 0.5)[0]) == 1


def test_landmarks_on_the_face(canvas):
    box, _ = detect_face(canvas)
    pts = detect_landmarks(canvas, box)
    assert pts.shape == (68, 2)
    fx0, fy0, fx1, fy1 = FACE_REGION
    assert (pts[:, 0] > fx0 - 10).all() and (pts[:, 0] < fx1 + 10).all()
    assert (pts[:, 1] > fy0 - 10).all() and (pts[:, 1] < fy1 + 10).all()
    left, right = eye_centres(pts)
    assert left[0] < right[0] and abs(left[1] - right[1]) < 10  # eyes side by side
    assert pts[48:68, 1].mean() > pts[27:36, 1].mean() > pts[36:48, 1].mean()  # eyes, nose, mouth downwards


def test_no_face_is_a_reported_data_error():
    rng = np.random.default_rng(0)
    blank = np.stack([rng.integers(0, 30, (240, 320), dtype=np.uint8)] * 3)
    with pytest.raises(FaceNotFound) as info:
        align_clip(blank, path="/data/sub01/clip/img1.jpg")
    assert isinstance(info.value, DataError)
    assert str(info.value.path) == "/data/sub01/clip/img1.jpg" and "face" in str(info.value)


def test_alignment_levels_the_eyes_and_crops(canvas):
    clip = np.stack([rotate(canvas, 12)] * 2)
    a = align_clip(clip, size=(112, 112))
    assert a.frames.shape == (2, 112, 112, 3) and a.frames.dtype == np.uint8
    left, right = eye_centres(a.landmarks)
    assert abs(left[1] - right[1]) < 1e-6 and right[0] - left[0] > 30
    # the rotation found undoes the 12 degrees, on top of the photo's own tilt
    def angle(t):
        return np.degrees(np.arctan2(t[1, 0], t[0, 0]))

    upright = align_clip(canvas[None], size=(112, 112))
    assert abs(angle(a.transform) - angle(upright.transform) - 12) < 1.5
    # the landmarks fill the crop up to the margin along one axis and stay inside along the other
    span = a.landmarks.max(axis=0) - a.landmarks.min(axis=0)
    assert np.isclose(span.max(), 112 / (1 + 2 * face_mod.DEFAULT_MARGIN))
    assert a.landmarks.min() > 0 and a.landmarks.max() < 112


def test_output_landmarks_match_a_fresh_detection(canvas):
    a = align_clip(np.stack([rotate(canvas, -8)]), size=(320, 320))
    box, _ = detect_face(a.frames[0])
    again = detect_landmarks(a.frames[0], box)
    err = np.linalg.norm(again - a.landmarks, axis=1)
    assert np.median(err) < 4, err


def test_one_transform_keeps_the_motion(canvas, monkeypatch):
    """Frame 1 is frame 0 moved 4 px right: the aligned clip must still show that motion."""
    calls = []
    real = face_mod.detect_face
    monkeypatch.setattr(face_mod, "detect_face", lambda *a, **k: calls.append(1) or real(*a, **k))
    frame0 = rotate(canvas, 10)
    clip = np.stack([frame0, shift(frame0, 4, 0), frame0])
    a = align_clip(clip, size=(128, 128))
    assert len(calls) == 1  # detected once, on the reference (onset) frame
    g = [np.float32(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in a.frames]
    (dx, dy), _ = cv2.phaseCorrelate(g[0], g[1])
    want = a.transform[:, :2] @ np.array([4.0, 0.0])  # about 4.2 px in the 128x128 crop
    assert np.hypot(*want) > 3 and np.hypot(dx - want[0], dy - want[1]) < 0.6, ((dx, dy), want)
    np.testing.assert_array_equal(a.frames[0], a.frames[2])


def test_reference_frame_and_given_landmarks(canvas):
    box, _ = detect_face(canvas)
    pts = detect_landmarks(canvas, box)
    clip = np.stack([np.zeros_like(canvas), canvas])
    a = align_clip(clip, size=FACE_SIZES["localregions"], reference=1)
    assert a.reference == 1 and a.frames.shape == (2, 280, 240, 3)
    np.testing.assert_allclose(a.landmarks, apply_transform(a.transform, pts))
    b = align_clip(clip[:, :, :, 0], size=(64, 64), landmarks=pts)  # grey clip, no detector
    assert b.frames.shape == (2, 64, 64) and np.isnan(b.score)
    np.testing.assert_allclose(b.transform, alignment_transform(pts, (64, 64)))
    with pytest.raises(DataError, match="reference frame"):
        align_clip(clip, reference=2)
    with pytest.raises(DataError, match="non-empty clip"):
        align_clip(clip[:0])


def test_paper_sizes():
    assert FACE_SIZES["dlhn"] == FACE_SIZES["psn"] == (112, 112)
    assert FACE_SIZES["c3d"] == (128, 128) and FACE_SIZES["c3d_b"] == (64, 64)
    assert FACE_SIZES["cropnet"] == (320, 320)


# --- known answers on the synthetic set ------------------------------------------------------------

@pytest.fixture(scope="module")
def synth_rows(synth_small):
    """(samples table, {row index: ground-truth row}) of the shared small synthetic set."""
    from pathlib import Path

    from melib import datasets, synth

    root = Path(synth_small)
    samples = datasets.load("synth", root)
    truth = {}
    for layout in samples["dataset"].unique():
        gt = synth.read_ground_truth(root / layout).set_index("folder")
        for i, row in samples[samples["dataset"] == layout].iterrows():
            truth[i] = gt.loc[Path(row["frames"][0]).parent.relative_to(root / layout).as_posix()]
    return samples, truth


def gt_landmarks(row, truth_row, position=0):
    """Ground-truth landmarks of the clip's frame at ``position`` (the ground truth covers the whole folder)."""
    from melib.datasets import frame_number

    return truth_row["landmarks"][frame_number(row["frames"][position]) - truth_row["first_frame"]]


def test_synthetic_faces_found_where_generated(synth_rows):
    from melib.datasets import read_clip

    samples, truth = synth_rows
    errors = []
    for i, row in samples.iterrows():
        onset = read_clip(row)[0]
        (left, t, r, b), _ = detect_face(onset)
        gt = gt_landmarks(row, truth[i])
        inner = gt[17:68]  # brows, eyes, nose, mouth: inside the detector's box
        assert ((inner[:, 0] >= left - 3) & (inner[:, 0] <= r + 3) & (inner[:, 1] >= t - 3)
                & (inner[:, 1] <= b + 3)).all(), (row["clip"], (left, t, r, b))
        err = np.linalg.norm(detect_landmarks(onset, (left, t, r, b)) - gt, axis=1)
        errors.append(err)
        assert np.median(err) < 3 and err.max() < 10, (row["clip"], np.median(err), err.max())
    assert np.median(np.concatenate(errors)) < 2


def test_synthetic_alignment_maps_ground_truth(synth_rows):
    from melib.datasets import read_clip

    samples, truth = synth_rows
    row = samples.iloc[0]
    a = align_clip(read_clip(row), size=(112, 112))
    gt = gt_landmarks(row, truth[samples.index[0]])
    err = np.linalg.norm(apply_transform(a.transform, gt) - a.landmarks, axis=1)
    assert np.median(err) < 2  # pixels of the 112x112 face


def test_detection_is_cached_once_per_clip_whatever_the_face_size(synth_rows, tmp_path, monkeypatch):
    from melib.preprocess.cache import cache_info
    from melib.preprocess.clips import map_clips

    monkeypatch.setenv("MELIB_CACHE", str(tmp_path))
    samples, _ = synth_rows
    samples = samples.groupby("dataset").head(1)  # one clip per layout keeps it fast
    calls = []
    real = face_mod.detect_face
    monkeypatch.setattr(face_mod, "detect_face", lambda *a, **k: calls.append(1) or real(*a, **k))
    # n_jobs=1: in this process, where the counting patch is (worker processes would not see it)
    first, excl = map_clips(face_mod.face_track, samples, progress=False, size=(64, 64), n_jobs=1)
    assert excl == [] and len(first) == len(samples) == len(calls)
    second, _ = map_clips(face_mod.face_track, samples, progress=False, size=(128, 128), n_jobs=1)
    assert len(calls) == len(samples)  # the second size reuses the cached detection
    for k in first:
        assert first[k]["frames"].shape[1:3] == (64, 64) and second[k]["frames"].shape[1:3] == (128, 128)
        np.testing.assert_allclose(first[k]["landmarks"] * 2, second[k]["landmarks"], atol=1.5)
    assert cache_info()[face_mod.face_landmarks.cache_name]["entries"] == len(samples)


def test_apex_window_contains_the_true_apex(synth_rows):
    """C3D's apex-centred window, from the samples table's apex (SMIC: the estimated middle frame)."""
    from melib.datasets import frame_number
    from melib.preprocess.temporal import C3D_WINDOW, apex_position, apex_window_indices

    samples, truth = synth_rows
    assert samples.loc[samples["dataset"] == "smic", "apex_estimated"].all()
    for i, row in samples.iterrows():
        numbers = [frame_number(f) for f in row["frames"]]
        true_apex = numbers.index(int(truth[i]["apex"]))
        length = C3D_WINDOW["smic" if row["dataset"] == "smic" else "casme2"]
        idx = apex_window_indices(len(numbers), apex_position(row), length)
        assert len(idx) == length and true_apex in idx, (row["clip"], true_apex, idx)
        if not row["apex_estimated"]:
            assert idx[length // 2] == true_apex

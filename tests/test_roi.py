"""ROIs from landmarks: DLHN's four fixed-size regions and LocalRegions' six resized regions."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from melib.errors import DataError
from melib.preprocess.face import align_clip
from melib.preprocess.roi import (
    DLHN_ROI_SIZES,
    LOCALREGIONS_ROI_SIZES,
    check_landmarks,
    crop_rois,
    dlhn_boxes,
    dlhn_rois,
    fixed_box,
    frame_shape,
    localregions_boxes,
    localregions_rois,
)


@pytest.fixture(scope="module")
def faces():
    c = np.full((700, 800, 3), 128, np.uint8)
    c[100:612, 150:662] = skimage.data.astronaut()
    return {size: align_clip(np.stack([c, c]), size=size) for size in [(112, 112), (280, 240)]}


def contains(box, pts, tol=0.0):
    x0, y0, x1, y1 = box
    pts = np.atleast_2d(pts)
    return bool(((pts[:, 0] >= x0 - tol) & (pts[:, 0] <= x1 + tol)
                 & (pts[:, 1] >= y0 - tol) & (pts[:, 1] <= y1 + tol)).all())


def test_dlhn_sizes_from_the_paper():
    # DLHN 4.2.1: brow 112x33, eye 112x20, nose 56x32, mouth 56x38 (width x height)
    assert {k: (w, h) for k, (h, w) in DLHN_ROI_SIZES.items()} == {
        "eyebrows": (112, 33), "eyes": (112, 20), "nose": (56, 32), "mouth": (56, 38)}


def test_dlhn_boxes_on_a_real_face(faces):
    a = faces[(112, 112)]
    crops, boxes = dlhn_rois(a.frames, a.landmarks)
    p = a.landmarks
    for name, (h, w) in DLHN_ROI_SIZES.items():
        x0, y0, x1, y1 = boxes[name]
        assert (y1 - y0, x1 - x0) == (h, w) and 0 <= x0 and 0 <= y0 and x1 <= 112 and y1 <= 112
        assert crops[name].shape == (2, h, w, 3)
        np.testing.assert_array_equal(crops[name][1], a.frames[1, y0:y1, x0:x1])
    assert contains(boxes["eyes"], p[36:48], tol=1)
    assert contains(boxes["mouth"], p[48:68], tol=1)
    assert contains(boxes["eyebrows"], p[17:27].mean(axis=0))
    assert contains(boxes["nose"], p[30])  # the nose tip
    centres = {k: (b[1] + b[3]) / 2 for k, b in boxes.items()}
    assert centres["eyebrows"] < centres["eyes"] < centres["nose"] < centres["mouth"]


def test_localregions_boxes_on_a_real_face(faces):
    a = faces[(280, 240)]
    crops, boxes = localregions_rois(a.frames[0], a.landmarks)
    p = a.landmarks
    assert set(boxes) == set(LOCALREGIONS_ROI_SIZES)
    for name, size in LOCALREGIONS_ROI_SIZES.items():
        assert crops[name].shape == size + (3,)
    assert LOCALREGIONS_ROI_SIZES["mouth"] == (60, 160) and LOCALREGIONS_ROI_SIZES["nose"] == (80, 120)
    assert contains(boxes["left_eye"], np.r_[p[17:22], p[36:42]])
    assert contains(boxes["right_eye"], np.r_[p[22:27], p[42:48]])
    assert contains(boxes["nose"], p[27:36]) and contains(boxes["mouth"], p[48:68])
    # cheeks (unpadded): from the lower eyelid to the mouth corner, outside the nose wings
    tight = localregions_boxes(p, (280, 240), pad=0.0)
    lc, rc = tight["left_cheek"], tight["right_cheek"]
    assert lc[1] == int(p[40:42, 1].max()) and rc[1] == int(p[46:48, 1].max())
    assert lc[3] == int(np.ceil(p[48, 1])) + 1 and rc[3] == int(np.ceil(p[54, 1])) + 1
    assert lc[2] == int(np.ceil(p[31, 0])) + 1 and rc[0] == int(p[35, 0]) and lc[2] <= rc[0] + 1
    assert p[0, 0] < lc[0] < p[36, 0] and p[45, 0] < rc[2] < p[16, 0]


def test_crop_rois_exact_pixels_and_resizing():
    H, W = 40, 50
    frame = (np.arange(H)[:, None] * 100 + np.arange(W)[None, :]).astype(np.int32)  # value = 100 y + x
    clip = np.stack([frame, frame + 1])
    out = crop_rois(clip, {"a": (5, 7, 15, 12)})
    assert out["a"].shape == (2, 5, 10)
    assert out["a"][0, 0, 0] == 705 and out["a"][1, -1, -1] == 1100 + 14 + 1
    img = np.dstack([frame.astype(np.uint8)] * 3)
    big = crop_rois(img, {"a": (0, 0, 10, 10)}, {"a": (20, 30)})
    assert big["a"].shape == (20, 30, 3)
    assert frame_shape(img) == (40, 50) and frame_shape(clip) == (40, 50)


def test_landmarks_outside_the_frame_raise(faces):
    p = faces[(112, 112)].landmarks.copy()
    p[8, 1] = 130  # the chin below a 112-pixel frame
    with pytest.raises(DataError, match=r"inside the 112x112 frame.*point 8"):
        dlhn_boxes(p, (112, 112), path="clipA")
    with pytest.raises(DataError, match="inside"):
        localregions_boxes(-p, (112, 112))
    with pytest.raises(DataError, match=r"\(68, 2\)"):
        check_landmarks(p[:5], (112, 112))


def test_fixed_box_shifts_inside_and_rejects_too_big():
    assert fixed_box(np.array([2.0, 100.0]), (20, 30), (112, 112)) == (0, 90, 30, 110)
    assert fixed_box(np.array([56.0, 56.0]), (33, 112), (112, 112))[0::2] == (0, 112)
    with pytest.raises(DataError):
        fixed_box(np.array([10.0, 10.0]), (33, 120), (112, 112))


def test_landmark_figure_draws_points_and_boxes(faces):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from melib.preprocess.figures import plot_landmarks

    a = faces[(112, 112)]
    boxes = dlhn_boxes(a.landmarks)
    fig = plot_landmarks(a.frames[0], a.landmarks, boxes, title="aligned")
    ax = fig.axes[0]
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rects) == 4
    assert sorted((r.get_width(), r.get_height()) for r in rects) == sorted(
        (w, h) for h, w in DLHN_ROI_SIZES.values())
    np.testing.assert_allclose(ax.collections[0].get_offsets(), a.landmarks)
    assert {t.get_text() for t in ax.texts} == set(boxes)
    plt.close(fig)

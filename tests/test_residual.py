"""CropNet preprocessing: clip bounds, key frames, ARS/RRS (Eqs. 1-7) and CGPO (3.2.2)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from melib.errors import DataError
from melib.preprocess.pyramid import cgpo, gaussian_pyramid, tile_boxes
from melib.preprocess.residual import (ars, as_clip, clip_bounds, key_frames, residual_image, residual_sum,
                                       rrs)


@pytest.mark.parametrize("onset,apex,offset,expected", [
    (0, 5, 30, (0, 10)),     # apex < onset + 10: run to onset + 10
    (0, 5, 8, (0, 8)),       # ... capped at the offset
    (3, 40, 60, (3, 40)),    # otherwise to the apex
    (3, 13, 60, (3, 13)),    # apex - onset = 10 is "else"
    (2, 2, 2, (2, 2)),
])
def test_clip_bounds_eqs_1_2(onset, apex, offset, expected):
    assert clip_bounds(onset, apex, offset) == expected


def test_clip_bounds_rejects_unordered():
    with pytest.raises(ValueError):
        clip_bounds(5, 3, 10)


@pytest.mark.parametrize("start,end,expected", [
    (0, 10, [2, 4, 6, 8, 10]),
    (0, 30, [5, 10, 15, 20, 25]),
    (4, 16, [6, 8, 10, 12, 14]),
    (0, 7, [2, 4, 6, 7]),        # capped repeats count once
    (0, 1, [1]),
])
def test_key_frames_eqs_3_4(start, end, expected):
    assert key_frames(start, end) == expected


def test_key_frames_n_key_and_bad_span():
    assert key_frames(0, 12, n_key=3) == [3, 6, 9]
    with pytest.raises(ValueError):
        key_frames(5, 5)


def test_residual_sums_known_answer():
    clip = np.zeros((4, 1, 3), dtype=np.uint8)
    clip[:, 0, 0] = [10, 200, 0, 10]     # |190| + |-10| + 0 = 200
    clip[:, 0, 1] = [0, 255, 255, 255]   # 3 * 255 = 765 -> 765 % 256 = 253
    clip[:, 0, 2] = 7                    # no change
    diff = residual_sum(clip, 0, [1, 2, 3])
    np.testing.assert_array_equal(diff, [[200, 765, 0]])
    np.testing.assert_array_equal(ars(diff), [[200, 253, 0]])
    assert ars(diff).dtype == np.uint8
    np.testing.assert_allclose(rrs(diff), [[200 / 765 * 255, 255, 0]])
    np.testing.assert_allclose(rrs(diff, gmin=10, gmax=20), [[10 + 2000 / 765, 20, 10]])
    np.testing.assert_array_equal(rrs(np.full((2, 2), 9)), np.zeros((2, 2)))


def moving_patch_clip(T=12, size=32, step=1, contrast=30, seed=0):
    """A static textured background with a brighter 6 x 6 patch moving right ``step`` pixels per frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(60, 120, (size, size)).astype(np.uint8)
    clip = np.repeat(background[None], T, axis=0)
    for t in range(T):
        x = 4 + step * t
        clip[t, 12:18, x:x + 6] += contrast
    return clip


def test_ars_is_largest_where_pixels_moved():
    clip = moving_patch_clip()
    image = residual_image(clip, onset=0, apex=10, offset=11, kind="ars")
    assert image.shape == clip.shape[1:] and image.dtype == np.uint8
    moved = np.zeros(clip.shape[1:], bool)
    moved[12:18, 4:20] = True                          # swept by the patch from frame 0 to 10
    assert (image[~moved] == 0).all()                  # nothing else changed
    assert image[moved].mean() > 20 and image.max() == image[moved].max()
    r = residual_image(clip, 0, 10, 11, kind="rrs")
    assert r.min() == 0 and r.max() == 255 and (r[~moved] == 0).all()
    # the trailing edge (left since frame 0, differing in every key frame) sums the most
    assert np.unravel_index(np.argmax(r), r.shape)[1] in range(4, 6)


def test_residual_image_colour_and_eq_1_2_span():
    clip = np.stack([moving_patch_clip(seed=s) for s in range(3)], axis=-1)
    image = residual_image(clip, 0, 3, 9, kind="ars")   # apex - onset < 10: end = min(10, 9) = 9
    assert image.shape == (32, 32, 3)
    start, end = clip_bounds(0, 3, 9)
    keys = key_frames(start, end)
    expected = sum(np.abs(clip[f].astype(int) - clip[0]) for f in keys) % 256
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("bad,what", [
    (np.zeros((0, 4, 4), np.uint8), "empty"),
    (np.zeros((1, 4, 4), np.uint8), "at least 2"),
    ([np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)], "one size"),
    (np.full((3, 4, 4), np.nan), "finite"),
    (np.zeros((3, 4), np.uint8), "shaped"),
])
def test_bad_clips_raise_data_error(bad, what):
    with pytest.raises(DataError, match=what):
        residual_image(bad, 0, 1, 1)


def test_bad_indices_and_float_clips():
    clip = moving_patch_clip(T=5)
    with pytest.raises(DataError, match="onset"):
        residual_image(clip, 0, 3, 7)
    with pytest.raises(DataError, match="offset after the onset"):
        residual_image(clip, 2, 2, 2)
    with pytest.raises(DataError, match="integer"):
        residual_image(clip.astype(np.float32), 0, 3, 4)
    with pytest.raises(ValueError, match="kind"):
        residual_image(clip, 0, 3, 4, kind="xyz")
    with pytest.raises(DataError, match="path/clip"):
        as_clip(np.zeros((1, 2, 2)), path="path/clip")


def test_tile_boxes_overlap_by_alpha_and_cover():
    boxes = tile_boxes(320, 3, 0.3)
    assert len(boxes) == 9
    xs = sorted({(b[1], b[3]) for b in boxes})
    assert xs[0][0] == 0 and xs[-1][1] == 320
    for (a0, a1), (b0, _) in zip(xs, xs[1:]):
        overlap = (a1 - b0) / (a1 - a0)
        assert abs(overlap - 0.3) < 0.01
    assert tile_boxes(160, 1) == [(0, 0, 160, 160)]
    assert tile_boxes(100, 2, 0.0) == [(0, 0, 50, 50), (0, 50, 50, 100), (50, 0, 100, 50), (50, 50, 100, 100)]


@pytest.mark.parametrize("shape,dtype", [((240, 200, 3), np.uint8), ((320, 320), np.float64)])
def test_cgpo_ten_crops(shape, dtype):
    rng = np.random.default_rng(1)
    image = (rng.random(shape) * 255).astype(dtype)
    crops, boxes = cgpo(image)
    assert crops.shape == (10, 160, 160) + shape[2:] and crops.dtype == dtype
    assert boxes.shape == (10, 5)
    assert (boxes[0] == [1, 0, 0, 160, 160]).all() and (boxes[1:, 0] == 0).all()
    levels = gaussian_pyramid(image)
    assert levels[0].shape[:2] == (320, 320) and levels[1].shape[:2] == (160, 160)
    np.testing.assert_array_equal(crops[0], levels[1])        # z_0: the whole coarse level
    _, y0, x0, y1, x1 = boxes[5]
    np.testing.assert_array_equal(crops[5], cv2.resize(levels[0][y0:y1, x0:x1], (160, 160)))


def test_cgpo_custom_grid_and_bad_image():
    crops, boxes = cgpo(np.zeros((64, 64), np.uint8), size=64, grids=(2, 2, 1), out_size=16)
    assert crops.shape == (9, 16, 16) and list(boxes[:, 0]) == [2, 1, 1, 1, 1, 0, 0, 0, 0]
    with pytest.raises(DataError):
        cgpo(np.zeros((4, 4, 5)))
    with pytest.raises(DataError, match="finite"):
        cgpo(np.full((8, 8), np.nan))

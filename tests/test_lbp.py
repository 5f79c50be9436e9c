"""LBP, LBP-TOP and LBP-SIP: identical to loops of scikit-image ``local_binary_pattern`` calls."""
from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from melib.errors import DataError
from melib.preprocess.lbp import lbp_image, lbp_sip, lbp_top, n_bins

sys.path.insert(0, str(Path(__file__).parents[1] / "benches"))  # the bench imports benches/_common.py
_spec = importlib.util.spec_from_file_location("bench_lbp", Path(__file__).parents[1] / "benches" / "bench_lbp.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

rng = np.random.default_rng(0)


def skimage_lbp(image, P, R, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return local_binary_pattern(image, P, R, method)


@pytest.mark.parametrize("P,R,method", [(P, R, m) for P, R in [(4, 1), (8, 1), (8, 2), (6, 1.5), (12, 2.5), (8, 1.3)]
                                          for m in ("uniform", "default")] + [(16, 3, "uniform"), (20, 2, "uniform")])
def test_lbp_image_is_skimage_bit_for_bit(P, R, method):
    images = [rng.integers(0, 256, (17, 23), dtype=np.uint8),
              rng.integers(0, 4, (17, 23), dtype=np.uint8),          # many ties
              rng.random((17, 23)),                                  # float: interpolation rounding matters
              np.full((9, 11), 7, dtype=np.uint8)]
    for img in images:
        np.testing.assert_array_equal(lbp_image(img, P, R, method), skimage_lbp(img, P, R, method))
    stack = rng.integers(0, 256, (3, 10, 12), dtype=np.uint8)
    np.testing.assert_array_equal(lbp_image(stack, P, R, method),
                                  np.stack([skimage_lbp(s, P, R, method) for s in stack]))


@pytest.mark.parametrize("kw", [
    dict(radii=(1, 1, 4), points=(4, 4, 4)),                        # MEGC2019 baseline (elliptical XT, YT)
    dict(radii=(1, 1, 1), points=(8, 8, 8)),                        # bilinear on every plane
    dict(radii=(2, 2, 2), points=(8, 4, 6), blocks=(3, 4)),
    dict(radii=(1, 2, 3), points=(4, 4, 4), blocks=(2, 2)),         # every plane elliptical
    dict(radii=(1, 1, 1), points=(4, 8, 4), method="default"),
])
@pytest.mark.parametrize("kind", ["uint8", "lowbits", "float"])
def test_lbp_top_equals_skimage_loop(kw, kind):
    shape = (11, 19, 23)
    video = {"uint8": lambda: rng.integers(0, 256, shape, dtype=np.uint8),
             "lowbits": lambda: rng.integers(0, 3, shape, dtype=np.uint8),
             "float": lambda: rng.random(shape)}[kind]()
    h = lbp_top(video, normalize=False, **kw)
    np.testing.assert_array_equal(h, bench.lbp_top_skimage(video, **kw))


def test_lbp_top_layout_and_normalisation():
    video = rng.integers(0, 256, (12, 30, 30), dtype=np.uint8)
    h = lbp_top(video)
    assert h.shape == (25 * 3 * 6,) and h.dtype == np.float64
    per = h.reshape(25, 3, 6)
    np.testing.assert_allclose(per.sum(-1), 1.0)
    counts = lbp_top(video, normalize=False).reshape(25, 3, 6)
    # every plane sees the same centres: 4 valid frames (T = 12, R_T = 4) x block pixels
    assert (counts.sum(-1) == counts.sum(-1)[:, :1]).all()
    assert counts.sum() == 3 * 4 * 28 * 28


def test_flat_video_is_all_ones_pattern():
    h = lbp_top(np.full((9, 10, 10), 50, dtype=np.uint8), blocks=(1, 1)).reshape(3, 6)
    np.testing.assert_array_equal(h, np.tile([0, 0, 0, 0, 1, 0], (3, 1)))  # uniform code P = 4


def test_lbp_top_time_planes_known_patterns():
    frame = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    still = np.repeat(frame[None], 9, axis=0)
    moving = np.stack([np.roll(frame, t, axis=1) for t in range(9)])
    a, b = (lbp_top(v, blocks=(1, 1), radii=(1, 1, 1)).reshape(3, 6) for v in (still, moving))
    np.testing.assert_allclose(a[0], b[0], atol=0.15)   # XY texture statistics alike
    # still: the t-1 and t+1 neighbours equal the centre, so two bits are always set (codes 0-2 impossible)
    assert a[1:, :3].sum() == 0
    # moving one pixel per frame along x: in XT the t-1 neighbour is the x+1 one and t+1 is x-1, so the
    # patterns are (a, a, b, b): 0, 2 or 4 ones, always uniform
    assert b[1, [1, 3, 5]].sum() == 0 and b[1, 0] > 0.2


@pytest.mark.parametrize("radii", [(1, 1, 4), (1, 1, 1), (2, 2, 3)])
def test_lbp_sip_equals_skimage_derived_codes(radii):
    video = rng.integers(0, 256, (11, 18, 21), dtype=np.uint8)
    h = lbp_sip(video, radii=radii, normalize=False, blocks=(3, 3))
    assert h.shape == (9 * 20,)
    np.testing.assert_array_equal(h, bench.lbp_sip_skimage(video, blocks=(3, 3), radii=radii))
    np.testing.assert_allclose(lbp_sip(video, radii=radii).reshape(25, 20)[:, 16:].sum(-1), 1.0)


def test_n_bins():
    assert n_bins(4, "uniform") == 6 and n_bins(8, "default") == 256


@pytest.mark.parametrize("bad,what", [
    (np.zeros((0, 10, 10), np.uint8), "at least"),
    (np.zeros((1, 10, 10), np.uint8), "T >= 9"),
    (np.zeros((8, 10, 10), np.uint8), "T >= 9"),
    (np.zeros((9, 2, 10), np.uint8), "H >= 3"),
    (np.zeros((9, 10, 10, 3), np.uint8), r"\(T, H, W\)"),
    (np.where(np.eye(10)[None].repeat(9, 0) > 0, np.nan, 1.0), "finite"),
    ([np.zeros((10, 10))] * 8 + [np.zeros((10, 11))], "one size"),
])
def test_bad_clips_raise_data_error(bad, what):
    with pytest.raises(DataError, match=what):
        lbp_top(bad)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        lbp_top(np.zeros((9, 10, 10), np.uint8), method="ror")


def test_scalar_radius_and_points():
    video = rng.integers(0, 256, (9, 12, 12), dtype=np.uint8)
    np.testing.assert_array_equal(lbp_top(video, radii=2, points=8), lbp_top(video, radii=(2, 2, 2), points=(8, 8, 8)))
    np.testing.assert_array_equal(lbp_sip(video, radii=1), lbp_sip(video, radii=(1, 1, 1)))

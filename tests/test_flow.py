"""Optical flow finds a known translation; optical strain of known flow fields."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from melib.errors import DataError
from melib.preprocess.flow import onset_apex_flow, optical_flow, optical_strain


def texture(size=140, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 2.0)
    return (255 * (big - big.min()) / (big.max() - big.min())).astype(np.uint8)


def shifted_pair(dx: int, dy: int, n=64):
    big = texture()
    prev = big[10:10 + n, 10:10 + n]
    nxt = big[10 - dy:10 - dy + n, 10 - dx:10 - dx + n]   # nxt[y + dy, x + dx] = prev[y, x]
    return prev, nxt


@pytest.mark.parametrize("method", ["tvl1", "farneback"])
@pytest.mark.parametrize("dx,dy", [(2, 1), (-1, 3)])
def test_flow_finds_known_translation(method, dx, dy):
    prev, nxt = shifted_pair(dx, dy)
    flow = optical_flow(prev, nxt, method)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), axis=0), [dx, dy], atol=0.05)
    assert np.abs(inner - [dx, dy]).mean() < 0.1


def test_flow_of_identical_frames_is_zero_and_rgb_accepted():
    prev, _ = shifted_pair(0, 0)
    rgb = np.repeat(prev[..., None], 3, axis=2)
    flow = optical_flow(rgb, rgb, "farneback")
    assert np.abs(flow).mean() < 1e-2 and np.abs(flow).max() < 0.1
    np.testing.assert_array_equal(flow, optical_flow(prev, prev, "farneback"))


def test_strain_known_answers():
    y, x = np.mgrid[0:20, 0:30].astype(np.float64)
    # uniform translation: no strain
    np.testing.assert_allclose(optical_strain(np.stack([np.full_like(x, 3), np.full_like(x, -2)], -1)), 0)
    # u = a x, v = b y: e_xx = a, e_yy = b, e_xy = 0
    a, b = 0.1, -0.05
    np.testing.assert_allclose(optical_strain(np.stack([a * x, b * y], -1)), np.hypot(a, b), rtol=1e-6)
    # u = c y, v = 0 (shear): e_xy = c / 2, strain = sqrt(2) c / 2
    c = 0.2
    np.testing.assert_allclose(optical_strain(np.stack([c * y, 0 * y], -1)), np.sqrt(2) * c / 2, rtol=1e-6)
    # rotation u = -w y, v = w x: rigid, no strain
    w = 0.03
    np.testing.assert_allclose(optical_strain(np.stack([-w * y, w * x], -1)), 0, atol=1e-7)


def test_onset_apex_flow_stacks_u_v_strain():
    prev, nxt = shifted_pair(1, 0)
    clip = np.stack([prev, prev, nxt])
    out = onset_apex_flow(clip, 0, 2, "farneback")
    assert out.shape == (64, 64, 3)
    np.testing.assert_array_equal(out[..., :2], optical_flow(prev, nxt, "farneback"))
    np.testing.assert_allclose(out[..., 2], optical_strain(out[..., :2]))


def test_bad_input():
    prev, _ = shifted_pair(0, 0)
    with pytest.raises(DataError, match="one size"):
        optical_flow(prev, prev[:-1])
    with pytest.raises(DataError, match="finite"):
        optical_flow(np.full((8, 8), np.nan), np.zeros((8, 8)))
    with pytest.raises(DataError, match="at least 2"):
        onset_apex_flow(prev[None], 0, 0)
    with pytest.raises(DataError, match="within"):
        onset_apex_flow(np.stack([prev, prev]), 0, 5)
    with pytest.raises(ValueError, match="method"):
        optical_flow(prev, prev, "horn")
    with pytest.raises(ValueError):
        optical_strain(np.zeros((5, 5, 3)))

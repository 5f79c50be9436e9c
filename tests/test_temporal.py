"""Temporal normalisation: linear and TIM resampling, PSN sampling, C3D apex windows, PSN Eq. 7."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from melib.errors import ConfigError, DataError
from melib.preprocess.temporal import (
    C3D_WINDOW,
    apex_or_middle,
    apex_window,
    apex_window_indices,
    linear_resample,
    middle_frame,
    psn_frames,
    psn_sample_indices,
    resample,
    temporal_perception,
    tim_curve,
    tim_resample,
)


def ramp_clip(T, h=4, w=5, slope=10.0, dtype=np.float64):
    """Frame t is constant t*slope: a clip whose interpolation has a known answer."""
    return (np.arange(T, dtype=np.float64)[:, None, None] * slope * np.ones((1, h, w))).astype(dtype)


def test_linear_resample_known_answer():
    out = linear_resample(ramp_clip(5), 9)  # times 0, .5, 1, ..., 4
    np.testing.assert_allclose(out[:, 0, 0], np.arange(9) * 5.0)
    up = linear_resample(ramp_clip(31, dtype=np.uint8, slope=8), 16)  # 31 -> 16: every second frame
    np.testing.assert_array_equal(up[:, 0, 0], np.arange(16) * 16)
    assert up.dtype == np.uint8


def test_linear_resample_keeps_end_frames_and_colour():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (7, 6, 5, 3), dtype=np.uint8)
    out = linear_resample(clip, 16)
    assert out.shape == (16, 6, 5, 3)
    np.testing.assert_array_equal(out[0], clip[0])
    np.testing.assert_array_equal(out[-1], clip[-1])


def test_tim_curve_is_path_laplacian_eigenbasis():
    n = 7
    Y = tim_curve(np.arange(1, n + 1) / n, n)
    L = np.diag([1] + [2] * (n - 2) + [1]) - np.eye(n, k=1) - np.eye(n, k=-1)
    eig = np.linalg.eigvalsh(L)[1:]
    for k in range(n - 1):
        v = Y[k]
        lam = v @ L @ v / (v @ v)
        np.testing.assert_allclose(L @ v, lam * v, atol=1e-9)
        assert np.isclose(lam, eig[k])
    np.testing.assert_allclose(Y @ np.ones(n), 0, atol=1e-9)


def test_tim_reproduces_input_at_same_length():
    rng = np.random.default_rng(1)
    clip = rng.normal(size=(9, 4, 3))
    np.testing.assert_allclose(tim_resample(clip, 9), clip, atol=1e-9)


def test_tim_follows_its_curve_between_frames():
    # pixels that move along a TIM basis function are interpolated exactly at the new times
    T, n = 8, 29
    pixel = np.array([[1.0, -2.0], [0.5, 3.0]])
    clip = 7.0 + tim_curve(np.arange(1, T + 1) / T, T)[2][:, None, None] * pixel
    want = 7.0 + tim_curve(np.linspace(1 / T, 1, n), T)[2][:, None, None] * pixel
    np.testing.assert_allclose(tim_resample(clip, n), want, atol=1e-9)


def test_tim_resample_constant_and_monotone_clip():
    const = np.full((6, 3, 3), 42, np.uint8)
    np.testing.assert_array_equal(tim_resample(const, 20), np.full((20, 3, 3), 42, np.uint8))
    up = tim_resample(ramp_clip(10), 30)[:, 0, 0]
    assert up[0] == pytest.approx(0, abs=1e-9) and up[-1] == pytest.approx(90, abs=1e-9)
    assert abs(up[15] - 45) < 5  # the middle of a ramp stays near the middle value


@pytest.mark.parametrize("fn", [linear_resample, tim_resample])
def test_resample_edge_cases(fn):
    with pytest.raises(DataError, match="at least 1 frame"):
        fn(np.zeros((0, 4, 4)), 16)
    one = np.full((1, 2, 2), 7, np.uint8)
    np.testing.assert_array_equal(fn(one, 5), np.full((5, 2, 2), 7, np.uint8))
    with pytest.raises(ConfigError):
        resample(one, 5, method="cubic")


def test_psn_sampling():
    idx = psn_sample_indices()
    assert list(idx + 1) == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 101, 111, 121, 131, 141, 150]
    out = psn_frames(ramp_clip(150), method="linear")  # 150 -> 150 is the identity
    np.testing.assert_allclose(out[:, 0, 0], idx * 10.0)
    assert psn_frames(ramp_clip(40, dtype=np.uint8, slope=2), method="tim").shape == (16, 4, 5)


def test_apex_window_centred_and_padded():
    assert C3D_WINDOW == {"casme2": 36, "smic": 26, "combined": 30}
    idx = apex_window_indices(100, 50, 36)
    assert list(idx) == list(range(32, 68))  # 18 before the apex, the apex and 17 after
    assert idx[18] == 50
    # apex near the start of a long clip: the first frame is repeated, the apex stays at position 18
    idx = apex_window_indices(100, 5, 36)
    assert idx[18] == 5 and list(idx[:14]) == [0] * 14 and idx[-1] == 22
    # mode="shift" slides inside the clip instead
    idx = apex_window_indices(100, 5, 36, mode="shift")
    assert list(idx) == list(range(36)) and 5 in idx
    # a clip shorter than the window: padded at both ends in both modes
    for mode in ("pad", "shift"):
        idx = apex_window_indices(10, 4, 26, mode=mode)
        assert len(idx) == 26 and set(idx) == set(range(10)) and 4 in idx


def test_apex_window_frames_and_errors():
    clip = ramp_clip(20, slope=1)
    win = apex_window(clip, 12, 30)
    assert win.shape == (30, 4, 5) and win[15, 0, 0] == 12 and win[0, 0, 0] == 0 and win[-1, 0, 0] == 19
    with pytest.raises(DataError, match="apex position inside"):
        apex_window(clip, 20, 30)
    with pytest.raises(DataError, match="at least 1 frame"):
        apex_window_indices(0, 0, 36)


def test_apex_or_middle():
    assert apex_or_middle(None, 11) == (5, True)
    assert apex_or_middle(float("nan"), 10) == (4, True)
    assert apex_or_middle(3, 10) == (3, False)
    assert middle_frame(1) == 0
    with pytest.raises(DataError):
        middle_frame(0)


def test_temporal_perception_known_answer():
    # frame t = t * (checkerboard of +-1): x_t - x_{t-1} is the checkerboard, std 1 for every pair
    board = np.indices((4, 4)).sum(0) % 2 * 2 - 1
    clip = np.arange(5)[:, None, None] * board[None]
    np.testing.assert_allclose(temporal_perception(clip), np.ones(4))
    # a still clip has tp 0; one moving frame raises tp on both of its pairs only
    still = np.full((6, 4, 4), 100, np.uint8)
    still[3, 0, 0] = 0  # uint8 difference would wrap without a float cast
    tp = temporal_perception(still)
    assert tp.shape == (5,) and tp[[0, 1, 4]].max() == 0 and tp[2] == tp[3] > 0
    np.testing.assert_allclose(tp[2], np.std(np.r_[-100.0, np.zeros(15)]))


def test_temporal_perception_torch_batch_matches_numpy():
    rng = np.random.default_rng(2)
    batch = rng.normal(size=(3, 6, 10)).astype(np.float32)
    got = temporal_perception(torch.from_numpy(batch), axis=1)
    assert got.shape == (3, 5)
    want = np.stack([temporal_perception(b) for b in batch])
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5)
    x = torch.from_numpy(batch).requires_grad_()
    temporal_perception(x, axis=1).sum().backward()  # the models train through it
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(DataError):
        temporal_perception(np.zeros((1, 3, 3)))


def test_apex_position_in_a_samples_row():
    from melib.preprocess.temporal import apex_position

    row = pd.Series({"frames": [f"/d/sub01/EP01/img{n}.jpg" for n in (10, 11, 13, 14, 15)], "apex": 14})
    assert apex_position(row) == 3  # frame 12 is missing on disk: position, not number - onset
    row["apex"] = 12
    with pytest.raises(DataError, match="apex frame 12"):
        apex_position(row)
    row["apex"] = pd.NA
    assert apex_position(row) == 2


# --- figures ---------------------------------------------------------------------------------------

def test_tp_figure_plots_eq7():
    import matplotlib.pyplot as plt

    from melib.preprocess.figures import plot_temporal_perception

    rng = np.random.default_rng(3)
    clip = rng.integers(0, 255, (12, 8, 8), dtype=np.uint8)
    fig = plot_temporal_perception(clip, onset=0, apex=6, offset=11)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), temporal_perception(clip))
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 12))
    assert len(fig.axes[0].lines) == 4  # the curve and three markers
    plt.close(fig)
    with pytest.raises(ValueError):
        plot_temporal_perception()


def test_rpca_and_residual_figures():
    import matplotlib.pyplot as plt

    from melib.preprocess.figures import flow_to_rgb, plot_residuals, plot_rpca

    rng = np.random.default_rng(4)
    A = np.repeat(rng.random((1, 6, 5)), 4, axis=0)
    E = np.zeros_like(A)
    E[2, 1, 1] = -3.0
    fig = plot_rpca(A + E, A, E, frames=(0, 2))
    assert len(fig.axes) == 6
    shown = fig.axes[5].images[0].get_array()
    assert shown.max() == 1.0 and shown[1, 1] == 1.0 and shown.sum() == 1.0  # |E| scaled to its max
    # a data matrix with one column per frame (pixels x T) gives the same panels
    cols = lambda x: x.reshape(4, -1).T  # noqa: E731
    fig2 = plot_rpca(cols(A + E), cols(A), cols(E), frames=(2,), shape=(6, 5))
    np.testing.assert_array_equal(fig2.axes[2].images[0].get_array(), shown)
    flow = np.zeros((6, 5, 2))
    flow[..., 0] = 1.0
    fig3 = plot_residuals(rng.random((6, 5)), rng.random((6, 5, 3)), flow)
    assert [ax.get_title() for ax in fig3.axes] == ["ARS", "RRS", "optical flow"]
    rgb = flow_to_rgb(flow)
    assert rgb.shape == (6, 5, 3) and np.allclose(rgb, rgb[0, 0]) and rgb.max() == 1.0
    assert len(plot_residuals(np.ones((4, 4)), np.zeros((4, 4))).axes) == 2
    plt.close("all")

"""Temporal normalisation: resampling a clip to N frames, apex-centred windows, and PSN's tp coefficient.

Frames are indexed by position in the clip (0-based, time first). Clips are arrays of shape (T, ...)
(grey (T, H, W) or colour (T, H, W, 3)); resampled clips keep the input dtype (values rounded for
integer types).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

# C3D, section 4.4 and 5.1: apex-centred sequence lengths.
C3D_WINDOW = {"casme2": 36, "smic": 26, "combined": 30}
DLHN_FRAMES = 16  # DLHN, section 4.2.1
PSN_NORMALISED = 150  # PSN, section 3.2 (2)
PSN_FRAMES = 16


def _check_clip(frames: np.ndarray, minimum: int = 1, path=None) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim < 1 or frames.shape[0] < minimum:
        found = "an empty clip" if frames.ndim < 1 or frames.shape[0] == 0 else f"{frames.shape[0]} frame(s)"
        raise DataError(path, f"a clip of at least {minimum} frame(s)", found)
    return frames


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def linear_resample(frames: np.ndarray, n: int, path=None) -> np.ndarray:
    """``n`` frames at evenly spaced times from the first to the last frame, linearly interpolated.

    DLHN, section 4.2.1: "we performed linear interpolation and extracted 16 frames". A one-frame clip is
    repeated ``n`` times (documented choice); an empty clip raises DataError.
    """
    frames = _check_clip(frames, 1, path)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = np.linspace(0.0, frames.shape[0] - 1, n)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, frames.shape[0] - 1)
    w = (t - lo).reshape((n,) + (1,) * (frames.ndim - 1))
    out = (1.0 - w) * frames[lo].astype(np.float64) + w * frames[hi].astype(np.float64)
    return _cast(out, frames.dtype)


def tim_curve(t: np.ndarray, n: int) -> np.ndarray:
    """The (n-1)-dimensional TIM curve at times ``t`` in [1/n, 1]: y_k(t) = sin(pi k t + pi (n-k) / (2n)).

    Temporal interpolation model (Zhou et al. 2011, as used by Pfister et al. 2011, C3D ref. [18]): these are
    the non-constant eigenvectors of the Laplacian of the path graph on n frames, read as functions of t.
    """
    k = np.arange(1, n)[:, None]
    return np.sin(np.pi * k * np.asarray(t, dtype=np.float64)[None, :] + np.pi * (n - k) / (2 * n))


def tim_resample(frames: np.ndarray, n: int, path=None) -> np.ndarray:
    """Resample a clip to ``n`` frames with the temporal interpolation model (TIM).

    The centred frames X (pixels x T) are written as X = M Y, Y the TIM curve at the T frame times
    (``tim_curve``); new frames are mean + M y(t') at ``n`` evenly spaced times t' in [1/T, 1]. At ``n == T``
    this returns the input (up to rounding). A one-frame clip is repeated; an empty clip raises DataError.
    """
    frames = _check_clip(frames, 1, path)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    T = frames.shape[0]
    if T == 1:
        return np.repeat(frames, n, axis=0)
    X = frames.reshape(T, -1).astype(np.float64)
    mean = X.mean(axis=0)
    Y = tim_curve(np.arange(1, T + 1) / T, T)  # (T-1, T): rows orthogonal, each orthogonal to ones
    # mean + M y(t') with M = Xc^T pinv(Y) is a fixed (n x T) mix of the input frames: form that first.
    weights = (np.linalg.pinv(Y) @ tim_curve(np.linspace(1.0 / T, 1.0, n), T)).T
    out = mean[None, :] + weights @ (X - mean)
    return _cast(out.reshape((n,) + frames.shape[1:]), frames.dtype)


def resample(frames: np.ndarray, n: int, method: str = "linear", path=None) -> np.ndarray:
    """Resample to ``n`` frames with ``method`` "linear" (DLHN) or "tim" (temporal interpolation model)."""
    if method == "linear":
        return linear_resample(frames, n, path)
    if method == "tim":
        return tim_resample(frames, n, path)
    raise ConfigError(f"unknown resampling method {method!r}; choose 'linear' or 'tim'")


def psn_sample_indices(n_normalised: int = PSN_NORMALISED, n_frames: int = PSN_FRAMES) -> np.ndarray:
    """0-based positions of the frames PSN keeps after normalising to 150: frames 1, 11, ..., 141, 150.

    PSN, section 3.2 (2): "the videos with 16 frames consist of the 1, 11, 21, ..., 141, 150 frames".
    """
    step = 10
    idx = list(range(0, step * (n_frames - 1), step)) + [n_normalised - 1]
    if len(idx) != n_frames or idx[-2] >= idx[-1]:
        raise ValueError(f"PSN sampling needs n_normalised > {step * (n_frames - 2)}, got {n_normalised}")
    return np.asarray(idx)


def psn_frames(frames: np.ndarray, method: str = "tim", path=None) -> np.ndarray:
    """PSN's temporal normalisation: resample to 150 frames, then keep frames 1, 11, ..., 141, 150.

    PSN, section 3.2 (2). The paper does not name the interpolation used to reach 150 frames; the default
    here is TIM (the usual choice in MER), ``method="linear"`` is the alternative.
    """
    return resample(frames, PSN_NORMALISED, method, path)[psn_sample_indices()]


def middle_frame(n_frames: int) -> int:
    """The middle position of a clip, used as the apex where none is annotated (SMIC): (T - 1) // 2."""
    if n_frames < 1:
        raise DataError(None, "a clip of at least 1 frame", f"{n_frames}")
    return (n_frames - 1) // 2


def apex_or_middle(apex: int | None, n_frames: int) -> tuple[int, bool]:
    """``(apex position, estimated)``: the annotated apex, or the middle frame flagged as estimated (SMIC)."""
    if apex is None or pd.isna(apex):
        return middle_frame(n_frames), True
    return int(apex), False


def apex_position(row) -> int:
    """Position in ``row["frames"]`` of the apex frame number ``row["apex"]`` (a samples-table row).

    The loaders keep the frames onset..offset, so position 0 is the onset; where the apex was not
    annotated (SMIC) the loader already put the middle frame there and set ``apex_estimated``.
    """
    from ..datasets import frame_number

    frames = row["frames"]
    numbers = [frame_number(f) for f in frames]
    apex = row.get("apex")
    if apex is None or pd.isna(apex):
        return middle_frame(len(frames))
    if int(apex) not in numbers:
        raise DataError(frames[0] if len(frames) else None, f"the apex frame {int(apex)} among the clip's frames",
                        f"frames {numbers[0]}..{numbers[-1]}" if numbers else "no frames")
    return numbers.index(int(apex))


def apex_window_indices(n_frames: int, apex: int, length: int, mode: str = "pad", path=None) -> np.ndarray:
    """Positions of the ``length``-frame sequence centred on ``apex``.

    C3D, section 4.4: 18 frames before the apex and 18 after it, the apex included (36 for CASME II; 26 for
    SMIC, 30 combined), i.e. positions ``apex - length//2 ... apex + (length - length//2) - 1``.
    Positions outside the clip are filled with the first/last frame (C3D: "the first and last frame will be
    interpolated to meet the fixed-length input"; read here as repeating the end frames), so the apex stays
    at position ``length // 2``. ``mode="shift"`` instead slides the window inside the clip when the clip is
    long enough (the apex is then off-centre) and pads only clips shorter than ``length``.
    An empty clip, or an apex outside the clip, raises DataError.
    """
    if n_frames < 1:
        raise DataError(path, "a clip of at least 1 frame", "an empty clip")
    if not 0 <= apex < n_frames:
        raise DataError(path, f"an apex position inside the clip (0..{n_frames - 1})", str(apex))
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    start = apex - length // 2
    if mode == "shift" and n_frames >= length:
        start = min(max(start, 0), n_frames - length)
    elif mode not in ("pad", "shift"):
        raise ValueError(f"mode must be 'pad' or 'shift', got {mode!r}")
    return np.clip(np.arange(start, start + length), 0, n_frames - 1)


def apex_window(frames: np.ndarray, apex: int, length: int, mode: str = "pad", path=None) -> np.ndarray:
    """The ``length`` frames centred on ``apex`` (C3D, section 4.4); see :func:`apex_window_indices`."""
    frames = _check_clip(frames, 1, path)
    return frames[apex_window_indices(frames.shape[0], apex, length, mode, path)]


def temporal_perception(frames, axis: int = 0):
    """tp_t = std(x_t - x_{t-1}) for t = 1 .. T-1, each frame vectorised (PSN Eq. 7).

    ``frames``: numpy array or torch tensor with time on ``axis`` (e.g. (T, H, W) or batch-first
    (B, T, D) with ``axis=1``); everything after the time axis is the vectorised frame. Returns one value
    per adjacent pair, shape ``frames.shape[:axis] + (T-1,)``, float. The population standard deviation
    (ddof 0) is used; PSN does not say which.
    """
    if type(frames).__module__.startswith("torch"):  # a torch.Tensor: stay in torch (differentiable)
        x = frames if frames.is_floating_point() else frames.float()
        return x.diff(dim=axis).flatten(start_dim=axis + 1).std(dim=-1, unbiased=False)
    x = np.asarray(frames)
    if x.shape[axis] < 2:
        raise DataError(None, "a clip of at least 2 frames for tp (PSN Eq. 7)", f"{x.shape[axis]} frame(s)")
    d = np.diff(x.astype(np.float64), axis=axis)
    return d.reshape(d.shape[: axis + 1] + (-1,)).std(axis=-1)

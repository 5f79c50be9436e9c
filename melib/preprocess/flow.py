"""Optical flow between two frames (TV-L1 or Farneback, OpenCV) and optical strain.

Used for CropNet's Table 4 ablation (flow instead of ARS/RRS, onset -> apex) and for flow-based baselines.
Flow is (H, W, 2) float32, channel 0 the horizontal (x) and channel 1 the vertical (y) displacement in pixels,
such that ``next[y + v, x + u] ~ prev[y, x]``.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import DataError
from .residual import as_clip

METHODS = ("tvl1", "farneback")
# OpenCV's documented Farneback example settings (the paper gives none).
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame if frame.dtype == np.uint8 else frame.astype(np.float32), cv2.COLOR_RGB2GRAY)
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return frame


def optical_flow(prev, next, method: str = "tvl1", path=None, **params) -> np.ndarray:
    """Dense optical flow from ``prev`` to ``next`` (grey (H, W) or RGB (H, W, 3); non-uint8 values are
    rounded and clipped to 0..255). ``method`` 'tvl1' uses cv2.optflow.DualTVL1OpticalFlow_create(**params)
    (OpenCV defaults unless given), 'farneback' cv2.calcOpticalFlowFarneback with FARNEBACK updated by
    ``params``. Returns (H, W, 2) float32 (u, v)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    pair = as_clip([np.asarray(prev), np.asarray(next)], 2, path)
    a, b = _grey(pair[0]), _grey(pair[1])
    if method == "tvl1":
        return cv2.optflow.DualTVL1OpticalFlow_create(**params).calc(a, b, None)
    return cv2.calcOpticalFlowFarneback(a, b, None, **{**FARNEBACK, **params})


def optical_strain(flow) -> np.ndarray:
    """Optical strain magnitude of a flow field (H, W, 2):
    sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2) with e_xx = du/dx, e_yy = dv/dy, e_xy = (du/dy + dv/dx) / 2
    (the infinitesimal strain tensor's Frobenius norm, as in Liong et al.'s optical strain). Derivatives are
    central differences (one-sided at the borders, numpy.gradient)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) < 2:
        raise ValueError(f"flow must be (H, W, 2) with H, W >= 2, got shape {flow.shape}")
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    e_xy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx ** 2 + dv_dy ** 2 + 2 * e_xy ** 2).astype(np.float32)


def onset_apex_flow(clip, onset: int, apex: int, method: str = "tvl1", path=None, **params) -> np.ndarray:
    """(H, W, 3) float32 stack of u, v and optical strain of the flow from the onset to the apex frame."""
    clip = as_clip(clip, 2, path)
    if not 0 <= onset < len(clip) or not 0 <= apex < len(clip):
        raise DataError(path, f"onset and apex within the clip's {len(clip)} frames", f"onset {onset}, apex {apex}")
    flow = optical_flow(clip[onset], clip[apex], method, path, **params)
    return np.concatenate([flow, optical_strain(flow)[..., None]], axis=2)

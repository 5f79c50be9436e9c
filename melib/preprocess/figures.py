"""Figures of the preprocessing steps; each function takes arrays and returns a matplotlib Figure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from .temporal import temporal_perception


def _show(ax, image: np.ndarray, title: str | None = None, cmap: str | None = None) -> None:
    image = np.asarray(image)
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap or "gray")
    else:
        ax.imshow(image)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def plot_landmarks(frame: np.ndarray, landmarks: np.ndarray | None = None,
                   boxes: Mapping[str, tuple[int, int, int, int]] | None = None,
                   title: str | None = None, ax=None) -> plt.Figure:
    """One frame with its 68 landmarks (dots) and ROI boxes ``{name: (x0, y0, x1, y1)}`` (labelled)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 4))
    _show(ax, frame, title)
    if landmarks is not None:
        pts = np.asarray(landmarks)
        ax.scatter(pts[:, 0], pts[:, 1], s=6, c="lime", edgecolors="black", linewidths=0.3)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, (x0, y0, x1, y1)) in enumerate((boxes or {}).items()):
        c = colours[i % len(colours)]
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=c, linewidth=1.2))
        ax.text(x0, y0, name, color=c, fontsize=7, va="bottom")
    return fig


def _frame(a: np.ndarray, t: int, shape: tuple[int, ...] | None) -> np.ndarray:
    """Frame ``t`` of a clip (T, H, W[, 3]) or of a matrix with one column per frame (pixels, T)."""
    a = np.asarray(a)
    if a.ndim == 2 and shape is not None and a.shape[0] == int(np.prod(shape)):
        return a[:, t].reshape(shape)
    return a[t]


def plot_rpca(D: np.ndarray, A: np.ndarray, E: np.ndarray, frames: Sequence[int] = (0,),
              shape: tuple[int, ...] | None = None, titles: Sequence[str] = ("D (frames)", "A (low rank)",
                                                                              "E (sparse)")) -> plt.Figure:
    """RPCA's D = A + E side by side, one row per frame index (PSN Fig. 3, DLHN Fig. 7).

    Clips are (T, H, W[, 3]); a data matrix with one column per frame (pixels, T) needs ``shape`` (H, W).
    E is shown as |E| scaled to its own range.
    """
    fig, axes = plt.subplots(len(frames), 3, figsize=(7.5, 2.6 * len(frames)), squeeze=False)
    for r, t in enumerate(frames):
        d, a, e = (_frame(x, t, shape) for x in (D, A, E))
        _show(axes[r, 0], d, f"{titles[0]}, t={t}")
        _show(axes[r, 1], a, titles[1])
        e = np.abs(np.asarray(e, dtype=np.float64))
        e = e.mean(axis=-1) if e.ndim == 3 else e
        _show(axes[r, 2], e / (e.max() or 1.0), titles[2], cmap="magma")
    fig.tight_layout()
    return fig


def flow_to_rgb(flow: np.ndarray) -> np.ndarray:
    """Optical flow (H, W, 2) as an RGB image: hue is direction, value is magnitude (scaled to the max)."""
    flow = np.asarray(flow, dtype=np.float64)
    mag = np.hypot(flow[..., 0], flow[..., 1])
    hue = (np.arctan2(flow[..., 1], flow[..., 0]) + np.pi) / (2 * np.pi)
    hsv = np.stack([hue, np.ones_like(hue), mag / (mag.max() or 1.0)], axis=-1)
    return matplotlib.colors.hsv_to_rgb(hsv)


def _normalised(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    lo, hi = image.min(), image.max()
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def plot_residuals(ars: np.ndarray, rrs: np.ndarray, flow: np.ndarray | None = None,
                   titles: Sequence[str] = ("ARS", "RRS", "optical flow")) -> plt.Figure:
    """ARS vs RRS vs optical flow side by side (CropNet Fig. 6); images scaled to their own range.

    ``flow`` is (H, W, 2) (shown by direction and magnitude) or an image; omitted, two panels are drawn.
    """
    panels = [_normalised(ars), _normalised(rrs)]
    if flow is not None:
        flow = np.asarray(flow)
        panels.append(flow_to_rgb(flow) if flow.ndim == 3 and flow.shape[-1] == 2 else _normalised(flow))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.8), squeeze=False)
    for ax, img, title in zip(axes[0], panels, titles):
        _show(ax, img, title)
    fig.tight_layout()
    return fig


def plot_temporal_perception(frames: np.ndarray | None = None, tp: np.ndarray | None = None,
                             onset: int | None = None, apex: int | None = None, offset: int | None = None,
                             title: str | None = None, ax=None) -> plt.Figure:
    """The tp = std(x_t - x_{t-1}) curve over a clip (PSN Fig. 5, Eq. 7), with onset/apex/offset marked.

    Pass the clip ``frames`` (tp is computed by :func:`~melib.preprocess.temporal.temporal_perception`) or
    a precomputed ``tp``; tp[i] belongs to frame i + 1.
    """
    if tp is None:
        if frames is None:
            raise ValueError("pass frames or tp")
        tp = temporal_perception(frames)
    tp = np.asarray(tp)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 2.8))
    ax.plot(np.arange(1, len(tp) + 1), tp, marker=".", linewidth=1)
    for t, name, style in ((onset, "onset", ":"), (apex, "apex", "--"), (offset, "offset", ":")):
        if t is not None:
            ax.axvline(t, color="grey", linestyle=style, linewidth=1)
            ax.text(t, ax.get_ylim()[1], name, fontsize=7, ha="center", va="bottom")
    ax.set_xlabel("frame t")
    ax.set_ylabel(r"$tp = \mathrm{std}(x_t - x_{t-1})$")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig

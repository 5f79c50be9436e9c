"""What a page may show of the clips: frames of licensed releases only when the user opted in
(:func:`frames_allowed`), the clip a chapter follows (:func:`example_clip`), onset / apex / offset montages
(:func:`example_frames`) and image grids (:func:`image_grid`).

A cell that would draw a frame, or an image made from one (crops, RPCA parts, residuals, flow), checks
``frames_allowed(rows, show_real_frames)`` first and prints :data:`HIDDEN_NOTE` instead.
"""
from __future__ import annotations

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .errors import DataError

HIDDEN_NOTE = ("Frames of licensed clips are not shown (their licences forbid redistribution, and a built book "
               "is easy to share). Run with `show_real_frames=True` to show them in your own copy.")


def frames_allowed(rows, show_real_frames: bool = False) -> bool:
    """May frames of these clips (a samples row or table) be drawn? Synthetic ones always; real ones only when
    the user opted in. A row without a ``synthetic`` value counts as real."""
    syn = rows["synthetic"] if isinstance(rows, pd.DataFrame) else pd.Series([rows.get("synthetic")])
    all_synthetic = bool(syn.notna().all() and syn.astype(bool).all())
    return all_synthetic or bool(show_real_frames)


def example_clip(samples: pd.DataFrame, show_real_frames: bool = False) -> pd.Series:
    """The clip the preprocessing chapter follows: a synthetic one when any (so frames can be drawn), else a
    real one; of those, the earliest objective class (PSN Table 2: I happiness, II surprise, ...; VII last),
    then the longest onset-to-apex rise, then table order."""
    from . import labels

    pool = samples if show_real_frames or not samples["synthetic"].astype(bool).any() \
        else samples[samples["synthetic"].astype(bool)]
    lab = labels.assign(pool, "objective")
    rank = lab["label"].map({c: i for i, c in enumerate(labels.classes("objective"))}).fillna(99)
    rise = (lab["apex"] - lab["onset"]).fillna(0)
    order = pd.DataFrame({"rank": rank, "rise": -rise, "pos": np.arange(len(lab))}, index=lab.index)
    return lab.loc[order.sort_values(["rank", "rise", "pos"]).index[0]]


def _montage(row) -> np.ndarray:
    """Onset, apex and offset frames of a clip side by side (RGB uint8, native size)."""
    from . import datasets
    from .preprocess import temporal

    clip = datasets.read_clip(row)
    picks = [0, temporal.apex_position(row), len(clip) - 1]
    return np.concatenate([clip[i] for i in picks], axis=1)


def example_frames(samples: pd.DataFrame, show_real_frames: bool = False) -> tuple[list[tuple[str, bytes]], str | None]:
    """One clip per dataset as a PNG of its onset, apex and offset frames at native size, with a caption;
    real clips only when ``show_real_frames``. Returns ``(shown, note)``: ``note`` says what was withheld."""
    shown, hidden = [], []
    for (ds, _), d in samples.groupby(["dataset", "synthetic"], sort=False):
        row = d.iloc[0]
        if not frames_allowed(row, show_real_frames):
            hidden.append(ds)
            continue
        ok, png = cv2.imencode(".png", cv2.cvtColor(_montage(row), cv2.COLOR_RGB2BGR))
        if not ok:
            raise DataError(row["frames"][0], "frames that encode as PNG", "an encoding failure")
        kind = "synthetic" if row["synthetic"] else "real"
        shown.append((f"**{ds}** ({kind}) {row['subject']} / {row['clip']}: onset, apex, offset", png.tobytes()))
    note = f"{', '.join(hidden)}: {HIDDEN_NOTE}" if hidden else None
    return shown, note


def image_grid(images, titles=None, ncols: int = 5, cmap: str | None = None):
    """Images in a grid (e.g. CGPO's ten crops), each scaled to its own range, titled."""
    images = list(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.0 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            img = np.asarray(images[i], dtype=np.float64)
            lo, hi = img.min(), img.max()
            ax.imshow((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img), cmap=cmap or "gray")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig

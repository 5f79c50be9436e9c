"""CropNet's pixel residual sums: clip bounds, key frames, ARS and RRS (CropNet 3.1, Eqs. 1-7).

Frames are indexed by position in the clip (0-based, time first); clips are (T, H, W) grey or (T, H, W, C)
colour arrays. The paper crops the face with dlib landmarks before step 5 (3.1.1.2-3.1.1.3); that is
``melib.preprocess.face``'s job, so these functions take the already aligned clip.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import DataError

N_KEY = 5  # CropNet 3.1.1.4
GMIN, GMAX = 0.0, 255.0  # CropNet 3.1.2


def as_clip(frames, min_frames: int = 2, path=None, ndim: tuple[int, ...] = (3, 4)) -> np.ndarray:
    """A clip as one array (T, H, W[, C]), checked: at least ``min_frames`` frames, all of one size, finite.

    Accepts an array or a sequence of frames; raises DataError naming ``path`` otherwise.
    """
    if isinstance(frames, np.ndarray):
        clip = frames
    else:
        frames = list(frames)
        shapes = {np.shape(f) for f in frames}
        if len(shapes) > 1:
            raise DataError(path, "frames of one size", f"sizes {sorted(shapes)}")
        clip = np.asarray(frames)
    if clip.ndim == 0 or clip.shape[0] == 0:
        raise DataError(path, f"a clip of at least {min_frames} frame(s)", "an empty clip")
    if clip.ndim not in ndim:
        want = " or ".join(("(T, H, W)", "(T, H, W, C)")[d - 3] for d in ndim)
        raise DataError(path, f"a clip shaped {want}", f"shape {clip.shape}")
    if clip.shape[0] < min_frames:
        raise DataError(path, f"a clip of at least {min_frames} frame(s)", f"{clip.shape[0]} frame(s)")
    if 0 in clip.shape[1:]:
        raise DataError(path, "frames with pixels", f"shape {clip.shape}")
    if not (np.issubdtype(clip.dtype, np.integer) or np.issubdtype(clip.dtype, np.floating)):
        raise DataError(path, "integer or floating pixel values", f"dtype {clip.dtype}")
    if np.issubdtype(clip.dtype, np.floating) and not np.isfinite(clip).all():
        raise DataError(path, "finite pixel values", f"{int((~np.isfinite(clip)).sum())} NaN/inf pixels")
    return clip


def clip_bounds(onset: int, apex: int, offset: int) -> tuple[int, int]:
    """(start, end) of the onset-to-apex part used by ARS/RRS (CropNet Eqs. 1-2).

    A clip whose apex is fewer than 10 frames after the onset runs to onset + 10 (capped at the offset).
    """
    if not onset <= apex <= offset:
        raise ValueError(f"expected onset <= apex <= offset, got {onset}, {apex}, {offset}")
    start = onset  # CropNet Eq. 1
    if apex - onset < 10:  # CropNet Eq. 2
        end = min(onset + 10, offset)
    else:
        end = min(apex, offset)
    return start, end


def key_frames(start: int, end: int, n_key: int = N_KEY) -> list[int]:
    """The key frames F between start and end (CropNet Eqs. 3-4): gap = ceil((end - start) / (n_key + 1)),
    F = {min(start + i * gap, end) : i = 1 .. n_key}.

    Choices where the text is ambiguous: Eq. 4 is read with i = 1 .. N_key (the stated count of five key
    frames; "..., end" is the cap), so ``end`` itself is in F only when the cap is reached (always for the
    common 10-frame span: gap 2 gives start + 2, ..., start + 10). F is a set: repeated capped entries count
    once (short spans give fewer than n_key frames).
    """
    if end <= start:
        raise ValueError(f"expected end > start, got start={start}, end={end}")
    gap = math.ceil((end - start) / (n_key + 1))  # CropNet Eq. 3
    return sorted({min(start + gap * i, end) for i in range(1, n_key + 1)})  # CropNet Eq. 4


def residual_sum(clip: np.ndarray, start: int, keys: Sequence[int], path=None) -> np.ndarray:
    """diff = sum over f in F of |Q_f - Q_start|, per pixel and channel (CropNet Eq. 6), as int64."""
    clip = as_clip(clip, 1, path)
    idx = [start, *keys]
    if min(idx) < 0 or max(idx) >= len(clip):
        raise DataError(path, f"frame indices within the clip's {len(clip)} frames", f"indices {idx}")
    if np.issubdtype(clip.dtype, np.floating):
        raise DataError(path, "integer pixel values (ARS/RRS sum integer residuals)", f"dtype {clip.dtype}")
    base = clip[start].astype(np.int64)
    return sum(np.abs(clip[f].astype(np.int64) - base) for f in keys)


def ars(diff: np.ndarray) -> np.ndarray:
    """Absolute residual sum: the residual sum modulo 256, as uint8 (CropNet Eq. 5)."""
    return (np.asarray(diff, dtype=np.int64) % 256).astype(np.uint8)


def rrs(diff: np.ndarray, gmin: float = GMIN, gmax: float = GMAX) -> np.ndarray:
    """Relative residual sum: the residual sum min-max scaled to [gmin, gmax] over the whole image, all
    channels together (CropNet Eq. 7), as float64. A constant residual (max = min, e.g. no motion) maps to
    gmin everywhere (the equation divides by zero there; documented choice)."""
    diff = np.asarray(diff, dtype=np.float64)
    lo, hi = diff.min(), diff.max()
    if hi == lo:
        return np.full_like(diff, gmin)
    return (diff - lo) / (hi - lo) * (gmax - gmin) + gmin


def residual_image(clip, onset: int, apex: int, offset: int, kind: str = "ars", n_key: int = N_KEY,
                   path=None) -> np.ndarray:
    """ARS (uint8) or RRS (float64 in [0, 255]) image of a clip from its onset/apex/offset positions
    (CropNet 3.1: Eqs. 1-2, 3-4, then 5 or 6-7)."""
    clip = as_clip(clip, 2, path)
    if not 0 <= onset <= apex <= offset < len(clip):
        raise DataError(path, f"0 <= onset <= apex <= offset < {len(clip)} frames",
                        f"onset {onset}, apex {apex}, offset {offset}")
    start, end = clip_bounds(onset, apex, offset)
    if end == start:
        raise DataError(path, "an offset after the onset", f"onset = offset = {onset}")
    diff = residual_sum(clip, start, key_frames(start, end, n_key), path)
    if kind == "ars":
        return ars(diff)
    if kind == "rrs":
        return rrs(diff)
    raise ValueError(f"kind must be 'ars' or 'rrs', got {kind!r}")

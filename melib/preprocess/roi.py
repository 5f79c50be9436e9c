"""Regions of interest from the 68 landmarks of an aligned face: DLHN's four and LocalRegions' six.

Boxes are ``(x0, y0, x1, y1)`` in pixels, half-open, inside the frame; sizes are (height, width).
Landmark groups are those of :mod:`melib.preprocess.face`; "left"/"right" are as seen in the image.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import DataError
from .face import JAW, LEFT_BROW, LEFT_EYE, MOUTH, NOSE, RIGHT_BROW, RIGHT_EYE

Box = tuple[int, int, int, int]

# DLHN, sections 3.1.1 and 4.2.1: brow 112x33, eye 112x20, nose 56x32, mouth 56x38 (width x height) on
# the 112x112 face; stored here as (height, width).
DLHN_FACE = (112, 112)
DLHN_ROI_SIZES: dict[str, tuple[int, int]] = {
    "eyebrows": (33, 112), "eyes": (20, 112), "nose": (32, 56), "mouth": (38, 56)}
_DLHN_GROUPS = {
    "eyebrows": np.r_[17:27], "eyes": np.r_[36:48], "nose": np.r_[27:36], "mouth": np.r_[48:68]}

# LocalRegions, section 3.1: each region resized to {(80x100), (80x120), (60x60), (60x160)} for the left and
# right {eye + eyebrow}, the nose, the right and left cheeks, and the mouth. Read as (height, width): only
# that reading gives the mouth its wide shape.
LOCALREGIONS_ROI_SIZES: dict[str, tuple[int, int]] = {
    "left_eye": (80, 100), "right_eye": (80, 100), "nose": (80, 120),
    "left_cheek": (60, 60), "right_cheek": (60, 60), "mouth": (60, 160)}


def check_landmarks(landmarks: np.ndarray, frame_shape: tuple[int, ...], path=None) -> np.ndarray:
    """The landmarks as a float (68, 2) array, or DataError if any lies outside the (H, W) frame."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise DataError(path, "68 landmarks as a (68, 2) array of (x, y)", f"shape {pts.shape}")
    h, w = frame_shape[:2]
    outside = ~((pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(path, f"68 landmarks inside the {w}x{h} frame",
                        f"{int(outside.sum())} outside, e.g. point {i} at ({pts[i, 0]:.1f}, {pts[i, 1]:.1f})")
    return pts


def fixed_box(centre: np.ndarray, size: tuple[int, int], frame_shape: tuple[int, ...]) -> Box:
    """A box of exactly ``size`` (h, w) centred on ``centre`` (x, y), shifted to lie inside the frame."""
    h, w = size
    H, W = frame_shape[:2]
    if h > H or w > W:
        raise DataError(None, f"a region of {w}x{h} fitting in the {W}x{H} frame")
    x0 = int(np.clip(np.rint(centre[0] - w / 2), 0, W - w))
    y0 = int(np.clip(np.rint(centre[1] - h / 2), 0, H - h))
    return x0, y0, x0 + w, y0 + h


def dlhn_boxes(landmarks: np.ndarray, frame_shape: tuple[int, ...] = DLHN_FACE, path=None) -> dict[str, Box]:
    """DLHN's four ROIs (eyebrows, eyes, nose, mouth) at their fixed sizes on the 112x112 face.

    DLHN, section 3.1.1: sizes 112x33, 112x20, 56x32, 56x38; "the adjacent ROIs may have overlapping
    portions". Each box is centred on the middle of its landmark group's box (brows 17-26, eyes 36-47,
    nose 27-35, mouth 48-67; the paper shows the regions only in its Fig. 4) and shifted into the frame.
    """
    pts = check_landmarks(landmarks, frame_shape, path)
    boxes = {}
    for name, idx in _DLHN_GROUPS.items():
        g = pts[idx]
        boxes[name] = fixed_box((g.min(axis=0) + g.max(axis=0)) / 2, DLHN_ROI_SIZES[name], frame_shape)
    return boxes


def _span_box(x0, y0, x1, y1, pad: float, frame_shape) -> Box:
    H, W = frame_shape[:2]
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    bx0, by0 = int(np.floor(max(x0 - px, 0))), int(np.floor(max(y0 - py, 0)))
    bx1, by1 = int(np.ceil(min(x1 + px, W - 1))) + 1, int(np.ceil(min(y1 + py, H - 1))) + 1
    bx0, by0 = min(bx0, bx1 - 2), min(by0, by1 - 2)  # at least 2x2 pixels (a degenerate cheek)
    return max(bx0, 0), max(by0, 0), bx1, by1


def localregions_boxes(landmarks: np.ndarray, frame_shape: tuple[int, ...], pad: float = 0.15,
                       path=None) -> dict[str, Box]:
    """LocalRegions' six ROIs (Ekman's regions, LocalRegions section 3.1 and Fig. 5), before resizing.

    The paper shows the regions only in a figure; the rules here are project choices. Each box spans:
    eye + eyebrow: the brow and eye points of that side; nose: points 27-35; mouth: points 48-67;
    cheek: horizontally from halfway between the jaw (point 1 / 15) and the outer eye corner (36 / 45) to the
    nose wing (31 / 35), vertically from the lower eyelid (40-41 / 46-47) to the mouth corner (48 / 54).
    Every box is grown by ``pad`` of its size on each side and clipped to the frame.
    """
    p = check_landmarks(landmarks, frame_shape, path)

    def span(idx):
        g = p[idx]
        return (*g.min(axis=0), *g.max(axis=0))

    jaw = p[JAW]
    return {
        "left_eye": _span_box(*span(np.r_[LEFT_BROW, LEFT_EYE]), pad, frame_shape),
        "right_eye": _span_box(*span(np.r_[RIGHT_BROW, RIGHT_EYE]), pad, frame_shape),
        "nose": _span_box(*span(np.r_[NOSE]), pad, frame_shape),
        "left_cheek": _span_box((jaw[1, 0] + p[36, 0]) / 2, p[40:42, 1].max(), p[31, 0], p[48, 1],
                                pad, frame_shape),
        "right_cheek": _span_box(p[35, 0], p[46:48, 1].max(), (jaw[15, 0] + p[45, 0]) / 2, p[54, 1],
                                 pad, frame_shape),
        "mouth": _span_box(*span(np.r_[MOUTH]), pad, frame_shape),
    }


def crop_rois(frames: np.ndarray, boxes: dict[str, Box],
              sizes: dict[str, tuple[int, int]] | None = None) -> dict[str, np.ndarray]:
    """Crop each box from every frame; resize to ``sizes[name]`` (h, w) where given.

    ``frames``: one image (H, W) or (H, W, 3), or a clip (T, H, W) or (T, H, W, 3).
    """
    frames = np.asarray(frames)
    single = _is_single(frames)
    clip = frames[None] if single else frames
    out = {}
    for name, (x0, y0, x1, y1) in boxes.items():
        crop = clip[:, y0:y1, x0:x1]
        if sizes is not None and name in sizes:
            h, w = sizes[name]
            if crop.shape[1:3] != (h, w):
                interp = cv2.INTER_AREA if crop.shape[1] * crop.shape[2] > h * w else cv2.INTER_LINEAR
                crop = np.stack([cv2.resize(np.ascontiguousarray(f), (w, h), interpolation=interp) for f in crop])
        out[name] = crop[0] if single else np.ascontiguousarray(crop)
    return out


def _is_single(frames: np.ndarray) -> bool:
    """One image (H, W) or (H, W, 3), rather than a clip (T, H, W) or (T, H, W, 3)."""
    return frames.ndim == 2 or (frames.ndim == 3 and frames.shape[-1] == 3)


def frame_shape(frames: np.ndarray) -> tuple[int, int]:
    """(H, W) of one image or of the frames of a clip."""
    frames = np.asarray(frames)
    return tuple(frames.shape[:2] if _is_single(frames) else frames.shape[1:3])


def dlhn_rois(frames: np.ndarray, landmarks: np.ndarray, path=None) -> tuple[dict[str, np.ndarray], dict[str, Box]]:
    """DLHN's four ROI crops of an aligned 112x112 image or clip, and their boxes (DLHN, section 3.1.1)."""
    boxes = dlhn_boxes(landmarks, frame_shape(frames), path)
    return crop_rois(frames, boxes), boxes


def localregions_rois(frames: np.ndarray, landmarks: np.ndarray, pad: float = 0.15,
                      path=None) -> tuple[dict[str, np.ndarray], dict[str, Box]]:
    """LocalRegions' six ROI crops of an aligned image or clip, resized to the section 3.1 sizes, and boxes."""
    boxes = localregions_boxes(landmarks, frame_shape(frames), pad, path)
    return crop_rois(frames, boxes, LOCALREGIONS_ROI_SIZES), boxes

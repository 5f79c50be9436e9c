"""Expressions: AU-driven landmark motion, its timing, and the rendering of a clip's frames."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError
from .faces import Subject, _anchors, _axes, _cheeks, _Field, _grid, _inverse_map
from .spec import LAYOUT_DEFAULTS as _LAYOUT_DEFAULTS

# Per-AU landmark motion at unit intensity: {landmark: (outward, up)} in the face's axes. Landmarks are
# dlib's 68 (0-based); 68 and 69 are cheek points (mean of 2, 41, 31 and of 14, 46, 35). The papers give
# no motion model: these are project choices after the FACS descriptions of each AU.
AU_MOTION: dict[int, dict[int, tuple[float, float]]] = {
    1: {21: (0, 1), 22: (0, 1), 20: (0, .7), 23: (0, .7), 19: (0, .3), 24: (0, .3)},
    2: {17: (0, 1), 26: (0, 1), 18: (0, .9), 25: (0, .9), 19: (0, .5), 24: (0, .5)},
    4: {21: (-.6, -.7), 22: (-.6, -.7), 20: (-.4, -.8), 23: (-.4, -.8), 19: (-.2, -.6), 24: (-.2, -.6),
        18: (0, -.4), 25: (0, -.4)},
    5: {37: (0, .8), 38: (0, .8), 43: (0, .8), 44: (0, .8), 36: (0, .2), 45: (0, .2)},
    6: {40: (0, .6), 41: (0, .6), 46: (0, .6), 47: (0, .6), 36: (0, .3), 45: (0, .3), 68: (0, .7), 69: (0, .7)},
    7: {40: (0, .7), 41: (0, .7), 46: (0, .7), 47: (0, .7), 37: (0, -.3), 38: (0, -.3), 43: (0, -.3),
        44: (0, -.3)},
    9: {31: (0, .8), 35: (0, .8), 32: (0, .6), 34: (0, .6), 33: (0, .4), 21: (0, -.3), 22: (0, -.3),
        50: (0, .4), 52: (0, .4)},
    10: {50: (0, 1), 51: (0, 1), 52: (0, 1), 49: (0, .6), 53: (0, .6), 61: (0, .8), 62: (0, .8), 63: (0, .8)},
    12: {48: (.7, .7), 54: (.7, .7), 60: (.6, .6), 64: (.6, .6), 49: (.3, .4), 53: (.3, .4), 59: (.3, .3),
         55: (.3, .3), 68: (.2, .3), 69: (.2, .3)},
    14: {48: (.5, 0), 54: (.5, 0), 60: (.4, 0), 64: (.4, 0)},
    15: {48: (.1, -.9), 54: (.1, -.9), 60: (0, -.7), 64: (0, -.7), 59: (0, -.4), 55: (0, -.4)},
    16: {56: (0, -.8), 57: (0, -.8), 58: (0, -.8), 55: (.2, -.5), 59: (.2, -.5), 65: (0, -.6), 66: (0, -.6),
         67: (0, -.6)},
    17: {7: (0, .8), 8: (0, .8), 9: (0, .8), 57: (0, .6), 56: (0, .5), 58: (0, .5), 6: (0, .4), 10: (0, .4)},
    18: {48: (-.8, 0), 54: (-.8, 0), 60: (-.6, 0), 64: (-.6, 0), 49: (-.3, 0), 53: (-.3, 0)},
    20: {48: (1, -.2), 54: (1, -.2), 60: (.8, -.1), 64: (.8, -.1), 5: (.2, 0), 11: (.2, 0)},
    23: {50: (0, -.4), 51: (0, -.4), 52: (0, -.4), 56: (0, .4), 57: (0, .4), 58: (0, .4), 48: (-.3, 0),
         54: (-.3, 0)},
    24: {51: (0, -.5), 57: (0, .6), 48: (-.2, 0), 54: (-.2, 0)},
    25: {56: (0, -.8), 57: (0, -.8), 58: (0, -.8), 55: (0, -.4), 59: (0, -.4), 65: (0, -.6), 66: (0, -.6),
         67: (0, -.6)},
    26: {6: (0, -1), 7: (0, -1), 8: (0, -1), 9: (0, -1), 10: (0, -1), 5: (0, -.6), 11: (0, -.6),
         4: (0, -.3), 12: (0, -.3), 56: (0, -1), 57: (0, -1), 58: (0, -1)},
    38: {31: (.8, 0), 35: (.8, 0), 32: (.3, 0), 34: (.3, 0)},
    39: {31: (-.7, 0), 35: (-.7, 0), 32: (-.3, 0), 34: (-.3, 0)},
    40: {31: (-.3, .5), 35: (-.3, .5), 32: (0, .3), 34: (0, .3)},
    43: {37: (0, -1), 38: (0, -1), 43: (0, -1), 44: (0, -1), 40: (0, .2), 41: (0, .2), 46: (0, .2),
         47: (0, .2)},
}


def au_displacements(landmarks: np.ndarray, aus, amplitude: float) -> np.ndarray:
    """(70, 2) apex displacements of the 68 landmarks and 2 cheek points for an AU set, in pixels.

    Each AU's unit motions (:data:`AU_MOTION`, outward/up in the face's axes) add up; the sum is scaled
    so that the largest displacement of the 68 landmarks is ``amplitude`` pixels.
    """
    pts = np.concatenate([landmarks, _cheeks(landmarks)])
    centre, ex, up = _axes(landmarks)
    side = np.sign(np.round((pts - centre) @ ex, 6))
    d = np.zeros_like(pts)
    for au in aus:
        if au not in AU_MOTION:
            raise ConfigError(f"AU{au} has no synthetic motion; known AUs: {sorted(AU_MOTION)}")
        for i, (o, u) in AU_MOTION[au].items():
            d[i] += o * side[i] * ex + u * up
    peak = np.linalg.norm(d[:68], axis=1).max()
    return d * (amplitude / peak) if peak > 0 else d


def intensity_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Raised-cosine rise from 0 at ``onset`` to 1 at ``apex`` and fall to 0 at ``offset`` (positions 0..T-1)."""
    t = np.arange(n_frames, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / max(apex - onset, 1), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / max(offset - apex, 1), 0, 1))
    return np.where(t <= apex, rise, fall)


@dataclass(frozen=True)
class Nuisance:
    """Everything about a clip that is not its label, drawn from the clip's own nuisance stream."""
    n_frames: int
    pre: int  # frames before onset
    post: int  # frames after offset
    apex_at: float  # apex position between onset and offset (0..1)
    strength: float  # fraction of the amplitude reached at apex
    first: int  # first frame number
    name_code: int  # EP number (CASME II) or inducement code (SAMM)
    suffix: bool  # CASME II 'f' suffix
    seed: int  # per-frame jitter, flicker and noise


def draw_nuisance(rng: np.random.Generator, layout: str, frames: tuple[int, int]) -> Nuisance:
    """A clip's nuisance, drawn in a fixed order that no label can change."""
    d = _LAYOUT_DEFAULTS[layout]
    n_frames = int(rng.integers(frames[0], frames[1] + 1))
    pre, post = int(rng.integers(d["pre"][0], d["pre"][1] + 1)), int(rng.integers(0, 3))
    apex_at, strength = float(rng.uniform(0.3, 0.55)), float(rng.uniform(0.75, 1.0))
    first, name_code, suffix = int(rng.integers(*d["first"])), int(rng.integers(1, 20)), bool(rng.random() < 0.5)
    return Nuisance(n_frames=n_frames, pre=pre, post=post, apex_at=apex_at, strength=strength, first=first,
                    name_code=name_code, suffix=suffix, seed=int(rng.integers(2 ** 63)))


def timing(nz: Nuisance) -> tuple[int, int, int]:
    """(onset, apex, offset) positions inside the clip (0-based)."""
    onset = min(nz.pre, nz.n_frames - 3)
    offset = max(nz.n_frames - 1 - nz.post, onset + 2)
    apex = onset + max(1, min(offset - onset - 1, int(round(nz.apex_at * (offset - onset)))))
    return onset, apex, offset


def render_clip(subject: Subject, aus, nz: Nuisance, amplitude: float = 3.0, noise: float = 2.0,
                jitter: float = 0.3, flicker: float = 0.01) -> dict:
    """One clip: ``frames`` (T, H, W, 3) uint8 RGB, ``landmarks`` (T, 68, 2), ``intensity`` (T,), ``pose``
    (T, 2, 3), ``onset``/``apex``/``offset`` positions. The pixels depend on ``aus`` only through
    ``amplitude``: at 0 they are the same for every AU set."""
    h, w = subject.image.shape[:2]
    onset, apex, offset = timing(nz)
    prof = intensity_profile(nz.n_frames, onset, apex, offset)
    lm = subject.landmarks
    disp = au_displacements(lm, aus, amplitude * nz.strength)
    moving = np.linalg.norm(disp, axis=1) > 0
    if moving.any():
        ctrl = np.concatenate([lm, _cheeks(lm)])
        anchors = _anchors(lm, w, h)
        field = _Field(np.concatenate([ctrl, anchors]), np.concatenate([disp, np.zeros_like(anchors)]))
        dense, lm_disp = field.dense(w, h), field.at(lm)
        # the field is ~0 away from the face: invert it only inside the box where it moves pixels by > 0.01
        ys, xs = np.nonzero(np.abs(dense).max(axis=2) > 0.01)
        roi = (slice(max(ys.min() - 8, 0), ys.max() + 9), slice(max(xs.min() - 8, 0), xs.max() + 9))
        outside = np.ones((h, w), bool)
        outside[roi] = False
        dense[outside] = 0
    else:
        dense, lm_disp = None, np.zeros_like(lm)

    rng = np.random.default_rng(nz.seed)
    # sensor noise from OpenCV's Gaussian generator (3x faster than numpy's here); its state is per thread,
    # seeded per clip, so a clip's noise does not depend on which worker thread renders it
    cv2.setRNGSeed(int(rng.integers(2 ** 31)))
    a = 0.9  # AR(1) head jitter: stationary sd ``jitter`` pixels; rotation of the same size at half the face width
    centre = lm.mean(0)
    rot_sd = jitter / (0.5 * subject.face_width)
    state = rng.standard_normal(3)
    freq, phase = rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
    grid = _grid(w, h)
    frames = np.empty((nz.n_frames, h, w, 3), np.uint8)
    lms = np.empty((nz.n_frames, 68, 2), np.float32)
    poses = np.empty((nz.n_frames, 2, 3), np.float32)
    sensor = np.empty((h, w, 3), np.float32)
    for t in range(nz.n_frames):
        if t:
            state = a * state + np.sqrt(1 - a * a) * rng.standard_normal(3)
        theta, tx, ty = state[0] * rot_sd, state[1] * jitter, state[2] * jitter
        R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        pose = np.column_stack([R, centre + np.array([tx, ty]) - R @ centre])
        q = cv2.transform(grid, cv2.invertAffineTransform(pose))
        if dense is not None and prof[t] > 0:
            q[roi] = _inverse_map(dense, np.ascontiguousarray(q[roi]), float(prof[t]))
        img = cv2.remap(subject.image, q, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        g = 1 + flicker * (np.sin(2 * np.pi * freq * t + phase) + 0.3 * rng.standard_normal())
        cv2.randn(sensor, 0.0, (noise, noise, noise))
        frames[t] = cv2.addWeighted(img, float(g), sensor, 1.0, 0.0, dtype=cv2.CV_8U)
        lms[t] = (lm + prof[t] * lm_disp) @ R.T + pose[:, 2]
        poses[t] = pose
    return {"frames": frames, "landmarks": lms, "intensity": prof.astype(np.float32), "pose": poses,
            "onset": onset, "apex": apex, "offset": offset}


"""Known-answer synthetic micro-expression clips, written in the native layouts of CASME II, SAMM and SMIC.

``generate(root, layout, seed, **params)`` writes ``<root>/<layout>/`` exactly as the release lays it out,
so the release's own loader reads it:

- ``casme2``: ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (absolute frame numbers) and
  ``CASME2-coding-20140508.xlsx`` (Subject, Filename, blank, OnsetFrame, ApexFrame, OffsetFrame, blank,
  Action Units, Estimated Emotion, Objective Classes 1-7).
- ``samm``: ``SAMM/006/006_1_2/006_05562.jpg`` (grey JPEG, like the release's grey camera) and
  ``SAMM_Micro_FACS_Codes_v2.xlsx``, sheet MICRO_ONLY, header in the first row (Subject, Filename,
  Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration, Micro, Action Units, Estimated Emotion,
  Objective Classes, Notes).
- ``smic``: ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image000123.bmp``; the label is the folder name,
  nothing else is annotated.

Beside them, in ``<root>/<layout>/``: ``ground_truth.csv`` (one row per clip: subject and clip as the
release names them, ``folder`` relative to the layout root, first/last frame number, onset, apex, offset,
``aus``, ``objective_class`` I-VII, ``emotion`` (PSN Table 2 word), ``native_emotion`` (the word the
release would write), ``fps``, ``amplitude`` (pixels the landmarks move at apex), ``frame_ext``) and
``ground_truth.npz`` with, per clip, ``"<subject>/<clip>/landmarks"`` (T, 68, 2) float32 (x, y) of every
frame, ``.../intensity`` (T,) the expression's onset-apex-offset profile (0..1) and ``.../pose`` (T, 2, 3)
the head-jitter similarity applied to each frame. :func:`read_ground_truth` reads both.

How a clip is made. One public-domain face photograph (``skimage.data.astronaut()``, NASA) is located once
with dlib's frontal detector and 68-point predictor. Each subject is that photo, possibly mirrored, placed
by a similarity transform in a larger frame (the photo's own flag, shuttle and suit are the background),
reshaped by a landmark-driven thin-plate-spline morph (eye spacing and size, brow height, nose length and
width, mouth width and height, jaw width, chin length), recoloured inside a soft skin mask and lit by a
per-subject gain, colour temperature and light gradient, plus a per-layout look. Each clip gets an AU
set from PSN Table 2 (``melib.labels.OBJECTIVE_AU_COMBOS``; class VII from :data:`OTHER_AU_COMBOS`, AUs
that appear in no Table 2 combination); every AU moves named landmarks (and two cheek points) in the
face's own axes (:data:`AU_MOTION`); the displacements of the AU set are scaled so that the largest
landmark displacement is ``amplitude * strength`` pixels at apex (``strength`` ~ U(0.75, 1) per clip), and
a thin-plate spline through them and through still anchors (the other landmarks, forehead, a ring around
the face, the frame border) gives a dense field. Frame t is the subject image warped by
``intensity(t) * field`` (inverted by fixed-point iteration) and by a head-jitter similarity in one
``cv2.remap``, times an illumination flicker gain, plus Gaussian sensor noise.
The ground-truth landmarks are the subject's landmarks moved by the same field and jitter.

Chance-level control: the label of a clip comes from its own random stream (``label_seed``, default
``seed``) and every nuisance (subject, timing, strength, jitter, flicker, noise, file names except SMIC's
label folders) from streams that never see the label. At ``amplitude=0`` the pixels do not depend on the
label at all: ``generate(..., amplitude=0, label_seed=a)`` and ``label_seed=b`` write identical frames.

Default sizes (choices, not the releases'): 320x240 frames with a face 128 px wide, jaw to jaw (the
releases: 640x480, face ~ 280 px); 5 subjects per layout; CASME II and SAMM 14 clips per subject, two of
each class I-VII (70 clips each, 10 per class); SMIC 9 clips per subject, three each of positive, surprise
and negative (negative cycles over III-VI; 45 clips). Clips are 30-44 frames (SMIC 20-30) at 100 fps (SMIC
50 fps): half the releases' 200 (100) fps, so that a 0.3-0.4 s expression fits the frame budget. The clip
holds 0-2 neutral frames before onset (SMIC 1-4) and 0-2 after offset; apex at 30-55 % of onset..offset.
Amplitude 3 px, noise sd 2 grey levels, jitter sd 0.3 px, flicker 1 %. Each layout folder also holds
``synth_params.json`` (its resolved parameters, ``fps`` included); the default set's root holds one for all.
"""
from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import config
from .errors import ConfigError, DataError
from .labels import OBJECTIVE_AU_COMBOS, OBJECTIVE_EMOTION

VERSION = 1
LAYOUTS = ("casme2", "samm", "smic")
CLASSES = ("I", "II", "III", "IV", "V", "VI", "VII")
PARAMS_FILE = "synth_params.json"

# Class VII: AU sets that appear in no PSN Table 2 combination (dimpler, lower-lip depressor, pucker,
# nostril compressor, eyes closed). The paper gives none ("Others").
OTHER_AU_COMBOS = tuple(frozenset(int(a) for a in s.split("+")) for s in ("14", "16", "18", "39", "43", "16+43"))

# The word each release writes for an objective class. CASME II has no "anger": class III's AUs (4, 23,
# 17+24) are closest to what its coders called repression, so III -> repression (a choice).
NATIVE_EMOTION = {
    "casme2": {"I": "happiness", "II": "surprise", "III": "repression", "IV": "disgust", "V": "sadness",
               "VI": "fear", "VII": "others"},
    "samm": {"I": "Happiness", "II": "Surprise", "III": "Anger", "IV": "Disgust", "V": "Sadness",
             "VI": "Fear", "VII": "Other"},
    "smic": {"I": "positive", "II": "surprise", "III": "negative", "IV": "negative", "V": "negative",
             "VI": "negative"},
}
_SMIC_SHORT = {"positive": "po", "negative": "ne", "surprise": "sur"}

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

# Mirror permutation of dlib's 68 points (image-left <-> image-right).
_MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                   + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
                   + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])

_LAYOUT_DEFAULTS = {
    "casme2": {"fps": 100.0, "frames": (30, 44), "clips_per_subject": 14, "first": (1, 200), "pre": (0, 2)},
    "samm": {"fps": 100.0, "frames": (30, 44), "clips_per_subject": 14, "first": (1000, 9000), "pre": (0, 2)},
    "smic": {"fps": 50.0, "frames": (20, 30), "clips_per_subject": 9, "first": (1, 30000), "pre": (1, 4)},
}
# Per-layout look: gain and RGB tint (CASME II bright studio light, SAMM grey camera, SMIC darker).
_LOOK = {"casme2": (1.05, (1.02, 1.0, 0.97)), "samm": (1.0, (1.0, 1.0, 1.0)), "smic": (0.8, (0.96, 1.03, 0.98))}

DEFAULTS = {"subjects": 5, "clips_per_subject": None, "width": 320, "height": 240, "face_width": None,
            "fps": None, "frames": None, "amplitude": 3.0, "noise": 2.0, "jitter": 0.3, "flicker": 0.01,
            "label_seed": None}


# --- the source photo ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def source_face() -> tuple[np.ndarray, np.ndarray]:
    """The source photo (RGB uint8, read-only) and its 68 dlib landmarks (x, y), found once per process."""
    import skimage.data

    from .preprocess.face import detect_face, detect_landmarks

    img = np.ascontiguousarray(skimage.data.astronaut())
    lm = detect_landmarks(img, detect_face(img, path="skimage.data.astronaut()")[0])
    img.flags.writeable = False
    lm.flags.writeable = False
    return img, lm


# --- geometry ------------------------------------------------------------------------------------

def _axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face centre, unit vector from the image-left eye to the image-right eye, and the face's up vector."""
    ex = lm[42:48].mean(0) - lm[36:42].mean(0)
    ex /= np.linalg.norm(ex)
    up = np.array([ex[1], -ex[0]])
    return lm.mean(0), ex, up


def _cheeks(lm: np.ndarray) -> np.ndarray:
    return np.stack([lm[[2, 41, 31]].mean(0), lm[[14, 46, 35]].mean(0)])


def _anchors(lm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Still points: above the brows (forehead), a ring around the face, the frame border."""
    centre, _, up = _axes(lm)
    fw = np.linalg.norm(lm[16] - lm[0])
    forehead = lm[17:27] + 0.35 * fw * up
    outline = np.concatenate([lm[0:17], forehead[::-1]])
    ring = centre + 1.35 * (outline - centre)
    xs, ys = np.linspace(0, width - 1, 9), np.linspace(0, height - 1, 7)
    border = np.concatenate([np.stack([xs, np.zeros_like(xs)], 1), np.stack([xs, np.full_like(xs, height - 1)], 1),
                             np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1),
                             np.stack([np.full_like(ys[1:-1], width - 1), ys[1:-1]], 1)])
    return np.concatenate([forehead, ring, border])


class _Field:
    """A thin-plate-spline displacement field through control points (x, y) -> (dx, dy)."""

    def __init__(self, points: np.ndarray, disp: np.ndarray):
        from scipy.interpolate import RBFInterpolator

        close = np.linalg.norm(points[:, None] - points[None], axis=2) <= 1.0
        keep = []
        for i in range(len(points)):  # near-coincident controls (closed lips) make the system singular
            if not close[i, keep].any():
                keep.append(i)
        self._rbf = RBFInterpolator(points[keep], disp[keep], kernel="thin_plate_spline", degree=1)

    def at(self, xy: np.ndarray) -> np.ndarray:
        return self._rbf(np.asarray(xy, dtype=np.float64))

    def dense(self, width: int, height: int, step: int = 4) -> np.ndarray:
        """(H, W, 2) float32, evaluated on a grid every ``step`` pixels and resized (bilinear)."""
        gw, gh = -(-width // step), -(-height // step)
        # cv2.resize by ``step`` maps coarse pixel k to fine coordinate step*k + (step-1)/2
        xs = step * np.arange(gw) + (step - 1) / 2
        ys = step * np.arange(gh) + (step - 1) / 2
        gx, gy = np.meshgrid(xs, ys)
        coarse = self.at(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gh, gw, 2).astype(np.float32)
        return cv2.resize(coarse, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)[:height, :width]


def _grid(width: int, height: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y)."""
    return np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))


def _inverse_map(field: np.ndarray, q: np.ndarray, scale: float, iters: int = 2) -> np.ndarray:
    """Source coordinates r with r + scale*field(r) = q (fixed-point iteration), for a backward remap."""
    r = q
    for _ in range(iters):
        d = cv2.remap(field, r, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        r = cv2.scaleAdd(d, -scale, q)
    return r


# --- subjects ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subject:
    """One synthetic subject: its neutral frame (RGB uint8, H x W x 3) and that frame's 68 landmarks."""
    image: np.ndarray
    landmarks: np.ndarray
    face_width: float


def _rng(seed: int, layout: str, stream: int, *index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), LAYOUTS.index(layout), stream, *map(int, index)])


def make_subject(seed: int, layout: str, index: int, width: int = 320, height: int = 240,
                 face_width: float | None = None) -> Subject:
    """Subject ``index`` of ``layout``: the source face mirrored or not, placed, morphed, recoloured and lit."""
    rng = _rng(seed, layout, 0, index)
    img, lm = source_face()
    if rng.random() < 0.5:
        img = img[:, ::-1]
        lm = np.column_stack([img.shape[1] - 1 - lm[:, 0], lm[:, 1]])[_MIRROR]
    face_width = 0.4 * width if face_width is None else float(face_width)
    _, ex, _ = _axes(lm)
    angle = np.arctan2(ex[1], ex[0]) - np.radians(rng.uniform(-6, 6))
    scale = face_width / np.linalg.norm(lm[16] - lm[0]) * rng.uniform(0.93, 1.07)
    c, s = np.cos(angle) / scale, np.sin(angle) / scale  # inverse similarity: frame -> photo
    centre_src = lm.mean(0)
    centre_dst = np.array([width * (0.5 + rng.uniform(-0.05, 0.05)), height * (0.53 + rng.uniform(-0.03, 0.03))])
    inv = np.array([[c, -s, centre_src[0] - c * centre_dst[0] + s * centre_dst[1]],
                    [s, c, centre_src[1] - s * centre_dst[0] - c * centre_dst[1]]])
    fwd = cv2.invertAffineTransform(inv)
    pts = lm @ fwd[:, :2].T + fwd[:, 2]

    # landmark-driven shape morph, in units of the face width
    centre, ex, up = _axes(pts)
    fw = np.linalg.norm(pts[16] - pts[0])
    side = np.sign((pts - centre) @ ex)
    out = side[:, None] * ex
    m = np.zeros_like(pts)
    m[17:27] += rng.uniform(-0.03, 0.03) * fw * up
    m[17:48] += rng.uniform(-0.025, 0.025) * fw * out[17:48]
    for eye in (slice(36, 42), slice(42, 48)):
        m[eye] += (rng.uniform(0.9, 1.12) - 1) * (pts[eye] - pts[eye].mean(0))
    m[30:36] -= rng.uniform(-0.03, 0.04) * fw * up
    m[[31, 35]] += rng.uniform(-0.02, 0.04) * fw * out[[31, 35]]
    mouth = slice(48, 68)
    m[mouth] -= rng.uniform(-0.03, 0.03) * fw * up
    m[mouth] += (rng.uniform(0.9, 1.1) - 1) * np.outer((pts[mouth] - pts[mouth].mean(0)) @ ex, ex)
    m[0:17] += rng.uniform(-0.05, 0.05) * fw * np.sin(np.pi * np.arange(17) / 16)[:, None] * out[0:17]
    m[5:12] -= rng.uniform(-0.03, 0.05) * fw * np.array([.3, .6, .9, 1, .9, .6, .3])[:, None] * up
    anchors = _anchors(pts, width, height)
    field = _Field(np.concatenate([pts, anchors]), np.concatenate([m, np.zeros_like(anchors)]))
    grid = _grid(width, height)
    src = cv2.transform(_inverse_map(field.dense(width, height), grid, 1.0, iters=3), inv)
    face = cv2.remap(np.ascontiguousarray(img), src, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    gx, gy = grid[..., 0], grid[..., 1]
    lm_out = pts + field.at(pts)

    # skin tone inside a soft face mask, then light: gain, colour temperature, gradient, layout look
    mask = np.zeros((height, width), np.float32)
    hull = np.concatenate([lm_out[0:17], (lm_out[17:27] + 0.3 * fw * up)[::-1]])
    cv2.fillPoly(mask, [np.round(hull).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * fw)[..., None]
    bright, warm = rng.uniform(0.72, 1.12), rng.uniform(-0.08, 0.08)
    tone = np.array([bright * (1 + warm), bright, bright * (1 - warm)], np.float32)
    gain, temp = rng.uniform(0.88, 1.08), rng.uniform(-0.04, 0.04)
    phi, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25)
    look_gain, tint = _LOOK[layout]
    grad = 1 + strength * ((gx - width / 2) * np.cos(phi) + (gy - height / 2) * np.sin(phi)) / max(width, height)
    colour = gain * look_gain * np.array([1 + temp, 1, 1 - temp], np.float32) * np.array(tint, np.float32)
    out_img = face.astype(np.float32) * (1 + mask * (tone - 1)) * grad[..., None] * colour
    image = np.clip(np.rint(out_img), 0, 255).astype(np.uint8)
    image.flags.writeable = False
    return Subject(image=image, landmarks=lm_out, face_width=float(fw))


# --- expressions ---------------------------------------------------------------------------------

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


# --- layouts -------------------------------------------------------------------------------------

def _resolve(layout: str, seed: int, params: dict) -> dict:
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown synth parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    d = _LAYOUT_DEFAULTS[layout]
    p["clips_per_subject"] = d["clips_per_subject"] if p["clips_per_subject"] is None else p["clips_per_subject"]
    p["fps"] = float(d["fps"] if p["fps"] is None else p["fps"])
    p["frames"] = [int(v) for v in (d["frames"] if p["frames"] is None else p["frames"])]
    p["face_width"] = float(0.4 * p["width"] if p["face_width"] is None else p["face_width"])
    p["label_seed"] = int(seed if p["label_seed"] is None else p["label_seed"])
    for k in ("subjects", "clips_per_subject", "width", "height"):
        p[k] = int(p[k])
        if p[k] < 1:
            raise ConfigError(f"synth parameter {k} must be >= 1, got {p[k]}")
    if p["width"] < 64 or p["height"] < 48:
        raise ConfigError(f"synth frames must be at least 64x48 pixels, got {p['width']}x{p['height']}")
    if not 3 <= p["frames"][0] <= p["frames"][1]:
        raise ConfigError(f"synth parameter frames must be (min, max) with 3 <= min <= max, got {p['frames']}")
    for k in ("amplitude", "noise", "jitter", "flicker", "fps"):
        p[k] = float(p[k])
        if p[k] < 0 or (k == "fps" and p[k] == 0):
            raise ConfigError(f"synth parameter {k} must be >= 0 (fps > 0), got {p[k]}")
    return {"layout": layout, "seed": int(seed), "version": VERSION, **p}


def _labels(p: dict) -> list[list[tuple[str, frozenset]]]:
    """Per subject, per clip: (objective class, AU set), balanced over the classes, from the label stream."""
    layout = p["layout"]
    rng = _rng(p["label_seed"], layout, 2)
    kinds = ["I", "II", "NEG"] if layout == "smic" else list(CLASSES)
    neg = 0
    out = []
    for s in range(p["subjects"]):
        seq = [kinds[(s + j) % len(kinds)] for j in range(p["clips_per_subject"])]
        seq = [seq[i] for i in rng.permutation(len(seq))]
        row = []
        for k in seq:
            if k == "NEG":
                k, neg = ("III", "IV", "V", "VI")[neg % 4], neg + 1
            combos = OTHER_AU_COMBOS if k == "VII" else OBJECTIVE_AU_COMBOS[k]
            row.append((k, combos[int(rng.integers(len(combos)))]))
        out.append(row)
    return out


def _aus_text(aus) -> str:
    return "+".join(str(a) for a in sorted(aus))


def _plan(p: dict) -> tuple[list[dict], list[tuple]]:
    """The clips of a layout (names, paths, labels, nuisance) and its subjects' (seed, layout, index)."""
    layout = p["layout"]
    labels = _labels(p)
    clips, subjects = [], []
    for s in range(p["subjects"]):
        subjects.append((p["seed"], layout, s))
        counts: dict[str, int] = {}
        for j, (cls, aus) in enumerate(labels[s]):
            nz = draw_nuisance(_rng(p["seed"], layout, 1, s, j), layout, tuple(p["frames"]))
            native = NATIVE_EMOTION[layout][cls]
            if layout == "casme2":
                subject, clip = f"sub{s + 1:02d}", f"EP{nz.name_code:02d}_{j + 1:02d}{'f' if nz.suffix else ''}"
                folder = f"CASME2_RAW_selected/{subject}/{clip}"
                names = [f"img{k}.jpg" for k in range(nz.first, nz.first + nz.n_frames)]
            elif layout == "samm":
                n = s + 6
                subject, clip = f"{n:03d}", f"{n:03d}_{1 + nz.name_code % 7}_{j + 1}"
                folder = f"SAMM/{subject}/{clip}"
                names = [f"{n:03d}_{k:05d}.jpg" for k in range(nz.first, nz.first + nz.n_frames)]
            else:
                counts[native] = counts.get(native, 0) + 1
                subject, clip = f"s{s + 1}", f"s{s + 1}_{_SMIC_SHORT[native]}_{counts[native]:02d}"
                folder = f"SMIC_all_raw/HS/{subject}/micro/{native}/{clip}"
                names = [f"image{k:06d}.bmp" for k in range(nz.first, nz.first + nz.n_frames)]
            clips.append({"subject_index": s, "subject": subject, "clip": clip, "folder": folder, "names": names,
                          "objective_class": cls, "aus": aus, "emotion": OBJECTIVE_EMOTION[cls],
                          "native_emotion": native, "nuisance": nz})
    return clips, subjects


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with fixed timestamps, so that the same content gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2014, 5, 8, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    path.write_bytes(buf.getvalue())


def _write_xlsx(path: Path, sheet: str, header: list, rows: list[list]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as z:
        members = {n: z.read(n) for n in z.namelist()}
    fixed = b"2014-05-08T00:00:00Z"
    members["docProps/core.xml"] = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fixed, members["docProps/core.xml"])
    _write_zip(path, members)


def _annotation(layout_dir: Path, p: dict, clips: list[dict]) -> None:
    layout = p["layout"]
    if layout == "casme2":
        header = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion", "Objective Classes"]
        rows = [[c["subject_index"] + 1, c["clip"], None, c["onset_no"], c["apex_no"], c["offset_no"], None,
                 _aus_text(c["aus"]), c["native_emotion"], CLASSES.index(c["objective_class"]) + 1] for c in clips]
        _write_xlsx(layout_dir / "CASME2-coding-20140508.xlsx", "Sheet1", header, rows)
    elif layout == "samm":
        header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
                  "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
        rows = [[c["subject_index"] + 6, c["clip"], int(c["clip"].split("_")[1]), c["onset_no"], c["apex_no"],
                 c["offset_no"], c["offset_no"] - c["onset_no"] + 1, "Micro - 1/2", _aus_text(c["aus"]),
                 c["native_emotion"], CLASSES.index(c["objective_class"]) + 1, None] for c in clips]
        _write_xlsx(layout_dir / "SAMM_Micro_FACS_Codes_v2.xlsx", "MICRO_ONLY", header, rows)


def _render_and_write(c: dict, subject: Subject, layout_dir: Path, p: dict) -> dict:
    cv2.setNumThreads(1)
    r = render_clip(subject, c["aus"], c["nuisance"], p["amplitude"], p["noise"], p["jitter"], p["flicker"])
    folder = layout_dir / c["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(c["names"], r["frames"]):
        img = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY if p["layout"] == "samm" else cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(folder / name), img):
            raise DataError(folder / name, "a writable image file")
    return {k: r[k] for k in ("landmarks", "intensity", "pose", "onset", "apex", "offset")}


def generate(root, layout: str, seed: int = 0, n_jobs: int | None = None, progress: bool = True,
             **params) -> Path:
    """Write the synthetic ``layout`` (casme2, samm or smic) under ``<root>/<layout>/``; returns that folder.

    ``params`` (defaults in :data:`DEFAULTS` and the module docstring): ``subjects``, ``clips_per_subject``,
    ``width``, ``height``, ``face_width``, ``fps``, ``frames`` (min, max clip length), ``amplitude`` (pixels
    at apex; 0 = chance-level control), ``noise`` (sd, grey levels), ``jitter`` (sd, pixels), ``flicker``
    (relative gain), ``label_seed`` (default ``seed``). The same seed and params give the same bytes.
    The folder is built under a temporary name and renamed into place (replacing an older one).
    """
    p = _resolve(layout, seed, params)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / layout
    tmp = root / f".{layout}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    clips, subject_keys = _plan(p)
    subjects = [make_subject(*k, width=p["width"], height=p["height"], face_width=p["face_width"])
                for k in subject_keys]
    n_jobs = min(2, os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    jobs = [(c, subjects[c["subject_index"]]) for c in clips]
    with ThreadPoolExecutor(n_jobs) as pool:
        results = list(tqdm(pool.map(lambda j: _render_and_write(j[0], j[1], tmp, p), jobs), total=len(jobs),
                            desc=f"synth {layout}", disable=not progress))
    arrays, table = {}, []
    for c, r in zip(clips, results):
        first = c["nuisance"].first
        c.update(onset_no=first + r["onset"], apex_no=first + r["apex"], offset_no=first + r["offset"])
        key = f"{c['subject']}/{c['clip']}"
        for k in ("landmarks", "intensity", "pose"):
            arrays[f"{key}/{k}.npy"] = r[k]
        table.append({"subject": c["subject"], "clip": c["clip"], "folder": c["folder"],
                      "first_frame": first, "last_frame": first + len(c["names"]) - 1,
                      "n_frames": len(c["names"]), "onset": c["onset_no"], "apex": c["apex_no"],
                      "offset": c["offset_no"], "aus": _aus_text(c["aus"]), "objective_class": c["objective_class"],
                      "emotion": c["emotion"], "native_emotion": c["native_emotion"], "fps": p["fps"],
                      "amplitude": round(p["amplitude"] * c["nuisance"].strength, 4),
                      "frame_ext": Path(c["names"][0]).suffix})
    _annotation(tmp, p, clips)
    pd.DataFrame(table).to_csv(tmp / "ground_truth.csv", index=False)
    members = {}
    for name, arr in arrays.items():
        b = io.BytesIO()
        np.lib.format.write_array(b, np.ascontiguousarray(arr), allow_pickle=False)
        members[name] = b.getvalue()
    _write_zip(tmp / "ground_truth.npz", members)
    (tmp / PARAMS_FILE).write_text(json.dumps(p, indent=1, sort_keys=True))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def default_params(seed: int = 0, **params) -> dict:
    """The resolved parameters of every layout of a default set (what ``synth_params.json`` holds)."""
    return {"version": VERSION, "seed": int(seed), "layouts": {l: _resolve(l, seed, params) for l in LAYOUTS}}


def generate_default(root=None, seed: int = 0, n_jobs: int | None = None, progress: bool = True,
                     **params) -> Path:
    """All three layouts under ``root`` (default ``melib.config.synth_root()``); returns ``root``.

    Nothing is done when ``root/synth_params.json`` already records the same seed and parameters. The set is
    built in a temporary sibling folder and renamed into place, so a half-written set is never taken for done.
    """
    root = Path(config.synth_root() if root is None else root)
    want = default_params(seed, **params)
    done = root / PARAMS_FILE
    if done.is_file():
        try:
            if json.loads(done.read_text()) == want:
                return root
        except json.JSONDecodeError:
            pass
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    for layout in LAYOUTS:
        generate(tmp, layout, seed, n_jobs=n_jobs, progress=progress, **params)
    (tmp / PARAMS_FILE).write_text(json.dumps(want, indent=1, sort_keys=True))
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


def read_ground_truth(layout_root) -> pd.DataFrame:
    """``ground_truth.csv`` of a synthetic layout folder plus ``landmarks``, ``intensity`` and ``pose`` arrays."""
    layout_root = Path(layout_root)
    csv, npz = layout_root / "ground_truth.csv", layout_root / "ground_truth.npz"
    for f in (csv, npz):
        if not f.is_file():
            raise DataError(f, "a synthetic set's ground truth (written by melib.synth.generate)", "no such file")
    df = pd.read_csv(csv, dtype={"subject": str, "clip": str})
    with np.load(npz) as z:
        for k in ("landmarks", "intensity", "pose"):
            df[k] = [z[f"{s}/{c}/{k}"] for s, c in zip(df["subject"], df["clip"])]
    return df

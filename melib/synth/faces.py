"""Synthetic subjects: the source face, a thin-plate-spline morph and lighting, and the geometry they share.

The source face is one public-domain photograph (``skimage.data.astronaut()``, NASA). Its 68 landmarks
(:data:`SOURCE_LANDMARKS`) were placed once by dlib's frontal detector and 68-point predictor and are kept
here, so that generating a set does not need dlib (``tests/test_synth.py`` checks that dlib still places
them there).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .spec import LOOK as _LOOK, rng as _rng

# dlib's 68 landmarks (x, y) on skimage.data.astronaut() (frontal detector, upsample 0; 68-point predictor).
SOURCE_LANDMARKS = np.array([
    179, 104, 179, 116, 180, 127, 181, 139, 185, 151, 191, 160, 200, 169, 209, 176, 221, 178, 232, 177, 243, 171,
    253, 164, 260, 154, 265, 144, 268, 132, 270, 120, 272, 108, 186, 94, 192, 88, 200, 87, 208, 89, 216, 92, 236,
    93, 244, 91, 252, 91, 260, 92, 265, 98, 225, 103, 225, 111, 225, 119, 225, 127, 214, 131, 219, 132, 224, 134,
    229, 133, 234, 132, 195, 101, 200, 98, 207, 98, 212, 104, 206, 104, 199, 104, 238, 105, 244, 101, 250, 101,
    255, 104, 250, 107, 244, 106, 201, 140, 209, 139, 218, 139, 223, 141, 229, 140, 237, 140, 245, 141, 237, 151,
    229, 155, 222, 156, 216, 155, 208, 150, 204, 141, 217, 143, 223, 144, 229, 143, 243, 142, 229, 150, 223, 150,
    217, 150], dtype=np.float64).reshape(68, 2)

# Mirror permutation of dlib's 68 points (image-left <-> image-right).
_MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                   + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
                   + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


@functools.lru_cache(maxsize=1)
def source_face() -> tuple[np.ndarray, np.ndarray]:
    """The source photo (RGB uint8, read-only) and its 68 landmarks (x, y)."""
    import skimage.data

    img = np.ascontiguousarray(skimage.data.astronaut())
    lm = SOURCE_LANDMARKS.copy()
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


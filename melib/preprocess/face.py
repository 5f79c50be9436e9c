"""Face detection, 68 landmarks, and one alignment + crop applied to a whole clip.

dlib's frontal face detector finds the face and the 68-point shape predictor (shipped by
``face-recognition-models``) places the landmarks on one reference frame, the onset (C3D, sections 4.1-4.2;
CropNet, section 3.1.1.2-3; LocalRegions, section 3.1). One similarity transform, levelling the eye line and
cropping the landmarks' box plus a margin, is then applied to every frame: re-aligning each frame would
erase the micro-motion under study (LocalRegions, section 3.1, refers every frame to the first).

Landmarks come from dlib by default. A clip of one of melib's synthetic sets can take them from the set's
ground truth instead (:func:`ground_truth_landmarks`, no dlib needed, e.g. on a machine where dlib does not
install): ``MELIB_LANDMARKS=ground_truth`` (read by :func:`melib.config.landmarks`, and part of every cache
key) or ``face_track(row, landmarks="ground_truth")``; a clip of real data is then refused. dlib is imported
only when it is used.

Sizes are (height, width) in pixels; points are (x, y) in pixel coordinates.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import config
from ..errors import ConfigError, DataError
from .cache import cached

# Output face size (height, width) per paper.
FACE_SIZES: dict[str, tuple[int, int]] = {
    "dlhn": (112, 112),  # DLHN, section 4.2.1
    "psn": (112, 112),  # PSN, section 3.2 (2)
    "c3d": (128, 128),  # C3D, Model-A (Table 2) and Model-C (section 5.3)
    "c3d_b": (64, 64),  # C3D, Model-B (MicroExpSTCNN, section 5.2)
    "cropnet": (320, 320),  # CropNet, section 3.2.2: CGPO takes a 320x320 input
    # LocalRegions gives no face size (its Table 2 lists raw faces of 190x230 to 400x400); project choice,
    # 240 wide x 280 high, close to the CASME II face.
    "localregions": (280, 240),
}
DEFAULT_MARGIN = 0.15

# 68-point landmark groups (iBUG 300-W order, as dlib). "left"/"right" are as seen in the image.
JAW = slice(0, 17)
LEFT_BROW, RIGHT_BROW = slice(17, 22), slice(22, 27)
NOSE = slice(27, 36)
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
MOUTH = slice(48, 68)


class FaceNotFound(DataError):
    """No face on the reference frame of a clip: an exclusion, not a crash."""


@dataclass(frozen=True)
class AlignedClip:
    frames: np.ndarray  # (T, h, w[, 3]) uint8, the aligned and cropped clip
    transform: np.ndarray  # (2, 3) affine map from input pixel coordinates to output coordinates
    landmarks: np.ndarray  # (68, 2) float (x, y) of the reference frame, in output coordinates
    box: tuple[int, int, int, int]  # detected face (left, top, right, bottom) in input coordinates
    score: float  # detector score (nan when the landmarks were given)
    reference: int  # the position of the frame the face was found on

    def to_dict(self) -> dict:
        return {"frames": self.frames, "transform": self.transform, "landmarks": self.landmarks,
                "box": np.asarray(self.box), "score": self.score, "reference": self.reference}


def _models_dir() -> Path:
    # face_recognition_models' own __init__ imports pkg_resources, which recent setuptools no longer ships;
    # find its data folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(None, "the face-recognition-models package installed (pip install face-recognition-models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise ConfigError("dlib is not installed (pip install dlib-bin); without it, clips of melib's synthetic "
                          "sets can take their landmarks from the ground truth: MELIB_LANDMARKS=ground_truth") from exc
    return dlib


@functools.lru_cache(maxsize=1)
def detector():
    """dlib's HOG frontal face detector, loaded once per process."""
    return _dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def predictor():
    """dlib's 68-point shape predictor from face-recognition-models, loaded once per process."""
    dlib = _dlib()
    path = _models_dir() / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise DataError(path, "dlib's 68-point shape predictor model file")
    return dlib.shape_predictor(str(path))


def _dlib_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise DataError(None, "a uint8 grey (H, W) or RGB (H, W, 3) image", f"{image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def detect_face(image: np.ndarray, upsample: int = 0, min_score: float = 0.0,
                path=None) -> tuple[tuple[int, int, int, int], float]:
    """The highest-scoring face box ``(left, top, right, bottom)`` and its score.

    ``upsample`` 0 by default: with 1, dlib reports a false second face on a real photo (a score near
    0.1); ``min_score`` drops detections below a score. Raises :class:`FaceNotFound` naming ``path``.
    """
    img = _dlib_image(image)
    dets, scores, _ = detector().run(img, upsample, min_score)
    if len(dets) == 0:
        raise FaceNotFound(path, f"a face (dlib frontal detector, upsample {upsample}, score >= {min_score})",
                           "none")
    best = int(np.argmax(scores))
    r = dets[best]
    return (r.left(), r.top(), r.right(), r.bottom()), float(scores[best])


def detect_landmarks(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 68 landmarks (x, y) placed by dlib's shape predictor inside ``box``; float array (68, 2)."""
    shape = predictor()(_dlib_image(image), _dlib().rectangle(*map(int, box)))
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)


def landmark_box(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """The box ``(left, top, right, bottom)`` around landmarks (the face box when they were given, not found)."""
    (x0, y0), (x1, y1) = np.min(landmarks, axis=0), np.max(landmarks, axis=0)
    return int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))


def apply_transform(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points with a (2, 3) affine transform."""
    points = np.asarray(points, dtype=np.float64)
    return points @ transform[:, :2].T + transform[:, 2]


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes (mean of points 36-41 and 42-47)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return landmarks[LEFT_EYE].mean(axis=0), landmarks[RIGHT_EYE].mean(axis=0)


def alignment_transform(landmarks: np.ndarray, size: tuple[int, int] = (112, 112),
                        margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The (2, 3) similarity transform that levels the eye line and crops the face to ``size`` (h, w).

    Rotation about the midpoint of the eyes makes the eye line horizontal; the crop is the box of the
    rotated 68 landmarks, grown by ``margin`` of its width/height on every side, then widened (or heightened)
    to the output aspect ratio, and scaled to ``size``. The papers say only "aligned and cropped with the
    landmarks" (C3D 4.1-4.2, CropNet 3.1.1.3); margin and box rule are project choices.
    """
    h, w = size
    left, right = eye_centres(landmarks)
    dx, dy = right - left
    angle = np.degrees(np.arctan2(dy, dx))
    centre = (left + right) / 2
    rot = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), 1.0)
    pts = apply_transform(rot, landmarks)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    bw, bh = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    if bw <= 0 or bh <= 0:
        raise DataError(None, "68 landmarks spanning a face", f"a degenerate box {bw:.1f}x{bh:.1f}")
    bw, bh = max(bw, bh * w / h), max(bh, bw * h / w)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = w / bw
    crop = np.array([[scale, 0, w / 2 - scale * cx], [0, scale, h / 2 - scale * cy]])
    return np.vstack([crop, [0, 0, 1]])[:2] @ np.vstack([rot, [0, 0, 1]])


def warp_clip(frames: np.ndarray, transform: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Apply one affine ``transform`` to every frame, output ``size`` (h, w); borders replicate the edge."""
    h, w = size
    out = [cv2.warpAffine(np.ascontiguousarray(f), transform, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE) for f in frames]
    return np.stack(out) if out else np.empty((0, h, w) + np.shape(frames)[3:], dtype=np.asarray(frames).dtype)


def align_clip(frames: np.ndarray, size: tuple[int, int] = (112, 112), margin: float = DEFAULT_MARGIN,
               reference: int = 0, landmarks: np.ndarray | None = None, upsample: int = 0,
               min_score: float = 0.0, path=None) -> AlignedClip:
    """Detect the face on frame ``reference`` (the onset), align and crop the whole clip the same way.

    ``frames``: uint8 (T, H, W) grey or (T, H, W, 3) RGB. ``landmarks`` (68, 2) in input coordinates skip
    the detector (e.g. ground truth). Raises :class:`FaceNotFound` (a DataError naming ``path``) when the
    reference frame has no face, DataError for an empty clip.
    """
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or frames.shape[0] == 0:
        raise DataError(path, "a non-empty clip (T, H, W) or (T, H, W, 3)", f"shape {frames.shape}")
    if not 0 <= reference < frames.shape[0]:
        raise DataError(path, f"a reference frame inside the clip (0..{frames.shape[0] - 1})", str(reference))
    if landmarks is None:
        box, score = detect_face(frames[reference], upsample, min_score, path)
        landmarks = detect_landmarks(frames[reference], box)
    else:
        landmarks = np.asarray(landmarks, dtype=np.float64)
        box, score = landmark_box(landmarks), float("nan")
    transform = alignment_transform(landmarks, size, margin)
    return AlignedClip(frames=warp_clip(frames, transform, size), transform=transform,
                       landmarks=apply_transform(transform, landmarks), box=box, score=score,
                       reference=int(reference))


@cached(version=1)
def face_landmarks(row, upsample: int = 0, min_score: float = 0.0) -> dict:
    """The face box, detector score and 68 landmarks (input coordinates) on a samples row's onset frame.

    Cached: one detection per clip, however many face sizes the papers' pipelines align it to. A clip with
    no face raises :class:`FaceNotFound`, which :func:`~melib.preprocess.clips.map_clips` turns into an
    exclusion record (and the cache remembers).
    """
    from .. import datasets

    onset = row.copy()
    onset["frames"] = list(row["frames"])[:1]
    image = datasets.read_clip(onset)[0]
    path = onset["frames"][0] if len(onset["frames"]) else None
    box, score = detect_face(image, upsample, min_score, path)
    return {"landmarks": detect_landmarks(image, box), "box": np.asarray(box), "score": float(score)}


def _synth_layout(folder: Path) -> Path | None:
    """The layout folder of a melib synthetic set (its parameter record names a layout) holding a clip folder."""
    from ..synth.store import read_record

    for parent in list(folder.parents)[:8]:  # CAS(ME)³ A's frames are 7 folders below the layout
        if (read_record(parent) or {}).get("layout"):
            return parent
    return None


@functools.lru_cache(maxsize=4)
def _ground_truth(layout: Path, stamp: tuple) -> dict[str, list[tuple[int, np.ndarray]]]:
    """{clip folder: [(first frame, landmarks)] of each clip in it} (a CAS(ME)³ A recording holds several)."""
    from ..synth import read_ground_truth

    gt = read_ground_truth(layout)
    out: dict[str, list[tuple[int, np.ndarray]]] = {}
    for f, first, lm in zip(gt["folder"], gt["first_frame"], gt["landmarks"]):
        out.setdefault(f, []).append((int(first), lm))
    return out


def ground_truth_landmarks(row) -> dict:
    """The face box and 68 landmarks of a synthetic clip's first frame (the onset), from its set's ground truth.

    Same keys as :func:`face_landmarks` (``score`` is nan). A clip that is not from one of melib's synthetic
    sets (``synthetic`` False, or no ground truth above its frames) raises ConfigError: real data needs dlib.
    """
    from ..datasets import frame_number

    frames = list(row["frames"])
    first = Path(frames[0]) if frames else None
    layout = None if first is None else _synth_layout(first.parent)
    if not bool(row.get("synthetic", True)) or layout is None:
        raise ConfigError(f"ground-truth landmarks (MELIB_LANDMARKS=ground_truth) exist only for melib's synthetic "
                          f"sets; clip {row.get('subject')}/{row.get('clip')} ({first}) is not one: use dlib")
    npz = layout / "ground_truth.npz"
    stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in (layout / "ground_truth.csv", npz))
    folder = first.parent.relative_to(layout).as_posix()
    n = frame_number(first)
    entry = next(((start, lm) for start, lm in _ground_truth(layout, stamp).get(folder, [])
                  if 0 <= n - start < len(lm)), None)
    if entry is None:
        raise DataError(npz, f"landmarks of frame {first.name} of clip folder {folder}", "none")
    landmarks = entry[1][n - entry[0]].astype(np.float64)
    return {"landmarks": landmarks, "box": np.asarray(landmark_box(landmarks)), "score": float("nan")}


def face_track(row, size: tuple[int, int] = (112, 112), margin: float = DEFAULT_MARGIN, gray: bool = False,
               upsample: int = 0, min_score: float = 0.0, landmarks: str | None = None) -> dict:
    """:func:`align_clip` of one samples row with its onset-frame landmarks: dlib's (cached,
    :func:`face_landmarks`) or the synthetic set's ground truth (:func:`ground_truth_landmarks`).

    ``landmarks``: ``"dlib"`` or ``"ground_truth"``; None reads ``MELIB_LANDMARKS`` (default dlib). Returns
    :meth:`AlignedClip.to_dict`. Not cached itself: the warp is cheap next to reading the frames, and the
    papers' pipelines cache what they make of it.
    """
    from .. import datasets

    if config.landmarks(landmarks) == "ground_truth":
        face = ground_truth_landmarks(row)
    else:
        face = face_landmarks(row, upsample=upsample, min_score=min_score)
    frames = datasets.read_clip(row, gray=gray)
    transform = alignment_transform(face["landmarks"], size, margin)
    return AlignedClip(frames=warp_clip(frames, transform, size), transform=transform,
                       landmarks=apply_transform(transform, face["landmarks"]),
                       box=tuple(int(v) for v in face["box"]), score=face["score"], reference=0).to_dict()

"""Per-paper input pipelines: one samples row -> the arrays that paper's model eats.

Each ``*_inputs`` function is a pure function of one samples row (``melib.datasets.load``) and parameters,
cached on disk (:func:`~melib.preprocess.cache.cached`), composed from the primitives of
:mod:`melib.preprocess` (face, roi, temporal, rpca, residual, pyramid, flow, lbp). :func:`build_inputs` runs
one of them over a samples table (tqdm progress) and stacks the results; a clip that fails (no face, too few
frames, ...) becomes a counted exclusion record, never a crash. Every pipeline refuses a clip of fewer than
:data:`MIN_FRAMES` frames (onset, apex and offset distinct; :func:`enough_frames`), LBP one shorter than its
temporal radius needs.

Conventions shared by every pipeline (choices; the book lists them as deviations where a paper is silent):

- Pixel values: uint8 frames are scaled to float32 in [0, 1] (``/ 255``). RPCA's sparse part E is taken on
  those [0, 1] frames and kept signed (roughly in [-1, 1]). Arrays are float32, time first, channels
  second: (T, C, H, W) per clip, as the models' ``input_spec``.
- Geometry: the face is detected on the onset frame and the whole clip aligned once
  (:func:`~melib.preprocess.face.face_track`) at the paper's face size (``face.FACE_SIZES``); every step
  (ROIs, RPCA, residuals, CGPO) runs at the paper's resolution, and only the final arrays are shrunk, with
  area averaging, to the sizes a smaller model profile asks for (``roi_sizes``, ``sparse_size``, ``size``,
  ``out_size``, ``sizes``). :func:`spec_params` reads those sizes from a model's input spec (which
  ``melib.models.input_spec`` gives as data: this package imports nothing from ``melib.models``).
- Registry (:mod:`~melib.preprocess.registry`, whose names this module re-exports): each pipeline
  registers its per-clip function, the keyword that sets the aligned face's side (the study's
  ``frame_size``) and how a model's input spec maps to its parameters. A new preprocessing step is one
  registered function. RPCA runs on the device :func:`build_inputs` is given; cache entries do not depend
  on it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, DataError
from . import lbp as lbp_mod
from .cache import cached
from .face import DEFAULT_MARGIN, FACE_SIZES, face_track
from .flow import onset_apex_flow
from .registry import (PIPELINES, Pipeline, batched_rpca, build_inputs, current_device, entry,  # noqa: F401
                       face_params, on_device, pipeline, register, spec_params)
from .pyramid import ALPHA, GRIDS, OUT_SIZE, SIZE as CGPO_SIZE, cgpo as cgpo_crops
from .residual import N_KEY, residual_image
from .roi import DLHN_FACE, dlhn_rois, localregions_rois
from .rpca import retain, rpca_frames
from .temporal import (C3D_WINDOW, DLHN_FRAMES, PSN_FRAMES, PSN_NORMALISED, apex_position, apex_window,
                       psn_sample_indices, resample)

DLHN_ROIS = ("eyebrows", "eyes", "nose", "mouth")
# roi.localregions_rois names -> the model's (melib.models.local_regions.REGIONS); "left"/"right" as seen in
# the image in both.
LOCALREGIONS_NAMES = {"left_eye": "eye_left", "right_eye": "eye_right", "nose": "nose",
                      "left_cheek": "cheek_left", "right_cheek": "cheek_right", "mouth": "mouth"}
LOCALREGIONS_REGIONS = ("eye_left", "eye_right", "nose", "cheek_right", "cheek_left", "mouth")
LOCALREGIONS_FACE = (128, 128)  # the "whole face" ablation input (LocalRegions Table 5; model's REGION_SIZES)
LBP_FACE = (128, 128)  # project choice: the MEGC2019 baseline fixes radii, points and blocks, not a face size
CROPNET_KINDS = ("ars", "rrs", "tvl1", "farneback")

Size = tuple[int, int]


# --- small shared steps -------------------------------------------------------------------------------

def _pair(size) -> Size:
    """(h, w) from an int side or a (h, w) pair."""
    if np.isscalar(size):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _unit(frames: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1]."""
    return np.asarray(frames, dtype=np.float32) / np.float32(255.0)


def _resize(images: np.ndarray, size, channels_last: bool = False) -> np.ndarray:
    """Resize the images of (..., H, W) (or (..., H, W, C) with ``channels_last``) to ``size`` (h, w): area
    averaging when shrinking, bilinear otherwise; ``None`` or the same size returns the input."""
    images = np.asarray(images)
    if size is None:
        return images
    h, w = _pair(size)
    k = 3 if channels_last else 2
    spatial, lead = images.shape[-k:][:2], images.shape[:-k]
    if tuple(spatial) == (h, w):
        return images
    interp = cv2.INTER_AREA if spatial[0] >= h and spatial[1] >= w else cv2.INTER_LINEAR
    flat = images.reshape((-1,) + images.shape[-k:])
    out = [cv2.resize(np.ascontiguousarray(f), (w, h), interpolation=interp) for f in flat]
    return np.stack(out).reshape(lead + (h, w) + images.shape[images.ndim - k + 2:])


def _tchw(clip: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (T, 1, H, W); (T, H, W, C) -> (T, C, H, W); float32, contiguous."""
    clip = np.asarray(clip, dtype=np.float32)
    out = clip[:, None] if clip.ndim == 3 else clip.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out)


def _path(row):
    frames = row.get("frames")
    return frames[0] if frames is not None and len(frames) else None


MIN_FRAMES = 3  # an onset, an apex and an offset on distinct frames


def enough_frames(row, paper: str, minimum: int = MIN_FRAMES) -> None:
    """Refuse (DataError: an exclusion of :func:`build_inputs`) a clip of fewer than ``minimum`` frames, before
    any work: resampling, padding or a window would make a full-length input of a clip without its motion."""
    n = len(row["frames"])
    if n < minimum:
        raise DataError(_path(row), f"a clip of at least {minimum} frames for {paper} (onset, apex and offset on "
                                    "distinct frames)", f"{n} frame(s)")


CLIP_SCALES = (None, "clip_sd")


def scale_clip(arrays, how: str | None):
    """One clip's arrays (an array, or a dict of them: the clip's regions) divided by one factor per clip.

    ``how="clip_sd"``: the standard deviation of all their values together (a choice: the papers do not say
    how signed inputs such as RPCA's E or a frame minus the onset are scaled for the network; on the
    synthetic set E's sd is about 1/20 of the frames'). One factor keeps the zeros and the contrast between
    frames, pixels and regions; an all-zero clip stays zero. ``None`` returns the input.
    """
    if how not in CLIP_SCALES:
        raise ConfigError(f"scale must be one of {CLIP_SCALES}, not {how!r}")
    if how is None:
        return arrays
    parts = list(arrays.values()) if isinstance(arrays, dict) else [arrays]
    sd = float(np.concatenate([np.ravel(a) for a in parts]).std())
    if sd == 0:
        return arrays
    f = np.float32(1.0 / sd)
    return {k: v * f for k, v in arrays.items()} if isinstance(arrays, dict) else arrays * f


def _sparse(clip01: np.ndarray, path, scale: str | None = None, **rpca_kw) -> np.ndarray:
    """RPCA sparse part E of a float [0, 1] clip (T, H, W), frames as the columns of D (DLHN 3.2.1, PSN 2.1),
    scaled as :func:`scale_clip` says."""
    x = clip01.astype(np.float32)
    E = batched_rpca(x, path, **rpca_kw)  # set when build_inputs batches RPCA across clips
    if E is None:
        device = current_device()
        _, E, _ = rpca_frames(x if device is None else torch.from_numpy(x).to(device), path=path, **rpca_kw)
        E = E if device is None else E.cpu().numpy()
    return scale_clip(E.astype(np.float32), scale)


def retain_frames(E: np.ndarray, ratio: float | None) -> np.ndarray:
    """E (T, C, H, W) with each frame keeping only its ``ratio`` largest non-zero entries (PSN Fig. 10;
    :func:`~melib.preprocess.rpca.retain`); None returns E."""
    if ratio is None:
        return E
    t = E.shape[0]
    cols = np.ascontiguousarray(E.reshape(t, -1).T)  # (pixels, frames): frames as columns
    return np.ascontiguousarray(retain(cols, float(ratio)).T.reshape(E.shape))


# --- DLHN ------------------------------------------------------------------------------------------------

def _dlhn_spec(spec: dict) -> dict:
    rois = {r: tuple(spec[r][-2:]) for r in DLHN_ROIS if r in spec}
    out = {"frames": int(next(iter(spec.values()))[0]), "rois": bool(rois), "sparse": "sparse" in spec}
    if rois:
        out["roi_sizes"] = rois
    if "sparse" in spec:
        out["sparse_size"] = tuple(spec["sparse"][-2:])
    return out


@register("dlhn", face="size", min_face=DLHN_FACE[0], from_spec=_dlhn_spec)
@cached(version=1)
def dlhn_inputs(row, size: int = 112, frames: int = DLHN_FRAMES, roi_sizes: Mapping[str, Size] | None = None,
                sparse_size: int | Size | None = None, rois: bool = True, sparse: bool = True,
                method: str = "linear", margin: float = DEFAULT_MARGIN, rpca_tol: float = 1e-7,
                rpca_max_iter: int = 1000, sparse_scale: str | None = None, onset_difference: bool = False,
                scale: str | None = None) -> dict[str, np.ndarray]:
    """DLHN inputs of one clip: the four ROI clips (HCRNN) and the RPCA sparse part E (RPRNN).

    DLHN 3.1.1 / 4.2.1: grey frames, face aligned and cropped to ``size`` x ``size`` (112), temporally
    normalised by linear interpolation to ``frames`` (16); ROIs eyebrows, eyes, nose, mouth at the paper's
    sizes (112x33, 112x20, 56x32, 56x38, w x h) around their landmark groups (:func:`roi.dlhn_rois`; the
    face must be wide enough for them, i.e. ``size`` >= 112). DLHN 3.2.1: E of RPCA (inexact ALM) of the
    normalised grey clip with frames as columns.
    Returns ``{"eyebrows", "eyes", "nose", "mouth": (T, 1, h, w), "sparse": (T, 1, s, s)}`` float32;
    ``roi_sizes`` ({name: (h, w)}) and ``sparse_size`` shrink the outputs for a smaller model profile
    (E is computed at ``size`` and then area-averaged). ``rois=False`` / ``sparse=False`` skip a part
    (HCRNN or RPRNN alone). Choices: interpolation on [0, 1] floats (not re-quantised to uint8); E as RPCA
    returns it (``sparse_scale="clip_sd"``: scaled per clip, :func:`scale_clip`). Not the paper's, off by
    default: ``onset_difference=True`` gives the ROI clips minus their first (onset) frame, ``scale`` scales
    the four together per clip (as ``c3d_inputs``' and ``localregions_inputs``' do); E is computed as before.
    """
    if rois and size < DLHN_FACE[0]:
        raise ConfigError(f"DLHN's ROIs (up to 112 px wide, DLHN 3.1.1) need a face of at least 112 px, not {size}; "
                          "shrink the outputs with roi_sizes / sparse_size instead")
    enough_frames(row, "DLHN")
    face = face_track(row, size=(size, size), margin=margin, gray=True)
    clip = resample(_unit(face["frames"]), frames, method, path=_path(row))  # DLHN 4.2.1
    out = {}
    if rois:
        crops, _ = dlhn_rois(clip - clip[:1] if onset_difference else clip, face["landmarks"],
                             path=_path(row))  # DLHN 3.1.1
        out.update(scale_clip({name: _tchw(_resize(crops[name], (roi_sizes or {}).get(name))) for name in DLHN_ROIS},
                              scale))
    if sparse:
        E = _sparse(clip, _path(row), sparse_scale, tol=rpca_tol, max_iter=rpca_max_iter)  # DLHN 3.2.1, Eq. 5
        out["sparse"] = _tchw(_resize(E, None if sparse_size is None else _pair(sparse_size)))
    return out


# --- PSN -------------------------------------------------------------------------------------------------

def psn_indices(frames: int = PSN_FRAMES, n_normalised: int = PSN_NORMALISED) -> np.ndarray:
    """Positions kept from the normalised clip: PSN's 1, 11, ..., 141, 150 for 16 frames (PSN 3.2 (2));
    for another count (a smaller model profile), ``frames`` evenly spaced positions from the first to the last
    (rounded), the same "uniform sampling" (choice)."""
    if frames == PSN_FRAMES and n_normalised == PSN_NORMALISED:
        return psn_sample_indices(n_normalised, frames)
    if not 1 <= frames <= n_normalised:
        raise ValueError(f"frames must be in 1..{n_normalised}, got {frames}")
    return np.rint(np.linspace(0, n_normalised - 1, frames)).astype(int)


def _psn_spec(spec: dict) -> dict:
    t, _, h, w = spec["sparse"]
    return {"frames": int(t), "out_size": (int(h), int(w))}


@register("psn", face="size", from_spec=_psn_spec)
@cached(version=2)
def psn_inputs(row, size: int = 112, frames: int = PSN_FRAMES, out_size: int | None = None,
               n_normalised: int = PSN_NORMALISED, method: str = "tim", rpca_on: str = "normalised",
               margin: float = DEFAULT_MARGIN, rpca_tol: float = 1e-7, rpca_max_iter: int = 1000,
               sparse_scale: str | None = "clip_sd", retain: float | None = None) -> dict[str, np.ndarray]:
    """PSN inputs of one clip: ``{"sparse": E, "frames": the original frames}``, each (T, 1, s, s) float32.

    PSN 3.2 (1)-(2): face detected and cropped, frames resized to ``size`` x ``size`` (112), grey; every clip
    normalised to 150 frames, then 16 frames kept: 1, 11, ..., 141, 150 (:func:`psn_indices`).
    Which frames RPCA sees (PSN is ambiguous): ``rpca_on="normalised"`` (default) runs RPCA on the whole
    150-frame clip and keeps E at the 16 sampled positions -- PSN 3.2 (2): "the longer length means more
    columns of the matrix E in Eq. 2. The subtle motion information ... extracted by RPCA may be better";
    ``rpca_on="sampled"`` runs it on the 16 sampled frames only (its remark that RPCA "requires a consistent
    time interval between frames" fits both). The interpolation to 150 frames is not named: TIM by default
    (``method="linear"`` the alternative), on [0, 1] floats; interpolated frames are clipped to [0, 1].
    ``out_size`` shrinks both outputs (area averaging) for a smaller model profile.
    E is scaled to unit standard deviation per clip (``sparse_scale="clip_sd"``, :func:`scale_clip`; PSN does
    not say how E is scaled): as RPCA returns it, E's spread is about 1/20 of the frames' and PSN's spatial
    sub-network did not learn from it on the synthetic set (UAR 0.52 against 0.57 scaled, 20 epochs);
    ``sparse_scale=None`` keeps E as RPCA returns it. ``retain`` (PSN Fig. 10) keeps that share of each
    frame's non-zero entries of E, after the resizing (:func:`retain_frames`); None keeps all.
    Note: every frame of a clip interpolated to 150 frames is a mix of its T original frames, so that matrix
    has rank <= T; for clips much shorter than 150 frames RPCA then leaves less in E (on the synthetic set E's
    contrast on the moved pixels at the apex was less consistent than with ``rpca_on="sampled"``).
    """
    if rpca_on not in ("normalised", "sampled"):
        raise ConfigError(f"rpca_on must be 'normalised' or 'sampled', not {rpca_on!r}")
    enough_frames(row, "PSN")
    face = face_track(row, size=(size, size), margin=margin, gray=True)
    normalised = np.clip(resample(_unit(face["frames"]), n_normalised, method, path=_path(row)), 0.0, 1.0)
    keep = psn_indices(frames, n_normalised)
    sampled = normalised[keep]
    rpca_kw = dict(scale=sparse_scale, tol=rpca_tol, max_iter=rpca_max_iter)
    if rpca_on == "normalised":
        E = _sparse(normalised, _path(row), **rpca_kw)[keep]  # PSN Eq. 2 on the 150-frame clip
    else:
        E = _sparse(sampled, _path(row), **rpca_kw)
    shrink = None if out_size is None else _pair(out_size)
    return {"sparse": retain_frames(_tchw(_resize(E, shrink)), retain), "frames": _tchw(_resize(sampled, shrink))}


# --- C3D -------------------------------------------------------------------------------------------------

def c3d_window(datasets: str | Sequence[str]) -> int:
    """C3D's sequence length for a dataset or a set of them: 36 CASME II, 26 SMIC, 30 for anything combined
    or any other dataset (C3D 4.4, 5.1)."""
    names = {datasets} if isinstance(datasets, str) else set(datasets)
    return C3D_WINDOW[names.pop()] if len(names) == 1 and next(iter(names)) in C3D_WINDOW else C3D_WINDOW["combined"]


def _c3d_spec(spec: dict) -> dict:
    t, _, h, w = spec["clip"]
    if h != w:
        raise ConfigError(f"C3D pipelines make square frames, the model asks for {h}x{w}")
    return {"window": int(t), "size": int(h)}


ANCHORS = ("apex", "onset")


def _c3d_window_of_table(samples: pd.DataFrame, params: dict) -> dict:
    """``window=None``: one length for the whole table (:func:`c3d_window` of its datasets)."""
    if params.get("window") is None and len(samples):
        params = {**params, "window": c3d_window(samples["dataset"].unique().tolist())}
    return params


@register("c3d", face="face_size", from_spec=_c3d_spec, prepare=_c3d_window_of_table)
@cached(version=1)
def c3d_inputs(row, window: int | None = None, size: int = 128, face_size: int | None = None,
               mode: str = "pad", margin: float = DEFAULT_MARGIN, onset_difference: bool = False,
               anchor: str = "apex", scale: str | None = None) -> dict[str, np.ndarray]:
    """C3D input of one clip: ``{"clip": (L, 1, size, size)}`` float32 in [0, 1], the apex-centred window.

    C3D 4.1-4.4: dlib face + 68 landmarks, crop (grey, ``face_size``, default 128, C3D Table 2); the
    ``window`` frames around the apex, ``window // 2`` before it (:func:`temporal.apex_window`; positions
    outside the clip repeat the end frames, ``mode="shift"`` slides the window inside long clips instead).
    ``window=None`` takes the row's dataset length (:func:`c3d_window`: 36 CASME II, 26 SMIC, else 30).
    ``size`` is the output side (64 for Model-B; smaller for the CPU profile), area-averaged from the face.
    ``onset_difference=True`` (not the paper's input; off by default) gives every frame minus the clip's onset
    frame instead (signed, in [-1, 1]): the motion without the face's appearance. ``scale="clip_sd"`` divides
    the clip by one factor (:func:`scale_clip`).
    ``anchor="onset"``: the window that starts at the onset instead, C3D Table 3's "initial frame sequence"
    (centred on the frame ``window // 2`` after the onset, or the last frame of a shorter clip).
    """
    if anchor not in ANCHORS:
        raise ConfigError(f"anchor must be one of {', '.join(ANCHORS)}, not {anchor!r}")
    window = c3d_window(row["dataset"]) if window is None else int(window)
    enough_frames(row, "C3D")
    fs = FACE_SIZES["c3d"][0] if face_size is None else int(face_size)
    face = face_track(row, size=(fs, fs), margin=margin, gray=True)
    centre = apex_position(row) if anchor == "apex" else min(window // 2, len(face["frames"]) - 1)  # C3D Table 3
    clip = _unit(_resize(apex_window(face["frames"], centre, window, mode, path=_path(row)),
                         (size, size)))  # C3D 4.4
    if onset_difference:
        clip = clip - _unit(_resize(face["frames"][:1], (size, size)))
    return {"clip": _tchw(scale_clip(clip, scale))}


# --- CropNet ---------------------------------------------------------------------------------------------

def _minmax(image: np.ndarray) -> np.ndarray:
    """Per-channel min-max scaling of (H, W, C) to [0, 1] (a constant channel gives 0)."""
    image = np.asarray(image, dtype=np.float64)
    lo = image.min(axis=(0, 1), keepdims=True)
    span = image.max(axis=(0, 1), keepdims=True) - lo
    return np.where(span > 0, (image - lo) / np.where(span > 0, span, 1.0), 0.0)


def _cropnet_spec(spec: dict) -> dict:
    if "cgpo" in spec:
        return {"cgpo": True, "out_size": int(spec["cgpo"][2])}
    return {"cgpo": False, "whole_size": int(spec["image"][1])}


@register("cropnet", from_spec=_cropnet_spec)
@cached(version=1)
def cropnet_inputs(row, kind: str = "ars", cgpo: bool = True, size: int = CGPO_SIZE, out_size: int = OUT_SIZE,
                   whole_size: int | None = None, n_key: int = N_KEY, grids: Sequence[int] = GRIDS,
                   alpha: float = ALPHA, margin: float = DEFAULT_MARGIN) -> dict[str, np.ndarray]:
    """CropNet input of one clip: ``{"cgpo": (10, 3, out_size, out_size)}`` float32 in [0, 1].

    CropNet 3.1: RGB face cropped with the dlib landmarks at ``size`` (320); clip start = onset, end by
    Eq. 2; five key frames (Eqs. 3-4); ARS (Eq. 5, uint8) or RRS (Eqs. 6-7, [0, 255]) image, scaled by 1/255.
    ``kind="tvl1"`` / ``"farneback"``: CropNet Table 4's optical-flow rows: the flow from the onset to the
    apex frame, channels (u, v, optical strain), each min-max scaled to [0, 1] over the image (choice: the
    paper gives no scaling). CropNet 3.2.2: CGPO of that image (:func:`pyramid.cgpo`; z_0 the 160 level,
    z_1..z_9 the 3x3 overlapping tiles of the 320 level), ``out_size`` the side of each sub-image.
    ``cgpo=False`` (Table 4 "without CGPO"): ``{"image": (3, W, W)}``, the whole image at ``whole_size``
    (default ``2 * out_size``, the model's convention).
    """
    if kind not in CROPNET_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(CROPNET_KINDS)}, not {kind!r}")
    enough_frames(row, "CropNet")
    face = face_track(row, size=(size, size), margin=margin, gray=False)
    clip = face["frames"]
    apex = apex_position(row)
    if kind in ("ars", "rrs"):
        image = residual_image(clip, 0, apex, len(clip) - 1, kind, n_key, path=_path(row)).astype(np.float32)
        image /= np.float32(255.0)  # CropNet Eqs. 5, 7: values in [0, 255]
    else:
        image = _minmax(onset_apex_flow(clip, 0, apex, kind, path=_path(row))).astype(np.float32)
    if not cgpo:
        side = whole_size or 2 * out_size
        whole = _resize(image, (side, side), channels_last=True)
        return {"image": np.ascontiguousarray(whole.transpose(2, 0, 1), dtype=np.float32)}
    crops, _ = cgpo_crops(image, size, tuple(grids), alpha, out_size, path=_path(row))  # CropNet 3.2.2
    return {"cgpo": np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)}


# --- LocalRegions ----------------------------------------------------------------------------------------

def fit_length(clip: np.ndarray, frames: int, temporal: str = "pad", path=None) -> np.ndarray:
    """A clip of exactly ``frames`` frames.

    ``"pad"`` (LocalRegions 3.3: "pad with zeros all the input sequences to the same length N"): shorter
    clips get zero frames appended; longer ones (the model fixes N) keep ``frames`` evenly spaced frames,
    first and last included (choice). ``"resample"``: linear interpolation to ``frames``.
    """
    if temporal == "resample":
        return resample(clip, frames, "linear", path=path)
    if temporal != "pad":
        raise ConfigError(f"temporal must be 'pad' or 'resample', not {temporal!r}")
    n = len(clip)
    if n >= frames:
        return clip[np.rint(np.linspace(0, n - 1, frames)).astype(int)]
    return np.concatenate([clip, np.zeros((frames - n,) + clip.shape[1:], clip.dtype)])


def _local_regions_spec(spec: dict) -> dict:
    """Clips (T, C, h, w) per region, or single frames (C, h, w) for the stage-1 region CNN."""
    regions = tuple(spec)
    out = {"regions": regions, "sizes": {r: tuple(int(v) for v in spec[r][-2:]) for r in regions}}
    if len(spec[regions[0]]) == 4:
        out["frames"] = int(spec[regions[0]][0])
    return out


@register("localregions", face="face_size", from_spec=_local_regions_spec)
@cached(version=2)
def local_regions_inputs(row, frames: int = 16, sizes: Mapping[str, Size] | None = None,
                         regions: Sequence[str] = LOCALREGIONS_REGIONS, temporal: str = "pad",
                         face_size: Size | None = None, pad: float = 0.15, margin: float = DEFAULT_MARGIN,
                         onset_difference: bool = False, scale: str | None = None) -> dict[str, np.ndarray]:
    """LocalRegions inputs of one clip: ``{region: (T, 3, h, w)}`` float32 in [0, 1] for the six ROIs.

    LocalRegions 3.1: dlib landmarks, face cropped once for the whole clip on the first frame (``face_size``,
    default ``FACE_SIZES["localregions"]``, a project choice), six Ekman regions (:func:`roi.localregions_rois`)
    resized to 80x100 (eyes + brows), 80x120 (nose), 60x60 (cheeks), 60x160 (mouth), h x w, RGB.
    Region names follow the model (``eye_left`` ... ``cheek_right``). ``sizes`` ({region: (h, w)}) shrinks
    them for a smaller profile; ``regions`` may include ``"face"`` (Table 5 whole-face ablation: the aligned
    face at 128x128). Time: :func:`fit_length` to ``frames`` (zero padding; LocalRegions 3.3).
    ``onset_difference=True`` (not the paper's input; off by default) gives every frame minus the clip's onset
    frame (signed, in [-1, 1]; the onset frame itself becomes zero, like the padding): the motion without the
    face's appearance, as ``c3d_inputs(onset_difference=True)``. ``scale="clip_sd"`` divides all six regions
    of a clip by one factor (:func:`scale_clip`).
    """
    unknown = set(regions) - set(LOCALREGIONS_REGIONS) - {"face"}
    if unknown:
        raise ConfigError(f"unknown LocalRegions region(s) {sorted(unknown)}; choose from "
                          f"{', '.join(LOCALREGIONS_REGIONS)}, face")
    enough_frames(row, "LocalRegions")
    face = face_track(row, size=_pair(face_size or FACE_SIZES["localregions"]), margin=margin, gray=False)
    clip = _unit(face["frames"])
    if onset_difference:
        clip = clip - clip[:1]
    clip = fit_length(clip, frames, temporal, path=_path(row))
    crops, _ = localregions_rois(clip, face["landmarks"], pad=pad, path=_path(row))  # LocalRegions 3.1
    crops = {LOCALREGIONS_NAMES[k]: v for k, v in crops.items()}
    if "face" in regions:
        crops["face"] = _resize(clip, LOCALREGIONS_FACE, channels_last=True)
    return scale_clip({r: _tchw(_resize(crops[r], (sizes or {}).get(r), channels_last=True)) for r in regions},
                      scale)


# --- LBP baselines ---------------------------------------------------------------------------------------

@register("lbp", face="size")
@cached(version=1)
def lbp_features(row, kind: str = "top", size: Size = LBP_FACE, frames: int | None = None,
                 blocks: Size = (5, 5), radii: tuple[float, float, float] = (1, 1, 4),
                 points: tuple[int, int, int] = (4, 4, 4), method: str = "tim",
                 margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """LBP-TOP (``kind="top"``) or LBP-SIP (``"sip"``) feature of one clip, 1-D float32, for the SVM baselines.

    MEGC2019 baseline settings (the defaults): 5 x 5 blocks, radii (R_X, R_Y, R_T) = (1, 1, 4), 4 points per
    plane, uniform patterns. Grey face aligned once (``size``, 128 x 128, project choice), the whole
    onset..offset clip; ``frames`` optionally resamples it first (``method``, TIM by default). A clip shorter
    than 2 R_T + 1 frames is a DataError (an exclusion), and so is one of fewer than 3 frames resampled to
    ``frames`` (:func:`enough_frames`).
    """
    enough_frames(row, "LBP")
    face = face_track(row, size=_pair(size), margin=margin, gray=True)
    clip = face["frames"]
    if frames is not None:
        clip = resample(clip, frames, method, path=_path(row))
    if kind == "top":
        f = lbp_mod.lbp_top(clip, blocks=tuple(blocks), radii=tuple(radii), points=tuple(points), path=_path(row))
    elif kind == "sip":
        f = lbp_mod.lbp_sip(clip, blocks=tuple(blocks), radii=tuple(radii), path=_path(row))
    else:
        raise ConfigError(f"kind must be 'top' or 'sip', not {kind!r}")
    return f.astype(np.float32)

"""Local binary patterns on three orthogonal planes (LBP-TOP) and with six intersection points (LBP-SIP).

Sampling follows scikit-image's ``local_binary_pattern`` bit for bit: neighbour p of P sits at row offset
round(-R sin(2 pi p / P), 5) and column offset round(R cos(2 pi p / P), 5), is read by bilinear interpolation
in float64 with skimage's operation order (zero outside the image), and sets bit p when neighbour >= centre.
'uniform' codes are the number of ones for patterns with at most two 0/1 changes, else P + 1 (P + 2 bins);
'default' codes are sum(bit_p 2^p) (2^P bins). Computation is vectorised with numpy, a few images at a time.

Planes of a clip (T, H, W), as a loop of skimage calls would see them: XY is frame ``video[t]`` (rows Y, cols X),
XT is ``video[:, y, :]`` (rows T, cols X), YT is ``video[:, :, x]`` (rows T, cols Y). A plane whose two radii
differ samples an ellipse (row radius, column radius), as in Zhao & Pietikainen's LBP-TOP.

Choices (the MEGC2019 baseline fixes only radii, points and the 5 x 5 grid):
- centres are the voxels whose whole neighbourhood lies inside the clip (a margin of ceil(R) on each axis),
  for all three planes (Zhao & Pietikainen's convention);
- the block grid divides the full frame: pixel (y, x) is in block (y * rows // H, x * cols // W);
- the feature is, block by block (row-major), the XY, XT then YT histograms, each normalised to sum 1
  (``normalize=False`` keeps counts); a block with no centre gives zeros.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from .residual import as_clip

METHODS = ("uniform", "default")


def neighbour_offsets(points: int, r_row: float, r_col: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the ``points`` neighbours, as skimage computes them (rounded to 5 places)."""
    a = 2 * np.pi * np.arange(points, dtype=np.float64) / points
    return np.round(-r_row * np.sin(a), 5), np.round(r_col * np.cos(a), 5)


@functools.lru_cache(maxsize=1024)
def _axis_weights(start: int, stop: int, offset: float):
    """For centres start..stop-1 on one axis: the (constant) floor and ceil shifts of centre + offset and the
    per-centre fractional part, computed as skimage does ((r + o) - floor(r + o), in float64). Cached: the
    returned array is shared and must not be modified."""
    r = np.arange(start, stop, dtype=np.float64)
    pos = r + offset
    lo, hi = np.floor(pos), np.ceil(pos)
    lo_shift, hi_shift = lo - r, hi - r
    if not ((lo_shift == lo_shift[0]).all() and (hi_shift == hi_shift[0]).all()):
        raise RuntimeError(f"neighbour offset {offset} does not shift all centres alike")
    d = pos - lo
    d.setflags(write=False)
    return int(lo_shift[0]), int(hi_shift[0]), (d if d.any() else None)


def _stack_bits(S: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], points: int, r_row: float,
                r_col: float, which: Sequence[int] | None = None, origin: tuple[int, int] = (0, 0),
                S_float: np.ndarray | None = None) -> list[np.ndarray]:
    """Bits (neighbour >= centre) of every image of the stack ``S`` (N, rows, cols), for the centres in rows
    [rows[0], rows[1]) and columns [cols[0], cols[1]) and the neighbours ``which`` (default all).
    ``origin``: index in S of the image's pixel (0, 0) (padding); the interpolation weights depend on the image
    coordinates through rounding, so they are computed there. ``S_float``: S as float64 (read by the
    interpolation instead of converting on the fly)."""
    centre = S[:, rows[0]:rows[1], cols[0]:cols[1]]
    Sf = S if S_float is None else S_float
    rp, cp = neighbour_offsets(points, r_row, r_col)
    # skimage: top = (1 - dc) tl + dc tr, bottom alike one row down; value = (1 - dr) top + dr bottom.
    # The column interpolation depends on the column offset only, so it is shared by the neighbours (and the
    # top/bottom rows) that have the same column offset. Temporaries are reused (out=) to spare allocations.
    horizontal = {}
    buffers = {}

    def buffer(name: str) -> np.ndarray:
        if name not in buffers:
            buffers[name] = (Sf[:, rows[0]:rows[1], cols[0]:cols[1]] if name == "centre" and Sf.dtype == np.float64
                             else centre.astype(np.float64) if name == "centre" else np.empty(centre.shape))
        return buffers[name]

    bits = []
    for p in range(points) if which is None else which:
        r_lo, r_hi, dr = _axis_weights(rows[0] - origin[0], rows[1] - origin[0], float(rp[p]))
        if cp[p] not in horizontal:
            c_lo, c_hi, dc = _axis_weights(cols[0] - origin[1], cols[1] - origin[1], float(cp[p]))
            if dc is None:  # whole-pixel column offset: weights exactly 1 and 0
                horizontal[cp[p]] = S[:, :, cols[0] + c_lo:cols[1] + c_lo]
            else:
                h = np.multiply(1 - dc, Sf[:, :, cols[0] + c_lo:cols[1] + c_lo])
                if "h_tmp" not in buffers:
                    buffers["h_tmp"] = np.empty(h.shape)
                h += np.multiply(dc, Sf[:, :, cols[0] + c_hi:cols[1] + c_hi], out=buffers["h_tmp"])
                horizontal[cp[p]] = h
        h = horizontal[cp[p]]
        top = h[:, rows[0] + r_lo:rows[1] + r_lo]
        if dr is None:  # whole-pixel row offset: value = top
            bits.append(top >= (centre if top.dtype == centre.dtype else buffer("centre")))
            continue
        dr = dr[:, None]
        value = np.multiply(1 - dr, top, out=buffer("value"))
        value += np.multiply(dr, h[:, rows[0] + r_hi:rows[1] + r_hi], out=buffer("tmp"))
        bits.append(value >= buffer("centre"))
    return bits


@functools.cache
def _uniform_table(points: int) -> np.ndarray:
    """Uniform code of every 'default' code: its number of ones if it has at most two 0/1 changes along
    p = 0 .. P-1 (skimage counts P - 1 neighbouring pairs), else P + 1."""
    c = np.arange(2 ** points)[:, None]
    bits = (c >> np.arange(points)) & 1
    changes = (bits[:, 1:] != bits[:, :-1]).sum(1)
    return np.where(changes <= 2, bits.sum(1), points + 1).astype(np.uint8)


def _codes(bits: Sequence[np.ndarray], method: str) -> np.ndarray:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    P = len(bits)
    if method == "uniform" and P > 16:  # count directly: a 2^P table would be too large
        ones = np.zeros(bits[0].shape, dtype=np.uint8)
        changes = np.zeros(bits[0].shape, dtype=np.uint8)
        for p, b in enumerate(bits):
            ones += b
            if p:
                changes += bits[p - 1] ^ b
        return np.where(changes <= 2, ones, P + 1)
    code = np.zeros(bits[0].shape, dtype=np.uint8 if P <= 8 else np.uint16 if P <= 16 else np.int64)
    for p, b in enumerate(bits):
        code |= b.view(np.uint8).astype(code.dtype, copy=False) << p
    return code if method == "default" else _uniform_table(P)[code]


def _stack_codes(S: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], points: int, r_row: float,
                 r_col: float, method: str, which: Sequence[int] | None = None, origin: tuple[int, int] = (0, 0),
                 chunk: int = 1 << 15) -> np.ndarray:
    """Codes (N, centre rows, centre cols) of a stack of images, a few images at a time so that the
    temporaries stay in cache."""
    whole = all(np.array_equal(o, np.round(o)) for o in neighbour_offsets(points, r_row, r_col))
    step = max(1, chunk // (S.shape[1] * S.shape[2]))
    out = None
    for n in range(0, S.shape[0], step):
        part = S[n:n + step]
        part_f = None if whole or part.dtype == np.float64 else part.astype(np.float64)
        codes = _codes(_stack_bits(part, rows, cols, points, r_row, r_col, which, origin, part_f), method)
        if out is None:
            out = np.empty((S.shape[0],) + codes.shape[1:], dtype=codes.dtype)
        out[n:n + step] = codes
    return out


def n_bins(points: int, method: str) -> int:
    """Histogram length of one plane: P + 2 for 'uniform', 2^P for 'default'."""
    return points + 2 if method == "uniform" else 2 ** points


def lbp_image(images, points: int = 8, radius: float | tuple[float, float] = 1.0, method: str = "uniform"):
    """LBP codes of an image (H, W) or a stack (N, H, W), equal to skimage's ``local_binary_pattern`` on each
    image (pixels outside read as 0). ``radius`` may be (row radius, column radius) for an ellipse."""
    x = np.asarray(images)
    single = x.ndim == 2
    x = x[None] if single else x
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"expected an image (H, W) or a stack (N, H, W), got shape {np.shape(images)}")
    r_row, r_col = (radius, radius) if np.isscalar(radius) else radius
    mr, mc = math.ceil(r_row), math.ceil(r_col)
    S = np.pad(x.astype(np.float64), ((0, 0), (mr, mr), (mc, mc)))
    codes = _stack_codes(S, (mr, mr + x.shape[1]), (mc, mc + x.shape[2]), points, r_row, r_col, method,
                         origin=(mr, mc))
    return codes[0] if single else codes


def _prepare(video, radii, path) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    clip = as_clip(video, 1, path, ndim=(3,))
    margins = [math.ceil(r) for r in (radii[2], radii[1], radii[0])]  # T, Y, X
    for axis, (size, m, name) in enumerate(zip(clip.shape, margins, "THW")):
        if size < 2 * m + 1:
            raise DataError(path, f"{name} >= {2 * m + 1} for radius {radii[(2, 1, 0)[axis]]} along {name}",
                            f"{name} = {size}")
    return clip, tuple((m, size - m) for size, m in zip(clip.shape, margins))


def _block_histograms(codes_by_plane: Sequence[np.ndarray], bins: Sequence[int], box, shape,
                      blocks: tuple[int, int], normalize: bool) -> np.ndarray:
    _, H, W = shape
    by, bx = blocks
    ys, xs = np.arange(*box[1]), np.arange(*box[2])
    block = (ys * by // H)[:, None] * bx + (xs * bx // W)[None, :]
    nb = by * bx
    hists = []
    for codes, k in zip(codes_by_plane, bins):
        flat = (block[None] * k + codes).ravel()
        hists.append(np.bincount(flat, minlength=nb * k).reshape(nb, k).astype(np.float64))
    h = np.concatenate(hists, axis=1)
    if normalize:
        counts = np.bincount(block.ravel(), minlength=nb) * (box[0][1] - box[0][0])
        h /= np.maximum(counts, 1)[:, None]
    return h.ravel()


def lbp_top(video, blocks: tuple[int, int] = (5, 5), radii: tuple[float, float, float] = (1, 1, 4),
            points: tuple[int, int, int] = (4, 4, 4), method: str = "uniform", normalize: bool = True,
            path=None) -> np.ndarray:
    """LBP-TOP feature of a grey clip (T, H, W): per block, uniform (or 'default') LBP histograms on the XY,
    XT and YT planes (Zhao & Pietikainen 2007). ``radii`` = (R_X, R_Y, R_T), ``points`` = (P_XY, P_XT, P_YT);
    the MEGC2019 baseline is R = (1, 1, 4), P = 4, 5 x 5 blocks (the defaults); a scalar applies to all three.
    Returns a 1-D float64 vector of length rows * cols * sum(bins per plane). See the module docstring for the
    sampling convention."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    points = (points,) * 3 if np.isscalar(points) else tuple(points)
    radii = (radii,) * 3 if np.isscalar(radii) else tuple(radii)
    rx, ry, rt = radii
    clip, box = _prepare(video, radii, path)
    (t0, t1), (y0, y1), (x0, x1) = box
    xy = _stack_codes(clip[t0:t1], (y0, y1), (x0, x1), points[0], ry, rx, method)
    xt = _stack_codes(np.ascontiguousarray(clip[:, y0:y1].transpose(1, 0, 2)), (t0, t1), (x0, x1),
                      points[1], rt, rx, method)
    yt = _stack_codes(np.ascontiguousarray(clip[:, :, x0:x1].transpose(2, 0, 1)), (t0, t1), (y0, y1),
                      points[2], rt, ry, method)
    codes = [xy, xt.transpose(1, 0, 2), yt.transpose(1, 2, 0)]  # each (T', H', W')
    return _block_histograms(codes, [n_bins(p, method) for p in points], box, clip.shape, blocks, normalize)


def lbp_sip(video, blocks: tuple[int, int] = (5, 5), radii: tuple[float, float, float] = (1, 1, 4),
            normalize: bool = True, path=None) -> np.ndarray:
    """LBP-SIP feature of a grey clip (T, H, W) (Wang et al. 2014): the six intersection points of the three
    planes' 4-neighbourhoods, i.e. the 4 spatial neighbours (x +- R_X, y -+ R_Y) and the 2 temporal ones
    (t -+ R_T). Per block: a 16-bin histogram of the spatial 4-bit code and a 4-bin histogram of the temporal
    2-bit code, concatenated (20 bins; the authors' reduced form). Bit order follows skimage's P = 4 layout
    (spatial: x+R, y-R, x-R, y+R; temporal: t-R, t+R). Same centres, blocks and normalisation as lbp_top."""
    radii = (radii,) * 3 if np.isscalar(radii) else tuple(radii)
    rx, ry, rt = radii
    clip, box = _prepare(video, radii, path)
    (t0, t1), (y0, y1), (x0, x1) = box
    spatial = _stack_codes(clip[t0:t1], (y0, y1), (x0, x1), 4, ry, rx, "default")
    temporal = _stack_codes(np.ascontiguousarray(clip[:, y0:y1].transpose(1, 0, 2)), (t0, t1), (x0, x1),
                            4, rt, rx, "default", which=(1, 3))
    return _block_histograms([spatial, temporal.transpose(1, 0, 2)], [16, 4], box, clip.shape, blocks, normalize)

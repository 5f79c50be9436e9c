"""melib's vectorised LBP-TOP vs a loop of scikit-image ``local_binary_pattern`` calls over the three planes.

Run: python benches/bench_lbp.py [--repeats N] [--shape T H W] [--quick: a 12 x 32 x 32 clip, one run]. Prints
both times, their ratio and whether the histograms are identical (targets: >= 5x faster, identical), for the
MEGC2019 baseline setting (R = (1, 1, 4), P = 4, 5 x 5 blocks) and an interpolated setting (R = 1, P = 8).
"""
from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np
from skimage.feature import local_binary_pattern

import _common


def _uniform_table(P: int) -> np.ndarray:
    table = np.empty(2 ** P, dtype=np.int64)
    for c in range(2 ** P):
        bits = [(c >> i) & 1 for i in range(P)]
        changes = sum(bits[i] != bits[i + 1] for i in range(P - 1))
        table[c] = sum(bits) if changes <= 2 else P + 1
    return table


def plane_codes_skimage(image: np.ndarray, P: int, r_row: float, r_col: float, method: str) -> np.ndarray:
    """skimage LBP codes of one plane image. An elliptical P = 4 neighbourhood (r_row != r_col) is assembled
    from two skimage calls: bits 0 and 2 lie on the column axis, bits 1 and 3 on the row axis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if r_row == r_col:
            return local_binary_pattern(image, P, r_row, method).astype(np.int64)
        if P != 4:
            raise NotImplementedError("elliptical neighbourhoods with skimage only for P = 4")
        c_col = local_binary_pattern(image, 4, r_col, "default").astype(np.int64)
        c_row = local_binary_pattern(image, 4, r_row, "default").astype(np.int64)
    code = (c_col & 0b0101) | (c_row & 0b1010)
    return _uniform_table(4)[code] if method == "uniform" else code


def _histograms(codes: np.ndarray, box, shape, blocks, bins: int) -> np.ndarray:
    """codes: (T, H, W) code volume over the whole clip; histograms of the centres in box, per block."""
    _, H, W = shape
    c = codes[box[0][0]:box[0][1], box[1][0]:box[1][1], box[2][0]:box[2][1]]
    ys, xs = np.arange(*box[1]), np.arange(*box[2])
    out = []
    for by in range(blocks[0]):
        for bx in range(blocks[1]):
            sel_y = (ys * blocks[0] // H) == by
            sel_x = (xs * blocks[1] // W) == bx
            out.append(np.bincount(c[:, sel_y][:, :, sel_x].ravel(), minlength=bins))
    return np.array(out)


def lbp_top_skimage(video: np.ndarray, blocks=(5, 5), radii=(1, 1, 4), points=(4, 4, 4),
                    method: str = "uniform") -> np.ndarray:
    """LBP-TOP counts (blocks x [XY | XT | YT] bins) from skimage calls: XY for each frame, XT for each row,
    YT for each column; centres at least ceil(R) from every border."""
    rx, ry, rt = radii
    T, H, W = video.shape
    box = tuple((m, n - m) for n, m in zip(video.shape, (math.ceil(rt), math.ceil(ry), math.ceil(rx))))
    xy = np.stack([plane_codes_skimage(video[t], points[0], ry, rx, method) for t in range(T)])
    xt = np.stack([plane_codes_skimage(video[:, y, :], points[1], rt, rx, method) for y in range(H)], axis=1)
    yt = np.stack([plane_codes_skimage(video[:, :, x], points[2], rt, ry, method) for x in range(W)], axis=2)
    bins = [p + 2 if method == "uniform" else 2 ** p for p in points]
    return np.concatenate([_histograms(c, box, video.shape, blocks, k) for c, k in zip((xy, xt, yt), bins)],
                          axis=1).ravel()


def lbp_sip_skimage(video: np.ndarray, blocks=(5, 5), radii=(1, 1, 4)) -> np.ndarray:
    """LBP-SIP counts (blocks x [16 spatial | 4 temporal]) from skimage 'default' P = 4 calls."""
    rx, ry, rt = radii
    T, H, W = video.shape
    box = tuple((m, n - m) for n, m in zip(video.shape, (math.ceil(rt), math.ceil(ry), math.ceil(rx))))
    spatial = np.stack([plane_codes_skimage(video[t], 4, ry, rx, "default") for t in range(T)])
    xt = np.stack([plane_codes_skimage(video[:, y, :], 4, rt, rx, "default") for y in range(H)], axis=1)
    temporal = ((xt >> 1) & 1) | (((xt >> 3) & 1) << 1)
    return np.concatenate([_histograms(spatial, box, video.shape, blocks, 16),
                           _histograms(temporal, box, video.shape, blocks, 4)], axis=1).ravel()


def _best(f, repeats: int) -> tuple[float, np.ndarray]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    from melib.preprocess.lbp import lbp_top

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each (best is kept)")
    p.add_argument("--shape", type=int, nargs=3, default=(30, 112, 112), help="clip frames, height, width")
    args = _common.parse(p, argv, repeats=1, shape=(12, 32, 32))
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, tuple(args.shape), dtype=np.uint8)
    print(f"clip {video.shape} uint8, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ok = True
    for name, kw in [("MEGC2019: R=(1,1,4), P=4, 5x5 blocks", dict(radii=(1, 1, 4), points=(4, 4, 4))),
                     ("interpolated: R=(1,1,1), P=8, 5x5 blocks", dict(radii=(1, 1, 1), points=(8, 8, 8)))]:
        t_ref, h_ref = _best(lambda: lbp_top_skimage(video, **kw), args.repeats)
        t_fast, h = _best(lambda: lbp_top(video, normalize=False, **kw), args.repeats)
        same = np.array_equal(h, h_ref)
        ok &= same
        print(f"{name}\n  skimage loop {t_ref * 1e3:8.1f} ms   melib {t_fast * 1e3:8.1f} ms   "
              f"identical histograms: {same}")
        _common.ratio(f"skimage loop / melib, {name.split(':')[0]}", t_ref / t_fast, ">= 5x", args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

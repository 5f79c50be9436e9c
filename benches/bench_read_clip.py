"""Reading clips: ``datasets.read_clip`` (file bytes, a JPEG end-of-image check, ``cv2.imdecode``) vs a plain
``cv2.imread`` loop over the same frames, side by side in one run on the default synthetic set.

The check is what refuses a truncated JPEG (libjpeg would fill its missing part with grey and only warn on
stderr). Run: python benches/bench_read_clip.py [--root DIR] [--limit N] [--repeats R] [--quick]. Prints both times
and their ratio (target <= 1.15x).
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import _common


def _plain(frames) -> np.ndarray:
    return np.stack([cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for f in frames])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="synthetic set root (default melib.config.synth_root())")
    ap.add_argument("--limit", type=int, default=60, help="use the first N clips")
    ap.add_argument("--repeats", type=int, default=3, help="alternating passes of each reader (best kept)")
    args = _common.parse(ap, argv, limit=3, repeats=1)

    from melib import datasets

    samples = datasets.load("synth", _common.synth_root(args.root, args.quick)).head(args.limit)
    rows = [r for _, r in samples.iterrows()]
    n_frames = sum(len(r["frames"]) for r in rows)
    best = {"cv2.imread": float("inf"), "read_clip": float("inf")}
    readers = {"cv2.imread": lambda r: _plain(r["frames"]), "read_clip": datasets.read_clip}
    same = all(np.array_equal(datasets.read_clip(r), _plain(r["frames"])) for r in rows)
    for _ in range(args.repeats):  # clip by clip, the two readers in turn, so that a busy machine slows both
        spent = dict.fromkeys(best, 0.0)
        for r in rows:
            for name, read in readers.items():
                t0 = time.perf_counter()
                read(r)
                spent[name] += time.perf_counter() - t0
        best = {k: min(best[k], spent[k]) for k in best}
    ratio = best["read_clip"] / best["cv2.imread"]
    print(f"clips: {len(rows)}, frames: {n_frames}")
    for name, t in best.items():
        print(f"{name:11s} {t:7.3f} s  ({1e6 * t / n_frames:.0f} us/frame)")
    print(f"identical pixels: {same}")
    _common.ratio("read_clip / cv2.imread", ratio, "<= 1.15x", args.quick)
    return 0 if same and (args.quick or ratio <= 1.15) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""What a content-following clip identity costs: the cache key of every clip of the default synthetic set.

Side by side, in one run: the old key (each frame file's path, size and mtime: a ``stat``), the content key
cold (a sha256 of each frame file's bytes, as a fresh process computes it once), the content key memoised
(later calls in the same process: a ``stat`` and a look-up) and, for scale, decoding the frames
(``datasets.read_clip``, what a cache miss pays before any preprocessing).

Run: python benches/bench_frame_identity.py [--root DIR] [--repeat N] [--quick]. Prints the times per pass and
ratios.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import _common


def _old_key(row) -> tuple:
    out = []
    for f in row["frames"]:
        st = os.stat(f)
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _timed(fn, rows, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _, row in rows.iterrows():
            fn(row)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="synthetic set root (default melib.config.synth_root())")
    ap.add_argument("--repeat", type=int, default=3, help="passes per variant (the best is kept)")
    args = _common.parse(ap, argv, repeat=1)

    from melib import datasets
    from melib.preprocess import cache

    root = _common.synth_root(args.root, args.quick)
    rows = datasets.load("synth", root)
    n_frames = int(rows["frames"].map(len).sum())
    n_bytes = sum(os.path.getsize(f) for fs in rows["frames"] for f in fs)

    def cold(row):
        cache._DIGESTS.clear()
        return cache.fingerprint(row)

    for _, row in rows.iterrows():  # warm the page cache and fill the memo (files older than 2 s)
        cache.fingerprint(row)
    t_old = _timed(_old_key, rows, args.repeat)
    t_cold = _timed(cold, rows, args.repeat)
    t_memo = _timed(cache.fingerprint, rows, args.repeat)
    t_read = _timed(datasets.read_clip, rows, args.repeat)
    print(f"{len(rows)} clips, {n_frames} frame files, {n_bytes / 2**20:.1f} MiB")
    for label, t in [("old key (stat: size, mtime)", t_old), ("content key, cold (sha256 of bytes)", t_cold),
                     ("content key, memoised (stat + look-up)", t_memo), ("decode frames (read_clip)", t_read)]:
        print(f"{label:40s} {t:7.3f} s  ({1000 * t / len(rows):6.2f} ms/clip)")
    _common.ratio("content key cold / old key", t_cold / t_old)
    _common.ratio("content key memoised / old key", t_memo / t_old)
    _common.ratio("content key cold / decoding", t_cold / t_read)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""First (cold) vs second (cached) preprocessing pass over the default synthetic set.

The step is face detection on the onset frame + one alignment/crop of the whole clip (112x112) + linear
resampling to 16 frames (DLHN), run over every clip by ``map_clips`` through ``@cached``. The cache lives in
a fresh temporary folder, so the first pass computes everything and the second only loads.

Run: python benches/bench_cache.py [--root DIR] [--limit N] [--quick]. Prints both times and their ratio (target
>= 20x).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import _common


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="synthetic set root (default melib.config.synth_root())")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    args = _common.parse(ap, argv, limit=3)

    from melib import datasets
    from melib.preprocess.cache import cache_info, cached
    from melib.preprocess.clips import map_clips
    from melib.preprocess.face import face_track
    from melib.preprocess.temporal import linear_resample

    root = _common.synth_root(args.root, args.quick)
    samples = datasets.load("synth", root)
    if args.limit:
        samples = samples.head(args.limit)

    @cached(version=1, name="bench_cache.preprocess")
    def preprocess(row, size=(112, 112), n_frames=16):
        face = face_track(row, size=size)
        return {"frames": linear_resample(face["frames"], n_frames), "landmarks": face["landmarks"],
                "transform": face["transform"]}

    with tempfile.TemporaryDirectory(prefix="melib-bench-cache-") as tmp:
        os.environ["MELIB_CACHE"] = tmp
        t0 = time.perf_counter()
        # one process both times: the ratio is the cache's, not the process pool's (benches/bench_parallel.py)
        first, excl1 = map_clips(preprocess, samples, desc="first pass (compute)", n_jobs=1)
        t1 = time.perf_counter()
        second, excl2 = map_clips(preprocess, samples, desc="second pass (cache)", n_jobs=1)
        t2 = time.perf_counter()
        info = cache_info()["bench_cache.preprocess"]

    cold, warm = t1 - t0, t2 - t1
    same = all((first[k]["frames"] == second[k]["frames"]).all() for k in first)
    print(f"clips: {len(samples)} ({len(first)} preprocessed, {len(excl1)} excluded: "
          f"{[e['reason'] for e in excl1][:3]})")
    print(f"cache: {info['entries']} entries, {info['bytes'] / 2**20:.1f} MiB")
    print(f"first pass (detect + align + resample): {cold:8.2f} s  ({1000 * cold / max(len(samples), 1):.1f} ms/clip)")
    print(f"second pass (cache hits):               {warm:8.2f} s  ({1000 * warm / max(len(samples), 1):.1f} ms/clip)")
    print(f"identical results: {same}; exclusions equal: {len(excl1) == len(excl2)}")
    _common.ratio("first / second pass", cold / warm, ">= 20x", args.quick)
    return 0 if same and (args.quick or cold / warm >= 20) else 1


if __name__ == "__main__":
    sys.exit(main())

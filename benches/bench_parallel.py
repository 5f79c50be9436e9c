"""``build_inputs`` over a process pool (``n_jobs=None``: one worker per core) vs one process, on release-scale
clips, side by side.

For each pipeline (at ``model_pipeline(model, "paper")``) and each run a fresh cache, so both runs compute every
clip (face detection included): first in this process (``n_jobs=1``, torch's own threads), then over the pool.
The pool is started before the timing (its start is printed apart: a process pays it once; the workers stay up
for later calls). Clips: ``benches/release_clips.py`` (CASME II layout, 640 x 480, 60-80 frames).

Run: python benches/bench_parallel.py [--subjects N] [--clips-per-subject N] [--only psn,dlhn] [--repeats N] [--quick]
Prints s per clip each way (best of ``--repeats`` alternating runs), their ratio (target >= 1.7x on 2 cores) and
whether the arrays are identical (the exit status).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

import _common

CASES = [("psn", "psn"), ("dlhn", "dlhn"), ("c3d", "c3d_model_a"), ("cropnet", "cropnet"),
         ("localregions", "localregions")]


def _load_pipelines(_):
    import melib.preprocess.pipelines  # noqa: F401  (the workers' imports, done before the timing)
    return os.getpid()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=2)
    ap.add_argument("--clips-per-subject", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1, help="alternating serial/pool runs; the best of each")
    ap.add_argument("--only", default="psn,dlhn", help="comma-separated pipelines (psn, dlhn, c3d, cropnet, "
                                                       "localregions); default psn,dlhn")
    args = _common.parse(ap, argv, subjects=1, clips_per_subject=2, only="localregions")

    from release_clips import release_samples

    from melib import parallel
    from melib.experiments.common import model_pipeline
    from melib.preprocess.pipelines import build_inputs

    samples = release_samples(args.subjects, args.clips_per_subject, quick=args.quick)
    n = parallel.cpu_count()
    t0 = time.perf_counter()
    pids = {pid for _, pid in parallel.stream(_load_pipelines, range(4 * n))}
    print(f"{len(samples)} release-scale clips ({samples['n_frames'].min()}-{samples['n_frames'].max()} frames of "
          f"{samples.attrs['frame_size']}); pool of {len(pids)} workers on {n} cores started in "
          f"{time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'pipeline':14s} {'serial s/clip':>14s} {'pool s/clip':>12s} {'ratio':>7s}  identical")
    ok = True
    for label, model in CASES:
        if label not in args.only.split(","):
            continue
        paper, params = model_pipeline(model, "paper")
        times, outs = {1: np.inf, None: np.inf}, {}
        for jobs in (1, None) * args.repeats:
            with tempfile.TemporaryDirectory(prefix="melib-bench-parallel-") as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                os.environ["MELIB_CACHE"] = tmp
                t0 = time.perf_counter()
                outs[jobs] = build_inputs(samples, paper, progress=False, n_jobs=jobs, **params)
                times[jobs] = min(times[jobs], time.perf_counter() - t0)
        (x1, kept1, ex1), (x2, kept2, ex2) = outs[1], outs[None]
        same = (list(kept1) == list(kept2) and ex1 == ex2 and x1.keys() == x2.keys()
                and all(np.array_equal(x1[k], x2[k]) for k in x1))
        ok &= same
        k = len(samples)
        print(f"{label:14s} {times[1] / k:14.3f} {times[None] / k:12.3f} {times[1] / times[None]:6.2f}x  {same}"
              + (f"  ({len(ex1)} excluded)" if ex1 else ""))
        _common.ratio(f"serial / pool, {label}", times[1] / times[None], ">= 1.7x on 2 cores", args.quick)
    print(f"load average now {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Generating release-scale synthetic clips: seconds a clip per layout, one thread against all cores.

Each layout of ``melib.synth``'s ``release`` preset (CASME II 640x480 at 200 fps, 30-140 frames; SAMM 960x650
at 200 fps, 30-100 frames; SMIC-HS 640x480 at 100 fps, 20-50 frames) is generated twice side by side into
temporary folders, with ``n_jobs=1`` and with ``n_jobs`` = all cores; both sets must be byte-identical.
Prints seconds a clip and frames a second for each, the parallel/serial ratio, and the time the
``release-full`` set (578 clips) would take at the parallel rate.

Run: python benches/bench_synth.py [--clips N] [--n-jobs J] [--frames MIN MAX] [--quick]
"""
from __future__ import annotations

import argparse
import filecmp
import os
import tempfile
import time
from pathlib import Path

import _common


def _same(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4, help="clips per layout (default 4)")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count(), help="threads of the parallel run (all cores)")
    ap.add_argument("--frames", type=int, nargs=2, default=None, metavar=("MIN", "MAX"),
                    help="clip lengths (default: each release's)")
    args = _common.parse(ap, argv, clips=1, frames=(8, 10))

    from melib import synth
    from melib.synth.spec import RELEASES

    rows, total = [], {1: 0.0, args.n_jobs: 0.0}
    with tempfile.TemporaryDirectory(prefix="melib-bench-synth-") as tmp:
        for layout in synth.DEFAULT_LAYOUTS:
            params = {**synth.PRESETS["release"][layout], "subjects": 1, "clips_per_subject": args.clips}
            if args.frames:
                params["frames"] = tuple(args.frames)
            seconds, out = {}, {}
            for jobs in (1, args.n_jobs):
                t0 = time.perf_counter()
                out[jobs] = synth.generate(Path(tmp) / f"j{jobs}", layout, n_jobs=jobs, progress=False, **params)
                seconds[jobs] = time.perf_counter() - t0
            frames = int(synth.read_ground_truth(out[1])["n_frames"].sum())
            same = _same(out[1], out[args.n_jobs])
            rows.append((layout, frames, seconds[1], seconds[args.n_jobs], same))
            for jobs in total:
                total[jobs] += seconds[jobs] / args.clips * RELEASES[layout]["clips"]
    print(f"release preset, {args.clips} clips a layout; parallel = {args.n_jobs} threads")
    print(f"{'layout':8} {'frames':>6} {'s/clip serial':>14} {'s/clip parallel':>16} {'frames/s par.':>14} "
          f"{'ratio':>6} identical")
    for layout, frames, s1, sn, same in rows:
        print(f"{layout:8} {frames:6d} {s1 / args.clips:14.2f} {sn / args.clips:16.2f} {frames / sn:14.1f} "
              f"{s1 / sn:6.2f} {same}")
    print(f"release-full (578 clips) estimate: {total[1] / 60:.1f} min serial, {total[args.n_jobs] / 60:.1f} min "
          f"with {args.n_jobs} threads")
    _common.ratio(f"serial / {args.n_jobs} threads, all layouts", sum(r[2] for r in rows) / sum(r[3] for r in rows))
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

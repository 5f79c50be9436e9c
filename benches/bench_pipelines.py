"""Cost of each paper's input pipeline, cold (computed) vs warm (cache hits), side by side in one run.

For each pipeline (at the sizes of a model profile, ``--profile default`` as the CPU study uses them), a fresh
temporary cache, ``build_inputs`` over the first ``--limit`` clips of the default synthetic set twice: the first
pass detects faces, aligns, resamples, runs RPCA / residuals / CGPO / LBP; the second only loads.

Run: python benches/bench_pipelines.py [--root DIR] [--limit N] [--profile default|paper] [--only dlhn,psn] [--quick]
Prints per pipeline: ms per clip cold and warm, their ratio, the stacked inputs' MiB per clip, and whether both
passes gave identical arrays (the exit status). Cheap pipelines with large outputs gain least from the cache:
loading their pickles costs a good part of recomputing them once the face track is cached.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

import _common

# (label, model whose input_spec sets the sizes, extra pipeline parameters)
CASES = [
    ("dlhn", "dlhn", {}),
    ("psn (RPCA on 150 frames)", "psn", {}),
    ("psn (RPCA on the 16 sampled)", "psn", {"rpca_on": "sampled"}),
    ("c3d model A", "c3d_model_a", {}),
    ("cropnet ARS + CGPO", "cropnet", {}),
    ("cropnet TV-L1 + CGPO", "cropnet", {"kind": "tvl1"}),
    ("localregions", "localregions", {}),
    ("lbp-top", None, {"paper": "lbp"}),
    ("lbp-sip", None, {"paper": "lbp", "kind": "sip"}),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="synthetic set root (default melib.config.synth_root())")
    ap.add_argument("--limit", type=int, default=10, help="use only the first N clips (default 10)")
    ap.add_argument("--profile", default="default", choices=("default", "paper"))
    ap.add_argument("--only", default=None, help="comma-separated labels' first words, e.g. dlhn,psn")
    args = _common.parse(ap, argv, limit=1)

    from melib import datasets
    from melib.experiments.common import model_pipeline
    from melib.preprocess.pipelines import build_inputs

    root = _common.synth_root(args.root, args.quick)
    samples = datasets.load("synth", root)
    samples = samples.groupby("dataset", group_keys=False).head(max(1, args.limit // 3)).head(args.limit)
    only = None if args.only is None else set(args.only.split(","))
    ok, ratios = True, []
    print(f"clips: {len(samples)}  profile: {args.profile}")
    print(f"{'pipeline':32s} {'cold ms/clip':>12s} {'warm ms/clip':>12s} {'ratio':>8s} {'MiB/clip':>9s}  same")
    for label, model, extra in CASES:
        if only is not None and label.split()[0] not in only:
            continue
        params = dict(extra)
        if model is not None:
            name, spec_params = model_pipeline(model, args.profile)
            params = {"paper": name, **spec_params, **params}
        paper = params.pop("paper")
        with tempfile.TemporaryDirectory(prefix="melib-bench-pipelines-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.environ["MELIB_CACHE"] = tmp
            t0 = time.perf_counter()
            first, kept1, ex1 = build_inputs(samples, paper, progress=False, **params)
            t1 = time.perf_counter()
            second, kept2, ex2 = build_inputs(samples, paper, progress=False, **params)
            t2 = time.perf_counter()
        n = max(len(samples), 1)
        same = list(kept1) == list(kept2) and all(np.array_equal(first[k], second[k]) for k in first)
        mib = sum(v.nbytes for v in first.values()) / 2 ** 20 / max(len(kept1), 1)
        ratio = (t1 - t0) / max(t2 - t1, 1e-9)
        ok &= same
        print(f"{label:32s} {1000 * (t1 - t0) / n:12.1f} {1000 * (t2 - t1) / n:12.1f} {ratio:7.1f}x {mib:9.3f}  "
              f"{same}" + (f"  ({len(ex1)} excluded)" if ex1 else ""))
        ratios.append(ratio)
    _common.ratio("cold / warm, lowest over the pipelines", min(ratios))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

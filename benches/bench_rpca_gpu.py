"""RPCA batched across clips on a GPU (``rpca_clips(..., device="cuda")``) beside one clip at a time on the same
GPU: clips/s of 12,544 x 150 float32 matrices, the size of PSN's paper pipeline (target >= 200 clips/s on an
H200), and how far the GPU's E is from the CPU's.

Run: python benches/bench_rpca_gpu.py [--clips N] [--batch B] [--single N] [--quick]. Without CUDA it prints
"not measured (no CUDA)" and exits 0.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _common


def main(argv=None) -> int:
    import torch

    from bench_rpca import clip_matrix

    from melib.preprocess.rpca import rpca_clips, rpca_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=128, help="clips in the batched run (default 128)")
    ap.add_argument("--batch", type=int, default=32, help="clips per GPU batch (default 32)")
    ap.add_argument("--single", type=int, default=4, help="clips timed one at a time (default 4)")
    args = _common.parse(ap, argv, clips=8, batch=4, single=1)
    if not torch.cuda.is_available():
        _common.no_cuda("rpca batched on the GPU (12,544 x 150 clips/s)")
        return 0

    # distinct clips: the bench's synthetic face matrix under 8 noise seeds, scaled to [0, 1] like PSN's frames
    base = [(clip_matrix(seed=s) / 255).T.reshape(150, 112, 112).astype(np.float32) for s in range(8)]
    clips = [base[i % 8] + np.float32(1e-3) * np.float32(i // 8) for i in range(args.clips)]
    print(f"device: {torch.cuda.get_device_name()}, {args.clips} clips of 150 x 112 x 112 (D 12,544 x 150), "
          f"float32 in (mixed precision), batch {args.batch}")
    rpca_clips(clips[: args.batch], device="cuda", batch_size=args.batch)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    Es, info = rpca_clips(clips, device="cuda", batch_size=args.batch)
    torch.cuda.synchronize()
    batched = args.clips / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for clip in clips[: args.single]:
        rpca_frames(torch.from_numpy(clip).cuda())
    torch.cuda.synchronize()
    single = args.single / (time.perf_counter() - t0)
    _, E_cpu, _ = rpca_frames(clips[0])
    diff = np.abs(Es[0].astype(np.float64) - E_cpu)
    print(f"one clip at a time: {single:8.1f} clips/s")
    print(f"batched by {args.batch}:      {batched:8.1f} clips/s  ({batched / single:.1f}x; target >= 200 clips/s "
          f"on an H200); iterations {info['iterations'].min()}-{info['iterations'].max()}, "
          f"all converged: {bool(info['converged'].all())}")
    _common.ratio(f"batched by {args.batch} / one clip at a time", batched / single)
    print(f"E on the GPU vs the CPU (clip 0): max abs diff {diff.max():.1e}, relative "
          f"{np.linalg.norm(diff) / np.linalg.norm(E_cpu):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

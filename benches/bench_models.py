"""Training throughput of every registered model: clips per second for forward + backward + SGD step,
at its paper input size (profile 'paper') and at its CPU profile ('default'), side by side in one run.

    .venv/bin/python benches/bench_models.py                 # CPU (and CUDA when present), all models
    .venv/bin/python benches/bench_models.py --models psn c3d_model_a --steps 5 --device cpu
    .venv/bin/python benches/bench_models.py --quick         # localregions_cnn, 1 step, batch 1 / 2

Each (model, profile, device) runs ``--warmup`` steps, then times ``--steps`` steps of a fixed batch
(``--batch-paper`` / ``--batch-default`` clips). The last column is the default profile's speed-up over
the paper profile on the same device.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402

from melib.models import build, example_input, n_params, names  # noqa: E402


def step_fn(model, x, y):
    """The bench's pure training step of ``model`` on the fixed batch ``(x, y)``: forward, cross-entropy,
    backward, plain SGD step, nothing else."""
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def timed(fn, device: str) -> float:
    """Seconds ``fn()`` takes (the device synchronised before and after)."""
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def throughput(name: str, profile: str, device: str, batch: int, steps: int, warmup: int) -> tuple[float, int]:
    """Clips per second of training steps (forward, backward, SGD step) and the parameter count."""
    torch.manual_seed(0)
    model = build(name, profile=profile).to(device).train()
    x = example_input(model, batch=batch)
    with torch.no_grad():
        k = model(x).shape[1]
    step = step_fn(model, x, torch.arange(batch, device=device) % k)
    for _ in range(warmup):
        step()

    def run():
        for _ in range(steps):
            step()
    return batch * steps / timed(run, device), n_params(model)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=None, help="registered names (default: all)")
    ap.add_argument("--device", nargs="*", default=None, help="cpu and/or cuda (default: cpu, cuda if present)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-paper", type=int, default=2)
    ap.add_argument("--batch-default", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = _common.parse(ap, argv, models=["localregions_cnn"], steps=1, warmup=0, batch_paper=1, batch_default=2)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    if "cuda" in devices and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device")
    models = args.models or names()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{args.steps} timed steps after {args.warmup} warm-up")
    header = (f"{'model':<18}{'device':<7}{'params (paper)':>16}{'paper clips/s':>15}"
              f"{'params (default)':>18}{'default clips/s':>17}{'speed-up':>10}")
    print(header)
    print("-" * len(header))
    speedups = []
    for dev in devices:
        for name in models:
            row = {}
            for profile, batch in (("paper", args.batch_paper), ("default", args.batch_default)):
                try:
                    row[profile] = throughput(name, profile, dev, batch, args.steps, args.warmup)
                except RuntimeError as e:  # e.g. out of memory on a small GPU
                    row[profile] = (float("nan"), -1)
                    print(f"  {name} {profile} on {dev}: {str(e).splitlines()[0]}", file=sys.stderr)
            (pc, pn), (dc, dn) = row["paper"], row["default"]
            print(f"{name:<18}{dev:<7}{pn:>16,}{pc:>15.2f}{dn:>18,}{dc:>17.1f}{dc / pc:>9.0f}x", flush=True)
            speedups.append(dc / pc)
    _common.ratio("default / paper profile clips/s, geometric mean over models and devices",
                  float(np.exp(np.nanmean(np.log(speedups)))))
    if not torch.cuda.is_available():
        _common.no_cuda("cuda")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What subnormal floats cost a CPU training step, and what ``melib.train.torch_state``'s flush to zero saves.

    .venv/bin/python benches/bench_denormal.py                       # DLHN's two networks, 1 and 2 threads
    .venv/bin/python benches/bench_denormal.py --models dlhn_rprnn psn --steps 20
    .venv/bin/python benches/bench_denormal.py --quick                # localregions_cnn, batch 1, 1 thread, 1 step

A model whose weights have decayed towards zero (DLHN's lr x 0.96 per epoch with its L2 penalty of weight 1;
an output stuck at the class prior) ends up with subnormal weights and gradients. For each model this times
``bench_models``' pure training step with every weight scaled into the subnormal range (|w| ~ 1e-39), with
denormals kept (the CPU's gradual underflow) and flushed to zero inside ``torch_state``, alternating
``--repeats`` times, and prints the median ratio of step times. A second row times normal weights, where the
flush must cost nothing (ratio ~1). The flush is the calling thread's: at 2 threads torch's worker threads keep
gradual underflow unless the process flushed before its first parallel operation (they inherit the mode).
Measured 2026-12-01 (2-core Intel Xeon, ``--steps 5 --repeats 2``): dlhn_rprnn with subnormal weights 4068 ms
kept / 159 ms flushed a step at 1 thread (25.6x), 1.0x at 2 threads; normal weights 1.0x; dlhn_hcrnn 1.6x.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402
from bench_models import step_fn, timed  # noqa: E402

from melib import train  # noqa: E402
from melib.models import build, example_input  # noqa: E402


def step_seconds(name: str, subnormal: bool, flush: bool, threads: int, steps: int, batch: int = 8) -> float:
    """Seconds per training step of ``name`` (default profile, ``batch`` clips)."""
    torch.manual_seed(0)
    model = build(name).train()
    if subnormal:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1e-39 / p.abs().max().clamp_min(1e-30))
    x = example_input(model, batch=batch, seed=1)
    with torch.no_grad():
        k = model(x).shape[1]
    step = step_fn(model, x, torch.arange(batch) % k)
    with train.torch_state(False, threads):
        if not flush:
            torch.set_flush_denormal(False)
        step()
        return timed(lambda: [step() for _ in range(steps)], "cpu") / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=["dlhn_rprnn", "dlhn_hcrnn"])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    a = _common.parse(ap, argv, models=["localregions_cnn"], threads=[1], steps=1, repeats=1,
                      batch=1)
    print(f"{'model':<14}{'weights':<11}{'threads':>8}{'kept ms':>10}{'flushed ms':>12}{'kept/flushed':>14}")
    ratios = {}
    for name in a.models:
        for subnormal in (True, False):
            for threads in a.threads:
                kept, flushed = [], []
                for _ in range(a.repeats):
                    kept.append(step_seconds(name, subnormal, False, threads, a.steps, a.batch))
                    flushed.append(step_seconds(name, subnormal, True, threads, a.steps, a.batch))
                k, f = statistics.median(kept), statistics.median(flushed)
                ratios[name, subnormal, threads] = k / f
                print(f"{name:<14}{'subnormal' if subnormal else 'normal':<11}{threads:>8}{k * 1e3:>10.1f}"
                      f"{f * 1e3:>12.1f}{k / f:>14.1f}", flush=True)
    for (name, subnormal, threads), r in ratios.items():
        if subnormal:
            _common.ratio(f"kept / flushed, {name} subnormal weights, {threads} thread(s)", r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

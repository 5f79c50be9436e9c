"""The trainer's throughput over the pure training step, for every registered model, side by side in one run.

    .venv/bin/python benches/bench_trainer.py                     # CPU, default profile; CUDA when present
    .venv/bin/python benches/bench_trainer.py --models psn --profile paper --batch 8

For each model: ``--batch`` x ``--steps`` random clips of its input spec. The pure step rate is
``bench_models``' loop (forward, cross-entropy, backward, SGD step on one fixed batch); the trainer rate is
``melib.train.fit`` over those clips with the same optimiser, learning rate, batch size and step count (one
stage, so both run the same forward), setup, shuffling, batch gathering and per-epoch curves included. The two
alternate ``--repeats`` times (a busy machine slows both alike) and the median ratio is printed: the target is
>= 0.7 on a CPU and >= 0.5 on a GPU. Without CUDA the GPU rows say "not measured (no CUDA)". On the CPU both
run with ``--threads`` torch threads (default 1, as the chapters train).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402
from bench_models import step_fn, timed  # noqa: E402

from melib import train  # noqa: E402
from melib.models import build, example_input, names  # noqa: E402

TARGET = {"cpu": 0.7, "cuda": 0.5}


def ratio(name: str, profile: str, device: str, batch: int, steps: int, epochs: int) -> tuple[float, float]:
    """(trainer clips/s, pure step clips/s) of one alternation, each after a warm-up."""
    torch.manual_seed(0)
    model = build(name, profile=profile).to(device).train()
    n = batch * steps
    x = example_input(model, batch=n, seed=1)
    with torch.no_grad():
        k = model(x if not isinstance(x, dict) else {key: v[:batch] for key, v in x.items()}).shape[1]
    y = np.arange(n) % k
    host = {key: v.cpu() for key, v in x.items()} if isinstance(x, dict) else x.cpu()
    fixed = {key: v[:batch] for key, v in x.items()} if isinstance(x, dict) else x[:batch]
    step = step_fn(model, fixed, torch.as_tensor(y[:batch], device=device))
    step()

    def pure():
        for _ in range(steps * epochs):
            step()
    cfg = train.TrainConfig(epochs=epochs, batch_size=batch, optimizer="sgd", lr=1e-4, momentum=0.0, device=device,
                            progress=False, threads=torch.get_num_threads())
    one = [train.Stage("main")]
    train.fit(model, host, y, cfg.replace(epochs=1), stages=one)  # warm-up
    t_fit = timed(lambda: train.fit(model, host, y, cfg, stages=one), device)
    t_pure = timed(pure, device)
    clips = n * epochs
    return clips / t_fit, clips / t_pure


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=None, help="registered names (default: all)")
    ap.add_argument("--profile", default="default", choices=("default", "paper"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="steps an epoch")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1, as the chapters train on a CPU: two threads of a small model "
                         "on a busy 2-core machine wait on each other, up to 100x slower; 0: torch's default)")
    args = _common.parse(ap, argv, models=["localregions_cnn"], batch=2, steps=1, epochs=1, repeats=1)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, profile {args.profile}, batch "
          f"{args.batch}, {args.steps} steps x {args.epochs} epochs, median of {args.repeats} alternations")
    print(f"{'model':<20}{'device':<8}{'trainer clips/s':>16}{'pure step clips/s':>19}{'ratio':>8}  target")
    worst = {}
    for device in ("cpu", "cuda"):
        if device == "cuda" and not torch.cuda.is_available():
            _common.no_cuda("trainer / pure step clips/s on cuda, every model")
            continue
        for name in args.models or names():
            runs = [ratio(name, args.profile, device, args.batch, args.steps, args.epochs)
                    for _ in range(args.repeats)]
            r = statistics.median(a / b for a, b in runs)
            fit_rate, pure_rate = statistics.median(a for a, _ in runs), statistics.median(b for _, b in runs)
            worst[device] = min(worst.get(device, r), r)
            print(f"{name:<20}{device:<8}{fit_rate:>16.1f}{pure_rate:>19.1f}{r:>8.2f}  >= {TARGET[device]}",
                  flush=True)
    for device, w in worst.items():
        _common.ratio(f"trainer / pure step clips/s, lowest on {device}", w, f">= {TARGET[device]}", args.quick)
        if not args.quick:
            print(f"target on {device}: {'met' if w >= TARGET[device] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

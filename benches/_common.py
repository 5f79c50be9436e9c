"""What the benches share: their quick mode, the synthetic set they read, and the line that states a ratio.

Quick mode (``--quick`` or ``MELIB_BENCH_QUICK=1``) runs a bench on tiny sizes in seconds, so that CI proves
every bench still runs (``tests/test_benches.py``); its timings are noise, so a bench's speed target is not
judged there (its correctness checks still set the exit status). ``make bench`` runs the benches in full.
"""
from __future__ import annotations

import argparse
import os

QUICK_ENV = "MELIB_BENCH_QUICK"
# The quick synthetic set: one subject a layout, two clips each, small frames (seconds to build).
QUICK_SET = {"subjects": 1, "clips_per_subject": 2, "width": 256, "height": 192, "frames": (12, 16)}


def parse(ap: argparse.ArgumentParser, argv=None, **quick_defaults) -> argparse.Namespace:
    """``ap``'s arguments with ``--quick`` added; in quick mode ``quick_defaults`` replace the defaults (an
    option given on the command line still wins). ``args.quick`` tells which mode runs."""
    ap.add_argument("--quick", action="store_true",
                    help=f"tiny sizes, seconds (also {QUICK_ENV}=1); speed targets are not judged")
    args = ap.parse_args(argv)
    env = os.environ.get(QUICK_ENV, "")
    if env not in ("", "0", "1"):
        ap.error(f"{QUICK_ENV} is 0 or 1, not {env!r}")
    if args.quick or env == "1":
        ap.set_defaults(**quick_defaults)
        args = ap.parse_args(argv)
        args.quick = True
    return args


def synth_root(root, quick: bool):
    """The synthetic set a bench reads: ``root`` when given, else the quick set (``QUICK_SET``, under
    ``<MELIB_HOME>/data/synth-bench-quick``, built once) in quick mode, else the default set."""
    from melib import config, synth

    if root is None and quick:
        return synth.generate_default(config.home() / "data" / "synth-bench-quick", progress=False, **QUICK_SET)
    return synth.generate_default(root, progress=True)


def ratio(label: str, value: float, target: str | None = None, quick: bool = False) -> None:
    """Print the bench's headline ratio: ``ratio <label>: <value>x`` and its target (not judged when quick)."""
    note = "" if target is None else f" (target {target}{'; not judged in quick mode' if quick else ''})"
    print(f"ratio {label}: {value:.2f}x{note}", flush=True)


def no_cuda(what: str) -> None:
    """Say that a bench's CUDA part did not run."""
    print(f"{what}: not measured (no CUDA)", flush=True)

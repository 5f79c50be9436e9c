"""The ``melib`` command line: data checks, the synthetic set, the cache, run records and the study."""
from __future__ import annotations

import argparse
import sys

from .errors import MelibError


def _data_check(args) -> None:
    from . import datasets

    print(datasets.check_report(args.dataset or None))


def _data_synth(args) -> None:
    from . import synth

    root = synth.generate_default(args.root, seed=args.seed)
    print(f"synthetic default set at {root}")


def _cache_info(args) -> None:
    from .preprocess import cache

    info = cache.cache_info()
    print(info if isinstance(info, str) else "\n".join(f"{k}: {v}" for k, v in info.items()))


def _cache_clear(args) -> None:
    from .preprocess import cache

    removed = cache.cache_clear(args.function)
    print(f"removed {removed} cache entries")


def _results(args) -> None:
    from . import records

    table = records.results(args.runs) if args.runs else records.results()
    print(table.to_string() if len(table) else "no run records yet")


def _study(args) -> None:
    from . import study

    import json

    from .errors import ConfigError

    try:
        plan = json.loads(args.plan) if args.plan else None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--plan takes a JSON object such as '{{\"max_folds\": 2}}', not {args.plan!r} ({e})")
    index = study.run(args.profile, data=args.data, device=args.device, notebooks=args.notebooks or None,
                      force=args.force, seed=args.seed, epochs=args.epochs, scheme=args.scheme,
                      protocol=args.protocol, plan=plan, show_real_frames=True if args.show_real_frames else None)
    print(f"\nThe book is at {index}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="melib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets: check what is on disk, generate the synthetic set")
    dsub = data.add_subparsers(dest="data_command", required=True)
    c = dsub.add_parser("check", help="compare each dataset on disk with its manifest; list fixes and exclusions")
    c.add_argument("dataset", nargs="*", help="datasets to check (default: all)")
    c.set_defaults(func=_data_check)
    s = dsub.add_parser("synth", help="generate the default synthetic set (skipped when already complete)")
    s.add_argument("--root", default=None, help="where to write it (default: $MELIB_DATA_SYNTH or data/synth)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_data_synth)

    cache = sub.add_parser("cache", help="the preprocessing cache")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    csub.add_parser("info", help="entries and bytes per cached function").set_defaults(func=_cache_info)
    cc = csub.add_parser("clear", help="delete cache entries")
    cc.add_argument("--function", default=None, help="only this function's entries")
    cc.set_defaults(func=_cache_clear)

    r = sub.add_parser("results", help="gather run records into a table")
    r.add_argument("--runs", default=None, help="run-record folder (default: $MELIB_RUNS or runs/)")
    r.set_defaults(func=_results)

    st = sub.add_parser("study", help="execute the notebooks with papermill and build the Jupyter Book")
    st.add_argument("--profile", choices=("smoke", "default", "paper"), default="default",
                    help="smoke: tiny synthetic set; default: the CPU book on synthetic data; "
                         "paper: your releases with each paper's settings")
    st.add_argument("--data", default=None, help="synth | real | a folder (default: what the profile says)")
    st.add_argument("--device", default=None, help="cpu | cuda | auto")
    st.add_argument("--notebooks", nargs="*", help="only these notebooks (e.g. 00_datasets 11_psn)")
    st.add_argument("--force", action="store_true", help="re-execute notebooks that are current")
    st.add_argument("--seed", type=int, default=None)
    st.add_argument("--epochs", type=int, default=None)
    st.add_argument("--scheme", default=None, help="label scheme for the chapters that take it (default: each one's)")
    st.add_argument("--protocol", default=None, help="loso | stratified_kfold | group_kfold | holdout (default: each "
                                                     "chapter's)")
    st.add_argument("--plan", default=None, help='changes to every chapter\'s plan as JSON, e.g. \'{"max_folds": 2}\'')
    st.add_argument("--show-real-frames", action="store_true",
                    help="show frames of licensed clips in the book (never share such a build)")
    st.set_defaults(func=_study)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MelibError as e:
        print(f"melib: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

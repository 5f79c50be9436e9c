"""The ``melib`` command line: data checks, the synthetic set, the cache, run records and the study."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from .errors import MelibError


def _data_check(args) -> int:
    """Exit status 1 when a configured dataset is missing or broken."""
    from . import datasets

    table = datasets.check(args.dataset or None)
    print(datasets.check_report(table=table))
    bad = datasets.failed(table)
    if bad:
        print(f"melib: configured but missing or broken: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


def _data_synth(args) -> None:
    from . import synth
    from .errors import ConfigError

    if args.full and args.preset != "release":
        raise ConfigError("--full (the releases' subject and clip counts) needs --preset release")
    preset = "release-full" if args.full else args.preset
    params = {} if args.subject_label_dependence is None else {
        "subject_label_dependence": args.subject_label_dependence}
    if args.layouts:
        if args.root is None:
            raise ConfigError("--layouts writes a set of its own: give --root (the default root holds the study's "
                              "set of casme2, samm and smic)")
        params["layouts"] = args.layouts
    root = synth.generate_default(args.root, seed=args.seed, n_jobs=args.n_jobs, preset=preset, **params)
    print(f"synthetic set ({preset}{'; ' + ' '.join(args.layouts) if args.layouts else ''}) at {root}")


def _cache_info(args) -> None:
    from .preprocess import cache

    print(cache.cache_report())


def _cache_clear(args) -> None:
    from .preprocess import cache

    done = cache.cache_clear(args.function)
    print(f"removed {done.entries} cache entries"
          + (f" and {done.temp_files} stale temporary files" if done.temp_files else ""))
    if done.left:
        print(f"left {len(done.left)} item(s) melib did not write or a writer is using:")
        print("\n".join(f"  {p}" for p in done.left))


def _results(args) -> None:
    from . import records

    table = records.results(args.runs, skip_bad=True)
    print(table.to_string() if len(table) else "no run records yet")
    skipped = table.attrs.get("skipped", [])
    if skipped:
        print(f"skipped {len(skipped)} run record(s) melib cannot use (delete them to recompute):", file=sys.stderr)
        print("\n".join(f"  {s['reason']}" for s in skipped), file=sys.stderr)


def _study(args) -> None:
    import json
    import os

    from . import study
    from .errors import ConfigError

    try:
        changes = json.loads(args.plan_changes) if args.plan_changes else None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--plan-changes takes a JSON object such as '{{\"max_folds\": 2}}', not "
                          f"{args.plan_changes!r} ({e})") from None
    if args.calibration and not args.plan:
        raise ConfigError("--calibration (another machine's costs) is for the estimate: add --plan")
    if args.dask:
        if not args.dask.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
            raise ConfigError(f"--dask takes a Dask scheduler address such as tcp://host:8786, not {args.dask!r}")
        os.environ["MELIB_DASK"] = args.dask  # the notebooks' kernels inherit it: folds go to that cluster
    kw = dict(data=args.data, device=args.device, notebooks=args.notebooks or None, seed=args.seed,
              epochs=args.epochs, scheme=args.scheme, protocol=args.protocol, plan=changes,
              show_real_frames=True if args.show_real_frames else None)
    if args.plan:
        print(study.plan(args.profile, calibration=args.calibration, **kw)[2])
        return
    index = study.run(args.profile, force=args.force, jobs=args.jobs, **kw)
    print(f"\nThe book is at {index}")


SYNTH_HELP = ("Generate melib's synthetic known-answer set (melib.synth) in the native layouts of CASME II, SAMM "
              "and SMIC (or, with --layouts, of any releases melib writes, CAS(ME)³ A and C, 4DME and MMEW too). "
              "Measured on 2 shared cores (benches/bench_synth.py): the default set (185 clips) takes "
              "about 40 s; at release scale a clip takes 0.4-3.5 s a core (15-45 ms a frame: SMIC 0.4 s a clip, "
              "CASME II 2 s, SAMM 3.4 s), so --preset release --full (578 clips) takes 20-25 min of one core. "
              "Clips are rendered in --n-jobs threads; the bytes do not depend on how many.")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="melib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets: check what is on disk, generate the synthetic set")
    dsub = data.add_subparsers(dest="data_command", required=True)
    c = dsub.add_parser("check", help="compare each dataset on disk with its manifest; list fixes and exclusions")
    c.add_argument("dataset", nargs="*", help="datasets to check (default: all)")
    c.set_defaults(func=_data_check)
    s = dsub.add_parser("synth", help="generate the synthetic set (skipped when already complete)",
                        description=SYNTH_HELP)
    s.add_argument("--root", default=None, help="where to write it (default: $MELIB_DATA_SYNTH or data/synth); "
                                                "a folder melib did not write is refused, never deleted")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--preset", choices=("default", "release"), default="default",
                   help="default: small CPU-sized clips; release: each release's frame size, fps and clip lengths")
    s.add_argument("--full", action="store_true", help="with --preset release: the releases' subject and clip "
                                                       "counts (CASME II 26/255, SAMM 29/159, SMIC 16/164)")
    s.add_argument("--subject-label-dependence", type=float, default=None, metavar="D",
                   help="0..1: how strongly subjects show one class (default 0, balanced)")
    s.add_argument("--layouts", nargs="+", default=None, metavar="LAYOUT",
                   help="the layouts of a set of its own, with --root (default: the study's casme2 samm smic; also "
                        "casme3a casme3c 4dme mmew)")
    s.add_argument("--n-jobs", type=int, default=None, help="rendering threads (default: every core)")
    s.set_defaults(func=_data_synth)

    cache = sub.add_parser("cache", help="the preprocessing cache")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    csub.add_parser("info", help="entries and bytes per cached function").set_defaults(func=_cache_info)
    cc = csub.add_parser("clear", help="delete cache entries")
    cc.add_argument("--function", default=None,
                    help="only this cached function's entries (a name `melib cache info` lists)")
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
    st.add_argument("--jobs", type=int, default=None,
                    help="notebooks run side by side, each after those it depends on, the longest first (default: "
                         "one per core); 1: one after the other in book order")
    st.add_argument("--seed", type=int, default=None)
    st.add_argument("--epochs", type=int, default=None)
    st.add_argument("--scheme", default=None, help="label scheme for the chapters that take it (default: each one's)")
    st.add_argument("--protocol", default=None, help="loso | stratified_kfold | group_kfold | holdout (default: each "
                                                     "chapter's)")
    st.add_argument("--plan", action="store_true",
                    help="dry run: list every training the chapters would make (model, protocol, folds, epochs, "
                         "clips, input size, clip-steps) and the estimated time on this machine, from a short "
                         "measured calibration (cached per machine, torch version and device); nothing is trained")
    st.add_argument("--plan-changes", default=None, metavar="JSON",
                    help='changes to every chapter\'s plan (the notebook parameter plan), e.g. \'{"max_folds": 2}\'')
    st.add_argument("--calibration", default=None, metavar="FILE",
                    help="with --plan: price the trainings with another machine's calibration file (e.g. "
                         "benches/calibration_h200_issue14.json) instead of measuring here")
    st.add_argument("--dask", default=os.environ.get("MELIB_DASK"), metavar="ADDRESS",
                    help="run the folds on an existing Dask cluster (scheduler address, e.g. tcp://host:8786; "
                         "default $MELIB_DASK): one fold per worker thread, each worker pinned to its own GPU")
    st.add_argument("--show-real-frames", action="store_true",
                    help="show frames of licensed clips in the book (never share such a build)")
    st.set_defaults(func=_study)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a melib error (or a file that cannot be read or written) is one line on stderr and
    exit status 2, an interrupt one line (what was kept, where the command says) and exit status 130, never a
    traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except MelibError as e:
        print(f"melib: error: {e}", file=sys.stderr)
    except OSError as e:
        print(f"melib: error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
    except KeyboardInterrupt as e:
        logging.getLogger("asyncio").disabled = True  # an interrupted notebook's cell task is reported at exit
        print(f"melib: interrupted{f' {e}' if str(e) else ''}", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The measurement ledger: every stored number comes from a registered measurement, one record per run.

A measurement (:class:`Measurement`, :func:`register`; melib's are in ``melib.measurements``) is a
function of named parameters: ``data(params)`` gives the clips it runs on, ``fn(samples, **params)`` the
numbers it measured (a dict), ``code(params)`` the code it reaches by name (the models and pipelines a
registry builds, which the code hash cannot follow), ``units()`` its sweep, ``plan(params)`` its trainings
(clip-steps, the cheap cost estimate; nothing is trained). :func:`run` runs one unit (one parameter set:
measurement, parameters, seed, amplitude, folds) and writes one record to ``melib/data/ledger/<name>.jsonl``,
replacing that unit's earlier one on the same device (records of other CPU kinds stay beside it):

- the measurement and its parameters, the result, the exact command that regenerates it (:func:`command`);
- the commit of a clean tree: a tree with changes (outside the ledger's own files) is refused, before and after
  the run; ``allow_dirty`` exists for tests and only with a ``root`` other than the stored ledger's;
- a hash of the code it ran (``melib.preprocess.codehash``: the bytecode of the measurement and of the melib
  code it reaches), the data's hash (the clips' frames and labels), the machine (CPU model, cores, GPU), the
  versions that decide a number, the seeds and the wall time.

Trainings run with run records of their own (``<runs>/ledger/<code>-<data>``), so a record never reuses a run
of other code or data. A record is ``current`` while its code hash is the code's now, ``stale`` once the code
has changed, ``unverifiable`` when it has no code hash (rows kept from before the ledger: :func:`migrate`
marks an uncommitted tree or mixed commits as such), ``dirty`` when a test wrote it from a changed tree.
A measurement may keep a CSV view (:class:`View`) regenerated from its records after every run.

    python -m melib.ledger list                       # the measurements, their units and records' states
    python -m melib.ledger run NAME [--only k=v] [--plan] [--force]   # its sweep; resumes where it stopped
    python -m melib.ledger run NAME --param k=v ...   # one unit
    python -m melib.ledger run --all                  # every sweep
    python -m melib.ledger stale                      # records whose code changed since (or unverifiable)
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import hashlib
import importlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from .errors import ConfigError, DataError
from .registry import Registry

REPO = Path(__file__).resolve().parents[1]
LEDGER_DIR = Path(__file__).resolve().parent / "data" / "ledger"
MODULES = ("melib.measurements",)  # where melib's measurements register
VERSIONS = ("torch", "numpy", "scikit-learn", "opencv")  # the packages that decide a number (with Python)
STATES = ("current", "stale", "unverifiable", "dirty")
FORMAT = 1
REGISTRY: Registry = Registry("measurement")


@dataclass(frozen=True)
class View:
    """A CSV table regenerated from a measurement's records: ``row(record) -> dict`` of ``columns``."""
    path: Path
    columns: tuple[str, ...]
    row: Callable[[dict], dict]
    sort: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measurement:
    """A registered measurement (see the module's docstring); ``defaults`` names every parameter."""
    name: str
    fn: Callable[..., dict]
    data: Callable[[dict], pd.DataFrame]
    defaults: Mapping
    units: Callable[[], list[dict]]
    code: Callable[[dict], Sequence[Callable]] | None = None
    plan: Callable[[dict], list] | None = None
    seeds: Callable[[dict], dict] = field(default=lambda p: {"study": p.get("seed")})
    view: View | None = None
    doc: str = ""

    def params(self, given: Mapping | None = None) -> dict:
        """The full parameter set of a unit: the defaults, then ``given`` (unknown names refused; an int
        where the default is a float becomes that float, tuples become lists)."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ConfigError(f"measurement {self.name!r} has no parameter(s) {unknown}; it takes "
                              f"{', '.join(self.defaults)}")
        out = {**self.defaults, **given}
        for k, v in out.items():
            if isinstance(self.defaults[k], float) and isinstance(v, int) and not isinstance(v, bool):
                out[k] = float(v)
        return json.loads(json.dumps(out, sort_keys=True))


def register(m: Measurement) -> Measurement:
    return REGISTRY.add(m.name, m)


def measurements() -> dict[str, Measurement]:
    """Every registered measurement (importing :data:`MODULES` registers melib's)."""
    for mod in MODULES:
        importlib.import_module(mod)
    return dict(REGISTRY)


def measurement(name: str) -> Measurement:
    measurements()
    return REGISTRY.entry(name)


# ---- where, on what and with which code -------------------------------------------------------------------

def key(params: Mapping) -> str:
    """A unit's identity: its parameters as canonical JSON."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise ConfigError(f"the ledger records the commit of the code; git failed in {REPO}: {e}") from None
    if out.returncode:
        raise ConfigError(f"the ledger records the commit of the code; {REPO} is not a git checkout "
                          f"({out.stderr.strip()})")
    return out.stdout


def _own_files() -> list[str]:
    """What the ledger writes inside the tree (its records and views), relative to :data:`REPO`."""
    paths = [LEDGER_DIR, *(m.view.path for m in REGISTRY.values() if m.view)]
    return [os.path.relpath(p, REPO) for p in paths if Path(p).resolve().is_relative_to(REPO)]


def tree() -> tuple[str, list[str]]:
    """(HEAD's commit, the paths that differ from it or are untracked, the ledger's own files left out)."""
    commit = _git("rev-parse", "HEAD").strip()
    status = _git("status", "--porcelain", "--untracked-files=all", "--", ".",
                  *(f":(exclude){p}" for p in _own_files()))
    return commit, [line[3:] for line in status.splitlines() if line.strip()]


def clean_commit() -> str:
    """HEAD's commit when the tree is clean; ConfigError naming the changed paths otherwise."""
    commit, changed = tree()
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ConfigError(f"the ledger stores measurements of committed code only; {REPO} has uncommitted "
                          f"changes ({shown}): commit or stash them, then run again")
    return commit


def machine() -> dict:
    """CPU model, cores and GPU (None without CUDA) of this machine."""
    import torch

    from .parallel import cpu_name

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "gpu": gpu}


def device_name(device: str) -> str:
    """The accelerator or CPU ``device`` means here, as a reader would name it."""
    import torch

    from .parallel import cpu_name

    if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CUDA (absent)"
    return f"CPU {cpu_name()} ({os.cpu_count()} cores)"


def versions() -> dict:
    """Python's and :data:`VERSIONS`' versions (None when a package is absent)."""
    from .records import provenance

    pk = provenance()["packages"]
    return {"python": pk["python"], **{k: pk.get(k) for k in VERSIONS}}


def data_hash(samples: pd.DataFrame) -> str:
    """sha256 of the clips: each clip's identity, timing and label, and the bytes of its frames, in order."""
    h = hashlib.sha256()
    cols = [c for c in ("dataset", "subject", "clip", "onset", "apex", "offset", "label") if c in samples.columns]
    for _, row in samples.sort_values(cols[:3] or cols).iterrows():
        h.update(json.dumps([str(row[c]) for c in cols]).encode())
        for f in row.get("frames") or ():
            try:
                with open(f, "rb") as fh:
                    h.update(hashlib.file_digest(fh, "sha256").digest())
            except OSError as e:
                raise DataError(f, "a readable frame of the measured clips", str(e)) from None
    return h.hexdigest()


@functools.cache
def _code_hash(fn: Callable) -> str:  # the bytecode of a loaded function does not change while it runs
    from .preprocess.codehash import code_hash as one

    return one(fn)


def code_hash(m: Measurement, params: Mapping) -> str:
    """sha256 over ``codehash.code_hash`` of the measurement's function and of what ``m.code(params)`` names."""
    fns = [m.fn, *(m.code(dict(params)) if m.code else ())]
    return hashlib.sha256("\n".join(sorted(_code_hash(f) for f in fns)).encode()).hexdigest()


def _value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def command(name: str, params: Mapping) -> str:
    """The command that regenerates the record of ``name`` with ``params`` (every parameter named, so that a
    later change of a default does not change what it runs)."""
    args = [f"{k}={_value(v)}" for k, v in sorted(params.items())]
    return "python -m melib.ledger run " + " ".join(map(shlex.quote, [name, *(a for x in args for a in
                                                                            ("--param", x))]))


def parse_pairs(items) -> dict:
    """``KEY=VALUE`` strings as a dict; values are JSON where they parse, else strings."""
    out = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"expected KEY=VALUE, found {item!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


# ---- the records --------------------------------------------------------------------------------------------

def path_of(name: str, root: str | Path | None = None) -> Path:
    return Path(root or LEDGER_DIR) / f"{name}.jsonl"


def records(name: str, root: str | Path | None = None) -> list[dict]:
    """The records of measurement ``name`` (none yet: an empty list)."""
    path = path_of(name, root)
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, "one JSON record per line", f"line {i}: {e}") from None
        if not isinstance(rec, dict) or rec.get("measurement") != name or "params" not in rec:
            raise DataError(path, f"records of measurement {name!r} with their params", f"line {i}")
        out.append(rec)
    return out


def _write(path: Path, recs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs), encoding="utf-8")
    os.replace(tmp, path)


def supersedes(rec: dict, old: dict) -> bool:
    """Whether ``rec`` replaces ``old``: the same unit measured on the same device, or an old record of the unit
    that names no code (kept from before the ledger, or written from a changed tree)."""
    return old["key"] == rec["key"] and (old.get("device") == rec.get("device") or old.get("tree") != "clean")


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path``'s measurement while its records are read and rewritten, so that
    runs of one measurement side by side (each its own units) keep every record."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.stem}.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def store(rec: dict, root: str | Path | None = None) -> Path:
    """Add ``rec`` to its measurement's records, replacing those it :func:`supersedes` (atomic; the records of
    the same unit on another device stay)."""
    name = rec["measurement"]
    path = path_of(name, root)
    with _locked(path):
        recs = [r for r in records(name, root) if not supersedes(rec, r)] + [rec]
        _write(path, sorted(recs, key=lambda r: (r["key"], str(r.get("device")))))
    return path


def state(rec: dict, current: str | None) -> str:
    """:data:`STATES` of a record against the code hash ``current`` of its unit now."""
    if rec.get("tree") != "clean":
        return "unverifiable" if rec.get("code_hash") is None else "dirty"
    if rec.get("code_hash") is None:
        return "unverifiable"
    return "current" if rec["code_hash"] == current else "stale"


def label(rec: dict, st: str) -> str:
    """What a reader is told of a record's state: current or stale with its commit; unverifiable and why."""
    short = short_commit(rec)
    return {"current": f"current (commit {short})",
            "stale": f"stale: the code changed since commit {short}",
            "dirty": f"dirty: written from a tree with changes (commit {short})",
            "unverifiable": f"unverifiable: {rec.get('tree', 'unknown tree')}, commit {short}, no code hash"}[st]


def short_commit(rec: dict) -> str:
    """A record's commit as shown: 7 characters of a clean tree's, a pre-ledger row's string as it was."""
    commit = str(rec.get("commit") or "unknown")
    return commit[:7] if rec.get("tree") in ("clean", "dirty (test)") else commit


def flat(rec: dict) -> dict:
    """A record as one table row: parameters, result, and where, when and how it was measured."""
    return {**rec["params"], **rec["result"], "device": rec.get("device"),
            "torch": (rec.get("versions") or {}).get("torch"), "date": rec.get("date"), "commit": short_commit(rec),
            "tree": rec.get("tree"), "wall_s": rec.get("wall_s"), "command": rec.get("command"),
            "code_hash": rec.get("code_hash")}


def table(name: str, root: str | Path | None = None, states: bool = True) -> pd.DataFrame:
    """The records of ``name``, one row each (:func:`flat`), with ``states`` their ``state`` (:func:`state`
    against the code now) and its ``record`` label (:func:`label`)."""
    m = measurement(name)
    rows = []
    for r in records(name, root):
        row = flat(r)
        if states:
            st = state(r, code_hash(m, m.params(r["params"])) if r.get("code_hash") else None)
            row.update(state=st, record=label(r, st))
        rows.append(row)
    return pd.DataFrame(rows)


def export(name: str, root: str | Path | None = None, to: str | Path | None = None) -> Path | None:
    """Regenerate ``name``'s CSV view from its records (at ``to``, default the view's path; written to a
    temporary name, then renamed); None when the measurement has no view."""
    m = measurement(name)
    if m.view is None:
        return None
    dest = Path(to or m.view.path)
    df = pd.DataFrame([m.view.row(r) for r in records(name, root)], columns=list(m.view.columns))
    if m.view.sort and len(df):
        df = df.sort_values(list(m.view.sort), kind="stable")
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, dest)
    return dest


# ---- running ----------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _runs_under(folder: Path):
    prev = os.environ.get("MELIB_RUNS")
    os.environ["MELIB_RUNS"] = str(folder)
    try:
        yield
    finally:
        if prev is None:
            os.environ.pop("MELIB_RUNS", None)
        else:
            os.environ["MELIB_RUNS"] = prev


def run(name: str, params: Mapping | None = None, *, root: str | Path | None = None, force: bool = False,
        allow_dirty: bool = False, device: str = "cpu") -> dict:
    """Run one unit of measurement ``name`` and store its record (a current record of the unit is returned
    as it is unless ``force``). ``allow_dirty``: tests only, never into the stored ledger. ``device``: what
    the record names as the device (the measurement's own ``device`` parameter wins)."""
    from . import config

    m = measurement(name)
    p = m.params(params)
    stored = root is None or Path(root).resolve() == LEDGER_DIR.resolve()
    if allow_dirty and stored:
        raise ConfigError("allow_dirty is for tests: give the records another root than the stored ledger")
    commit, changed = tree()
    if changed and not allow_dirty:
        clean_commit()
    ch = code_hash(m, p)
    dev = device_name(p.get("device", device))
    if not force:
        old = [r for r in records(name, root) if r["key"] == key(p) and r.get("device") == dev]
        if old and state(old[0], ch) == "current":
            return old[0]
    t0 = time.perf_counter()
    samples = m.data(p)
    dh = data_hash(samples)
    with _runs_under(config.runs_dir() / "ledger" / f"{ch[:12]}-{dh[:12]}"):
        result = m.fn(samples, **p)
    wall = time.perf_counter() - t0
    after, changed_after = tree()
    if not allow_dirty and (after != commit or changed_after):
        raise ConfigError(f"the tree changed while {name} ran (commit {commit[:7]} -> {after[:7]}, "
                          f"{len(changed_after)} changed paths): nothing stored; run it again on a clean tree")
    rec = {"measurement": name, "params": p, "key": key(p), "result": json.loads(json.dumps(result)),
           "command": command(name, p), "commit": commit, "tree": "clean" if not changed else "dirty (test)",
           "code_hash": ch, "data_hash": dh, "machine": machine(), "device": dev,
           "versions": versions(), "seeds": m.seeds(p), "wall_s": round(wall, 1),
           "date": datetime.date.today().isoformat(), "ledger": FORMAT}
    store(rec, root)
    if stored:
        export(name)
    return rec


def units(name: str, only: Mapping | None = None) -> list[dict]:
    """The sweep of ``name`` (its units, parameters complete), those matching every ``only`` value."""
    m = measurement(name)
    out = []
    for u in m.units():
        u = m.params(u)
        if all(u.get(k) == m.params({k: v})[k] for k, v in (only or {}).items()):
            out.append(u)
    return list({key(u): u for u in out}.values())


def sweep(name: str, only: Mapping | None = None, root: str | Path | None = None, force: bool = False,
          allow_dirty: bool = False, progress: Callable[[str], None] | None = print) -> list[dict]:
    """Every unit of ``name``'s sweep that has no current record (all with ``force``): resumable."""
    out = []
    for u in units(name, only):
        rec = run(name, u, root=root, force=force, allow_dirty=allow_dirty)
        out.append(rec)
        if progress:
            progress(f"{name} {key(u)}: {json.dumps(rec['result'])[:160]} ({rec['wall_s']} s)")
    return out


def plan(name: str, only: Mapping | None = None) -> pd.DataFrame:
    """Per unit of the sweep: clip-steps of its trainings (nothing trained) and the last record's wall time."""
    from .experiments.contract import clip_steps

    m = measurement(name)
    last = {r["key"]: r for r in records(name)}
    rows = []
    for u in units(name, only):
        steps = int(clip_steps(m.plan(u))["clip_steps"].sum()) if m.plan else None
        rec = last.get(key(u))
        rows.append({"unit": key(u), "clip_steps": steps, "recorded_wall_s": rec and rec.get("wall_s")})
    return pd.DataFrame(rows)


def stale(root: str | Path | None = None) -> pd.DataFrame:
    """Every record that is not current: measurement, unit, state and label, commit, command."""
    rows = []
    for name in measurements():
        t = table(name, root)
        if not len(t):
            continue
        for r, rec in zip(t.itertuples(), records(name, root)):
            if r.state != "current":
                rows.append({"measurement": name, "unit": rec["key"], "state": r.state, "record": r.record,
                             "command": rec.get("command")})
    return pd.DataFrame(rows, columns=["measurement", "unit", "state", "record", "command"])


# ---- rows kept from before the ledger ----------------------------------------------------------------------

def legacy_tree(commit: str) -> str:
    """The tree a pre-ledger row's commit string says it came from."""
    commit = str(commit)
    if "+changes" in commit:
        return "uncommitted tree (recorded before the ledger)"
    if "/" in commit:
        return "mixed commits (recorded before the ledger)"
    return "committed tree, recorded before the ledger"


def migrate(name: str, rows: pd.DataFrame, params_of: Callable[[dict], dict], result_of: Callable[[dict], dict],
            root: str | Path | None = None) -> list[dict]:
    """Records of a pre-ledger table's ``rows`` (one each): no code or data hash, so never ``current``; the
    row's commit, date, device and command kept, its tree named by :func:`legacy_tree`."""
    m = measurement(name)
    out = []
    for row in rows.to_dict("records"):
        p = m.params(params_of(row))
        rec = {"measurement": name, "params": p, "key": key(p), "result": json.loads(json.dumps(result_of(row))),
               "command": row.get("command") or None, "commit": str(row["commit"]),
               "tree": legacy_tree(row["commit"]), "code_hash": None, "data_hash": None,
               "machine": None, "device": row.get("device"), "versions": {"torch": row.get("torch")},
               "seeds": m.seeds(p), "wall_s": row.get("seconds"), "date": row.get("date"), "ledger": FORMAT}
        store(rec, root)
        out.append(rec)
    return out


# ---- command line ----------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m melib.ledger", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("list", help="the measurements, their sweeps and the states of their records")
    r = sub.add_parser("run", help="run a measurement's sweep (resumable) or one unit of it")
    r.add_argument("name", nargs="?")
    r.add_argument("--all", action="store_true", help="every measurement's sweep")
    r.add_argument("--param", nargs="*", default=None, help="one unit: KEY=VALUE (JSON values)")
    r.add_argument("--only", nargs="*", default=None, help="the sweep's units with these KEY=VALUE")
    r.add_argument("--plan", action="store_true", help="clip-steps of each unit; nothing runs")
    r.add_argument("--force", action="store_true", help="re-run units that have a current record")
    sub.add_parser("stale", help="records whose code changed since, or that cannot be checked")
    sub.add_parser("export", help="regenerate the CSV views from the records")
    a = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 120)
    try:
        if a.what == "list":
            for name, m in measurements().items():
                t = table(name)
                counts = t["state"].value_counts().to_dict() if len(t) else {}
                print(f"{name}: {m.doc}\n  sweep {len(units(name))} units; records "
                      + (", ".join(f"{v} {k}" for k, v in counts.items()) or "none"))
        elif a.what == "stale":
            t = stale()
            for r in t.itertuples():
                print(f"{r.measurement} {r.unit}: {r.record}")
            print(f"{len(t)} record(s) not current" if len(t) else "every record is current")
        elif a.what == "export":
            for name in measurements():
                if (path := export(name)) is not None:
                    print(path)
        else:
            if a.all == bool(a.name):
                raise ConfigError("run takes a measurement's name or --all")
            names = list(measurements()) if a.all else [a.name]
            if a.param is not None:
                if a.all or a.plan:
                    raise ConfigError("--param runs one unit of one measurement")
                rec = run(a.name, parse_pairs(a.param), force=a.force)
                print(json.dumps(rec["result"]))
            for name in names if a.param is None else ():
                if a.plan:
                    print(plan(name, parse_pairs(a.only)).to_string(index=False))
                else:
                    sweep(name, parse_pairs(a.only), force=a.force)
    except (ConfigError, DataError) as e:
        print(f"melib.ledger: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # run as melib.ledger, where the measurements register, not as __main__
    from melib import ledger

    sys.exit(ledger.main())

"""``melib study``: execute the notebooks with papermill and build the Jupyter Book.

``run(profile="default", data=None, device=None, notebooks=None)`` executes the notebooks of ``notebooks/``
with papermill into ``notebooks/executed/`` and builds the Jupyter Book (``melib.book.build_book``); it
returns the path of the HTML index. Each notebook gets the parameters the user set that its chapter takes
(``melib.experiments.chapter(name).parameters``), plus ``profile``; the profiles and parameters themselves
are :mod:`melib.params`. Nothing below this runner imports it.

Conventions every notebook follows (``notebooks/NN_name.ipynb``; the book and the runner take the chapters in
``book/_toc.yml``'s order, the results overview last):

1. The first code cell is tagged ``parameters`` and holds the study parameters with the smoke profile's
   values, so ``pytest --nbval-lax notebooks/`` runs the stored notebook fast::

       profile = "smoke"; data = None; dataset = None; scheme = None; protocol = None
       epochs = None; frame_size = None; seed = None; device = None; plan = None

   then ``show_real_frames`` and the notebook's own parameters. ``None`` means "what the profile says";
   ``scheme`` and ``protocol`` None mean the chapter's own (its paper's).
2. The next cell resolves them with the chapter's contract: ``p = <chapter>.CHAPTER.setup(profile,
   data=data, ...)``, which refuses, with a ConfigError naming the parameter, the chapter and what it
   accepts, any parameter the chapter would not honour; clips come from ``samples = params.samples(p)``;
   every table of numbers carries a provenance (``melib.report.provenance_label(samples)``). The same cell
   displays ``views.parameters(p, <chapter>.CHAPTER)`` (what the parameters resolved to; the book shows it
   in the chapter's folded "Re-run this chapter" block) and, once there is a result,
   ``views.opening(<chapter>.CHAPTER, p, result, samples)``: the box the book puts under the chapter's title
   (``melib.book.reader_copy``). DataFrames are displayed as they are; ``setup`` made them read like the
   book's tables (``melib.display``).
3. Cells call melib and display; a loop over results for display is the most a cell does. Anything else
   goes into melib with a test. Training goes through the chapter's ``run`` (cached run records),
   preprocessing through cached steps, so a re-run is fast.
4. Frames of real (licensed) clips are shown only when ``show_real_frames=True`` (``melib.frames``).
5. Notebooks are committed without outputs, except the cells nbval compares (tagged ``nbval-check-output``:
   counts, folds, parameters; stored from a smoke run by ``python -m melib.nbcheck``); executed copies live in
   ``notebooks/executed/`` (git-ignored).
6. Figures are matplotlib figures shown with ``plt.show()``; images of frames go through
   ``frames.example_frames`` (PNG at native size) or a guarded figure (rule 4).
7. A model chapter ends with ``params.keep_headline(p, <chapter>.headline(result))``: its paper's headline
   rows, kept under ``params.headline_tag`` for the results overview (``50_results_overview``, run after
   the chapters), then displays its opening box (rule 2).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from . import config
from .errors import ConfigError, DataError, MelibError
from .book import OVERVIEW  # reads the headline rows the chapters keep: re-run when they change
from .parallel import cpu_count, n_workers
from .params import NOTEBOOKS_DIR, PACKAGE_ROOT, PARAMETERS, configured, data_root, ensure_synth, resolve, samples

BOOK_DIR = PACKAGE_ROOT / "book"


class StudyError(MelibError, RuntimeError):
    """One or more notebooks failed; the message names each and where its partial output is."""


def papermill_parameters(profile: str = "default", data=None, device=None, **overrides) -> dict:
    """The parameters the user set for the study: the profile, and whatever else was given."""
    resolve(profile, data=data, device=device, **{k: v for k, v in overrides.items() if k in PARAMETERS})
    params = {"profile": profile}
    for k, v in {"data": data, "device": device, **overrides}.items():
        if v is not None:
            params[k] = str(v) if isinstance(v, Path) else v
    return params


def notebook_parameters(name: str, params: dict) -> dict:
    """The study's ``params`` that notebook ``name`` takes: those its chapter's contract lists (a parameter
    a chapter would not honour is not sent to it), and ``profile``."""
    from .experiments import chapters

    chapter = {c.notebook: c for c in chapters()}.get(name)
    if chapter is None:
        return dict(params)
    return {k: v for k, v in params.items() if k == "profile" or k in chapter.parameters}


def _resolved(params: dict):
    return resolve(params["profile"], **{k: v for k, v in params.items() if k in PARAMETERS[1:]})


def toc_notebooks(book_dir=BOOK_DIR) -> list[str]:
    """The executed-notebook chapters of ``_toc.yml`` in order (names without folder or suffix)."""
    from .book import _toc_files

    path = Path(book_dir) / "_toc.yml"
    if not path.is_file():
        raise DataError(path, "the book's table of contents", "no such file")
    toc = yaml.safe_load(path.read_text())
    return [f.split("/", 1)[1] for f in _toc_files(toc) if f.startswith("executed/")]


def notebooks_to_run(notebooks=None, book_dir=BOOK_DIR, notebooks_dir=NOTEBOOKS_DIR) -> tuple[list[str], list[str]]:
    """``(to_run, missing)``: chapters with a source notebook (``notebooks`` or every chapter of the toc),
    and chapters of the toc whose notebook does not exist yet."""
    chapters = toc_notebooks(book_dir)
    have = {n for n in chapters if (Path(notebooks_dir) / f"{n}.ipynb").is_file()}
    missing = [n for n in chapters if n not in have]
    if notebooks is None:
        return [n for n in chapters if n in have], missing
    wanted = [Path(n).stem for n in ([notebooks] if isinstance(notebooks, str) else notebooks)]
    absent = [n for n in wanted if not (Path(notebooks_dir) / f"{n}.ipynb").is_file()]
    if absent:
        raise ConfigError(f"no notebook {', '.join(absent)} in {notebooks_dir}")
    return wanted, missing


def _code_stamp() -> float:
    return max(f.stat().st_mtime for f in (PACKAGE_ROOT / "melib").rglob("*.py"))


def _headline_files(p) -> list[Path]:
    """The chapters' saved headline rows the results overview reads (``params.kept_headlines``)."""
    from . import records
    from .params import headline_tag

    return sorted(records.headline_dir(headline_tag(p)).glob("*.csv"))


def data_roots(p) -> list[Path]:
    """The folders whose clips resolved parameters ``p`` read: the synthetic set or the folder given, or each
    configured release that ``data="real"`` reads (those ``dataset`` names, else all)."""
    if p.data != "real":
        return [data_root(p)]
    return [r for r in (config.data_root(n) for n in (p.datasets() or configured())) if r is not None]


def run_key(params: dict, fingerprints: dict | None = None) -> str:
    """What an executed notebook depends on besides its source and melib's code: its parameters and the data
    they point at (the roots, and :func:`melib.datasets.fingerprint` of each: coding sheets by content, frames
    by size and time). ``fingerprints`` ({root: digest}) keeps them for the next call of one study run."""
    from .datasets import fingerprint

    fingerprints = {} if fingerprints is None else fingerprints
    p = _resolved(params)
    roots = [str(r) for r in data_roots(p)]
    for r in roots:
        if r not in fingerprints:
            fingerprints[r] = fingerprint(r)
    ident = {"params": params, "home": str(config.home()), "data": {r: fingerprints[r] for r in roots},
             "real": {n: str(config.data_root(n)) for n in configured()}}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_current(source: Path, executed: Path, key: str, inputs=()) -> bool:
    """Is ``executed`` newer than its source, melib's code and the files in ``inputs``, and run with the same
    :func:`run_key`?"""
    import nbformat

    if not executed.is_file():
        return False
    t = executed.stat().st_mtime
    if t < max([source.stat().st_mtime, _code_stamp(), *(Path(f).stat().st_mtime for f in inputs)]):
        return False
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # an unreadable executed copy is simply re-run
        return False
    return nb.metadata.get("melib", {}).get("run_key") == key


def _logged_kernel(log):
    """A kernel manager class whose kernels write their own stdout and stderr (start-up warnings, the
    tracebacks of a kernel stopped mid-cell) to the open file ``log`` instead of the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            return await super().start_kernel(**{**kw, "stdout": log, "stderr": log})

    return LoggedKernelManager


def execute(name: str, params: dict, notebooks_dir=NOTEBOOKS_DIR, executed_dir=None,
            progress: bool = True, key: str | None = None) -> Path:
    """Run ``<notebooks_dir>/<name>.ipynb`` with papermill, written to ``<executed_dir>/.partial/`` then renamed
    to ``<executed_dir>/<name>.ipynb`` and stamped with ``key`` (default: :func:`run_key` of ``params``, taken
    before the run). The kernel's own output goes to ``.partial/<name>.kernel.log``, removed on success. A
    failing cell raises papermill's error; the partial notebook and the log stay."""
    import nbformat
    import papermill as pm

    from . import book

    key = run_key(params) if key is None else key
    executed_dir = Path(executed_dir or Path(notebooks_dir) / "executed")
    partial = executed_dir / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / f"{name}.ipynb"
    log = partial / f"{name}.kernel.log"
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        pm.execute_notebook(str(Path(notebooks_dir) / f"{name}.ipynb"), str(tmp), parameters=params,
                            kernel_name="python3", progress_bar=progress, cwd=str(config.home()),
                            kernel_manager_class=_logged_kernel(fh))
    wall = round(time.perf_counter() - t0, 1)
    nb = nbformat.read(tmp, as_version=4)
    nb.metadata["melib"] = {"run_key": key, "parameters": params, "wall_s": wall,
                            "environment": book.environment()}
    nbformat.write(nb, tmp)
    final = executed_dir / f"{name}.ipynb"
    os.replace(tmp, final)
    log.unlink()
    return final


def check_chapters(names, params: dict) -> None:
    """Refuse, before any notebook runs, the plan changes that chapters ``names`` would refuse only once their
    notebook runs: a count that is not an integer (``Chapter.plan_values``)."""
    from .experiments import chapters

    by_notebook = {c.notebook: c for c in chapters()}
    for name in names:
        plan = notebook_parameters(name, params).get("plan")
        if plan and name in by_notebook:
            by_notebook[name].plan_values(plan)


def what_to_change(name: str) -> str | None:
    """What a user can change when chapter ``name`` refuses the data: the protocols and schemes it also takes,
    fewer folds, and more clips (from its contract, :mod:`melib.experiments`); None for a notebook without one."""
    from .experiments import chapters

    c = next((c for c in chapters() if c.notebook == name), None)
    if c is None:
        return None
    out = []
    if "protocol" in c.parameters and len(c.protocols) > 1:
        out.append("another protocol (" + ", ".join(f"`--protocol {x}`" for x in c.protocols if x != c.protocol) + ")")
    if "scheme" in c.parameters and len(c.schemes) > 1:
        out.append("another label scheme (" + ", ".join(f"`--scheme {x}`" for x in c.schemes if x != c.scheme) + ")")
    if "plan" in c.parameters:
        out.append("""fewer folds (`--plan-changes '{"folds": 2, "max_folds": 2}'`)""")
    return "; ".join(out + ["or data with more clips and subjects of each class"]) + "."


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C while a notebook ran; the message says what was kept and where."""


def _interrupted(names, executed_dir: Path, done: list[str]) -> StudyInterrupted:
    names = [names] if isinstance(names, str) else list(names)
    kept = [f"the cells of {n} run so far in {executed_dir / '.partial' / (n + '.ipynb')}" for n in names]
    complete = [n for n in names if (executed_dir / f"{n}.ipynb").is_file()]
    if len(complete) == 1 and len(names) == 1:
        kept.append(f"its last complete copy {executed_dir / (complete[0] + '.ipynb')}")
    elif complete:
        kept.append("their last complete copies " + ", ".join(str(executed_dir / f"{n}.ipynb") for n in complete))
    if done:
        before = "before it" if len(names) == 1 else "before them"
        kept.append(f"the chapters executed {before} ({', '.join(done)}) in {executed_dir}")
    return StudyInterrupted(f"while executing {', '.join(names)}; kept {'; '.join(kept)}; the book was not rebuilt")


def _failure(name: str, error: str, executed_dir: Path) -> str:
    """The report line of notebook ``name`` that failed with ``error`` (``Type: last line``)."""
    partial, final = executed_dir / ".partial", executed_dir / f"{name}.ipynb"
    kept = f"; its last complete copy {final} is kept, left out of this book" if final.is_file() else ""
    return (f"{name}: {error} (partial output: {partial / (name + '.ipynb')}, kernel log: "
            f"{partial / (name + '.kernel.log')}{kept})")


def _error_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[-1] if text else ''}"


def _due(name: str, params: dict, force: bool, notebooks_dir: Path, executed_dir: Path,
         fingerprints: dict) -> tuple[dict, str] | None:
    """``(parameters, run key)`` of notebook ``name``, or None when its executed copy is current (and not
    ``force``). The results overview is current only if newer than the headline rows the chapters kept."""
    mine = notebook_parameters(name, params)
    key = run_key(mine, fingerprints)
    inputs = _headline_files(_resolved(mine)) if name == OVERVIEW else ()
    if not force and is_current(notebooks_dir / f"{name}.ipynb", executed_dir / f"{name}.ipynb", key, inputs):
        return None
    return mine, key


def _refusal(name: str, error: BaseException, notebooks_dir: Path) -> dict:
    """What the book says of notebook ``name`` stopped by ``error`` (``book.refusal``)."""
    from . import book

    return book.refusal(error, book.notebook_title(Path(notebooks_dir) / f"{name}.ipynb"), what_to_change(name))


def _run_in_order(to_run, params, force, notebooks_dir, executed_dir,
                  progress) -> tuple[list[str], list[str], dict]:
    """One notebook after the other in book order, in this process (``jobs=1``); ``(failure lines, failed,
    {failed: what the book says of it})``."""
    failures, failed, done, fingerprints, refused = [], [], [], {}, {}
    bar = tqdm(to_run, desc="notebooks", unit="nb", disable=not progress, file=sys.stdout)
    for name in bar:
        bar.set_postfix_str(name)
        due = _due(name, params, force, notebooks_dir, executed_dir, fingerprints)
        if due is None:
            continue
        mine, key = due
        try:
            execute(name, mine, notebooks_dir, executed_dir, progress=progress, key=key)
            done.append(name)
        except KeyboardInterrupt:
            bar.close()
            raise _interrupted(name, executed_dir, done) from None
        except Exception as e:  # papermill's PapermillExecutionError, a dead kernel, ...
            failed.append(name)
            failures.append(_failure(name, _error_line(e), executed_dir))
            refused[name] = _refusal(name, e, notebooks_dir)
    bar.close()
    return failures, failed, refused


def dependencies(names) -> dict[str, set[str]]:
    """What each notebook of ``names`` must wait for when notebooks run side by side: the results overview
    reads the headline rows every chapter keeps, so it runs after all of them. The chapters share only
    caches and run records, each written to a temporary name and renamed (a chapter that needs an entry
    another is computing computes it too, with the same result)."""
    names = list(names)
    return {n: (set(names) - {n} if n == OVERVIEW else set()) for n in names}


def costs_for_order(names, params: dict, executed_dir: Path, notebooks_dir: Path) -> dict[str, float]:
    """How long each notebook is expected to take, to start the longest first: its seconds when last run
    with these parameters (:func:`timings`); a notebook never run so far counts as longer than every
    timed one, and among those a later chapter of the book as the longer (the known-answer chapter and the
    protocol comparison, near the end, train the most)."""
    known = timings(names, params, executed_dir, notebooks_dir)
    top = max(known.values(), default=0.0)
    return {n: known[n] if n in known else top + 1 + i for i, n in enumerate(names)}


class _Current:
    """The handle of a notebook whose executed copy is current: finished before it starts."""

    def poll(self):
        return ("current", None)


class _Child:
    """One notebook executed by :func:`execute` in a Python process of its own (:func:`_execute_child`); the
    process's own stderr (papermill's warnings, the asyncio noise of a Ctrl-C) goes to
    ``.partial/<name>.process.log``, removed when the notebook succeeds."""

    def __init__(self, name: str, mine: dict, key: str, notebooks_dir: Path, executed_dir: Path, env: dict):
        import subprocess
        import tempfile

        self.name, self.t0, self.notebooks_dir = name, time.perf_counter(), notebooks_dir
        self.out = tempfile.TemporaryFile()
        (Path(executed_dir) / ".partial").mkdir(parents=True, exist_ok=True)
        self.log = Path(executed_dir) / ".partial" / f"{name}.process.log"
        task = {"name": name, "params": mine, "key": key, "notebooks_dir": str(notebooks_dir),
                "executed_dir": str(executed_dir)}
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", "import sys; from melib.study import "
                                          "_execute_child; _execute_child(sys.argv[1])", json.dumps(task)],
                                         stdout=self.out, stderr=err, env=env)

    def poll(self):
        rc = self.proc.poll()
        if rc is None:
            return None
        wall = time.perf_counter() - self.t0
        self.out.seek(0)
        lines = self.out.read().decode(errors="replace").strip().splitlines()
        self.out.close()
        if rc == 0:
            self.log.unlink(missing_ok=True)
            return ("done", wall)
        try:
            told = json.loads(lines[-1])
            return ("failed", wall, told["line"], told["refusal"])
        except (IndexError, ValueError, KeyError, TypeError):  # the process died before it could say
            line = f"the process executing it ended with exit status {rc}"
            return ("failed", wall, line, _refusal(self.name, RuntimeError(line), self.notebooks_dir))

    def stop(self, grace_s: float = 15.0, wait_s: float = 60.0) -> None:
        """Wait ``grace_s`` for the process to end (a terminal's Ctrl-C reached it too: it stops its kernel),
        else send it Ctrl-C, then kill it if it has not ended after ``wait_s`` more."""
        import signal
        import subprocess

        for step in (None, signal.SIGINT, signal.SIGKILL):
            if step is not None and self.proc.poll() is None:
                self.proc.send_signal(step)
            try:
                self.proc.wait(grace_s if step is None else wait_s)
                return
            except subprocess.TimeoutExpired:
                pass


def _execute_child(task: str) -> None:
    """In a process of its own: :func:`execute` one notebook (``task``: JSON of its name, parameters, run key
    and folders); a failure prints, as its last line, JSON of its ``Type: last line`` and of what the book says
    of it (:func:`_refusal`), and exits with 1; Ctrl-C exits with 130. It ends as soon as the runner that
    started it is gone (killed included); its kernel then ends with it."""
    from .parallel import exit_with_parent

    exit_with_parent(os.getppid())
    t = json.loads(task)
    try:
        execute(t["name"], t["params"], t["notebooks_dir"], t["executed_dir"], progress=False, key=t["key"])
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # papermill's PapermillExecutionError, a dead kernel, ...
        print(json.dumps({"line": _error_line(e), "refusal": _refusal(t["name"], e, t["notebooks_dir"])}))
        sys.exit(1)


def _child_env(jobs: int) -> dict:
    """The notebooks' environment: this one, melib importable from where this process imports it, and each
    notebook's worker pools (``melib.parallel``) cut to its share of the cores (``LOKY_MAX_CPU_COUNT``)."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([here, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.setdefault("LOKY_MAX_CPU_COUNT", str(max(1, cpu_count() // jobs)))
    return env


def _run_side_by_side(to_run, params, jobs, force, notebooks_dir, executed_dir,
                      progress) -> tuple[list[str], list[str], dict]:
    """Up to ``jobs`` notebooks at a time, each in a process of its own, after the notebooks it depends on
    (:func:`dependencies`), the longest first (:func:`costs_for_order`); one line as each starts and ends;
    returns what :func:`_run_in_order` does."""
    from . import schedule
    from .costs import hms

    env, fingerprints, done, t0 = _child_env(jobs), {}, [], time.perf_counter()

    def say(text: str) -> None:
        if progress:
            print(f"[{hms(time.perf_counter() - t0):>12}] {text}", flush=True)

    class Watched:
        def __init__(self, handle):
            self.handle = handle

        def poll(self):
            out = self.handle.poll()
            if out is not None and out[0] == "done":
                done.append(self.handle.name)
                say(f"done     {self.handle.name} in {hms(out[1])}")
            elif out is not None and out[0] == "failed":
                say(f"FAILED   {self.handle.name} after {hms(out[1])}: {out[2]}")
            return out

    def start(name: str):
        due = _due(name, params, force, notebooks_dir, executed_dir, fingerprints)
        if due is None:
            say(f"current  {name} (not re-run)")
            return _Current()
        say(f"start    {name}")
        return Watched(_Child(name, *due, notebooks_dir, executed_dir, env))

    say(f"{len(to_run)} notebooks, {jobs} at a time")
    try:
        outcomes = schedule.run(to_run, dependencies(to_run), start, jobs,
                                costs_for_order(to_run, params, executed_dir, notebooks_dir))
    except schedule.Interrupted as e:
        for w in e.running.values():
            if isinstance(w, Watched):
                w.handle.stop()
        raise _interrupted(list(e.running), executed_dir, done) from None
    failed = [n for n in to_run if outcomes[n][0] == "failed"]
    return ([_failure(n, outcomes[n][2], executed_dir) for n in failed], failed,
            {n: outcomes[n][3] for n in failed})


def run(profile: str = "default", data=None, device=None, notebooks=None, *, force: bool = False,
        jobs: int | None = None, book_dir=None, executed_dir=None, notebooks_dir=None, progress: bool = True,
        **overrides) -> Path:
    """Execute the study's notebooks and build the book; returns the HTML index (and prints where it is).

    ``profile``: smoke | default | paper; ``data``: None (the profile's), "synth", "real" or a folder;
    ``device``: None (the profile's), "cpu", "cuda", "auto"; ``notebooks``: names to run (default: every
    chapter of ``book/_toc.yml`` that has a notebook); ``overrides``: any other notebook parameter (dataset,
    scheme, protocol, epochs, frame_size, seed, plan, show_real_frames), each sent to the notebooks whose
    chapter takes it (:func:`notebook_parameters`). A notebook whose executed copy is newer than its source
    and melib's code, with the same parameters and data (:func:`run_key`), is not re-run unless ``force``.
    A device this machine lacks and a plan count that is not an integer are refused before anything runs.
    Chapters without a notebook yet get a placeholder page (and are listed). When a notebook fails, the
    others still run and the book is built without it (its last complete executed copy is kept, left out of
    the book); then :class:`StudyError` is raised. Ctrl-C while a notebook runs raises
    :class:`StudyInterrupted`, whose message says what was kept and where. ``jobs``: notebooks run side by
    side (default: one per core; :func:`_run_side_by_side`); 1: one after the other in book order, in this
    process. Either way each notebook computes the same results.
    """
    from . import book

    book_dir = Path(book_dir or BOOK_DIR)
    notebooks_dir = Path(notebooks_dir or NOTEBOOKS_DIR)
    executed_dir = Path(executed_dir or notebooks_dir / "executed")
    params = papermill_parameters(profile, data=data, device=device, **overrides)
    p = _resolved(params)
    config.check_available(p.device)
    if p.data == "real" and not (p.datasets() or configured()):
        samples(p)  # raises the ConfigError that says how to point melib at the releases
    to_run, missing = notebooks_to_run(notebooks, book_dir, notebooks_dir)
    check_chapters(to_run, params)
    if p.data == "synth":
        ensure_synth(p, progress=progress)  # once, before the notebooks, with its own progress bar
    jobs = n_workers(jobs)
    if jobs == 1 or len(to_run) < 2:
        failures, failed, refused = _run_in_order(to_run, params, force, notebooks_dir, executed_dir, progress)
    else:
        failures, failed, refused = _run_side_by_side(to_run, params, jobs, force, notebooks_dir, executed_dir, progress)
    if missing:
        print(f"not written yet (placeholder pages): {', '.join(missing)}")
    index = book.build_book(book_dir, executed_dir=executed_dir, missing="placeholder", leave_out=failed,
                            refused=refused)
    print(f"book: {index}  (open file://{index.resolve()})")
    if failures:
        raise StudyError("notebook(s) failed; the book was built without them:\n  " + "\n  ".join(failures))
    return index


def timings(names, params: dict, executed_dir=None, notebooks_dir=NOTEBOOKS_DIR) -> dict[str, float]:
    """Seconds each notebook of ``names`` took when last executed with ``params`` (its ``wall_s``; papermill's
    duration for a copy executed before it was recorded); notebooks run with other parameters are left out."""
    import nbformat

    executed_dir = Path(executed_dir or Path(notebooks_dir) / "executed")
    out, fingerprints = {}, {}
    for name in names:
        path = executed_dir / f"{name}.ipynb"
        if not path.is_file():
            continue
        meta = nbformat.read(path, as_version=4).metadata
        if meta.get("melib", {}).get("run_key") == run_key(notebook_parameters(name, params), fingerprints):
            wall = meta["melib"].get("wall_s", meta.get("papermill", {}).get("duration"))
            if wall is not None:
                out[name] = float(wall)
    return out


def plan(profile: str = "default", data=None, device=None, notebooks=None, *, calibration=None,
         book_dir=None, notebooks_dir=None, progress: bool = True, **overrides):
    """``melib study --plan``: every training the notebooks would make (:func:`melib.costs.planned`) and the
    estimated time (:func:`melib.costs.estimate`, with :class:`melib.calibration.Calibration` on the
    parameters' device, or the calibration file ``calibration`` of another machine); returns
    ``(plan, estimate, text)``, the text with the last run's seconds beside the estimate where they match."""
    from . import calibration as cal_mod
    from . import costs

    external = cal_mod.load_file(calibration) if calibration else None
    notebooks_dir = Path(notebooks_dir or NOTEBOOKS_DIR)
    params = papermill_parameters(profile, data=data, device=device, **overrides)
    p = _resolved(params)
    if not external:  # priced with a calibration measured here, on the device
        config.check_available(p.device)
    to_run, _ = notebooks_to_run(notebooks, Path(book_dir or BOOK_DIR), notebooks_dir)
    check_chapters(to_run, params)
    if p.data == "synth":
        ensure_synth(p, progress=progress)
    the_plan = costs.planned([(n, notebook_parameters(n, params)) for n in to_run], progress=progress)
    cal = cal_mod.Calibration("cpu" if external else p.device, external=external)  # local part: CPU
    est = costs.estimate(the_plan, cal, progress=progress)
    return the_plan, est, costs.report(the_plan, est, timings(to_run, params, notebooks_dir=notebooks_dir))


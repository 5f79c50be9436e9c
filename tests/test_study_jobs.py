"""``melib study --jobs``: notebooks side by side (melib.schedule, melib.study._run_side_by_side), in dependency
order, the longest first, failures reported as in a serial run, and the same results as a serial run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from melib import schedule, study
from melib.errors import ConfigError
from processes import still_running

ROOT = Path(__file__).resolve().parents[1]


# ---- the scheduler, on jobs that take no time --------------------------------------------------------------

class Job:
    """A fake job that ends after ``polls`` polls; the log records each start and end with the jobs running."""

    def __init__(self, name, polls, log, running):
        self.name, self.left, self.log, self.running = name, polls, log, running
        running.add(name)
        log.append(("start", name, frozenset(running)))

    def poll(self):
        self.left -= 1
        if self.left > 0:
            return None
        self.running.discard(self.name)
        self.log.append(("end", self.name, frozenset(self.running)))
        return f"outcome of {self.name}"


def run_fake(names, deps, jobs, cost, polls):
    log, running = [], set()
    out = schedule.run(names, deps, lambda n: Job(n, polls[n], log, running), jobs, cost, poll_s=0)
    return out, log


def test_the_longest_ready_job_starts_first_and_dependencies_wait():
    names = ["a", "b", "c", "d", "overview"]
    deps = {"overview": {"a", "b", "c", "d"}, "c": {"a"}}
    cost = {"a": 1, "b": 5, "c": 100, "d": 3, "overview": 0}
    out, log = run_fake(names, deps, 2, cost, {"a": 2, "b": 5, "c": 3, "d": 1, "overview": 1})
    assert out == {n: f"outcome of {n}" for n in names}
    starts = [n for kind, n, _ in log if kind == "start"]
    assert starts[:2] == ["b", "d"]  # c (the costliest) waits for a; b and d are the costliest ready
    ended = []
    for kind, name, running in log:
        assert len(running) <= 2
        if kind == "end":
            ended.append(name)
        else:
            assert deps.get(name, set()) <= set(ended), f"{name} started before {deps[name] - set(ended)} ended"
    assert starts[-1] == "overview" and log[-1] == ("end", "overview", frozenset())
    # one at a time: dependency order, else the given order among equal costs
    out, log = run_fake(names, deps, 1, None, {n: 1 for n in names})
    assert [n for kind, n, _ in log if kind == "start"] == ["a", "b", "c", "d", "overview"]
    assert all(len(r) <= 1 for _, _, r in log)


def test_a_cycle_and_a_bad_job_count_are_refused():
    with pytest.raises(ConfigError, match="a, b depend on each other"):
        schedule.run(["a", "b"], {"a": {"b"}, "b": {"a"}}, lambda n: None, 2)
    with pytest.raises(ConfigError, match="positive integer"):
        schedule.run(["a"], {}, lambda n: None, 0)
    assert schedule.order(["x", "y"], {"x": {"y", "not-run"}}) == ["y", "x"]


def test_the_overview_waits_for_every_chapter():
    deps = study.dependencies(["00_datasets", "10_dlhn", study.OVERVIEW])
    assert deps == {"00_datasets": set(), "10_dlhn": set(), study.OVERVIEW: {"00_datasets", "10_dlhn"}}


# ---- side by side, on tiny notebooks -----------------------------------------------------------------------

def notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    given = nbformat.v4.new_code_cell('profile = "smoke"\ndata = None')
    given.metadata["tags"] = ["parameters"]
    nb.cells = [given, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def stamp(base: Path, name: str, seconds: float) -> str:
    """A cell that records when it starts and ends (``<base>/<name>.json``) and prints a result."""
    return (f"import json, time\nt0 = time.time()\ntime.sleep({seconds})\n"
            f"open({str(base / (name + '.json'))!r}, 'w').write(json.dumps([t0, time.time()]))\n"
            f"print('result of {name}', profile)")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Three notebooks named like chapters (the overview last) in a folder, and the book stubbed out."""
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name, seconds in (("00_datasets", 4), ("01_preprocessing", 4), (study.OVERVIEW, 0)):
        notebook(nbs / f"{name}.ipynb", stamp(tmp_path, name, seconds))
    built = []
    monkeypatch.setattr("melib.book.build_book", lambda *a, **k: built.append(k) or tmp_path / "index.html")
    (tmp_path / "clips").mkdir()
    return nbs, built


def outputs(executed: Path, name: str) -> list:
    nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
    return [o.get("text") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_notebooks_run_side_by_side_in_dependency_order(tiny, tmp_path, capsys):
    nbs, built = tiny
    names = ["00_datasets", "01_preprocessing", study.OVERVIEW]
    kw = dict(notebooks=names, data=str(tmp_path / "clips"), notebooks_dir=nbs)
    study.run("smoke", jobs=2, executed_dir=tmp_path / "par", **kw)
    t = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in names}
    assert t["01_preprocessing"][0] < t["00_datasets"][1] and t["00_datasets"][0] < t["01_preprocessing"][1]
    assert t[study.OVERVIEW][0] >= max(t["00_datasets"][1], t["01_preprocessing"][1])
    lines = capsys.readouterr().out.splitlines()
    assert sum(" start " in line for line in lines) == 3 and sum(" done " in line for line in lines) == 3, lines
    assert not (tmp_path / "par" / ".partial" / "00_datasets.ipynb").exists()  # written, then renamed
    # the same notebooks one after the other: the same outputs, the same run keys and parameters
    study.run("smoke", jobs=1, executed_dir=tmp_path / "ser", progress=False, **kw)
    for n in names:
        assert outputs(tmp_path / "par", n) == outputs(tmp_path / "ser", n) == [f"result of {n} smoke\n"]
        par = nbformat.read(tmp_path / "par" / f"{n}.ipynb", as_version=4).metadata
        ser = nbformat.read(tmp_path / "ser" / f"{n}.ipynb", as_version=4).metadata
        assert par["melib"]["run_key"] == ser["melib"]["run_key"]
        assert par["papermill"]["parameters"] == ser["papermill"]["parameters"]
    # current copies are not re-run
    before = {n: (tmp_path / "par" / f"{n}.ipynb").stat().st_mtime_ns for n in names}
    study.run("smoke", jobs=2, executed_dir=tmp_path / "par", **kw)
    assert before == {n: (tmp_path / "par" / f"{n}.ipynb").stat().st_mtime_ns for n in names}
    assert sum(" current " in line for line in capsys.readouterr().out.splitlines()) == 3
    assert len(built) == 3


@pytest.mark.slow  # six kernels: 30 s to 2 min on the shared 2 cores
def test_a_failing_notebook_side_by_side_is_reported_as_in_a_serial_run(tiny, tmp_path):
    nbs, built = tiny
    notebook(nbs / "01_preprocessing.ipynb", "raise ValueError('planted failure')")
    names = ["00_datasets", "01_preprocessing", study.OVERVIEW]
    messages = {}
    for jobs in (1, 2):
        executed = tmp_path / f"executed{jobs}"
        with pytest.raises(study.StudyError) as err:
            study.run("smoke", jobs=jobs, notebooks=names, data=str(tmp_path / "clips"), notebooks_dir=nbs,
                      executed_dir=executed, progress=False)
        messages[jobs] = str(err.value).replace(str(executed), "EXECUTED")
        assert built[-1]["leave_out"] == ["01_preprocessing"]
        assert (executed / ".partial" / "01_preprocessing.kernel.log").is_file()
        assert (executed / "00_datasets.ipynb").is_file() and (executed / f"{study.OVERVIEW}.ipynb").is_file()
    assert messages[1] == messages[2]
    assert "01_preprocessing: PapermillExecutionError: ValueError: planted failure" in messages[2]


INTERRUPTED = """
import sys
from pathlib import Path
from melib import cli, study

base = Path(sys.argv[1])
study.BOOK_DIR = Path(sys.argv[2])
sys.exit(cli.main(["study", "--profile", "smoke", "--data", str(base / "clips"), "--jobs", "2",
                   "--notebooks", "00_datasets", "01_preprocessing"]))
"""


@pytest.mark.slow  # two kernels started, then interrupted: 30 s to 90 s on the shared 2 cores
def test_ctrl_c_side_by_side_stops_every_notebook_in_one_line(tmp_path):
    """Ctrl-C (SIGINT to the process group) while two notebooks run side by side: one line naming both, no
    traceback, both kernels stopped."""
    fake = tmp_path / "nbs"
    fake.mkdir()
    for name in ("00_datasets", "01_preprocessing"):
        notebook(fake / f"{name}.ipynb", "import os, time\n"
                 f"open({str(tmp_path / (name + '.pid'))!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)")
    script = tmp_path / "study.py"
    script.write_text(INTERRUPTED.replace("from melib import cli, study\n",
                                          f"from melib import cli, study\nstudy.NOTEBOOKS_DIR = Path({str(fake)!r})\n"))
    (tmp_path / "clips").mkdir()
    env = {**os.environ, "MELIB_HOME": str(tmp_path), "MELIB_CONFIG": str(tmp_path / "absent.yaml"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(ROOT / "book")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids = [tmp_path / "00_datasets.pid", tmp_path / "01_preprocessing.pid"]
    try:
        deadline = time.monotonic() + 300  # two kernels starting on a busy machine
        while not all(p.exists() and p.read_text() for p in pids):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=60)
            time.sleep(0.2)
        kernels = [int(p.read_text()) for p in pids]
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if "melib" in line]
    assert len(lines) == 1 and lines[0].startswith("melib: interrupted while executing "), err
    partial = fake / "executed" / ".partial"
    for name in ("00_datasets", "01_preprocessing"):
        assert name in lines[0] and str(partial / f"{name}.ipynb") in lines[0] and (partial / f"{name}.ipynb").is_file()
    assert not still_running(kernels, within=10), "a kernel outlived the interrupted study"


# ---- the smoke study, serial and side by side --------------------------------------------------------------

def _records(runs: Path) -> dict:
    """{record path: its model, folds, labels, metrics and predictions} (what a training decides)."""
    out = {}
    for f in sorted(runs.rglob("fold*.json")):
        rec = json.loads(f.read_text())
        out[str(f.relative_to(runs))] = {k: rec.get(k) for k in ("model", "fold", "labels", "metrics", "predictions")}
    return out


def _checked_outputs(executed: Path) -> dict:
    """The outputs of every cell nbval compares (tagged nbval-check-output), per notebook."""
    out = {}
    for f in sorted(executed.glob("*.ipynb")):
        nb = nbformat.read(f, as_version=4)
        out[f.stem] = [[o.get("text") or o.get("data", {}).get("text/plain") for o in c.get("outputs", [])]
                       for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    return out


@pytest.mark.slow
def test_the_smoke_study_side_by_side_equals_the_serial_one(tmp_path, monkeypatch, synth_small):
    """Every notebook of the book on the smoke profile, once with --jobs 1 and once with --jobs 2, each in a
    home of its own: the same run records (metrics and predictions of every fold), the same kept headlines
    and the same outputs of the checked cells."""
    monkeypatch.setattr("melib.book.build_book", lambda *a, **k: tmp_path / "index.html")
    homes = {}
    for jobs in (1, 2):
        home = homes[jobs] = tmp_path / f"home{jobs}"
        home.mkdir()
        monkeypatch.setenv("MELIB_HOME", str(home))
        study.run("smoke", data=str(synth_small), jobs=jobs, executed_dir=home / "executed", progress=False)
    assert _records(homes[1] / "runs") == _records(homes[2] / "runs") != {}
    heads = {j: {f.name: f.read_text() for f in (homes[j] / "runs" / "headlines").rglob("*.csv")} for j in homes}
    assert heads[1] == heads[2] != {}
    assert _checked_outputs(homes[1] / "executed").keys() == set(study.notebooks_to_run()[0])
    shown = {j: json.dumps(_checked_outputs(homes[j] / "executed")).replace(str(homes[j]), "HOME") for j in homes}
    assert shown[1] == shown[2]

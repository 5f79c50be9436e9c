"""melib.ledger: one record per measured unit, from a clean tree, with the code that ran; stale once it changes."""
from __future__ import annotations

import json
import shlex
import subprocess

import numpy as np
import pandas as pd
import pytest

from melib import ledger, recipes
from melib.errors import ConfigError
from melib.experiments import known_answer as ka

CALLS: list[dict] = []


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A committed git tree standing for melib's, and a ledger root outside it."""
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q")
    (r / "code.py").write_text("x = 1\n")
    _git(r, "add", "code.py")
    _git(r, "commit", "-q", "-m", "first")
    monkeypatch.setattr(ledger, "REPO", r)
    return r


def _frames(tmp_path):
    out = []
    for i in range(3):
        f = tmp_path / f"frame{i}.png"
        f.write_bytes(bytes([i]) * 16)
        out.append(str(f))
    return out


def mean_of(samples: pd.DataFrame, n: int, seed: int) -> dict:
    """A cheap measurement: a seeded mean of ``n`` draws plus the clips' count."""
    CALLS.append({"n": n, "seed": seed})
    if n < 0:
        raise KeyboardInterrupt  # an interrupted sweep
    return {"value": float(np.random.default_rng(seed).normal(size=n).mean()), "clips": len(samples)}


def mean_of_changed(samples: pd.DataFrame, n: int, seed: int) -> dict:
    """The same measurement after a code change."""
    return {"value": 0.0, "clips": len(samples)}


@pytest.fixture
def toy(tmp_path):
    """A registered cheap measurement (``toy``) whose clips are three tiny frame files; removed afterwards."""
    frames = _frames(tmp_path)
    samples = pd.DataFrame({"dataset": ["synth"], "subject": ["s1"], "clip": ["c1"], "label": ["negative"],
                            "frames": [frames]})

    def make(fn):
        m = ledger.Measurement(name="toy", fn=fn, data=lambda p: samples, defaults={"n": 10, "seed": 0},
                               units=lambda: [{"n": 10, "seed": s} for s in (0, 1)] + [{"n": -1, "seed": 2}],
                               doc="a toy")
        ledger.REGISTRY.pop("toy", None)
        return ledger.register(m)

    ledger.measurements()
    CALLS.clear()
    yield make
    ledger.REGISTRY.pop("toy", None)


def test_a_record_says_what_where_and_with_which_code(repo, toy, tmp_path):
    toy(mean_of)
    root = tmp_path / "ledger"
    rec = ledger.run("toy", {"n": 5, "seed": 3}, root=root)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert rec["tree"] == "clean" and rec["commit"] == head
    assert rec["params"] == {"n": 5, "seed": 3} and rec["result"]["clips"] == 1
    assert rec["result"]["value"] == pytest.approx(np.random.default_rng(3).normal(size=5).mean())
    assert len(rec["code_hash"]) == 64 and len(rec["data_hash"]) == 64 and rec["wall_s"] >= 0
    assert rec["machine"]["cores"] >= 1 and rec["machine"]["cpu"]
    assert set(ledger.VERSIONS) <= set(rec["versions"]) and rec["versions"]["numpy"] == np.__version__
    assert rec["seeds"] == {"study": 3}
    args = shlex.split(rec["command"])
    assert args[:5] == ["python", "-m", "melib.ledger", "run", "toy"]
    assert ledger.measurement("toy").params(ledger.parse_pairs(args[6::2])) == rec["params"]
    assert ledger.records("toy", root) == [rec]
    t = ledger.table("toy", root)
    assert t["state"].tolist() == ["current"] and t["record"].iloc[0] == f"current (commit {head[:7]})"
    # the same unit is not run again while its record is current; force runs it and replaces the record
    CALLS.clear()
    assert ledger.run("toy", {"n": 5, "seed": 3}, root=root) == rec and not CALLS
    ledger.run("toy", {"n": 5, "seed": 3}, root=root, force=True)
    assert len(CALLS) == 1 and len(ledger.records("toy", root)) == 1
    # the data's hash follows the frames' bytes
    frames = ledger.measurement("toy").data({})["frames"].iloc[0]
    before = ledger.data_hash(ledger.measurement("toy").data({}))
    with open(frames[0], "ab") as fh:
        fh.write(b"x")
    assert ledger.data_hash(ledger.measurement("toy").data({})) != before


def test_a_code_change_makes_the_record_stale(repo, toy, tmp_path):
    toy(mean_of)
    root = tmp_path / "ledger"
    ledger.run("toy", {"n": 5}, root=root)
    assert ledger.stale(root).query("measurement == 'toy'").empty
    toy(mean_of_changed)
    t = ledger.table("toy", root)
    assert t["state"].tolist() == ["stale"] and t["record"].iloc[0].startswith("stale: the code changed since commit")
    s = ledger.stale(root)
    assert s[s["measurement"] == "toy"]["state"].tolist() == ["stale"]
    CALLS.clear()
    ledger.run("toy", {"n": 5}, root=root)  # a stale record is measured again
    assert ledger.table("toy", root)["state"].tolist() == ["current"]


def test_a_dirty_tree_is_refused_and_the_override_stays_out_of_the_stored_ledger(repo, toy, tmp_path):
    toy(mean_of)
    (repo / "code.py").write_text("x = 2\n")
    root = tmp_path / "ledger"
    with pytest.raises(ConfigError, match=r"uncommitted changes \(code.py\)"):
        ledger.run("toy", {"n": 5}, root=root)
    assert not CALLS and not ledger.path_of("toy", root).exists()
    with pytest.raises(ConfigError, match="allow_dirty is for tests"):
        ledger.run("toy", {"n": 5}, allow_dirty=True)
    rec = ledger.run("toy", {"n": 5}, root=root, allow_dirty=True)
    assert rec["tree"] == "dirty (test)" and ledger.table("toy", root)["state"].tolist() == ["dirty"]
    _git(repo, "commit", "-qam", "second")
    (repo / "new.py").write_text("")  # an untracked file counts too
    with pytest.raises(ConfigError, match="new.py"):
        ledger.run("toy", {"n": 6}, root=root)


def test_a_tree_that_changes_during_the_run_stores_nothing(repo, toy, tmp_path):
    def edits(samples, n, seed):
        (repo / "code.py").write_text("x = 3\n")
        return {"value": 1.0}

    toy(edits)
    with pytest.raises(ConfigError, match="the tree changed while toy ran"):
        ledger.run("toy", {"n": 5}, root=tmp_path / "ledger")
    assert ledger.records("toy", tmp_path / "ledger") == []


def test_an_interrupted_sweep_resumes_where_it_stopped(repo, toy, tmp_path):
    toy(mean_of)
    root = tmp_path / "ledger"
    with pytest.raises(KeyboardInterrupt):
        ledger.sweep("toy", root=root, progress=None)
    assert [c["seed"] for c in CALLS] == [0, 1, 2] and len(ledger.records("toy", root)) == 2
    CALLS.clear()
    ledger.sweep("toy", only={"seed": 1}, root=root, progress=None)
    assert CALLS == []  # recorded and current: not run again
    with pytest.raises(ConfigError, match="no parameter"):
        ledger.units("toy", only={"epochs": 3})


def test_rows_from_before_the_ledger_are_never_current(toy, tmp_path):
    toy(mean_of)
    rows = pd.DataFrame([{"n": 1, "seed": 0, "value": 0.5, "commit": "ccb0bdd+changes", "date": "2026-12-01"},
                         {"n": 1, "seed": 1, "value": 0.4, "commit": "26d6c3b/ccb0bdd", "date": "2026-12-01"},
                         {"n": 1, "seed": 2, "value": 0.4, "commit": "811cd58", "date": "2026-12-01"}])
    ledger.migrate("toy", rows, lambda r: {"n": r["n"], "seed": r["seed"]}, lambda r: {"value": r["value"]},
                   root=tmp_path)
    t = ledger.table("toy", tmp_path).sort_values("seed")
    assert (t["state"] == "unverifiable").all()
    assert t["record"].tolist() == [
        "unverifiable: uncommitted tree (recorded before the ledger), commit ccb0bdd+changes, no code hash",
        "unverifiable: mixed commits (recorded before the ledger), commit 26d6c3b/ccb0bdd, no code hash",
        "unverifiable: committed tree, recorded before the ledger, commit 811cd58, no code hash"]


def test_the_stored_ledger_marks_every_pre_ledger_row_and_its_views_are_current(tmp_path):
    """The committed records: a row of an uncommitted tree or of mixed commits is not taken for clean, and the
    CSV views (melib/data/*.csv) are what the records regenerate."""
    for name in ("known_answer_seeds", "recipe_checks"):
        recs = ledger.records(name)
        assert recs, name
        for r in recs:
            if "+changes" in str(r["commit"]) or "/" in str(r["commit"]):
                assert r["tree"] != "clean" and ledger.state(r, "x") == "unverifiable", r["key"]
            if r["tree"] == "clean":
                assert len(r["code_hash"]) == 64 and r["command"].startswith("python -m melib.ledger run")
        m = ledger.measurement(name)
        fresh = ledger.export(name, to=tmp_path / f"{name}.csv")
        assert fresh.read_text() == m.view.path.read_text(), f"{m.view.path} is stale: python -m melib.ledger export"
    assert {r["params"]["method"] for r in ledger.records("known_answer_seeds")} == {*ka.PAPER_MODELS, *ka.COMPOSITE_MODELS}
    assert ledger.path_of("recipe_checks").parent == recipes.CHECKS_FILE.parent / "ledger"


def test_the_registered_measurements_name_their_code_and_sweeps():
    ms = ledger.measurements()
    assert {"known_answer_seeds", "recipe_checks", "deviation_effect"} <= set(ms)
    seeds = ms["known_answer_seeds"]
    a = ledger.code_hash(seeds, seeds.params({"method": "psn"}))
    assert a != ledger.code_hash(seeds, seeds.params({"method": "c3d_model_a"}))  # the model's code counts
    assert a == ledger.code_hash(seeds, seeds.params({"method": "psn", "seed": 4}))
    assert {json.dumps(u, sort_keys=True) for u in ledger.units("known_answer_seeds", only={"seed": 0})} == {
        json.dumps(seeds.params({"method": m, "amplitude": amp, "seed": 0}), sort_keys=True)
        for m in (*ka.PAPER_MODELS, *ka.COMPOSITE_MODELS) for amp in (3.0, 0.0)}
    own = ledger.units("recipe_checks", only={"recipe": "paper"})
    assert {u["paper"] for u in own} == set(recipes.MAIN)
    with pytest.raises(ConfigError, match="no parameter"):
        seeds.params({"epochs": 3})


def test_records_of_one_unit_on_two_machines_stay_side_by_side(repo, toy, tmp_path, monkeypatch):
    """A unit measured on another CPU kind keeps the first kind's record; the same kind replaces its own; a
    record without code (before the ledger) is replaced by any clean one."""
    toy(mean_of)
    root = tmp_path / "ledger"
    legacy = {"measurement": "toy", "params": {"n": 5, "seed": 0}, "key": ledger.key({"n": 5, "seed": 0}),
              "result": {"value": 9.0}, "tree": "uncommitted tree (recorded before the ledger)", "device": "CPU old"}
    ledger.store(legacy, root)
    monkeypatch.setattr(ledger, "device_name", lambda d: "CPU kind A (2 cores)")
    a = ledger.run("toy", {"n": 5}, root=root)
    assert ledger.records("toy", root) == [a]
    monkeypatch.setattr(ledger, "device_name", lambda d: "CPU kind B (2 cores)")
    CALLS.clear()
    ledger.run("toy", {"n": 5}, root=root)
    assert len(CALLS) == 1, "a record of another CPU kind does not stand for this one"
    assert sorted(r["device"] for r in ledger.records("toy", root)) == ["CPU kind A (2 cores)", "CPU kind B (2 cores)"]
    ledger.run("toy", {"n": 5}, root=root, force=True)
    assert len(ledger.records("toy", root)) == 2 and len(CALLS) == 2
    assert [r["device"] for r in ledger.records("toy", root)].count("CPU kind B (2 cores)") == 1


def _store_many(root: str, start: int) -> None:
    for i in range(start, start + 40):
        ledger.store({"measurement": "toy", "params": {"n": i}, "key": str(i), "result": {}, "tree": "clean",
                      "device": "d"}, root)


def test_stores_side_by_side_keep_every_record(tmp_path):
    """Two processes storing records of one measurement at once (the lock): none is lost."""
    import multiprocessing as mp

    root = str(tmp_path / "ledger")
    ps = [mp.get_context("fork").Process(target=_store_many, args=(root, s)) for s in (0, 1000)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert all(p.exitcode == 0 for p in ps)
    assert len(ledger.records("toy", root)) == 80


def test_the_code_hash_does_not_depend_on_where_the_checkout_lies(tmp_path):
    """The same code in two checkouts (a worktree, CI's clone) hashes alike, though ``__file__`` differs; a
    change to the code still changes the hash."""
    import importlib.util
    import sys

    from melib.preprocess.codehash import code_hash

    def load(folder, body):
        pkg = tmp_path / folder / "hashpkg"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "mod.py").write_text(body)
        for name in ("hashpkg", "hashpkg.mod"):
            sys.modules.pop(name, None)
        sys.path.insert(0, str(tmp_path / folder))
        try:
            return importlib.import_module("hashpkg.mod").where
        finally:
            sys.path.pop(0)
            for name in ("hashpkg", "hashpkg.mod"):
                sys.modules.pop(name, None)

    body = "from pathlib import Path\n\ndef where():\n    return Path(__file__).parent / 'data'\n"
    a, b = load("a", body), load("b", body)
    assert a.__globals__["__file__"] != b.__globals__["__file__"]
    assert code_hash(a) == code_hash(b)
    assert code_hash(load("c", body.replace("'data'", "'other'"))) != code_hash(a)

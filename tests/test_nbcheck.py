"""The outputs nbval compares (melib.nbcheck, notebooks/nbval_sanitize.cfg): every notebook stores the outputs of
its checked cells and of no other, and a stored count that the notebook no longer prints fails nbval."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from melib import nbcheck
from melib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_stores_the_outputs_of_its_checked_cells_only(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = [c for c in code if nbcheck.is_checked(c)]
    assert checked, f"{path.name}: no cell marked '# {nbcheck.MARKER}'"
    assert all(not c.outputs and c.execution_count is None for c in code if not nbcheck.is_checked(c)), \
        f"{path.name}: an unchecked cell is stored with outputs"
    for c in checked:  # nbval compares only a cell stored as run (an execution count) with its outputs
        assert c.outputs and c.execution_count, f"{path.name}: checked cell stored without outputs:\n{c.source}"
        kinds = {o.output_type for o in c.outputs}
        assert "error" not in kinds
        # a stderr stream (a progress bar, a warning) differs between a cold and a warm cache
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in c.outputs)
        assert not any(k.startswith("image/") for o in c.outputs for k in o.get("data", {})), \
            "images are not compared: a checked cell shows tables and text"
        assert "parameters" not in c.metadata.get("tags", [])  # papermill's injected values would differ


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), *[nbformat.v4.new_code_cell(s) for s in cells]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_is_checked_reads_the_comment_and_the_tag():
    nb = _nb("# NBVAL_CHECK_OUTPUT\nprint(1)", "print(2)  # NBVAL_CHECK_OUTPUT is only a comment line", "print(3)",
             "x = '# NBVAL_CHECK_OUTPUT'")
    nb.cells[3].metadata["tags"] = ["nbval-check-output"]
    assert [nbcheck.is_checked(c) for c in nb.cells] == [False, True, False, True, False]


def test_keep_checked_stores_the_checked_outputs_and_clears_the_rest():
    stored = _nb("# NBVAL_CHECK_OUTPUT\n14", "print('trained')")
    ran = nbformat.from_dict(nbformat.v4.reads(nbformat.v4.writes(stored)))
    ran.cells[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "14"}, execution_count=3)]
    ran.cells[1].execution_count = 3
    ran.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="trained\n")]
    ran.cells[2].execution_count = 4
    kept = nbcheck.keep_checked(stored, ran)
    assert kept.cells[1].outputs[0]["data"] == {"text/plain": "14"} and kept.cells[1].execution_count == 3
    assert kept.cells[2].outputs == [] and kept.cells[2].execution_count is None
    assert stored.cells[1].outputs == []  # the stored notebook itself is untouched
    nbformat.validate(kept)
    other = _nb("# NBVAL_CHECK_OUTPUT\n15", "print('trained')")
    with pytest.raises(ConfigError, match="cells differ"):
        nbcheck.keep_checked(other, ran)


def test_refresh_refuses_a_notebook_with_nothing_checked(tmp_path):
    path = tmp_path / "n.ipynb"
    nbformat.write(_nb("print(1)"), path)
    with pytest.raises(ConfigError, match="NBVAL_CHECK_OUTPUT"):
        nbcheck.refresh(path)


def test_sanitize_file_is_read_by_nbval_and_replaces_what_varies():
    patterns = get_sanitize_patterns(nbcheck.SANITIZE.read_text())
    assert len(patterns) >= 5

    def clean(s):
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s

    assert clean("<Foo object at 0x7f3a2b1c9d80>") == clean("<Foo object at 0x55d1e2f3a4b0>")
    assert clean("ran 2024-05-01T12:03:44 on /home/ann/melib/runs/x.json") == \
        clean("ran 2025-01-31 09:00:01 on /work/ci/melib/runs/x.json")
    assert clean("took 3.25 s") == clean("took 12.7 s")
    assert clean("share 0.33333333") == clean("share 0.33333334") == "share 0.33"
    # what is compared stays: counts, relative paths, and a share that differs in its first two decimals
    assert clean("14 clips, 2 subjects") == "14 clips, 2 subjects"
    assert clean("data root data/synth-smoke") == "data root data/synth-smoke"
    assert clean("share 0.34") != clean("share 0.33")


def _nbval(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--nbval-lax", "--nbval-sanitize-with", str(nbcheck.SANITIZE), str(path)],
                          cwd=path.parent, capture_output=True, text=True, timeout=300)


def test_refreshed_outputs_pass_nbval_and_a_wrong_stored_count_fails_it(tmp_path):
    path = tmp_path / "counts.ipynb"
    nbformat.write(_nb("import pandas as pd\nclips = pd.DataFrame({'clips': [14, 12]}, index=['casme2', 'samm'])",
                       "# NBVAL_CHECK_OUTPUT\nprint(object())\nclips",
                       "print('not compared', object())"), path)
    assert nbcheck.refresh(path, timeout=120) == 1
    nb = nbformat.read(path, as_version=4)
    assert "0x" in nb.cells[2].outputs[0].text and nb.cells[3].outputs == []  # the address is sanitized
    res = _nbval(path)
    assert res.returncode == 0, res.stdout + res.stderr
    for o in nb.cells[2].outputs:
        if o.output_type == "execute_result":
            o.data["text/plain"] = o.data["text/plain"].replace("14", "15")
            o.data["text/html"] = o.data["text/html"].replace("14", "15")
    nbformat.write(nb, path)
    res = _nbval(path)
    assert res.returncode == 1 and "15" in res.stdout and "1 failed" in res.stdout, res.stdout + res.stderr

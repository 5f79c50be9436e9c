"""The notebook outputs that nbval compares.

``pytest --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks`` runs every cell of every
notebook and compares the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (or tagged
``nbval-check-output``) with the outputs stored in the notebook, after the sanitize file's substitutions.
Only cells whose output does not depend on training are marked: clip and class counts, folds and their subject
overlap, resolved parameters. Those cells are stored with the outputs of a run on the smoke profile (the
notebooks' stored parameters); every other cell is stored without outputs.

``python -m melib.nbcheck notebooks/00_datasets.ipynb ...`` re-runs notebooks on their stored parameters (kernel
in ``notebooks/``, as under nbval) and stores the marked cells' new outputs: run it when a checked count changes
on purpose, and read the diff.
"""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

from .errors import ConfigError
from .params import NOTEBOOKS_DIR

MARKER = "NBVAL_CHECK_OUTPUT"
TAG = "nbval-check-output"
SANITIZE = NOTEBOOKS_DIR / "nbval_sanitize.cfg"


def is_checked(cell) -> bool:
    """Whether nbval compares ``cell``'s outputs under ``--nbval-lax``: a code cell with a ``# NBVAL_CHECK_OUTPUT``
    comment line or the ``nbval-check-output`` tag."""
    if cell.get("cell_type") != "code":
        return False
    marked = any(line.strip().lstrip("#").strip() == MARKER
                 for line in cell.get("source", "").splitlines() if line.strip().startswith("#"))
    return marked or TAG in cell.get("metadata", {}).get("tags", [])


def keep_checked(stored, executed):
    """A copy of the notebook ``stored`` whose checked cells carry the outputs and execution counts of the same
    cells in ``executed`` (a run of ``stored``; nbval compares only a cell stored as run) and whose other code
    cells carry neither."""
    if [c.get("source") for c in stored.cells] != [c.get("source") for c in executed.cells]:
        raise ConfigError("the executed notebook is not a run of the stored one (their cells differ)")
    out = copy.deepcopy(stored)
    for cell, ran in zip(out.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        checked = is_checked(cell)
        cell.execution_count = ran.execution_count if checked else None
        cell.outputs = copy.deepcopy(ran.outputs) if checked else []
    return out


def execute(path, timeout: int | None = None):
    """``path`` run top to bottom on its stored parameters, its kernel started in the notebook's folder (as nbval
    starts it), returned without being written anywhere."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def refresh(path, timeout: int | None = None) -> int:
    """Run the notebook ``path`` and store its checked cells' outputs in it (written to a temporary name, then
    renamed); returns how many cells are checked. A notebook with no checked cell is refused."""
    import nbformat

    path = Path(path)
    stored = nbformat.read(path, as_version=4)
    n = sum(is_checked(c) for c in stored.cells)
    if n == 0:
        raise ConfigError(f"{path}: no cell is marked '# {MARKER}', so nbval would compare nothing")
    new = keep_checked(stored, execute(path, timeout))
    nbformat.validate(new)
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(new, tmp)
    os.replace(tmp, path)
    return n


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m melib.nbcheck NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for p in paths:
        print(f"{p}: {refresh(p)} checked cell(s) stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ruff, configured in pyproject.toml, finds nothing in the package, the tests and the benches."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "melib", "tests", "benches"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"`ruff check melib tests benches` (fix: `ruff check --fix`):\n{run.stdout}{run.stderr}"

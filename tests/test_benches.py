"""Every bench runs in its quick mode (``MELIB_BENCH_QUICK=1``, benches/_common.py): exit 0 and its ratio line
(a bench whose part needs CUDA says "not measured (no CUDA)" on a CPU instead), so that none breaks unseen.
The benches run as subprocesses, two at a time, sharing one MELIB_HOME (the quick sets are built once)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (ROOT / "benches").glob("bench_*.py"))
RATIO = re.compile(r"^ratio .+: \d+\.\d+x", re.M)
NO_CUDA = ": not measured (no CUDA)"
TIMEOUT = 300  # seconds a bench may take in quick mode on a busy 2-core machine


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("bench_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELIB_")}
    env.update(MELIB_HOME=str(home), MELIB_BENCH_QUICK="1", PYTHONPATH=str(ROOT))
    # the quick set first, so that the benches reading it do not build it side by side
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'benches'); import _common; "
                    "_common.synth_root(None, True)"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT)

    def run(name):
        try:
            return subprocess.run([sys.executable, str(ROOT / "benches" / name)], cwd=home, env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, -1, e.stdout or "", f"timed out after {TIMEOUT} s")
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(BENCHES, pool.map(run, BENCHES)))


def test_the_benches_are_found():
    assert "bench_cache.py" in BENCHES and len(BENCHES) >= 12, BENCHES


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHES)
def test_bench_runs_in_quick_mode(name, runs):
    run = runs[name]
    assert run.returncode == 0, f"{name} exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    cuda = torch.cuda.is_available()
    assert RATIO.search(run.stdout) or (not cuda and NO_CUDA in run.stdout), \
        f"{name} printed no ratio line:\n{run.stdout[-2000:]}"
    if not cuda and name in ("bench_rpca_gpu.py", "bench_trainer.py", "bench_models.py"):
        assert NO_CUDA in run.stdout, f"{name} does not say that its CUDA part was not measured"

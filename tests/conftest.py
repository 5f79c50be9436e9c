"""Shared fixtures."""
from __future__ import annotations

import pytest

# A small synthetic set: 3 subjects per layout, 7 clips each (CASME II and SAMM: every class I-VII once per
# subject; SMIC: positive, surprise and negative in turn), 12-16 frames of 256x192. Seconds to build.
SYNTH_SMALL = {"subjects": 3, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory):
    """Root of a small synthetic set (``casme2/``, ``samm/``, ``smic/``; seed 0, :data:`SYNTH_SMALL`)."""
    from melib import synth

    return synth.generate_default(tmp_path_factory.mktemp("synth_small") / "synth", seed=0, progress=False,
                                  **SYNTH_SMALL)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A MELIB_HOME of the test module's own (sets, preprocessing cache, run records), whatever the caller set."""
    h = tmp_path_factory.mktemp("melib_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MELIB_HOME", str(h))
        for var in ("MELIB_CACHE", "MELIB_RUNS", "MELIB_DATA_SYNTH"):
            mp.delenv(var, raising=False)
        yield h


@pytest.fixture(scope="session")
def casme2_release(synth_small, tmp_path_factory):
    """The small set's ``casme2/`` copied without melib's synthetic-set marker (``synth_params.json``): what a
    licensed CASME II release looks like to the loader, so it is read as real data."""
    import shutil

    dst = tmp_path_factory.mktemp("casme2_release") / "CASME2"
    shutil.copytree(synth_small / "casme2", dst, ignore=shutil.ignore_patterns("synth_params.json"))
    return dst


# pytest-xdist (`make test` runs `-n 2 --dist loadscope --no-loadscope-reorder`): one worker takes a whole file
# (its module fixtures; a notebook's cells under nbval share one kernel) or a whole test class (the overfit test's
# models, the paper-profile chapters, the known-answer re-runs: one class each). The longest files are collected
# first (seconds of one worker on the shared 2-core machine: overfit about 420 in all, the paper profile about 400,
# notebook parameters 150, the known answers 130, benches 100, packaging 60, leak 46).
_FIRST = ("test_models_overfit.py", "test_paper_profile.py", "test_known_answer.py", "test_notebook_parameters.py",
          "test_book.py", "test_benches.py", "test_packaging.py", "test_protocol_leak.py",
          "test_experiments_dlhn_psn.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_FIRST)}
    items.sort(key=lambda it: rank.get(it.nodeid.split("::")[0].rsplit("/", 1)[-1], len(rank)))

"""The paper profile can never break silently (issue #12.5): every chapter's notebook executed with papermill
under ``profile="paper"`` -- the papers' model widths and input sizes, their trainers, their face sizes and
pipelines -- on the tiny smoke set, on the CPU, 1 epoch, 2 folds, each chapter's plan cut down with the
``plan`` parameter (:data:`PLANS`: the chapter's main model and a few paper-only paths, not its full grid).

Without the cut the paper plans run for hours on a CPU (C3D alone trains 4 models in 8 scenarios, 5 folds,
100 epochs). A training at a paper's size costs seconds per clip on a CPU, so the chapters whose scheme and
protocol need no more run on the smoke set's CASME II clips alone (:data:`ONE_RELEASE`, the ``dataset``
parameter): DLHN and PSN (pnso, stratified 2-fold: 14 clips, at least 2 per class) and LocalRegions
(localregions5, LOSO over its 2 subjects: 10 clips, 2 per class).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from melib import params, records, study
from melib.experiments import chapter, chapters

ROOT = Path(__file__).resolve().parents[1]
TINY = {**params.SMOKE_SYNTH, "frames": [12, 16]}
# Each chapter's cut-down plan (JSON-like, as papermill and `melib study --plan-changes` pass it: lists, not tuples).
PLANS = {
    "10_dlhn": {"folds": 2},
    "11_psn": {"folds": 2, "ablations": [], "table9": [], "retention": []},
    "12_c3d": {"folds": 2, "models": ["Model-A", "Model-B"], "scenarios": [2, 5], "table3": [], "holdout": [],
               "cross_splits": 2},
    "13_cropnet": {"max_folds": 2, "table2": ["ARS"], "table4": [], "table3": []},
    "14_local_regions": {"max_folds": 2, "ablations": [["Table 7", "loss=CE"]], "cross": []},
    "20_baselines": {"folds": 2},
    "30_protocols": {"folds": 2, "methods": ["lbp_top_svm"], "n_seeds": 2, "leak_dependence": [0.0, 1.0],
                     "leak_seeds": [0], "leak_synth": {**TINY, "subjects": 2}},
    "40_known_answer": {"methods": ["lbp_top_svm"], "amplitudes": [0.0, 3.0], "synth": TINY},
}

# Chapters that run on one release of the smoke set (its clips still enough for their scheme and 2 folds).
ONE_RELEASE = {"10_dlhn": "casme2", "11_psn": "casme2", "14_local_regions": "casme2"}


@pytest.fixture(scope="module")
def smoke_root(home):
    return params.ensure_synth(params.setup("smoke"))


def _given(name: str, root: Path) -> dict:
    given = {"profile": "paper", "data": str(root), "epochs": 1, "device": "cpu"}
    if name in ONE_RELEASE:
        given.update(data=str(root / ONE_RELEASE[name]), dataset=ONE_RELEASE[name])
    if name in PLANS:
        given["plan"] = PLANS[name]
    return study.notebook_parameters(name, given)


def test_every_chapter_has_a_cut_down_plan_that_it_accepts(smoke_root):
    for c in chapters():
        given = _given(c.notebook, smoke_root)
        p = c.setup(**given)  # refuses a plan key the chapter does not have
        assert p.model_profile == "paper"
        if c.paper:
            assert c.notebook in PLANS and c.plan(p, params.samples(p)), c.notebook


class ChapterUnderThePaperProfile:
    """One class per chapter, so that test workers share the notebooks out (``tests/conftest.py``)."""
    name: str

    def test_chapter_runs_under_the_paper_profile(self, smoke_root, tmp_path):
        runs_under_the_paper_profile(self.name, smoke_root, tmp_path)


def runs_under_the_paper_profile(name: str, smoke_root: Path, tmp_path: Path) -> None:
    given = _given(name, smoke_root)
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=given,
                        kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    c = chapter(name)
    if c.paper:  # the chapter kept its paper's headline rows, trained at the paper's model sizes
        p = params.resolve(**{k: v for k, v in given.items() if k != "profile"}, profile_name="paper")
        rows = records.headlines(params.headline_tag(p))
        rows = rows[rows["paper"] == c.paper]
        assert len(rows) and (rows["n_clips"] > 0).all(), name


for _c in chapters():
    _n = f"TestPaperProfile_{_c.notebook}"
    globals()[_n] = type(_n, (ChapterUnderThePaperProfile,), {"name": _c.notebook})

"""The chapter contract (melib.experiments.contract), walked for every chapter: what it declares, the trainings
its plan lists without running anything, what it refuses, and the arrows between the layers."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from melib import experiments, labels, models, params, protocols, published
from melib.errors import ConfigError
from melib.experiments import TrainingSpec, c3d, common, cropnet, dlhn, local_regions
from melib.models.baselines import ESTIMATORS
from melib.preprocess.registry import PIPELINES

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = experiments.chapters()
MODEL_CHAPTERS = [c for c in CHAPTERS if c.paper]


@pytest.fixture(scope="module")
def smoke(home):
    p = params.setup("smoke")
    return params.samples(p)


def test_every_notebook_is_a_chapter():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert [c.notebook for c in CHAPTERS] == notebooks
    # STSTNet and OFF-ApexNet: models and numbers in, their composite chapter still to come (issue 23, item 4)
    assert {c.paper for c in MODEL_CHAPTERS} == set(published.PAPERS) - {"STSTNet", "OFF-ApexNet"}
    assert experiments.chapter("13_cropnet") is experiments.chapter("cropnet") is cropnet.CHAPTER
    with pytest.raises(ConfigError, match="no chapter"):
        experiments.chapter("99_nothing")


@pytest.mark.parametrize("c", CHAPTERS, ids=lambda c: c.notebook)
def test_chapter_declares_the_contract(c, smoke):
    assert c.paper is None or c.paper in published.PAPERS
    assert set(c.schemes) <= set(labels.schemes()) and (c.scheme is None or c.scheme in c.schemes)
    assert set(c.protocols) <= set(protocols.names()) and (c.protocol is None or c.protocol in c.protocols)
    assert "profile" in c.parameters and set(c.parameters) <= {*params.PARAMETERS, "show_real_frames"}
    assert set(c.plans) == {"smoke", "default", "paper"} and set(c.pipelines) <= set(PIPELINES)
    for fn in (c.plan, c.run, c.summary, *c.tables.values(), *c.figures.values()):
        assert callable(fn)
    assert list(inspect.signature(c.run).parameters)[:2] == ["p", "samples"]
    assert list(inspect.signature(c.plan).parameters)[:2] == ["p", "samples"]
    if c.paper:
        assert callable(c.headline) and c.scheme in (None, *c.schemes) and c.protocol in c.protocols
    # the notebook: every study parameter with the smoke profile's value, then the chapter's setup
    nb = nbformat.read(ROOT / "notebooks" / f"{c.notebook}.ipynb", as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    ns: dict = {}
    exec(code[0].source, ns)
    assert {*params.PARAMETERS, "show_real_frames"} <= set(ns) and ns["profile"] == "smoke"
    assert ".CHAPTER.setup(profile" in code[1].source
    # the plan: trainings on registered models, pipelines, protocols and schemes, counted, nothing run
    p = c.setup("smoke")
    specs = c.plan(p, smoke if "data" in c.parameters else None)
    assert len({s.key for s in specs}) == len(specs)
    for s in specs:
        assert isinstance(s, TrainingSpec)
        assert s.model in models.names() or s.model in ESTIMATORS
        assert s.pipeline in PIPELINES and s.protocol in protocols.names() and s.scheme in labels.schemes()
        assert s.n_folds > 0 and s.n_clips > 0 and s.train_clips > 0
        assert (s.epochs is None) == (s.model in ESTIMATORS) and s.clip_steps() >= 0
        if s.model not in ESTIMATORS:
            assert s.input_spec == models.input_spec(s.model, p.model_profile, **s.model_params)
    if c.paper:
        assert specs and {s.scheme for s in specs} <= set(c.schemes)
        assert experiments.clip_steps(specs)["clip_steps"].sum() == sum(s.clip_steps() for s in specs)


@pytest.mark.parametrize("c", CHAPTERS, ids=lambda c: c.notebook)
def test_a_parameter_the_chapter_cannot_honour_is_refused(c):
    for bad_scheme in [s for s in labels.schemes() if s not in c.schemes][:1]:
        with pytest.raises(ConfigError, match=f"{c.notebook}.*scheme='{bad_scheme}'") as err:
            c.setup("smoke", scheme=bad_scheme)
        if "scheme" in c.parameters:
            assert all(s in str(err.value) for s in c.schemes)  # says what it accepts
    for name in set(params.PARAMETERS) - set(c.parameters) - {"profile"}:
        with pytest.raises(ConfigError, match=f"{c.notebook}.*{name}="):
            c.setup("smoke", **{name: {"plan": {"epochs": 1}}.get(name, "2")})
    if "show_real_frames" not in c.parameters:
        with pytest.raises(ConfigError, match="show_real_frames"):
            c.setup("smoke", show_real_frames=True)
    with pytest.raises(ConfigError, match="no_such_key"):
        c.setup("smoke", plan={"no_such_key": 1})
    if "protocol" in c.parameters and "cross_dataset" not in c.protocols:
        with pytest.raises(ConfigError, match="protocol='cross_dataset'"):
            c.setup("smoke", protocol="cross_dataset")  # needs datasets of its own: not a study parameter


# C3D 8.1's five random splits of CASME II are not stratified (C3D states nothing): on the smoke set's 14
# CASME II clips under megc2019 some split trains without a class, which protocols.folds refuses (DataError)
@pytest.mark.parametrize("c,scheme,protocol,plan", [
    (dlhn.CHAPTER, "megc2019", "loso", None), (c3d.CHAPTER, "megc2019", "loso", {"holdout": []}),
    (cropnet.CHAPTER, "megc2019", "group_kfold", None), (local_regions.CHAPTER, "localregions5", "stratified_kfold", None)],
    ids=lambda x: getattr(x, "notebook", None))
def test_scheme_and_protocol_reach_every_planned_training(c, scheme, protocol, plan, smoke):
    """A model chapter's plan under another scheme and protocol: every training uses them (cross-dataset and
    random-split sections keep the protocols that define them), and the settings of other schemes go."""
    p = c.setup("smoke", scheme=scheme, protocol=protocol, plan=plan)
    specs = c.plan(p, smoke)
    assert specs and {s.scheme for s in specs} == {scheme}
    own = [s for s in specs if s.protocol not in ("cross_dataset", "holdout") or protocol == "holdout"]
    assert own and all(s.protocol == protocol for s in own)
    default = c.plan(c.setup("smoke"), smoke)
    assert {s.scheme for s in default} != {scheme} and len({s.key for s in specs}) == len(specs)


def test_lodo_is_a_study_protocol(smoke):
    """protocol='lodo' (leave one dataset out, MEGC since 2023): a chapter on a composite set plans one
    subject-disjoint fold per dataset; more datasets than the plan's max_folds, or one dataset, is refused."""
    p = dlhn.CHAPTER.setup("smoke", scheme="megc2019", protocol="lodo")
    specs = dlhn.plan(p, smoke)
    assert specs and all(s.protocol == "lodo" and s.n_folds == 3 for s in specs)
    lab = common.labelled(smoke, "megc2019")
    name, prm = common.protocol_for(p, "lodo", lab, {})
    folds = protocols.folds(lab, name, **prm)
    assert [f.name for f in folds] == ["samm+smic->casme2", "casme2+smic->samm", "casme2+samm->smic"]
    assert all(f.audit["leakage"] == 0 for f in folds)
    with pytest.raises(ConfigError, match="3 datasets, more than max_folds=2"):
        common.protocol_for(p, "lodo", lab, {"max_folds": 2})
    name, prm = common.protocol_for(p, "lodo", lab, {}, datasets=("casme2",))
    with pytest.raises(ConfigError, match="at least 2 datasets"):
        protocols.folds(lab, name, **prm)


def test_cropnet_runs_the_setting_of_its_scheme(smoke):
    keys = {s.key for s in cropnet.plan(cropnet.CHAPTER.setup("smoke", scheme="megc2019"), smoke)}
    assert keys == {("megc2019", "CropNet+ARS")}  # Table 3's setting only
    five = {s.key[0] for s in cropnet.plan(cropnet.CHAPTER.setup("smoke", scheme="cropnet5"), smoke)}
    assert five == {"cropnet5"}


def test_frame_size_drives_the_faces_of_the_pipelines_that_take_one(smoke):
    p = c3d.CHAPTER.setup("smoke", frame_size=96)
    assert {s.pipeline_params["face_size"] for s in c3d.plan(p, smoke, scenarios=(1,), table3=(), holdout=())} == {96}
    p = local_regions.CHAPTER.setup("smoke", frame_size=100)
    assert all(s.pipeline_params["face_size"] == 100 for s in local_regions.plan(p, smoke, ablations=(), cross=()))
    with pytest.raises(ConfigError, match="10_dlhn.*frame_size=64.*at least 112"):
        dlhn.CHAPTER.setup("smoke", frame_size=64)
    assert all(s.pipeline_params["size"] == 128 for s in dlhn.plan(dlhn.CHAPTER.setup("smoke", frame_size=128), smoke))
    with pytest.raises(ConfigError, match="13_cropnet.*frame_size"):
        cropnet.CHAPTER.setup("smoke", frame_size=200)


def test_the_paper_profile_cuts_down_to_a_smoke_test(smoke):
    """``plan`` changes (here: folds, epochs, subsets) shrink the paper profile's grid without changing it."""
    p = c3d.CHAPTER.setup("paper", data="synth", plan={"max_folds": 2, "folds": 2, "epochs": 1,
                                                       "models": ["Model-A"], "scenarios": [2], "table3": [],
                                                       "holdout": []})
    (spec,) = c3d.plan(p, smoke)
    assert spec.key == ("Model-A", 2) and spec.n_folds == 2 and spec.epochs == 1
    assert spec.input_spec["clip"][0] == 36  # the paper's CASME II window, the paper's model
    full = c3d.plan(c3d.CHAPTER.setup("paper", data="synth"), smoke)
    assert len(full) > 10 and max(s.epochs for s in full) == 100


def test_experiments_never_import_the_runner():
    code = ("import pkgutil, importlib, sys, melib.experiments as e\n"
            "[importlib.import_module('melib.experiments.' + m.name) for m in pkgutil.iter_modules(e.__path__)]\n"
            "print('melib.study' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_chapters_share_helpers_through_common_only():
    """No chapter module imports another chapter's helpers; the shared ones live in common and views."""
    names = {m.stem for m in (ROOT / "melib" / "experiments").glob("*.py")} - {"__init__", "common", "views", "contract"}
    for m in names:
        text = (ROOT / "melib" / "experiments" / f"{m}.py").read_text()
        for other in names - {m}:
            assert f"from .{other} import" not in text and f"from . import {other}" not in text, (m, other)
    assert common.execute and common.training  # the one way a training is planned and run


def test_a_new_dataset_is_one_loader_module(tmp_path, monkeypatch):
    """Loaders are discovered (no name list to edit): a module with ``load`` is a release; the papers' tables
    and the provenance labels name it by its key until its manifest says otherwise."""
    from melib import datasets, report

    (tmp_path / "newdb.py").write_text("def load(root, **options):\n    raise NotImplementedError(root)\n")
    monkeypatch.setattr(datasets, "__path__", [*datasets.__path__, str(tmp_path)])
    try:
        found = datasets._discover()
    finally:
        sys.modules.pop("melib.datasets.newdb", None)
    assert list(found) == ["4dme", "casme", "casme2", "casme3a", "casme3c", "casme_sq", "mmew", "newdb", "samm",
                           "smic"]
    assert published.dataset_key("smic", "newdb") == "smic+newdb"  # after the registered releases
    assert datasets.display_name("newdb") == "newdb" and datasets.display_name("casme_sq") == "CAS(ME)²"
    rows = pd.DataFrame({"dataset": ["newdb"], "synthetic": [False]})
    assert report.provenance_label(rows) == "re-run on real data (newdb)"

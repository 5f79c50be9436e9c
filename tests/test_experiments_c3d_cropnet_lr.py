"""The C3D, CropNet and LocalRegions chapters' experiments on the smoke profile (melib.experiments.c3d,
.cropnet, .local_regions): tables with the published numbers beside, the data each run trains and tests on,
the leakage audit, and LocalRegions' stage 2 on stage-1 weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from melib import models, params, report, train
from melib.datasets import frame_number
from melib.errors import ConfigError
from melib.experiments import c3d, common, cropnet, views
from melib.experiments import local_regions as lr
from melib.experiments.common import labelled
from melib.models import local_regions as lr_models
from melib.models import local_regions_stages as stages
from melib.preprocess import pipelines, temporal


@pytest.fixture(scope="module")
def smoke(home):
    """(params, samples) of the smoke profile in a private MELIB_HOME."""
    p = params.setup("smoke")
    return p, params.samples(p)


@pytest.fixture(scope="module")
def c3d_result(smoke):
    """The C3D chapter's smoke plan: Model-A in the eight scenarios, Table 3, the Split Model's splits."""
    p, s = smoke
    return c3d.run(p, s)


@pytest.fixture(scope="module")
def cropnet_result(smoke):
    p, s = smoke
    return cropnet.run(p, s)


@pytest.fixture(scope="module")
def lr_result(smoke):
    p, s = smoke
    return lr.run(p, s)


def _synthetic(label: str) -> bool:
    return report.provenance_kind(label) == "synthetic"


# ---------------------------------------------------------------- C3D

def test_scenario_protocols_follow_table_4_and_fit_small_sets(smoke):
    p, s = smoke
    lab = labelled(s, "c3d")
    st = c3d.CHAPTER.settings(p)
    assert c3d.scenario_protocol(p, lab, 4, st) == ("cross_dataset", {"train": ("smic",), "test": ("samm",)})
    proto, prm = c3d.scenario_protocol(p, lab, 2, st)       # CASME II: 2 clips per class on the smoke set
    assert proto == "stratified_kfold" and prm["datasets"] == ("casme2",) and prm["n_splits"] == 2
    assert c3d.scenario_protocol(p, lab, 1, st)[1]["n_splits"] == 4  # SMIC: 4 disgust clips
    proto, prm = c3d.scenario_protocol(p, lab, 8, {**st, "cross_splits": 5})
    assert proto == "cross_dataset" and prm["train"] == ("casme2", "smic") and prm["n_splits"] == 5
    assert sum(c3d.scenario_protocol(p, lab, n, st)[0] == "cross_dataset" for n in c3d.SCENARIOS) == 5
    assert st["folds"] == 5  # C3D 8.2: stratified 5-fold inside the datasets
    with pytest.raises(ConfigError, match="scenarios 1-8"):
        c3d.scenario_protocol(p, lab, 9, st)
    # the protocol parameter changes the intra-dataset scenarios only
    loso = c3d.CHAPTER.setup("smoke", protocol="loso")
    assert c3d.scenario_protocol(loso, lab, 3, st) == ("loso", {"datasets": ("casme2", "smic")})
    assert c3d.scenario_protocol(loso, lab, 4, st)[0] == "cross_dataset"


def test_c3d_scenarios_train_and_test_on_the_datasets_they_say(smoke, c3d_result):
    p, s = smoke
    lab = labelled(s, "c3d")
    runs = c3d_result.scenarios()
    results = c3d.scenario_table(c3d_result)
    counts = lab["dataset"].value_counts()
    for n in (2, 4, 8):
        train_sets, test_sets = c3d.SCENARIOS[n]
        ev = runs[("Model-A", n)].evaluation
        pred = ev.predictions()
        assert set(pred["dataset"]) == set(test_sets)
        folds = ev.folds()
        if train_sets != test_sets:   # one model on all training clips, every test clip once, no shared subject
            assert folds["n_train"].sum() == counts[list(train_sets)].sum()
            assert len(pred) == counts[list(test_sets)].sum()
            assert ev.leakage() == {"leakage_mean": 0.0, "leakage_max": 0.0}
        else:                          # clip-level folds: every clip tested once, subjects on both sides
            assert sorted(pred["clip"]) == sorted(lab[lab["dataset"].isin(train_sets)]["clip"])
            assert ev.leakage()["leakage_max"] > 0
    row = results.set_index("setting").loc["Scenario-8"]
    assert row["train"] == "casme2+smic" and row["test"] == "samm" and row["protocol"] == "cross_dataset"
    assert row["scheme"] == "c3d"
    # every record keeps the per-epoch test curve (C3D Fig. 4) next to the training curve
    c = views.curves(runs[("Model-A", 2)])
    assert {"train_loss", "train_acc", "test_loss", "test_acc"} <= set(c.columns) and len(c) == p.epochs


def test_table4_puts_published_and_study_side_by_side(c3d_result):
    only = c3d.Result({k: r for k, r in c3d_result.runs.items() if k in (("Model-A", 1), ("Model-A", 5))},
                      c3d_result.samples, c3d_result.provenance)
    t = c3d.table4(only)
    assert len(t) == 8 * 3 and t["published"].notna().all()
    ran = t[t["study"].notna()]
    assert set(zip(ran["method"], ran["setting"])) == {("Model-A", "Scenario-1"), ("Model-A", "Scenario-5")}
    assert ran["study_provenance"].map(_synthetic).all() and ran["study"].between(0, 1).all()
    assert (t.loc[t["study"].isna(), "study_provenance"] == report.NOT_RUN).all()
    assert t.loc[(t["method"] == "Model-A") & (t["setting"] == "Scenario-5"), "published"].item() == pytest.approx(0.248)
    assert ran.set_index("setting").loc["Scenario-5", "leakage_max"] == 0
    assert t["difference"].isna().all()   # synthetic numbers are not attempts at the published ones


def test_initial_frames_start_the_window_at_the_onset(smoke):
    p, s = smoke
    row = labelled(s, "c3d").iloc[0]
    n = len(row["frames"])
    idx = temporal.apex_window_indices(n, min(12 // 2, n - 1), 12)  # C3D Table 3's "initial frame sequence"
    assert idx[0] == 0 and idx[-1] == min(11, n - 1)
    onset = pipelines.c3d_inputs(row, window=12, size=32, anchor="onset")["clip"]
    apex = pipelines.c3d_inputs(row, window=12, size=32)["clip"]
    moved = row.copy()  # the same window, reached by moving the apex to the window's centre
    moved["apex"] = frame_number(row["frames"][min(6, n - 1)])
    moved["apex_estimated"] = True
    assert temporal.apex_position(moved) == min(6, n - 1)
    np.testing.assert_array_equal(onset, pipelines.c3d_inputs.uncached(moved, window=12, size=32)["clip"])
    assert not np.array_equal(onset, apex) and temporal.apex_position(row) != min(6, n - 1)
    with pytest.raises(ConfigError, match="anchor"):
        pipelines.c3d_inputs(row, window=12, size=32, anchor="offset")


def test_table3_compares_apex_and_initial_windows(c3d_result):
    t = c3d.table3(c3d_result)
    assert set(t["setting"]) == {"apex frame sequence", "initial frame sequence"}
    assert set(t["dataset"]) == {"casme2", "smic"} and t["study"].notna().all()
    # the two settings see different inputs (different run keys), on the same clips
    runs = c3d_result.runs
    a = runs[("Table 3", "Model-A", "casme2", "apex frame sequence")]
    b = runs[("Table 3", "Model-A", "casme2", "initial frame sequence")]
    assert a.evaluation.run != b.evaluation.run and b.spec.pipeline_params["anchor"] == "onset"
    assert sorted(a.evaluation.predictions()["clip"]) == sorted(b.evaluation.predictions()["clip"])


def test_confusion_and_audit_views(c3d_result):
    run = c3d_result.runs[("Model-A", 7)]
    cm = views.confusion(run)
    assert list(cm.index) == list(cm.columns) == run.evaluation.labels
    assert cm.to_numpy().sum() == len(run.evaluation.predictions())
    assert np.array_equal(cm.to_numpy(), np.asarray(run.evaluation.pooled["confusion"]))
    a = views.audit({("Model-A", 7): run})
    assert a.loc[0, "protocol"] == "cross_dataset" and a.loc[0, "leakage_max"] == 0 and a.loc[0, "scheme"] == "c3d"


# ---------------------------------------------------------------- CropNet

def test_cropnet_casme2_tables(cropnet_result):
    t2, t4, runs = cropnet.table2(cropnet_result), cropnet.table4(cropnet_result), cropnet_result.of("cropnet5")
    ran2 = t2[t2["study"].notna()]
    assert set(ran2["method"]) == {"ARS+CropNet", "RRS+CropNet"} and (ran2["protocol"] == "loso").all()
    assert len(t2) == 11 and ran2["study_provenance"].map(_synthetic).all()
    assert set(t4["method"]) == set(cropnet.INPUTS) and set(t4["metric"]) == {"uf1", "accuracy"}
    assert t4.loc[t4["method"].str.contains("TV-L1"), "study"].isna().all()   # too slow for the smoke plan
    assert t4.loc[~t4["method"].str.contains("TV-L1"), "study"].notna().all()
    assert (t4["leakage_max"].dropna() == 0).all()
    # ARS and RRS runs train on different inputs; without CGPO the model sees one whole image
    assert runs["CropNet+ARS"].evaluation.run != runs["CropNet+RRS"].evaluation.run
    assert runs["CropNet without CGPO +ARS"].evaluation.records[0]["model_params"]["cgpo"] is False
    assert set(runs["CropNet+ARS"].samples["dataset"]) == {"casme2"}
    assert runs["CropNet+ARS"].evaluation.labels == ["others", "disgust", "happiness", "repression", "surprise"]


def test_cropnet_composite_pools_over_folds_and_parts(smoke, cropnet_result):
    p, s = smoke
    t3, run = cropnet.table3(cropnet_result), cropnet_result.of("megc2019")["CropNet+ARS"]
    ran = t3[t3["study"].notna()]
    assert set(ran["dataset"]) == {"casme2+samm+smic", "casme2", "samm", "smic"}
    assert set(ran["metric"]) == {"uf1", "uar"} and (ran["method"] == "ARS+CropNet").all()
    whole = ran[(ran["dataset"] == "casme2+samm+smic") & (ran["metric"] == "uf1")]["study"].item()
    assert whole == pytest.approx(run.evaluation.pooled["uf1"])
    assert run.evaluation.pooled["n"] == len(labelled(s, "megc2019"))
    assert run.protocol == "loso" and run.evaluation.leakage()["leakage_max"] == 0
    assert t3.loc[t3["method"] == "RRS+CropNet", "study"].isna().all()


def test_cropnet_default_plan_uses_subject_disjoint_folds(smoke):
    p, s = smoke
    lab = labelled(s, "megc2019")
    default = cropnet.CHAPTER.setup("default")
    assert lab["subject"].nunique() == 6 and default.protocol == "loso"
    assert common.protocol_for(default, "loso", lab, {"max_folds": 6}) == ("loso", {})  # no more subjects: LOSO
    assert common.protocol_for(default, "loso", lab, {"max_folds": None}) == ("loso", {})
    proto, prm = common.protocol_for(default, "loso", lab, cropnet.CHAPTER.settings(default, max_folds=4))
    assert proto == "group_kfold" and prm["n_splits"] == 4 and prm["stratify"]
    # the plan parameter lifts the default profile's cap: LOSO again
    uncapped = cropnet.CHAPTER.setup("default", plan={"max_folds": None})
    assert common.protocol_for(uncapped, "loso", lab, cropnet.CHAPTER.settings(uncapped)) == ("loso", {})


def test_cgpo_example_hides_licensed_frames(smoke):
    p, s = smoke
    crops, titles, row = cropnet.cgpo_example(s)
    assert crops.shape == (10, 160, 160, 3) and len(titles) == 10 and row["synthetic"]
    assert 0 <= crops.min() and crops.max() <= 1 and crops.std() > 0
    real = s.assign(synthetic=False)
    assert cropnet.cgpo_example(real)[0] is None


# ---------------------------------------------------------------- LocalRegions

def _tiny_two_stage(seed=0):
    torch.manual_seed(seed)
    return models.build("localregions_2stage", "default", classes=["negative", "positive", "surprise"])


def test_two_stage_targets_follow_table_1_and_skip_padding():
    m = _tiny_two_stage()
    x = {r: torch.rand(2, *shape) for r, shape in m.input_spec.items()}
    for r in x:
        x[r][1, -2:] = 0                           # clip 1: two zero frames of padding (section 3.3)
    y = torch.tensor([1, 0])                       # positive, negative
    t = m.stage1_targets(x, y).reshape(2, len(m.regions), -1)
    nose = m.regions.index("nose")
    cheek = m.regions.index("cheek_left")
    rc = lr_models.region_classes(m.classes, "nose")               # [negative, no_reaction]
    assert (t[0, nose] == rc.index("no_reaction")).all()           # happiness does not show in the nose
    assert (t[1, nose, :-2] == rc.index("negative")).all() and (t[1, :, -2:] == -1).all()
    assert (t[0, cheek] == lr_models.region_classes(m.classes, "cheek_left").index("positive")).all()
    logits = m.stage1_logits(m, x)
    assert logits.shape == (2, t.shape[1] * t.shape[2], m.n_stage1_classes())
    assert (logits[:, nose * t.shape[2]:(nose + 1) * t.shape[2], 2] == stages.PAD_LOGIT).all()


def test_stage_2_trains_on_the_stage_1_weights():
    m = _tiny_two_stage()
    x = {r: torch.rand(12, *shape) for r, shape in m.input_spec.items()}
    y = np.arange(12) % 3
    init = {k: v.clone() for k, v in m.state_dict().items()}
    cfg = train.TrainConfig(epochs=2, batch_size=4, progress=False, device="cpu", threads=1)
    train.fit(m, x, y, cfg, n_classes=3)
    stage1_only = _tiny_two_stage()
    train.fit(stage1_only, x, y, cfg, stages=stage1_only.training_stages()[:1], n_classes=3)
    after = m.state_dict()
    cnn_keys = [k for k in after if k.startswith("cnns.")]
    rest = [k for k in after if not k.startswith("cnns.") and after[k].is_floating_point()]
    assert any(not torch.equal(after[k], init[k]) for k in cnn_keys)              # stage 1 trained the CNNs
    assert all(torch.equal(after[k], stage1_only.state_dict()[k]) for k in cnn_keys)  # stage 2 left them as is
    assert any(not torch.equal(after[k], init[k]) for k in rest)                 # stage 2 trained the LSTMs
    assert all(not p.requires_grad for p in m.cnns.parameters())
    m.eval()
    with torch.no_grad():
        base = m(x)
        m.cnns["mouth"].fc[0].weight.add_(1.0)      # the clip logits depend on the stage-1 CNN weights
        assert not torch.allclose(m(x), base)


def test_local_regions_full_and_five_classes(smoke, lr_result):
    p, s = smoke
    t10, run = lr.table10(lr_result), lr_result.full()
    ran = t10[t10["study"].notna()]
    assert set(ran["dataset"]) == {"casme2+samm+smic", "casme2", "samm", "smic"} and len(t10) == 8
    assert ran["study_provenance"].map(_synthetic).all() and (ran["leakage_max"] == 0).all()
    rec = run.evaluation.records[0]
    assert set(rec["curves"]) == {"cnn", "lstm"} and rec["model"] == lr.MODEL
    assert run.protocol == "loso" and len(run.evaluation.records) == s["subject"].nunique()
    t11, run5 = lr.table11(lr_result), lr_result.full("localregions5")
    assert run5.evaluation.labels == ["I", "II", "III", "IV", "V"]
    assert set(run5.evaluation.predictions()["dataset"]) == {"casme2", "samm"}
    assert set(t11.loc[t11["study"].notna(), "metric"]) == {"uf1", "accuracy"}


def test_local_regions_ablations_and_cross_dataset(lr_result):
    t = lr.ablations(lr_result)
    face = lr_result.runs[("megc2019", "Table 5", "regions=whole face")]
    assert list(face.evaluation.records[0]["model_params"]["regions"]) == ["face"]
    ran = t[t["study"].notna()]
    assert set(ran["setting"]) == {"regions=whole face", "regions=all regions"}
    assert t.loc[t["setting"] == "regions=no nose", "study_provenance"].eq(report.NOT_RUN).all()
    tc = lr.cross_dataset(lr_result)
    cross = {k[1:]: r for k, r in lr_result.runs.items() if len(k) == 4}
    assert set(cross) == {("Table 13", "casme2", "samm"), ("Table 13", "samm", "casme2")}
    for (_, _, te), r in cross.items():
        assert set(r.evaluation.predictions()["dataset"]) == {te}
        assert r.evaluation.leakage()["leakage_max"] == 0
    assert set(tc["metric"]) == {"accuracy", "f1"} and tc["study"].notna().all()


def test_paper_plans_hold_the_papers_full_grids():
    paper = params.resolve("paper")
    pl = c3d.CHAPTER.settings(paper)
    assert set(pl["models"]) == set(c3d.MODELS) and pl["scenarios"] == tuple(range(1, 9)) and pl["cross_splits"] == 5
    # C3D 5.1 windows: 26 SMIC, 36 CASME II, 30 combined; the Split Model's three pools cannot take 26 frames
    assert [n for n in c3d.SCENARIOS if c3d.fits(paper, "c3d_split", n)] == [2, 3, 5, 7, 8]
    assert all(c3d.fits(paper, "c3d_model_b", n) for n in c3d.SCENARIOS)
    cp = cropnet.CHAPTER.settings(paper)
    assert set(cp["table4"]) == set(cropnet.INPUTS) and cp["max_folds"] is None
    lp = lr.CHAPTER.settings(paper)
    assert set(lp["ablations"]) == set(lr.ABLATIONS) and set(lp["cross"]) == {"Table 12", "Table 13"}
    assert lp["max_folds"] is None and lp["epochs"] is None
    # the default plans lower epochs only when the notebook left them to the profile
    default = params.resolve("default")
    trainer = c3d.CHAPTER.trainer
    assert trainer(default, c3d.CHAPTER.settings(default)) == {"epochs": 4}
    given = params.resolve("default", epochs=20)
    assert trainer(given, c3d.CHAPTER.settings(given)) == {}
    assert trainer(paper, c3d.CHAPTER.settings(paper)) == {}
    assert trainer(paper, c3d.CHAPTER.settings(paper, epochs=2, batch_size=3)) == {"epochs": 2, "batch_size": 3}


def test_holdout_splits_follow_section_8_1(c3d_result):
    t = c3d.holdout(c3d_result)
    ev = c3d_result.runs[("Sec. 8.1", "Split Model")].evaluation
    assert [r["fold_name"] for r in ev.records] == [f"seed{i}" for i in range(5)]
    assert set(ev.predictions()["dataset"]) == {"casme2"}
    ran = t[t["study"].notna()].set_index("fold")
    accs = [r["metrics"]["accuracy"] for r in ev.records]
    assert ran.loc["best split", "study"] == max(accs) and ran.loc["run 3", "study"] == accs[2]
    assert ran.loc["run 3", "published"] == pytest.approx(0.45)
    assert t.loc[t["method"] == "Model-C", "study_provenance"].eq(report.NOT_RUN).all()
    assert all("test_accuracy" in next(iter(r["curves"].values())) for r in ev.records)

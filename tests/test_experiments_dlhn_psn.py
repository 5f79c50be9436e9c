"""The DLHN and PSN chapters (melib.experiments.dlhn / .psn) on a small synthetic set, smoke profile, 1 epoch."""
from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from melib import nbcheck, params, report
from melib.experiments import common, dlhn, psn, views
from melib.models.dlhn import A_SWEEP
from melib.preprocess import pipelines

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(home, synth_small):
    p = dlhn.CHAPTER.setup("smoke", data=str(synth_small))
    return p, params.samples(p)


@pytest.fixture(scope="module")
def dlhn_result(samples):
    p, s = samples
    return dlhn.run(p, s, epochs=1)


@pytest.fixture(scope="module")
def psn_result(samples):
    p, s = samples
    # 2 folds (the smoke profile's 3 are dlhn_result's to check): six trainings, none of these tests counts folds
    return psn.run(p, s, ablations=("PSN_spatial", "PSN_tp1", "PSN_swap"), table9=(("alexnet", "concat"),),
                   retention=(0.3,), epochs=1, folds=2)


# ---- DLHN -------------------------------------------------------------------------------------------------

def test_dlhn_runs_the_chapter_protocol_on_shared_folds(dlhn_result):
    r = dlhn_result
    assert r.protocol == "stratified_kfold" and r.protocol_params == {"n_splits": dlhn.PLANS["smoke"]["folds"], "seed": 0}
    assert r.scheme == "pnso" and r.hcrnn.spec.inputs == dlhn.INPUTS["HCRNN"]
    assert r.hcrnn.spec.pipeline_params == r.rprnn.spec.pipeline_params  # one pipeline call feeds both
    assert report.provenance_kind(r.provenance) == "synthetic"
    h, rp = r.hcrnn.evaluation, r.rprnn.evaluation
    assert len(h.records) == len(rp.records) == 3
    assert [[q["clip"] for q in x["predictions"]] for x in h.records] == \
        [[q["clip"] for q in x["predictions"]] for x in rp.records]
    assert set(h.labels) == {"positive", "negative", "surprise", "others"}
    s = r.summary()
    assert list(s.index) == ["HCRNN", "RPRNN", "DLHN"] and (s["provenance"] == r.provenance).all()
    assert (s["n_clips"] == len(r.samples)).all()


def test_fusion_at_a_one_is_hcrnn_alone_and_at_zero_rprnn_alone(dlhn_result):
    r = dlhn_result
    for a, part in ((1.0, r.hcrnn.evaluation), (0.0, r.rprnn.evaluation)):
        fused = r.fused(a)
        np.testing.assert_allclose(fused.proba(), part.proba(), atol=1e-9)
        assert fused.predictions()["y_pred"].tolist() == part.predictions()["y_pred"].tolist()
    mid = r.fused(0.45).proba()
    np.testing.assert_allclose(mid, 0.45 * r.hcrnn.evaluation.proba() + 0.55 * r.rprnn.evaluation.proba(), atol=1e-6)
    assert r.dlhn.proba() == pytest.approx(mid, abs=1e-6)


def test_dlhn_a_sweep_table_beside_table_4(dlhn_result):
    t = dlhn.a_sweep(dlhn_result)
    assert set(t.columns) >= {"setting", "fold", "metric", "published", "published_provenance", "study",
                              "study_provenance"}
    mine = t[t["study"].notna()]
    assert set(mine["setting"]) == {f"a={a:g}" for a in A_SWEEP}
    assert set(mine["fold"]) == {"1", "2", "3", "mean"}
    assert (mine["study_provenance"] == dlhn_result.provenance).all()
    assert set(t["published_provenance"]) == {"published (DLHN Table 4)"}
    assert t["difference"].isna().all()  # synthetic numbers are never compared as reproductions
    at = mine[mine["setting"] == "a=0.45"].set_index("fold")["study"]
    assert at["mean"] == pytest.approx(at.drop("mean").mean())  # DLHN Eq. 11: mean of the folds
    assert at["mean"] == pytest.approx(dlhn_result.dlhn.mean["accuracy"])
    w = views.wide(t, "fold", "setting")
    assert list(w.index.get_level_values(0)[:2]) == ["1", "1"] and w.index.get_level_values(0)[-1] == "mean"
    assert set(w.index.get_level_values("source")) == {"published (DLHN Table 4)", dlhn_result.provenance}


def test_dlhn_ablation_and_comparison_tables(dlhn_result):
    t = dlhn.ablation(dlhn_result)
    w = views.wide(t, "method", "fold")
    assert list(dict.fromkeys(w.index.get_level_values(0))) == ["HCRNN", "RPRNN", "DLHN"]
    assert list(w.columns) == [str(i) for i in range(1, 11)] + ["mean"]
    assert w.loc[("DLHN", "published (DLHN Table 5)"), "mean"] == pytest.approx(0.6031)
    assert w.loc[("HCRNN", dlhn_result.provenance), "mean"] == pytest.approx(
        dlhn_result.hcrnn.evaluation.mean["accuracy"])
    assert w.loc[("HCRNN", dlhn_result.provenance), ["4", "10"]].isna().all()  # folds not run: no number
    c = views.wide(dlhn.comparison(dlhn_result), "method", "fold")
    ours = [k for k in c.index if k[1] == dlhn_result.provenance]
    assert ours == [("DLHN", dlhn_result.provenance)] and ("FR", "published (DLHN Table 6)") in c.index


def test_dlhn_confusion_audit_and_curves(dlhn_result):
    mine, pub = dlhn.confusion(dlhn_result)
    assert list(mine.index) == list(pub.index) == ["positive", "negative", "surprise", "others"]
    assert mine.to_numpy().sum() == len(dlhn_result.samples) and pub.to_numpy().sum() == 650
    a = dlhn_result.audit()
    assert len(a) == 3 and (a["protocol"] == "stratified_kfold").all()
    assert a["leakage"].max() > 0  # sample-level folds share subjects between training and test
    assert "stratified_kfold" in dlhn_result.audit_sentence()
    cap = dlhn_result.caption("DLHN Table 5")
    assert dlhn_result.provenance in cap and "n_splits=3" in cap and f"{a['leakage'].mean():.0%}" in cap
    h = views.curves(dlhn_result.hcrnn.evaluation)
    assert list(h["epoch"]) == [1] and {"train_loss", "test_loss", "test_acc"} <= set(h.columns)
    figs = dlhn.curves_figures(dlhn_result) + dlhn.confusion_figures(dlhn_result)
    assert len(figs) == 4
    texts = [t.get_text() for t in figs[0].axes[0].get_legend().get_texts()]
    assert "test part (monitor only)" in texts


def test_protocol_params_follow_the_profile(samples):
    _, s = samples
    lab = common.labelled(s, "pnso")  # rarest class: 6 clips

    def folds(profile, protocol="stratified_kfold", seed=None, **plan):
        p = dlhn.CHAPTER.setup(profile, protocol=protocol, seed=seed, plan=plan or None)
        return common.protocol_for(p, p.protocol, lab, dlhn.CHAPTER.settings(p))

    assert folds("paper") == ("stratified_kfold", {"n_splits": 6, "seed": 0})  # 10 wanted, the set allows 6
    assert folds("default", seed=3, folds=4) == ("stratified_kfold", {"n_splits": 4, "seed": 3})
    assert folds("smoke") == ("stratified_kfold", {"n_splits": 3, "seed": 0})
    assert folds("default", "loso") == ("loso", {})
    assert folds("default", "loso", max_folds=3) == ("group_kfold", {"n_splits": 3, "stratify": True, "seed": 0})


# ---- PSN --------------------------------------------------------------------------------------------------

def test_psn_switches_reach_the_model_and_change_its_output(psn_result):
    r = psn_result
    assert list(r.runs) == ["PSN", "PSN_spatial", "PSN_tp1", "PSN_swap", "backbone=AlexNet; fusion=CONCAT",
                            "PSN, retain 30% of E"]
    params = {n: run.evaluation.records[0]["model_params"] for n, run in r.runs.items()}
    assert params["PSN_spatial"]["branches"] == "spatial" and params["PSN_tp1"]["tp_one"] is True
    assert params["backbone=AlexNet; fusion=CONCAT"]["fusion"] == "concat"
    base = r.psn.proba()
    for name in ("PSN_spatial", "PSN_tp1", "PSN_swap", "backbone=AlexNet; fusion=CONCAT", "PSN, retain 30% of E"):
        assert not np.allclose(r.runs[name].evaluation.proba(), base, atol=1e-6), name
    assert len({run.evaluation.run for run in r.runs.values()}) == len(r.runs)  # one record set each


def test_retained_keeps_the_largest_share_of_each_frame():
    e = np.zeros((2, 1, 2, 3), dtype=np.float32)              # one clip, two frames of 2x3
    e[0, 0] = [[0.5, -2.0, 0.1], [0.0, 1.0, 0.0]]             # four non-zero entries
    e[1, 0] = [[3.0, 0.0, 0.0], [0.0, 0.0, -0.2]]             # two
    out = pipelines.retain_frames(e, 0.5)
    np.testing.assert_array_equal(out[0, 0], [[0.0, -2.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(out[1, 0], [[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert pipelines.retain_frames(e, None) is e


def test_psn_tables_5_6_9_and_ablations(psn_result):
    r = psn_result
    t5 = views.wide(psn.table5(r), "method", "metric")
    assert t5.loc[("PSN", "published (PSN Table 5)"), "accuracy"] == pytest.approx(0.6492)
    assert t5.loc[("PSN", r.provenance), "accuracy"] == pytest.approx(r.psn.mean["accuracy"])
    assert t5.loc[("PSN", r.provenance), "uf1"] == pytest.approx(r.psn.pooled["uf1"])
    t6 = psn.table6(r)
    mine = t6[t6["study"].notna()]
    assert set(mine["dataset"]) == {"combined", "casme2", "samm"}
    by = r.psn.by_dataset()
    row = mine[(mine["dataset"] == "samm") & (mine["metric"] == "uar")]
    assert row["study"].iloc[0] == pytest.approx(by.loc["samm", "uar"])
    comb = t6[(t6["dataset"] == "combined") & (t6["metric"] == "uf1") & (t6["method"] == "PSN")]
    assert comb["published"].iloc[0] == pytest.approx(0.5211)
    assert comb["study"].iloc[0] == pytest.approx(by.loc["all", "uf1"])
    assert "CASME II UAR" in set(t6["column"])
    t9 = psn.table9(r)
    ran = set(t9.loc[t9["study"].notna(), "setting"])
    assert ran == {"backbone=AlexNet; fusion=SUM", "backbone=AlexNet; fusion=CONCAT"}
    assert len(t9[t9["published"].notna()]) == 27  # 9 rows x (RR mean, RR std, F1)
    ab = psn.ablations(r)
    assert set(ab.loc[ab["study"].notna(), "method"]) == {"PSN", "PSN_spatial", "PSN_tp1", "PSN_swap"}
    spatial = ab[ab["method"] == "PSN_spatial"].set_index("metric")           # PSN 3.4.2 quotes its Fig. 7 bar
    assert spatial["published_provenance"].eq("published (PSN Fig. 7)").all()
    assert spatial.loc["accuracy", "published"] == pytest.approx(0.66)
    assert spatial.loc["uf1", "published"] == pytest.approx(0.3586)
    assert ab.loc[ab["method"] == "PSN_tp1", "published_provenance"].eq(report.NOT_PUBLISHED).all()
    rt = psn.retention(r)
    assert list(dict.fromkeys(rt["retained"])) == ["30%", "100%"] and rt["published"].isna().all()
    for t in (psn.table5(r), psn.table6(r), psn.table9(r), ab, rt):
        assert set(t.loc[t["study"].notna(), "study_provenance"]) == {r.provenance}


def test_psn_confusion_audit_and_figures(psn_result, samples):
    mine, pub = psn.confusion(psn_result)
    assert mine.to_numpy().sum() == len(psn_result.samples) and pub.to_numpy().sum() == 650
    assert psn_result.audit()["leakage"].max() > 0
    assert psn_result.provenance in psn_result.caption("PSN Table 6")
    p, s = samples
    figs = [psn.ablation_figure(psn_result), psn.curves_figure(psn_result), psn.tp_figure(p, s)]
    assert len(figs[2].axes[0].lines[0].get_xdata()) >= 2


def test_psn_plans_keep_the_paper_grid_under_paper(samples):
    full = psn.variants(psn.CHAPTER.settings(params.resolve("paper")))
    assert len(full) == 1 + len(psn.ABLATIONS) + 8 + 9   # AlexNet+SUM and 100 % retention are PSN itself
    default = psn.variants(psn.CHAPTER.settings(params.resolve("default")))
    assert set(psn.ABLATIONS) <= set(default) and not any("VGG16" in k for k in default)
    assert psn.CHAPTER.settings(params.resolve("paper"))["rpca_on"] == "normalised"
    # the retention runs are the same pipeline with retain=...: E's other frames are recomputed nowhere else
    specs = {s.key[0]: s for s in psn.plan(params.resolve("smoke"), samples[1], retention=(0.3,))}
    assert specs["PSN, retain 30% of E"].pipeline_params["retain"] == 0.3 and specs["PSN"].pipeline_params["retain"] is None


# ---- notebooks ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["10_dlhn", "11_psn"])
def test_notebooks_follow_the_conventions(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    ns: dict = {}
    exec(code[0].source, ns)
    assert set(params.PARAMETERS) | {"show_real_frames"} <= set(ns) and ns["profile"] == "smoke"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code if not nbcheck.is_checked(c))
    assert not any("def " in c.source or "class " in c.source for c in code)

"""The baselines, protocols and known-answer chapters' library code on a small synthetic set (conftest's
``synth_small``: 3 subjects per layout, 7 clips each): protocols, leakage audits, tables beside the
published numbers, and the amplitude sweep's bookkeeping."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melib import datasets, params, published, report
from melib.errors import ConfigError
from melib.experiments import baselines, common, known_answer as ka, protocol_comparison as pc
from melib.experiments.common import labelled


@pytest.fixture(scope="module")
def samples(synth_small, home):
    return datasets.load("synth", synth_small)


@pytest.fixture(scope="module")
def provenance(samples):
    return report.provenance_label(samples)


@pytest.fixture(scope="module")
def p(home):
    return params.setup("smoke")


# ---- baselines ---------------------------------------------------------------------------------------------

def test_kfold_splits_follows_the_rarest_class():
    lab = pd.DataFrame({"label": ["a"] * 12 + ["b"] * 4})
    assert common.kfold_splits(lab, 10) == 4
    assert common.kfold_splits(pd.DataFrame({"label": ["a"] * 30 + ["b"] * 20}), 10) == 10
    with pytest.raises(ConfigError):
        common.kfold_splits(pd.DataFrame({"label": ["a"] * 5 + ["b"]}), 10)


@pytest.fixture(scope="module")
def loso(p, samples):
    return baselines.run(p, samples, kfold=()).loso


@pytest.fixture(scope="module")
def kfold(p, samples):
    return baselines.run(p, samples, loso=(), kfold=("LBP-TOP(2×2)+SVM", "LBP-SIP 7×7")).kfold


def test_loso_baselines_are_subject_disjoint_and_cover_every_clip(loso, samples):
    lab = labelled(samples, "megc2019")
    for r in loso.values():
        s = r.summary()
        assert s["leakage_max"] == 0.0
        assert s["n_folds"] == lab["subject"].nunique() == 9
        assert s["n_clips"] + s["excluded"] == len(lab)
        assert r.protocol == "loso" and r.aggregate == "pooled"
    assert loso["LBP-TOP"].kind == "top" and loso["LBP-SIP"].kind == "sip"


def test_kfold_baselines_leak_subjects_and_say_how_many_folds(kfold, samples):
    lab = labelled(samples, "pnso")
    k = common.kfold_splits(lab, 10)
    assert k < 10  # the small set has fewer than 10 clips in its rarest PNSO class
    for r in kfold.values():
        assert r.protocol == f"stratified_kfold(k={k})" and r.aggregate == "mean"
        assert r.summary()["leakage_max"] == 1.0  # every test clip's subject is also in training
        assert set(r.samples["dataset"]) == {"casme2", "samm"}  # SMIC has no AUs, so no PNSO label
    assert kfold["LBP-SIP 7×7"].blocks == (7, 7)


def test_loso_rows_beside_cropnet_table3(loso, provenance):
    rows = baselines.study_rows(loso, provenance, by_dataset=True)
    out = baselines.beside(rows, "CropNet", "Table 3")
    pub = published.table("CropNet", "Table 3")
    pub = pub[pub["method"] == "LBP-TOP"]
    assert set(out["dataset"]) == {"casme2", "samm", "smic", "casme2+samm+smic"}
    for _, r in out.iterrows():
        want = pub[(pub["dataset"] == r["dataset"]) & (pub["metric"] == r["metric"])]["value"]
        assert r["published"] == pytest.approx(float(want.iloc[0]))
        assert report.provenance_kind(r["study_provenance"]) == "synthetic"
        assert np.isnan(r["difference"])  # synthetic numbers are not compared with published ones
        assert r["protocol"] == "loso" and r["leakage_max"] == 0.0
    comp = out[(out["dataset"] == "casme2+samm+smic") & (out["metric"] == "uf1")]["study"].iloc[0]
    assert comp == pytest.approx(loso["LBP-TOP"].evaluation.pooled["uf1"])


def test_kfold_rows_beside_dlhn_and_psn(kfold, provenance):
    rows = baselines.study_rows(kfold, provenance)
    dlhn = baselines.beside(rows, "DLHN", "Table 6", match_dataset=False)
    assert list(dlhn["method"]) == ["LBP-TOP(2×2)+SVM"] and list(dlhn["metric"]) == ["accuracy"]
    assert dlhn["published"].iloc[0] == pytest.approx(0.5385)  # DLHN Table 6, LBP1 + SVM, mean
    assert dlhn["study"].iloc[0] == pytest.approx(kfold["LBP-TOP(2×2)+SVM"].evaluation.mean["accuracy"])
    assert dlhn["published_dataset"].iloc[0] == "CASME + CASME II + CAS(ME)² + SAMM"
    assert dlhn["study_dataset"].iloc[0] == "CASME II + SAMM"
    psn6 = baselines.beside(rows, "PSN", "Table 6", match_dataset=False).set_index("metric")
    assert psn6.loc["uar", "published"] == pytest.approx(0.3452)  # the composite row, not a database's
    assert psn6.loc["uf1", "published"] == pytest.approx(0.4016)
    with pytest.raises(ConfigError):
        baselines.beside(rows[rows["method"] == "LBP-SIP 7×7"], "DLHN", "Table 6")


def test_confusion_counts_every_test_clip(loso):
    cm, labels = baselines.confusion(loso["LBP-TOP"])
    assert labels == ["negative", "positive", "surprise"]
    assert int(np.asarray(cm).sum()) == loso["LBP-TOP"].summary()["n_clips"]


# ---- protocols ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compared(p, samples):
    lab = labelled(samples, "megc2019")
    specs = pc.protocol_specs(lab, n_splits=10, n_seeds=3)
    return pc.compare(p, samples, ["lbp_top_svm", "lbp_sip_svm"], specs)


def test_protocol_specs():
    lab = pd.DataFrame({"label": ["a"] * 30 + ["b"] * 6})
    specs = pc.protocol_specs(lab, n_splits=10, n_seeds=4, test_size=0.25, seed=2)
    assert [s[1] for s in specs] == ["loso", "stratified_kfold", "holdout"]
    assert specs[1][2] == {"n_splits": 6, "seed": 2}
    assert specs[2][2] == {"test_size": 0.25, "n_repeats": 4, "seed": 2}


def test_compare_audits_every_protocol(compared):
    table, evals = compared
    assert len(table) == 6 and len(evals) == 6
    t = table.set_index(["method", "protocol"])
    loso = t.xs("LOSO", level="protocol")
    assert (loso["leakage_max"] == 0).all() and (loso["n_folds"] == 9).all()
    others = t.drop(index="LOSO", level="protocol")
    assert (others["leakage_mean"] > 0.9).all()  # 7 clips a subject: a random test clip's subject is in training
    holdout = [lab for lab in t.index.get_level_values("protocol") if lab.startswith("holdout")]
    assert t.loc[("lbp_top_svm", holdout[0]), "n_folds"] == 3
    assert all(report.provenance_kind(v) == "synthetic" for v in table["provenance"])
    r = pc.ranking(table, "uf1")
    assert sorted(r.columns) == ["lbp_sip_svm", "lbp_top_svm"] and len(r) == 3
    assert set(np.unique(r.to_numpy())) <= {1, 2}
    best = table.loc[table.groupby("protocol", sort=False)["uf1"].idxmax(), ["protocol", "method"]]
    for _, row in best.iterrows():
        assert r.loc[row["protocol"], row["method"]] == 1


def test_holdout_spread_beside_c3d(compared, provenance):
    _, evals = compared
    spread = pc.holdout_spread(evals)
    assert len(spread) == 6 and set(spread["seed"]) == {"seed0", "seed1", "seed2"}
    out = pc.spread_beside_published(spread, provenance)
    best = out[(out["statistic"] == "best split") & (out["study_method"] == "lbp_top_svm")].iloc[0]
    assert best["published"] == pytest.approx(0.852) and best["study"] == pytest.approx(
        spread[spread["method"] == "lbp_top_svm"]["accuracy"].max())
    gap = out[(out["statistic"] == "best - worst")]
    assert np.allclose(gap["published"], 0.402) and (gap["study"] >= 0).all()
    fig = pc.spread_figure(spread)
    assert len(fig.axes[0].get_xticklabels()) == 2
    with pytest.raises(ConfigError):
        pc.holdout_spread({k: v for k, v in evals.items() if k[1] == "LOSO"})


def test_cross_dataset_matrix(p, samples, provenance):
    cross = pc.cross_dataset(p, samples, "lbp_top_svm")
    assert len(cross) == 9 and (cross["leakage_max"] == 0).all()
    diag = cross[cross["train"] == cross["test"]]
    assert (diag["protocol"] == "loso").all() and (cross[cross["train"] != cross["test"]]["protocol"] == "cross_dataset").all()
    lab = labelled(samples, "megc2019")
    off = cross[(cross["train"] == "casme2") & (cross["test"] == "smic")].iloc[0]
    assert off["n_test"] == (lab["dataset"] == "smic").sum() - 0  # every SMIC clip is tested
    m = pc.cross_matrix(cross, "uf1")
    assert m.shape == (3, 3) and m.loc["smic", "casme2"] == pytest.approx(
        cross[(cross["train"] == "smic") & (cross["test"] == "casme2")]["uf1"].iloc[0])
    beside = pc.cross_beside_published(cross, provenance)
    assert len(beside) == 12  # six ordered pairs x (accuracy, F1) of LocalRegions Table 12
    row = beside[(beside["train"] == "casme2") & (beside["test"] == "smic") & (beside["metric"] == "accuracy")].iloc[0]
    assert row["published"] == pytest.approx(0.70) and row["study"] == pytest.approx(off["accuracy"])


# ---- known-answer bookkeeping --------------------------------------------------------------------------------

def test_amplitude_roots(home):
    assert ka.amplitude_root(3) == home / "data" / "synth-amp3"
    assert ka.amplitude_root(0.5).name == "synth-amp0.5"
    a = ka.amplitude_root(3, subjects=2)
    assert a.name.startswith("synth-amp3-") and a != ka.amplitude_root(3, subjects=3)


def test_plan_overrides(p):
    pl = ka.sweep_settings(p)
    assert pl["amplitudes"] == (0.0, 3.0) and "lbp_top_svm" in pl["methods"]
    assert ka.sweep_settings(p, methods="all")["methods"] == ka.METHODS
    assert ka.sweep_settings(p, amplitudes=[1, 2])["amplitudes"] == (1.0, 2.0)
    with pytest.raises(ConfigError, match="amplitude"):  # a plan key the chapter does not have
        ka.sweep_settings(p, amplitude=[1])


def test_sweep_rows_and_tables(p, home):
    small = {"subjects": 2, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
    df, evals = ka.sweep(p, (0.0, 3.0), ["lbp_top_svm"], synth_params=small)
    assert len(df) == 4 and set(evals) == {("lbp_top_svm", 0.0), ("lbp_top_svm", 3.0)}
    assert ((df["ci_low"] <= df["value"]) & (df["value"] <= df["ci_high"])).all()
    assert (df["null_low"] <= df["null_high"]).all() and np.allclose(df["chance"], 1 / 3)
    assert (df["leakage_max"] == 0).all() and (df["protocol"] == "group_kfold").all()
    assert all(v.startswith("synthetic (melib synthetic set, non-default") for v in df["provenance"])
    assert (home / "data" / ka.amplitude_root(0, **small).name).is_dir()
    t = ka.table(df)
    assert t.shape[0] == 2 and "UAR [95% CI]" in t.columns
    v = ka.verdict(df)
    assert v.loc["lbp_top_svm", "top amplitude"] == 3.0 and isinstance(v.loc["lbp_top_svm", "chance at 0"], (bool, np.bool_))
    b = ka.beside_published(df)
    row = b[(b["method"] == "lbp_top_svm") & (b["metric"] == "uf1")].iloc[0]
    assert row["published"] == pytest.approx(0.588) and row["published_method"] == "LBP-TOP (CropNet Table 3)"
    fig = report.amplitude_figure(df)
    assert len(fig.axes) == 2
    with pytest.raises(ConfigError):
        ka.sweep(p, (0.0,), ["no_such_method"], synth_params=small)


def test_known_answer_settings(p):
    """The paper models' known-answer runs: 30 epochs and class weights (one epoch under smoke), their inputs
    and trainer changes; nothing for the baselines."""
    default = params.setup("default")
    assert ka.settings(default, "lbp_top_svm") == {}
    c3d = ka.settings(default, "c3d_model_a")
    assert c3d["epochs"] == 30 and c3d["class_weights"] == "balanced"
    assert c3d["inputs"] == {"onset_difference": True, "scale": "clip_sd"}
    assert ka.settings(default, "cropnet")["lr"] == 1e-2
    assert ka.settings(default, "localregions")["inputs"]["scale"] == "clip_sd"
    assert "epochs" not in ka.settings(params.setup("smoke"), "psn")


def test_sweep_in_a_process_pool_matches_serial(p, home, tmp_path, monkeypatch):
    """n_jobs=2 gives the serial rows, and the pool's workers write their run records where this process says
    (its MELIB_* environment travels with each task)."""
    small = {"subjects": 2, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
    serial, _ = ka.sweep(p, (0.0, 3.0), ["lbp_top_svm"], synth_params=small)
    monkeypatch.setenv("MELIB_RUNS", str(tmp_path / "pool_runs"))
    pooled, evals = ka.sweep(p, (0.0, 3.0), ["lbp_top_svm"], synth_params=small, n_jobs=2)
    pd.testing.assert_frame_equal(serial, pooled)
    assert len(list((tmp_path / "pool_runs").rglob("fold*.json"))) == sum(len(e.records) for e in evals.values())


def test_sweep_refuses_sets_of_other_amplitudes():
    from melib import params
    from melib.errors import ConfigError
    from melib.experiments import known_answer as ka

    with pytest.raises(ConfigError, match="sets are for amplitudes"):
        ka.sweep(params.setup("smoke"), (0.0, 3.0), ["lbp_top_svm"], sets={0.0: None})

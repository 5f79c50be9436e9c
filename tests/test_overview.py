"""The results overview: headline rows kept per chapter, the table beside the published headlines, its figure."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from melib import book, metrics, nbcheck, params, published, records, report, study, train  # noqa: E402
from melib.errors import ConfigError  # noqa: E402
from melib.experiments import c3d, cropnet, dlhn, local_regions, psn  # noqa: E402
from melib.experiments.common import Run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SYNTH = "synthetic (melib default set, seed 0)"
REAL = "re-run on real data (CASME II)"


def _row(paper="CropNet", table="Table 2", method="ARS+CropNet", dataset="casme2", setting=None,
         metric="accuracy", value=0.5, provenance=SYNTH, **kw) -> dict:
    return {"paper": paper, "table": table, "method": method, "dataset": dataset, "setting": setting,
            "metric": metric, "value": value, "scheme": kw.get("scheme"), "protocol": kw.get("protocol", "loso"),
            "subject_overlap": kw.get("subject_overlap", 0.0), "n_clips": kw.get("n_clips", 40),
            "provenance": provenance, "chance": kw.get("chance", 0.5), "collapsed": kw.get("collapsed")}


# ---- records ---------------------------------------------------------------------------------------------

def test_headlines_round_trip_atomically(tmp_path):
    rows = pd.DataFrame([_row(), _row(table="Table 3", dataset="casme2+samm+smic", metric="uf1", value=0.25)])
    path = records.save_headline(rows, "tag1", "CropNet", root=tmp_path)
    assert path == tmp_path / "headlines" / "tag1" / "CropNet.csv"
    assert [p.name for p in path.parent.iterdir()] == ["CropNet.csv"]  # no temporary file left
    c3d_rows = pd.DataFrame([_row("C3D", "Table 4", "Model-A", setting="Scenario-2", provenance=REAL,
                                  protocol="stratified_kfold(k=5)", subject_overlap=0.75, scheme="c3d")])
    records.save_headline(c3d_rows, "tag1", "C3D", root=tmp_path)
    back = records.headlines("tag1", root=tmp_path)
    assert list(back.columns) == records.HEADLINE_COLUMNS and len(back) == 3
    got = back.set_index(["paper", "table", "metric"])
    assert got.loc[("CropNet", "Table 3", "uf1"), "value"] == 0.25
    assert got.loc[("C3D", "Table 4", "accuracy"), "setting"] == "Scenario-2"
    assert got.loc[("C3D", "Table 4", "accuracy"), "subject_overlap"] == 0.75
    assert got.loc[("C3D", "Table 4", "accuracy"), "scheme"] == "c3d"
    # a re-run replaces the paper's file; an empty one leaves the header only
    records.save_headline(pd.DataFrame(columns=records.HEADLINE_COLUMNS), "tag1", "CropNet", root=tmp_path)
    assert set(records.headlines("tag1", root=tmp_path)["paper"]) == {"C3D"}
    empty = records.headlines("other", root=tmp_path)
    assert empty.empty and list(empty.columns) == records.HEADLINE_COLUMNS


def test_save_headline_refuses_foreign_or_incomplete_rows(tmp_path):
    with pytest.raises(ConfigError, match="C3D"):
        records.save_headline(pd.DataFrame([_row()]), "t", "C3D", root=tmp_path)
    with pytest.raises(ConfigError, match="provenance"):
        records.save_headline(pd.DataFrame([_row()]).drop(columns="provenance"), "t", "CropNet", root=tmp_path)
    assert not (tmp_path / "headlines" / "t").exists() or not any((tmp_path / "headlines" / "t").iterdir())


def test_headline_tag_ignores_the_device_and_keeps_per_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_RUNS", str(tmp_path))
    p = params.resolve("smoke")
    assert params.headline_tag(p) == params.headline_tag(params.resolve("smoke", device="cuda"))
    assert params.headline_tag(p) != params.headline_tag(params.resolve("smoke", seed=1))
    assert params.headline_tag(p) != params.headline_tag(params.resolve("smoke", epochs=2))
    rows = pd.DataFrame([_row()])
    assert params.keep_headline(p, rows) is rows
    assert len(params.kept_headlines(p)) == 1 and params.kept_headlines(params.resolve("smoke", seed=1)).empty
    empty = pd.DataFrame(columns=records.HEADLINE_COLUMNS)
    with pytest.raises(ConfigError):
        params.keep_headline(p, empty)  # no row and no attrs["paper"]: whose?
    empty.attrs["paper"] = "CropNet"
    params.keep_headline(p, empty)
    assert params.kept_headlines(p).empty


# ---- the overview table ------------------------------------------------------------------------------------

def test_results_overview_one_row_per_published_headline_with_both_provenances():
    pub = published.headlines()
    study_rows = pd.DataFrame([
        _row(value=0.40),  # CropNet Table 2, synthetic
        _row("C3D", "Table 4", "Model-A", setting="Scenario-2", value=0.50, provenance=REAL,
             protocol="stratified_kfold(k=5)", subject_overlap=0.8, scheme="c3d"),
        _row("C3D", "Table 4", "Model-A", setting="Scenario-3", value=0.60, provenance=REAL,
             protocol="stratified_kfold(k=5)", scheme="megc2019"),  # another scheme: shown, not subtracted
        _row("DLHN", "Table 6", "DLHN", dataset="casme2", setting="a=0.45", value=0.7, provenance=REAL),
        _row("PSN", "Table 9", "PSN", value=0.9),  # not a headline: not shown
    ])
    t = report.results_overview(study_rows)
    assert len(t) == len(pub)
    assert list(t[["paper", "table", "metric"]].itertuples(index=False)) == \
        list(pub[["paper", "table", "metric"]].itertuples(index=False))
    assert t["published_provenance"].map(report.provenance_kind).eq("published").all()
    assert t["study_provenance"].notna().all() and t["published"].notna().all()
    key = t.set_index(["paper", "table", "setting", "metric"])
    syn = key.loc[("CropNet", "Table 2", "", "accuracy")]
    assert syn["study"] == 0.40 and syn["study_provenance"] == SYNTH and np.isnan(syn["difference"])
    real = key.loc[("C3D", "Table 4", "Scenario-2", "accuracy")]
    assert real["difference"] == pytest.approx(0.50 - 0.565)
    assert real["subject_overlap"] == 0.8 and real["study_protocol"] == "stratified_kfold(k=5)"
    assert real["published_protocol"] == "stratified_kfold(k=5)"
    # real data, but not the paper's four-database composite: shown, not subtracted
    other = key.loc[("DLHN", "Table 6", "a=0.45", "accuracy")]
    assert other["study"] == 0.7 and other["study_dataset"] == "casme2" and np.isnan(other["difference"])
    other_scheme = key.loc[("C3D", "Table 4", "Scenario-3", "accuracy")]
    assert other_scheme["study"] == 0.6 and other_scheme["study_scheme"] == "megc2019"
    assert other_scheme["published_scheme"] == "c3d" and np.isnan(other_scheme["difference"])
    missing = key.loc[("CropNet", "Table 3", "", "uf1")]
    assert missing["study_provenance"] == report.NOT_RUN and np.isnan(missing["study"])
    assert (t["study_provenance"] == report.NOT_RUN).sum() == len(pub) - 4


def test_overview_table_puts_each_number_beside_its_provenance():
    t = report.results_overview(pd.DataFrame([
        _row(value=0.40),
        _row("C3D", "Table 4", "Model-A", setting="Scenario-2", value=0.50, provenance=REAL,
             protocol="stratified_kfold(k=5)", subject_overlap=0.8, scheme="c3d")]))
    view = report.overview_table(t)
    assert len(view) == len(t) and list(view.columns) == ["published", "published provenance", "this study",
                                                            "study provenance", "difference"]
    c3d = view.loc["C3D Table 4: Model-A Scenario-2, accuracy"]
    assert c3d["published"] == "0.565 (CASME II; c3d; stratified_kfold(k=5))"
    assert c3d["this study"] == "0.500 (CASME II; c3d; stratified_kfold(k=5), subject overlap 0.80)"
    assert c3d["study provenance"] == REAL and c3d["difference"] == pytest.approx(-0.065)
    not_run = view.loc["C3D Table 4: Model-A Scenario-3, accuracy"]
    assert not_run["this study"] == "—" and not_run["study provenance"] == report.NOT_RUN
    gone = "collapsed: predicts negative for every clip (majority rate 0.571)"
    t = report.results_overview(pd.DataFrame([_row(value=0.571, collapsed=gone)]))
    assert report.overview_table(t).loc["CropNet Table 2: ARS+CropNet, accuracy", "this study"].endswith("; " + gone)


def test_results_overview_with_nothing_run():
    t = report.results_overview(records.headlines("none", root="/nonexistent"))
    assert len(t) == len(published.headlines())
    assert (t["study_provenance"] == report.NOT_RUN).all() and t["difference"].isna().all()
    fig = report.overview_figure(t)
    plt.close(fig)


def test_overview_figure_marks_each_row_and_says_synthetic_is_no_reproduction():
    t = report.results_overview(pd.DataFrame([_row(value=0.4), _row("C3D", "Table 4", "Model-A",
                                                                    setting="Scenario-2", provenance=REAL)]))
    fig = report.overview_figure(t)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == len(t)
    assert "not reproductions" in ax.get_title()
    assert not ax.get_lines()  # no one chance line: each run's chance is marked on its own line
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels[0] == "published" and any("synthetic" in x for x in labels) and any("real" in x for x in labels)
    assert any(x.startswith("chance of this study's run") for x in labels)
    assert not any(x.startswith("collapsed") for x in labels)
    assert sum(x.get_text() == "not run in this study" for x in ax.texts) == len(t) - 2
    plt.close(fig)
    gone = "collapsed: predicts negative for every clip (majority rate 0.571)"
    t = report.results_overview(pd.DataFrame([_row(value=0.571, chance=0.571, collapsed=gone)]))
    fig = report.overview_figure(t)
    ax = fig.axes[0]
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert "collapsed: this study's run predicts one class for every clip" in labels
    assert sum(x.get_text() == "collapsed: one class for every clip" for x in ax.texts) == 1
    ticks = [c for c in ax.collections if c.get_offsets().shape[0] == 1 and c.get_offsets()[0][0] == 0.571]
    assert len(ticks) >= 2  # the chance tick and the collapsed run's cross at the majority rate
    plt.close(fig)


# ---- each chapter's headline() on hand-made runs ------------------------------------------------------------

LABELS = ["a", "b"]


def _evaluation(datasets=("casme2",), leakage=(0.0, 0.0), k=2, seed=0) -> train.Evaluation:
    rng = np.random.default_rng(seed)
    recs = []
    for fold, leak in enumerate(leakage):
        preds = []
        for i in range(k * 4):
            y = LABELS[i % 2]
            pr = rng.dirichlet([1, 1])
            preds.append({"clip": f"c{fold}_{i}", "dataset": datasets[i % len(datasets)], "subject": f"s{i}",
                          "y_true": y, "y_pred": LABELS[int(pr.argmax())], "proba": list(pr)})
        recs.append({"fold": fold, "fold_name": f"fold{fold}", "model": "m", "run": "r",
                     "protocol_params": {"n_splits": len(leakage)}, "audit": {"leakage": leak, "n_test": len(preds)},
                     "predictions": preds, "metrics": metrics.scores([p["y_true"] for p in preds],
                                                                     [p["y_pred"] for p in preds], LABELS)})
    return train.Evaluation(recs, LABELS, "r")


def _run(protocol="loso", datasets=("casme2",), synthetic=True, **kw) -> Run:
    ev = _evaluation(datasets, **kw)
    samples = pd.DataFrame({"dataset": list(datasets), "synthetic": synthetic, "label": "a"})
    samples.attrs["scheme"] = "megc2019"
    return Run("m", protocol, ev, samples)


def _check(rows: pd.DataFrame, paper: str):
    assert list(rows.columns) == records.HEADLINE_COLUMNS and rows.attrs["paper"] == paper
    for r in rows.itertuples():  # chance: 1 / classes, or the majority rate for accuracy; no run here collapsed
        assert r.chance == (pytest.approx(0.5) if r.metric != "accuracy" else r.chance) and 0.5 <= r.chance <= 1
    assert rows["collapsed"].isna().all()
    assert (rows["paper"] == paper).all() and rows["provenance"].map(report.provenance_kind).isin(
        ["synthetic", "real"]).all()
    assert (rows["scheme"] == "megc2019").all()  # every headline row says its label scheme
    t = report.results_overview(rows)
    mine = t[t["paper"] == paper]
    assert (mine["study_provenance"] != report.NOT_RUN).sum() == len(rows), "a headline row matched nothing"


def test_headline_of_each_chapter_matches_the_published_rows():
    both = ("casme2", "samm")
    # DLHN: the fused run at a = 0.45, mean of folds
    h, r = _run("stratified_kfold", both, seed=1), _run("stratified_kfold", both, seed=2)
    h.evaluation.records[0]["audit"]["leakage"] = 0.6
    r.evaluation.records[0]["audit"]["leakage"] = 0.6
    res = dlhn.Result(h, r, None, 0.3, "stratified_kfold", {"n_splits": 2}, SYNTH, h.samples)
    rows = dlhn.headline(res)
    _check(rows, "DLHN")
    assert rows["setting"].tolist() == ["a=0.45"] and rows["dataset"].tolist() == ["casme2+samm"]
    assert rows["value"].iloc[0] == pytest.approx(res.fused(0.45).mean["accuracy"])
    assert rows["protocol"].iloc[0] == "stratified_kfold(k=2)" and rows["subject_overlap"].iloc[0] == 0.6
    # PSN: RR mean of folds, UF1 pooled
    pr = _run("stratified_kfold", both)
    rows = psn.headline(psn.Result({"PSN": pr}, {"PSN": {}}, "stratified_kfold", {}, SYNTH, pr.samples))
    _check(rows, "PSN")
    assert rows.set_index("metric")["value"].to_dict() == pytest.approx(
        {"accuracy": pr.evaluation.mean["accuracy"], "uf1": pr.evaluation.pooled["uf1"]})
    # C3D: scenarios 2 and 3, provenance of the scenario's datasets only (SAMM's real clips are not used)
    s2, s3 = _run("stratified_kfold"), _run("stratified_kfold", ("casme2", "smic"))
    s2.samples = pd.DataFrame({"dataset": ["casme2", "samm"], "synthetic": [True, False], "label": "a"})
    s2.samples.attrs["scheme"] = "megc2019"
    rows = c3d.headline(c3d.Result({("Model-A", 2): s2, ("Model-A", 3): s3, ("Model-B", 2): s2}, s2.samples, SYNTH))
    _check(rows, "C3D")
    assert rows["setting"].tolist() == ["Scenario-2", "Scenario-3"]
    assert rows["dataset"].tolist() == ["casme2", "casme2+smic"] and rows["provenance"].str.startswith("synth").all()
    none = c3d.headline(c3d.Result({}, s2.samples, SYNTH))
    assert none.empty and none.attrs["paper"] == "C3D"
    # CropNet: Table 2 accuracy on CASME II, Table 3 UF1 and UAR on the composite, pooled
    t2, t3 = _run(synthetic=False), _run(datasets=("casme2", "samm", "smic"), synthetic=False)
    rows = cropnet.headline(cropnet.Result({("cropnet5", "CropNet+ARS"): t2, ("cropnet5", "CropNet+RRS"): t2,
                                            ("megc2019", "CropNet+ARS"): t3}, {}))
    _check(rows, "CropNet")
    assert rows["table"].tolist() == ["Table 2", "Table 3", "Table 3"]
    assert rows["value"].tolist() == pytest.approx([t2.evaluation.pooled["accuracy"], t3.evaluation.pooled["uf1"],
                                                    t3.evaluation.pooled["uar"]])
    assert rows["provenance"].str.startswith("re-run on real data").all()
    # LocalRegions: Table 10 on the composite, Table 11 on CASME II + SAMM, pooled
    rows = local_regions.headline(local_regions.Result({("megc2019", "FULL"): _run(datasets=("casme2", "samm", "smic")),
                                                        ("localregions5", "FULL"): _run(datasets=both)}, {}))
    _check(rows, "LocalRegions")
    assert rows[["table", "metric"]].values.tolist() == [["Table 10", "uf1"], ["Table 10", "uar"],
                                                         ["Table 11", "uf1"], ["Table 11", "accuracy"]]


# ---- the notebook and the book ---------------------------------------------------------------------------

def test_overview_notebook_follows_the_conventions_and_replaces_the_prose_page():
    nb = nbformat.read(ROOT / "notebooks" / "50_results_overview.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and nb.cells.index(tagged[0]) == 1
    ns: dict = {}
    exec(tagged[0].source, ns)
    assert set(params.PARAMETERS) | {"show_real_frames"} <= set(ns) and ns["profile"] == "smoke"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells
               if c.cell_type == "code" and not nbcheck.is_checked(c))
    assert "CHAPTER.setup(" in nb.cells[2].source
    assert any("Provenance rules" in c.source for c in nb.cells if c.cell_type == "markdown")
    files = book._toc_files(yaml.safe_load((ROOT / "book" / "_toc.yml").read_text()))
    assert "executed/50_results_overview" in files and "results_overview" not in files
    assert not (ROOT / "book" / "results_overview.md").exists()
    assert study.toc_notebooks()[-1] == study.OVERVIEW  # after every chapter whose headline it reads
    for name in ("10_dlhn", "11_psn", "12_c3d", "13_cropnet", "14_local_regions"):
        last = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[-1]
        assert last.cell_type == "code" and last.source.startswith("params.keep_headline(p, "), name


def test_the_overview_is_re_run_when_a_chapter_keeps_new_headlines(tmp_path):
    src, exe, dep = tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "CropNet.csv"
    nb = nbformat.v4.new_notebook(metadata={"melib": {"run_key": "k"}})
    nbformat.write(nb, src)
    dep.write_text("x")
    nbformat.write(nb, exe)
    assert study.is_current(src, exe, "k", [dep])
    t = exe.stat().st_mtime
    os.utime(dep, (t + 10, t + 10))
    assert not study.is_current(src, exe, "k", [dep])

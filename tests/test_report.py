"""Provenance labels, the published-versus-study table, figures, and a tiny book build."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from melib import book as jbook, display, published, report  # noqa: E402
from melib.errors import ConfigError, DataError  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"


def _samples(datasets, synthetic, labels=None):
    df = pd.DataFrame({"dataset": datasets, "subject": [f"{d}/s{i}" for i, d in enumerate(datasets)],
                       "clip": [f"c{i}" for i in range(len(datasets))], "synthetic": synthetic})
    if labels is not None:
        df["label"] = pd.Series(labels, dtype=object)
    return df


# ---- provenance ----------------------------------------------------------------------------------------

def test_real_data_is_named_in_canonical_order():
    s = _samples(["samm", "casme2", "casme2", "casme_sq"], [False] * 4)
    assert report.provenance_label(s) == "re-run on real data (CASME II, CAS(ME)², SAMM)"
    assert report.provenance_kind(report.provenance_label(s)) == "real"


def test_synthetic_clips_in_release_layouts_are_still_synthetic():
    # The synthetic set is written in the releases' layouts, so its dataset column says casme2/samm.
    s = _samples(["casme2", "samm"], [True, True])
    s.attrs["seed"] = 3
    label = report.provenance_label(s)
    # Without the set's synth_params.json nothing shows it is the default set.
    assert label == "synthetic (melib synthetic set, seed 3)"
    assert "reproduced" not in label and report.provenance_kind(label) == "synthetic"
    assert report.provenance_label(_samples(["smic"], [True]), seed=7) == "synthetic (melib synthetic set, seed 7)"
    assert report.provenance_label(_samples(["smic"], [True])) == "synthetic (melib synthetic set)"


def test_seed_is_read_from_the_synthetic_root(tmp_path):
    from melib import synth
    (tmp_path / "synth_params.json").write_text(json.dumps(synth.default_params(5)))
    s = _samples(["casme2"], [True])
    s.attrs["root"] = str(tmp_path)
    assert report.provenance_label(s) == "synthetic (melib default set, seed 5)"
    assert report.provenance_label(s, seed=5) == "synthetic (melib default set, seed 5)"
    (tmp_path / "synth_params.json").write_text(json.dumps(synth.default_params(5, amplitude=0.0)))
    assert report.provenance_label(s) == "synthetic (melib synthetic set, non-default parameters, seed 5)"


def test_mixed_and_excluded_rows():
    s = _samples(["casme2", "samm", "smic"], [True, False, False], labels=["a", "b", None])
    label = report.provenance_label(s)
    assert label.startswith("mixed") and "not a reproduction" in label and "SAMM" in label
    assert "SMIC" not in label  # its only clip is excluded by the label scheme
    only_real = _samples(["casme2", "samm"], [True, False], labels=[None, "x"])
    assert report.provenance_kind(report.provenance_label(only_real)) == "real"


def test_provenance_needs_the_synthetic_column():
    with pytest.raises(DataError, match="synthetic"):
        report.provenance_label(pd.DataFrame({"dataset": ["casme2"]}))
    with pytest.raises(DataError):
        report.provenance_label(_samples(["casme2"], [False], labels=[None]))
    with pytest.raises(ConfigError):
        report.provenance_kind("made up")


# ---- side by side --------------------------------------------------------------------------------------

def _psn_published():
    t = published.table("PSN", 5)
    return t[t["method"].isin(["PSN", "FR", "KFC"])]


def test_side_by_side_keeps_provenance_on_every_row():
    study = pd.DataFrame({"method": ["PSN", "PSN"], "metric": ["accuracy", "uf1"], "value": [0.41, 0.30]})
    out = report.side_by_side(study, _psn_published(), provenance="synthetic (melib default set, seed 0)")
    assert len(out) == 6  # PSN, FR, KFC x accuracy, uf1
    assert out["published_provenance"].eq("published (PSN Table 5)").all()
    assert out["study_provenance"].notna().all() and out["published_provenance"].notna().all()
    psn = out[out.method == "PSN"].set_index("metric")
    assert psn.loc["accuracy", "published"] == pytest.approx(0.6492) and psn.loc["accuracy", "study"] == 0.41
    assert (psn["study_provenance"] == "synthetic (melib default set, seed 0)").all()
    assert out[out.method == "FR"]["study_provenance"].eq(report.NOT_RUN).all()
    # A synthetic number is not an attempt at the published one: no difference is shown.
    assert out["difference"].isna().all()


def test_side_by_side_difference_only_for_real_data_and_study_only_rows():
    study = pd.DataFrame({"method": ["PSN", "PSN-lite"], "metric": ["accuracy", "accuracy"], "value": [0.60, 0.5],
                          "provenance": "re-run on real data (CASME, CASME II, CAS(ME)², SAMM)"})
    out = report.side_by_side(study, _psn_published())
    row = out[(out.method == "PSN") & (out.metric == "accuracy")].iloc[0]
    assert row["difference"] == pytest.approx(0.60 - 0.6492)
    lite = out[out.method == "PSN-lite"].iloc[0]
    assert lite["published_provenance"] == report.NOT_PUBLISHED and np.isnan(lite["published"])


def test_side_by_side_refuses_ambiguity_and_percentages():
    study = pd.DataFrame({"method": ["PSN"], "metric": ["accuracy"], "value": [64.9]})
    with pytest.raises(ConfigError, match="percentages"):
        report.side_by_side(study, _psn_published(), provenance="synthetic (melib default set, seed 0)")
    with pytest.raises(ConfigError, match="provenance"):
        report.side_by_side(study.assign(value=0.6), _psn_published())
    with pytest.raises(ConfigError, match="several published rows"):
        report.side_by_side(study.assign(value=0.6), published.table("PSN", 6),
                            provenance="synthetic (melib default set, seed 0)")
    with pytest.raises(ConfigError, match="published numbers"):
        report.side_by_side(_psn_published(), _psn_published())


# ---- figures -------------------------------------------------------------------------------------------

def test_confusion_figure_axes_and_counts():
    cm = published.confusion("DLHN", "Fig. 9")
    fig = report.confusion_figure(cm, title="DLHN, published (DLHN Fig. 9)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(cm.columns)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(cm.index)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.to_numpy().ravel()]
    assert ax.get_title() == "DLHN, published (DLHN Fig. 9)"
    plt.close(fig)
    fig = report.confusion_figure(np.array([[3, 1], [0, 4]]), ["a", "b"], normalize=True)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.75", "0.25", "0.00", "1.00"]
    plt.close(fig)
    with pytest.raises(DataError):
        report.confusion_figure(np.ones((2, 3)), ["a", "b"])


def test_curves_figure_draws_what_was_logged():
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "train_acc": 0.3 + 0.1 * e}
               for e in range(1, 6)]
    fig = report.curves_figure(history)
    loss, acc = fig.axes
    assert loss.get_ylabel() == "loss" and acc.get_ylabel() == "accuracy" and loss.get_xlabel() == "epoch"
    assert [ln.get_label() for ln in loss.get_lines()] == ["train", "validation"]
    assert [ln.get_label() for ln in acc.get_lines()] == ["train"]
    assert list(acc.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5]
    plt.close(fig)
    fig = report.curves_figure([{"epoch": 1, "train_loss": 0.5}])
    assert any("no accuracy logged" in t.get_text() for t in fig.axes[1].texts)
    plt.close(fig)
    with pytest.raises(DataError):
        report.curves_figure([])


def test_amplitude_figure_has_error_bars_and_chance():
    rows = [{"amplitude": a, "metric": m, "value": v, "ci_low": v - 0.05, "ci_high": v + 0.05, "n_classes": 4}
            for a, v in ((0, 0.25), (1, 0.5), (3, 0.9)) for m in ("uf1", "uar")]
    fig = report.amplitude_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("UF1", "UAR")):
        assert ax.get_ylabel() == name and ax.get_xlabel().startswith("motion amplitude")
        assert len(ax.containers) == 1  # one errorbar series
        chance = [ln for ln in ax.get_lines() if ln.get_label() == "chance"]
        assert chance and chance[0].get_ydata()[0] == pytest.approx(0.25)
        _, caps, bars = ax.containers[0]
        segs = bars[0].get_segments()
        assert [tuple(np.round(s[:, 1], 3)) for s in segs] == [(0.2, 0.3), (0.45, 0.55), (0.85, 0.95)]
    plt.close(fig)
    with pytest.raises(DataError):
        report.amplitude_figure(pd.DataFrame({"amplitude": [1], "value": [0.5]}))


# ---- the book ------------------------------------------------------------------------------------------

def test_book_config_and_toc():
    cfg = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert cfg["title"] == "Micro-expression recognition: five papers, one study"
    assert cfg["execute"]["execute_notebooks"] == "off" and cfg["only_build_toc_files"] is True
    assert cfg["bibtex_bibfiles"] == ["references.bib"]
    files = jbook._toc_files(yaml.safe_load((BOOK / "_toc.yml").read_text()))
    nbs = ["00_datasets", "01_preprocessing", "40_known_answer", "10_dlhn", "11_psn", "12_c3d", "13_cropnet",
           "14_local_regions", "20_baselines", "30_protocols", "50_results_overview"]
    assert [f for f in files if f.startswith("executed/")] == [f"executed/{n}" for n in nbs]
    # every prose page listed exists; each paper notebook is followed by its deviations page
    for f in files:
        if not f.startswith("executed/"):
            assert (BOOK / f"{f}.md").is_file(), f
    for nb, dev in zip(nbs[3:8], ("dlhn", "psn", "c3d", "cropnet", "local_regions")):
        assert files[files.index(f"executed/{nb}") + 1] == f"deviations/{dev}"


def test_references_cite_keys_that_exist():
    import re
    bib = (BOOK / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for md in BOOK.rglob("*.md"):
        if "_build" in md.parts or "executed" in md.parts:
            continue
        for group in re.findall(r"\{cite[tp]?\}`([^`]+)`", md.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited and cited <= keys, cited - keys


def _tiny_book(tmp_path: Path) -> tuple[Path, Path]:
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(BOOK / "_config.yml", book / "_config.yml")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/00_tiny\n")
    (book / "references.bib").write_text("@misc{x, title={X}, year={2020}}\n")
    (book / "intro.md").write_text("# Tiny\n\nA page.\n")
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print(6 * 7)", execution_count=1)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42 from an executed cell\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny notebook"), code]
    executed = tmp_path / "executed_src"
    executed.mkdir()
    nbformat.write(nb, executed / "00_tiny.ipynb")
    return book, executed


def test_build_book_builds_a_tiny_book_without_executing(tmp_path):
    book, executed = _tiny_book(tmp_path)
    index = jbook.build_book(book, executed_dir=executed)
    assert index == book / "_build" / "html" / "index.html" and index.is_file()
    page = (book / "_build" / "html" / "executed" / "00_tiny.html").read_text()
    assert "42 from an executed cell" in page  # the stored output, not a re-run's "42"
    assert (book / "executed" / "00_tiny.ipynb").is_file()


def test_build_book_reports_missing_pages_and_failures(tmp_path):
    book, executed = _tiny_book(tmp_path)
    with pytest.raises(jbook.BookBuildError, match="executed/00_tiny"):
        jbook.build_book(book, executed_dir=tmp_path / "nowhere")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: deviations/none\n")
    with pytest.raises(jbook.BookBuildError, match="deviations/none"):
        jbook.build_book(book, executed_dir=executed, missing="placeholder")


def test_build_book_failure_carries_the_log_tail(tmp_path):
    book, executed = _tiny_book(tmp_path)
    cfg = yaml.safe_load((book / "_config.yml").read_text())
    cfg["sphinx"]["extra_extensions"] = ["no_such_ext"]
    (book / "_config.yml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(jbook.BookBuildError, match="no_such_ext"):
        jbook.build_book(book, executed_dir=executed)


def test_intro_headlines_are_the_transcribed_numbers():
    intro = (BOOK / "intro.md").read_text()
    for _, r in published.headlines().iterrows():
        printed = r["printed"].rstrip("%")
        assert printed in intro, (r["paper"], r["table"], r["printed"])
        assert f"({r['paper']} {r['table']})" in intro


def test_study_table_feeds_side_by_side():
    runs = pd.DataFrame([{"model": "psn", "protocol": "stratified_kfold", "scheme": "pnso", "accuracy": 0.52,
                          "uf1": 0.31, "uar": 0.33, "accuracy_mean": 0.5, "uf1_mean": 0.3, "uar_mean": 0.32}])
    prov = "synthetic (melib default set, seed 0)"
    mean = report.study_table(runs, prov, method="PSN", aggregate="mean")
    assert dict(zip(mean.metric, mean.value)) == {"accuracy": 0.5, "uf1": 0.3, "uar": 0.32}
    assert (mean.provenance == prov).all()
    pooled = report.study_table(runs, prov, method="PSN")
    assert dict(zip(pooled.metric, pooled.value))["accuracy"] == 0.52
    out = report.side_by_side(mean[mean.metric != "uar"], _psn_published()[lambda d: d.method == "PSN"])
    assert out.set_index("metric").loc["uf1", ["published", "study"]].tolist() == [0.5211, 0.3]
    with pytest.raises(ConfigError):
        report.study_table(runs, "my numbers")
    with pytest.raises(DataError):
        report.study_table(runs.drop(columns="uar_mean"), prov, aggregate="mean")


def test_strict_build_fails_on_a_broken_citation(tmp_path):
    book, executed = _tiny_book(tmp_path)
    (book / "intro.md").write_text("# Tiny\n\nSee {cite}`no_such_key`.\n")
    assert jbook.build_book(book, executed_dir=executed).is_file()  # a warning only
    with pytest.raises(jbook.BookBuildError, match="no_such_key"):
        jbook.build_book(book, executed_dir=executed, strict=True)


def test_the_study_book_builds_strictly_with_placeholders(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", "executed"))
    index = jbook.build_book(book, executed_dir=tmp_path / "none", missing="placeholder", strict=True)
    assert "five papers, one study" in (index.parent / "intro.html").read_text()
    placeholder = (book / "_build" / "html" / "executed" / "11_psn.html").read_text()
    assert "has not been executed yet" in placeholder
    refs = (book / "_build" / "html" / "references.html").read_text()
    assert "Lagrange" in refs and "Talluri" in refs


# ---- the page a reader sees --------------------------------------------------------------------------------

SYNTH = "synthetic (melib default set, seed 0)"


def test_tables_read_like_a_paper(monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    df = pd.DataFrame({"method": ["PSN", "PSN", "LBP-TOP"], "study": [0.333333, np.nan, 0.756684],
                       "n_clips": [40.0, 40.0, np.nan], "study_provenance": [SYNTH, "published (PSN Table 5)",
                                                                            "published (PSN Table 9)"],
                       "root": [str(tmp_path / "data" / "synth"), None, "/somewhere/else/data/CASME2"]})
    t = display.table(df)
    html, meta = t._repr_html_()
    assert "<th>0</th>" not in html and "NaN" not in html and "None" not in html and str(tmp_path) not in html
    assert "overflow-x: auto" in html  # a wide table scrolls instead of being cut
    assert t.frame["study"].tolist() == ["0.333", "—", "0.757"] and t.frame["n clips"].tolist() == ["40", "40", "—"]
    assert t.frame["study provenance"].tolist() == ["synthetic", "published (PSN Table 5)", "published (PSN Table 9)"]
    assert t.frame["root"].tolist() == ["data/synth", "—", "…/data/CASME2"]
    assert t.legend() == "synthetic: melib default set, seed 0" and "Provenance: synthetic: melib default" in html
    two = display.table(pd.DataFrame({"provenance": [SYNTH, "synthetic (melib synthetic set, seed 1)"]}))
    assert two.frame["provenance"].tolist() == ["synthetic a", "synthetic b"]
    assert two.legend() == "synthetic a: melib default set, seed 0; synthetic b: melib synthetic set, seed 1"
    # a meaningful index stays, provenance labels in it become tags too
    wide = pd.DataFrame({"uf1": [0.5, 0.25]}, index=pd.MultiIndex.from_tuples(
        [("PSN", "published (PSN Table 5)"), ("PSN", SYNTH)], names=["method", "source"]))
    w = display.table(wide)
    assert w.show_index and list(w.frame.index.get_level_values("source")) == ["published (PSN Table 5)", "synthetic"]
    assert display.markdown_table(wide).splitlines()[:3] == ["| method | source | uf1 |", "| --- | --- | --- |",
                                                             "| PSN | published (PSN Table 5) | 0.500 |"]


def test_install_makes_every_dataframe_and_markdown_read_so(monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import Markdown

    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    assert display.install(shell=None) is False  # no kernel here: nothing done
    shell = InteractiveShell()
    assert display.install(shell)
    data, _ = shell.display_formatter.format(pd.DataFrame({"x": [0.123456, None]}))
    assert "melib-scroll" in data["text/html"] and "0.123" in data["text/html"] and "—" in data["text/html"]
    data, _ = shell.display_formatter.format(Markdown(f"root {tmp_path}/data/synth"))
    assert data["text/markdown"] == "root data/synth"


def _executed_notebook(parameters: dict):
    from melib.experiments import views

    nb = nbformat.v4.new_notebook()
    stored = nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('profile = "default"', metadata={"tags": ["injected-parameters"]})
    setup = nbformat.v4.new_code_cell("p = setup(profile)\ndisplay(views.parameters(p))")
    box = nbformat.v4.new_code_cell("display(views.opening(...))")
    for cell, block in ((setup, views.display.Block("| parameter | value |", "parameters")),
                        (box, views.display.Block("**This study ran** on X.", "summary"))):
        text, md = block._repr_markdown_()
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text},
                                               metadata={"text/markdown": md})]
    plot = nbformat.v4.new_code_cell("plt.show()")
    plot.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a figure\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# PSN: a title\n\nThe intro."), stored, injected, setup, plot, box]
    nb.metadata["papermill"] = {"parameters": parameters, "input_path": "/work/x/notebooks/11_psn.ipynb"}
    return nb


def test_reader_copy_folds_the_code_and_opens_with_the_box():
    nb = jbook.reader_copy(_executed_notebook({"profile": "default", "plan": {"max_folds": 2}}), "11_psn")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown", "markdown", "markdown", "markdown", "code", "code", "code", "code", "code"]
    title, box, rerun, intro = (c.source for c in nb.cells[:4])
    assert title == "# PSN: a title" and intro == "The intro."
    assert box.startswith("::::{admonition} In brief") and "**This study ran** on X." in box
    assert rerun.startswith(":::{dropdown} Re-run this chapter") and "| parameter | value |" in rerun
    assert ".venv/bin/melib study --profile default --plan-changes '{\"max_folds\": 2}' --notebooks 11_psn " \
           "--force" in rerun
    assert ".venv/bin/papermill notebooks/11_psn.ipynb notebooks/executed/11_psn.ipynb -p profile default " \
           "-y 'plan: {\"max_folds\": 2}'" in rerun
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.metadata["tags"] for c in code[:2]] == [["parameters", "remove-cell"],
                                                       ["injected-parameters", "remove-cell"]]
    assert all("remove-input" in c.metadata["tags"] for c in code[2:])
    assert [len(c.outputs) for c in code[2:]] == [0, 1, 0]  # the blocks moved out; the figure stays
    assert not nb.metadata["papermill"]["input_path"].startswith("/work/x")


def test_rerun_commands_say_every_parameter():
    cmds = jbook.rerun_commands("10_dlhn", {"profile": "smoke", "dataset": "casme2", "show_real_frames": True})
    assert len(cmds) == 1 and cmds[0].startswith(".venv/bin/papermill")  # melib study has no --dataset
    assert "-p dataset casme2" in cmds[0] and "-p show_real_frames True" in cmds[0]
    cmds = jbook.rerun_commands("10_dlhn", {"profile": "smoke", "epochs": 2, "show_real_frames": True})
    assert cmds[0] == ".venv/bin/melib study --profile smoke --epochs 2 --show-real-frames --notebooks 10_dlhn --force"


def test_colophon_lists_the_versions_each_chapter_ran_with(tmp_path):
    env = jbook.environment()
    assert set(env["packages"]) >= {"torch", "numpy", "scipy", "opencv", "scikit-image", "scikit-learn", "pandas",
                                    "dlib"} and env["machine"]["cores"] >= 1
    for name, numpy_version in (("10_dlhn", env["packages"]["numpy"]), ("11_psn", "0.0-other")):
        nb = nbformat.v4.new_notebook()
        nb.metadata["melib"] = {"environment": {**env, "packages": {**env["packages"], "numpy": numpy_version}}}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    page = jbook.colophon_page(tmp_path, ["10_dlhn", "11_psn", "12_c3d"])
    assert f"| torch | {env['packages']['torch']} | all |" in page
    assert f"| numpy | {env['packages']['numpy']} | 10_dlhn |" in page and "| numpy | 0.0-other | 11_psn |" in page
    assert "Built 20" in page and env["machine"]["cpu"] in page
    assert "No chapter" in jbook.colophon_page(tmp_path / "none", ["10_dlhn"])


def _chapter(learns=None):
    from types import SimpleNamespace

    rows = pd.DataFrame([{"paper": "PSN", "table": "Table 5", "method": "PSN", "dataset": "casme2+samm",
                          "setting": None, "metric": m, "value": v, "scheme": "pnso",
                          "protocol": "stratified_kfold(k=3)", "subject_overlap": 1.0, "n_clips": 140,
                          "provenance": SYNTH} for m, v in (("accuracy", 0.571), ("uf1", 0.182))])
    return SimpleNamespace(paper="PSN", headline=lambda result: rows, learns=learns)


def test_the_opening_box_says_claim_run_and_limits():
    from melib.experiments import views

    box = views.opening(_chapter(), None, result=None)
    assert box.kind == "summary"
    text = box.markdown
    assert "0.649 (CASME + CASME II + CAS(ME)² + SAMM; pnso; stratified_kfold(k=10))" in text  # PSN's claim
    assert "0.571 (CASME II + SAMM; pnso; stratified_kfold(k=3), subject overlap 1.00)" in text
    assert "What this can show" in text and "not an estimate of a real one" in text
    assert "subject-independent" in text and "Does this recipe learn" not in text
    # a chapter's "does this recipe learn?" panel goes in the box when it has one; None says nothing
    panel = pd.DataFrame({"amplitude": [0.0, 3.0], "uar": [0.31, 0.68]})
    text = views.opening(_chapter(lambda p: panel), None, result=None).markdown
    assert "**Does this recipe learn?**" in text and "| 3 | 0.680 |" in text
    panel.attrs["finding"] = "X's recipe as the paper states it learns the planted motion."
    text = views.opening(_chapter(lambda p: panel), None, result=None).markdown
    assert "**Does this recipe learn?** X's recipe as the paper states it learns" in text  # its finding, then the table
    empty = pd.DataFrame(columns=["uar"])
    empty.attrs["finding"] = "X's recipe has not been measured at its data scale yet."
    text = views.opening(_chapter(lambda p: empty), None, result=None).markdown
    assert "not been measured" in text and "| uar |" not in text
    assert "Does this recipe learn" not in views.opening(_chapter(lambda p: None), None, result=None).markdown


def test_a_chapter_without_a_paper_opens_with_its_finding():
    from types import SimpleNamespace

    from melib.experiments import views

    chapter = SimpleNamespace(paper=None, headline=None, learns=None)
    text = views.opening(chapter, None, None, finding="k-fold scores 0.66 with nothing to learn.").markdown
    assert "**What this chapter finds:** k-fold scores 0.66" in text
    assert "Does this recipe learn" not in text and "What the paper claims" not in text


def test_ka_finding_names_who_learns_and_who_does_not():
    from melib.experiments import known_answer as ka

    def rows(method, at0, at3):
        return [{"method": method, "amplitude": a, "metric": "uar", "value": v, "null_low": 0.25, "null_high": 0.45,
                 "n_clips": 95, "protocol": "group_kfold", "leakage_max": 0.0} for a, v in ((0.0, at0), (3.0, at3))]
    df = pd.DataFrame(rows("psn", 0.33, 0.70) + rows("c3d_model_a", 0.30, 0.40) + rows("leaky", 0.60, 0.80))
    text = ka.finding(df)  # one seed each: nothing learns by rule
    assert text.startswith("0 of 3 methods learn the planted motion (by rule: at least 3 seeds")
    assert "do not learn: `c3d_model_a`" in text and "subject-disjoint folds" in text
    assert "undecided: `psn` 0.70 at 3 px (band top 0.450, 0.33 at 0" in text and "`leaky` 0.80 at 3 px" in text
    seeds = pd.DataFrame([dict(r, seed=s, value=r["value"] + 0.01 * s) for s in range(3)
                          for r in rows("psn", 0.33, 0.70) + rows("leaky", 0.60, 0.80)])
    text = ka.finding(seeds)
    assert text.startswith("1 of 2 methods learn") and ": `psn` 0.71; undecided: `leaky`" in text
    gone = pd.DataFrame([dict(r, collapsed="collapsed: predicts negative for every clip (majority rate 0.571)")
                         for r in rows("dlhn", 0.33, 0.33)])
    assert "At 3 px `dlhn` is collapsed: predicts negative for every clip (majority rate 0.571)" in ka.finding(gone)


def test_captioned_puts_each_caption_above_its_object_and_says_when_there_is_none():
    from IPython.display import Image, Markdown

    from melib.experiments import views

    png = display_png()
    out = views.captioned([("**a**", pd.DataFrame({"x": [1]})), ("**b**", png)], note="withheld: real clips")
    assert [type(o) for o in out] == [Markdown, pd.DataFrame, Markdown, Image, Markdown]
    assert out[-1].data == "withheld: real clips"
    assert [o.data for o in views.captioned([], empty="none here")] == ["none here"]
    assert views.captioned([]) == []


def display_png() -> bytes:
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_ka_finding_says_which_settings_ran():
    from melib.experiments import known_answer as ka

    df = pd.DataFrame([{"method": "psn", "amplitude": a, "metric": "uar", "value": v, "null_low": 0.25,
                        "null_high": 0.45, "n_clips": 95, "protocol": "loso", "leakage_max": 0.0}
                       for a, v in ((0.0, 0.3), (3.0, 0.7))])
    assert "Known-answer settings" in ka.finding(df)
    assert "The profile's own settings" in ka.finding(df, known_answer_settings=False)


def test_a_table_has_no_blank_header_row_no_empty_column_and_wraps_its_text(monkeypatch, tmp_path):
    from bs4 import BeautifulSoup

    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    df = pd.DataFrame({1: [0.5, 0.25], 2: [np.nan, np.nan], 3: [0.75, np.nan]},
                      index=pd.MultiIndex.from_tuples([("PSN", "published (PSN Table 5)"), ("PSN", SYNTH)],
                                                      names=["method", "source"]))
    df.columns.name = "fold"
    html, meta = display.table(df, caption="PSN, accuracy per fold")._repr_html_()
    soup = BeautifulSoup(html, "html.parser")
    heads = soup.select("thead tr")
    # one row names the columns' axis over them, one names every column and the index: no row of blanks
    assert [[th.get_text() for th in tr.select("th")] for tr in heads] == [["", "", "fold"],
                                                                           ["method", "source", "1", "3"]]
    assert soup.select("thead th[colspan]")[0]["colspan"] == "2"
    assert "No value in any row, so not shown: 2" in html  # the empty column is named, not dropped silently
    assert [td.get("class") for td in soup.select("tbody td")][:2] == [["melib-num"], ["melib-num"]]
    # the notebook keeps the table's data: the book lays it out again without a re-run
    assert meta["melib"] == display.TABLE and display.table_html(meta["table"]) == html
    text = display.table(pd.DataFrame({"why": ["a long reason " * 5]}))._repr_html_()[0]
    assert 'class="melib-num"' not in text and "<td>a long reason" in text  # text cells may wrap
    css = (BOOK / "_static" / "melib.css").read_text()
    assert "white-space: nowrap" in css.split(".melib-num")[1].split("}")[0]
    assert "white-space: nowrap" not in css.split("table.melib-table td")[1].split("}")[0]


def test_the_book_lays_out_stored_tables_again():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("t", execution_count=1)
    html, meta = display.table(pd.DataFrame({"a": [1.0], "b": [None]}))._repr_html_()
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table>old layout</table>"},
                                           metadata={"text/html": meta})]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), cell]
    assert jbook._tables(nb) == 1 and nb.cells[1].outputs[0]["data"]["text/html"] == html


def test_placeholders_in_markdown_show_instead_of_vanishing():
    assert display.escape_placeholders("published (<paper> Table N), <br>, <em>x</em>") == \
        "published (&lt;paper&gt; Table N), <br>, <em>x</em>"
    t = display.markdown_table(pd.DataFrame({"effect": ["not measured: <reason>"]}))
    assert "&lt;reason&gt;" in t


def _refusal():
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError(cell_index=3, exec_count=3, source="result = dlhn.run(p, samples, a=a)",
                                   ename="ConfigError", traceback=["..."],
                                   evalue="stratified k-fold needs at least 2 clips per class; the rarest class has 1")


def test_a_chapter_that_was_refused_says_so_with_its_reason():
    from melib import study

    info = jbook.refusal(_refusal(), "DLHN: deep local-holistic network", study.what_to_change("10_dlhn"))
    assert info["refused"] and info["error"] == "ConfigError" and info["cell"] == 3
    nb = _executed_notebook({"profile": "smoke", "data": "real"})
    nb.cells[-2].outputs.append(nbformat.v4.new_output("error", ename="ConfigError", evalue="x", traceback=["tb"]))
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("banner", metadata={"tags": ["papermill-error-cell-tag"]}))
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":  # the last one, after the failing one, never ran
            c.execution_count = i if i < len(nb.cells) - 1 else None
    copy = jbook.refused_copy(nb, "10_dlhn", info)
    text = "\n".join(c.source for c in copy.cells if c.cell_type == "markdown")
    assert copy.cells[0].source == "# PSN: a title" and "This chapter ran and was refused" in copy.cells[1].source
    assert "stratified k-fold needs at least 2 clips per class" in text and "`--protocol loso`" in text
    assert "at cell [3] (`result = dlhn.run(p, samples, a=a)`)" in text
    assert "banner" not in text and "has not been executed" not in text
    assert not any(o.get("output_type") == "error" for c in copy.cells for o in c.get("outputs", []))
    assert sum(c.source.startswith(f":::{{dropdown}} {jbook.RERUN}") for c in copy.cells) == 1
    page = jbook.placeholder_page("executed/10_dlhn", "notebooks/executed", info)
    assert page.startswith("# DLHN: deep local-holistic network\n") and "was refused" in page
    plain = jbook.placeholder_page("executed/11_psn", "notebooks/executed")
    assert not plain.startswith("# 11_psn") and "has not been executed yet" in plain  # the title, not the file



def test_the_resolved_parameters_read_as_words():
    from melib.experiments import cropnet, views

    table = views.parameters(cropnet.CHAPTER.setup("smoke"), cropnet.CHAPTER).markdown
    assert "{}" not in table and "('" not in table and "None" not in table
    assert views._said({}) == "no changes" and views._said(("a", "b")) == "a, b"
    assert views._data_kind("re-run on real data (CASME II)") == "real data"


def test_curves_figure_gives_a_regularised_loss_its_own_axis_and_whole_epochs():
    hist = [{"epoch": e, "train_loss": 400.0 - e, "val_loss": 1.0 + 0.01 * e, "train_acc": 0.4, "val_acc": 0.3}
            for e in range(1, 4)]
    fig = report.curves_figure(hist)
    loss, acc, twin = fig.axes
    assert twin.get_ylabel() == "validation loss" and loss.get_ylabel() == "training loss"
    assert max(twin.get_ylim()) < 2 < 300 < max(loss.get_ylim())  # the test loss is not squashed flat
    assert acc.get_ylabel() == "accuracy"  # same scale: one axis
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in loss.get_xticks())
    plt.close(fig)
    one = report.curves_figure([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "train_loss": 0.8}])
    assert len(one.axes) == 2
    plt.close(one)


def test_a_wide_table_says_its_shared_values_once_and_a_short_one_turns_on_its_side():
    from bs4 import BeautifulSoup

    cols = {"method": ["PSN", "PSN_tp1", "PSN_spatial"], "scheme": ["pnso"] * 3,
            "protocol": ["stratified_kfold(k=3)"] * 3, "study provenance": [SYNTH] * 3}
    cols.update({f"recognition-rate-{i}": [0.5, 0.25, 0.125] for i in range(8)})
    html = display.table(pd.DataFrame(cols))._repr_html_()[0]
    soup = BeautifulSoup(html, "html.parser")
    heads = [th.get_text() for th in soup.select("thead th")]
    assert "scheme" not in heads and "Every row: scheme pnso; protocol stratified_kfold(k=3)" in html
    assert heads[:3] == ["", "PSN", "PSN_tp1"]  # three rows: turned on its side, the methods as columns
    narrow = display.table(pd.DataFrame({"method": ["PSN", "C3D"], "scheme": ["pnso"] * 2}))._repr_html_()[0]
    assert "Every row" not in narrow and "<th scope=\"col\">scheme</th>" in narrow  # what fits stays as it is

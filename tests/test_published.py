"""The transcribed numbers must be the numbers printed in the papers: every row is looked up in the paper text."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from melib import published
from melib.errors import ConfigError

PAPERS_DIR = Path(__file__).resolve().parents[2] / "shared" / "papers"
FILES = {"DLHN": "000_be3a9aae2404fb3e.txt", "PSN": "001_a1085f9a55216a7a.txt", "C3D": "002_7aeb182ee121b922.txt",
         "CropNet": "003_4ad2325407fcd5f9.txt", "LocalRegions": "004_ae5b1337345f4e21.txt"}
# Where a transcription that is not a numbered table starts in the paper text.
ANCHORS = {("DLHN", "Fig. 9"): "Figure 9 illustrates the confusion matrix",
           ("C3D", "Sec. 8.1"): "8.1. Train",
           ("PSN", "Fig. 7"): "Necessity of parallel spatio-temporal network architecture"}

# Papers whose text is not in ../shared/papers (their numbers are transcribed from their arXiv abstracts):
# checked below against what another paper's text prints for them.
ABSTRACT_ONLY = {"STSTNet", "OFF-ApexNet"}

needs_papers = pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason="paper texts not available")


def _lines(paper: str) -> list[str]:
    return (PAPERS_DIR / FILES[paper]).read_text(encoding="utf-8").splitlines()


def _words(line: str) -> list[str]:
    """A printed line as words: markup dropped, footnote marks like [†] dropped."""
    line = re.sub(r"</?[a-z]+>|\*\*", "", line)
    return [w for w in line.replace("\t", " ").split() if not re.fullmatch(r"\[\D*\]", w)]


def _anchor(paper: str, tab: str, lines: list[str]) -> int:
    if (paper, tab) in ANCHORS:
        text = ANCHORS[(paper, tab)]
        return next(i for i, ln in enumerate(lines) if text in ln)
    n = tab.split()[-1]
    caption = re.compile(rf"^(\*\*)?table\s+{n}(\.|:|\*\*|\s*\||$)", re.IGNORECASE)
    hits = [i for i, ln in enumerate(lines) if caption.match(ln.strip())]
    assert hits, f"no caption for {paper} {tab} in {FILES[paper]}"
    return hits[0]


def test_every_paper_is_checked_against_a_text():
    assert set(published.PAPERS) == set(FILES) | ABSTRACT_ONLY and not set(FILES) & ABSTRACT_ONLY


def test_ststnet_abstract_agrees_with_cropnet_table_3():
    """CropNet Table 3 (checked against CropNet's text above) quotes STSTNet's composite numbers to three
    decimals, cut rather than rounded (0.7605 -> 0.760): every number transcribed from STSTNet's abstracts
    must cut to CropNet's."""
    mine = published.table("STSTNet", "Abstract")
    crop = published.table("CropNet", 3)
    crop = crop[crop.method == "STSTNet"].set_index(["dataset", "metric"])["value"]
    for _, r in mine.iterrows():
        assert int(round(r.value * 1e4)) // 10 == int(round(crop[(r.dataset, r.metric)] * 1e3)), (r.dataset, r.metric)


@needs_papers
@pytest.mark.parametrize("paper,tab", [t for t in published.tables() if t[0] not in ABSTRACT_ONLY])
def test_every_row_is_printed_in_the_paper(paper, tab):
    lines = _lines(paper)
    pos = _anchor(paper, tab, lines)
    if published.source_kind(paper, tab) == "text":
        text = " ".join(lines[pos:pos + 12])
        for label, cells in published.source_rows(paper, tab):
            at = text.find(label)
            assert at >= 0, f"{label!r} not in the text after {ANCHORS[(paper, tab)]!r}"
            assert " ".join(cells) in text[at:at + 80], f"{label!r}: {cells} not printed after it"
        return
    for label, cells in published.source_rows(paper, tab):
        cells = _words(" ".join(cells))
        want_label = " ".join(label.split())
        for j in range(pos + 1, min(pos + 60, len(lines))):
            words = _words(lines[j])
            if len(words) > len(cells) and words[-len(cells):] == cells \
                    and want_label in " ".join(words[:-len(cells)]):
                pos = j
                break
        else:
            raise AssertionError(f"{paper} {tab}: row {label!r} with cells {cells} is not printed in order "
                                 f"after line {pos + 1} of {FILES[paper]}")


@needs_papers
def test_a_typo_would_be_caught(monkeypatch):
    rows = published.source_rows("PSN", "Table 5")
    bad = [(lab, ["64.29", "0.5211"] if lab == "PSN" else cells) for lab, cells in rows]
    monkeypatch.setattr(published, "source_rows", lambda p, t: bad)
    with pytest.raises(AssertionError, match="PSN"):
        test_every_row_is_printed_in_the_paper("PSN", "Table 5")


@needs_papers
def test_spot_checks_against_paper_lines():
    # Found here by hand-written patterns, independent of the transcription's row headings.
    dlhn = _lines("DLHN")
    row = next(ln for ln in dlhn if ln.startswith("DLHN\t53.85\t70.77"))
    mean = float(row.split("\t")[-1])
    t6 = published.table("DLHN", 6)
    got = t6[(t6.method == "DLHN") & (t6.fold == "mean")]["value"].item()
    assert got == pytest.approx(mean / 100)

    psn = " ".join(_lines("PSN"))
    assert re.search(r"PSN has the highest recognition rate 64\.92% and the best F1 score 0\.5211", psn)
    t5 = published.table("PSN", 5)
    assert set(t5[t5.method == "PSN"]["value"]) == {0.6492, 0.5211}

    c3d = _lines("C3D")
    row = next(ln for ln in c3d if ln.startswith("08\tCombined\tSAMM"))
    t4 = published.table("C3D", 4)
    s8 = t4[t4.setting == "Scenario-8"].set_index("method")["printed"]
    assert row.split("\t")[3:] == [s8["Model-A"], s8["Model-B"], s8["Model-C"]]

    crop = " ".join(_lines("CropNet"))
    ars = re.search(r"ARS\+CropNet\(ours\)</b>((?:\s*<b>[\d.]+</b>){8})", crop)
    numbers = [float(x) for x in re.findall(r"[\d.]+", ars.group(1))]
    t3 = published.table("CropNet", 3)
    assert list(t3[t3.method == "ARS+CropNet"]["value"]) == numbers

    lr = _lines("LocalRegions")
    i = lr.index("Table 10")
    full = next(ln for ln in lr[i:] if ln.startswith("FULL\t"))
    t10 = published.table("LocalRegions", 10)
    assert list(t10[t10.dataset == "casme2+samm+smic"]["printed"]) == full.split("\t")[1:]


def test_long_form_and_provenance():
    for paper, tab in published.tables():
        df = published.table(paper, tab)
        assert list(df.columns) == published.COLUMNS
        assert len(df) > 0
        assert (df["provenance"] == f"published ({paper} {tab})").all()
        assert df["metric"].notna().all() and df["printed"].notna().all()
        rates = df["metric"].isin(["accuracy", "uf1", "uar", "f1", "rate"])
        assert df.loc[rates, "value"].between(0, 1).all(), f"{paper} {tab}: rate outside [0, 1]"
        if df["kind"].iloc[0] != "counts":
            assert df["dataset"].notna().all() and df["train"].notna().all() and df["method"].notna().all()


def test_percentages_become_fractions_and_printed_text_is_kept():
    t4 = published.table("DLHN", "Table 4")
    best = t4[(t4.setting == "a=0.45") & (t4.fold == "mean")]
    assert best["printed"].item() == "60.309" and best["value"].item() == pytest.approx(0.60309)
    c3d = published.table("C3D", 4)
    assert c3d[(c3d.setting == "Scenario-3") & (c3d.method == "Model-A")]["value"].item() == pytest.approx(0.882)


def test_table_names_and_errors():
    assert published.table("PSN", 5).equals(published.table("PSN", "Table 5"))
    assert published.table("DLHN", "fig 9").equals(published.table("DLHN", "Fig. 9"))
    with pytest.raises(ConfigError, match="transcribed"):
        published.table("PSN", 42)
    assert ("LocalRegions", "Table 13") in published.tables("results")
    assert ("PSN", "Table 4") in published.tables("counts")


def test_class_counts_add_up():
    cc = published.class_counts()
    assert set(cc.columns) >= {"paper", "table", "dataset", "scheme", "class", "count", "provenance"}
    # Each table's per-class counts sum to the totals it prints.
    for (paper, tab, ds), g in cc.groupby(["paper", "table", "dataset"]):
        if "total" in set(g["class"]) and len(g) > 1:
            assert g.loc[g["class"] != "total", "count"].sum() == g.loc[g["class"] == "total", "count"].item(), \
                (paper, tab, ds)
    psn = published.class_counts("PSN").set_index(["dataset", "class"])["count"]
    assert psn[("casme2", "negative")] == 132 and psn[("casme+casme2+casme_sq+samm", "total")] == 650
    lr = published.class_counts("LocalRegions")
    full = lr[(lr.table == "Table 3") & (lr.dataset == "casme2+samm+smic")].set_index("class")["count"]
    assert dict(full) == {"negative": 250, "positive": 109, "surprise": 83, "total": 442}


def test_class_counts_match_the_megc2019_reference_list():
    ref = PAPERS_DIR.parent / "reference" / "megc2019_composite_3class.csv"
    if not ref.exists():
        pytest.skip("reference list not available")
    lst = pd.read_csv(ref, header=None, names=["dataset", "subject", "clip", "label"])
    names = {0: "negative", 1: "positive", 2: "surprise"}
    got = lst.groupby(["dataset", lst["label"].map(names)]).size()
    lr = published.class_counts("LocalRegions")
    t3 = lr[(lr.table == "Table 3") & (lr["class"] != "total") & (lr.dataset != "casme2+samm+smic")]
    for _, r in t3.iterrows():
        assert got[(r["dataset"], r["class"])] == r["count"], (r["dataset"], r["class"])


def test_confusion_matrices():
    cm = published.confusion("DLHN", "Fig. 9")
    assert list(cm.index) == list(cm.columns) == ["positive", "negative", "surprise", "others"]
    assert cm.sum(axis=1).tolist() == [55, 280, 50, 265]
    # DLHN's mean fold accuracy (60.31%) is close to the pooled accuracy of its matrix.
    assert abs(cm.values.trace() / cm.values.sum() - 0.6031) < 0.01
    psn = published.confusion("PSN", 7, method="PSN")
    assert psn.loc["negative", "negative"] == 226
    assert psn.sum(axis=1).tolist() == [55, 280, 50, 265]
    with pytest.raises(ConfigError, match="several"):
        published.confusion("PSN", 7)
    with pytest.raises(ConfigError, match="not a confusion"):
        published.confusion("PSN", 5)


def test_headlines_cover_every_paper():
    h = published.headlines()
    assert set(h["paper"]) == set(published.PAPERS)
    assert h["ours"].all()


def test_dataset_keys():
    assert published.dataset_key("smic", "casme2", "samm") == "casme2+samm+smic"
    assert published.dataset_name("casme_sq+samm") == "CAS(ME)² + SAMM"
    # a release the papers never used (a new loader module) is kept, after the known ones, under its own name
    assert published.dataset_key("casme3", "smic", "casme2") == "casme2+smic+casme3"
    assert published.dataset_name("casme2+casme3") == "CASME II + casme3"


def _run_on(dataset: str):
    """A finished two-fold run whose test clips all come from ``dataset``."""
    from melib import metrics, train
    from melib.experiments.common import Run

    labels = ["negative", "positive", "surprise"]
    recs = []
    for fold in range(2):
        preds = [{"clip": f"c{fold}_{i}", "dataset": dataset, "subject": f"{dataset}/s{i}", "y_true": labels[i % 3],
                  "y_pred": labels[(i + fold) % 3], "proba": [0.5, 0.3, 0.2]} for i in range(6)]
        recs.append({"fold": fold, "fold_name": f"s{fold}", "protocol_params": {}, "audit": {"leakage": 0.0},
                     "predictions": preds, "metrics": metrics.scores([p["y_true"] for p in preds],
                                                                     [p["y_pred"] for p in preds], labels)})
    samples = pd.DataFrame({"dataset": [dataset] * 3, "synthetic": False, "label": labels})
    samples.attrs["scheme"] = "megc2019"
    return Run("cropnet", "loso", train.Evaluation(recs, labels, "r"), samples)


def test_a_chapter_builds_its_tables_on_a_release_the_papers_never_used():
    """A new dataset trains and then builds its chapter's tables and headline beside the papers' (nothing of
    it matches a published row), instead of crashing on the dataset name."""
    from melib import report
    from melib.experiments import cropnet
    from melib.experiments.common import headline_row

    run = _run_on("mer2026")
    row = headline_row("CropNet", "Table 3", "ARS+CropNet", run, "uf1", 0.4)
    assert row["dataset"] == "mer2026" and row["provenance"] == "re-run on real data (mer2026)"
    result = cropnet.Result({("megc2019", "CropNet+ARS"): run}, {"megc2019": row["provenance"]})
    t3 = cropnet.table3(result)
    mine = t3[t3["study"].notna()]
    assert set(mine["dataset"]) == {"mer2026"} and mine["published"].isna().all()
    assert set(t3.loc[t3["published"].notna(), "study_provenance"]) == {report.NOT_RUN}
    overview = report.results_overview(cropnet.headline(result))
    ours = overview[overview["study_dataset"] == "mer2026"]
    assert len(ours) == 2 and ours["difference"].isna().all()  # beside the paper's composite, not subtracted

"""Label schemes: AU parsing, objective classes, and each scheme's class counts on the fixture releases.

The expected counts are worked out by hand from the clip lists in tests/release_fixtures.py.
"""
from __future__ import annotations

import pandas as pd
import pytest

import release_fixtures as rf
from melib import datasets, labels
from melib.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    base = tmp_path_factory.mktemp("releases")
    parts = [datasets.load("casme2", rf.make_casme2(base / "casme2")),
             datasets.load("samm", rf.make_samm(base / "samm")),
             datasets.load("smic", rf.make_smic(base / "smic", variants=("HS",))),
             datasets.load("casme", rf.make_casme(base / "casme")),
             datasets.load("casme_sq", rf.make_casme_sq(base / "casme_sq"))]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return datasets.load("synth", rf.make_synth(tmp_path_factory.mktemp("synth")))


def counts(df, dataset):
    """{label: n} of one dataset's kept clips, and the number excluded."""
    part = df[df["dataset"] == dataset]
    kept = part[part["label"].notna()]
    return kept["label"].value_counts().to_dict(), int(part["label"].isna().sum())


@pytest.mark.parametrize("text, expected", [
    ("4+L10", {4, 10}), ("R12", {12}), ("AU4+AU7", {4, 7}), ("1+2", {1, 2}), ("A1+2+B25", {1, 2, 25}),
    ("12+15?", {12, 15}), (" 6 + 12 ", {6, 12}), ("L1A+R2B", {1, 2}), ("?", set()), ("", set()),
    (None, set()), (float("nan"), set()), (14, {14}), (14.0, {14}),
])
def test_parse_aus(text, expected):
    assert labels.parse_aus(text) == expected


def test_every_listed_combination_gets_its_class():
    for cls, combos in labels.OBJECTIVE_AU_COMBOS.items():
        for combo in combos:
            assert labels.objective_class(combo) == cls, (combo, cls)


@pytest.mark.parametrize("aus, expected", [  # only an exact PSN Table 2 combination has a class I-VI
    (set(), "VII"), ({14}, "VII"), ({43, 45}, "VII"), ({4, 10}, "VII"), ({12, 14}, "VII"),
    ({1, 2, 25, 26}, "VII"), ({1, 2, 4, 7}, "VII"), ({6, 12, 17}, "VII"), ({4, 7, 10}, "IV"), ({6, 15}, "V"),
])
def test_objective_class_beyond_exact_matches(aus, expected):
    assert labels.objective_class(aus) == expected


@pytest.mark.parametrize("value, expected", [(1, "I"), (3.0, "III"), ("7", "VII"), ("iv", "IV"), ("VI", "VI"),
                                             (None, None), (float("nan"), None), ("x", None), (8, None)])
def test_normalise_objective(value, expected):
    assert labels.normalise_objective(value) == expected


@pytest.mark.parametrize("aus, expected", [
    ({12}, "positive"), ({6, 7, 12}, "positive"), ({4, 7}, "negative"), ({10}, "negative"),
    ({1, 2, 4}, "negative"), ({15}, "negative"), ({6, 15}, "negative"), ({1, 2}, "surprise"), ({25}, "surprise"),
    ({5}, "surprise"), ({2}, "surprise"), ({2, 14}, "surprise"), ({14}, "others"), (set(), "others"),
])
def test_pnso_class(aus, expected):
    assert labels.pnso_class(aus) == expected


def test_pnso_follows_a_given_objective_class():
    assert labels.pnso_class({4, 10}, "I") == "positive"  # the release's class wins over the derived IV
    assert labels.pnso_class({14}, "VII") == "others"


def test_scheme_names_classes_and_unknown_scheme(samples):
    assert labels.schemes() == ["original", "megc2019", "objective", "pnso", "c3d", "cropnet5", "localregions5"]
    assert labels.classes("megc2019") == ["negative", "positive", "surprise"]
    assert labels.classes("pnso") == ["positive", "negative", "surprise", "others"]
    assert labels.classes("objective") == ["I", "II", "III", "IV", "V", "VI", "VII"]
    assert labels.classes("cropnet5") == ["others", "disgust", "happiness", "repression", "surprise"]
    assert labels.classes("localregions5") == ["I", "II", "III", "IV", "V"]
    assert labels.classes("c3d") == ["happiness", "disgust", "surprise"]
    with pytest.raises(ConfigError, match="pnso"):
        labels.classes("emotion7")
    with pytest.raises(ConfigError, match="megc2019"):
        labels.assign(samples, "emotion7")
    with pytest.raises(DataError, match="dataset"):
        labels.assign(pd.DataFrame({"clip": ["a"]}), "original")


def test_the_official_megc2019_list():
    entries = labels.megc2019_list()
    assert len(entries) == 442
    per = pd.Series([(k[0], v) for k, v in entries.items()]).value_counts().to_dict()
    assert per == {("smic", "negative"): 70, ("smic", "positive"): 51, ("smic", "surprise"): 43,
                   ("casme2", "negative"): 88, ("casme2", "positive"): 32, ("casme2", "surprise"): 25,
                   ("samm", "negative"): 92, ("samm", "positive"): 26, ("samm", "surprise"): 15}
    assert len({k[:2] for k in entries}) == 68
    assert ("casme2", "sub4", "ep12_1f") not in entries  # sub04 EP12_01f is left out of the protocol


def test_assign_keeps_rows_and_explains_every_exclusion(samples):
    before = samples.copy()
    out = labels.assign(samples, "c3d")
    assert "label" not in samples.columns  # input untouched
    pd.testing.assert_frame_equal(samples, before)
    assert list(out.index) == list(samples.index)
    assert all(out.attrs[k] == v for k, v in samples.attrs.items())
    assert (out["label"].isna() == out["excluded_because"].notna()).all()
    assert set(out["label"].dropna()) <= set(labels.classes("c3d"))
    assert out.attrs["scheme"] == "c3d"


def test_original_counts(samples):
    out = labels.assign(samples, "original")
    assert counts(out, "casme2") == ({"surprise": 2, "happiness": 1, "disgust": 1, "repression": 1, "others": 1,
                                      "fear": 1}, 0)
    assert counts(out, "samm") == ({"surprise": 2, "anger": 1, "happiness": 1, "disgust": 1, "others": 1}, 0)
    assert counts(out, "smic") == ({"negative": 3, "positive": 1, "surprise": 1}, 0)


def test_the_datasets_chapter_counts_every_label_it_shows(samples):
    """CropNet Table 1 prints SAMM's "Other(26)": the chapter's row 'others' counts SAMM's 'Other' clips (it showed
    0 beside the 26 while the clips were counted under a separate class 'other')."""
    from melib.experiments import data

    beside = data.counts_beside_published(samples, schemes=["original"])
    samm = beside[(beside["table"] == "Table 1") & (beside["dataset"] == "samm")].set_index("class")["study"]
    assert samm["others"] == 1 and samm["total"] == 6
    shown = samm.drop("total")
    assert shown.sum() == samm["total"]  # every SAMM clip is counted under a class the table shows
    wide = data.counts_wide(data.class_counts(samples, ["original"]))
    assert "other" not in wide.loc["original"].index


def test_megc2019_counts_follow_the_list(samples):
    out = labels.assign(samples, "megc2019")
    assert counts(out, "casme2") == ({"negative": 3, "positive": 1, "surprise": 1}, 2)  # EP12_01f, EP09_05f off
    assert counts(out, "samm") == ({"negative": 3, "surprise": 1}, 2)  # 006_1_3 is negative on the list
    assert counts(out, "smic") == ({"negative": 3, "positive": 1, "surprise": 1}, 0)  # s1_ne_01 = s01_ne_01
    assert counts(out, "casme") == ({}, 4) and counts(out, "casme_sq") == ({}, 4)
    why = dict(zip(out["clip"], out["excluded_because"]))
    assert why["EP12_01f"] == "not on the MEGC2019 composite list"


def test_megc2019_uses_the_emotion_rule_for_synthetic_clips(synth):
    out = labels.assign(synth, "megc2019")
    assert dict(zip(out["clip"], out["label"])) == {
        "EP02_01f": "positive", "EP19_05f": "negative", "006_1_2": "negative",
        "006_1_3": "positive",  # happiness by the rule (the real list says negative)
        "s1_ne_01": "negative", "s1_ne_02": "negative"}
    assert "emotion rule" in out.attrs["scheme_note"]


def test_objective_counts(samples):
    out = labels.assign(samples, "objective")
    assert counts(out, "casme2") == ({"II": 2, "VII": 2, "I": 1, "III": 1, "VI": 1}, 0)  # 4+L10: VII
    assert counts(out, "samm") == ({"II": 2, "I": 1, "III": 1, "IV": 1, "VII": 1}, 0)
    assert counts(out, "casme") == ({"IV": 1, "I": 1, "II": 1, "V": 1}, 0)
    assert counts(out, "smic") == ({}, 5)


def test_pnso_counts_over_the_four_psn_releases(samples):
    out = labels.assign(samples, "pnso")
    assert counts(out, "casme2") == ({"negative": 2, "surprise": 2, "positive": 1, "others": 2}, 0)
    assert counts(out, "samm") == ({"negative": 2, "surprise": 2, "positive": 1, "others": 1}, 0)
    assert counts(out, "casme") == ({"negative": 2, "positive": 1, "surprise": 1}, 0)
    assert counts(out, "casme_sq") == ({"negative": 1, "positive": 1, "surprise": 1, "others": 1}, 0)
    psn = out[out["dataset"] != "smic"]
    assert psn["label"].value_counts().to_dict() == {"negative": 7, "surprise": 6, "positive": 4, "others": 4}


def test_c3d_counts(samples):
    out = labels.assign(samples, "c3d")
    assert counts(out, "casme2") == ({"surprise": 2, "happiness": 1, "disgust": 1}, 3)
    assert counts(out, "samm") == ({"surprise": 2, "happiness": 1, "disgust": 1}, 2)
    assert counts(out, "smic") == ({"disgust": 3, "happiness": 1, "surprise": 1}, 0)
    assert counts(out, "casme") == ({}, 4)


def test_cropnet5_counts(samples):
    out = labels.assign(samples, "cropnet5")
    assert counts(out, "casme2") == ({"surprise": 2, "others": 1, "disgust": 1, "happiness": 1, "repression": 1}, 1)
    assert out.loc[out["dataset"] != "casme2", "label"].isna().all()


def test_localregions5_counts(samples):
    out = labels.assign(samples, "localregions5")
    assert counts(out, "casme2") == ({"II": 2, "I": 1, "III": 1}, 3)  # VI (fear) and VII (twice) dropped
    assert counts(out, "samm") == ({"II": 2, "I": 1, "III": 1, "IV": 1}, 1)
    assert out.loc[~out["dataset"].isin(["casme2", "samm"]), "label"].isna().all()


# --- issue #10: the objective class the owners' labels support, alternatives, unannotated clips ----------

def test_the_derived_objective_class_agrees_with_the_owners_column(tmp_path):
    """Fixture sheets built like CASME II's and SAMM's (rf.OBJECTIVE_PATTERN): the class melib derives from the
    AUs alone is compared with the class the owners wrote. The exact-match rule agrees where the owners
    do (251/255, 144/159 on the real sheets); the largest-contained-combination rule does not (220/255)."""
    for name, make, expected in (("casme2", rf.make_casme2, (251, 255)), ("samm", rf.make_samm, (144, 159))):
        clips = rf.objective_pattern_clips(name)
        owner = {c.name: labels.normalise_objective(c.objective) for c in clips}
        with_column = datasets.load(name, make(tmp_path / name / "with", clips=clips))
        assert dict(zip(with_column["clip"], with_column["objective_class"])) == owner  # the column wins
        derived = datasets.load(name, make(tmp_path / name / "without", clips=clips, objective=False))
        agree = sum(owner[c] == k for c, k in zip(derived["clip"], derived["objective_class"]))
        assert (agree, len(derived)) == expected, name
        out = labels.assign(derived, "objective")
        assert (out["label"] == derived["objective_class"]).all()


def test_objective_scheme_excludes_a_clip_without_aus_and_class(synth):
    df = synth.copy()
    df.loc[0, ["aus", "emotion"]] = ["", ""]
    df.at[0, "au_set"] = frozenset()
    df.at[0, "objective_class"] = None
    out = labels.assign(df, "objective")
    assert pd.isna(out.loc[0, "label"]) and out.loc[0, "excluded_because"] == "no AUs annotated"


@pytest.mark.parametrize("text, readings", [
    ("R6 or R12", [{6}, {12}]), ("4+R10 or 4+R9", [{4, 10}, {4, 9}]), ("12", [{12}]), ("", [set()]),
    ("L6 OR 7", [{6}, {7}]), (None, [set()]), (14.0, [{14}]),
    ("(R6 or R12)+R15", [{6, 15}, {12, 15}]), ("R15+(R6 or R12)", [{6, 15}, {12, 15}]),
    ("(R6 or R12)+(R15 or 17)", [{6, 15}, {6, 17}, {12, 15}, {12, 17}]), ("(4+R9) or 7", [{4, 9}, {7}]),
])
def test_au_readings(text, readings):
    assert labels.au_readings(text) == readings


@pytest.mark.parametrize("aus, expected", [
    ("R6 or R12", ("I", None)), ("4+R9 or 4+R7+R9", ("IV", None)), ("", (None, "no AUs annotated")),
    ("4+R10 or 4+R9", (None, "the AU alternatives '4+R10 or 4+R9' give classes IV, VII")),
    ("12 or 4", (None, "the AU alternatives '12 or 4' give classes I, III")), ("4+7", ("III", None)),
])
def test_derived_objective(aus, expected):
    assert labels.derived_objective(aus) == expected


def test_a_grouped_alternative_keeps_the_shared_au():
    """SAMM 007_6_1 and 007_6_5 write '(R6 or R12)+R15': "6+15 or 12+15", so every reading has AU 15."""
    assert labels.certain_aus("(R6 or R12)+R15") == {15}
    assert labels.derived_objective("(R6 or R12)+R15") == (
        None, "the AU alternatives '(R6 or R12)+R15' give classes V, VII")


def test_pnso_of_au_alternatives_follows_the_release_class(tmp_path):
    df = datasets.load("samm", rf.make_samm(tmp_path, clips=[
        rf.Clip(6, "006_1_2", range(10, 20), 10, 14, 19, "R6 or R12", "Happiness", 1),
        rf.Clip(6, "006_1_3", range(10, 20), 10, 14, 19, "12 or 4", "Other", None)]))
    out = labels.assign(df, "pnso")
    assert dict(zip(out["clip"], out["label"].where(out["label"].notna(), None))) == {
        "006_1_2": "positive", "006_1_3": None}
    assert out.loc[out["clip"] == "006_1_3", "excluded_because"].item().startswith("the AU alternatives")

"""Protocols: folds are what each paper's protocol says, the audit measures leakage, bad input is refused."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melib import protocols
from melib.errors import ConfigError, DataError


def table(clips_per_subject, classes=("neg", "pos", "sur"), dataset="casme2", seed=0, na=0):
    """Every subject has one clip of each class first (so no training part misses a class), then random ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, n in enumerate(clips_per_subject):
        labels = list(classes) + list(rng.choice(classes, size=max(n - len(classes), 0)))
        for c, lab in enumerate(labels):
            rows.append({"dataset": dataset, "subject": f"{dataset}/sub{s:02d}", "clip": f"s{s}_c{c}", "label": lab})
    for i in range(na):
        rows.append({"dataset": dataset, "subject": f"{dataset}/sub00", "clip": f"na{i}", "label": pd.NA})
    return pd.DataFrame(rows)


subjects = st.lists(st.integers(min_value=3, max_value=7), min_size=3, max_size=9)


def assert_partition(df, fs):
    labelled = np.flatnonzero(df["label"].notna().to_numpy())
    test = np.concatenate([f.test for f in fs])
    assert sorted(test.tolist()) == labelled.tolist()  # each labelled clip tested exactly once
    for f in fs:
        assert not set(f.train) & set(f.test)
        assert set(f.train) | set(f.test) == set(labelled)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subjects, st.integers(0, 3), st.integers(0, 1000))
def test_loso_is_subject_disjoint_and_covers_each_clip_once(sizes, na, seed):
    df = table(sizes, seed=seed, na=na)
    fs = protocols.folds(df, "loso")
    assert len(fs) == len(sizes)
    assert_partition(df, fs)
    subj = df["subject"].to_numpy()
    for f in fs:
        assert len(set(subj[f.test])) == 1 and f.name == subj[f.test][0]
        assert not set(subj[f.train]) & set(subj[f.test])
        assert f.audit["leakage"] == 0.0 and f.audit["n_unlabelled"] == na


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subjects, st.integers(2, 3), st.booleans(), st.integers(0, 1000))
def test_group_kfold_is_subject_disjoint_and_covers_each_clip_once(sizes, k, stratify, seed):
    df = table(sizes, seed=seed, na=1)
    fs = protocols.folds(df, "group_kfold", n_splits=k, seed=seed, stratify=stratify)
    assert len(fs) == k
    assert_partition(df, fs)
    subj = df["subject"].to_numpy()
    for f in fs:
        assert not set(subj[f.train]) & set(subj[f.test])
        assert f.audit["leakage"] == 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(5, 30), min_size=2, max_size=4), st.integers(2, 5), st.integers(0, 1000))
def test_stratified_kfold_keeps_class_proportions(class_sizes, k, seed):
    labels = np.repeat([f"c{i}" for i in range(len(class_sizes))], class_sizes)
    rng = np.random.default_rng(seed)
    rng.shuffle(labels)
    df = pd.DataFrame({"dataset": "d", "subject": [f"d/s{i % 4}" for i in range(len(labels))],
                       "clip": [f"c{i}" for i in range(len(labels))], "label": labels})
    fs = protocols.folds(df, "stratified_kfold", n_splits=k, seed=seed)
    assert len(fs) == k
    assert_partition(df, fs)
    for f in fs:
        counts = pd.Series(labels[f.test]).value_counts()
        for c, n in zip([f"c{i}" for i in range(len(class_sizes))], class_sizes):
            assert abs(counts.get(c, 0) - n / k) < 1  # PSN 3.2: each fold keeps the class proportions


def test_audit_zero_for_loso_positive_for_sample_level_kfold():
    df = table([6] * 6)
    assert all(f.audit["leakage"] == 0 for f in protocols.folds(df, "loso"))
    fs = protocols.folds(df, "stratified_kfold", n_splits=3, seed=0)
    assert all(f.audit["leakage"] > 0 for f in fs)
    assert np.mean([f.audit["leakage"] for f in fs]) == pytest.approx(1.0)  # 6 clips/subject, 3 folds
    a = protocols.audit(df, np.arange(0, 6), np.arange(6, 12))
    assert a == {"n_train": 6, "n_test": 6, "n_test_subjects": 1, "n_shared_subjects": 0, "leakage": 0.0,
                 "n_unlabelled": 0}
    a = protocols.audit(df, np.arange(0, 9), np.arange(9, 12))
    assert a["leakage"] == 1.0 and a["n_shared_subjects"] == 1


def test_stratified_kfold_is_seeded():
    df = table([5] * 6)
    a = list(protocols.split(df, "stratified_kfold", n_splits=5, seed=1))
    b = list(protocols.split(df, "stratified_kfold", n_splits=5, seed=1))
    c = list(protocols.split(df, "stratified_kfold", n_splits=5, seed=2))
    assert all((x[1] == y[1]).all() for x, y in zip(a, b))
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_cross_dataset_trains_on_a_tests_on_b_and_checks_label_sets():
    df = pd.concat([table([4] * 3, dataset="casme2"), table([4] * 3, dataset="smic"), table([4] * 2, dataset="samm")],
                   ignore_index=True)
    (f,) = protocols.folds(df, "cross_dataset", train=("casme2", "smic"), test="samm")
    assert set(df["dataset"].iloc[f.train]) == {"casme2", "smic"} and set(df["dataset"].iloc[f.test]) == {"samm"}
    assert f.name == "casme2+smic->samm" and f.audit["leakage"] == 0
    fs = protocols.folds(df, "cross_dataset", train="casme2", test="samm", n_splits=3, seed=0)
    samm = np.flatnonzero(df["dataset"] == "samm")
    assert len(fs) == 3 and all(np.array_equal(f.test, samm) for f in fs)
    casme = np.flatnonzero(df["dataset"] == "casme2")
    assert sorted(np.concatenate([np.setdiff1d(casme, f.train) for f in fs]).tolist()) == casme.tolist()
    bad = df[~((df["dataset"] == "samm") & (df["label"] == "sur"))]
    with pytest.raises(DataError, match="train-only \\['sur'\\]"):
        protocols.folds(bad, "cross_dataset", train="casme2", test="samm")
    with pytest.raises(ConfigError, match="share datasets"):
        protocols.folds(df, "cross_dataset", train="casme2", test=("casme2", "samm"))
    with pytest.raises(ConfigError, match="not in the samples"):
        protocols.folds(df, "cross_dataset", train="casme", test="samm")


def test_a_new_protocol_is_one_registered_function():
    """The registry: every built-in protocol is listed, and a new one (here: half the subjects train, the other
    half test) needs one registered function, then works through folds() with the audit and the checks."""
    assert set(protocols.names()) == {"loso", "group_kfold", "group_holdout", "stratified_kfold", "cross_dataset",
                                      "holdout", "lodo"}
    assert "c3d_scenario" not in dir(protocols)  # a paper's scenarios are its chapter's (melib.experiments.c3d)

    def _halves(samples, pool):
        subj = samples["subject"].to_numpy()[pool]
        odd = np.isin(subj, sorted(set(subj))[1::2])
        return [protocols.Fold(0, "even->odd", pool[~odd], pool[odd])]

    try:
        protocols.register("subject_halves")(_halves)
        df = protocols.composite(table([4] * 3, dataset="casme2"), table([4] * 3, dataset="smic"))
        fs = protocols.folds(df, "subject_halves")
        assert [f.name for f in fs] == ["even->odd"] and fs[0].audit["leakage"] == 0
        assert fs[0].audit["n_test_subjects"] == 3 and "subject_halves" in protocols.names()
        with pytest.raises(ConfigError, match="registered twice"):
            protocols.register("loso")(_halves)
        with pytest.raises(ConfigError, match="no parameter"):
            protocols.folds(df, "subject_halves", n_splits=2)
    finally:
        protocols._PROTOCOLS.pop("subject_halves", None)


def test_lodo_holds_each_dataset_out_in_turn():
    """Leave one dataset out (the MEGC challenges since 2023): one fold per dataset, tested on all of it after
    training on all the others; subject-disjoint by construction, so the audit's leakage is 0."""
    df = protocols.composite(table([4] * 3, dataset="smic"), table([4] * 2, dataset="casme3a"),
                             table([5] * 3, dataset="4dme", na=2), table([4] * 2, dataset="mmew"))
    fs = protocols.folds(df, "lodo")
    ds = df["dataset"].to_numpy()
    assert [f.name for f in fs] == ["casme3a+mmew+smic->4dme", "4dme+mmew+smic->casme3a",
                                    "4dme+casme3a+smic->mmew", "4dme+casme3a+mmew->smic"]
    assert_partition(df, fs)  # every labelled clip tested exactly once
    for f in fs:
        (held,) = set(ds[f.test])
        assert np.array_equal(f.test, np.flatnonzero((ds == held) & df["label"].notna().to_numpy()))
        assert held not in set(ds[f.train])
        assert f.audit["leakage"] == 0.0 and f.audit["n_shared_subjects"] == 0 and f.audit["n_unlabelled"] == 2
    some = protocols.folds(df, "lodo", datasets=("4dme", "smic"))
    assert [f.name for f in some] == ["smic->4dme", "4dme->smic"]
    assert set(ds[np.concatenate([some[0].train, some[0].test])]) == {"4dme", "smic"}


def test_lodo_refuses_one_dataset_and_subjects_shared_by_datasets():
    df = protocols.composite(table([4] * 3, dataset="casme2"), table([4] * 3, dataset="samm"))
    with pytest.raises(ConfigError, match="lodo .*at least 2 datasets.*1 \\(casme2\\).*loso"):
        protocols.folds(table([4] * 3, dataset="casme2"), "lodo")
    with pytest.raises(ConfigError, match="at least 2 datasets.*1 \\(samm\\)"):
        protocols.folds(df, "lodo", datasets="samm")
    clash = df.assign(subject=df["subject"].str.split("/").str[1])  # not namespaced: sub00 in both
    with pytest.raises(DataError, match="namespaced by dataset.*3 subject\\(s\\) in several datasets"):
        protocols.folds(clash, "lodo")
    with pytest.raises(ConfigError, match="'lodo' has no parameter n_splits"):
        protocols.folds(df, "lodo", n_splits=2)
    rare = pd.concat([df, pd.DataFrame([{"dataset": "samm", "subject": "samm/sub09", "clip": "x", "label": "fear"}])],
                     ignore_index=True)
    with pytest.raises(DataError, match="trains without \\['fear'\\]"):
        protocols.folds(rare, "lodo")  # the held-out dataset's class is in no other one


def test_datasets_restricts_to_a_composite_subset():
    df = protocols.composite(table([4] * 3, dataset="casme2"), table([4] * 3, dataset="smic"),
                             table([4] * 3, dataset="samm"))
    fs = protocols.folds(df, "loso", datasets=("casme2", "samm"))
    assert len(fs) == 6
    assert set(df["dataset"].iloc[np.concatenate([fs[0].train, fs[0].test])]) == {"casme2", "samm"}


def test_composite_refuses_repeats_and_mixed_schemes():
    a, b = table([3], dataset="casme2"), table([3], dataset="samm")
    with pytest.raises(DataError, match="repeated clips"):
        protocols.composite(a, a)
    a.attrs["scheme"], b.attrs["scheme"] = "megc3", "objective5"
    with pytest.raises(DataError, match="one scheme"):
        protocols.composite(a, b)
    b.attrs["scheme"] = "megc3"
    assert protocols.composite(a, b).attrs["scheme"] == "megc3"


def test_holdout_repeats_over_seeds():
    df = table([5] * 8)
    fs = protocols.folds(df, "holdout", test_size=0.25, n_repeats=4, seed=10)
    assert [f.name for f in fs] == ["seed10", "seed11", "seed12", "seed13"]
    assert all(len(f.test) == 10 and len(f.train) == 30 for f in fs)
    assert len({tuple(f.test) for f in fs}) == 4
    again = protocols.folds(df, "holdout", test_size=0.25, n_repeats=4, seed=10)
    assert all(np.array_equal(f.test, g.test) for f, g in zip(fs, again))


def test_bad_input_says_what_to_change():
    df = table([4] * 4)
    with pytest.raises(ConfigError, match="unknown protocol 'kfold'.*loso"):
        protocols.folds(df, "kfold")
    with pytest.raises(ConfigError, match="'loso' has no parameter n_splits; it takes datasets"):
        protocols.folds(df, "loso", n_splits=3)
    with pytest.raises(DataError, match="labels.assign"):
        protocols.folds(df.drop(columns="label"), "loso")
    with pytest.raises(DataError, match="lower n_splits"):
        protocols.folds(df, "stratified_kfold", n_splits=10)
    with pytest.raises(DataError, match="lower n_splits or use loso"):
        protocols.folds(df, "group_kfold", n_splits=5)
    lonely = pd.concat([df, pd.DataFrame([{"dataset": "casme2", "subject": "casme2/sub09", "clip": "x",
                                           "label": "fear"}])], ignore_index=True)
    with pytest.raises(DataError, match="trains without \\['fear'\\]"):
        protocols.folds(lonely, "loso")


def test_validation_split_is_carved_from_training_and_subject_disjoint():
    df = table([4] * 8)
    f = protocols.folds(df, "loso")[0]
    fit, val, kind = protocols.validation_split(df, f.train, fraction=0.25, seed=0)
    assert kind == "subject"
    assert set(fit) | set(val) == set(f.train) and not set(fit) & set(val)
    subj = df["subject"].to_numpy()
    assert not set(subj[fit]) & set(subj[val])
    one = np.flatnonzero(df["subject"] == "casme2/sub00")
    fit, val, kind = protocols.validation_split(df, one, fraction=0.5, seed=0)
    assert kind == "sample" and len(val) == 2 and set(fit) | set(val) == set(one)


def test_composite_allows_a_clip_name_shared_by_two_subjects():
    # CASME II names clips per subject: sub01/EP02_01f and sub11/EP02_01f are different clips.
    a = pd.DataFrame({"dataset": ["casme2"], "subject": ["casme2/sub01"], "clip": ["EP02_01f"], "label": ["pos"]})
    b = pd.DataFrame({"dataset": ["casme2"], "subject": ["casme2/sub11"], "clip": ["EP02_01f"], "label": ["neg"]})
    assert len(protocols.composite(a, b)) == 2


def test_group_holdout_is_the_first_subject_disjoint_fold():
    df = protocols.composite(table([6] * 6, dataset="casme2"), table([6] * 6, dataset="smic"))
    (one,) = protocols.folds(df, "group_holdout", n_splits=3, seed=1)
    first = protocols.folds(df, "group_kfold", n_splits=3, seed=1, stratify=True)[0]
    assert (one.train == first.train).all() and (one.test == first.test).all() and one.audit["leakage"] == 0

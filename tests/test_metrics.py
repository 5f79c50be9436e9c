"""Metrics against hand-computed confusion matrices; the two aggregations; uncertainty and paired tests."""
import math

import numpy as np
import pandas as pd
import pytest

from melib import metrics
from melib.errors import DataError

# Hand example, classes N, P, S; rows true, columns predicted:
#        N  P  S
#   N    3  1  0     (4 negatives)
#   P    1  1  0     (2 positives)
#   S    0  1  2     (3 surprises)
Y_TRUE = ["N"] * 4 + ["P"] * 2 + ["S"] * 3
Y_PRED = ["N", "N", "N", "P", "N", "P", "P", "S", "S"]


def test_scores_match_hand_computed_confusion_matrix():
    s = metrics.scores(Y_TRUE, Y_PRED, ["N", "P", "S"])
    assert s["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 1, 2]]
    assert s["accuracy"] == pytest.approx(6 / 9)
    # F1 = 2TP / (2TP + FP + FN) (CropNet Eq. 9): N 6/(6+1+1), P 2/(2+2+1), S 4/(4+0+1)
    assert s["f1"] == pytest.approx([6 / 8, 2 / 5, 4 / 5])
    assert s["uf1"] == pytest.approx((6 / 8 + 2 / 5 + 4 / 5) / 3)
    # recall TP/N_i (CropNet Eq. 10): N 3/4, P 1/2, S 2/3
    assert s["tpr"] == pytest.approx([3 / 4, 1 / 2, 2 / 3])
    assert s["uar"] == pytest.approx((3 / 4 + 1 / 2 + 2 / 3) / 3)
    # TNR = TN / (TN + FP): N 4/5, P 5/7, S 6/6
    assert s["tnr"] == pytest.approx([4 / 5, 5 / 7, 1.0])
    assert s["support"] == [4, 2, 3] and s["n"] == 9
    table = metrics.per_class(s)
    assert table.loc["P", "f1"] == pytest.approx(2 / 5)


def test_absent_class_is_left_out_of_uf1_and_uar_but_a_false_alarm_counts():
    s = metrics.scores(["a", "a", "b"], ["a", "a", "b"], ["a", "b", "c"])
    assert math.isnan(s["f1"][2]) and math.isnan(s["tpr"][2])
    assert s["uf1"] == 1.0 and s["uar"] == 1.0
    s = metrics.scores(["a", "a", "b"], ["a", "c", "b"], ["a", "b", "c"])  # c predicted, never true
    assert s["f1"][2] == 0.0
    assert s["uf1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert s["uar"] == pytest.approx((1 / 2 + 1) / 2)


def test_fast_confusion_path_agrees_with_sklearn_scores():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y, p = rng.integers(0, 4, 15), rng.integers(0, 4, 15)
        s = metrics.scores(y, p, [0, 1, 2, 3, 4])
        fast = metrics.from_confusion(np.array(s["confusion"]))
        assert fast == pytest.approx({m: s[m] for m in metrics.METRICS}, nan_ok=True)


def test_integer_labels_and_errors():
    s = metrics.scores(pd.Series([0, 1, 1], dtype="Int64"), np.array([0, 1, 0]), [0, 1])
    assert s["confusion"] == [[1, 0], [1, 1]]
    with pytest.raises(DataError, match="labels among"):
        metrics.scores([0, 2], [0, 1], [0, 1])
    with pytest.raises(DataError, match="as many predictions"):
        metrics.scores([0, 1], [0], [0, 1])


def test_mean_of_folds_and_pooled_differ_as_by_hand():
    # fold 1: 1 clip right of 1; fold 2: 1 right of 3.
    f1 = (["a"], ["a"])
    f2 = (["a", "b", "b"], ["b", "b", "a"])
    per_fold = [metrics.scores(*f1, ["a", "b"]), metrics.scores(*f2, ["a", "b"])]
    mean = metrics.mean_of_folds(per_fold)
    assert mean["accuracy"] == pytest.approx((1 + 1 / 3) / 2)  # DLHN Eqs. 10-11
    assert mean["accuracy_std"] == pytest.approx(np.std([1, 1 / 3], ddof=1))
    pooled = metrics.pooled([f1[0], f2[0]], [f1[1], f2[1]], ["a", "b"])
    assert pooled["accuracy"] == pytest.approx(2 / 4)  # MEGC2019: all predictions together
    assert pooled["confusion"] == [[1, 1], [1, 1]]


def test_by_group_breaks_a_composite_down():
    pred = pd.DataFrame({"dataset": ["smic", "smic", "samm", "samm"], "y_true": ["a", "b", "a", "b"],
                         "y_pred": ["a", "b", "b", "b"]})
    t = metrics.by_group(pred, ["a", "b"])
    assert list(t.index) == ["samm", "smic", "all"]
    assert t.loc["smic", "accuracy"] == 1.0 and t.loc["samm", "accuracy"] == 0.5 and t.loc["all", "n"] == 4
    assert t.loc["samm", "uar"] == pytest.approx(0.5)


def test_bootstrap_ci_brackets_the_value_and_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    ci = metrics.bootstrap_ci(y, p, [0, 1, 2], "accuracy", n_boot=300, seed=1)
    assert ci["low"] < ci["value"] < ci["high"]
    assert 0.05 < ci["high"] - ci["low"] < 0.2
    assert ci == metrics.bootstrap_ci(y, p, [0, 1, 2], "accuracy", n_boot=300, seed=1)
    perfect = metrics.bootstrap_ci(y, y, [0, 1, 2], "uf1", n_boot=50)
    assert perfect["low"] == perfect["high"] == 1.0


def test_paired_comparisons():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    good = np.where(rng.random(120) < 0.9, y, 1 - y)
    bad = np.where(rng.random(120) < 0.5, y, 1 - y)
    r = metrics.paired_bootstrap(y, good, bad, [0, 1], "accuracy", n_boot=300)
    assert r["diff"] > 0.2 and r["low"] > 0 and r["p"] < 0.01
    same = metrics.paired_bootstrap(y, good, good, [0, 1], "uf1", n_boot=50)
    assert same["diff"] == 0 and same["p"] == 1.0
    groups = np.repeat(np.arange(12), 10)
    r = metrics.paired_bootstrap(y, good, bad, [0, 1], "accuracy", n_boot=200, groups=groups)
    assert r["low"] > 0
    # McNemar by hand: A right where B wrong on 10 clips, never the reverse: p = 2 * 0.5**10.
    y = np.zeros(30, int)
    a = np.zeros(30, int)
    b = np.r_[np.ones(10, int), np.zeros(20, int)]
    m = metrics.mcnemar(y, a, b)
    assert (m["b"], m["c"]) == (10, 0) and m["p"] == pytest.approx(2 * 0.5 ** 10)
    assert metrics.mcnemar(y, a, a)["p"] == 1.0
    w = metrics.wilcoxon_folds([0.6, 0.7, 0.65, 0.8, 0.75, 0.7], [0.5, 0.55, 0.6, 0.6, 0.7, 0.65])
    assert w["p"] == pytest.approx(2 / 2 ** 6) and w["mean_diff"] > 0  # all 6 differences positive

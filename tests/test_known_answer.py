"""Known-answer tests: on melib's synthetic set the methods must score near chance when the clips carry no
motion (amplitude 0: the pixels do not depend on the label) and clearly above chance at the default amplitude
(3 px at apex), under a subject-disjoint protocol, on the MEGC2019 3-class labels.

"Near chance" is the permutation null of the run itself (``known_answer.chance_band``: true labels permuted
among each subject's clips, 2000 draws, central 99 %), plus a fixed tolerance around 1/3; "above chance" is a
margin over that band's upper end; the band's width follows from the number of clips (about 94 here: the null's
sd is about 0.055).

The sets (``known_answer.KA_SYNTH``, the book's known-answer chapter's too): 5 subjects per layout, 7 clips
each, 12-16 frames of 256x192 (105 clips, about 94 with a MEGC2019 label), seed 0. The engine-level tests take
about a minute and a half; the paper models' (``slow``) minutes each on a 2-core machine, LocalRegions three
seeds at each amplitude.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from melib import train
from melib.experiments import known_answer as ka
from melib.experiments.common import labelled
from melib.preprocess import pipelines

KA_SET = ka.KA_SYNTH  # the book's known-answer chapter (default profile) sweeps the same set
CHANCE = 1 / 3
NEAR = 0.15  # |UAR - 1/3| at amplitude 0; about 2.7 null sd at ~94 clips
# UAR at amplitude 3 must clear its own null band's upper end by this much (no fixed floor: the UAR of one run
# moves between CPU kinds while the margin holds). The seed spreads behind it are ledger records
# (`python -m melib.ledger list`: known_answer_seeds; view melib/data/known_answer_seeds.csv).
ABOVE_MARGIN = 0.05
# LocalRegions learns less surely than the others (its seed records at amplitude 3 come within 0.05 of the band's
# top): its test asks the margin, and the amplitude-0 check, of the mean over these seeds.
MEAN_OVER_SEEDS = {"localregions": (0, 1, 2)}


@pytest.fixture(scope="module")
def sets(home):
    """MEGC2019-labelled samples of the amplitude-0 and amplitude-3 sets (identical but for the motion)."""
    return {a: labelled(ka.amplitude_samples(a, seed=0, **KA_SET), "megc2019") for a in (0.0, 3.0)}


def _mean_of(evs: list[train.Evaluation]) -> tuple[float, float, float]:
    """Mean UAR and mean 99 % null band (low, high) of runs of one method under several seeds."""
    lo, hi = np.mean([ka.chance_band(e) for e in evs], axis=0)
    return float(np.mean([e.pooled["uar"] for e in evs])), float(lo), float(hi)


def assert_near_chance(ev: train.Evaluation | list[train.Evaluation], what: str) -> None:
    """Inside the null band and near 1/3; for several runs (seeds), their mean inside the bands' mean."""
    uar, lo, hi = _mean_of(ev if isinstance(ev, list) else [ev])
    assert lo <= uar <= hi, f"{what}: UAR {uar:.3f} outside the 99 % null band [{lo:.3f}, {hi:.3f}] at amplitude 0"
    assert abs(uar - CHANCE) <= NEAR, f"{what}: UAR {uar:.3f} is not within {NEAR} of chance at amplitude 0"


def assert_above_chance(ev: train.Evaluation | list[train.Evaluation], what: str) -> None:
    """UAR above the 99 % null band's upper end by ``ABOVE_MARGIN``; for several runs (seeds), their mean
    UAR above their bands' mean upper end (the mean of runs under the null spreads less than one run)."""
    evs = ev if isinstance(ev, list) else [ev]
    uar, lo, hi = _mean_of(evs)
    runs = f"mean of {len(evs)} seeds" if len(evs) > 1 else "one seed"
    assert uar >= hi + ABOVE_MARGIN, \
        f"{what}: UAR {uar:.3f} at amplitude 3 (null band [{lo:.3f}, {hi:.3f}], margin {ABOVE_MARGIN}; {runs})"
    assert all(e.leakage()["leakage_max"] == 0.0 for e in evs)


def test_the_two_sets_differ_only_in_motion(sets):
    a0, a3 = sets[0.0], sets[3.0]
    assert len(a0) == len(a3) > 80
    cols = ["dataset", "subject", "clip", "onset", "apex", "offset", "label"]
    pd.testing.assert_frame_equal(a0[cols].reset_index(drop=True), a3[cols].reset_index(drop=True))


@pytest.mark.parametrize("amplitude", [0.0, 3.0])
def test_lbp_top_svm_engine_loso(sets, amplitude):
    """Engine level: LBP-TOP features (MEGC2019 baseline settings) + a linear SVC straight through
    ``train.evaluate`` under LOSO. Measured (seed 0): UAR 0.330 at 0 (band [0.253, 0.475]); 0.726 at 3 (band
    [0.274, 0.504])."""
    lab = sets[amplitude]
    X, kept, exclusions = pipelines.build_inputs(lab, "lbp", progress=False, kind="top")
    # clips shorter than 2 R_T + 1 = 9 frames onset..offset are counted exclusions, not crashes
    assert len(exclusions) <= 3 and all("T >= 9" in e["reason"] for e in exclusions)
    assert len(kept) + len(exclusions) == len(lab)
    samples = lab.loc[kept]
    samples.attrs = dict(lab.attrs)
    est = make_pipeline(StandardScaler(), SVC(kernel="linear", C=1.0))
    ev = train.evaluate(est, X["features"], samples, "loso", save=False, progress=False)
    assert len(ev.records) == samples["subject"].nunique() == 15
    assert ev.leakage()["leakage_max"] == 0.0
    if amplitude == 0:
        assert_near_chance(ev, "LBP-TOP + SVM, LOSO")
    else:
        assert_above_chance(ev, "LBP-TOP + SVM, LOSO")


@pytest.mark.parametrize("method", list(ka.BASELINES))
def test_lbp_baselines_chapter_protocol(sets, method):
    """LBP-TOP / LBP-SIP + SVM through the chapter's own path (``known_answer.evaluate_method``, 3 subject-
    disjoint folds). Measured (seed 0) UAR at 0 / 3: LBP-TOP 0.287 / 0.684, LBP-SIP 0.404 / 0.639 (bands'
    upper ends 0.43-0.50). Under LOSO LBP-SIP reaches 0.510 at amplitude 0 (band [0.264, 0.488]); with the same
    frames and label seeds 1-7 it scores 0.26-0.44, so that is the tail of its null, not a leak."""
    from melib import params

    p = params.setup("default")
    assert_near_chance(ka.evaluate_method(p, sets[0.0], method), f"{method}, group_kfold")
    assert_above_chance(ka.evaluate_method(p, sets[3.0], method), f"{method}, group_kfold")


def test_within_subject_null_is_the_exact_one():
    """A predictor that sees only the dataset (negative for the 4:1:1 layout, the rest at random) carries no
    clip-level information: its UAR sits in the middle of the within-subject null, above the global one."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(10):
        ds = "casme2" if s < 5 else "smic"
        ys = ["negative"] * 4 + ["positive", "surprise"] if ds == "casme2" else ["negative", "positive", "surprise"] * 2
        for i, y in enumerate(ys):
            pred = "negative" if ds == "casme2" else ["positive", "surprise"][rng.integers(2)]
            rows.append({"clip": f"{s}_{i}", "dataset": ds, "subject": f"{ds}/s{s}", "y_true": y, "y_pred": pred})
    ev = train.Evaluation([{"fold": 0, "fold_name": "all", "predictions": rows}], ["negative", "positive", "surprise"])
    within = ka.null_distribution(ev, "uar", n=500, within="subject")
    globally = ka.null_distribution(ev, "uar", n=500, within=None)
    assert within.mean() > globally.mean() + 0.05
    lo, hi = ka.chance_band(ev, "uar")
    assert lo <= ev.pooled["uar"] <= hi
    assert abs(within.mean() - CHANCE) > 0.05  # "chance" is not 1/3 when the class mix follows the layout


# ---- each paper's main model -----------------------------------------------------------------------------

# The known-answer settings (epochs, class weights, inputs, trainer changes per model) are melib's own
# (``known_answer.settings``: TRAINING, INPUTS, CONFIG), so the book's known-answer chapter runs what this tests;
# each is a deviation of melib/deviations/<paper>.yaml (topic known_answer), and its runs under seeds 0-2 are
# ledger records (known_answer_seeds).


@pytest.mark.slow
class PaperModelKnownAnswer:
    """A paper's main model (default profile with ``known_answer.settings``) at one amplitude: clearly above
    chance at 3, near chance at 0. One class per model and amplitude, so that test workers share them out."""
    model: str
    amplitude: float

    def test_known_answer(self, sets):
        from melib import params

        p = params.setup("default")
        kw = ka.settings(p, self.model)
        assert kw["epochs"] == 30 and kw["class_weights"] == "balanced"
        seeds = MEAN_OVER_SEEDS.get(self.model, (p.seed,))
        runs = [ka.evaluate_method(params.setup("default", seed=s), sets[self.amplitude], self.model, **kw)
                for s in seeds]
        if self.amplitude:
            assert_above_chance(runs, f"{self.model}, group_kfold")
        else:
            assert_near_chance(runs, f"{self.model}, group_kfold")


for _model in sorted(ka.PAPER_MODELS, key=lambda m: m != "localregions"):  # its three seeds first
    for _a in (3.0, 0.0):
        _name = f"TestKnownAnswer_{_model}_{_a:g}"
        globals()[_name] = type(_name, (PaperModelKnownAnswer,), {"model": _model, "amplitude": _a})


def test_seed_spreads_leave_room_for_the_margin():
    """Every paper model's known answer, under each study seed measured (``python -m melib.experiments.known_answer
    seeds``), is above its own 99 % null band at amplitude 3: the planted motion is learnt whatever the seed,
    though not always by ``ABOVE_MARGIN`` (see its comment); at amplitude 0 it stays inside the band."""
    d = pd.read_csv(ka.SEEDS_FILE)
    top = d[d["amplitude"] == 3.0]
    assert set(top["method"]) == set(ka.PAPER_MODELS) and top.groupby("method")["seed"].nunique().min() >= 2
    worst = (top["uar"] - top["null_high"]).groupby(top["method"]).min()
    assert (worst > 0).all(), worst.to_dict()
    mean = (top["uar"] - top["null_high"]).groupby(top["method"]).mean()
    for m, seeds in MEAN_OVER_SEEDS.items():  # the mean the test asks of them holds on the measured seeds
        assert set(seeds) <= set(top[top["method"] == m]["seed"]) and mean[m] >= ABOVE_MARGIN, (m, mean[m])
    zero = d[d["amplitude"] == 0.0].assign(inside=lambda t: (t["uar"] >= t["null_low"]) & (t["uar"] <= t["null_high"]))
    assert set(zero["method"]) == set(ka.PAPER_MODELS)
    for m, t in zero.groupby("method"):  # at amplitude 0: every seed in its band, or the mean where the test asks it
        if m in MEAN_OVER_SEEDS:
            assert t["null_low"].mean() <= t["uar"].mean() <= t["null_high"].mean(), m
        else:
            assert t["inside"].all(), t

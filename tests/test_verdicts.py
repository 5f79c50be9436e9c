"""melib.verdicts: "learns" only by rule over seeds; a run that predicts one class is said to have collapsed."""
import pandas as pd
import pytest

from melib import train, verdicts
from melib.errors import DataError

BAND = (0.25, 0.45)


def test_three_seeds_clear_the_band_by_the_margin_learn():
    v = verdicts.verdict([0.70, 0.72, 0.68], [BAND, BAND, (0.24, 0.48)])
    assert v.word == "learns" and v.top == 0.48 and v.seeds == 3 and v.above == 3
    assert v.text().startswith("learns (UAR 0.680-0.720 over 3 seeds (mean 0.700), highest 99 % null band top 0.480")


def test_seeds_straddling_the_band_are_undecided_with_the_numbers():
    v = verdicts.verdict([0.60, 0.44, 0.62], [BAND] * 3)  # one seed inside the band
    assert v.word == "undecided" and v.inside == 1 and v.above == 2
    assert "2 above their band, 1 inside" in v.text() and "needs at least 3 seeds" in v.text()


def test_too_few_seeds_or_too_small_a_margin_never_learn():
    assert verdicts.verdict([0.9], [BAND]).word == "undecided"  # one seed, far above
    assert verdicts.verdict([0.9, 0.9], [BAND] * 2).word == "undecided"
    assert verdicts.verdict([0.47, 0.48, 0.49], [BAND] * 3).word == "undecided"  # above, mean 0.48 < 0.45 + 0.05
    assert verdicts.verdict([0.47, 0.48, 0.49], [BAND] * 3, margin=0.02).word == "learns"


def test_every_seed_inside_does_not_learn():
    assert verdicts.verdict([0.30, 0.35, 0.45], [BAND] * 3).word == "does not learn"
    assert verdicts.verdict([0.25], [(0.25, 0.25)]).word == "does not learn"  # a collapsed band
    assert verdicts.verdict([0.30, 0.20], [BAND] * 2).word == "undecided"  # one seed below its band


def test_the_known_answer_needs_silence_at_zero():
    top = verdicts.verdict([0.70, 0.72, 0.68], [BAND] * 3)
    assert verdicts.known_answer(top, verdicts.verdict([0.3, 0.33, 0.35], [BAND] * 3), 3.0)[0] == "learns"
    word, text = verdicts.known_answer(top, verdicts.verdict([0.3, 0.5, 0.35], [BAND] * 3), 3.0)
    assert word == "undecided" and "every seed inside its band at 0" in text
    assert verdicts.known_answer(top, None, 3.0)[0] == "undecided"
    assert verdicts.known_answer(verdicts.verdict([0.3], [BAND]), None, 3.0)[0] == "does not learn"


def test_bad_input_is_refused():
    with pytest.raises(DataError):
        verdicts.verdict([0.5, 0.6], [BAND])
    with pytest.raises(DataError):
        verdicts.verdict([], [])


def _evaluation(y_true, y_pred):
    """A fake evaluation: one fold, its predictions as melib.train records them."""
    labels = ["negative", "positive", "surprise"]
    preds = [{"clip": f"c{i}", "subject": f"s{i % 3}", "dataset": "synth", "y_true": t, "y_pred": p}
             for i, (t, p) in enumerate(zip(y_true, y_pred))]
    return train.Evaluation([{"fold": 0, "fold_name": "fold0", "model": "m", "run": "r", "predictions": preds,
                              "train_subjects": [], "test_subjects": [], "metrics": {}}], labels, None)


def test_a_run_that_predicts_one_class_is_collapsed():
    y = ["negative"] * 4 + ["positive"] * 2 + ["surprise"]
    assert verdicts.collapsed_run(_evaluation(y, ["negative"] * 7)) == \
        "collapsed: predicts negative for every clip (majority rate 0.571)"
    assert verdicts.collapsed_run(_evaluation(y, ["surprise"] * 7)) == \
        "collapsed: predicts surprise for every clip (share of surprise among the clips 0.143)"
    assert verdicts.collapsed_run(_evaluation(y, ["negative"] * 6 + ["positive"])) is None
    assert verdicts.top_share(["a", "a", "b"]) == ("a", pytest.approx(2 / 3))


def test_a_scored_run_carries_its_collapse():
    from melib.experiments.common import scored

    y = ["negative"] * 4 + ["positive"] * 2 + ["surprise"]
    s = scored(_evaluation(y, ["negative"] * 7))
    assert s["collapsed"].startswith("collapsed: predicts negative") and s["top_share"] == 1.0
    assert s["uar"] == pytest.approx(1 / 3, abs=1e-4) and s["null_low"] == s["null_high"] == s["uar"]
    assert pd.isna(scored(_evaluation(y, y))["collapsed"])

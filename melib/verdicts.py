"""What a number may be said to show: verdicts by rule, and runs that collapsed onto one class.

- :func:`verdict`: does a method learn a signal, from its UAR under several seeds and each run's 99 % null
  band (``melib.experiments.common.chance_band``)? "learns" only when at least :data:`MIN_SEEDS` seeds were
  run, every seed is above its band and their mean clears the highest band top by :data:`MARGIN`; "does not
  learn" when every seed is inside its band; otherwise "undecided", with the numbers.
- :func:`collapsed`: the label of a run whose predictions are one class for every clip.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import DataError

MARGIN = 0.05  # how far the mean over seeds must clear the highest band top (tests/test_known_answer's margin)
MIN_SEEDS = 3
WORDS = ("learns", "does not learn", "undecided")


@dataclass(frozen=True)
class Verdict:
    """A verdict (:data:`WORDS`) with the numbers it was read from."""
    word: str
    mean: float
    top: float  # the highest null band top over the seeds
    seeds: int
    above: int  # seeds above their own band
    inside: int  # seeds inside their own band
    low: float
    high: float
    margin: float = MARGIN

    def __str__(self) -> str:
        return self.word

    def numbers(self) -> str:
        """The numbers behind the word, in a phrase."""
        spread = f"{self.low:.3f}" if self.seeds == 1 else f"{self.low:.3f}-{self.high:.3f}"
        return (f"UAR {spread} over {self.seeds} seed{'s' * (self.seeds != 1)} (mean {self.mean:.3f}), "
                f"highest 99 % null band top {self.top:.3f}; {self.above} above their band, {self.inside} inside")

    def text(self) -> str:
        """The word and its numbers; an undecided verdict says what "learns" would need."""
        need = "" if self.word != "undecided" else (
            f"; \"learns\" needs at least {MIN_SEEDS} seeds, each above its band, and a mean {self.margin:g} "
            "above the highest band top")
        return f"{self.word} ({self.numbers()}{need})"


def verdict(uars_by_seed: Sequence[float], null_bands: Sequence[Sequence[float]], margin: float = MARGIN) -> Verdict:
    """The verdict of one method at one signal strength: ``uars_by_seed[i]`` scored against its own 99 % null
    band ``null_bands[i]`` = (low, high)."""
    u = np.asarray(uars_by_seed, dtype=float)
    b = np.asarray(null_bands, dtype=float).reshape(-1, 2)
    if not len(u) or len(u) != len(b) or not np.isfinite(u).all() or not np.isfinite(b).all():
        raise DataError(None, "one finite UAR and one finite (low, high) null band per seed",
                        f"{len(u)} UARs and {len(b)} bands")
    above = u > b[:, 1]
    inside = (u >= b[:, 0]) & (u <= b[:, 1])
    mean, top = float(u.mean()), float(b[:, 1].max())
    if len(u) >= MIN_SEEDS and above.all() and mean >= top + margin:
        word = "learns"
    elif inside.all():
        word = "does not learn"
    else:
        word = "undecided"
    return Verdict(word, mean, top, len(u), int(above.sum()), int(inside.sum()), float(u.min()), float(u.max()),
                   margin)


def verdict_of(rows: pd.DataFrame, value: str = "uar", low: str = "null_low", high: str = "null_high",
               margin: float = MARGIN) -> Verdict:
    """:func:`verdict` of a table's rows (one per seed)."""
    return verdict(rows[value].to_numpy(), rows[[low, high]].to_numpy(), margin)


def known_answer(top: Verdict, zero: Verdict | None, amplitude: float) -> tuple[str, str]:
    """(word, sentence) of a known answer: "learns" when the verdict at the top ``amplitude`` is "learns" and
    every seed stays inside its band at 0 (no leak); "does not learn" when every seed stays inside its band at
    the top amplitude; "undecided" otherwise (amplitude 0 not measured included)."""
    if top.word == "learns" and zero is not None and zero.word == "does not learn":
        word = "learns"
    elif top.word == "does not learn":
        word = "does not learn"
    else:
        word = "undecided"
    at0 = zero.numbers() if zero is not None else "not measured"
    text = f"{word}: at {amplitude:g} px {top.numbers()}; at 0 {at0}"
    if word == "undecided":
        text += (f" (\"learns\" needs at least {MIN_SEEDS} seeds, each above its band at {amplitude:g} px and "
                 f"their mean {top.margin:g} above the highest band top, and every seed inside its band at 0)")
    return word, text


def collapsed(y_true: Sequence, y_pred: Sequence) -> str | None:
    """"collapsed: predicts X for every clip (majority rate Y)" when every prediction is class X (Y: the share
    of clips that are X, the accuracy this run has); None when the predictions hold two classes or more."""
    t, p = pd.Series(list(y_true)), pd.Series(list(y_pred))
    if len(t) != len(p) or not len(p):
        raise DataError(None, "as many predictions as true labels, at least one", f"{len(p)} for {len(t)}")
    if p.nunique() != 1:
        return None
    x = p.iloc[0]
    share = float((t == x).mean())
    counts = t.value_counts()
    rate = "majority rate" if share == counts.iloc[0] / len(t) else f"share of {x} among the clips"
    return f"collapsed: predicts {x} for every clip ({rate} {share:.3f})"


def collapsed_run(ev) -> str | None:
    """:func:`collapsed` of an evaluation's pooled predictions (``melib.train.Evaluation``)."""
    pred = ev.predictions()
    return collapsed(pred["y_true"], pred["y_pred"])


def top_share(y_pred: Sequence) -> tuple[str, float]:
    """The most frequent prediction and the share of clips given it."""
    s = pd.Series(list(y_pred)).value_counts(normalize=True)
    return str(s.index[0]), float(s.iloc[0])

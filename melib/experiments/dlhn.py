"""The DLHN chapter: HCRNN and RPRNN trained separately on the same folds, fused late (DLHN Eq. 8), and the
paper's Tables 4-6 and Fig. 9 beside this study's numbers.

``result = dlhn.run(p, samples)`` preprocesses the clips once (``melib.preprocess.pipelines.dlhn_inputs``:
the four ROI clips and RPCA's sparse part from one call), trains ``dlhn_hcrnn`` and ``dlhn_rprnn`` under the
chapter's protocol with cached run records, and fuses their per-clip probabilities with a = 0.45
(:func:`melib.train.fuse`). The tables:

- :func:`a_sweep` — DLHN Table 4: accuracy per fold for each fusion weight a.
- :func:`ablation` — DLHN Table 5: HCRNN alone, RPRNN alone, DLHN, per fold.
- :func:`comparison` — DLHN Table 6: the published methods, with this study's DLHN row beside the paper's.
- :func:`confusion` — DLHN Fig. 9: the pooled confusion matrix (counts) beside the published one.
- :func:`audit` — the leakage audit: sample-level folds put clips of one subject in training and test.

Choices (the book lists them as deviations):

- Protocol: sample-level *stratified* 10-fold (``stratified_kfold``, shuffled with the study seed). DLHN 4.1
  says only "equally randomly distributed into 10 folds"; stratifying keeps the class shares per fold,
  which "equally" suggests. Folds per profile (:data:`FOLDS`): 10 under ``paper`` and ``default`` (the
  default chapter took 31 s cold with 5 folds and about 75 s with 10 on the shared 2-core CPU); 3 under
  ``smoke`` (its smallest class has 4 clips), whose published fold rows 4-10 then have no study number.
- Accuracy is the mean of the per-fold accuracies (DLHN Eqs. 10-11); the confusion matrix pools all folds.
- Training: ``melib.train.paper_config`` of each sub-network (SGD, lr 0.85 / 0.01, exponential decay 0.96
  per epoch, batch 45, RPRNN's Eq. 7 penalty with weight 1), the profile's epochs. The test fold is scored
  after every epoch for the curves only (DLHN Fig. 8 plots test-set curves); the last epoch is kept, as
  nothing else is said.
- The sub-networks see the same folds (same seed and clips), so their probabilities fuse clip by clip.
- The fusion weight a is swept on the test folds, as DLHN Table 4 does; that choice of a is optimistic,
  and the chapter says so.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import published, report, train
from ..models.dlhn import A_PAPER, A_SWEEP
from . import Run, confusion_beside, headline_frame, headline_row, labelled, model_inputs

PAPER = "DLHN"
SCHEME = "pnso"
PROTOCOL = "stratified_kfold"
DEFAULTS = {"scheme": SCHEME, "protocol": PROTOCOL}  # study.setup(..., defaults=DEFAULTS)
FOLDS = {"smoke": 3, "default": 10, "paper": 10}
SUBNETS = {"HCRNN": "dlhn_hcrnn", "RPRNN": "dlhn_rprnn"}


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: unchanged), then restore the count. The preprocessing
    (RPCA is torch) runs with one thread: on the shared 2-core machine RPCA of one clip took 0.1 s with one
    thread and 5.5 s with two (oversubscription)."""
    prev = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def protocol_params(p, protocol: str | None = None, n_splits: int | None = None) -> dict:
    """The protocol's parameters under profile ``p``: the profile's fold count (:data:`FOLDS`) and the study
    seed for the k-fold protocols, nothing for the others (``loso``)."""
    protocol = protocol or p.protocol or PROTOCOL
    if protocol in ("stratified_kfold", "group_kfold"):
        return {"n_splits": int(n_splits or FOLDS.get(p.profile, 10)), "seed": p.seed}
    return {}


@dataclass
class Result:
    """HCRNN and RPRNN on the same folds, their fusion at ``a``, and what the numbers are (provenance)."""
    hcrnn: Run
    rprnn: Run
    dlhn: train.Evaluation
    a: float
    protocol: str
    protocol_params: dict
    provenance: str
    samples: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)

    def fused(self, a: float) -> train.Evaluation:
        """DLHN Eq. 8 at weight ``a`` on the same folds: a P_h + (1 - a) P_r."""
        return train.fuse(self.hcrnn.evaluation, self.rprnn.evaluation, weight=a, name=f"DLHN a={a:g}")

    def evaluations(self) -> dict[str, train.Evaluation]:
        return {"HCRNN": self.hcrnn.evaluation, "RPRNN": self.rprnn.evaluation, "DLHN": self.dlhn}

    def summary(self) -> pd.DataFrame:
        """One row per method: protocol, folds, mean-of-folds and pooled scores, leakage, provenance."""
        rows = []
        for name, ev in self.evaluations().items():
            s = ev.summary()
            rows.append({"method": name, "protocol": self.protocol, "n_folds": s["n_folds"], "n_clips": s["n_clips"],
                         "accuracy (mean of folds)": s["accuracy_mean"], "accuracy std": s["accuracy_std"],
                         "accuracy (pooled)": s["accuracy"], "uf1 (pooled)": s["uf1"], "uar (pooled)": s["uar"],
                         "leakage_mean": s["leakage_mean"], "leakage_max": s["leakage_max"],
                         "provenance": self.provenance})
        return pd.DataFrame(rows).set_index("method")


def run(p, samples: pd.DataFrame, *, a: float = A_PAPER, protocol: str | None = None, n_splits: int | None = None,
        progress: bool = False, threads: int | None = 1, **config_changes) -> Result:
    """Train HCRNN and RPRNN under ``protocol`` (default the chapter's) and fuse them at ``a`` (DLHN Eq. 8).

    ``samples``: the study's clips (``study.samples(p)``), labelled here with ``p.scheme`` (pnso).
    ``config_changes`` override both trainers' configurations (e.g. ``epochs=2``).
    """
    protocol = protocol or p.protocol or PROTOCOL
    lab = labelled(samples, p.scheme or SCHEME)
    with torch_threads(threads):  # both parts from one pipeline call
        X, kept, exclusions = model_inputs(p, lab, "dlhn", progress=progress)
    pp = protocol_params(p, protocol, n_splits)
    from .. import study

    runs = {}
    for name, model in SUBNETS.items():
        keys = ("sparse",) if model == "dlhn_rprnn" else ("eyebrows", "eyes", "nose", "mouth")
        cfg = study.train_config(p, model, **{"progress": progress, "threads": threads, "track_test": True,
                                              **config_changes})
        ev = train.evaluate(model, {k: X[k] for k in keys}, kept, protocol, protocol_params=pp, config=cfg,
                            model_params={"profile": p.model_profile}, name=model, progress=progress)
        runs[name] = Run(model, protocol, ev, kept, exclusions)
    fused = train.fuse(runs["HCRNN"].evaluation, runs["RPRNN"].evaluation, weight=a, name="DLHN")  # DLHN Eq. 8
    return Result(runs["HCRNN"], runs["RPRNN"], fused, a, protocol, pp, report.provenance_label(kept), kept,
                  exclusions)


# ---- tables ------------------------------------------------------------------------------------------------

def _fold_rows(ev: train.Evaluation, method: str, metric: str = "accuracy", **extra) -> list[dict]:
    """Per-fold values (folds numbered from 1, as the paper) and the mean of folds (DLHN Eq. 11)."""
    rows = [{"method": method, "fold": str(r["fold"] + 1), "metric": metric, "value": r["metrics"][metric], **extra}
            for r in ev.records]
    rows.append({"method": method, "fold": "mean", "metric": metric, "value": ev.mean[metric], **extra})
    return rows


def a_sweep(result: Result, a_values=A_SWEEP) -> pd.DataFrame:
    """DLHN Table 4: fused accuracy per fold and its mean for each a, beside the published (long form,
    ``report.side_by_side`` columns, keyed by setting ``a=...`` and fold)."""
    rows = [row for a in a_values for row in _fold_rows(result.fused(a), "DLHN", setting=f"a={a:g}")]
    study = pd.DataFrame(rows).assign(provenance=result.provenance)
    return beside(study, published.table(PAPER, "Table 4"), ["setting", "fold", "metric"])


def ablation(result: Result) -> pd.DataFrame:
    """DLHN Table 5: HCRNN, RPRNN and DLHN (a = ``result.a``) per fold, beside the published."""
    rows = [row for name, ev in result.evaluations().items() for row in _fold_rows(ev, name)]
    study = pd.DataFrame(rows).assign(provenance=result.provenance)
    return beside(study, published.table(PAPER, "Table 5"), ["method", "fold", "metric"])


def comparison(result: Result) -> pd.DataFrame:
    """DLHN Table 6: the published methods, this study's DLHN row beside the paper's (the re-run baselines
    are the baselines chapter's)."""
    study = pd.DataFrame(_fold_rows(result.dlhn, "DLHN")).assign(provenance=result.provenance)
    return beside(study, published.table(PAPER, "Table 6"), ["method", "fold", "metric"])


def beside(study: pd.DataFrame, pub: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """``report.side_by_side`` with the rows in the published table's order, this study's extra rows after."""
    out = report.side_by_side(study, pub, on=on)
    rank = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, pub[on].astype(str).to_numpy())))}
    own = {k: len(rank) + i for i, k in enumerate(dict.fromkeys(map(tuple, study[on].astype(str).to_numpy())))}
    keys = [tuple(k) for k in out[on].astype(str).to_numpy()]
    pos = [rank.get(k, own.get(k, len(rank) + len(own))) for k in keys]
    return out.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)


def wide(beside: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """A ``side_by_side`` table laid out like the paper's: rows (``index``, source), columns ``columns``; the
    source of each row is its provenance label (published, or this study's: synthetic / real), so the
    provenance stays in the table. Rows with no number (a method this study did not run) are dropped."""
    parts = []
    for side in ("published", "study"):
        d = beside[[index, columns, side, f"{side}_provenance"]].rename(
            columns={side: "value", f"{side}_provenance": "source"})
        parts.append(d[d["value"].notna()])
    long = pd.concat(parts, ignore_index=True)
    rows = list(dict.fromkeys(zip(long[index], long["source"])))
    rows.sort(key=lambda k: list(dict.fromkeys(beside[index])).index(k[0]))
    out = long.pivot_table(index=[index, "source"], columns=columns, values="value", aggfunc="first", sort=False)
    out = out.reindex(index=pd.MultiIndex.from_tuples(rows, names=[index, "source"]),
                      columns=list(dict.fromkeys(beside[columns])))
    out.columns.name = columns
    return out


def confusion(result: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this study's pooled DLHN confusion counts, DLHN Fig. 9's), rows true and columns predicted, in
    the pnso order; each carries ``attrs["provenance"]``."""
    return confusion_beside(result.dlhn, published.confusion(PAPER, "Fig. 9"), result.provenance)


def confusion_figures(result: Result) -> list:
    """The two confusion matrices of :func:`confusion` as figures, each titled with its provenance."""
    mine, pub = confusion(result)
    return [report.confusion_figure(mine, title=f"DLHN, a={result.a:g}: {mine.attrs['provenance']}"),
            report.confusion_figure(pub, title=pub.attrs["provenance"])]


def fold_audit(ev: train.Evaluation, protocol: str) -> pd.DataFrame:
    """Per fold: training and test clips, test subjects, test subjects also seen in training, and the share of
    test clips whose subject is in training (leakage)."""
    f = ev.folds()[["fold_name", "n_train", "n_test", "n_test_subjects", "n_shared_subjects", "leakage"]]
    return f.assign(protocol=protocol).set_index("fold_name")


def leakage_sentence(ev: train.Evaluation, protocol: str, params: dict, paper: str = PAPER) -> str:
    """The leakage audit in one sentence, for the page."""
    lk = ev.leakage()
    pp = ", ".join(f"{k}={v}" for k, v in params.items())
    verdict = ("sample-level k-fold is not subject-independent, as in the paper" if lk["leakage_max"] > 0
               else "no test subject is seen in training")
    return (f"**Leakage audit.** Protocol `{protocol}` ({pp}): {lk['leakage_mean']:.0%} of the test clips (max "
            f"{lk['leakage_max']:.0%} in one fold) come from subjects who also appear in the training folds; "
            f"{verdict} ({paper}).")


def table_caption(ev: train.Evaluation, protocol: str, params: dict, provenance: str, what: str) -> str:
    """One line above a results table: what it shows, this study's provenance, protocol and subject overlap."""
    lk = ev.leakage()
    pp = ", ".join(f"{k}={v}" for k, v in params.items())
    return (f"**{what}.** This study: {provenance}; protocol `{protocol}` ({pp}); subject overlap "
            f"{lk['leakage_mean']:.0%} of the test clips (leakage audit).")


def caption(result: Result, what: str) -> str:
    """:func:`table_caption` of the DLHN folds."""
    return table_caption(result.dlhn, result.protocol, result.protocol_params, result.provenance, what)


def audit(result: Result) -> pd.DataFrame:
    """:func:`fold_audit` of the DLHN folds (HCRNN, RPRNN and DLHN share them)."""
    return fold_audit(result.dlhn, result.protocol)


def audit_sentence(result: Result) -> str:
    return leakage_sentence(result.dlhn, result.protocol, result.protocol_params, "DLHN 4.1")


def headline(result: Result) -> pd.DataFrame:
    """DLHN's headline (Table 6, a = 0.45): accuracy, mean of the per-fold accuracies (DLHN Eq. 11)."""
    ev = result.fused(A_PAPER)
    run = Run("DLHN", result.protocol, ev, result.samples, result.exclusions)
    return headline_frame(PAPER, [headline_row(PAPER, "Table 6", "DLHN", run, "accuracy", ev.mean["accuracy"],
                                               setting=f"a={A_PAPER:g}")])


# ---- curves ------------------------------------------------------------------------------------------------

def history(ev: train.Evaluation) -> pd.DataFrame:
    """Per-epoch training loss/accuracy and test-fold loss/accuracy (``track_test``), averaged over folds."""
    frames = []
    for r in ev.records:
        c = r.get("curves", {}).get("main") or next(iter(r.get("curves", {}).values()), {})
        frames.append(pd.DataFrame({"epoch": np.arange(1, len(c.get("train_loss", [])) + 1),
                                    "train_loss": c.get("train_loss", []), "train_acc": c.get("train_accuracy", []),
                                    **{k: c[f"test_{m}"] for k, m in (("test_loss", "loss"), ("test_acc", "accuracy"))
                                       if f"test_{m}" in c}}))
    return pd.concat(frames).groupby("epoch").mean().reset_index()


def curves_figure(ev: train.Evaluation, title: str | None = None):
    """``report.curves_figure`` of :func:`history`; the dashed line is the test fold, monitored per epoch
    (DLHN Fig. 8 / PSN Fig. 9 plot test-set curves) and never used to choose anything."""
    h = history(ev).rename(columns={"test_loss": "val_loss", "test_acc": "val_acc"})
    fig = report.curves_figure(h, title=title)
    for ax in fig.axes:
        leg = ax.get_legend()
        for t in (leg.get_texts() if leg else []):
            if t.get_text() == "validation":
                t.set_text("test fold (monitor only)")
    return fig


def curves_figures(result: Result) -> list:
    """Training curves of HCRNN and RPRNN (mean over folds), titled with the provenance."""
    return [curves_figure(result.hcrnn.evaluation, f"HCRNN ({result.provenance})"),
            curves_figure(result.rprnn.evaluation, f"RPRNN ({result.provenance})")]


def sweep_figure(result: Result, a_values=A_SWEEP):
    """Mean-of-folds accuracy against a (DLHN Table 4's mean row), this study beside the published."""
    t = a_sweep(result, a_values)
    t = t[t["fold"] == "mean"]
    a = t["setting"].str.slice(2).astype(float)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(a, t["published"], "o-", label=t["published_provenance"].iloc[0])
    ax.plot(a, t["study"], "s--", label=result.provenance)
    ax.axvline(result.a, color="grey", ls=":", lw=1)
    ax.set_xlabel("fusion weight a (DLHN Eq. 8)")
    ax.set_ylabel("accuracy, mean of folds")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig

"""The PSN chapter: PSN under stratified 10-fold with 4 classes (pnso), its ablations (PSN Fig. 7), backbones and
fusions (PSN Table 9) and the RPCA retention ratio (PSN Fig. 10), beside the paper's numbers.

``result = psn.run(p, samples)`` trains PSN and the variants the profile's plan (:data:`PLANS`, :func:`plan`)
lists, all on the same folds and on the inputs of ``melib.preprocess.pipelines.psn_inputs`` (the retention
runs with ``retain``), with cached run records. ``scheme`` may be ``pnso`` (the paper's) or ``megc2019``;
``protocol`` any of :data:`PROTOCOLS`. The tables (long form from ``report.side_by_side``;
``melib.experiments.views.wide`` lays them out like the paper):

- :func:`table5` — PSN Table 5: recognition rate and F1 of the published methods, this study's PSN beside.
- :func:`table6` — PSN Table 6: UAR and UF1 on the combined set and per dataset (``Evaluation.by_dataset``).
- :func:`table9` — PSN Table 9: backbones x fusions, RR mean, RR std, F1.
- :func:`ablations` — PSN Fig. 7: PSN_spatial, PSN_temporal, PSN_swap, PSN_tp1, AlexNet + RNN, PSN_no_conv.
- :func:`retention` — PSN Fig. 10: RPCA's non-zero retention ratio (``melib.preprocess.rpca.retain``).
- :func:`confusion` — pooled confusion counts beside PSN Table 7's PSN matrix.

Choices (the book lists them as deviations):

- Recognition rate = mean of the per-fold accuracies (PSN Table 9 prints RR_mean and RR_std); "F1 score"
  = UF1 (PSN Table 5's F1 equals Table 6's combined UF1) and UAR / UF1 are computed on all folds'
  predictions pooled, per dataset for Table 6 — PSN says neither.
- Folds per profile: 10 under ``paper`` (PSN 3.2); 3 under ``default``, where the chapter trains PSN and
  eight variants (a 5-fold run of them took 171 s on the shared CPU, twice the chapter's budget; 3 folds
  train on 93 clips instead of 112, about half the work); 3 under ``smoke`` (its smallest class has 4
  clips). Shuffled with the study seed.
- Training: PSN names no optimiser, learning rate or epoch count: melib's trainer defaults (Adam, lr 1e-3,
  cross-entropy) with the profile's epochs, batches of 5 clips (80 rows of 16 frames, PSN 2.3; ``psn-batch``)
  and dropout 0.5 before the classifier (PSN 3.3 names dropout without a rate; ``psn-dropout``); no
  augmentation (PSN 3.3 mentions rotation and flipping without settings). For PSN itself the test fold is scored
  after every epoch for the curves only (PSN Fig. 9); the last epoch is kept.
- RPCA input: under ``paper`` on the 150-frame normalised clip (``rpca_on="normalised"``, the pipeline's
  default reading of PSN 3.2); under ``default`` and ``smoke`` on the sampled frames only
  (``rpca_on="sampled"``): 0.36 s a clip against 1.6 s on the shared CPU (one thread), i.e. about 50 s
  instead of about 4 minutes for the default set.
- Grids per profile (:data:`PLANS`): the paper's full Fig. 7 and Table 9 grids and retention ratios 0.1..1.0
  under ``paper``; under ``default`` every Fig. 7 ablation and Table 9's AlexNet fusions (SUM, PROD, CONCAT)
  only — each PSN run takes 10-25 s of the chapter's 1.5 CPU minutes, ResNet10 about 1.5x and VGG16 3-5x
  an AlexNet run — and no retention run; ``smoke`` runs the AlexNet and ResNet10 rows of Table 9 and one
  retention ratio (0.3, inside the paper's best 20-30 % bin) on its tiny set.
- Retention (Fig. 10): PSN feeds apex frames at each retention level; here the ratio is applied to every
  sampled frame of E (the input PSN's spatial sub-network sees), after the profile's resizing, and the rest
  of PSN is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import published, recipes, report, train
from ..frames import example_clip
from ..params import face_size
from .common import (PROTOCOLS, RPCA_ON, Run, execute_all, headline_frame, headline_row, labelled, protocol_for,
                     training)
from .contract import MODEL_PARAMETERS, Chapter
from .views import FoldViews, beside, confusion_beside, curves_figure as _curves

PAPER = "PSN"
SCHEME = "pnso"
PROTOCOL = "stratified_kfold"

# PSN Fig. 7: the ablations as switches of melib.models.psn.PSN
ABLATIONS = {"PSN_spatial": {"branches": "spatial"}, "PSN_temporal": {"branches": "temporal"},
             "PSN_swap": {"swap_inputs": True}, "PSN_tp1": {"tp_one": True}, "AlexNet + RNN": {"cell": "rnn"},
             "PSN_no_conv": {"fusion_conv": False}}
BACKBONES = {"alexnet": "AlexNet", "vgg16": "VGG16", "resnet10": "ResNet10"}  # PSN Table 9's names
FUSIONS = ("sum", "prod", "concat")
TABLE9 = tuple((b, f) for b in BACKBONES for f in FUSIONS)
RETENTION_PAPER = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # PSN Fig. 10's bins, upper edges

PLANS = {
    "smoke": {"folds": 3, "rpca_on": RPCA_ON["smoke"], "ablations": tuple(ABLATIONS),
              "table9": tuple(t for t in TABLE9 if t[0] != "vgg16"), "retention": (0.3,)},
    "default": {"folds": 3, "rpca_on": RPCA_ON["default"], "ablations": tuple(ABLATIONS),
                "table9": (("alexnet", "sum"), ("alexnet", "prod"), ("alexnet", "concat")), "retention": ()},
    "paper": {"folds": 10, "rpca_on": RPCA_ON["paper"], "ablations": tuple(ABLATIONS), "table9": TABLE9,
              "retention": RETENTION_PAPER},
}


def setting(backbone: str, fusion: str) -> str:
    """PSN Table 9's row name as ``melib.published`` keys it: ``backbone=AlexNet; fusion=SUM``."""
    return f"backbone={BACKBONES[backbone]}; fusion={fusion.upper()}"


@dataclass
class Result(FoldViews):
    """PSN and its variants on one set of folds: ``runs`` maps a display name to its Run."""
    runs: dict[str, Run]
    kwargs: dict[str, dict]
    protocol: str
    protocol_params: dict
    provenance: str
    samples: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)

    @property
    def psn(self) -> train.Evaluation:
        return self.runs["PSN"].evaluation

    SOURCE = "PSN 3.2"

    @property
    def evaluation(self) -> train.Evaluation:
        return self.psn

    def summary(self) -> pd.DataFrame:
        """One row per model run: protocol, folds, RR (mean of folds) and std, pooled UF1 / UAR, leakage."""
        rows = []
        for name, r in self.runs.items():
            s = r.evaluation.summary()
            rows.append({"method": name, "scheme": self.scheme, "protocol": self.protocol, "n_folds": s["n_folds"],
                         "n_clips": s["n_clips"],
                         "RR (mean of folds)": s["accuracy_mean"], "RR std": s["accuracy_std"],
                         "UF1 (pooled)": s["uf1"], "UAR (pooled)": s["uar"], "leakage_mean": s["leakage_mean"],
                         "leakage_max": s["leakage_max"], "provenance": self.provenance})
        return pd.DataFrame(rows).set_index("method")


def variants(settings: dict) -> dict[str, tuple[dict, float | None]]:
    """Display name -> (PSN keyword arguments, retention ratio or None) of every run the plan asks for; runs
    equal to plain PSN (AlexNet + SUM, retention 1.0) are not repeated."""
    out: dict[str, tuple[dict, float | None]] = {"PSN": ({}, None)}
    for name in settings["ablations"]:
        out[name] = (dict(ABLATIONS[name]), None)
    for b, f in settings["table9"]:
        if (b, f) != ("alexnet", "sum"):
            out[setting(b, f)] = ({"backbone": b, "fusion": f}, None)
    for r in settings["retention"]:
        if r < 1.0:
            out[f"PSN, retain {r:.0%} of E"] = ({}, float(r))
    return out


def _record_name(name: str, kw: dict, ratio: float | None) -> str:
    parts = [f"{k}-{v}" for k, v in sorted(kw.items())] + ([f"retain-{ratio:g}"] if ratio is not None else [])
    return "psn" + ("_" + "_".join(parts) if parts else "")


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """PSN and the variants of the plan (``changes``: plan keys, e.g. ``ablations`` names of
    :data:`ABLATIONS`, ``table9`` (backbone, fusion) pairs, ``retention`` ratios), all on the same folds."""
    st = CHAPTER.settings(p, **changes)
    lab = labelled(samples, p.scheme or SCHEME)
    protocol, pp = protocol_for(p, p.protocol or PROTOCOL, lab, st)
    specs = []
    for name, (kw, ratio) in variants(st).items():
        cfg = CHAPTER.trainer(p, st, threads=1, track_test=name == "PSN")  # curves of PSN only
        specs.append(training(p, (name,), "psn", lab, protocol, pp, name=_record_name(name, kw, ratio),
                              model_params=kw, pipeline_params={"rpca_on": st["rpca_on"], "retain": ratio},
                              config=cfg))
    return specs


def run(p, samples: pd.DataFrame, *, progress: bool = False, **changes) -> Result:
    """Train PSN and the variants of :func:`plan` on the same folds."""
    specs = plan(p, samples, **changes)
    runs = execute_all(p, specs, samples, progress)
    named = {s.key[0]: Run(s.key[0], r.protocol, r.evaluation, r.samples, r.exclusions, s)
             for s, r in zip(specs, runs.values())}
    kwargs = {s.key[0]: {**{k: v for k, v in s.model_params.items() if k != "n_classes"},
                         "retain": s.pipeline_params["retain"]} for s in specs}
    first = named["PSN"]
    return Result(named, kwargs, first.protocol, dict(first.spec.protocol_params),
                  report.provenance_label(first.samples), first.samples, first.exclusions)


# ---- tables ------------------------------------------------------------------------------------------------

def _scores(ev: train.Evaluation) -> dict:
    """PSN's numbers of one run: recognition rate (mean of folds) and its std, pooled UF1 and UAR."""
    return {"accuracy": ev.mean["accuracy"], "rr_std": ev.mean["accuracy_std"], "uf1": ev.pooled["uf1"],
            "uar": ev.pooled["uar"]}


def _long(rows: list[dict], provenance: str) -> pd.DataFrame:
    return pd.DataFrame(rows).assign(provenance=provenance)


def table5(result: Result) -> pd.DataFrame:
    """PSN Table 5: recognition rate (accuracy, mean of folds) and F1 (UF1, pooled) per method."""
    s = _scores(result.psn)
    study = _long([{"method": "PSN", "metric": m, "value": s[m]} for m in ("accuracy", "uf1")], result.provenance)
    return beside(study, published.table(PAPER, "Table 5"), ["method", "metric"])


def headline(result: Result) -> pd.DataFrame:
    """PSN's headline (Table 5): recognition rate (mean of folds) and F1 (UF1, pooled), as :func:`table5`."""
    s = _scores(result.psn)
    return headline_frame(PAPER, [headline_row(PAPER, "Table 5", "PSN", result.runs["PSN"], m, s[m])
                                  for m in ("accuracy", "uf1")])


COMBINED = "combined"


def _column(dataset: str, metric: str) -> str:
    return f"{published.dataset_name(dataset) if dataset != COMBINED else COMBINED} {metric.upper()}"


def table6(result: Result) -> pd.DataFrame:
    """PSN Table 6: UAR and UF1 (pooled) on the combined set and on each dataset. ``dataset`` "combined" is
    each side's own composite (the paper's four databases; here the datasets present), ``column`` the
    paper's column heading."""
    by = result.psn.by_dataset()
    rows = [{"method": "PSN", "dataset": COMBINED if ds == "all" else ds, "metric": m, "value": float(by.loc[ds, m])}
            for ds in ["all"] + [d for d in by.index if d != "all"] for m in ("uar", "uf1")]
    study = _long(rows, result.provenance)
    pub = published.table(PAPER, "Table 6")
    pub = pub.assign(dataset=pub["dataset"].where(pub["dataset"] != pub["train"].iloc[0], COMBINED))
    out = beside(study, pub, ["method", "dataset", "metric"])
    out.insert(3, "column", [_column(d, m) for d, m in zip(out["dataset"], out["metric"])])
    return out


def table9(result: Result) -> pd.DataFrame:
    """PSN Table 9: RR mean, RR std and F1 for each backbone x fusion this study ran (AlexNet + SUM = PSN)."""
    rows = []
    for name, r in result.runs.items():
        kw = result.kwargs[name]
        if set(kw) - {"backbone", "fusion", "retain"} or kw.get("retain") is not None:
            continue
        s = _scores(r.evaluation)
        st = setting(kw.get("backbone", "alexnet"), kw.get("fusion", "sum"))
        rows += [{"setting": st, "metric": m, "value": s[m]} for m in ("accuracy", "rr_std", "uf1")]
    return beside(_long(rows, result.provenance), published.table(PAPER, "Table 9"), ["setting", "metric"])


def ablations(result: Result) -> pd.DataFrame:
    """PSN Fig. 7: recognition rate and F1 (UF1) of PSN and each ablation this study ran. The paper prints
    Fig. 7's bars only as a figure; its PSN row is Table 5's, PSN_spatial's quoted in 3.4.2 ("Fig. 7"), the
    others are 'not published'."""
    rows = []
    for name in ["PSN", *ABLATIONS]:
        if name in result.runs:
            s = _scores(result.runs[name].evaluation)
            rows += [{"method": name, "metric": m, "value": s[m]} for m in ("accuracy", "uf1")]
    pub = published.table(PAPER, "Table 5")
    pub = pd.concat([pub[(pub["method"] == "PSN") & pub["metric"].isin(["accuracy", "uf1"])],
                     published.table(PAPER, "Fig. 7")], ignore_index=True)
    return beside(_long(rows, result.provenance), pub, ["method", "metric"])


def retention(result: Result) -> pd.DataFrame:
    """PSN Fig. 10: recognition rate and F1 against the share of E's non-zero entries kept (1.0 = PSN).
    Fig. 10 is printed as a chart only, so every published cell is 'not published'."""
    rows = []
    for name, r in result.runs.items():
        kw = result.kwargs[name]
        if name == "PSN" or kw.get("retain") is not None:
            s = _scores(r.evaluation)
            ratio = 1.0 if kw.get("retain") is None else kw["retain"]
            rows += [{"retained": f"{ratio:.0%}", "metric": m, "value": s[m]} for m in ("accuracy", "uf1")]
    study = _long(rows, result.provenance).sort_values("retained", key=lambda s: s.str.rstrip("%").astype(float),
                                                   kind="stable")
    empty = pd.DataFrame(columns=["retained", "metric", "value", "provenance"])
    return beside(study, empty, ["retained", "metric"])


def confusion(result: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this study's pooled PSN confusion counts, PSN Table 7's PSN matrix); ``attrs["provenance"]`` each."""
    return confusion_beside(result.psn, published.confusion(PAPER, "Table 7", method="PSN"), result.provenance)


def confusion_figures(result: Result) -> list:
    mine, pub = confusion(result)
    return [report.confusion_figure(mine, title=f"PSN: {mine.attrs['provenance']}"),
            report.confusion_figure(pub, title=pub.attrs["provenance"])]


# ---- figures -----------------------------------------------------------------------------------------------

def ablation_figure(result: Result):
    """PSN Fig. 7 as bars: recognition rate and F1 of each variant this study ran (provenance in the title)."""
    t = ablations(result)
    t = t[t["study"].notna()]
    wide_ = t.pivot_table(index="method", columns="metric", values="study", sort=False)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(wide_))
    for i, (m, label) in enumerate((("accuracy", "recognition rate"), ("uf1", "F1 (UF1)"))):
        ax.bar(x + (i - 0.5) * 0.38, wide_[m], 0.38, label=label)
    ax.set_xticks(x, wide_.index, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"PSN Fig. 7 ablations: {result.provenance}", fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(result: Result, name: str = "PSN"):
    """Training curves (mean over folds) of one run; the test fold is monitored only (cf. PSN Fig. 9)."""
    return _curves(result.runs[name], f"{name} ({result.provenance})")


def tp_figure(p, samples: pd.DataFrame, show_real_frames: bool = False):
    """PSN Fig. 5 for one clip (``frames.example_clip``): tp = std(x_t - x_{t-1}) (Eq. 7) over the aligned grey
    clip, onset, apex and offset marked. A curve, not a frame: drawn for real clips too."""
    from ..preprocess import face, figures, temporal

    row = example_clip(samples, show_real_frames)
    frames = face.face_track(row, size=face_size(p, "psn"), gray=True)["frames"].astype(np.float64) / 255.0
    return figures.plot_temporal_perception(
        frames=frames, onset=0, apex=temporal.apex_position(row), offset=len(frames) - 1,
        title=f"{row['dataset']} {row['subject']} / {row['clip']} ({'synthetic' if row['synthetic'] else 'real'})")


TABLES = {"Table 5": table5, "Table 6": table6, "Table 9": table9, "Fig. 7": ablations, "Fig. 10": retention,
          "Table 7": confusion, "audit": Result.audit}
FIGURES = {"Fig. 5": tp_figure, "Fig. 7": ablation_figure, "Fig. 9": curves_figure, "Table 7": confusion_figures}
CHAPTER = Chapter("psn", "11_psn", PAPER, ("pnso", "megc2019"), SCHEME, PROTOCOLS, PROTOCOL, MODEL_PARAMETERS,
                  PLANS, plan, run, ("psn",), TABLES, FIGURES, headline, Result.summary,
                  learns=recipes.learns(PAPER))

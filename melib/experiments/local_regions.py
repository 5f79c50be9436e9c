"""LocalRegions' experiments (LocalRegions section 4): two-stage training inside every fold, MEGC2019 FULL three
classes (Tables 3, 10), five AU-based classes (Tables 4, 11), the region, CNN and loss ablations (Tables 5-7)
and the cross-dataset runs (Tables 12-13).

Two stages in one fit (:class:`TwoStageLocalRegions`, through the trainer's ``training_stages`` hook): stage
``cnn`` trains the six region CNNs on single frames with their region-specific labels (LocalRegions Table 1:
the clip's class, or "no_reaction" where the class does not show) and the focal loss (Eq. 5, alpha 1/2,
gamma 2: Table 7); stage ``lstm`` freezes those CNNs and trains the per-region LSTMs and the classifier
(Eqs. 6-7) on their FCL_20 features. Both stages see the same fold's training clips only; the test clips are
scored once, after stage 2. (``LocalRegionsNet.load_stage1`` does the same hand-over for CNNs trained
elsewhere; here no second ``evaluate`` call is needed.)

What each profile runs (:data:`PLANS`; the paper's grid under ``paper``):

- ``smoke``: FULL (3 classes) and 5 classes, the whole-face ablation, LOSO, 1 epoch per stage.
- ``default``: FULL and 5 classes, the whole-face ablation (Table 5's first column) and Table 13's two
  cross-dataset runs; 3 epochs per stage at batch 32, and 3 subject-disjoint folds (``group_kfold``, stratified)
  instead of LOSO (15 folds on the composite set, 10 on the 5-class set). The classic-CNN, no-nose / no-cheeks, cross-entropy and Table 12 runs are left to ``paper``.
- ``paper``: everything, LOSO, the trainer's 30 epochs per stage (LocalRegions states none).

Choices (LocalRegions is silent; the book lists them):

- Stage 1 trains the six region CNNs together (one optimiser, one loss over every region's frames); each
  region keeps its own output layer and classes. The zero frames that pad a clip to N frames (section 3.3)
  carry no label in stage 1.
- Every real frame of a clip gets the clip's region label in stage 1 (onset to offset).
- Optimiser Adam, learning rate 1e-3 (the trainer's defaults), the same for both stages; the last epoch of
  each stage is kept (no validation part is described).
- Scores are pooled over folds (MEGC2019). Tables 12-13 print "F1-score": this study puts its macro F1 (UF1)
  there.
"""
from __future__ import annotations

import pandas as pd
import torch

from .. import labels as label_schemes
from .. import models, published, report, train
from ..errors import ConfigError
from ..models.local_regions import LocalRegionsNet, region_classes, region_targets
from . import Run, headline_frame, headline_row, labelled, model_inputs
from .c3d import plan_epochs, protocol_name
from .cropnet import subject_protocol

PAPER = "LocalRegions"
MODEL = "localregions"
NAME = "localregions_2stage"
PAD_LOGIT = -1e4  # logits of classes a region does not have (stage 1 pads every region to the same width)
ALL = ("eye_left", "eye_right", "nose", "cheek_right", "cheek_left", "mouth")
ABLATIONS = {  # (table, setting printed in melib.published) -> model changes / trainer changes
    ("Table 5", "regions=whole face"): ({"regions": ("face",)}, {}),
    ("Table 5", "regions=no cheeks"): ({"regions": tuple(r for r in ALL if "cheek" not in r)}, {}),
    ("Table 5", "regions=no nose"): ({"regions": tuple(r for r in ALL if r != "nose")}, {}),
    ("Table 6", "cnn=simple CNN"): ({"cnn": "classic"}, {}),
    ("Table 7", "loss=CE"): ({}, {"loss": "ce"}),
}
FULL_SETTINGS = {"Table 5": "regions=all regions", "Table 6": "cnn=proposed",
                 "Table 7": "loss=focal (alpha=1/2, gamma=2)"}
PLANS = {
    "smoke": {"ablations": (("Table 5", "regions=whole face"),), "cross": ("Table 13",), "epochs": None,
              "batch_size": None, "max_folds": None},
    "default": {"ablations": (("Table 5", "regions=whole face"),), "cross": ("Table 13",), "epochs": 3,
                "batch_size": 32, "max_folds": 3},
    "paper": {"ablations": tuple(ABLATIONS), "cross": ("Table 12", "Table 13"), "epochs": None,
              "batch_size": None, "max_folds": None},
}
CROSS = {"Table 12": ("megc2019", "LOCALREGIONS_CROSS_MEGC"), "Table 13": ("localregions5", "LOCALREGIONS_CROSS_AU")}


def plan(p) -> dict:
    if p.profile not in PLANS:
        raise ConfigError(f"no LocalRegions plan for profile {p.profile!r}; choose one of {', '.join(PLANS)}")
    return dict(PLANS[p.profile])


# ---- the two-stage model --------------------------------------------------------------------------------

class TwoStageLocalRegions(LocalRegionsNet):
    """LocalRegionsNet whose ``training_stages`` chain stage 1 (region CNNs on frames, region labels) and
    stage 2 (LSTMs and classifier on the frozen stage-1 CNNs) inside one ``melib.train.fit``."""

    def n_stage1_classes(self) -> int:
        return max(len(region_classes(self.classes, r)) for r in self.regions)

    def _stage1_params(self, model):
        # LocalRegions 3.2: the region CNNs learn first; their output layers FCL_k(r) only exist for this stage
        self.freeze_cnn = False
        self.cnns.requires_grad_(True)
        return list(self.cnns.parameters())

    def _stage2_params(self, model):
        # LocalRegions 3.3: the CNNs are frozen, their FCL_20 outputs are the features SF of Eq. 2
        self.freeze_cnn = True
        self.cnns.requires_grad_(False)
        return [p for n, p in self.named_parameters() if not n.startswith("cnns.")]

    def stage1_logits(self, model, x) -> torch.Tensor:
        """(B, R * T, K1): every region's per-frame logits, padded to the widest region's classes."""
        xs = self._inputs(x)
        k1 = self.n_stage1_classes()
        out = []
        for r in self.regions:
            v = xs[r]
            b, t = v.shape[:2]
            logits = self.cnns[r](v.flatten(0, 1)).reshape(b, t, -1)
            if logits.shape[-1] < k1:
                pad = logits.new_full((b, t, k1 - logits.shape[-1]), PAD_LOGIT)
                logits = torch.cat([logits, pad], dim=-1)
            out.append(logits)
        return torch.cat(out, dim=1)

    def stage1_targets(self, x, y: torch.Tensor) -> torch.Tensor:
        """(B, R * T): each frame's region label (LocalRegions Table 1); -1 (ignored) on zero padding frames."""
        xs = self._inputs(x)
        out = []
        for r in self.regions:
            v = xs[r]
            t = region_targets(y, self.classes, r)[:, None].expand(-1, v.shape[1])
            real = v.flatten(2).abs().amax(dim=2) > 0
            out.append(torch.where(real, t, torch.full_like(t, -1)))
        return torch.cat(out, dim=1)

    def training_stages(self) -> list[train.Stage]:
        return [train.Stage("cnn", params=self._stage1_params, forward=self.stage1_logits,
                            target=self.stage1_targets, n_classes=self.n_stage1_classes()),
                train.Stage("lstm", params=self._stage2_params)]


def build_two_stage(profile: str = "paper", **kwargs) -> TwoStageLocalRegions:
    """:class:`TwoStageLocalRegions` with the ``localregions`` registry profile and ``kwargs`` on top."""
    params = models.profile_kwargs(MODEL, profile)
    params.update(kwargs)
    return TwoStageLocalRegions(**params)


# ---- runs -----------------------------------------------------------------------------------------------

def _classes(samples: pd.DataFrame) -> list[str]:
    scheme = samples.attrs.get("scheme")
    present = set(samples["label"])
    order = label_schemes.classes(scheme) if scheme else sorted(present)
    return [c for c in order if c in present]


def run(p, samples: pd.DataFrame, model_changes: dict | None = None, protocol: str | None = None,
        protocol_params: dict | None = None, progress: bool = False, inputs: dict | None = None,
        **config_changes) -> Run:
    """Two-stage LocalRegions on labelled ``samples`` under the chapter's protocol (or the one given);
    ``inputs``: pipeline settings (``preprocess.pipelines.local_regions_inputs``)."""
    pl = plan(p)
    if protocol is None:
        protocol, protocol_params = subject_protocol(p, samples, pl["max_folds"])
    mk = {"classes": _classes(samples), **(model_changes or {})}
    X, kept, exclusions = model_inputs(p, samples, MODEL, mk, inputs, progress=progress)
    from .. import study

    cfg = {"threads": 1, "progress": progress, **plan_epochs(p, PLANS), **config_changes}
    if pl["batch_size"] and not cfg.get("batch_size"):
        cfg["batch_size"] = pl["batch_size"]
    config = study.train_config(p, MODEL, **cfg)
    ev = train.evaluate(build_two_stage, X, kept, protocol, protocol_params=protocol_params, config=config,
                        model_params={"profile": p.model_profile, **mk}, name=NAME, progress=progress)
    return Run(NAME, protocol, ev, kept, exclusions)


def _rows(r: Run, **keys) -> pd.DataFrame:
    parts = r.evaluation.by_dataset().reset_index()
    every = published.dataset_key(*[d for d in parts["dataset"] if d != "all"])
    parts["dataset"] = parts["dataset"].replace({"all": every})
    return parts.assign(method="LocalRegions", protocol=protocol_name(r), n_folds=len(r.evaluation.records),
                        leakage_max=r.evaluation.leakage()["leakage_max"], **keys)


def _beside(rows: pd.DataFrame, pub: pd.DataFrame, on: list[str], metrics, provenance: str) -> pd.DataFrame:
    long = rows.melt(id_vars=[c for c in rows.columns if c not in metrics], value_vars=list(metrics),
                     var_name="metric", value_name="value")
    out = report.side_by_side(long[on + ["value"]], pub, on=on, provenance=provenance)
    keys = [c for c in on if c != "metric"]
    extra = rows[keys + ["protocol", "n_folds", "leakage_max"]].drop_duplicates(keys)
    return out.merge(extra, on=keys, how="left")


def full(p, samples_table: pd.DataFrame, provenance: str | None = None,
         progress: bool = False) -> tuple[pd.DataFrame, Run]:
    """MEGC2019 FULL, three classes (LocalRegions Table 10): UF1 and UAR pooled over the folds, on the whole
    set and each dataset's part. Returns (table, run)."""
    lab = labelled(samples_table, "megc2019")
    r = run(p, lab, progress=progress)
    out = _beside(_rows(r), published.table(PAPER, "Table 10"), ["method", "dataset", "metric"], ("uf1", "uar"),
                  provenance or report.provenance_label(lab))
    return out, r


def five_classes(p, samples_table: pd.DataFrame, provenance: str | None = None,
                 progress: bool = False) -> tuple[pd.DataFrame, Run]:
    """Five AU-based classes I-V on CASME II + SAMM (LocalRegions Table 11): UF1 and accuracy pooled, whole
    and per dataset. Returns (table, run)."""
    lab = labelled(samples_table, "localregions5")
    r = run(p, lab, progress=progress)
    out = _beside(_rows(r), published.table(PAPER, "Table 11"), ["method", "dataset", "metric"],
                  ("uf1", "accuracy"), provenance or report.provenance_label(lab))
    return out, r


def ablations(p, samples_table: pd.DataFrame, full_run: Run | None = None, provenance: str | None = None,
              progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Tables 5-7 on the FULL set: the plan's ablations beside the full model (``full_run``, or run here), each
    with accuracy, UAR and UF1 pooled. Returns (table, runs keyed by (table, setting))."""
    lab = labelled(samples_table, "megc2019")
    provenance = provenance or report.provenance_label(lab)
    base = full_run or run(p, lab, progress=progress)
    runs: dict = {}
    for key in plan(p)["ablations"]:
        mk, ck = ABLATIONS[key]
        runs[key] = run(p, lab, mk, progress=progress, **ck)
    tables = sorted({k[0] for k in runs} | ({"Table 5"} if runs else set()))
    for t in tables:
        runs[(t, FULL_SETTINGS[t])] = base
    rows = []
    for (t, setting), r in runs.items():
        pooled = r.evaluation.pooled
        rows.append({"table": t, "method": "LocalRegions", "setting": setting, "protocol": protocol_name(r),
                     "n_folds": len(r.evaluation.records), "leakage_max": r.evaluation.leakage()["leakage_max"],
                     "accuracy": pooled["accuracy"], "uar": pooled["uar"], "uf1": pooled["uf1"]})
    rows = pd.DataFrame(rows)
    pub = pd.concat([published.table(PAPER, t).assign(table=t) for t in tables], ignore_index=True)
    out = _beside(rows, pub, ["table", "method", "setting", "metric"], ("accuracy", "uar", "uf1"), provenance)
    return out.sort_values(["table", "setting", "metric"], kind="stable").reset_index(drop=True), runs


def cross_dataset(p, samples_table: pd.DataFrame, provenance: str | None = None,
                  progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Tables 12-13 (as the plan allows): train on some datasets, test on another, one model each; accuracy
    and macro F1 beside the published numbers, with the leakage audit (0 by construction)."""
    from .. import protocols

    rows, runs = [], {}
    pubs = []
    for t in plan(p)["cross"]:
        scheme, const = CROSS[t]
        lab = labelled(samples_table, scheme)
        provenance_t = provenance or report.provenance_label(lab)
        present = set(lab["dataset"])
        for train_sets, test_sets in getattr(protocols, const):
            if not set(train_sets + test_sets) <= present:
                continue
            r = run(p, lab, protocol="cross_dataset", protocol_params={"train": train_sets, "test": test_sets},
                    progress=progress)
            pooled = r.evaluation.pooled
            key = (t, published.dataset_key(*train_sets), published.dataset_key(*test_sets))
            runs[key] = r
            rows.append({"table": t, "method": "LocalRegions", "train": key[1], "dataset": key[2],
                         "protocol": protocol_name(r), "n_folds": 1,
                         "leakage_max": r.evaluation.leakage()["leakage_max"],
                         "accuracy": pooled["accuracy"], "f1": pooled["uf1"], "provenance": provenance_t})
        pubs.append(published.table(PAPER, t).assign(table=t))
    if not rows:
        return pd.DataFrame(), runs
    rows = pd.DataFrame(rows)
    prov = rows["provenance"].iloc[0]
    out = _beside(rows.drop(columns="provenance"), pd.concat(pubs, ignore_index=True),
                  ["table", "method", "train", "dataset", "metric"], ("accuracy", "f1"), prov)
    return out.sort_values(["table", "train", "dataset", "metric"], kind="stable").reset_index(drop=True), runs


def headline(full_run: Run, five_run: Run) -> pd.DataFrame:
    """LocalRegions' headline, pooled over folds on the whole set: UF1 and UAR on the MEGC2019 composite
    (Table 10; ``full``'s run) and UF1 and accuracy on the five classes (Table 11; ``five_classes``' run)."""
    rows = [headline_row(PAPER, table, "LocalRegions", r, m, r.evaluation.pooled[m])
            for table, r, metrics in (("Table 10", full_run, ("uf1", "uar")),
                                      ("Table 11", five_run, ("uf1", "accuracy")))
            for m in metrics]
    return headline_frame(PAPER, rows)

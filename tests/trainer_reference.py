"""Fixed small trainings whose per-epoch curves and predictions were recorded with the trainer as it was before
the device-resident loop (``tests/data/trainer_reference.json``, written by the per-batch ``.item()`` loop of
2026-12-01); ``tests/test_train.py`` checks that the trainer still gives them.

Regenerate only for an intended change of results: ``.venv/bin/python tests/trainer_reference.py``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from melib import train  # noqa: E402

PATH = Path(__file__).resolve().parent / "data" / "trainer_reference.json"
QUIET = dict(progress=False, threads=1)


def toy(n_subjects=6, per_subject=7, d=5, seed=0, shift=1.0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([{"dataset": "d", "subject": f"d/s{s}", "clip": f"s{s}c{c}", "label": c % 3}
                       for s in range(n_subjects) for c in range(per_subject)])
    y = df["label"].to_numpy()
    return df, shifted_features(y, d, shift, rng), y


def shifted_features(y, d: int, shift: float, rng) -> np.ndarray:
    """Normal features of ``d`` dimensions, dimension ``y[i]`` of clip i shifted by ``shift``."""
    X = rng.normal(size=(len(y), d)).astype(np.float32)
    X[np.arange(len(y)), y] += shift
    return X


class Mlp(nn.Module):
    def __init__(self, d=5, k=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, k))

    def forward(self, x):
        return self.net(x["a"] if isinstance(x, dict) else x)


class TwoStage(nn.Module):
    """Stage 1: an auxiliary head on per-clip targets, some ignored (-1); stage 2: the classifier head."""

    def __init__(self):
        super().__init__()
        self.enc, self.aux, self.head = nn.Linear(5, 4), nn.Linear(4, 2), nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.enc(x)))

    def target(self, x, y):
        return torch.where(y == 2, torch.full_like(y, -1), y)

    def training_stages(self):
        return [train.Stage("regions", params=lambda m: list(m.enc.parameters()) + list(m.aux.parameters()),
                            forward=lambda m, x: m.aux(torch.relu(m.enc(x))), target=self.target,
                            n_classes=2, config={"epochs": 3, "loss": "focal"}),
                train.Stage("classifier", params=lambda m: m.head.parameters(), config={"epochs": 2})]


def _fit(factory, X, y, cfg, **kw) -> dict:
    torch.manual_seed(0)
    res = train.fit(factory(), X, y, cfg, **kw)
    proba = train.predict_proba(res.model, X, batch_size=16, device="cpu")
    return {"curves": res.curves, "best_epoch": res.best_epoch, "proba": proba.round(7).tolist()}


def cases() -> dict:
    """Every case's curves, selected epochs and class probabilities."""
    df, X, y = toy()
    idx = np.arange(len(y))
    out = {
        # Adam, validation selection with early stopping, a monitored part, a lone last clip joining a batch
        "adam_val_monitor": _fit(Mlp, X, y, train.TrainConfig(epochs=8, lr=0.05, batch_size=8, val_fraction=0.2,
                                                                patience=3, **QUIET),
                                 train=idx[:25], val=idx[25:33], monitor=idx[33:]),
        # SGD with Nesterov momentum, time decay, exponential decay, the L2 penalty, balanced weights, dict inputs
        "sgd_dict": _fit(Mlp, {"a": X}, y, train.TrainConfig(epochs=5, optimizer="sgd", lr=0.1, nesterov=True,
                                                               time_decay=0.01, lr_decay=0.9, l2=1e-3,
                                                               class_weights="balanced", label_smoothing=0.1,
                                                               batch_size=6, **QUIET)),
        # two stages: focal loss on stage targets with ignored clips, then cross-entropy; select the last epoch
        "two_stage": _fit(TwoStage, X, y, train.TrainConfig(epochs=4, lr=0.05, batch_size=5, **QUIET)),
    }
    # the whole evaluation: LOSO folds, one registered model-sized network per fold
    ev = train.evaluate(Mlp, X, df, "loso", config=train.TrainConfig(epochs=3, lr=0.05, batch_size=8, **QUIET),
                        save=False, progress=False)
    out["evaluate_loso"] = {"curves": [r["curves"] for r in ev.records], "proba": ev.proba().round(6).tolist()}
    # registered networks at their CPU profile on random clips: a 3D CNN, and both LocalRegions stages
    from melib import models
    for name, k in (("c3d_model_a", 3), ("localregions_2stage", ["negative", "positive", "surprise"])):
        kw = {"classes": k} if isinstance(k, list) else {"n_classes": k}
        xs = models.example_input(models.build(name, profile="default", **kw), batch=10, seed=1)
        cfg = train.paper_config(name, epochs=2, batch_size=4, **QUIET)
        out[name] = _fit(lambda: models.build(name, profile="default", **kw), xs, np.arange(10) % 3, cfg,
                         monitor=np.arange(6, 10))
    return out


if __name__ == "__main__":
    PATH.parent.mkdir(exist_ok=True)
    tmp = PATH.with_suffix(".tmp")
    tmp.write_text(json.dumps(cases(), indent=None, sort_keys=True) + "\n")
    tmp.replace(PATH)
    print(f"wrote {PATH}")

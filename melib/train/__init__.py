"""One trainer for every torch model, and one evaluation for torch and scikit-learn models alike.

- :mod:`.config`: ``TrainConfig`` (optimiser, schedule, loss, validation and seed of a training run) and
  ``paper_config(model)``, the training a paper states for a registered model.
- :mod:`.loop`: ``fit(model, x, y, config, train=, val=, monitor=)`` and ``predict_proba(model, x)``.
- :mod:`.feed`: ``Inputs`` and ``Feed`` (a fit's inputs on its device: resident when they fit, else
  pinned batches).
- :mod:`.evaluation`: ``evaluate(model, X, samples, protocol)`` (every fold of a protocol, with run records,
  resume, parallel folds, pooled and mean-of-folds scores and the leakage audit) and ``compare``.

Combining two runs (DLHN's late fusion) is the experiments' business (``melib.experiments.common.fuse``).
"""
from __future__ import annotations

from .config import (AUTOCASTS, LOSSES, OPTIMIZERS, SELECTIONS, TrainConfig, paper_config, resolve_device,
                     seed_everything, torch_state)
from .evaluation import Evaluation, compare, evaluate, same_clips
from .loop import (Feed, FitResult, FocalLoss, Inputs, Stage, fit, inverse_frequency, make_loss, make_optimizer,
                   predict_proba)

__all__ = ["AUTOCASTS", "LOSSES", "OPTIMIZERS", "SELECTIONS", "TrainConfig", "paper_config", "resolve_device",
           "seed_everything", "torch_state", "Evaluation", "compare", "evaluate", "same_clips", "Feed", "FitResult",
           "FocalLoss", "Inputs", "Stage", "fit", "inverse_frequency", "make_loss", "make_optimizer", "predict_proba"]

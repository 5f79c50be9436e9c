"""Input normalisation fitted on a fold's training clips and carried by the trained model.

``"mean_max"`` (C3D Model-B's official code, MicroExpSTCNN): every input value minus the mean of all the
training clips' values, divided by the maximum of the result over those clips; one pair of numbers per input
key. MicroExpSTCNN computes both over its whole data set before splitting it; here only the training clips
are used, so no statistic of a test clip reaches the model. :func:`wrap` fits them and returns the model
inside :class:`Normalised`, which applies them to every input it sees (training, validation and test alike).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .errors import ConfigError, DataError

NORMS = (None, "mean_max")


class Normalised(nn.Module):
    """``model`` behind a fixed affine map of its inputs: (x - shift[key]) / scale[key]. Attributes it does not
    have (``input_spec``, ``l2_penalty`` ...) are the wrapped model's."""

    def __init__(self, model: nn.Module, shift: dict, scale: dict):
        super().__init__()
        self.model = model
        self.keys = sorted(shift)
        for k in self.keys:
            self.register_buffer(f"shift_{k}", torch.tensor(float(shift[k])))
            self.register_buffer(f"scale_{k}", torch.tensor(float(scale[k])))

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)

    def _norm(self, k: str, v: torch.Tensor) -> torch.Tensor:
        return (v - getattr(self, f"shift_{k}")) / getattr(self, f"scale_{k}")

    def forward(self, x):
        if isinstance(x, dict):
            return self.model({k: self._norm(k, v) if k in self.keys else v for k, v in x.items()})
        return self.model(self._norm("", x))


def _batches(take: Callable, idx: np.ndarray, size: int = 64):
    for i in range(0, len(idx), size):
        b = take(idx[i:i + size])
        yield b if isinstance(b, dict) else {"": b}


def mean_max(take: Callable, idx) -> tuple[dict, dict]:
    """Per input key: the mean of every value of clips ``idx`` and the maximum of (value - mean) over them."""
    idx = np.asarray(idx)
    total, count, top = {}, {}, {}
    for b in _batches(take, idx):
        for k, v in b.items():
            total[k] = total.get(k, 0.0) + float(v.double().sum())
            count[k] = count.get(k, 0) + v.numel()
    mean = {k: total[k] / count[k] for k in total}
    for b in _batches(take, idx):
        for k, v in b.items():
            top[k] = max(top.get(k, -np.inf), float(v.max()) - mean[k])
    bad = [k or "input" for k, m in top.items() if not m > 0]
    if bad:
        raise DataError(None, "training inputs above their mean somewhere (mean_max divides by that maximum)",
                        f"constant inputs {bad}")
    return mean, top


def wrap(model: nn.Module, take: Callable, idx, how: str | None) -> nn.Module:
    """``model`` itself (``how=None``) or :class:`Normalised` with statistics ``how`` of clips ``idx``
    (``take(idx)`` gives their batch: a tensor or a dict of tensors)."""
    if how not in NORMS:
        raise ConfigError(f"input_norm must be one of {NORMS}, not {how!r}")
    if how is None:
        return model
    if hasattr(model, "training_stages"):
        raise ConfigError("input_norm is not available for models with training stages")
    return Normalised(model, *mean_max(take, idx))

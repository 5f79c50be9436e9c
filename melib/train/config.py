"""Training configuration: ``TrainConfig`` (optimiser, schedule, loss, validation, seed), the configuration a
paper states for a registered model (:func:`paper_config`), and the torch runtime state of a fit (device,
seeds, deterministic algorithms, threads)."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import check_device
from ..errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamp")
LOSSES = ("ce", "focal")
SELECTIONS = ("val_loss", "val_uf1", "val_accuracy", "last")
AUTOCASTS = (None, "bf16")


@dataclass
class TrainConfig:
    """How to train one model on one fold.

    ``lr_decay`` is the per-epoch factor of an exponential schedule (DLHN 4.2.2; 1.0 = constant);
    ``time_decay`` d gives Keras' per-iteration lr / (1 + d * iteration) (C3D 6.3's "decay 1e-6").
    ``weight_decay`` is the optimiser's L2 term; ``l2`` adds ``l2 * penalty`` to the loss (DLHN Eq. 7), the
    penalty being ``model.l2_penalty()`` when the model defines it, else sum(theta^2) over trained parameters.
    ``focal_alpha``: ``"inverse_frequency"`` (LocalRegions Eq. 5: alpha_i from the training part's inverse
    class frequencies, normalised to sum 1 - the normalisation is this library's choice), a number (the same
    alpha for every class, LocalRegions Table 7 uses 1/2) or a list per class.
    ``class_weights``: None, ``"balanced"`` (n / (K * n_i) over the training part) or a list; cross-entropy only.
    ``input_norm``: None, or ``"mean_max"``: inputs minus the training part's mean, divided by its maximum
    (C3D Model-B's official code; ``melib.input_norm``), carried by the returned model.
    ``autocast="bf16"``: forward passes and losses under bfloat16 autocast (weights, gradients and the
    optimiser stay float32); CUDA only: a fit on another device refuses it. It changes results, so it is part
    of the run record's key; None (float32, the default) leaves existing keys as they were.
    ``threads`` sets torch's CPU threads during training (1 is much faster for small models on a busy
    2-core machine); ``deterministic`` asks torch for deterministic algorithms.
    ``val_fraction`` > 0 carves a validation part out of the training part (subject-disjoint where possible,
    ``protocols.validation_split``); ``select`` picks the epoch kept, ``patience`` stops early. Without a
    validation part the last epoch is kept.
    """
    epochs: int = 30
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    l2: float = 0.0
    lr_decay: float = 1.0
    time_decay: float = 0.0
    loss: str = "ce"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    focal_alpha: Any = "inverse_frequency"
    class_weights: Any = None
    input_norm: str | None = None
    val_fraction: float = 0.0
    select: str = "val_loss"
    patience: int | None = None
    track_test: bool = False
    seed: int = 0
    device: str = "auto"
    autocast: str | None = None
    deterministic: bool = True
    threads: int | None = None
    progress: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, not {value!r}")
        check_device(self.device)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.select not in SELECTIONS:
            raise ConfigError(f"unknown select {self.select!r}; choose one of {', '.join(SELECTIONS)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), not {self.val_fraction}")
        if self.patience is not None and self.val_fraction == 0:
            raise ConfigError("patience (early stopping) needs a validation part: set val_fraction > 0")
        from ..input_norm import NORMS
        if self.input_norm not in NORMS:
            raise ConfigError(f"unknown input_norm {self.input_norm!r}; choose one of {NORMS}")
        if self.autocast not in AUTOCASTS:
            raise ConfigError(f"autocast must be one of {AUTOCASTS}, not {self.autocast!r}")
        if self.autocast is not None and str(self.device).startswith("cpu"):
            raise ConfigError(f"autocast={self.autocast!r} runs on CUDA only, and device={self.device!r}: "
                              "set autocast=None (float32) or device='cuda'")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' with momentum > 0")

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict:
        """The fields that change results (what a run record's key is built from)."""
        d = dataclasses.asdict(self)
        for k in ("device", "threads", "progress"):
            d.pop(k)
        for k in ("input_norm", "autocast"):  # added later: records made without them keep their keys
            if d[k] is None:
                d.pop(k)
        return d


_LOSS_NAMES = {"cross_entropy": "ce", "label_smoothing_cross_entropy": "ce", "ce": "ce", "focal": "focal"}


def paper_config(model: str, **changes) -> TrainConfig:
    """The TrainConfig of the training a paper states for registered model ``model``
    (``melib.models.paper_training``), with ``changes`` on top; what the paper leaves out keeps the default.

    Translations: ``lr_schedule="exponential"`` with ``lr_gamma`` -> ``lr_decay``; C3D's Keras ``lr_decay``
    (time-based, lr / (1 + d * iteration)) -> ``time_decay``; ``l2_weight`` -> ``l2``.
    """
    from .. import models
    t = models.paper_training(model)
    kw: dict[str, Any] = {k: t[k] for k in ("optimizer", "lr", "momentum", "nesterov", "batch_size", "epochs",
                                            "label_smoothing", "focal_alpha", "focal_gamma", "weight_decay",
                                            "input_norm") if k in t}
    if "loss" in t:
        if t["loss"] not in _LOSS_NAMES:
            raise ConfigError(f"model {model!r} states loss {t['loss']!r}, which the trainer does not know")
        kw["loss"] = _LOSS_NAMES[t["loss"]]
    if t.get("lr_schedule") == "exponential":
        kw["lr_decay"] = t.get("lr_gamma", 1.0)
    if "lr_decay" in t:
        kw["time_decay"] = t["lr_decay"]
    if "l2_weight" in t:
        kw["l2"] = t["l2_weight"]
    if kw.get("optimizer") == "sgd" and "momentum" not in t:
        kw["momentum"] = 0.0
    return TrainConfig(**{**kw, **changes})


def resolve_device(device: str = "auto") -> torch.device:
    """CUDA when present (``"auto"``), else CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def seed_everything(seed: int) -> None:
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def torch_state(deterministic: bool, threads: int | None):
    """Deterministic algorithms (and cuDNN), a thread count and denormals flushed to zero on the CPU for the
    duration of a fit, then restored. Without the flush, weights and optimiser moments that decay towards zero
    (DLHN's decaying lr, an output stuck at the class prior) reach subnormal floats, and each CPU step
    becomes tens of times slower (``benches/bench_denormal.py``); values below 1.2e-38 become 0. The mode is
    the calling thread's, which is every thread of a fit at ``threads=1`` (the chapters'); torch's worker
    threads keep the mode of the thread that created them."""
    if deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    prev = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark, torch.get_num_threads())
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)  # torch's default; it offers no way to read the current mode
        torch.use_deterministic_algorithms(prev[0], warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[1], prev[2]
        torch.set_num_threads(prev[3])


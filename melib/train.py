"""One trainer for every torch model, and one evaluation for torch and scikit-learn models alike.

- ``TrainConfig``: optimiser, schedule, loss, validation and seed of a training run.
- ``fit(model, x, y, config, train=, val=, monitor=)``: the loop (tqdm over epochs, curves per epoch,
  model selection and early stopping on the validation part only; ``monitor`` clips are scored per epoch
  for curves such as C3D Fig. 4 / DLHN Fig. 8 and never used for any decision).
- ``predict_proba(model, x)``: per-clip class probabilities (fusion happens outside: ``fuse``).
- ``evaluate(model, X, samples, protocol)``: every fold of a protocol, with run records, resume,
  parallel folds, pooled and mean-of-folds scores and the leakage audit.

Inputs ``x``/``X`` are aligned with the samples rows: a tensor or array (N, ...), a dict of those
(batch first), or a ``torch.utils.data.Dataset`` whose item ``i`` is clip ``i``'s input.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import metrics, parallel, protocols, records
from .errors import ConfigError, DataError

OPTIMIZERS = ("sgd", "adam", "adamp")
LOSSES = ("ce", "focal")
SELECTIONS = ("val_loss", "val_uf1", "val_accuracy", "last")


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
    deterministic: bool = True
    threads: int | None = None
    progress: bool = True

    def __post_init__(self):
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
        from .input_norm import NORMS
        if self.input_norm not in NORMS:
            raise ConfigError(f"unknown input_norm {self.input_norm!r}; choose one of {NORMS}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' with momentum > 0")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict:
        """The fields that change results (what a run record's key is built from)."""
        d = dataclasses.asdict(self)
        for k in ("device", "threads", "progress"):
            d.pop(k)
        if d["input_norm"] is None:  # added later: records made without it keep their keys
            d.pop("input_norm")
        return d


_LOSS_NAMES = {"cross_entropy": "ce", "label_smoothing_cross_entropy": "ce", "ce": "ce", "focal": "focal"}


def paper_config(model: str, **changes) -> TrainConfig:
    """The TrainConfig of the training a paper states for registered model ``model``
    (``melib.models.paper_training``), with ``changes`` on top; what the paper leaves out keeps the default.

    Translations: ``lr_schedule="exponential"`` with ``lr_gamma`` -> ``lr_decay``; C3D's Keras ``lr_decay``
    (time-based, lr / (1 + d * iteration)) -> ``time_decay``; ``l2_weight`` -> ``l2``.
    """
    from . import models
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


@dataclass
class Stage:
    """One stage of a multi-stage training (LocalRegions: per-region CNNs, then the LSTMs and classifier).

    ``params(model)``: the parameters this stage optimises (default all); ``forward(model, x)``: the logits
    this stage's loss sees (default ``model(x)``; may be (B, R, K) with targets (B, R)); ``target(x, y)``:
    the targets (default the clip labels; negative targets are ignored); ``n_classes``: the number of target
    classes when it differs from the clip classes (for focal alpha, class weights and scores);
    ``config``: TrainConfig changes.
    A model may define ``training_stages() -> list[Stage]``; ``fit`` then runs them in order.
    """
    name: str
    params: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None
    forward: Callable[[nn.Module, Any], torch.Tensor] | None = None
    target: Callable[[Any, torch.Tensor], torch.Tensor] | None = None
    n_classes: int | None = None
    config: dict = field(default_factory=dict)


@dataclass
class FitResult:
    model: nn.Module
    curves: dict[str, dict[str, list[float]]]
    best_epoch: dict[str, int]
    device: str


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
def _torch_state(deterministic: bool, threads: int | None):
    """Deterministic algorithms (and cuDNN) and a thread count for the duration of a fit, then restored."""
    if deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    prev = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark, torch.get_num_threads())
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[1], prev[2]
        torch.set_num_threads(prev[3])


# --------------------------------------------------------------------------------------------- inputs

class Inputs:
    """Clip inputs aligned with the samples rows; ``take(idx)`` gives a batch (tensor or dict of tensors)."""

    def __init__(self, x):
        if isinstance(x, Inputs):
            self.kind, self.x = x.kind, x.x
        elif isinstance(x, dict):
            self.kind, self.x = "dict", {k: _tensor(v) for k, v in x.items()}
            sizes = {k: len(v) for k, v in self.x.items()}
            if len(set(sizes.values())) != 1:
                raise DataError(None, "inputs of one length (one row per clip)", f"lengths {sizes}")
        elif isinstance(x, (torch.Tensor, np.ndarray)):
            self.kind, self.x = "tensor", _tensor(x)
        elif hasattr(x, "__getitem__") and hasattr(x, "__len__"):
            self.kind, self.x = "dataset", x
        else:
            raise DataError(None, "inputs as a tensor/array, a dict of them or a torch Dataset", type(x).__name__)

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) if self.kind == "dict" else len(self.x)

    def take(self, idx: np.ndarray):
        if self.kind == "tensor":
            return self.x[torch.as_tensor(idx)]
        if self.kind == "dict":
            t = torch.as_tensor(idx)
            return {k: v[t] for k, v in self.x.items()}
        from torch.utils.data import default_collate
        return default_collate([self.x[int(i)] for i in idx])

    def fingerprint(self) -> str | None:
        """A content hash of in-memory inputs (None for a Dataset)."""
        if self.kind == "dataset":
            return None
        h = hashlib.blake2b(digest_size=12)
        for k, v in (sorted(self.x.items()) if self.kind == "dict" else [("", self.x)]):
            a = v.detach().cpu().contiguous().numpy()
            h.update(f"{k}|{a.dtype}|{a.shape}|".encode())
            h.update(a.tobytes())
        return h.hexdigest()


def _tensor(v) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)
    return t.float() if t.is_floating_point() else t


def _to(batch, device):
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return batch.to(device)


def _batches(idx: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of ``idx`` (shuffled when ``rng``); a last batch of one clip joins the one before
    (batch normalisation cannot train on one clip)."""
    if rng is not None:
        idx = idx[rng.permutation(len(idx))]
    out = [idx[i:i + size] for i in range(0, len(idx), size)]
    if len(out) > 1 and len(out[-1]) == 1:
        last = out.pop()
        out[-1] = np.concatenate([out[-1], last])
    return out


# --------------------------------------------------------------------------------------------- losses

class FocalLoss(nn.Module):
    """FL(p, y) = -sum_i alpha_i y_i (1 - p_i)^gamma log p_i  (LocalRegions Eq. 5); mean over clips.

    Targets below 0 are ignored. ``alpha`` None weighs every class 1.
    """

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", alpha)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        keep = target >= 0
        logits, target = logits[keep], target[keep]
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        w = (1 - logp.exp()).pow(self.gamma)
        if self.alpha is not None:
            w = w * self.alpha[target]
        return -(w * logp).mean() if len(target) else logits.sum() * 0


def inverse_frequency(y: np.ndarray, n_classes: int) -> np.ndarray:
    """alpha_i proportional to 1 / n_i over the classes present, normalised to sum 1 (LocalRegions Eq. 5)."""
    counts = np.bincount(np.asarray(y)[np.asarray(y) >= 0], minlength=n_classes).astype(float)
    inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return inv / inv.sum()


def make_loss(cfg: TrainConfig, y_train: np.ndarray, n_classes: int) -> nn.Module:
    if cfg.loss == "focal":
        a = cfg.focal_alpha
        if a is None:
            alpha = None
        elif isinstance(a, str):
            if a != "inverse_frequency":
                raise ConfigError(f"focal_alpha {a!r}: use 'inverse_frequency', a number, a list or None")
            alpha = inverse_frequency(y_train, n_classes)
        else:
            alpha = np.broadcast_to(np.asarray(a, dtype=float), (n_classes,))
        return FocalLoss(cfg.focal_gamma, None if alpha is None else torch.tensor(alpha, dtype=torch.float32))
    w = cfg.class_weights
    if isinstance(w, str):
        if w != "balanced":
            raise ConfigError(f"class_weights {w!r}: use 'balanced', a list or None")
        counts = np.bincount(np.asarray(y_train)[np.asarray(y_train) >= 0], minlength=n_classes).astype(float)
        w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    weight = None if w is None else torch.tensor(np.asarray(w, dtype=float), dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing, ignore_index=-100)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    from adamp import AdamP
    return AdamP(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


# --------------------------------------------------------------------------------------------- the loop

def _flat(logits: torch.Tensor, target: torch.Tensor):
    if logits.dim() > 2:
        logits, target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
    target = torch.where(target < 0, torch.full_like(target, -100), target)
    return logits, target


def _score_pass(model, stage, inputs, y, idx, cfg, loss_fn, device, n_classes) -> dict:
    """Loss, accuracy and UF1 of ``model`` on clips ``idx`` (no gradient)."""
    model.eval()
    fwd = stage.forward or (lambda m, x: m(x))
    tot, n, pred, true = 0.0, 0, [], []
    with torch.no_grad():
        for b in _batches(idx, cfg.batch_size, None):
            xb = _to(inputs.take(b), device)
            yb = torch.as_tensor(y[b], device=device)
            t = stage.target(xb, yb) if stage.target else yb
            logits, t = _flat(fwd(model, xb), t)
            keep = t >= 0
            if keep.any():
                tot += float(loss_fn(logits, t)) * int(keep.sum())
                n += int(keep.sum())
                pred.append(logits[keep].argmax(1).cpu().numpy())
                true.append(t[keep].cpu().numpy())
    if not n:
        return {"loss": float("nan"), "accuracy": float("nan"), "uf1": float("nan")}
    s = metrics.scores(np.concatenate(true), np.concatenate(pred), list(range(n_classes)))
    return {"loss": tot / n, "accuracy": s["accuracy"], "uf1": s["uf1"]}


def _stage_targets(stage, inputs, y, idx, cfg) -> np.ndarray:
    if stage.target is None:
        return np.asarray(y)[idx]
    out = []
    for b in _batches(idx, cfg.batch_size, None):
        out.append(stage.target(inputs.take(b), torch.as_tensor(y[b])).reshape(-1).numpy())
    return np.concatenate(out)


def fit(model: nn.Module, x, y: Sequence[int], config: TrainConfig | None = None, *, train=None, val=None,
        monitor=None, stages: Sequence[Stage] | None = None, n_classes: int | None = None,
        desc: str = "train") -> FitResult:
    """Train ``model`` on clips ``train`` (default all) of ``x`` with integer labels ``y``.

    ``val``: clips for model selection/early stopping (from the training folds only). ``monitor``: clips
    scored each epoch for curves only (``test_*``), never for selection. Returns the model with the selected
    epoch's weights, per-epoch curves per stage (``train_loss, train_accuracy, lr`` and ``val_*``/``test_*``)
    and the selected epoch.
    """
    cfg = config or TrainConfig()
    inputs = Inputs(x)
    y = np.asarray(y, dtype=np.int64)
    if len(y) != len(inputs):
        raise DataError(None, "one label per input row", f"{len(y)} labels for {len(inputs)} rows")
    train = np.arange(len(y)) if train is None else np.asarray(train)
    n_classes = n_classes or int(y.max()) + 1
    device = resolve_device(cfg.device)
    if cfg.input_norm:
        from .input_norm import wrap
        model = wrap(model, inputs.take, train, cfg.input_norm)
    stages = list(stages or (model.training_stages() if hasattr(model, "training_stages") else [Stage("main")]))
    model.to(device)
    curves, best_epoch = {}, {}
    with _torch_state(cfg.deterministic, cfg.threads):
        for si, stage in enumerate(stages):
            scfg = cfg.replace(**stage.config) if stage.config else cfg
            seed_everything(scfg.seed + si)
            rng = np.random.default_rng(scfg.seed + si)
            fwd = stage.forward or (lambda m, xb: m(xb))
            params = list(stage.params(model)) if stage.params else list(model.parameters())
            k_stage = stage.n_classes or n_classes
            loss_fn = make_loss(scfg, _stage_targets(stage, inputs, y, train, scfg), k_stage).to(device)
            opt = make_optimizer(scfg, params)
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, scfg.lr_decay) if scfg.lr_decay != 1 else None
            it_sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1 / (1 + scfg.time_decay * it))
                        if scfg.time_decay else None)
            c: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "lr": []}
            best, best_state, bad = None, None, 0
            bar = tqdm(range(scfg.epochs), desc=f"{desc} {stage.name}".strip(), leave=False,
                       disable=not scfg.progress)
            for epoch in bar:
                model.train()
                tot, n, correct = 0.0, 0, 0
                c["lr"].append(opt.param_groups[0]["lr"])
                for b in _batches(train, scfg.batch_size, rng):
                    xb = _to(inputs.take(b), device)
                    yb = torch.as_tensor(y[b], device=device)
                    t = stage.target(xb, yb) if stage.target else yb
                    logits, t = _flat(fwd(model, xb), t)
                    loss = loss_fn(logits, t)
                    if scfg.l2:  # DLHN Eq. 7
                        penalty = (model.l2_penalty() if hasattr(model, "l2_penalty")
                                   else sum(p.pow(2).sum() for p in params))
                        loss = loss + scfg.l2 * penalty
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if it_sched:
                        it_sched.step()
                    keep = t >= 0
                    k = int(keep.sum())
                    tot += float(loss.detach()) * k
                    n += k
                    correct += int((logits.detach()[keep].argmax(1) == t[keep]).sum())
                c["train_loss"].append(tot / max(n, 1))
                c["train_accuracy"].append(correct / max(n, 1))
                if sched:
                    sched.step()
                for part, idx in (("val", val), ("test", monitor)):
                    if idx is not None and len(idx):
                        for k, v in _score_pass(model, stage, inputs, y, np.asarray(idx), scfg, loss_fn,
                                                device, k_stage).items():
                            c.setdefault(f"{part}_{k}", []).append(v)
                bar.set_postfix(loss=f"{c['train_loss'][-1]:.3f}")
                if val is not None and len(val) and scfg.select != "last":
                    key = scfg.select[4:]
                    score = -c["val_loss"][-1] if key == "loss" else c[f"val_{key}"][-1]
                    if best is None or score > best:
                        best, bad, best_epoch[stage.name] = score, 0, epoch
                        best_state = copy.deepcopy(model.state_dict())
                    else:
                        bad += 1
                        if scfg.patience is not None and bad >= scfg.patience:
                            break
            if best_state is not None:
                model.load_state_dict(best_state)
            else:
                best_epoch[stage.name] = len(c["train_loss"]) - 1
            curves[stage.name] = c
    return FitResult(model, curves, best_epoch, str(device))


def predict_proba(model: nn.Module, x, idx=None, batch_size: int = 64, device: str | torch.device = "auto"):
    """Softmax class probabilities (n, K) of clips ``idx`` (default all) of ``x``."""
    inputs = Inputs(x)
    idx = np.arange(len(inputs)) if idx is None else np.asarray(idx)
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    out = []
    with torch.no_grad():
        for b in _batches(idx, batch_size, None):
            out.append(torch.softmax(model(_to(inputs.take(b), device)).float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


# --------------------------------------------------------------------------------------------- evaluation

def _is_sklearn(model) -> bool:
    return all(hasattr(model, a) for a in ("fit", "predict", "get_params"))


def _model_spec(model, name: str | None, model_params: dict | None) -> tuple[str, str, dict]:
    """(kind, name, recorded parameters) of a model given as a melib.models name, an estimator or a factory."""
    params = dict(model_params or {})
    if isinstance(model, str):
        return "torch", name or model, params
    if _is_sklearn(model):
        if params:
            raise ConfigError("model_params= is for torch model factories; set estimator parameters on the "
                              "estimator itself")
        return "sklearn", name or type(model).__name__, model.get_params(deep=False)
    if callable(model):
        if isinstance(model, functools.partial):
            params = {**{f"arg{i}": a for i, a in enumerate(model.args)}, **model.keywords, **params}
            model = model.func
        qual = getattr(model, "__qualname__", "")
        if name is None and ("<lambda>" in qual or "<locals>" in qual or not qual):
            raise ConfigError("give name= for a lambda or local model factory: the run records are keyed by it")
        return "torch", name or f"{getattr(model, '__module__', '')}.{qual}".strip("."), params
    raise ConfigError(f"model must be a melib.models name, a scikit-learn estimator or a factory returning a "
                      f"torch module, not {type(model).__name__}")


def _build(model, model_params: dict) -> nn.Module:
    if isinstance(model, str):
        from . import models
        return models.build(model, **model_params)
    return model(**model_params)


def _run_fold(task: dict, *, X, table: pd.DataFrame) -> dict:
    """Train and test one fold; returns its run record (written by the caller)."""
    t0 = time.time()
    labels = task["labels"]
    codes = table["code"].to_numpy()
    train, test = np.asarray(task["train"]), np.asarray(task["test"])
    info: dict[str, Any] = {}
    if task["kind"] == "sklearn":
        from sklearn.base import clone
        est = clone(task["model"])
        Xa = np.asarray(X)
        est.fit(Xa[train], codes[train])
        pred = np.asarray(est.predict(Xa[test]), dtype=int)
        proba = None
        if hasattr(est, "predict_proba"):
            proba = np.zeros((len(test), len(labels)))
            proba[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(Xa[test])
        curves, device = {}, "cpu"
    else:
        cfg = TrainConfig(**task["config"], **task["runtime"])
        fit_idx, val_idx, vkind = train, None, None
        if cfg.val_fraction > 0:
            fit_idx, val_idx, vkind = protocols.validation_split(table, train, cfg.val_fraction, cfg.seed)
        seed_everything(cfg.seed)
        net = _build(task["model"], task["build_params"])
        res = fit(net, X, codes, cfg, train=fit_idx, val=val_idx, monitor=test if cfg.track_test else None,
                  n_classes=len(labels), desc=f"{task['name']} {task['fold_name']}")
        with _torch_state(cfg.deterministic, cfg.threads):
            proba = predict_proba(res.model, X, test, batch_size=max(cfg.batch_size, 64), device=res.device)
        pred = proba.argmax(1)
        curves, device = res.curves, res.device
        info = {"best_epoch": res.best_epoch, "validation": vkind,
                "n_val": 0 if val_idx is None else int(len(val_idx))}
    lab = np.asarray(labels, dtype=object)
    y_true, y_pred = lab[codes[test]], lab[pred]
    rows = table.iloc[test]
    predictions = [{"clip": c, "dataset": d, "subject": s, "y_true": t, "y_pred": p,
                    **({"proba": [round(float(v), 6) for v in proba[i]]} if proba is not None else {})}
                   for i, (c, d, s, t, p) in enumerate(zip(rows["clip"], rows["dataset"], rows["subject"],
                                                            y_true, y_pred))]
    return {
        "run": task["run"], "model": task["name"], "kind": task["kind"], "model_params": task["params"],
        "train_config": task["config"], "protocol": task["protocol"], "protocol_params": task["protocol_params"],
        "scheme": task.get("scheme"),
        "labels": labels, "fold": task["fold"], "fold_name": task["fold_name"], "n_folds": task["n_folds"],
        "seed": task["config"].get("seed"), "data": task["data"], **records.provenance(),
        "audit": task["audit"], "metrics": metrics.scores(y_true.tolist(), y_pred.tolist(), labels),
        "predictions": predictions, "curves": curves, **info,
        "wall_s": round(time.time() - t0, 3), "device": device,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Evaluation:
    """The fold records of one run, with the two aggregations, the audit and per-dataset breakdowns."""
    records: list[dict]
    labels: list
    run: str | None = None
    paths: list[Path] = field(default_factory=list)

    def predictions(self) -> pd.DataFrame:
        """One row per test clip and fold: fold, fold_name, clip, dataset, subject, y_true, y_pred, p_<class>."""
        rows = []
        for r in self.records:
            for p in r["predictions"]:
                row = {"fold": r["fold"], "fold_name": r["fold_name"],
                       **{k: v for k, v in p.items() if k != "proba"}}
                if "proba" in p:
                    row.update({f"p_{c}": v for c, v in zip(self.labels, p["proba"])})
                rows.append(row)
        return pd.DataFrame(rows)

    def proba(self) -> np.ndarray:
        return np.array([p["proba"] for r in self.records for p in r["predictions"]])

    @property
    def pooled(self) -> dict:
        """Scores over all folds' predictions pooled (MEGC2019 rule)."""
        return metrics.pooled([[p["y_true"] for p in r["predictions"]] for r in self.records],
                              [[p["y_pred"] for p in r["predictions"]] for r in self.records], self.labels)

    @property
    def mean(self) -> dict:
        """Mean and std of per-fold scores (DLHN Eqs. 10-11)."""
        return metrics.mean_of_folds([r["metrics"] for r in self.records])

    def folds(self) -> pd.DataFrame:
        return pd.DataFrame([{"fold": r["fold"], "fold_name": r["fold_name"], **r["audit"],
                              **{m: r["metrics"][m] for m in metrics.METRICS}} for r in self.records])

    def leakage(self) -> dict:
        """Share of test clips whose subject is also in training: mean and max over folds."""
        v = np.array([r["audit"]["leakage"] for r in self.records])
        return {"leakage_mean": float(v.mean()), "leakage_max": float(v.max())}

    def by_dataset(self) -> pd.DataFrame:
        """Pooled scores per dataset inside a composite run (PSN Table 6, CropNet Table 3)."""
        return metrics.by_group(self.predictions(), self.labels, "dataset")

    def ci(self, metric: str = "uf1", n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
        """Bootstrap confidence interval of a pooled metric over the test clips (``metrics.bootstrap_ci``)."""
        p = self.predictions()
        return metrics.bootstrap_ci(p["y_true"], p["y_pred"], self.labels, metric, n_boot, level, seed)

    def summary(self) -> dict:
        """Pooled and mean-of-folds scores with the leakage audit beside them."""
        p, m = self.pooled, self.mean
        return {"n_folds": len(self.records), "n_clips": p["n"],
                **{m_: p[m_] for m_ in metrics.METRICS},
                **{f"{k}_mean": m[k] for k in metrics.METRICS}, **{f"{k}_std": m[f"{k}_std"] for k in metrics.METRICS},
                **self.leakage()}


def evaluate(model, X, samples: pd.DataFrame, protocol: str, *, protocol_params: dict | None = None,
             config: TrainConfig | None = None, labels: Sequence | None = None, name: str | None = None,
             model_params: dict | None = None, n_jobs: int = 1, backend: str = "local", address: Any = None,
             root: str | Path | None = None, save: bool = True, resume: bool = True, data_tag: str | None = None,
             progress: bool = True) -> Evaluation:
    """Run ``model`` under ``protocol`` on inputs ``X`` (row i = ``samples.iloc[i]``, which has ``label``).

    ``model``: a scikit-learn estimator (cloned per fold; ``X`` is (n, d)), a ``melib.models`` name built with
    ``model_params``, or a factory ``model(**model_params) -> torch.nn.Module`` trained by ``fit`` with
    ``config``. ``labels`` fixes the class order (default: the order of the label scheme named in
    ``samples.attrs["scheme"]``, else sorted labels) and so the model's output index of each class. Each fold's record goes to
    ``<root or runs_dir()>/<name>/<run key>/foldNNN.json``; with ``resume`` an existing record is read, not
    recomputed. Folds run serially (``n_jobs=1``), in a process pool, or on Dask
    (``backend="dask", address=...``): see ``melib.parallel``.
    """
    protocol_params = dict(protocol_params or {})
    kind, mname, params = _model_spec(model, name, model_params)
    fs = protocols.folds(samples, protocol, **protocol_params)
    pool = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in fs]))
    present = pd.unique(samples["label"].to_numpy()[pool])
    scheme = samples.attrs.get("scheme")
    if labels is None and scheme:
        from . import labels as label_schemes
        order = label_schemes.classes(scheme)
        labels = [c for c in order if c in set(present)] + sorted(set(present) - set(order), key=str)
    classes = list(labels) if labels is not None else sorted(present, key=str)
    missing = set(present) - set(classes)
    if missing:
        raise DataError(None, f"labels among {classes}", f"{sorted(map(str, missing))}; add them to labels=")
    inputs = Inputs(X) if kind == "torch" else None
    n_rows = len(inputs) if inputs is not None else len(X)
    if n_rows != len(samples):
        raise DataError(None, "one input row per samples row", f"{n_rows} inputs for {len(samples)} samples")
    if kind == "sklearn" and np.asarray(X).ndim != 2:
        raise DataError(None, "features X of shape (n_clips, n_features) for a scikit-learn model",
                        f"shape {np.asarray(X).shape}")
    table = samples[["dataset", "subject", "clip", "label"]].reset_index(drop=True).copy()
    code_of = {c: i for i, c in enumerate(classes)}
    table["code"] = [code_of.get(v, -1) if not pd.isna(v) else -1 for v in table["label"]]
    cfg = config or TrainConfig()
    data = data_tag or (inputs.fingerprint() if inputs is not None else Inputs(np.asarray(X)).fingerprint())
    if data is None and save:
        raise ConfigError("inputs given as a Dataset cannot be fingerprinted: pass data_tag= naming them "
                          "(it keys the run records)")
    clips = records.key({"rows": table.iloc[pool][["dataset", "clip", "label"]].astype(str).values.tolist()})
    spec = {"model": mname, "kind": kind, "params": params, "protocol": protocol, "scheme": scheme,
            "protocol_params": protocol_params, "labels": classes, "data": data, "clips": clips,
            "config": cfg.identity() if kind == "torch" else None}
    run = records.key(spec)
    root = Path(root) if root else None
    paths = [records.path(mname, run, f.index, root) for f in fs]
    done: dict[int, dict] = {}
    if resume:
        done = {f.index: records.read(p) for f, p in zip(fs, paths) if p.exists()}
    runtime = {"device": cfg.device, "threads": cfg.threads, "progress": cfg.progress and n_jobs == 1
               and backend == "local" and progress}
    tasks = [{"run": run, "name": mname, "kind": kind, "model": model,
              "build_params": dict(model_params or {}), "params": params,
              "config": cfg.identity() if kind == "torch" else {},
              "runtime": runtime, "protocol": protocol, "scheme": scheme, "protocol_params": protocol_params, "labels": classes,
              "data": data, "fold": f.index, "fold_name": f.name, "n_folds": len(fs), "train": f.train,
              "test": f.test, "audit": f.audit} for f in fs if f.index not in done]

    def keep(i: int, rec: dict) -> None:
        if save:
            records.write(rec, paths[tasks[i]["fold"]])
        done[tasks[i]["fold"]] = rec

    parallel.run_all(_run_fold, tasks, shared={"X": X, "table": table}, n_jobs=n_jobs, backend=backend,
                     address=address, progress=progress, desc=f"{mname} {protocol}", on_result=keep)
    return Evaluation([done[f.index] for f in fs], classes, run, paths if save else [])


def _same_clips(a: Evaluation, b: Evaluation) -> None:
    if a.labels != b.labels or len(a.records) != len(b.records):
        raise DataError(None, "two runs with the same classes and folds", f"{a.labels}/{len(a.records)} folds "
                        f"vs {b.labels}/{len(b.records)} folds")
    for ra, rb in zip(a.records, b.records):
        if [(p["dataset"], p["clip"]) for p in ra["predictions"]] != [(p["dataset"], p["clip"]) for p in rb["predictions"]]:
            raise DataError(None, "the same test clips in each fold of both runs",
                            f"fold {ra['fold_name']!r} differs; run both under one protocol and seed")


def compare(a: Evaluation, b: Evaluation, metric: str = "uf1", n_boot: int = 1000, seed: int = 0,
            by_subject: bool = True) -> dict:
    """Paired comparison of two methods on the same folds: metric(A) - metric(B) over pooled clips.

    ``bootstrap``: paired bootstrap (``metrics.paired_bootstrap``), resampling whole subjects when
    ``by_subject`` (clips of one subject are not independent); ``mcnemar``: exact McNemar on clip
    correctness; ``wilcoxon``: signed-rank test of per-fold scores (needs several folds).
    """
    _same_clips(a, b)
    pa, pb = a.predictions(), b.predictions()
    out = {"metric": metric,
           "bootstrap": metrics.paired_bootstrap(pa["y_true"], pa["y_pred"], pb["y_pred"], a.labels, metric, n_boot,
                                                 seed=seed, groups=pa["subject"] if by_subject else None),
           "mcnemar": metrics.mcnemar(pa["y_true"], pa["y_pred"], pb["y_pred"])}
    if len(a.records) > 1:
        out["wilcoxon"] = metrics.wilcoxon_folds([r["metrics"][metric] for r in a.records],
                                                 [r["metrics"][metric] for r in b.records])
    return out


def fuse(a: Evaluation, b: Evaluation, weight: float = 0.45, name: str | None = None) -> Evaluation:
    """Late fusion of two runs on the same folds: O = a P_a + (1 - a) P_b, then argmax (DLHN Eq. 8, a = 0.45).

    Both runs must have per-clip probabilities for the same clips in the same folds (e.g. HCRNN and RPRNN).
    """
    from .models.dlhn import fuse as dlhn_fuse

    _same_clips(a, b)
    out = []
    lab = np.asarray(a.labels, dtype=object)
    for ra, rb in zip(a.records, b.records):
        if not all("proba" in p for p in ra["predictions"] + rb["predictions"]):
            raise DataError(None, "per-clip probabilities in both runs", "a run without them (an estimator "
                            "without predict_proba)")
        pa = np.array([p["proba"] for p in ra["predictions"]])
        pb = np.array([p["proba"] for p in rb["predictions"]])
        fused = dlhn_fuse(pa, pb, weight)
        preds = [{**p, "y_pred": lab[k], "proba": [float(v) for v in row]}
                 for p, k, row in zip(ra["predictions"], fused.argmax(1), fused)]
        rec = {**ra, "model": name or f"fuse({ra['model']},{rb['model']},{weight})", "run": None,
               "predictions": preds, "curves": {}, "fused": [ra["run"], rb["run"], weight],
               "metrics": metrics.scores([p["y_true"] for p in preds], [p["y_pred"] for p in preds], a.labels)}
        out.append(rec)
    return Evaluation(out, list(a.labels), None)

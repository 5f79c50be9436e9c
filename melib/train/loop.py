"""The training loop: ``fit(model, x, y, config, train=, val=, monitor=)`` (tqdm over epochs, curves per
epoch, model selection and early stopping on the validation part only; ``monitor`` clips are scored per epoch
for curves such as C3D Fig. 4 / DLHN Fig. 8 and never used for any decision), its inputs, losses and
optimisers, and ``predict_proba``. Multi-stage models declare ``training_stages() -> list[Stage]``.

Inputs ``x`` are aligned with the labels: a tensor or array (N, ...), a dict of those (batch first), or a
``torch.utils.data.Dataset`` whose item ``i`` is clip ``i``'s input.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import metrics
from ..errors import ConfigError, DataError
from ..models._registry import Stage
from .config import TrainConfig, resolve_device, seed_everything, torch_state
from .feed import Feed, Inputs, batches

__all__ = ["FitResult", "Inputs", "Feed", "FocalLoss", "Stage", "fit", "predict_proba", "make_loss", "make_optimizer",
           "inverse_frequency"]


@dataclass
class FitResult:
    model: nn.Module
    curves: dict[str, dict[str, list[float]]]
    best_epoch: dict[str, int]
    device: str


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


def _autocast(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA when ``cfg.autocast`` asks for it (refused elsewhere: :func:`fit`)."""
    if cfg.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class _Sums:
    """Loss (float64), kept targets and correct predictions summed on the device: read once an epoch."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.n = torch.zeros((), dtype=torch.int64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)

    def add(self, loss: torch.Tensor, logits: torch.Tensor, t: torch.Tensor) -> None:
        keep = t >= 0
        k = keep.sum()
        self.loss += loss.detach().double() * k
        self.n += k
        self.correct += ((logits.detach().argmax(1) == t) & keep).sum()

    def read(self) -> tuple[float, int, int]:
        return float(self.loss), int(self.n), int(self.correct)


def _score_pass(model, stage, feed: Feed, idx: list, cfg, loss_fn, n_classes) -> dict:
    """Loss, accuracy and UF1 of ``model`` on the batches ``idx`` (:meth:`Feed.index`; no gradient)."""
    model.eval()
    fwd = stage.forward or (lambda m, x: m(x))
    sums, pred, true = _Sums(feed.device), [], []
    with torch.no_grad(), _autocast(cfg, feed.device):
        for b in idx:
            xb, yb = feed.batch(b)
            t = stage.target(xb, yb) if stage.target else yb
            logits, t = _flat(fwd(model, xb), t)
            sums.add(loss_fn(logits.float(), t), logits, t)
            pred.append(logits.argmax(1))
            true.append(t)
    tot, n, _ = sums.read()
    if not n:
        return {"loss": float("nan"), "accuracy": float("nan"), "uf1": float("nan")}
    pred, true = torch.cat(pred).cpu().numpy(), torch.cat(true).cpu().numpy()
    keep = true >= 0
    s = metrics.scores(true[keep], pred[keep], list(range(n_classes)))
    return {"loss": tot / n, "accuracy": s["accuracy"], "uf1": s["uf1"]}


def _stage_targets(stage, inputs, y, idx, cfg) -> np.ndarray:
    if stage.target is None:
        return np.asarray(y)[idx]
    out = []
    for b in batches(idx, cfg.batch_size, None):
        out.append(stage.target(inputs.take(b), torch.as_tensor(y[b])).reshape(-1).numpy())
    return np.concatenate(out)


def _train_epoch(model, stage, feed: Feed, idx: list, scfg, loss_fn, opt, params, it_sched) -> tuple[float, float]:
    """One epoch over the batches ``idx``; (mean loss, accuracy) over the kept targets."""
    model.train()
    fwd = stage.forward or (lambda m, xb: m(xb))
    sums = _Sums(feed.device)
    for b in idx:
        xb, yb = feed.batch(b)
        t = stage.target(xb, yb) if stage.target else yb
        with _autocast(scfg, feed.device):
            logits, t = _flat(fwd(model, xb), t)
            loss = loss_fn(logits.float(), t)
            if scfg.l2:  # DLHN Eq. 7
                penalty = (model.l2_penalty() if hasattr(model, "l2_penalty")
                           else sum(p.pow(2).sum() for p in params))
                loss = loss + scfg.l2 * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it_sched:
            it_sched.step()
        sums.add(loss, logits, t)
    tot, n, correct = sums.read()
    return tot / max(n, 1), correct / max(n, 1)


def fit(model: nn.Module, x, y: Sequence[int], config: TrainConfig | None = None, *, train=None, val=None,
        monitor=None, stages: Sequence[Stage] | None = None, n_classes: int | None = None,
        desc: str = "train") -> FitResult:
    """Train ``model`` on clips ``train`` (default all) of ``x`` with integer labels ``y``.

    ``val``: clips for model selection/early stopping (from the training folds only). ``monitor``: clips
    scored each epoch for curves only (``test_*``), never for selection. Returns the model with the selected
    epoch's weights, per-epoch curves per stage (``train_loss, train_accuracy, lr`` and ``val_*``/``test_*``)
    and the selected epoch. The inputs go to the device as :class:`Feed` places them; losses and counts are
    summed on the device and read once an epoch.
    """
    cfg = config or TrainConfig()
    inputs = Inputs(x)
    y = np.asarray(y, dtype=np.int64)
    if len(y) != len(inputs):
        raise DataError(None, "one label per input row", f"{len(y)} labels for {len(inputs)} rows")
    train = np.arange(len(y)) if train is None else np.asarray(train)
    n_classes = n_classes or int(y.max()) + 1
    device = resolve_device(cfg.device)
    if cfg.autocast is not None and device.type != "cuda":
        raise ConfigError(f"autocast={cfg.autocast!r} runs on CUDA only; this fit runs on {device.type}: "
                          "set autocast=None (float32) or device='cuda'")
    if cfg.input_norm:
        from ..input_norm import wrap
        model = wrap(model, inputs.take, train, cfg.input_norm)
    stages = list(stages or (model.training_stages() if hasattr(model, "training_stages") else [Stage("main")]))
    model.to(device)
    feed = Feed(inputs, y, device)
    curves, best_epoch = {}, {}
    with torch_state(cfg.deterministic, cfg.threads):
        for si, stage in enumerate(stages):
            scfg = cfg.replace(**stage.config) if stage.config else cfg
            seed_everything(scfg.seed + si)
            rng = np.random.default_rng(scfg.seed + si)
            params = list(stage.params(model)) if stage.params else list(model.parameters())
            k_stage = stage.n_classes or n_classes
            loss_fn = make_loss(scfg, _stage_targets(stage, inputs, y, train, scfg), k_stage).to(device)
            opt = make_optimizer(scfg, params)
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, scfg.lr_decay) if scfg.lr_decay != 1 else None
            it_sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1 / (1 + scfg.time_decay * it))
                        if scfg.time_decay else None)
            scored = [(part, feed.index(batches(np.asarray(idx), scfg.batch_size, None)))
                      for part, idx in (("val", val), ("test", monitor)) if idx is not None and len(idx)]
            c: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "lr": []}
            best, best_state, bad = None, None, 0
            bar = tqdm(range(scfg.epochs), desc=f"{desc} {stage.name}".strip(), leave=False,
                       disable=not scfg.progress)
            for epoch in bar:
                c["lr"].append(opt.param_groups[0]["lr"])
                loss, acc = _train_epoch(model, stage, feed, feed.index(batches(train, scfg.batch_size, rng)), scfg,
                                         loss_fn, opt, params, it_sched)
                c["train_loss"].append(loss)
                c["train_accuracy"].append(acc)
                if sched:
                    sched.step()
                for part, idx in scored:
                    for k, v in _score_pass(model, stage, feed, idx, scfg, loss_fn, k_stage).items():
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
    feed = Feed(inputs, np.zeros(len(inputs), dtype=np.int64), device)
    out = []
    with torch.no_grad():
        for b in feed.index(batches(idx, batch_size, None)):
            out.append(torch.softmax(model(feed.batch(b)[0]).float(), dim=-1))
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, 0))

"""The training loop: ``fit(model, x, y, config, train=, val=, monitor=)`` (tqdm over epochs, curves per
epoch, model selection and early stopping on the validation part only; ``monitor`` clips are scored per epoch
for curves such as C3D Fig. 4 / DLHN Fig. 8 and never used for any decision), its inputs, losses and
optimisers, and ``predict_proba``. Multi-stage models declare ``training_stages() -> list[Stage]``.

Inputs ``x`` are aligned with the labels: a tensor or array (N, ...), a dict of those (batch first), or a
``torch.utils.data.Dataset`` whose item ``i`` is clip ``i``'s input.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import metrics
from ..errors import ConfigError, DataError
from ..models._registry import Stage
from .config import TrainConfig, resolve_device, seed_everything, torch_state

__all__ = ["FitResult", "Inputs", "FocalLoss", "Stage", "fit", "predict_proba", "make_loss", "make_optimizer",
           "inverse_frequency"]


@dataclass
class FitResult:
    model: nn.Module
    curves: dict[str, dict[str, list[float]]]
    best_epoch: dict[str, int]
    device: str


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
        from ..input_norm import wrap
        model = wrap(model, inputs.take, train, cfg.input_norm)
    stages = list(stages or (model.training_stages() if hasattr(model, "training_stages") else [Stage("main")]))
    model.to(device)
    curves, best_epoch = {}, {}
    with torch_state(cfg.deterministic, cfg.threads):
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


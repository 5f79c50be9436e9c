"""DLHN (Li, Wang, Wang 2022): HCRNN (local), RPRNN (holistic) and their late fusion.

Inputs (batch first, grey frames scaled to [0, 1]; DLHN section 4.3):

- ``dlhn_hcrnn``: four ROI clips cropped from a 112×112 face, 16 frames each (DLHN sections 3.1.1, 4.3),
  ``{"eyebrows": (16, 1, 33, 112), "eyes": (16, 1, 20, 112), "nose": (16, 1, 32, 56), "mouth": (16, 1, 38, 56)}``
  as (T, C, H, W) — the paper writes the ROI sizes width × height (112×33 ...), Table 2's output sizes confirm.
- ``dlhn_rprnn``: the RPCA sparse part E of the same 16 frames, ``{"sparse": (16, 1, 112, 112)}``.
- ``dlhn``: the union of both dicts.

HCRNN: four HCNN branches (Table 2: conv 3×3 with 70/140/280/560 channels, stride 1, "same" padding,
2×2 max-pools of stride 2, ReLU per Table 1) applied frame by frame, then the BRNN module L5–L12
(section 3.1.2), an FC and softmax (L13, left to the loss). RPRNN: a deep BLSTM (ReLU on its output,
Table 1 L1) over the vectorised sparse frames, FC (ReLU, L2), FC (softmax, L3). DLHN: the late fusion
O = a·P_h + (1 − a)·P_r of Eq. 8 (:func:`fuse`), a = 0.45.

Every choice where DLHN is silent (the BRNN wiring, RPRNN's size, the optimiser and the decay rate, the
L2 weight ...) and every difference from it is an entry of ``melib/deviations/dlhn.yaml`` (appended below).
``init_std=None`` keeps torch's initialisation; ``single_bias=False`` torch's two bias vectors per gate.

Profiles: ``paper`` as above; ``default`` — 8 frames, a 56×56 face (ROIs 56×16, 56×10, 28×16, 28×19; sparse
28×28), HCNN widths 4/8/16/32, BRNN units 16/32/48 and L12 of 40 (HCRNN about 2.4× faster than with widths
10/20/40/80 and units 30/60/90, so the book's DLHN chapter fits its CPU budget), RPRNN 32 units, and a
gentler init (σ = 0.05); 4 classes in both.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..deviations import append_to_doc
from ._registry import SpecModule, register

ROIS = ("eyebrows", "eyes", "nose", "mouth")
ROI_SIZES = {"eyebrows": (33, 112), "eyes": (20, 112), "nose": (32, 56), "mouth": (38, 56)}  # (H, W), DLHN 3.1.1
INPUT_SPEC = {**{r: (16, 1, *ROI_SIZES[r]) for r in ROIS}, "sparse": (16, 1, 112, 112)}  # DLHN section 4.3

A_PAPER = 0.45                                                    # DLHN section 3.3
A_SWEEP = (0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)     # DLHN Table 4

# DLHN section 4.3 gives no decay rate: TensorFlow's exponential_decay rate 0.96, applied every 15 epochs (as a
# per-epoch factor), so that the lr reaches 0.96^100 = 1.7 % of its start at the 1500th epoch
LR_GAMMA = 0.96 ** (1 / 15)

PAPER_TRAINING = {
    # DLHN section 4.3: exponential lr decay from 0.85 (HCRNN) / 0.01 (RPRNN), mini-batch 45, 1500 epochs
    "dlhn_hcrnn": {"optimizer": "sgd", "lr": 0.85, "lr_schedule": "exponential", "lr_gamma": LR_GAMMA,
                   "batch_size": 45, "epochs": 1500, "loss": "cross_entropy"},
    "dlhn_rprnn": {"optimizer": "sgd", "lr": 0.01, "lr_schedule": "exponential", "lr_gamma": LR_GAMMA,
                   "batch_size": 45, "epochs": 1500, "loss": "cross_entropy", "l2_weight": 1.0,
                   "note": "Eq. 7 adds sum(theta^2) with no coefficient: loss + l2_weight * model.l2_penalty()"},
    "dlhn": {"fusion_a": A_PAPER, "a_sweep": A_SWEEP, "note": "sub-networks trained separately, then fused (Eq. 8)"},
}

_HCNN_PAPER = (70, 140, 280, 560)                                 # DLHN Table 2
_DEFAULT_ROIS = {"eyebrows": (16, 56), "eyes": (10, 56), "nose": (16, 28), "mouth": (19, 28)}


def fuse(p_h, p_r, a: float = A_PAPER):
    """DLHN Eq. 8: O = a·P_h + (1 − a)·P_r, on predicted probabilities (torch tensors or numpy arrays)."""
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"fusion weight a must lie in [0, 1], got {a}")
    return a * p_h + (1.0 - a) * p_r


def init_dlhn_(module: nn.Module, std: float = 0.1, bias: float = 0.1, single_bias: bool = True) -> None:
    """DLHN section 4.3: truncated normal (mean 0, σ = ``std``, cut at 2σ) weights, biases = 0.1.
    ``std=None`` keeps torch's default initialisation. ``single_bias``: one bias per recurrent gate, melib's
    reading of "biases 0.1" (torch's second vector, ``bias_hh``, is set to 0 and frozen)."""
    if single_bias:
        for name, p in module.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("bias_hh"):
                nn.init.zeros_(p)
                p.requires_grad_(False)
    if std is None:
        return
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if name.rsplit(".", 1)[-1].startswith("bias"):
            nn.init.constant_(p, bias)
        elif p.dim() > 1 or "weight" in name:
            nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
    for m in module.modules():  # BatchNorm-free nets; keep any norm layer at identity
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class HCNN(nn.Module):
    """DLHN Table 2: four conv 3×3 (stride 1, same padding, ReLU per Table 1) with 2×2/2 max-pools between."""

    def __init__(self, in_channels: int = 1, widths=_HCNN_PAPER):
        super().__init__()
        layers, cin = [], in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=True)]  # L1–L4
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, 2))                             # max pool 2×2, stride 2
            cin = w
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _BiStream(nn.Module):
    """Bidirectional recurrent layer (tanh RNN or LSTM) returning the full output sequence (B, T, 2·units)."""

    def __init__(self, n_in: int, units: int, kind: str):
        super().__init__()
        cls = nn.LSTM if kind == "lstm" else nn.RNN
        kw = {} if kind == "lstm" else {"nonlinearity": "tanh"}
        self.rnn = cls(n_in, units, batch_first=True, bidirectional=True, **kw)

    def forward(self, x):
        return self.rnn(x)[0]


def _neighbours(xs: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.cat([a, b], dim=-1) for a, b in zip(xs[:-1], xs[1:])]


def _last_both_ways(seq: torch.Tensor) -> torch.Tensor:
    """Final state of a bidirectional output: forward half at the last step, backward half at the first."""
    h = seq.shape[-1] // 2
    return torch.cat([seq[:, -1, :h], seq[:, 0, h:]], dim=-1)


class HCRNN(SpecModule):
    """DLHN HCRNN: four HCNN branches on the ROIs (Table 2) → BRNN module L5–L12 (section 3.1.2) → FC K."""

    def __init__(self, n_classes=4, frames=16, rois: Mapping[str, tuple[int, int]] = ROI_SIZES,
                 widths=_HCNN_PAPER, units=(30, 60, 90), fc=80, in_channels=1, init_std=0.1, single_bias=True):
        super().__init__()
        self.input_spec = {r: (frames, in_channels, *rois[r]) for r in ROIS}
        self.branches = nn.ModuleDict({r: HCNN(in_channels, widths) for r in ROIS})
        with torch.no_grad():
            feat = {r: self.branches[r](torch.zeros(1, in_channels, *rois[r])).numel() for r in ROIS}
        self.feature_sizes = feat
        u5, u7, u10 = units
        self.l5 = nn.ModuleList([_BiStream(feat[r], u5, "rnn") for r in ROIS])           # L5 (30×4), tanh
        self.l7 = nn.ModuleList([_BiStream(4 * u5, u7, "lstm") for _ in range(3)])       # L6 concat, L7 BLSTM
        self.l8 = nn.ModuleList([_BiStream(2 * u7, u7, "rnn") for _ in range(3)])        # L8 (60×3), tanh
        self.l10 = nn.ModuleList([_BiStream(4 * u7, u10, "lstm") for _ in range(2)])     # L9 concat, L10 BLSTM
        self.l11 = nn.ModuleList([_BiStream(2 * u10, u10, "rnn") for _ in range(2)])     # L11 (90×2), tanh
        self.l12 = nn.Sequential(nn.Linear(2 * 2 * u10, fc), nn.Tanh())                 # L12 (80×1)
        self.out = nn.Linear(fc, n_classes)                                              # L13 (softmax in loss)
        init_dlhn_(self, init_std, single_bias=single_bias)

    def forward(self, x):
        xs = self._inputs(x)
        seqs = []
        for r in ROIS:
            v = xs[r]
            b, t = v.shape[:2]
            f = self.branches[r](v.flatten(0, 1)).reshape(b, t, -1)   # per-frame local-still features
            seqs.append(f)
        s = [m(f) for m, f in zip(self.l5, seqs)]
        s = [m(f) for m, f in zip(self.l7, _neighbours(s))]
        s = [m(f) for m, f in zip(self.l8, s)]
        s = [m(f) for m, f in zip(self.l10, _neighbours(s))]
        s = [m(f) for m, f in zip(self.l11, s)]
        g = torch.cat([_last_both_ways(f) for f in s], dim=-1)
        return self.out(self.l12(g))


class RPRNN(SpecModule):
    """DLHN RPRNN: deep BLSTM (ReLU, Table 1 L1) over vectorised sparse frames → FC (ReLU, L2) → FC (L3)."""

    def __init__(self, n_classes=4, frames=16, size=112, hidden=128, layers=2, fc=128, in_channels=1,
                 init_std=0.1, single_bias=True):
        super().__init__()
        self.input_spec = {"sparse": (frames, in_channels, size, size)}
        self.blstm = nn.LSTM(in_channels * size * size, hidden, num_layers=layers, batch_first=True,
                             bidirectional=True)                                 # L1 deep BLSTM
        self.fc = nn.Sequential(nn.ReLU(), nn.Linear(2 * hidden, fc), nn.ReLU())  # L1 ReLU, L2 FC ReLU
        self.out = nn.Linear(fc, n_classes)                                        # L3 (softmax in loss)
        init_dlhn_(self, init_std, single_bias=single_bias)

    def forward(self, x):
        v = self._inputs(x)["sparse"]
        seq = self.blstm(v.flatten(2))[0]
        return self.out(self.fc(_last_both_ways(seq)))

    def l2_penalty(self) -> torch.Tensor:
        """DLHN Eq. 7: Σ θ² over the weights (biases excluded); add ``l2_weight ×`` this to the CE loss."""
        return sum((p ** 2).sum() for n, p in self.named_parameters() if "bias" not in n)


class DLHN(SpecModule):
    """DLHN: HCRNN and RPRNN trained separately, fused late by Eq. 8; ``forward`` returns log O (logits whose
    softmax is the fused probability O)."""

    def __init__(self, hcrnn: HCRNN, rprnn: RPRNN, a: float = A_PAPER):
        super().__init__()
        self.hcrnn, self.rprnn, self.a = hcrnn, rprnn, a
        self.input_spec = {**hcrnn.input_spec, **rprnn.input_spec}

    def forward(self, x, a: float | None = None):
        xs = self._inputs(x)
        p_h = self.hcrnn(xs).softmax(-1)   # DLHN Eq. 2
        p_r = self.rprnn(xs).softmax(-1)   # DLHN Eq. 6
        return torch.log(fuse(p_h, p_r, self.a if a is None else a).clamp_min(1e-12))


_PAPER_H = {"n_classes": 4, "frames": 16}
_DEFAULT_H = {"n_classes": 4, "frames": 8, "rois": _DEFAULT_ROIS, "widths": (4, 8, 16, 32), "units": (16, 32, 48),
              "fc": 40, "init_std": 0.05}
_PAPER_R = {"n_classes": 4, "frames": 16, "size": 112}
_DEFAULT_R = {"n_classes": 4, "frames": 8, "size": 28, "hidden": 32, "fc": 32, "init_std": 0.05}


@register("dlhn_hcrnn", paper=_PAPER_H, default=_DEFAULT_H, training=PAPER_TRAINING["dlhn_hcrnn"])
def build_hcrnn(**kw) -> HCRNN:
    """DLHN HCRNN (local sub-network; Table 5 row 'HCRNN')."""
    return HCRNN(**kw)


@register("dlhn_rprnn", paper=_PAPER_R, default=_DEFAULT_R, training=PAPER_TRAINING["dlhn_rprnn"])
def build_rprnn(**kw) -> RPRNN:
    """DLHN RPRNN (holistic sub-network on RPCA sparse frames; Table 5 row 'RPRNN')."""
    return RPRNN(**kw)


@register("dlhn", paper={"hcrnn": _PAPER_H, "rprnn": _PAPER_R},
          default={"hcrnn": _DEFAULT_H, "rprnn": _DEFAULT_R}, training=PAPER_TRAINING["dlhn"])
def build_dlhn(hcrnn=None, rprnn=None, a: float = A_PAPER, n_classes: int | None = None) -> DLHN:
    """DLHN (Eq. 8 late fusion of HCRNN and RPRNN). ``hcrnn`` / ``rprnn``: trained modules or kwargs dicts."""
    def make(sub, cls):
        if isinstance(sub, nn.Module):
            return sub
        kw = dict(sub or {})
        if n_classes is not None:
            kw["n_classes"] = n_classes
        return cls(**kw)
    return DLHN(make(hcrnn, HCRNN), make(rprnn, RPRNN), a)


def fuse_sweep(p_h, p_r, y_true, a_values=A_SWEEP) -> dict[float, float]:
    """DLHN Table 4: accuracy of argmax O(a) for each a in ``a_values`` (probabilities as numpy / torch)."""
    p_h, p_r, y = (np.asarray(v.detach().cpu() if torch.is_tensor(v) else v) for v in (p_h, p_r, y_true))
    return {float(a): float((fuse(p_h, p_r, a).argmax(-1) == y).mean()) for a in a_values}


__doc__ = append_to_doc(__doc__, "DLHN", __name__)

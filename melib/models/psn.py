"""PSN (Li et al.): Parallel Spatiotemporal Network — spatial sub-network on RPCA's sparse part E, temporal
sub-network of Temporal Perception Units on the original frames, fusion + 1×1 convolution + FC.

Input (batch first, grey, values in [0, 1]; PSN section 3.2: 112×112 frames, 16 frames sampled from 150):
``{"sparse": (16, 1, 112, 112), "frames": (16, 1, 112, 112)}`` as (T, C, H, W) — ``sparse`` is E of RPCA
(PSN Eq. 1–2) for the spatial sub-network, ``frames`` the original frames for the temporal sub-network.

Architecture (PSN section 2, Fig. 1):

- Spatial sub-network, applied to every frame of E: the AlexNet-like backbone of Table 1 (conv 7×7×96/2,
  pool 3/2, conv 5×5×256/2, pool 3/2, conv 3×3×384, 3×3×256, 3×3×256, pool 3/2; on 112×112, with Caffe's
  pooling that rounds up, this ends at 256×5×5 = 6,400), then FC 4096. Backbones ``vgg16`` and ``resnet10`` of Table 9 are switches.
- Temporal sub-network: a layer of TPUs over the vectorised original frames x_t: tp = std(x_t − x_{t−1})
  (Eq. 7), h̃_t = tanh(W_I x_t + W_H h_{t−1}) (Eq. 8), h_t = tanh(W_h̃ (tp · h̃_t)) (Eq. 9),
  y_t = tanh(W_O h_t) (Eq. 4), then an FC to 4096 (section 2.2) for every step: F = [y_0 … y_T].
- Fusion (Eq. 10, section 2.3): the per-frame feature rows (B·T rows × 4096, the paper's "80×4096" map for
  5 clips × 16 frames) are added (SUM, default), multiplied (PROD) or concatenated (CONCAT, Table 9), reshaped
  to (256, 4, 4), fused by a 1×1 convolution to 4 channels (64 values per row), and the rows of a clip go
  through the classifying FC (K outputs).

Parameter counts of the fusion stage (section 4, "Weight reduction"): the paper counts per-row weights times
the 80 rows of its fused map: with the 1×1 convolution 4 × (256 + 1) × 80 = 82,240; without it an FC from
4096 to the same 64 values, 64 × (4096 + 1) × 80 = 20,976,640 (:func:`fusion_parameter_count`).

Ablations of Fig. 7 as switches: ``branches="spatial" | "temporal" | "both"``, ``swap_inputs=True``,
``tp_one=True`` (tp = 1), ``cell="rnn"`` (AlexNet + plain RNN, Eqs. 3–4), ``fusion_conv=False``
(PSN_no_conv).

Every choice where PSN is silent, and every difference from it, is an entry of ``melib/deviations/psn.yaml``
(appended below).

Profiles: ``paper`` as above (4 classes); ``default`` — 8 frames of 40×40 (about 1.7× faster to train than
56×56, so that the PSN chapter with its ablations fits the book's CPU budget), conv widths 12/32/48/32/32,
a 512-d feature (32×4×4), 64 TPU units, VGG16 / ResNet10 at an eighth of their widths.
"""
from __future__ import annotations

import torch
from torch import nn

from ..deviations import append_to_doc
from ..errors import ConfigError
from ._registry import SpecModule, register

from ..preprocess.temporal import temporal_perception  # PSN Eq. 7 lives with the preprocessing

INPUT_SPEC = {"sparse": (16, 1, 112, 112), "frames": (16, 1, 112, 112)}  # PSN section 3.2 (2)
FUSIONS = ("sum", "prod", "concat")                                       # PSN Table 9
BACKBONES = ("alexnet", "vgg16", "resnet10")                               # PSN Table 9
PAPER_ROWS = 80                                                            # PSN section 2.3: "80×4096"

# PSN 2.3: an "80 x 4096" fused map = 5 clips x 16 frames per batch; no optimiser, lr or epoch count given
PAPER_TRAINING = {"psn": {"loss": "cross_entropy", "protocol": "stratified 10-fold", "batch_size": PAPER_ROWS // 16,
                          "note": "PSN gives no optimiser, learning rate or epoch count; batch 5 from its 80-row map"}}
TP_UNIT = 255.0  # PSN Eq. 7 on 8-bit grey levels (the original frames), where tp_0 = 1 is of the same order

_ALEX_PAPER = (96, 256, 384, 256, 256)                                     # PSN Table 1


class AlexNetLike(nn.Module):
    """PSN Table 1: spatial backbone; with a 112×112 input the conv stack ends at (widths[-1], 5, 5)
    (``ceil_pool=False``: torch's floor rounding, (widths[-1], 4, 4))."""

    def __init__(self, in_channels=1, widths=_ALEX_PAPER, ceil_pool: bool = True):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        pool = lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=ceil_pool)  # noqa: E731  (Caffe rounds up)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c1, 7, stride=2, padding=1), nn.ReLU(inplace=True),  # Conv1 7×7×96, p1, s2
            pool(),                                                                     # Pool1 3×3, p1, s2
            nn.Conv2d(c1, c2, 5, stride=2, padding=2), nn.ReLU(inplace=True),           # Conv2 5×5×256, p2, s2
            pool(),                                                                     # Pool2
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),                     # Conv3 3×3×384
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),                     # Conv4 3×3×256
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True),                     # Conv5 3×3×256
            pool(),                                                                     # Pool5
        )

    def forward(self, x):
        return self.net(x)


class VGG16(nn.Module):
    """PSN Table 9 backbone "VGG16": the 13-conv VGG16 stack (widths scaled by ``width``)."""

    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, in_channels=1, width: float = 1.0, ceil_pool: bool = True):
        super().__init__()
        layers, cin = [], in_channels
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=ceil_pool))
            else:
                c = max(4, int(v * width))
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
                cin = c
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class ResNet10(nn.Module):
    """PSN Table 9 backbone "ResNet10": stem conv 7×7/2 + max-pool, one basic block per stage, global pool."""

    def __init__(self, in_channels=1, width: float = 1.0, ceil_pool: bool = True):
        super().__init__()
        ws = [max(4, int(w * width)) for w in (64, 128, 256, 512)]
        layers = [nn.Conv2d(in_channels, ws[0], 7, 2, 3, bias=False), nn.BatchNorm2d(ws[0]), nn.ReLU(inplace=True),
                  nn.MaxPool2d(3, 2, 1, ceil_mode=ceil_pool)]
        cin = ws[0]
        for i, w in enumerate(ws):
            layers.append(_Basic(cin, w, 1 if i == 0 else 2))
            cin = w
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class SpatialNet(nn.Module):
    """PSN section 2.1: backbone → flatten → FC (4096 in the paper, Table 1) with ReLU."""

    def __init__(self, backbone: str, in_channels: int, size: int, widths, feature: int, width_mult: float,
                 ceil_pool: bool = True):
        super().__init__()
        if backbone == "alexnet":
            self.backbone = AlexNetLike(in_channels, widths, ceil_pool)
        elif backbone == "vgg16":
            self.backbone = VGG16(in_channels, width_mult, ceil_pool)
        elif backbone == "resnet10":
            self.backbone = ResNet10(in_channels, width_mult, ceil_pool)
        else:
            raise ConfigError(f"unknown PSN backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        with torch.no_grad():
            n = self.backbone(torch.zeros(1, in_channels, size, size)).numel()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(n, feature), nn.ReLU(inplace=True))  # FC 4096

    def forward(self, x):
        return self.fc(self.backbone(x))


class TPULayer(nn.Module):
    """A layer of Temporal Perception Units (PSN Eqs. 7–9, output Eq. 4); ``plain=True`` is the RNN of
    Eqs. 3–4 (the "AlexNet + RNN" ablation of Fig. 7)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, plain: bool = False):
        super().__init__()
        self.plain = plain
        self.w_i = nn.Linear(n_in, hidden)                        # W_I
        self.w_h = nn.Linear(hidden, hidden, bias=False)          # W_H
        self.w_ht = None if plain else nn.Linear(hidden, hidden)  # W_h̃ (Eq. 9)
        self.w_o = nn.Linear(hidden, n_out)                       # W_O (Eq. 4)

    def forward(self, x: torch.Tensor, tp: torch.Tensor | None) -> torch.Tensor:
        """x: (B, T, D) vectorised frames; tp: (B, T) coefficients (ignored when plain). Returns (B, T, n_out)."""
        b, t, _ = x.shape
        h = x.new_zeros(b, self.w_h.in_features)
        wx = self.w_i(x)                                           # W_I x_t for all t at once
        ys = []
        for k in range(t):
            h_tilde = torch.tanh(wx[:, k] + self.w_h(h))          # Eq. 8 (Eq. 3 for the plain RNN)
            if self.plain:
                h = h_tilde
            else:
                h = torch.tanh(self.w_ht(tp[:, k:k + 1] * h_tilde))  # Eq. 9
            ys.append(torch.tanh(self.w_o(h)))                    # Eq. 4
        return torch.stack(ys, dim=1)


def tp_coefficients(frames: torch.Tensor, unit: float = 1.0) -> torch.Tensor:
    """PSN Eq. 7 per step of a (B, T, ...) clip on ``unit`` × the frames: (B, T) with tp_0 = 1 (no previous
    frame). ``unit=TP_UNIT`` reads [0, 1] frames in 8-bit grey levels."""
    tp = unit * temporal_perception(frames.flatten(2), axis=1)    # (B, T-1)
    return torch.cat([tp.new_ones(tp.shape[0], 1), tp], dim=1)


class PSN(SpecModule):
    """PSN: spatial sub-network ∥ temporal TPU sub-network → fusion (Eq. 10) → 1×1 conv → FC K."""

    def __init__(self, n_classes=4, frames=16, size=112, in_channels=1, backbone="alexnet",
                 widths=_ALEX_PAPER, width_mult=1.0, grid=4, hidden=512, fusion="sum", fusion_conv=True,
                 conv_out=4, branches="both", swap_inputs=False, tp_one=False, cell="tpu", tp_unit=TP_UNIT,
                 ceil_pool=True, dropout=0.5):
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown PSN fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        if branches not in ("both", "spatial", "temporal"):
            raise ConfigError(f"branches must be 'both', 'spatial' or 'temporal', not {branches!r}")
        if cell not in ("tpu", "rnn"):
            raise ConfigError(f"cell must be 'tpu' or 'rnn', not {cell!r}")
        self.input_spec = {"sparse": (frames, in_channels, size, size), "frames": (frames, in_channels, size, size)}
        self.fusion, self.branches, self.swap, self.tp_one = fusion, branches, swap_inputs, tp_one
        self.tp_unit = 1.0 if swap_inputs else tp_unit  # E (swapped in) is not on the frames' [0, 1] scale
        self.channels = widths[-1]                     # 256 in the paper: the fused row is (256, 4, 4)
        self.grid = grid
        feature = self.channels * grid * grid          # 4096 = 256 × 4 × 4
        self.feature = feature
        self.spatial = (SpatialNet(backbone, in_channels, size, widths, feature, width_mult, ceil_pool)
                        if branches != "temporal" else None)
        if branches != "spatial":
            self.tpu = TPULayer(in_channels * size * size, hidden, hidden, plain=cell == "rnn")
            self.temporal_fc = nn.Linear(hidden, feature)          # PSN section 2.2: FC after the TPUs
        else:
            self.tpu = self.temporal_fc = None
        cin = 2 * self.channels if (fusion == "concat" and branches == "both") else self.channels
        per_row = conv_out * grid * grid                           # 64 values per fused row
        if fusion_conv:                                            # PSN section 2.3: 1×1 convolution
            self.fuse_conv = nn.Sequential(nn.Conv2d(cin, conv_out, 1), nn.ReLU(inplace=True), nn.Flatten())
        else:                                                      # PSN_no_conv: FC to the same 64 values
            self.fuse_conv = nn.Sequential(nn.Flatten(), nn.Linear(cin * grid * grid, per_row), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(frames * per_row, n_classes))  # PSN 3.3

    def forward(self, x):
        xs = self._inputs(x)
        s_in, t_in = (xs["frames"], xs["sparse"]) if self.swap else (xs["sparse"], xs["frames"])
        b, t = s_in.shape[:2]
        rows = []
        if self.spatial is not None:
            rows.append(self.spatial(s_in.flatten(0, 1)))                         # (B·T, 4096)
        if self.tpu is not None:
            tp = None if self.tpu.plain else (torch.ones(b, t, device=t_in.device) if self.tp_one
                                              else tp_coefficients(t_in, self.tp_unit))  # Eq. 7
            y = self.tpu(t_in.flatten(2), tp)                                     # (B, T, hidden)
            rows.append(self.temporal_fc(y).flatten(0, 1))                        # (B·T, 4096)
        if len(rows) == 1:
            f = rows[0]
        elif self.fusion == "sum":
            f = rows[0] + rows[1]                                                 # Eq. 10
        elif self.fusion == "prod":
            f = rows[0] * rows[1]
        else:
            f = torch.cat([rows[0].view(-1, self.channels, self.grid, self.grid),
                           rows[1].view(-1, self.channels, self.grid, self.grid)], dim=1)
        f = f.reshape(b * t, -1, self.grid, self.grid)                            # e1 × e2 × e3 × e4
        z = self.fuse_conv(f).reshape(b, -1)                                      # (B, T·64)
        return self.classifier(z)


def fusion_parameter_count(model: PSN, rows: int = PAPER_ROWS) -> int:
    """The fusion stage's parameters counted the paper's way: per-row weights × ``rows`` (PSN section 4:
    82,240 with the 1×1 convolution, 20,976,640 without, for 80 rows)."""
    return rows * sum(p.numel() for p in model.fuse_conv.parameters())


_PAPER = {"n_classes": 4, "frames": 16, "size": 112}
_DEFAULT = {"n_classes": 4, "frames": 8, "size": 40, "widths": (12, 32, 48, 32, 32), "hidden": 64,
            "width_mult": 0.125}


@register("psn", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["psn"])
def build_psn(**kw) -> PSN:
    """PSN (AlexNet-like backbone, SUM fusion, 1×1 conv); every Fig. 7 ablation / Table 9 variant by kwargs."""
    return PSN(**kw)


__doc__ = append_to_doc(__doc__, "PSN", __name__)

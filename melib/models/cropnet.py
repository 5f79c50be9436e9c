"""CropNet (Zhao, Chen, Luo 2021): CGPO sub-images → depthwise (ReXNet / MobileNetV2-style) extractor →
per-sub-image conv / BN / adaptive pool / FC to z ∈ ℝ²⁴ → position embeddings (Eq. 8) → concatenation → FC.

Input (batch first, RGB ARS images in [0, 1]; CropNet sections 3.1, 3.2.2):
``{"cgpo": (10, 3, 160, 160)}`` — the CGPO stack: index 0 is the whole 320×320 image down-sampled to
160×160 (the coarse pyramid level, z_0, no position embedding), 1–9 the overlapping 160×160 crops of the
320×320 level (overlap factor α = 0.3), which get the position embeddings p_1 … p_9 (Eq. 8).
With ``cgpo=False`` (the "CropNet without CGPO" ablation of Table 4) the input is ``{"image": (3, 320, 320)}``,
the whole image, through one extractor and one head.

The extractor is ReXNet-style (CropNet 3.2.3 names ReXNet; Fig. 3, not in the text copy, shows MobileNetV2's
MB6 blocks): stem conv 3×3/2, 16 inverted bottlenecks whose output channels grow linearly from 16 to 196
(× width 1.3, which brings the total to the paper's ≈ 7.6 M parameters), then a 1×1 conv to 1280 × width;
one extractor shared by the ten sub-images, one head each. Every choice where CropNet is silent and every
difference from it is an entry of ``melib/deviations/cropnet.yaml`` (appended below).

Profiles: ``paper`` (width 1.3, 160×160 sub-images, 3 classes); ``default`` — width 0.25, 16×16 sub-images,
head 16 channels (64×64 whole image without CGPO); about 2× faster on CPU than 32×32 sub-images.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..deviations import append_to_doc
from ._registry import SpecModule, register

N_SUB = 10                                                  # CropNet section 3.2.2: 10 sub-images
Z_DIM = 24                                                  # CropNet section 3.2.4: z_i ∈ ℝ²⁴
POS_STD = math.sqrt(0.2)                                    # CropNet Eq. 8: p_i ~ N(0, 0.2), 0.2 the variance
INPUT_SPEC = {"cgpo": (N_SUB, 3, 160, 160)}                 # CropNet section 3.2.2
PAPER_PARAMS = 7.6e6                                        # CropNet section 3.2.1: "approximately 7.6M"

PAPER_TRAINING = {"cropnet": {
    "loss": "label_smoothing_cross_entropy", "label_smoothing": 0.1, "optimizer": "adamp",  # CropNet 4.2
    "weight_decay": 1e-2,  # AdamP's own usage example (adamp 0.3.0); CropNet gives none
    "protocol": "LOSO", "key_frames": 5, "pretrained": "imagenet (not available here: from scratch)",
    "note": "CropNet gives neither the smoothing factor, learning rate, batch size nor epochs; 0.1 smoothing assumed",
}}


def _conv_bn(cin, cout, k=1, stride=1, groups=1, act: nn.Module | None = None) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act] if act is not None else [])


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, ratio: int = 12):
        super().__init__()
        m = max(4, c // ratio)
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, m, 1), nn.BatchNorm2d(m),
                                 nn.ReLU(inplace=True), nn.Conv2d(m, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.net(x)


class InvertedBottleneck(nn.Module):
    """MobileNetV2 inverted bottleneck (expansion t, depthwise 3×3, linear projection; CropNet Fig. 3 'MB6')."""

    def __init__(self, cin: int, cout: int, t: int, stride: int, se: bool):
        super().__init__()
        mid = cin * t
        layers = _conv_bn(cin, mid, act=nn.SiLU(inplace=True)) if t != 1 else []
        layers += _conv_bn(mid, mid, 3, stride, groups=mid)            # depthwise
        if se:
            layers.append(SqueezeExcite(mid))
        layers.append(nn.ReLU6(inplace=True))
        layers += _conv_bn(mid, cout)                                  # linear bottleneck
        self.net = nn.Sequential(*layers)
        self.cin = cin
        self.residual = stride == 1 and cin <= cout

    def forward(self, x):
        out = self.net(x)
        if self.residual:
            out = torch.cat([out[:, :self.cin] + x, out[:, self.cin:]], dim=1)
        return out


class Extractor(nn.Module):
    """CropNet feature extractor (section 3.2.3): channels growing linearly block after block (ReXNet)."""

    STAGES = ((1, 1, False), (2, 2, False), (2, 2, True), (3, 2, True), (3, 1, True), (5, 2, True))

    def __init__(self, width: float = 1.3, in_channels: int = 3, start: int = 16, growth: int = 180,
                 stem: int = 32, pen: int = 1280):
        super().__init__()
        n_blocks = sum(s[0] for s in self.STAGES)
        chans = [start + growth * i / n_blocks for i in range(n_blocks)]
        r = lambda c: max(8, int(round(c * width)))  # noqa: E731
        layers = _conv_bn(in_channels, r(stem), 3, 2, act=nn.SiLU(inplace=True))
        cin, i = r(stem), 0
        for depth, stride, se in self.STAGES:
            for j in range(depth):
                cout = r(chans[i])
                layers.append(InvertedBottleneck(cin, cout, 1 if i == 0 else 6, stride if j == 0 else 1, se))
                cin, i = cout, i + 1
        self.out_channels = max(8, int(pen * width))
        layers += _conv_bn(cin, self.out_channels, act=nn.SiLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Head(nn.Module):
    """CropNet section 3.2.4: Conv → BN (→ ReLU, assumed) → adaptive pool → FC → z ∈ ℝ²⁴."""

    def __init__(self, cin: int, mid: int, z: int = Z_DIM):
        super().__init__()
        self.net = nn.Sequential(*_conv_bn(cin, mid, act=nn.ReLU(inplace=True)), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(mid, z))

    def forward(self, x):
        return self.net(x)


class CropNet(SpecModule):
    """CropNet: shared extractor, one head per CGPO sub-image, position embeddings (Eq. 8), concat, FC K."""

    def __init__(self, n_classes=3, size=160, width=1.3, head_channels=96, cgpo=True, whole_size=None,
                 in_channels=3, dropout=0.2, pos_std=POS_STD):
        super().__init__()
        self.cgpo = cgpo
        n = N_SUB if cgpo else 1
        self.input_spec = ({"cgpo": (N_SUB, in_channels, size, size)} if cgpo else
                           {"image": (in_channels, whole_size or 2 * size, whole_size or 2 * size)})
        self.extractor = Extractor(width, in_channels)
        self.heads = nn.ModuleList([Head(self.extractor.out_channels, head_channels) for _ in range(n)])
        # CropNet Eq. 8: trainable p_1 … p_9, initialised from N(0, 0.2); z_0 (whole image) has none
        self.pos = nn.Parameter(torch.randn(n - 1, Z_DIM) * pos_std) if cgpo else None
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(n * Z_DIM, n_classes))

    def forward(self, x):
        v = next(iter(self._inputs(x).values()))
        if not self.cgpo:
            return self.classifier(self.heads[0](self.extractor(v)))
        b, n = v.shape[:2]
        feats = self.extractor(v.flatten(0, 1)).unflatten(0, (b, n))
        z = torch.stack([h(feats[:, i]) for i, h in enumerate(self.heads)], dim=1)  # (B, 10, 24)
        z = torch.cat([z[:, :1], z[:, 1:] + self.pos], dim=1)                        # Eq. 8: z_i' = z_i ⊕ p_i
        return self.classifier(z.flatten(1))                                          # splice, classify


_PAPER = {"n_classes": 3, "size": 160, "width": 1.3, "head_channels": 96}
_DEFAULT = {"n_classes": 3, "size": 16, "width": 0.25, "head_channels": 16, "whole_size": 64}


@register("cropnet", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["cropnet"])
def build_cropnet(**kw) -> CropNet:
    """CropNet with CGPO (``cgpo=False``: the 'without CGPO' ablation of Table 4)."""
    return CropNet(**kw)


__doc__ = append_to_doc(__doc__, "CropNet", __name__)

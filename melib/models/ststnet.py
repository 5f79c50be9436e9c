"""STSTNet (Liong, Gan, See, Khor, Huang, FG 2019): Shallow Triple Stream Three-dimensional CNN, one of the
MEGC2019 composite's standard methods.

Input (batch first): ``{"flow": (3, 28, 28)}``, the horizontal optical flow u, the vertical flow v and the
optical strain between the onset and the apex frame, resized to 28×28 (STSTNet abstract; the authors'
README: "Input data (28x28x3) ... horizontal optical flow images; vertical optical flow images; optical
strain, computed from the onset and apex frames"). Pipeline: ``melib.preprocess.flow_inputs``.

Architecture (the "three-dimensional" of the name is the three input channels): three shallow streams in
parallel, each a 3×3 convolution over all three channels (3, 5 and 8 filters), ReLU, batch normalisation,
3×3 max pooling with stride 3, dropout; the 16 maps are concatenated, averaged 2×2 and classified by one
fully connected layer (28×28 input: 16 × 5 × 5 = 400 features). The paper's text is not available here: the
layer choices follow the authors' public code (GitHub christy1206/STSTNet, ``main.py``), every one an entry
of ``melib/deviations/ststnet.yaml`` (appended below).

Profiles: ``paper`` and ``default`` are the same (1,683 parameters for three classes); what costs time is
the optical flow, whose face size the study's ``frame_size`` sets.
"""
from __future__ import annotations

import torch
from torch import nn

from ..deviations import append_to_doc
from ._registry import SpecModule, describe, register

INPUT_SPEC = {"flow": (3, 28, 28)}      # STSTNet abstract / README: u, v, optical strain at 28×28
WIDTHS = (3, 5, 8)                      # STSTNet authors' code: the three streams' filters

PAPER_TRAINING = {"ststnet": {
    # the authors' code (main.py): Adam, lr 5e-5, batch 256, 800 epochs, cross-entropy, the last epoch scored
    "optimizer": "adam", "lr": 5e-5, "batch_size": 256, "epochs": 800, "loss": "cross_entropy",
    "protocol": "LOSO (MEGC2019 composite, 442 clips, 68 subjects)",
    "note": "from the authors' public code; the paper text was not available to check it",
}}


def _pooled_side(size: int) -> int:
    """Side after the 3×3 convolution (padding 2), 3×3/3 max pooling (padding 1) and 2×2/2 average pooling."""
    conv = size + 2 * 2 - 3 + 1
    pooled = (conv + 2 * 1 - 3) // 3 + 1
    return pooled // 2


class STSTNet(SpecModule):
    """Three shallow streams over (u, v, strain), concatenated, average-pooled, one FC to K logits."""

    def __init__(self, n_classes: int = 3, size: int = 28, in_channels: int = 3, widths=WIDTHS,
                 dropout: float = 0.5):
        super().__init__()
        self.input_spec = {"flow": (in_channels, size, size)}
        # STSTNet authors' code: conv 3×3 (padding 2) -> ReLU -> BN -> max pool 3/3 (padding 1) -> dropout
        self.streams = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(w),
            nn.MaxPool2d(3, 3, padding=1), nn.Dropout(dropout)) for w in widths])
        self.pool = nn.AvgPool2d(2, 2)
        side = _pooled_side(size)
        self.classifier = nn.Linear(sum(widths) * side * side, n_classes)

    def forward(self, x):
        v = self._inputs(x)["flow"]
        z = torch.cat([s(v) for s in self.streams], dim=1)
        return self.classifier(self.pool(z).flatten(1))


_PAPER = {"n_classes": 3, "size": 28}
_DEFAULT = dict(_PAPER)


@register("ststnet", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["ststnet"])
def build_ststnet(**kw) -> STSTNet:
    """STSTNet: onset-apex optical flow (u, v) and optical strain, three shallow streams."""
    return STSTNet(**kw)


describe("ststnet", pipeline="onset_apex_flow", signature=STSTNet,
         spec=lambda a: {"flow": (a["in_channels"], a["size"], a["size"])})

__doc__ = append_to_doc(__doc__, "STSTNet", __name__)

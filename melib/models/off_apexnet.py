"""OFF-ApexNet (Gan, Liong, Yau, Huang, Tan, Signal Processing: Image Communication 74, 2019): Optical Flow
Features from the Apex frame Network, one of the MEGC2019 composite's standard methods.

Input (batch first): ``{"flow": (2, 28, 28)}``, the horizontal (u) and vertical (v) optical flow between the
onset and the apex frame (OFF-ApexNet abstract: "the optical flow information are attained from the apex
frame and a reference frame (i.e., onset frame)"), each resized to 28×28. Pipeline:
``melib.preprocess.flow_inputs`` with two channels.

Architecture: two CNN streams, one per flow component, each conv → ReLU → 2×2 max pool → conv → ReLU → 2×2
max pool (6 and 16 filters, 5×5, "same" padding: 16 × 7 × 7 per stream on 28×28); the two streams'
features are concatenated and go through two fully connected layers of 1,024 units (ReLU, dropout) and the
K-way output. The paper's text is not available here: the widths, the 28×28 input and the two 1,024-unit
layers agree with meb's re-implementation (6 and 16 filters, 7×7×16, FC 1,024) and with the 2.66 M
parameters a third party reports for OFF-ApexNet (this layout: 2,664,475); the kernel size, the dropout and
the training recipe are choices, each an entry of ``melib/deviations/off_apexnet.yaml`` (appended below).

Profiles: ``paper`` (two FC layers of 1,024); ``default`` the same but 256 units (0.46 M parameters).
"""
from __future__ import annotations

import torch
from torch import nn

from ..deviations import append_to_doc
from ._registry import SpecModule, describe, register

INPUT_SPEC = {"flow": (2, 28, 28)}      # OFF-ApexNet: u and v from onset to apex, 28×28 each
WIDTHS = (6, 16)                        # OFF-ApexNet's two convolutions (meb agrees)
FC = (1024, 1024)                       # two fully connected layers (2.66 M parameters in all)
PAPER_PARAMS = 2.66e6                   # reported for OFF-ApexNet by Off-TANet's authors (README table)

PAPER_TRAINING = {"off_apexnet": {
    "loss": "cross_entropy", "protocol": "LOSO (multi-database: SMIC, CASME II, SAMM)",
    "note": "the optimiser, learning rate, batch and epochs could not be read from the paper here: the "
            "trainer's defaults (Adam, lr 1e-3, batch 16, 30 epochs)",
}}


def _stream(widths, kernel: int) -> nn.Sequential:
    c1, c2 = widths
    pad = kernel // 2
    return nn.Sequential(nn.Conv2d(1, c1, kernel, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, kernel, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Flatten())


class OffApexNet(SpecModule):
    """One CNN stream per flow component (u, v), concatenated, two FC layers, K logits."""

    def __init__(self, n_classes: int = 3, size: int = 28, widths=WIDTHS, kernel: int = 5, fc=FC,
                 dropout: float = 0.5):
        super().__init__()
        self.input_spec = {"flow": (2, size, size)}
        self.streams = nn.ModuleList([_stream(widths, kernel) for _ in range(2)])   # u stream, v stream
        width = 2 * widths[1] * (size // 4) ** 2
        layers: list[nn.Module] = []
        for units in fc:
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = units
        self.classifier = nn.Sequential(*layers, nn.Linear(width, n_classes))

    def forward(self, x):
        v = self._inputs(x)["flow"]
        z = torch.cat([s(v[:, i:i + 1]) for i, s in enumerate(self.streams)], dim=1)
        return self.classifier(z)


_PAPER = {"n_classes": 3, "size": 28, "fc": FC}
_DEFAULT = {"n_classes": 3, "size": 28, "fc": (256, 256)}


@register("off_apexnet", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["off_apexnet"])
def build_off_apexnet(**kw) -> OffApexNet:
    """OFF-ApexNet: onset-apex optical flow u and v, two CNN streams, two FC layers."""
    return OffApexNet(**kw)


describe("off_apexnet", pipeline="onset_apex_flow", signature=OffApexNet,
         spec=lambda a: {"flow": (2, a["size"], a["size"])})

__doc__ = append_to_doc(__doc__, "OFF-ApexNet", __name__)

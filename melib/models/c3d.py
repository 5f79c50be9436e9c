"""C3D (Talluri, Fiedler, Al-Hamadi 2022): Model-A, the Split Model, Model-B (MicroExpSTCNN), Model-C.

Input: one grey clip, ``{"clip": (T, 1, H, W)}`` batch first, values scaled to [0, 1]; T is the
apex-centred sequence length (36 CASME II, 26 SMIC, 30 combined; C3D section 5.1), H = W = 128 for Model-A,
the Split Model and Model-C, 64 for Model-B (C3D section 5.3). The models permute it to torch's
(B, C, T, H, W) themselves.

Model-B follows its official code (MicroExpSTCNN, Keras) where C3D is silent: Glorot-uniform conv kernels,
N(0, 0.05) dense kernels, SGD at Keras' default learning rate 0.01, inputs minus their mean divided by their
maximum (``input_norm="mean_max"``, fitted on each fold's training clips by ``melib.train``). Every choice
and difference is an entry of ``melib/deviations/c3d.yaml`` (appended below).

Profiles: ``paper`` — T = 36, 128×128 (64×64 for Model-B), 3 classes; ``default`` — T = 12, 30×30
(CPU study, about 6× faster than 18 × 36×36; Model-B's 15-frame kernel needs T = 18; the Split Model's three
pools need T = 27, 27×27).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..deviations import append_to_doc
from ..errors import ConfigError
from ._registry import SpecModule, register

INPUT_SPEC = {"clip": (36, 1, 128, 128)}  # C3D Table 2 (CASME II): 36 frames of 128×128, grey

_SGD = {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "loss": "cross_entropy"}
PAPER_TRAINING = {
    "c3d_model_a": {**_SGD, "batch_size": 4, "epochs": 100},        # C3D section 6.1
    "c3d_split": {**_SGD, "batch_size": 4, "epochs": 100},          # C3D section 5.2: as Model-A
    # C3D 6.2 (SGD, batch 8, 100 epochs); MicroExpSTCNN's code: optimizer='SGD' = Keras' lr 0.01, no momentum,
    # inputs minus the data's mean divided by its max
    "c3d_model_b": {**_SGD, "lr": 0.01, "momentum": 0.0, "batch_size": 8, "epochs": 100, "input_norm": "mean_max"},
    "c3d_model_c": {**_SGD, "nesterov": True, "lr_decay": 1e-6, "batch_size": 4, "epochs": 100},  # C3D 6.3
}

_PAPER = {"frames": 36, "size": 128, "n_classes": 3}
_DEFAULT = {"frames": 12, "size": 30, "n_classes": 3}


KERAS_TRUNC = 0.87962566103423978  # std of a unit normal truncated at ±2 (Keras' VarianceScaling divides by it)
# BatchNorm settings in torch's terms: Keras' BatchNormalization(momentum=0.99, epsilon=1e-3), or torch's own
BATCHNORM = {"keras": {"momentum": 0.01, "eps": 1e-3}, "torch": {"momentum": 0.1, "eps": 1e-5}}
INITS = ("he_normal", "microexpstcnn")


def he_normal_(module: nn.Module) -> None:
    """Keras HeNormal on every conv / linear kernel: a normal truncated at 2 sd, widened by 1 / 0.8796 so
    that its sd is √(2 / fan_in); zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            std = math.sqrt(2.0 / m.weight[0].numel()) / KERAS_TRUNC
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(m.bias)


def microexpstcnn_init_(module: nn.Module) -> None:
    """MicroExpSTCNN's Keras initialisers: Glorot-uniform conv kernels (Keras' default), N(0, 0.05) dense
    kernels (``init='normal'``), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.05)
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            nn.init.zeros_(m.bias)


def _flat_size(body: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return body(torch.zeros(1, *shape)).numel()


class _C3DNet(SpecModule):
    """(B, T, C, H, W) → body (on (B, C, T, H, W)) → flatten → dense 128 → dropout → dense K."""

    def __init__(self, body: nn.Module, frames: int, size: int, in_channels: int, n_classes: int,
                 dropout: float, hidden: int = 128, init: str = "he_normal"):
        super().__init__()
        self.input_spec = {"clip": (frames, in_channels, size, size)}
        self.body = body
        self.flat_features = _flat_size(body, (in_channels, frames, size, size))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flat_features, hidden), nn.ReLU(inplace=True),  # Dense-1 (C3D Table 2)
            nn.Dropout(dropout),                                           # Dropout-3
            nn.Linear(hidden, n_classes),                                  # Dense-2 (softmax in the loss)
        )
        if init not in INITS:
            raise ConfigError(f"C3D init must be one of {', '.join(INITS)}, not {init!r}")
        (he_normal_ if init == "he_normal" else microexpstcnn_init_)(self)

    def forward(self, x):
        clip = self._inputs(x)["clip"].transpose(1, 2)  # (B, C, T, H, W)
        return self.head(self.body(clip))


def _conv_block(cin: int, cout: int, dropout: float, batchnorm: str = "keras") -> list[nn.Module]:
    if batchnorm not in BATCHNORM:
        raise ConfigError(f"C3D batchnorm must be one of {', '.join(BATCHNORM)}, not {batchnorm!r}")
    # C3D Table 2 / Fig. 3: Conv3D 3×3×3 "same" (ReLU) → BatchNorm → 3D max-pool 3×3×3 → dropout
    return [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm3d(cout, **BATCHNORM[batchnorm]),
            nn.MaxPool3d(3), nn.Dropout(dropout)]


@register("c3d_model_a", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["c3d_model_a"])
def model_a(frames=36, size=128, in_channels=1, n_classes=3, filters=16, dropout=0.4, n_blocks=2,
            batchnorm="keras"):
    """C3D Model-A (Table 2): two conv blocks of 16 filters 3×3×3, dense 128, dense K.

    With the paper input 36×128×128 the flatten layer has 12,544 features (Table 2).
    """
    layers, cin = [], in_channels
    for _ in range(n_blocks):
        layers += _conv_block(cin, filters, dropout, batchnorm)
        cin = filters
    return _C3DNet(nn.Sequential(*layers), frames, size, in_channels, n_classes, dropout)


@register("c3d_split", paper=_PAPER, default={**_DEFAULT, "frames": 27, "size": 27},
          training=PAPER_TRAINING["c3d_split"])
def split_model(frames=36, size=128, in_channels=1, n_classes=3, filters=16, dropout=0.4, batchnorm="keras"):
    """C3D Split Model (section 5.2): Model-A with three conv blocks instead of two."""
    return model_a(frames, size, in_channels, n_classes, filters, dropout, n_blocks=3, batchnorm=batchnorm)


@register("c3d_model_b", paper={**_PAPER, "size": 64}, default={**_DEFAULT, "frames": 18},
          training=PAPER_TRAINING["c3d_model_b"])
def model_b(frames=36, size=64, in_channels=1, n_classes=3, filters=32, t_kernel=15, dropout=0.5,
            init="microexpstcnn"):
    """C3D Model-B = MicroExpSTCNN (section 5.3): conv 32 of 3×3×15, max-pool 3, dropout 0.5, dense 128."""
    if frames < t_kernel:
        raise ValueError(f"Model-B needs at least {t_kernel} frames (temporal kernel), got {frames}")
    body = nn.Sequential(
        nn.Conv3d(in_channels, filters, (t_kernel, 3, 3)), nn.ReLU(inplace=True),  # 3×3×15, 32 filters
        nn.MaxPool3d(3),                                                          # max-pool 3×3×3
        nn.Dropout(dropout),                                                      # dropout 0.5
    )
    return _C3DNet(body, frames, size, in_channels, n_classes, dropout, init=init)


@register("c3d_model_c", paper=_PAPER, default=_DEFAULT, training=PAPER_TRAINING["c3d_model_c"])
def model_c(frames=36, size=128, in_channels=1, n_classes=3, filters=32, dropout=0.5, batchnorm="keras"):
    """C3D Model-C (section 5.4, with the paper's assumptions): two blocks conv 32 3×3×3 + BN + max-pool 3,
    dropout 0.5, dense 128."""
    layers = _conv_block(in_channels, filters, dropout, batchnorm) + _conv_block(filters, filters, dropout, batchnorm)
    return _C3DNet(nn.Sequential(*layers), frames, size, in_channels, n_classes, dropout)


__doc__ = append_to_doc(__doc__, "C3D", __name__)

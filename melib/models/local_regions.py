"""LocalRegions (Aouayeb et al. 2021): six facial ROI streams, a shallow Inception-like CNN per region (Eq. 2)
trained on region-specific labels (Table 1), then a per-region LSTM (Eq. 6), concatenation and FC 256 → FC K
(Eq. 7).

Two stages, two registered models:

- ``localregions_cnn`` (stage 1): one region's CNN on single frames, ``{region: (C, H, W)}`` → logits over
  the region's classes (:func:`region_classes`: the clip classes the region expresses + "no_reaction").
  Trained per region with the focal loss (Eq. 5, the trainer's).
- ``localregions`` (stage 2): ``{region: (T, C, H, W)}`` for the six regions → logits (B, K). It holds the six
  stage-1 CNNs (frozen by default: their FCL_20 outputs are the saved spatial features SF of Eq. 2) and
  :meth:`LocalRegionsNet.load_stage1` copies trained stage-1 weights in.

Region sizes (LocalRegions section 3.1), as (H, W): left / right eye + eyebrow 80×100, nose 80×120,
right / left cheek 60×60, mouth 60×160. RGB crops scaled to [0, 1] (CASME II is RGB; grey clips are
repeated over three channels).

Clips shorter than N frames arrive zero-padded at the end (section 3.3: "pad with zeros all the input
sequences to the same length N"); the LSTMs see zero features SF at those steps (``pad_features="zeros"``;
``"cnn"`` passes the black padding frames through the CNNs instead). "Whole face" ablation (Table 5):
``regions=("face",)``; "classic CNN" (Table 6): ``cnn="classic"``. Every choice where LocalRegions is silent
and every difference from it is an entry of ``melib/deviations/local_regions.yaml`` (appended below).

Profiles: ``paper`` (sizes above, 16 frames, 3 MEGC2019 classes); ``default`` — region sizes quartered
(20×25, 20×30, 15×15, 15×40, face 32×32), 6 frames, LSTM 16 units.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..deviations import append_to_doc
from ..errors import ConfigError
from ._registry import SpecModule, register

REGIONS = ("eye_left", "eye_right", "nose", "cheek_right", "cheek_left", "mouth")   # LocalRegions 3.1
REGION_SIZES = {"eye_left": (80, 100), "eye_right": (80, 100), "nose": (80, 120),    # (H, W), section 3.1
                "cheek_right": (60, 60), "cheek_left": (60, 60), "mouth": (60, 160), "face": (128, 128)}
INPUT_SPEC = {r: (16, 3, *REGION_SIZES[r]) for r in REGIONS}
NO_REACTION = "no_reaction"
MEGC_CLASSES = ("negative", "positive", "surprise")
PAD_FEATURES = ("zeros", "cnn")

# LocalRegions Table 1: the regions in which each emotion shows (eyes/cheeks: both sides).
_T1 = {  # emotion: (eyes and eyebrows, nose, cheeks, mouth)
    "happiness": (False, False, True, True),
    "disgust": (True, True, False, True),
    "surprise": (True, False, False, True),
    "repression": (False, False, False, True),
    "sadness": (True, False, False, False),
    "contempt": (False, False, False, True),
}
_NEGATIVE = tuple(any(_T1[e][i] for e in ("disgust", "repression", "sadness", "contempt")) for i in range(4))
_ALIASES = {"positive": _T1["happiness"], "negative": _NEGATIVE, "anger": _NEGATIVE, "fear": _NEGATIVE,
            "others": (True,) * 4, "other": (True,) * 4,
            "I": _T1["happiness"], "II": _T1["surprise"], "III": _NEGATIVE, "IV": _T1["disgust"],
            "V": _T1["sadness"], "VI": _NEGATIVE, "VII": (True,) * 4}
_COLUMN = {"eye_left": 0, "eye_right": 0, "nose": 1, "cheek_right": 2, "cheek_left": 2, "mouth": 3}

PAPER_TRAINING = {
    "localregions_cnn": {"loss": "focal", "focal_alpha": 0.5, "focal_gamma": 2.0, "protocol": "LOSO",
                         "note": "LocalRegions Table 7 (focal loss alpha 1/2, gamma 2); optimiser, lr, "
                                 "batch and epochs not given"},
    "localregions": {"loss": "focal", "focal_alpha": 0.5, "focal_gamma": 2.0, "protocol": "LOSO",
                     "stages": 2, "note": "stage 2 trains the LSTMs and classifier on stage-1 CNN features"},
}


def reacts(label: str, region: str) -> bool:
    """LocalRegions Table 1: does clip class ``label`` show in ``region``?"""
    if region == "face":
        return True
    if region not in _COLUMN:
        raise ConfigError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)} or 'face'")
    row = _T1.get(str(label).lower(), _ALIASES.get(str(label), _ALIASES.get(str(label).lower())))
    if row is None:
        raise ConfigError(f"class {label!r} has no region mapping (LocalRegions Table 1)")
    return row[_COLUMN[region]]


def region_label(label: str, region: str) -> str:
    """The region-specific label (LocalRegions Table 1): the clip's class or "no_reaction"."""
    return label if reacts(label, region) else NO_REACTION


def region_classes(classes: Sequence[str], region: str) -> list[str]:
    """The class order of ``region``'s stage-1 CNN: the clip classes it expresses, then "no_reaction" if
    some class does not show there."""
    kept = [c for c in classes if reacts(c, region)]
    return kept + ([NO_REACTION] if len(kept) < len(classes) else [])


def region_targets(y, classes: Sequence[str], region: str):
    """Clip-class indices ``y`` (array or tensor) → indices into :func:`region_classes`."""
    rc = region_classes(classes, region)
    lut = [rc.index(region_label(c, region)) for c in classes]
    if torch.is_tensor(y):
        return torch.as_tensor(lut, device=y.device)[y]
    return np.asarray(lut)[np.asarray(y)]


class RegionCNN(SpecModule):
    """LocalRegions Eq. 2 on one frame of one region: A = MP(Conv₈³(MP(Conv₄⁵))),
    B = GAP(⊕ MP(Conv₁₆ⁱ(A)), i ∈ {0, 1, 3, 5, 7}), SF = FCL₂₀(FCL₂₅₀(FCL₁₀₂₄(B))), out = FCL_k(r)(SF)."""

    def __init__(self, region: str = "mouth", n_classes: int = 2, size: tuple[int, int] | None = None,
                 in_channels: int = 3, cnn: str = "inception", fc=(1024, 250, 20), dropout: float = 0.5):
        super().__init__()
        size = tuple(size or REGION_SIZES[region])
        self.region = region
        self.input_spec = {region: (in_channels, *size)}
        if cnn == "inception":
            self.a = nn.Sequential(
                nn.Conv2d(in_channels, 4, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # MP(Conv₄⁵)
                nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))            # MP(Conv₈³(·))
            self.b = nn.ModuleList([nn.MaxPool2d(2)] + [                                         # i = 0: identity
                nn.Sequential(nn.Conv2d(8, 16, k, padding=k // 2), nn.ReLU(inplace=True), nn.MaxPool2d(2))
                for k in (1, 3, 5, 7)])                                                         # Conv₁₆ⁱ
            n_feat = 8 + 16 * 4                                                                 # ⊕ then GAP
        elif cnn == "classic":
            layers, cin = [], in_channels
            for w in (16, 32, 64):
                layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
                cin = w
            self.a, self.b = nn.Sequential(*layers, nn.Flatten()), None
            with torch.no_grad():
                n_feat = self.a(torch.zeros(1, in_channels, *size)).shape[1]
        else:
            raise ConfigError(f"cnn must be 'inception' or 'classic', not {cnn!r}")
        f1, f2, f3 = fc
        self.fc = nn.Sequential(
            nn.Linear(n_feat, f1), nn.ReLU(inplace=True), nn.Dropout(dropout),   # FCL_1024
            nn.Linear(f1, f2), nn.ReLU(inplace=True), nn.Dropout(dropout),       # FCL_250
            nn.Linear(f2, f3), nn.ReLU(inplace=True))                            # FCL_20 → SF_j(r)
        self.out = nn.Linear(f3, n_classes)                                      # FCL_k(r) (softmax in loss)
        self.feature_dim = f3

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """SF_j(r) of Eq. 2 for a batch of frames (N, C, H, W) → (N, 20)."""
        a = self.a(frames)
        if self.b is not None:
            a = torch.cat([m(a) for m in self.b], dim=1).mean(dim=(2, 3))         # ⊕ MP(·), then GAP
        return self.fc(a)

    def forward(self, x):
        return self.out(self.features(self._inputs(x)[self.region]))


class LocalRegionsNet(SpecModule):
    """LocalRegions stage 2: per-region CNN features → LSTM_r (Eq. 6, LeakyReLU, dropout 0.2) → ⊕ →
    FCL_256 (LeakyReLU, dropout 0.5) → FCL_K (Eq. 7)."""

    def __init__(self, classes: Sequence[str] = MEGC_CLASSES, frames: int = 16,
                 regions: Sequence[str] = REGIONS, sizes: Mapping[str, tuple[int, int]] | None = None,
                 in_channels: int = 3, cnn: str = "inception", lstm_units: int = 32, freeze_cnn: bool = True,
                 n_classes: int | None = None, pad_features: str = "zeros"):
        super().__init__()
        if pad_features not in PAD_FEATURES:
            raise ConfigError(f"pad_features must be one of {PAD_FEATURES}, not {pad_features!r}")
        self.pad_features = pad_features
        classes = list(classes)
        if n_classes is not None and n_classes != len(classes):
            raise ConfigError(f"n_classes={n_classes} but classes={classes}; pass classes=[...] of that length")
        sizes = {**REGION_SIZES, **(sizes or {})}
        self.classes, self.regions, self.freeze_cnn = classes, tuple(regions), freeze_cnn
        self.input_spec = {r: (frames, in_channels, *sizes[r]) for r in self.regions}
        self.cnns = nn.ModuleDict({r: RegionCNN(r, len(region_classes(classes, r)), sizes[r], in_channels, cnn)
                                   for r in self.regions})
        self.lstms = nn.ModuleDict({r: nn.LSTM(self.cnns[r].feature_dim, lstm_units, batch_first=True)
                                    for r in self.regions})                              # LSTM_r, Eq. 6
        self.post = nn.Sequential(nn.LeakyReLU(), nn.Dropout(0.2))                     # section 3.3
        self.classifier = nn.Sequential(
            nn.Linear(lstm_units * len(self.regions), 256), nn.LeakyReLU(), nn.Dropout(0.5),  # FCL_256
            nn.Linear(256, len(classes)))                                                # FCL_K (Eq. 7)
        if freeze_cnn:
            self.cnns.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_cnn:
            self.cnns.eval()   # frozen stage-1 features: no dropout
        return self

    def load_stage1(self, trained: Mapping[str, nn.Module | Mapping[str, torch.Tensor]]) -> None:
        """Copy trained stage-1 ``localregions_cnn`` weights (modules or state dicts) into the region CNNs."""
        for r, m in trained.items():
            if r not in self.cnns:
                raise ConfigError(f"region {r!r} is not in this model's regions {self.regions}")
            self.cnns[r].load_state_dict(m.state_dict() if isinstance(m, nn.Module) else m)

    def forward(self, x):
        xs = self._inputs(x)
        real = padding_mask(xs) if self.pad_features == "zeros" else None
        stf = []
        for r in self.regions:
            v = xs[r]
            b, t = v.shape[:2]
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_cnn):
                sf = self.cnns[r].features(v.flatten(0, 1)).reshape(b, t, -1)            # SF_1(r) … SF_N(r)
            if real is not None:
                sf = sf * real[..., None]                                               # section 3.3: zero SF
            stf.append(self.post(self.lstms[r](sf)[0][:, -1]))                          # STF_r
        return self.classifier(torch.cat(stf, dim=1))                                   # Eq. 7


def padding_mask(xs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, T) float: 1 for a clip's frames, 0 for the zero frames that pad it at the end (frames after its last
    frame with a non-zero value in any region)."""
    nonzero = torch.stack([v.flatten(2).abs().amax(dim=2) > 0 for v in xs.values()]).any(dim=0)   # (B, T)
    return (nonzero.flip(1).cumsum(1).flip(1) > 0).float()


_DEFAULT_SIZES = {r: (h // 4, w // 4) for r, (h, w) in REGION_SIZES.items()}


@register("localregions_cnn", paper={"region": "mouth"}, default={"region": "mouth", "profile_sizes": "default"},
          training=PAPER_TRAINING["localregions_cnn"])
def build_region_cnn(region: str = "mouth", classes: Sequence[str] = MEGC_CLASSES, n_classes: int | None = None,
                     size=None, profile_sizes: str = "paper", **kw) -> RegionCNN:
    """Stage 1 of LocalRegions: one region's CNN (Eq. 2); ``n_classes`` defaults to len(region_classes(...))."""
    if size is None:
        size = (_DEFAULT_SIZES if profile_sizes == "default" else REGION_SIZES)[region]
    k = n_classes if n_classes is not None else len(region_classes(classes, region))
    return RegionCNN(region, k, size, **kw)


@register("localregions", paper={"frames": 16}, default={"frames": 6, "sizes": _DEFAULT_SIZES, "lstm_units": 16},
          training=PAPER_TRAINING["localregions"])
def build_local_regions(**kw) -> LocalRegionsNet:
    """Stage 2 of LocalRegions (``regions=("face",)``: whole-face ablation; ``cnn="classic"``: Table 6)."""
    return LocalRegionsNet(**kw)


__doc__ = append_to_doc(__doc__, "LocalRegions", __name__)

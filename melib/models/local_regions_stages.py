"""LocalRegions trained in its two stages inside one fit (``localregions_2stage``).

:class:`TwoStageLocalRegions` is :class:`~melib.models.local_regions.LocalRegionsNet` whose
``training_stages()`` chain stage ``cnn`` (the six region CNNs on single frames with their region-specific
labels, LocalRegions Table 1, and the focal loss of Eq. 5) and stage ``lstm`` (those CNNs frozen, the
per-region LSTMs and the classifier trained on their FCL_20 features, Eqs. 6-7). Both stages see the same
fold's training clips only (``melib.train.fit`` runs them in order). ``LocalRegionsNet.load_stage1`` does
the same hand-over for CNNs trained elsewhere.

Choices (LocalRegions is silent; the book lists them): stage 1 trains the six region CNNs together (one
optimiser, one loss over every region's frames), each keeping its own output layer and classes; the zero
frames that pad a clip to N frames (section 3.3) carry no label in stage 1; every real frame of a clip gets
the clip's region label (onset to offset).
"""
from __future__ import annotations

import torch

from ._registry import REGISTRY, Stage, register
from .local_regions import PAPER_TRAINING, LocalRegionsNet, region_classes, region_targets

PAD_LOGIT = -1e4  # logits of classes a region does not have (stage 1 pads every region to the same width)


class TwoStageLocalRegions(LocalRegionsNet):
    """LocalRegionsNet whose ``training_stages`` chain stage 1 (region CNNs on frames, region labels) and
    stage 2 (LSTMs and classifier on the frozen stage-1 CNNs) inside one ``melib.train.fit``."""

    def n_stage1_classes(self) -> int:
        return max(len(region_classes(self.classes, r)) for r in self.regions)

    def _stage1_params(self, model):
        # LocalRegions 3.2: the region CNNs learn first; their output layers FCL_k(r) only exist for this stage
        self.freeze_cnn = False
        self.cnns.requires_grad_(True)
        return list(self.cnns.parameters())

    def _stage2_params(self, model):
        # LocalRegions 3.3: the CNNs are frozen, their FCL_20 outputs are the features SF of Eq. 2
        self.freeze_cnn = True
        self.cnns.requires_grad_(False)
        return [p for n, p in self.named_parameters() if not n.startswith("cnns.")]

    def stage1_logits(self, model, x) -> torch.Tensor:
        """(B, R * T, K1): every region's per-frame logits, padded to the widest region's classes."""
        xs = self._inputs(x)
        k1 = self.n_stage1_classes()
        out = []
        for r in self.regions:
            v = xs[r]
            b, t = v.shape[:2]
            logits = self.cnns[r](v.flatten(0, 1)).reshape(b, t, -1)
            if logits.shape[-1] < k1:
                pad = logits.new_full((b, t, k1 - logits.shape[-1]), PAD_LOGIT)
                logits = torch.cat([logits, pad], dim=-1)
            out.append(logits)
        return torch.cat(out, dim=1)

    def stage1_targets(self, x, y: torch.Tensor) -> torch.Tensor:
        """(B, R * T): each frame's region label (LocalRegions Table 1); -1 (ignored) on zero padding frames."""
        xs = self._inputs(x)
        out = []
        for r in self.regions:
            v = xs[r]
            t = region_targets(y, self.classes, r)[:, None].expand(-1, v.shape[1])
            real = v.flatten(2).abs().amax(dim=2) > 0
            out.append(torch.where(real, t, torch.full_like(t, -1)))
        return torch.cat(out, dim=1)

    def training_stages(self) -> list[Stage]:
        return [Stage("cnn", params=self._stage1_params, forward=self.stage1_logits,
                      target=self.stage1_targets, n_classes=self.n_stage1_classes()),
                Stage("lstm", params=self._stage2_params)]


_STAGE2 = REGISTRY["localregions"]


@register("localregions_2stage", paper=_STAGE2.profiles["paper"], default=_STAGE2.profiles["default"],
          training=PAPER_TRAINING["localregions"])
def build_two_stage(**kw) -> TwoStageLocalRegions:
    """LocalRegions with both stages trained in one fit (the ``localregions`` profiles and arguments)."""
    return TwoStageLocalRegions(**kw)

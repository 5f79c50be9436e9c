"""The five papers' models in plain torch, behind a timm-like registry.

>>> import torch
>>> from melib import models
>>> net = models.build("c3d_model_a", profile="default", n_classes=3)
>>> net.input_spec                      # what the preprocessing must produce: (T, C, H, W), no batch axis
{'clip': (12, 1, 30, 30)}
>>> net(torch.rand(2, *net.input_spec["clip"])).shape    # logits (B, K)
torch.Size([2, 3])

``input_spec(name, profile, **kwargs)`` gives the same spec from the registry's data, without building a
network, and ``pipeline_of(name)`` the input pipeline that feeds the model (:mod:`.specs`).

``build(name, profile="paper", **kwargs)``: ``profile="paper"`` (the default) gives the paper's settings,
``profile="default"`` a small CPU profile (narrower, smaller inputs) so the CPU study runs in minutes;
explicit keyword arguments override either. ``names()`` lists the registered models,
``paper_training(name)`` the optimiser / schedule the paper states (for the trainer's config),
``profile_kwargs(name, profile)`` what a profile sets, ``example_input(model, batch)`` random inputs of the
shapes ``model.input_spec`` asks for. Every model's ``forward`` takes a tensor or a dict
of tensors (batch first) and returns logits (B, K); softmax is left to the loss.

Families: :mod:`.dlhn` (DLHN), :mod:`.psn` (PSN), :mod:`.c3d` (C3D), :mod:`.cropnet` (CropNet),
:mod:`.local_regions` (LocalRegions; :mod:`.local_regions_stages` trains its two stages in one fit);
:mod:`.ststnet` (STSTNet) and :mod:`.off_apexnet` (OFF-ApexNet), the MEGC2019 composite's standards, declare
their input spec where they register; :mod:`.baselines` holds the LBP + SVM pipelines (scikit-learn).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ._registry import (REGISTRY, SpecModule, Stage, entry, example_input, input_spec, n_params, pipeline_of,
                        profile_kwargs)
from . import (c3d, cropnet, dlhn, local_regions, local_regions_stages, off_apexnet, psn, specs,  # noqa: F401
               ststnet)  # (registration)

__all__ = ["build", "names", "paper_training", "profile_kwargs", "input_spec", "pipeline_of", "example_input",
           "n_params", "SpecModule", "Stage"]


def build(name: str, profile: str = "paper", **kwargs: Any) -> nn.Module:
    """Build registered model ``name`` with ``profile`` ('paper' | 'default') and overrides ``kwargs``."""
    params = profile_kwargs(name, profile)
    params.update(kwargs)
    model = entry(name).factory(**params)
    model.registry_name = name
    model.build_kwargs = {"profile": profile, **kwargs}
    return model


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(REGISTRY)


def paper_training(name: str) -> dict[str, Any]:
    """The training settings the paper states for model ``name`` (optimiser, lr, batch, epochs, loss ...)."""
    return dict(entry(name).paper_training)

"""The model registry and the helpers every model family shares.

A model family registers a factory under a name with two keyword profiles:
``paper`` (the settings the paper states, the default of :func:`melib.models.build`) and
``default`` (a small CPU profile that shrinks width and input size so the whole CPU study runs in
minutes). Explicit keyword arguments override the profile.

Each entry also holds, as data, what the model eats (:func:`describe`, filled in by :mod:`melib.models.specs`):
the input pipeline that feeds it and its input spec as a function of its keyword arguments, so that
:func:`input_spec` answers without building a network.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

PROFILES = ("paper", "default")


@dataclass
class Entry:
    factory: Callable[..., nn.Module]
    profiles: dict[str, dict[str, Any]]
    paper_training: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    pipeline: str | None = None  # melib.preprocess.pipelines name of the input pipeline that feeds it
    spec: Callable[[dict], dict] | None = None  # keyword arguments (defaults bound) -> input spec
    signature: Callable | None = None  # the callable whose defaults complete the keyword arguments


REGISTRY: Registry = Registry("model")


def register(name: str, *, paper: Mapping[str, Any] | None = None, default: Mapping[str, Any] | None = None,
             training: Mapping[str, Any] | None = None, doc: str = ""):
    """Register ``factory`` under ``name`` with its ``paper`` and ``default`` keyword profiles."""

    def deco(factory):
        REGISTRY.add(name, Entry(factory, {"paper": dict(paper or {}), "default": dict(default or {})},
                                 dict(training or {}), doc or (factory.__doc__ or "").strip().split("\n")[0]))
        return factory

    return deco


def entry(name: str) -> Entry:
    return REGISTRY.entry(name)


def describe(name: str, *, pipeline: str, spec: Callable[[dict], dict], signature: Callable | None = None) -> None:
    """Record what model ``name`` eats: its input ``pipeline`` and ``spec(kwargs) -> {input: shape}``, where
    ``kwargs`` are the build arguments completed by the defaults of ``signature`` (default its factory)."""
    e = entry(name)
    e.pipeline, e.spec, e.signature = pipeline, spec, signature or e.factory


def defaults(fn: Callable) -> dict[str, Any]:
    """The keyword defaults of ``fn``'s signature."""
    return {k: v.default for k, v in inspect.signature(fn).parameters.items()
            if v.default is not inspect.Parameter.empty}


def input_spec(name: str, profile: str = "paper", **kwargs) -> dict[str, tuple[int, ...]]:
    """The input spec (``{input: shape without the batch axis}``) of model ``name`` built with ``profile`` and
    ``kwargs``, computed from the registry's data: no network is built. Equals ``build(...).input_spec``."""
    e = entry(name)
    if e.spec is None:
        raise ConfigError(f"model {name!r} has no input spec in the registry (melib.models.specs)")
    args = {**defaults(e.signature), **profile_kwargs(name, profile), **kwargs}
    return {k: tuple(int(v) for v in shape) for k, shape in e.spec(args).items()}


def pipeline_of(name: str) -> str:
    """The input pipeline (``melib.preprocess.pipelines``) that feeds model ``name``."""
    e = entry(name)
    if e.pipeline is None:
        raise ConfigError(f"model {name!r} names no input pipeline (melib.models.specs)")
    return e.pipeline


def profile_kwargs(name: str, profile: str = "paper") -> dict[str, Any]:
    """The keyword arguments a profile gives model ``name``."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return dict(entry(name).profiles[profile])


# ---------------------------------------------------------------------------------------------------------
# shared pieces


class SpecModule(nn.Module):
    """A model that knows the input it expects: ``input_spec`` maps each input name to its shape
    without the batch axis; ``forward`` takes a tensor (models with one input) or a dict."""

    input_spec: dict[str, tuple[int, ...]]

    def _inputs(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys = list(self.input_spec)
        if isinstance(x, Mapping):
            missing = [k for k in keys if k not in x]
            if missing:
                raise ConfigError(f"{type(self).__name__} needs inputs {keys}; missing {missing}")
            out = {k: x[k] for k in keys}
        else:
            if len(keys) != 1:
                raise ConfigError(f"{type(self).__name__} takes a dict with keys {keys}, not a tensor")
            out = {keys[0]: x}
        for k, v in out.items():
            want = self.input_spec[k]
            if v.dim() != len(want) + 1 or any(w is not None and w != s for w, s in zip(want, v.shape[1:])):
                raise ConfigError(f"{type(self).__name__} input {k!r}: expected (B, {', '.join(map(str, want))}), "
                                  f"found {tuple(v.shape)}")
        return out


@dataclass
class Stage:
    """One stage of a multi-stage training (LocalRegions: per-region CNNs, then the LSTMs and classifier).

    ``params(model)``: the parameters this stage optimises (default all); ``forward(model, x)``: the logits
    this stage's loss sees (default ``model(x)``; may be (B, R, K) with targets (B, R)); ``target(x, y)``:
    the targets (default the clip labels; negative targets are ignored); ``n_classes``: the number of target
    classes when it differs from the clip classes (for focal alpha, class weights and scores);
    ``config``: TrainConfig changes.
    A model may define ``training_stages() -> list[Stage]``; ``melib.train.fit`` then runs them in order.
    """
    name: str
    params: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None
    forward: Callable[[nn.Module, Any], torch.Tensor] | None = None
    target: Callable[[Any, torch.Tensor], torch.Tensor] | None = None
    n_classes: int | None = None
    config: dict = field(default_factory=dict)


def example_input(model: SpecModule, batch: int = 1, seed: int = 0,
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor] | torch.Tensor:
    """Random inputs (uniform in [0, 1)) of the shapes ``model.input_spec`` asks for."""
    g = generator or torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    xs = {k: torch.rand((batch, *shape), generator=g).to(dev) for k, shape in model.input_spec.items()}
    return next(iter(xs.values())) if len(xs) == 1 else xs


def n_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def first_key(spec: Mapping[str, Any]) -> str:
    return next(iter(spec))

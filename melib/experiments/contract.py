"""The chapter contract: what every chapter of the book declares, and the trainings it plans.

Each chapter module of :mod:`melib.experiments` ends with ``CHAPTER = Chapter(...)``:

- ``name`` and ``notebook`` (``notebooks/<notebook>.ipynb``), ``paper`` (a ``melib.published`` paper, or None
  for a chapter across papers);
- ``schemes`` / ``scheme`` and ``protocols`` / ``protocol``: the label schemes and evaluation protocols the
  ``scheme`` and ``protocol`` parameters may name, and the chapter's own (None: each of the chapter's
  settings keeps its paper's, e.g. CropNet's Tables 2 and 4 on ``cropnet5`` and Table 3 on ``megc2019``);
- ``parameters``: the study parameters (``melib.params.PARAMETERS``, ``show_real_frames``) it honours;
  :meth:`Chapter.setup` refuses any other that is set, and any value it cannot honour, with a ConfigError
  naming the parameter, the chapter and what it accepts;
- ``pipelines``: the input pipelines it runs (``frame_size`` must suit each);
- ``plans``: a plan per profile (smoke / default / paper), a dict of the chapter's switches on top of
  :data:`PLAN_KEYS` (folds, max_folds, epochs, batch_size); the ``plan`` parameter (or keyword arguments of
  ``run``) changes it, e.g. ``{"max_folds": 2, "epochs": 1}`` cuts the paper profile down for a smoke test
  (:meth:`Chapter.settings`);
- ``plan(p, samples) -> list[TrainingSpec]``: every training the chapter will run, enumerated without
  running anything (a dry run counts their clip-steps: :func:`clip_steps`; a scheduler can spread them);
  ``data(p, name) -> samples``: the clips of a planned training whose ``data`` names a set of the chapter's
  own (None: the chapter has none);
- ``run(p, samples, **changes) -> result``: executes the plan (``melib.experiments.common.execute``) and
  gathers the result;
- ``tables`` and ``figures``: name -> function of the result; ``headline(result)``: the paper's headline
  rows (:data:`melib.records.HEADLINE_COLUMNS`, scheme and protocol included), or None;
- ``summary(result)``: the box that opens the chapter's results (protocol, scheme, clips, folds, scores).
  A model chapter's "does this recipe learn?" panel goes beside it (``learns``, None until written).

``tests/test_contract.py`` walks every chapter (:func:`melib.experiments.chapters`) and checks all of this.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import config
from ..display import install as install_display
from ..errors import ConfigError
from ..params import PARAMETERS, Params, integer, setup as setup_params
from ..preprocess import registry as pipelines

PROFILES = ("smoke", "default", "paper")
# The study parameters a model chapter honours (all of melib.params.PARAMETERS).
MODEL_PARAMETERS = ("profile", "data", "dataset", "scheme", "protocol", "epochs", "frame_size", "seed", "device",
                    "plan")
# Plan keys every chapter understands (None: what the protocol, the profile or the paper says).
PLAN_KEYS = {"folds": None,       # k of the k-fold protocols
             "max_folds": None,   # LOSO over more subjects than this runs as that many subject-disjoint folds
             "epochs": None,      # epochs per training (per stage), unless the notebook set ``epochs``
             "batch_size": None}  # the trainer's batch size


@dataclass(frozen=True)
class TrainingSpec:
    """One training a chapter's plan asks for, fully described before anything runs.

    ``key``: the chapter's key of it (unique in a plan); ``name``: its run-record name; ``model``: a
    registered model (``melib.models``) or a baseline estimator (``melib.models.baselines.ESTIMATORS``);
    ``pipeline`` / ``pipeline_params``: the input pipeline and its parameters (``inputs``: the pipeline
    outputs the model eats, None: all); ``protocol`` / ``protocol_params`` on the clips labelled by
    ``scheme``; ``model_params``: build arguments on top of the model profile (estimator arguments for a
    baseline); ``config``: trainer changes (``melib.train.TrainConfig``); ``data``: which clips (None: the
    chapter's samples; otherwise a name the chapter resolves, e.g. a known-answer amplitude).
    Counted from the clips: ``n_clips`` evaluated, ``n_folds``, ``train_clips`` (summed over folds),
    ``epochs`` per stage (None: no epochs, an SVM), ``stages``, and ``input_spec`` (the model's input size).
    """
    key: tuple
    name: str
    model: str
    pipeline: str
    pipeline_params: Mapping[str, Any]
    protocol: str
    protocol_params: Mapping[str, Any]
    scheme: str
    model_params: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] | None = None
    data: str | None = None
    n_clips: int = 0
    n_folds: int = 0
    train_clips: int = 0
    epochs: int | None = None
    stages: int = 1
    input_spec: Mapping[str, tuple] = field(default_factory=dict)

    def clip_steps(self) -> int:
        """Clips passed forward and backward in training: epochs x stages x training clips over all folds."""
        return (self.epochs or 0) * self.stages * self.train_clips


def clip_steps(specs) -> pd.DataFrame:
    """One row per planned training: chapter key, model, protocol, folds, clips, epochs and clip-steps."""
    return pd.DataFrame([{"key": " / ".join(map(str, s.key)), "model": s.model, "scheme": s.scheme,
                          "protocol": s.protocol, "n_folds": s.n_folds, "n_clips": s.n_clips,
                          "train_clips": s.train_clips, "epochs": s.epochs, "stages": s.stages,
                          "clip_steps": s.clip_steps()} for s in specs])


@dataclass(frozen=True)
class Chapter:
    """A chapter's declarations (see the module docstring)."""
    name: str
    notebook: str
    paper: str | None
    schemes: tuple[str, ...]
    scheme: str | None
    protocols: tuple[str, ...]
    protocol: str | None
    parameters: tuple[str, ...]
    plans: Mapping[str, Mapping[str, Any]]
    plan: Callable[[Params, pd.DataFrame], list[TrainingSpec]]
    run: Callable[..., Any]
    pipelines: tuple[str, ...] = ()
    tables: Mapping[str, Callable] = field(default_factory=dict)
    figures: Mapping[str, Callable] = field(default_factory=dict)
    headline: Callable[[Any], pd.DataFrame] | None = None
    summary: Callable[[Any], pd.DataFrame] | None = None
    learns: Callable[[Params], pd.DataFrame] | None = None
    data: Callable[[Params, str], pd.DataFrame] | None = None

    def _refuse(self, parameter: str, value, accepts: str) -> ConfigError:
        return ConfigError(f"chapter {self.notebook} ({self.name}) cannot use {parameter}={value!r}; "
                           f"it accepts {accepts}")

    def setup(self, profile: str = "smoke", show_real_frames: bool = False, *, runs_here: bool = True,
              **given) -> Params:
        """The notebook's parameters resolved (``melib.params.setup``) with the chapter's scheme and protocol
        as defaults, after :meth:`check`: a parameter the chapter would not honour is refused, and so is a
        device this machine lacks unless ``runs_here=False`` (a plan priced for another machine). In a notebook,
        tables are then shown as the book shows them (``melib.display.install``)."""
        install_display()
        for k, v in {**given, "show_real_frames": show_real_frames or None}.items():
            if v is not None and k not in self.parameters:
                if k not in (*PARAMETERS, "show_real_frames"):
                    raise ConfigError(f"unknown study parameter {k!r}; the parameters are {', '.join(PARAMETERS)}")
                raise self._refuse(k, v, "none: it does not use it (its parameters: "
                                         f"{', '.join(self.parameters)})")
        defaults = {k: v for k, v in (("scheme", self.scheme), ("protocol", self.protocol)) if v is not None}
        p = setup_params(profile, defaults=defaults, **given)
        if runs_here:
            config.check_available(p.device)
        self.check(p)
        return p

    def check(self, p: Params) -> None:
        """Refuse parameters ``p`` the chapter cannot honour (see :meth:`setup`)."""
        own = {"scheme": self.scheme, "protocol": self.protocol}
        for key, allowed in (("scheme", self.schemes), ("protocol", self.protocols)):
            value = getattr(p, key)
            if value is not None and value not in allowed:
                default = own[key] or "each setting's own (the paper's)"
                raise self._refuse(key, value, f"{', '.join(allowed) or 'none'} (None: {default})")
        for name in self.pipelines:
            try:
                pipelines.face_params(name, p.frame_size)
            except ConfigError as e:
                raise self._refuse("frame_size", p.frame_size, f"None (each paper's face size): {e}") from None
        self.settings(p)

    def settings(self, p: Params, **changes) -> dict:
        """The plan for ``p.profile``: :data:`PLAN_KEYS`, the profile's plan, the ``plan`` parameter, then
        ``changes`` (None: unchanged); a key the chapter does not have is refused."""
        if p.profile not in self.plans:
            raise self._refuse("profile", p.profile, ", ".join(self.plans))
        out = {**PLAN_KEYS, **self.plans[p.profile]}
        for source, given in (("plan", p.plan), ("run", {k: v for k, v in changes.items() if v is not None})):
            unknown = sorted(set(given) - set(out))
            if unknown:
                raise self._refuse(source, {k: given[k] for k in unknown}, f"the keys {', '.join(out)}")
            out.update(self.plan_values(given, source))
        return out

    def plan_values(self, given: Mapping, source: str = "plan") -> dict:
        """``given`` plan changes with the counts checked and made ints: a key of :data:`PLAN_KEYS`, or one
        whose value in the chapter's plans is an int, takes an integer >= 1 (or None); other keys as given."""
        counts = set(PLAN_KEYS) | {k for plan in self.plans.values() for k, v in plan.items()
                                   if isinstance(v, int) and not isinstance(v, bool)}
        return {k: integer(f"{source}[{k!r}]", v, 1) if k in counts and v is not None else v
                for k, v in given.items()}

    def trainer(self, p: Params, settings: Mapping, **base) -> dict:
        """Trainer changes: ``base``, then the plan's ``batch_size`` and ``epochs`` when it has them (the
        plan's epochs only when the notebook did not set ``epochs``: then ``p.epochs`` applies)."""
        out = dict(base)
        if settings.get("batch_size"):
            out["batch_size"] = int(settings["batch_size"])
        if settings.get("epochs") is not None and "epochs" not in p.given:
            out["epochs"] = int(settings["epochs"])
        return out

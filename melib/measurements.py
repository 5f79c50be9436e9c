"""melib's registered measurements (``melib.ledger``): the stored numbers the book, the README, the deviations
and the tests state.

- ``known_answer_seeds``: a paper model's (or a composite standard's) known-answer run under one study seed
  (``melib.experiments.known_answer.seed_run``; view ``melib/data/known_answer_seeds.csv``).
- ``recipe_checks``: a paper's recipe at its data scale on the known answer
  (``melib.experiments.recipe_checks.check``; view
  ``melib/data/recipe_checks.csv``).
- ``deviation_effect``: a deviation's effect on the known answer, one model with changes on top of its
  known-answer settings (``melib.deviations.measure.effect``).

Each names the code it reaches through a registry (:func:`model_code`: the model's factory and input spec,
its pipeline's functions), which the code hash cannot follow by itself.
"""
from __future__ import annotations

from . import ledger, models, recipes
from .deviations.measure import effect
from .experiments import known_answer as ka
from .experiments import recipe_checks as rc
from .experiments.common import BASELINES, amplitude_samples, labelled, method_spec
from .experiments.contract import TrainingSpec
from .models import baselines as estimators
from .models._registry import entry
from .preprocess import registry as pipelines


def model_code(method: str) -> list:
    """The functions a method runs that its name selects: the model's factory, input spec and signature, and
    its pipeline's per-clip function, ``from_spec`` and ``prepare`` (a baseline: its estimator and pipeline)."""
    if method in BASELINES:
        return [estimators.ESTIMATORS["lbp_svm"], pipelines.entry("lbp").fn]
    model = "localregions_2stage" if method == "localregions" else method
    e = entry(model)
    pl = pipelines.entry(models.pipeline_of(model))
    return [f for f in (e.factory, e.spec, e.signature, pl.fn, pl.from_spec, pl.prepare) if f is not None]


def _recorded(name: str) -> list[dict]:
    return [r["params"] for r in ledger.records(name)]


def _synth(params: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


# ---- known-answer seeds ----------------------------------------------------------------------------------

SEED_SWEEP = (0, 1, 2)


def _ka_set(p: dict):
    return labelled(amplitude_samples(p["amplitude"], seed=0, **ka.KA_SYNTH), ka.SCHEME)


def _seed_plan(p: dict) -> list[TrainingSpec]:
    from .params import setup

    s = setup("default", seed=p["seed"])
    kw = ka.settings(s, p["method"])
    return [method_spec(s, _ka_set(p), p["method"], ka.PROTOCOL, dict(ka.PROTOCOL_PARAMS), kw.pop("inputs", None),
                        **kw)]


ledger.register(ledger.Measurement(
    name="known_answer_seeds", fn=ka.seed_run, data=_ka_set,
    defaults={"method": "psn", "amplitude": 3.0, "seed": 0},
    units=lambda: [{"method": m, "amplitude": a, "seed": s} for s in SEED_SWEEP
                   for m in (*ka.PAPER_MODELS, *ka.COMPOSITE_MODELS) for a in (3.0, 0.0)]
    + _recorded("known_answer_seeds"),
    code=lambda p: model_code(p["method"]), plan=_seed_plan,
    seeds=lambda p: {"study": p["seed"], "synth": 0, "folds": ka.PROTOCOL_PARAMS["seed"]},
    view=ledger.View(ka.SEEDS_FILE, ka.SEED_COLUMNS, ledger.flat,
                     ("method", "amplitude", "seed", "device")),
    doc="a paper model's known-answer run (default profile, known-answer settings) under one study seed"))


# ---- recipe checks ------------------------------------------------------------------------------------------

def _recipe_set(p: dict):
    return rc.samples(recipes.recipe(p["paper"], p["recipe"]), p["amplitude"])


def _recipe_code(p: dict) -> list:
    r = recipes.recipe(p["paper"], p["recipe"])
    return [f for part in r.parts for f in model_code(part.model)] + \
        (model_code(r.pipeline_of) if r.pipeline_of else [])


def _recipe_plan(p: dict) -> list[TrainingSpec]:
    r = recipes.recipe(p["paper"], p["recipe"])
    return rc.specs(rc.setup(p["sizes"], p["device"], p["seed"]), r, _recipe_set(p), p["amplitude"], p["folds"])


def _own_recipes() -> list[dict]:
    """Each paper's own recipe at amplitudes 3 and 0 (DLHN on the first of its folds: 1500 epochs a fold)."""
    return [{"paper": n, "recipe": "paper", "amplitude": a, "folds": 1 if n == "DLHN" else 3}
            for n in recipes.MAIN for a in rc.AMPLITUDES]


ledger.register(ledger.Measurement(
    name="recipe_checks", fn=rc.check, data=_recipe_set,
    defaults={"paper": "C3D", "recipe": "paper", "amplitude": 3.0, "sizes": "default", "device": "cpu", "seed": 0,
              "folds": 3},
    units=lambda: _own_recipes() + _recorded("recipe_checks"), code=_recipe_code, plan=_recipe_plan,
    seeds=lambda p: {"study": p["seed"], "synth": rc.SYNTH_SEED},
    view=ledger.View(recipes.CHECKS_FILE, recipes.CHECK_COLUMNS, ledger.flat,
                     ("paper", "scale", "recipe", "sizes", "amplitude")),
    doc="a paper's recipe at its data scale on the known answer (melib.experiments.recipe_checks)"))


# ---- deviation effects ---------------------------------------------------------------------------------------

def _deviation_set(p: dict):
    return labelled(amplitude_samples(p["amplitude"], seed=0, **_synth(p["synth"])), ka.SCHEME)


ledger.register(ledger.Measurement(
    name="deviation_effect", fn=effect, data=_deviation_set,
    defaults={"method": "psn", "amplitude": 3.0, "seed": 0, "model": {}, "inputs": {}, "config": {},
              "paper_trainer": False, "synth": dict(ka.KA_SYNTH)},
    units=lambda: _recorded("deviation_effect"), code=lambda p: model_code(p["method"]),
    seeds=lambda p: {"study": p["seed"], "synth": 0, "folds": ka.PROTOCOL_PARAMS["seed"]},
    doc="a deviation's effect on the known answer (python -m melib.deviations.measure)"))

"""Measure the papers' own recipes (``melib.recipes``) on the known answer, each at its paper's data scale.

    python -m melib.experiments.recipe_checks plan                        # trainings and clip-steps, nothing run
    python -m melib.experiments.recipe_checks measure --paper C3D --amplitudes 3 0
    python -m melib.experiments.recipe_checks measure --paper DLHN --recipe "paper + lr /10 (HCRNN)"
    python -m melib.experiments.recipe_checks measure --sizes paper --device cuda   # a GPU: the papers' sizes
    python -m melib.ledger run recipe_checks                              # every recorded check again

Each (recipe, amplitude) trains under :data:`PROTOCOL` (3 stratified subject-disjoint folds, the study seed)
on the synthetic set of the recipe's data scale at that amplitude (``melib.recipes.SCALES``, small frames,
seed 0; generated on first use under ``<home>/data``), with the model profile ``sizes`` (``default``: the
CPU profile's widths and inputs; ``paper``: the papers'), and is scored by its pooled UAR beside the 99 %
permutation null band of its own predictions (``common.chance_band``: labels permuted within each subject).
Each (recipe, amplitude, sizes, device, seed, folds) is one unit of the ledger's ``recipe_checks`` measurement
(:func:`check`; ``melib.ledger``: a record with the commit of a clean tree, the code and data hashes, the machine
and the command; ``melib/data/recipe_checks.csv`` is its CSV view, ``melib.recipes.CHECK_COLUMNS``).
:func:`plan` lists the trainings with their clip-steps (``contract.clip_steps``) before anything runs.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from .. import ledger, params, recipes
from ..errors import ConfigError
from ..models import input_spec
from .common import amplitude_samples, execute, fuse, labelled, model_pipeline, scored, shared_inputs, training
from .contract import clip_steps

PROTOCOL = ("group_kfold", {"n_splits": 3, "stratify": True})
# ``folds=1``: only the first of those folds (``group_holdout``); DLHN's 1500 epochs at its data scale take
# hours per fold on the shared 2-core CPU, so its checks ran on one subject-disjoint split.
ONE_SPLIT = ("group_holdout", {"n_splits": 3, "stratify": True})
AMPLITUDES = (3.0, 0.0)
SYNTH_SEED = 0  # the sets; the study seed (``--seed``) shuffles the folds and initialises the models
KEY = ("paper", "recipe", "scale", "amplitude", "sizes", "device", "protocol")


def setup(sizes: str = "default", device: str = "cpu", seed: int = 0) -> params.Params:
    """The study parameters a check runs under: the profile of its model sizes, the device and seed."""
    if sizes not in ("default", "paper"):
        raise ConfigError(f"sizes must be 'default' (the CPU profile) or 'paper', not {sizes!r}")
    return params.setup(sizes, device=device, seed=seed)


def samples(r: recipes.Recipe, amplitude: float, progress: bool = False) -> pd.DataFrame:
    """The clips of ``r``'s data scale at ``amplitude``, labelled by its scheme."""
    return labelled(amplitude_samples(amplitude, seed=SYNTH_SEED, progress=progress,
                                      **recipes.scale_params(r.scale)), r.scheme)


def protocol(folds: int = 3) -> tuple[str, dict]:
    """:data:`PROTOCOL` (``folds=3``) or its first fold alone (``folds=1``: :data:`ONE_SPLIT`)."""
    if folds not in (1, 3):
        raise ConfigError(f"folds must be 3 (three subject-disjoint folds) or 1 (the first of them), not {folds!r}")
    return PROTOCOL if folds == 3 else ONE_SPLIT


def specs(p: params.Params, r: recipes.Recipe, lab: pd.DataFrame, amplitude: float, folds: int = 3) -> list:
    """One TrainingSpec per part of ``r`` on labelled ``lab``: the part's trainer (the paper's epochs, one
    thread), its non-size build arguments at ``p``'s model profile, its inputs on top of the pipeline's, under
    :func:`protocol` (``folds``)."""
    name, params_ = protocol(folds)
    protocol_, pp = name, {**params_, "seed": p.seed}
    k = int(lab["label"].nunique())
    out = []
    for part in r.parts:
        classes_as = "classes" if part.model == "localregions_2stage" else "n_classes"
        mp = dict(part.model_params)
        inputs, shared = None, {}
        if r.pipeline_of:  # one pipeline call feeds every part (DLHN: the ROI clips and E)
            _, shared = model_pipeline(r.pipeline_of, p.model_profile, n_classes=k)
            inputs = tuple(input_spec(part.model, p.model_profile, n_classes=k, **mp))
        out.append(training(p, (r.paper, r.name, part.name, amplitude), part.model, lab, protocol_, pp,
                            name=f"recipe_{part.model}", model_params=mp, config={"threads": 1, **part.trainer},
                            pipeline_params={**shared, **shared_inputs(p, part.model), **part.inputs},
                            inputs=inputs, data=f"{r.scale}, amplitude {amplitude:g}", classes_as=classes_as))
    return out


def plan(papers=None, names=("paper",), amplitudes=AMPLITUDES, sizes: str = "default", seed: int = 0,
         progress: bool = False, folds: int = 3) -> pd.DataFrame:
    """Every training :func:`measure` would run, with its clip-steps (the sets are generated, nothing trained)."""
    p = setup(sizes, "cpu", seed)
    rows = []
    for paper_name in papers or recipes.MAIN:
        for name in names:
            r = recipes.recipe(paper_name, name)
            for a in amplitudes:
                t = clip_steps(specs(p, r, samples(r, a, progress), a, folds))
                rows.append(t.assign(paper=paper_name, recipe=r.name, scale=r.scale, amplitude=a))
    return pd.concat(rows, ignore_index=True)


def run(p: params.Params, r: recipes.Recipe, lab: pd.DataFrame, amplitude: float, progress: bool = False,
        folds: int = 3):
    """Train every part of ``r`` (sharing their inputs) and fuse them when the recipe says so; returns
    (evaluation, total clip-steps, the specs, each part's evaluation)."""
    memo: dict = {}
    ss = specs(p, r, lab, amplitude, folds)
    runs = [execute(p, s, lab, progress, memo) for s in ss]
    ev = runs[0].evaluation if r.fusion is None else fuse(runs[0].evaluation, runs[1].evaluation, r.fusion)  # DLHN Eq. 8
    return ev, sum(s.clip_steps() for s in ss), ss, [run.evaluation for run in runs]


def last_loss(ev) -> float | None:
    """The training loss at the last epoch of the last stage, mean over folds (None without curves)."""
    ends = [list(r["curves"].values())[-1]["train_loss"][-1] for r in ev.records
            if r.get("curves") and list(r["curves"].values())[-1].get("train_loss")]
    return round(sum(ends) / len(ends), 3) if ends else None


def check_row(p, r: recipes.Recipe, amplitude: float, ev, steps: int, ss, parts) -> dict:
    """What a check measured (``melib.recipes.CHECK_COLUMNS`` but where, when and how, which its ledger record
    holds): ``ev`` the recipe's evaluation, ``parts`` each part's; ``seconds``: their folds' training time."""
    pred = ev.predictions()
    return {"changes": "; ".join(r.changes), "scale": r.scale, "scheme": r.scheme,
            "n_subjects": int(pred["subject"].nunique()), **scored(ev), "uf1": round(float(ev.pooled["uf1"]), 4),
            "train_loss": "/".join(str(last_loss(e)) for e in parts),
            "protocol": (f"{ss[0].protocol}(k={ss[0].protocol_params['n_splits']}, stratified)" if ss[0].n_folds > 1
                         else f"{ss[0].protocol}(fold 1 of {ss[0].protocol_params['n_splits']}, stratified)"),
            "subject_overlap": float(ev.leakage()["leakage_max"]), "epochs": "/".join(str(s.epochs) for s in ss),
            "clip_steps": int(steps), "seconds": round(sum(f.get("wall_s") or 0 for e in parts for f in e.records))}


def check(lab: pd.DataFrame, paper: str, recipe: str, amplitude: float, sizes: str = "default",
          device: str = "cpu", seed: int = 0, folds: int = 3, progress: bool = False) -> dict:
    """One check (the ledger's ``recipe_checks`` unit): recipe ``recipe`` of ``paper`` on its labelled clips
    ``lab`` at ``amplitude`` (:func:`samples`), under :func:`setup` and :func:`protocol` (``folds``)."""
    p = setup(sizes, device, seed)
    r = recipes.recipe(paper, recipe)
    ev, steps, ss, parts = run(p, r, lab, amplitude, progress, folds)
    return check_row(p, r, amplitude, ev, steps, ss, parts)


def measure(papers=None, names=("paper",), amplitudes=AMPLITUDES, sizes: str = "default", device: str = "cpu",
            seed: int = 0, folds: int = 3, force: bool = False) -> pd.DataFrame:
    """Run :func:`check` through the ledger for every (paper, recipe name, amplitude), each recorded as soon
    as it is measured; units with a current record are not run again (``force``: they are)."""
    recipes.check_models()
    rows = []
    for paper_name in papers or recipes.MAIN:
        for name in names:
            for a in amplitudes:
                u = {"paper": paper_name, "recipe": name, "amplitude": float(a), "sizes": sizes, "device": device,
                     "seed": seed, "folds": folds}
                rec = ledger.run("recipe_checks", u, force=force)
                rows.append({**rec["params"], **rec["result"]})
                print(f"{paper_name} | {name} | amplitude {a:g}: UAR {rec['result']['uar']:.3f}, null band "
                      f"[{rec['result']['null_low']:.3f}, {rec['result']['null_high']:.3f}]", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m melib.experiments.recipe_checks", description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("plan", "measure", "show"))
    ap.add_argument("--paper", nargs="*", default=None, choices=list(recipes.MAIN))
    ap.add_argument("--recipe", nargs="*", default=["paper"], help='"paper" or "paper + <change> + ..."')
    ap.add_argument("--amplitudes", nargs="*", type=float, default=list(AMPLITUDES))
    ap.add_argument("--sizes", default="default", choices=("default", "paper"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=3, choices=(1, 3), help="3 subject-disjoint folds, or the first alone")
    ap.add_argument("--force", action="store_true", help="run again what has a current ledger record")
    a = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    if a.what == "show":
        print(recipes.verdict(recipes.checks()).to_string())
    elif a.what == "plan":
        t = plan(a.paper, a.recipe, a.amplitudes, a.sizes, a.seed, folds=a.folds)
        print(t.to_string(), f"\nclip-steps in all: {t['clip_steps'].sum():,}", sep="\n")
    else:
        measure(a.paper, a.recipe, a.amplitudes, a.sizes, a.device, a.seed, folds=a.folds, force=a.force)


if __name__ == "__main__":
    sys.exit(main())

"""Measure a deviation's effect on the known answer: one model, one variant, UAR at amplitudes 3 and 0.

``python -m melib.deviations.measure psn --model tp_unit=1`` trains ``psn`` on the known-answer sets
(``melib.experiments.known_answer``: ``KA_SYNTH``, MEGC2019 labels, 3 subject-disjoint folds) under study seed
``--seed`` with the model's known-answer settings (``known_answer.settings``) and the given changes on top
(``--model`` model keywords, ``--inputs`` pipeline keywords, ``--config`` trainer keywords; values are JSON,
else strings), and prints one JSON line per amplitude: pooled UAR, the 99 % permutation null band, the most
frequent prediction and whether the run collapsed onto one class. ``--paper-trainer`` drops the known-answer
trainer changes of ``known_answer.CONFIG`` (the model's own ``paper_config`` with 30 epochs and class weights).
Each amplitude is one unit of the ledger's ``deviation_effect`` measurement (``melib.ledger``: refused on a
tree with uncommitted changes; recorded with its commit, code and data hashes, machine and command; its runs
have run records of their own, so a code change is always measured afresh); a unit with a current record is
printed, not run again, unless ``--force``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .. import ledger


def effect(samples: pd.DataFrame, method: str, amplitude: float, seed: int = 0, model: dict | None = None,
           inputs: dict | None = None, config: dict | None = None, paper_trainer: bool = False,
           synth: dict | None = None) -> dict:
    """Scores (``common.scored``) of ``method`` on the labelled known-answer clips ``samples`` (the set of
    ``amplitude``, generated with ``synth``) under study ``seed``, with its known-answer settings and the
    changes given (the ledger's ``deviation_effect`` unit)."""
    from ..experiments import known_answer as ka
    from ..experiments.common import execute, method_spec, scored
    from ..params import setup

    p = setup("default", seed=int(seed))
    kw = ka.settings(p, method)
    if paper_trainer:
        kw = {k: v for k, v in kw.items() if k not in ka.CONFIG.get(method, {})}
    pipeline = {**(kw.pop("inputs", None) or {}), **(inputs or {})}
    spec = method_spec(p, samples, method, ka.PROTOCOL, dict(ka.PROTOCOL_PARAMS), pipeline,
                       model_params=model or None, **{**kw, **(config or {})})
    return scored(execute(p, spec, samples).evaluation)


def main(argv=None, root: str | Path | None = None, allow_dirty: bool = False) -> list[dict]:
    """The command line; ``root`` and ``allow_dirty`` (``melib.ledger.run``) are for tests only."""
    ap = argparse.ArgumentParser(prog="python -m melib.deviations.measure", description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("--amplitudes", type=float, nargs="+", default=[3.0, 0.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", nargs="*", help="model keywords KEY=VALUE")
    ap.add_argument("--inputs", nargs="*", help="pipeline keywords KEY=VALUE")
    ap.add_argument("--config", nargs="*", help="trainer keywords KEY=VALUE")
    ap.add_argument("--synth", type=json.loads, default=None, help="the sets' generator parameters (JSON)")
    ap.add_argument("--paper-trainer", action="store_true")
    ap.add_argument("--force", action="store_true", help="run again what has a current ledger record")
    a = ap.parse_args(argv)
    out = []
    for amp in a.amplitudes:
        unit = {"method": a.method, "amplitude": amp, "seed": a.seed, "model": ledger.parse_pairs(a.model),
                "inputs": ledger.parse_pairs(a.inputs), "config": ledger.parse_pairs(a.config),
                "paper_trainer": a.paper_trainer, **({"synth": a.synth} if a.synth is not None else {})}
        rec = ledger.run("deviation_effect", unit, root=root, force=a.force, allow_dirty=allow_dirty)
        out.append(rec)
        print(json.dumps({**{k: rec["params"][k] for k in ("method", "amplitude", "seed")}, **rec["result"],
                          "record": ledger.label(rec, ledger.state(rec, rec["code_hash"]))}), flush=True)
    return out


if __name__ == "__main__":
    from ..errors import MelibError

    try:
        main()
    except MelibError as e:
        sys.exit(f"melib.deviations.measure: {e}")

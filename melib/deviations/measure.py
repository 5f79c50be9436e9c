"""Measure a deviation's effect on the known answer: one model, one variant, UAR at amplitudes 3 and 0.

``python -m melib.deviations.measure psn --model tp_unit=1`` trains ``psn`` on the known-answer sets
(``melib.experiments.known_answer``: ``KA_SYNTH``, MEGC2019 labels, 3 subject-disjoint folds, seed 0) with the
model's known-answer settings (``known_answer.settings``) and the given changes on top (``--model`` model
keywords, ``--inputs`` pipeline keywords, ``--config`` trainer keywords; values are JSON, else strings), and
prints one JSON line per amplitude: pooled UAR and the 99 % permutation null band. ``--paper-trainer``
drops the known-answer trainer changes of ``known_answer.CONFIG`` (the model's own ``paper_config`` with 30
epochs and class weights). Use a private ``MELIB_HOME``; run records are keyed by the settings, not by the
code, so measure a code change with a fresh ``MELIB_RUNS``.
"""
from __future__ import annotations

import argparse
import json
import sys


def _pairs(items) -> dict:
    out = {}
    for item in items or ():
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def effect(method: str, amplitude: float, model: dict | None = None, inputs: dict | None = None,
           paper_trainer: bool = False, **config) -> dict:
    """Pooled UAR and null band of ``method`` on the known-answer set of ``amplitude`` with the changes given."""
    from melib import study
    from melib.experiments import evaluate_model, labelled
    from melib.experiments import known_answer as ka

    p = study.setup("default")
    samples = labelled(ka.amplitude_samples(amplitude, seed=0, **ka.KA_SYNTH), ka.SCHEME)
    kw = ka.settings(p, method)
    if paper_trainer:
        kw = {k: v for k, v in kw.items() if k not in ka.CONFIG.get(method, {})}
    pipeline = {**(kw.pop("inputs", None) or {}), **(inputs or {})}
    kw.update(config)
    kw.setdefault("threads", 1)
    pp = dict(ka.PROTOCOL_PARAMS)
    if method == "localregions":
        from melib.experiments.local_regions import run

        ev = run(p, samples, model_changes=model, protocol=ka.PROTOCOL, protocol_params=pp, inputs=pipeline,
                 **kw).evaluation
    else:
        mk = {"n_classes": int(samples["label"].nunique()), **(model or {})}
        ev = evaluate_model(p, samples, method, protocol=ka.PROTOCOL, protocol_params=pp, model_kwargs=mk,
                            pipeline_kwargs={**ka.pipeline_kwargs(p, method), **pipeline}, progress=False,
                            **kw).evaluation
    lo, hi = ka.chance_band(ev)
    return {"method": method, "amplitude": float(amplitude), "uar": round(ev.pooled["uar"], 3),
            "band": [round(lo, 3), round(hi, 3)], "n": int(ev.pooled["n"]), "model": model or {},
            "inputs": inputs or {}, "config": config, "paper_trainer": paper_trainer}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m melib.deviations.measure", description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("--amplitudes", type=float, nargs="+", default=[3.0, 0.0])
    ap.add_argument("--model", nargs="*", help="model keywords KEY=VALUE")
    ap.add_argument("--inputs", nargs="*", help="pipeline keywords KEY=VALUE")
    ap.add_argument("--config", nargs="*", help="trainer keywords KEY=VALUE")
    ap.add_argument("--paper-trainer", action="store_true")
    a = ap.parse_args(argv)
    for amp in a.amplitudes:
        row = effect(a.method, amp, _pairs(a.model), _pairs(a.inputs), a.paper_trainer, **_pairs(a.config))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())

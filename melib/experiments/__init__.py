"""Each paper's experiments: samples -> labels -> inputs -> protocol -> trainer -> records -> tables.

One module per chapter of the book (``dlhn``, ``psn``, ``c3d``, ``cropnet``, ``local_regions``, ``baselines``,
``protocol_comparison``, ``known_answer``); each builds on :func:`evaluate_model`, the one way a model is run here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .. import labels as label_schemes
from .. import published, report, train
from ..records import HEADLINE_COLUMNS
from ..errors import DataError
from ..preprocess import pipelines


@dataclass
class Run:
    """A model's evaluation under one protocol, with what was left out on the way."""
    model: str
    protocol: str
    evaluation: train.Evaluation
    samples: pd.DataFrame
    exclusions: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {"model": self.model, "protocol": self.protocol, **self.evaluation.summary(),
                "excluded": len(self.exclusions)}


def confusion_beside(evaluation: train.Evaluation, published_cm: pd.DataFrame,
                     provenance: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this study's pooled confusion counts, a published matrix), rows true and columns predicted, in the
    published class order (then any class it lacks); each carries ``attrs["provenance"]``."""
    labels = list(evaluation.labels)
    cm = pd.DataFrame(evaluation.pooled["confusion"], index=labels, columns=labels)
    order = [c for c in published_cm.index if c in labels] + [c for c in labels if c not in published_cm.index]
    cm = cm.reindex(index=order, columns=order)
    cm.index.name, cm.columns.name = "true", "predicted"
    cm.attrs["provenance"] = provenance
    return cm, published_cm


def labelled(samples: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """The clips that ``scheme`` gives a label, with the scheme recorded in ``attrs``."""
    df = samples if "label" in samples.columns and samples.attrs.get("scheme") == scheme \
        else label_schemes.assign(samples, scheme)
    kept = df[df["label"].notna()]
    kept.attrs = dict(df.attrs)
    if not len(kept):
        raise DataError(None, f"clips that label scheme {scheme!r} keeps",
                        "none; choose another scheme or dataset")
    return kept


def model_inputs(p, samples: pd.DataFrame, model: str, model_kwargs: dict | None = None,
                 pipeline_kwargs: dict | None = None, progress: bool = True):
    """The arrays ``model`` (built with the profile ``p.model_profile``) eats, for every clip of ``samples``.

    Returns ``(inputs, kept_samples, exclusions)``; a clip whose preprocessing fails is an exclusion.
    """
    params = pipelines.model_params(model, p.model_profile, **(model_kwargs or {}))
    paper = params.pop("paper")
    params.update(pipeline_kwargs or {})
    X, kept, exclusions = pipelines.build_inputs(samples, paper, progress=progress, **params)
    kept_samples = samples.loc[kept]
    kept_samples.attrs = dict(samples.attrs)
    return X, kept_samples, exclusions


def evaluate_model(p, samples: pd.DataFrame, model: str, *, protocol: str | None = None,
                   protocol_params: dict | None = None, model_kwargs: dict | None = None,
                   pipeline_kwargs: dict | None = None, name: str | None = None, progress: bool = True,
                   **config_changes) -> Run:
    """Train and test registered ``model`` on labelled ``samples`` under ``protocol`` (default ``p.protocol``).

    The study parameters ``p`` (:func:`melib.study.setup`) give the model profile, epochs, seed and device;
    ``config_changes`` override the trainer configuration (:func:`melib.study.train_config`). Run records
    are cached, so a second call reads them instead of training.
    """
    from .. import study

    protocol = protocol or p.protocol
    X, kept, exclusions = model_inputs(p, samples, model, model_kwargs, pipeline_kwargs, progress)
    if not len(kept):
        raise DataError(None, f"clips that {model}'s preprocessing accepts",
                        f"none of {len(samples)} ({len(exclusions)} exclusions)")
    cfg = study.train_config(p, model, **{"progress": progress, **config_changes})
    ev = train.evaluate(model, X, kept, protocol, protocol_params=protocol_params, config=cfg,
                        model_params={"profile": p.model_profile, **(model_kwargs or {})},
                        name=name or model, progress=progress)
    return Run(name or model, protocol, ev, kept, exclusions)


def headline_row(paper: str, table: str, method: str, run: Run, metric: str, value: float,
                 setting: str | None = None, samples: pd.DataFrame | None = None) -> dict:
    """One headline number of ``paper`` scored by ``run`` (:data:`melib.records.HEADLINE_COLUMNS`): the
    dataset key of its test clips, its protocol, the leakage audit's maximum as subject overlap (0: subject
    disjoint), and the provenance of ``samples`` (default: the run's clips)."""
    from .c3d import protocol_name

    ev = run.evaluation
    return {"paper": paper, "table": table, "method": method,
            "dataset": published.dataset_key(*ev.predictions()["dataset"].unique()), "setting": setting,
            "metric": metric, "value": float(value), "protocol": protocol_name(run),
            "subject_overlap": ev.leakage()["leakage_max"], "n_clips": int(ev.pooled["n"]),
            "provenance": report.provenance_label(run.samples if samples is None else samples)}


def headline_frame(paper: str, rows: list[dict]) -> pd.DataFrame:
    """A paper's headline rows as a table (``attrs["paper"]`` names the paper even when there is no row)."""
    out = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    out.attrs["paper"] = paper
    return out

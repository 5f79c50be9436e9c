"""The results overview (50): each paper's headline numbers beside this study's, read from the headline
rows the model chapters kept under the same parameters (``melib.params.headline_tag``: its parameters
select which runs are shown, so it takes the chapters' parameters but the device). Nothing is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import labels, protocols, report
from ..params import headline_tag, kept_headlines
from .contract import Chapter

PLANS = {"smoke": {}, "default": {}, "paper": {}}


@dataclass
class Result:
    """The overview table (``melib.report.results_overview``) and the tag it was read under."""
    table: pd.DataFrame
    tag: str

    def summary(self) -> pd.DataFrame:
        return report.overview_table(self.table)


def plan(p, samples: pd.DataFrame | None = None, **changes) -> list:
    """Nothing to train."""
    CHAPTER.settings(p, **changes)
    return []


def run(p, samples: pd.DataFrame | None = None, **changes) -> Result:
    plan(p, samples, **changes)
    return Result(report.results_overview(kept_headlines(p)), headline_tag(p))


CHAPTER = Chapter(
    name="overview", notebook="50_results_overview", paper=None, schemes=tuple(labels.schemes()), scheme=None,
    protocols=protocols.names(), protocol=None,
    parameters=("profile", "data", "dataset", "scheme", "protocol", "epochs", "frame_size", "seed", "plan"),
    plans=PLANS, plan=plan, run=run, tables={"overview": Result.summary},
    figures={"overview": lambda r: report.overview_figure(r.table)}, summary=Result.summary)

"""The preprocessing chapter (01): one clip followed through every paper's steps (faces and regions, the
temporal windows, RPCA, residual images and flow, CGPO, the temporal perception of PSN).

``result = preprocessing.run(p, samples)`` picks the clip (``melib.frames.example_clip``) and runs RPCA
on it on the study's device (:func:`rpca_example`); the notebook draws the rest from ``melib.preprocess``.
Nothing is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..frames import example_clip, frames_allowed
from ..params import face_size
from ..preprocess import face, rpca, temporal
from ..preprocess.registry import torch_device
from .contract import Chapter

PLANS = {"smoke": {}, "default": {}, "paper": {}}


def rpca_example(p, row: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(D, A, E, info): RPCA of the clip's grey PSN face resampled to DLHN's 16 frames, run on ``p.device``
    (frames as the columns of D, DLHN 3.2.1)."""
    grey = face.face_track(row, size=face_size(p, "psn"), gray=True)["frames"]
    D = temporal.resample(grey, temporal.DLHN_FRAMES).astype("float64") / 255
    A, E, info = rpca.rpca_frames(torch.from_numpy(D).to(torch_device(p.device)))
    return D, A.cpu().numpy(), E.cpu().numpy(), info


@dataclass
class Result:
    """The clip the chapter follows, and whether its frames may be drawn."""
    row: pd.Series
    show: bool

    def summary(self) -> pd.DataFrame:
        cols = ["dataset", "subject", "clip", "onset", "apex", "offset", "n_frames", "aus", "emotion", "synthetic"]
        return self.row[cols].to_frame("the clip")


def plan(p, samples: pd.DataFrame, **changes) -> list:
    """Nothing to train."""
    CHAPTER.settings(p, **changes)
    return []


def run(p, samples: pd.DataFrame, *, show_real_frames: bool = False, **changes) -> Result:
    plan(p, samples, **changes)
    row = example_clip(samples, show_real_frames)
    return Result(row, frames_allowed(row, show_real_frames))


CHAPTER = Chapter(
    name="preprocessing", notebook="01_preprocessing", paper=None, schemes=(), scheme=None, protocols=(),
    protocol=None, parameters=("profile", "data", "dataset", "device", "show_real_frames"), plans=PLANS, plan=plan,
    run=run, figures={"RPCA": rpca_example}, summary=Result.summary)

"""Handcrafted baselines: LBP-TOP + SVM and LBP-SIP + SVM as scikit-learn pipelines.

They are the handcrafted rows of DLHN Table 6 (LBP-TOP 2×2 / 4×4, LBP-SIP 2×2 / 4×4 blocks, "+SVM") and of
PSN Table 5 / Table 7 (LBP-SIP 7×7). ``lbp_svm(kind)`` takes precomputed feature vectors (one row per clip)
by default; ``from_clips=True`` prepends a step that computes them per clip with
:func:`melib.preprocess.lbp.lbp_top` / :func:`~melib.preprocess.lbp.lbp_sip` (grey clips (T, H, W)).

Choices the papers leave open (listed as deviations in the book): a linear-kernel SVC with C = 1 on
standardised features (zero mean, unit variance per bin), one-vs-one multi-class (scikit-learn's SVC);
the LBP radii / points are the MEGC2019 baseline's defaults of :mod:`melib.preprocess.lbp`.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from ..errors import ConfigError

KINDS = ("top", "sip")
# the block grids the papers report
PAPER_BLOCKS = {"dlhn": {"LBP1": ("top", (2, 2)), "LBP2": ("top", (4, 4)), "LBP3": ("sip", (2, 2)),
                         "LBP4": ("sip", (4, 4))},   # DLHN Table 6 caption
                "psn": {"LBP-SIP": ("sip", (7, 7))}}  # PSN Table 7 ("LBP-SIP 7×7")


def _features(clips, kind: str, **lbp_params) -> np.ndarray:
    from ..preprocess import lbp

    fn = lbp.lbp_top if kind == "top" else lbp.lbp_sip
    return np.stack([fn(np.asarray(c), **lbp_params) for c in clips])


def lbp_features(kind: str = "top", **lbp_params) -> FunctionTransformer:
    """A transformer mapping a sequence of grey clips (T, H, W) to their LBP-TOP / LBP-SIP rows."""
    if kind not in KINDS:
        raise ConfigError(f"unknown LBP kind {kind!r}; choose one of {', '.join(KINDS)}")
    return FunctionTransformer(partial(_features, kind=kind, **lbp_params), validate=False)


def lbp_svm(kind: str = "top", *, from_clips: bool = False, C: float = 1.0, kernel: str = "linear",
            class_weight: str | dict | None = None, **params: Any) -> Pipeline:
    """LBP-TOP / LBP-SIP + SVM (DLHN Table 6, PSN Table 5) as ``Pipeline([(lbp,) scaler, svc])``.

    ``params`` go to :class:`sklearn.svm.SVC` when they are SVC parameters (``gamma``, ``degree`` ...), else
    to the LBP function (``blocks``, ``radii``, ``points``; only with ``from_clips=True``).
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown LBP kind {kind!r}; choose one of {', '.join(KINDS)}")
    svc_keys = set(SVC().get_params())
    svc_params = {k: v for k, v in params.items() if k in svc_keys}
    lbp_params = {k: v for k, v in params.items() if k not in svc_keys}
    if lbp_params and not from_clips:
        raise ConfigError(f"LBP parameters {sorted(lbp_params)} need from_clips=True (features are precomputed)")
    steps = [("lbp", lbp_features(kind, **lbp_params))] if from_clips else []
    steps += [("scale", StandardScaler()),
              ("svm", SVC(C=C, kernel=kernel, class_weight=class_weight, **svc_params))]
    return Pipeline(steps)


# Baseline estimators by name (a chapter's TrainingSpec names one as its model): name -> factory(**kwargs).
ESTIMATORS = {"lbp_svm": lbp_svm}

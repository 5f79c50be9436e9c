"""Where things live: dataset roots, the synthetic default, the cache and the run records.

Dataset roots are found, in this order, from an environment variable ``MELIB_DATA_<NAME>``
(e.g. ``MELIB_DATA_CASME2``), then from a YAML config file (``$MELIB_CONFIG``, else ``./melib.yaml``)
with a ``data:`` mapping of dataset name to path.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import ConfigError

DATASETS = ("casme", "casme2", "casme_sq", "samm", "smic", "synth")


def home() -> Path:
    """The project folder holding data/, .cache/ and runs/ (``$MELIB_HOME``, else the working directory)."""
    return Path(os.environ.get("MELIB_HOME", ".")).resolve()


def synth_root() -> Path:
    return Path(os.environ.get("MELIB_DATA_SYNTH", home() / "data" / "synth"))


def cache_dir() -> Path:
    return Path(os.environ.get("MELIB_CACHE", home() / ".cache" / "melib"))


def runs_dir() -> Path:
    return Path(os.environ.get("MELIB_RUNS", home() / "runs"))


def config_file() -> Path:
    return Path(os.environ.get("MELIB_CONFIG", home() / "melib.yaml"))


def data_root(name: str) -> Path | None:
    """The configured root of dataset ``name``, or None when the user has not pointed melib at it."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "synth":
        return synth_root()
    env = os.environ.get(f"MELIB_DATA_{name.upper()}")
    if env:
        return Path(env)
    cfg = config_file()
    if cfg.exists():
        data = (yaml.safe_load(cfg.read_text()) or {}).get("data") or {}
        if data.get(name):
            return Path(data[name]).expanduser()
    return None


LANDMARK_SOURCES = ("dlib", "ground_truth")


def landmarks(source: str | None = None) -> str:
    """Where the face stage takes landmarks from: ``source``, else ``$MELIB_LANDMARKS``, else ``dlib``
    (``ground_truth``: melib's synthetic sets only, see :mod:`melib.preprocess.face`)."""
    value = source if source is not None else (os.environ.get("MELIB_LANDMARKS") or "dlib")
    if value not in LANDMARK_SOURCES:
        what = "landmarks" if source is not None else "MELIB_LANDMARKS"
        raise ConfigError(f"{what}={value!r}; choose one of {', '.join(LANDMARK_SOURCES)}")
    return value


def key_settings() -> tuple:
    """Settings from the environment that change what cached steps compute, for their cache keys; empty at
    the defaults, so that keys made without them stay valid."""
    source = landmarks()
    return () if source == "dlib" else (("landmarks", source),)

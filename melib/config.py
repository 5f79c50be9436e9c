"""Where things live: dataset roots, the synthetic default, the cache and the run records.

Dataset roots are found, in this order, from an environment variable ``MELIB_DATA_<NAME>``
(e.g. ``MELIB_DATA_CASME2``), then from a YAML config file (``$MELIB_CONFIG``, else ``./melib.yaml``)
with a ``data:`` mapping of dataset name to path.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .errors import ConfigError

# Package data: one YAML per dataset (layout, annotation files, clip counts, where to request it) and the
# official MEGC2019 composite list; shipped inside the wheel.
MANIFESTS = Path(__file__).resolve().parent / "manifests"

def dataset_names() -> tuple[str, ...]:
    """The dataset names: the discovered loaders and ``synth`` (``melib.datasets.NAMES``; imported here, when
    asked, since melib.datasets reads this module)."""
    from .datasets import NAMES
    return NAMES


def __getattr__(name: str):
    if name == "DATASETS":  # the hand-kept list this once was, now derived
        return dataset_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _config_data(cfg: Path) -> dict:
    """The ``data:`` mapping of a config file (empty when the file or the key is absent); ConfigError naming the
    file when it is not YAML or not of that shape."""
    if not cfg.exists():
        return {}
    shape = "a YAML mapping like 'data: {casme2: /path/to/CASME2}'"
    try:
        doc = yaml.safe_load(cfg.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg}: not valid YAML ({str(exc).splitlines()[0]}); expected {shape}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{cfg}: expected {shape}, found a {type(doc).__name__}")
    data = doc.get("data") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg}: expected {shape}, found 'data' is a {type(data).__name__}")
    for name, path in data.items():
        if name not in dataset_names():
            raise ConfigError(f"{cfg}: expected {shape} naming {', '.join(dataset_names())}, found unknown dataset "
                              f"{name!r}")
        if path is not None and not isinstance(path, str):
            raise ConfigError(f"{cfg}: expected {shape}, found {path!r} (not a path) for {name}")
    return data


def data_root(name: str) -> Path | None:
    """The configured root of dataset ``name``, or None when the user has not pointed melib at it."""
    names = dataset_names()
    if name not in names:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(names)}")
    if name == "synth":
        return synth_root()
    env = os.environ.get(f"MELIB_DATA_{name.upper()}")
    if env:
        return Path(env)
    path = _config_data(config_file()).get(name)
    return Path(path).expanduser() if path else None


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


def check_device(device) -> str:
    """``device`` when torch can be asked for it (``auto``, ``cpu``, ``cuda``, ``cuda:<N>``); else ConfigError."""
    if isinstance(device, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        return device
    raise ConfigError(f"unknown device {device!r}; choose auto (CUDA when present), cpu, cuda or cuda:<N>")


def check_available(device) -> str:
    """``device`` (:func:`check_device`) when this machine has it: ``cuda`` / ``cuda:<N>`` without that CUDA
    device is a ConfigError, raised before any work rather than by torch half-way through a chapter."""
    device = check_device(device)
    if device.startswith("cuda"):
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(device.partition(":")[2] or 0) >= n:
            why = f"sees {n} CUDA device(s)" + (", built without CUDA" if torch.version.cuda is None else "")
            raise ConfigError(f"device {device!r} is not on this machine (torch {torch.__version__} {why}); use "
                              "cpu, or auto (CUDA when present)")
    return device

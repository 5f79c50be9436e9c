"""The study's parameters: profiles (smoke / default / paper), what a notebook's parameters resolve to
(:class:`Params`), the clips they point at (:func:`samples`) and the headline rows kept under them.

Profiles (:data:`PROFILES`; each field is a default that a notebook parameter overrides):

- ``smoke``: a tiny synthetic set (:data:`SMOKE_SYNTH`: 2 subjects per layout, 7 clips each, 12-16 frames of
  256x192, seed 0) generated once to ``<home>/data/synth-smoke``; 1 epoch; CPU. For tests and CI: every
  notebook runs in seconds. The notebooks' stored parameter defaults are this profile.
- ``default``: the default synthetic set (``melib.synth.generate_default``, seed 0, at
  ``melib.config.synth_root()``); :data:`DEFAULT_EPOCHS` epochs; the models' small CPU profile
  (``melib.models.build(..., profile="default")``); CPU. The book ``make study`` builds.
- ``paper``: the releases the user configured (``MELIB_DATA_<NAME>`` or ``melib.yaml``); each paper's own
  epochs and model settings (``profile="paper"``); device ``auto`` (CUDA when present).

Every profile aligns faces at each paper's own size; ``frame_size`` sets another side for the pipelines
that take one (a chapter whose pipeline fixes its size refuses it). ``data`` switches the clips under any
profile: ``"synth"`` (the profile's synthetic set; ``default``'s when the profile has none), ``"real"``
(every configured release, or those named by ``dataset``), or a folder (the root of ``dataset`` when it
names one release, else a synthetic set's root). ``plan`` changes the chapter's plan for the profile (e.g.
``{"max_folds": 2, "epochs": 1}`` to cut the paper profile down); which keys a chapter takes, and which
parameters, is the chapter's (``melib.experiments``): it refuses the rest.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .errors import ConfigError, DataError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PACKAGE_ROOT / "notebooks"
PARAMETERS = ("profile", "data", "dataset", "scheme", "protocol", "epochs", "frame_size", "seed", "device", "plan")
SMOKE_SYNTH = {"subjects": 2, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
DEFAULT_EPOCHS = 8
SYNTH_SEED = 0


@dataclass(frozen=True)
class Profile:
    name: str
    data: str  # "synth" | "real"
    synth: dict | None  # melib.synth.generate_default parameters; None: no synthetic set of its own
    synth_dir: str | None  # folder under <home>/data; None: melib.config.synth_root()
    epochs: int | None  # None: each paper's own (melib.train.paper_config)
    seed: int
    device: str
    model_profile: str  # melib.models.build(..., profile=)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "synth", dict(SMOKE_SYNTH), "synth-smoke", 1, 0, "cpu", "default"),
    "default": Profile("default", "synth", {}, None, DEFAULT_EPOCHS, 0, "cpu", "default"),
    "paper": Profile("paper", "real", None, None, None, 0, "auto", "paper"),
}


@dataclass(frozen=True)
class Params:
    """A notebook's resolved parameters (:func:`setup`); ``given`` names those the notebook set itself."""
    profile: str
    data: str  # "synth" | "real" | a folder
    dataset: str | None  # None: every dataset found; "casme2" or "casme2+samm": those
    scheme: str | None
    protocol: str | None
    epochs: int | None
    frame_size: int | None  # None: each paper's own face size
    seed: int
    device: str
    model_profile: str
    plan: dict = field(default_factory=dict, compare=False)  # changes to the chapter's plan for the profile
    synth: dict | None = field(default=None, compare=False)
    synth_dir: str | None = None
    given: frozenset = field(default=frozenset(), compare=False)

    def datasets(self) -> list[str] | None:
        return None if self.dataset in (None, "", "all") else str(self.dataset).split("+")


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def integer(name: str, value, minimum: int, what: str | None = None) -> int:
    """``value`` as an int: an int or a string of digits (papermill's ``-r``, YAML) of at least ``minimum``;
    anything else (a float, a bool, a word) is a ConfigError naming parameter ``name``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value, ok = int(value), True
    if not ok or int(value) < minimum:
        rule = f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {f'{what} ({rule})' if what else rule}, not {value!r}")
    return int(value)


def resolve(profile_name: str = "smoke", data=None, dataset=None, scheme=None, protocol=None, epochs=None,
            frame_size=None, seed=None, device=None, plan=None, defaults: dict | None = None) -> Params:
    """The parameters a notebook runs with: each None takes the chapter's ``defaults`` (e.g. its scheme and
    protocol), then the profile's value."""
    pr = profile(profile_name)
    given = dict(data=data, dataset=dataset, scheme=scheme, protocol=protocol, epochs=epochs,
                 frame_size=frame_size, seed=seed, device=device)
    unknown = sorted(set(defaults or {}) - set(given))
    if unknown:
        raise ConfigError(f"defaults for unknown parameter(s) {', '.join(unknown)}")
    explicit = frozenset(k for k, v in given.items() if v not in (None, "")) | ({"plan"} if plan else set())
    for k, v in (defaults or {}).items():
        if given[k] is None:
            given[k] = v
    if given["device"] not in (None, ""):
        config.check_device(given["device"])
    epochs, seed = (None if given[k] in (None, "") else integer(k, given[k], m) for k, m in (("epochs", 1), ("seed", 0)))
    data = given["data"] if given["data"] not in (None, "") else pr.data
    data = str(data)
    if data not in ("synth", "real") and not Path(data).expanduser().exists():
        raise DataError(data, "data = 'synth', 'real' or an existing folder", "no such folder")
    if plan is not None and not isinstance(plan, dict):
        raise ConfigError(f"plan must be a dict of changes to the chapter's plan (e.g. {{'max_folds': 2}}), "
                          f"not {plan!r}")
    fs = given["frame_size"]
    fs = None if fs in (None, "") else integer("frame_size", fs, 8, "a face side in pixels")
    synth_params = pr.synth if pr.synth is not None else {}
    synth_dir = pr.synth_dir
    if data == "synth" and pr.synth is None:  # a profile without a set of its own uses the default set
        synth_params, synth_dir = {}, None
    return Params(profile=pr.name, data=data, dataset=given["dataset"], scheme=given["scheme"],
                  protocol=given["protocol"],
                  epochs=pr.epochs if epochs is None else epochs, frame_size=fs,
                  seed=pr.seed if seed is None else seed,
                  device=pr.device if given["device"] in (None, "") else str(given["device"]),
                  model_profile=pr.model_profile, plan=dict(plan or {}),
                  synth=synth_params if data == "synth" else None,
                  synth_dir=synth_dir if data == "synth" else None, given=explicit)


def _repo_home() -> Path | None:
    """The repository root when the kernel runs inside its ``notebooks/`` folder (nbval, Jupyter)."""
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if d == NOTEBOOKS_DIR.resolve():
            return PACKAGE_ROOT
    return None


def setup(profile: str = "smoke", defaults: dict | None = None, **given) -> Params:
    """:func:`resolve`, for a notebook's second cell. A kernel started inside the repository's ``notebooks/``
    folder (nbval, Jupyter) without ``MELIB_HOME`` gets ``MELIB_HOME`` = the repository root, so that data,
    cache and run records are those ``melib study`` uses."""
    if "MELIB_HOME" not in os.environ and _repo_home() is not None:
        os.environ["MELIB_HOME"] = str(_repo_home())
    return resolve(profile, defaults=defaults, **given)


def describe(p: Params) -> pd.DataFrame:
    """The resolved parameters as a table indexed by parameter name (for display)."""
    rows = {k: getattr(p, k) for k in (*PARAMETERS, "model_profile")}
    rows["data root"] = str(data_root(p)) if p.data != "real" else "configured releases (melib.config)"
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=pd.Index(list(rows), name="parameter"))


def data_root(p: Params) -> Path | None:
    """The synthetic set's root (``synth``), the given folder, or None for configured real releases."""
    if p.data == "real":
        return None
    if p.data != "synth":
        return Path(p.data).expanduser()
    return config.home() / "data" / p.synth_dir if p.synth_dir else config.synth_root()


def train_config(p: Params, model: str, **changes):
    """``melib.train.paper_config(model)`` with the profile's epochs (None: the paper's), seed and device."""
    from . import train

    kw = {"seed": p.seed, "device": p.device}
    if p.epochs is not None:
        kw["epochs"] = p.epochs
    return train.paper_config(model, **{**kw, **changes})


def face_size(p: Params, pipeline: str) -> tuple[int, int]:
    """(height, width) pipeline ``pipeline`` aligns faces to under ``p``: ``p.frame_size`` when set and the
    pipeline takes one, else the paper's own (``melib.preprocess.face.FACE_SIZES``)."""
    from .preprocess.face import FACE_SIZES
    from .preprocess.registry import face_params

    if pipeline not in FACE_SIZES:
        raise ConfigError(f"unknown paper key {pipeline!r}; choose one of {', '.join(FACE_SIZES)}")
    if p.frame_size is None:
        return FACE_SIZES[pipeline]
    face_params(pipeline, p.frame_size)  # a pipeline that fixes its size refuses frame_size
    return (p.frame_size, p.frame_size)


# ---- the clips ---------------------------------------------------------------------------------------------

def _merge(tables: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(tables, ignore_index=True)
    out.attrs = {"fixes": [f for t in tables for f in t.attrs.get("fixes", [])],
                 "exclusions": [e for t in tables for e in t.attrs.get("exclusions", [])],
                 "roots": [t.attrs.get("root") for t in tables]}
    if len(tables) == 1:
        out.attrs.update({k: v for k, v in tables[0].attrs.items() if k not in out.attrs})
    return out


def _keep(df: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:
    if names is None:
        return df
    unknown = sorted(set(names) - set(df["dataset"]))
    if unknown:
        raise DataError(df.attrs.get("root"), f"dataset(s) {', '.join(names)}",
                        f"only {', '.join(sorted(set(df['dataset'])))}")
    out = df[df["dataset"].isin(names)].reset_index(drop=True)
    out.attrs = {**df.attrs, "fixes": [f for f in df.attrs.get("fixes", []) if f.get("dataset") in names],
                 "exclusions": [e for e in df.attrs.get("exclusions", []) if e.get("dataset") in names]}
    return out


def ensure_synth(p: Params, progress: bool = False) -> Path:
    """Generate the profile's synthetic set when it is not there yet (a no-op when complete)."""
    from . import synth

    return synth.generate_default(data_root(p), seed=SYNTH_SEED, progress=progress, **(p.synth or {}))


def releases() -> tuple[str, ...]:
    """The releases melib has a loader for (``melib.datasets.LOADERS``)."""
    from .datasets import LOADERS

    return tuple(LOADERS)


def configured() -> list[str]:
    """The real releases the user pointed melib at (``MELIB_DATA_<NAME>`` or ``melib.yaml``)."""
    return [n for n in releases() if config.data_root(n) is not None]


def samples(p: Params, progress: bool = False) -> pd.DataFrame:
    """The samples table the notebook works on (``melib.datasets.load``), fixes and exclusions in ``attrs``."""
    from . import datasets

    names = p.datasets()
    if p.data == "synth":
        return _keep(datasets.load("synth", ensure_synth(p, progress)), names)
    if p.data == "real":
        names = names or configured()
        if not names:
            raise ConfigError("data='real' but no release is configured: set MELIB_DATA_<NAME> (e.g. "
                              "MELIB_DATA_CASME2=/path/to/CASME2) or 'data: {casme2: PATH}' in "
                              f"{config.config_file()}, or use data='synth'")
        bad = sorted(set(names) - set(releases()))
        if bad:
            raise ConfigError(f"unknown release(s) {', '.join(bad)}; choose from {', '.join(releases())}")
        return _merge([datasets.load(n) for n in names])
    root = data_root(p)
    if names is not None and len(names) == 1 and names[0] in releases():
        return datasets.load(names[0], root)
    return _keep(datasets.load("synth", root), names)


def presence(samples: pd.DataFrame) -> pd.DataFrame:
    """What the study runs on: one row per dataset, real or synthetic, with clips and subjects."""
    from .datasets import order

    g = samples.groupby(["dataset", "synthetic"], sort=False)
    out = g.agg(clips=("clip", "size"), subjects=("subject", "nunique")).reset_index()
    out["kind"] = ["synthetic (melib)" if s else "real (licensed release)" for s in out["synthetic"]]
    rank = {d: i for i, d in enumerate(order(out["dataset"]))}
    out = out.sort_values("dataset", key=lambda s: s.map(rank), kind="stable").reset_index(drop=True)
    return out[["dataset", "kind", "clips", "subjects"]]


# ---- headline numbers ------------------------------------------------------------------------------------

HEADLINE_FIELDS = ("profile", "data", "dataset", "scheme", "protocol", "epochs", "frame_size", "seed", "plan")


def headline_tag(p: Params) -> str:
    """A short hash of the parameters that decide a chapter's numbers, as the notebook gave them (a chapter's
    own scheme and protocol count as not given; the device does not count): the chapters and the results
    overview run with the same parameters share it."""
    from . import records

    fields = {k: getattr(p, k) for k in HEADLINE_FIELDS if k not in ("scheme", "protocol", "plan")}
    fields.update({k: getattr(p, k) for k in ("scheme", "protocol", "plan") if k in p.given})
    return records.key(fields)[:12]


def keep_headline(p: Params, rows: pd.DataFrame) -> pd.DataFrame:
    """Save a chapter's headline rows (``<chapter>.headline(result)``) for the results overview; returns them.
    The paper is the rows' ``paper`` (``attrs["paper"]`` when there is no row)."""
    from . import records

    papers = set(rows["paper"]) or {rows.attrs.get("paper")}
    if len(papers) != 1 or None in papers:
        raise ConfigError(f"keep_headline: rows of exactly one paper expected, found {sorted(map(str, papers))}")
    records.save_headline(rows, headline_tag(p), papers.pop())
    return rows


def kept_headlines(p: Params) -> pd.DataFrame:
    """The headline rows the chapters saved with parameters ``p`` (:func:`keep_headline`)."""
    from . import records

    return records.headlines(headline_tag(p))

"""The study: profiles (smoke / default / paper), the notebooks' parameters, and ``run`` (``melib study``).

``run(profile="default", data=None, device=None, notebooks=None)`` executes the notebooks of ``notebooks/``
with papermill into ``notebooks/executed/`` and builds the Jupyter Book (``melib.report.build_book``); it
returns the path of the HTML index.

Profiles (:data:`PROFILES`; each field is a default that a notebook parameter overrides):

- ``smoke``: a tiny synthetic set (:data:`SMOKE_SYNTH`: 2 subjects per layout, 7 clips each, 12-16 frames of
  256x192, seed 0) generated once to ``<home>/data/synth-smoke``; 1 epoch; 64 px faces; CPU. For tests and
  CI: every notebook runs in seconds. The notebooks' stored parameter defaults are this profile.
- ``default``: the default synthetic set (``melib.synth.generate_default``, seed 0, at
  ``melib.config.synth_root()``); :data:`DEFAULT_EPOCHS` epochs; 112 px faces; the models' small CPU
  profile (``melib.models.build(..., profile="default")``); CPU. The book ``make study`` builds.
- ``paper``: the releases the user configured (``MELIB_DATA_<NAME>`` or ``melib.yaml``); each paper's own
  face size, epochs and model settings (``profile="paper"``); device ``auto`` (CUDA when present).

``data`` switches the clips under any profile: ``"synth"`` (the profile's synthetic set; ``default``'s when
the profile has none), ``"real"`` (every configured release, or those named by ``dataset``), or a folder
(the root of ``dataset`` when it names one release, else a synthetic set's root). Real data on a GPU:
``melib study --profile paper`` (or ``run(profile="default", data="real", device="cuda")``).

Conventions every notebook follows (``notebooks/NN_name.ipynb``, NN the chapter order of ``book/_toc.yml``):

1. The first code cell is tagged ``parameters`` and holds the study parameters with the smoke profile's
   values, so ``pytest --nbval-lax notebooks/`` runs the stored notebook fast::

       profile = "smoke"; data = None; dataset = None; scheme = None; protocol = None
       epochs = None; frame_size = None; seed = None; device = None; show_real_frames = False

   then the notebook's own parameters. ``None`` means "what the profile says"; ``scheme`` and ``protocol``
   None mean the chapter's own (its paper's): pass them as ``study.setup(..., defaults={...})``.
2. The next cell resolves them: ``p = study.setup(profile, data=data, dataset=dataset, scheme=scheme,
   protocol=protocol, epochs=epochs, frame_size=frame_size, seed=seed, device=device)`` and shows
   ``study.describe(p)``; clips come from ``samples = study.samples(p)``; every table of numbers carries a
   provenance (``melib.report.provenance_label(samples)``).
3. Import ``study`` before other melib modules (it silences tqdm's ipywidgets warning, which would
   otherwise print into the page). Cells call melib and display; a loop over results for display is the most a cell does. Anything else
   goes into melib with a test. Training goes through ``melib.train`` with ``study.train_config(p, model)``
   (cached run records), preprocessing through cached steps, so a re-run is fast.
4. Frames of real (licensed) clips are shown only when ``show_real_frames=True``: a cell that would draw a
   frame, or an image made from one (crops, RPCA parts, residuals, flow), checks
   ``study.frames_allowed(rows, show_real_frames)`` first and prints :data:`HIDDEN_NOTE` instead.
5. Notebooks are committed without outputs (``jupyter nbconvert --clear-output``); executed copies live in
   ``notebooks/executed/`` (git-ignored). ``run`` passes only the parameters the user set (plus ``profile``),
   so a notebook must run with every other parameter left at its stored value.
6. Figures are matplotlib figures shown with ``plt.show()``; images of frames go through
   ``study.example_frames`` (PNG at native size) or a guarded figure (rule 4).
7. A model chapter ends with ``study.keep_headline(p, <experiment>.headline(...))``: its paper's headline rows,
   kept under :func:`headline_tag` for the results overview (``50_results_overview``, run after the chapters).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from tqdm import TqdmWarning

# Without ipywidgets, tqdm.auto warns once per kernel; in a book page that is noise, not news.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
from tqdm.auto import tqdm  # noqa: E402

from . import config
from .errors import ConfigError, DataError, MelibError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PACKAGE_ROOT / "notebooks"
BOOK_DIR = PACKAGE_ROOT / "book"
REAL_DATASETS = ("casme", "casme2", "casme_sq", "samm", "smic")
PARAMETERS = ("profile", "data", "dataset", "scheme", "protocol", "epochs", "frame_size", "seed", "device")
HIDDEN_NOTE = ("Frames of licensed clips are not shown (their licences forbid redistribution, and a built book "
               "is easy to share). Run with `show_real_frames=True` to show them in your own copy.")
SMOKE_SYNTH = {"subjects": 2, "clips_per_subject": 7, "width": 256, "height": 192, "frames": (12, 16)}
DEFAULT_EPOCHS = 8
SYNTH_SEED = 0
OVERVIEW = "50_results_overview"  # reads the headline rows the chapters keep: re-run when they change


class StudyError(MelibError, RuntimeError):
    """One or more notebooks failed; the message names each and where its partial output is."""


@dataclass(frozen=True)
class Profile:
    name: str
    data: str  # "synth" | "real"
    synth: dict | None  # melib.synth.generate_default parameters; None: no synthetic set of its own
    synth_dir: str | None  # folder under <home>/data; None: melib.config.synth_root()
    frame_size: int | None  # side of the aligned face (px); None: each paper's own (preprocess.face.FACE_SIZES)
    epochs: int | None  # None: each paper's own (melib.train.paper_config)
    seed: int
    device: str
    model_profile: str  # melib.models.build(..., profile=)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "synth", dict(SMOKE_SYNTH), "synth-smoke", 64, 1, 0, "cpu", "default"),
    "default": Profile("default", "synth", {}, None, 112, DEFAULT_EPOCHS, 0, "cpu", "default"),
    "paper": Profile("paper", "real", None, None, None, None, 0, "auto", "paper"),
}


@dataclass(frozen=True)
class Params:
    """A notebook's resolved parameters (``study.setup``)."""
    profile: str
    data: str  # "synth" | "real" | a folder
    dataset: str | None  # None: every dataset found; "casme2" or "casme2+samm": those
    scheme: str | None
    protocol: str | None
    epochs: int | None
    frame_size: int | None
    seed: int
    device: str
    model_profile: str
    synth: dict | None = field(default=None, compare=False)
    synth_dir: str | None = None

    def datasets(self) -> list[str] | None:
        return None if self.dataset in (None, "", "all") else str(self.dataset).split("+")


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def resolve(profile_name: str = "smoke", data=None, dataset=None, scheme=None, protocol=None, epochs=None,
            frame_size=None, seed=None, device=None, defaults: dict | None = None) -> Params:
    """The parameters a notebook runs with: each None takes the chapter's ``defaults`` (e.g. its scheme and
    protocol), then the profile's value."""
    pr = profile(profile_name)
    given = dict(data=data, dataset=dataset, scheme=scheme, protocol=protocol, epochs=epochs,
                 frame_size=frame_size, seed=seed, device=device)
    unknown = sorted(set(defaults or {}) - set(given))
    if unknown:
        raise ConfigError(f"defaults for unknown parameter(s) {', '.join(unknown)}")
    for k, v in (defaults or {}).items():
        if given[k] is None:
            given[k] = v
    if given["device"] not in (None, ""):
        config.check_device(given["device"])
    if given["epochs"] is not None and (isinstance(given["epochs"], bool) or int(given["epochs"]) < 1):
        raise ConfigError(f"epochs must be an integer >= 1, not {given['epochs']!r}")
    data = given["data"] if given["data"] not in (None, "") else pr.data
    data = str(data)
    if data not in ("synth", "real") and not Path(data).expanduser().exists():
        raise DataError(data, "data = 'synth', 'real' or an existing folder", "no such folder")
    synth_params = pr.synth if pr.synth is not None else {}
    synth_dir = pr.synth_dir
    if data == "synth" and pr.synth is None:  # a profile without a set of its own uses the default set
        synth_params, synth_dir = {}, None
    return Params(profile=pr.name, data=data, dataset=given["dataset"], scheme=given["scheme"],
                  protocol=given["protocol"],
                  epochs=pr.epochs if given["epochs"] is None else int(given["epochs"]),
                  frame_size=pr.frame_size if given["frame_size"] is None else int(given["frame_size"]),
                  seed=pr.seed if given["seed"] is None else int(given["seed"]),
                  device=pr.device if given["device"] in (None, "") else str(given["device"]),
                  model_profile=pr.model_profile, synth=synth_params if data == "synth" else None,
                  synth_dir=synth_dir if data == "synth" else None)


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


def configured() -> list[str]:
    """The real releases the user pointed melib at (``MELIB_DATA_<NAME>`` or ``melib.yaml``)."""
    return [n for n in REAL_DATASETS if config.data_root(n) is not None]


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
        bad = sorted(set(names) - set(REAL_DATASETS))
        if bad:
            raise ConfigError(f"unknown release(s) {', '.join(bad)}; choose from {', '.join(REAL_DATASETS)}")
        return _merge([datasets.load(n) for n in names])
    root = data_root(p)
    if names is not None and len(names) == 1 and names[0] in REAL_DATASETS:
        return datasets.load(names[0], root)
    return _keep(datasets.load("synth", root), names)


def presence(samples: pd.DataFrame) -> pd.DataFrame:
    """What the study runs on: one row per dataset, real or synthetic, with clips and subjects."""
    g = samples.groupby(["dataset", "synthetic"], sort=False)
    out = g.agg(clips=("clip", "size"), subjects=("subject", "nunique")).reset_index()
    out["kind"] = np.where(out["synthetic"], "synthetic (melib)", "real (licensed release)")
    order = {d: i for i, d in enumerate(REAL_DATASETS)}
    out = out.sort_values("dataset", key=lambda s: s.map(order).fillna(99)).reset_index(drop=True)
    return out[["dataset", "kind", "clips", "subjects"]]


# ---- counts, fixes, exclusions -----------------------------------------------------------------------------

def class_counts(samples: pd.DataFrame, schemes=None) -> pd.DataFrame:
    """Clips per dataset x label scheme x class (``melib.labels.assign``), plus a ``total`` row per dataset and
    scheme (labelled clips). Columns: dataset, scheme, class, count."""
    from . import labels

    rows = []
    for scheme in schemes or labels.schemes():
        lab = labels.assign(samples, scheme)
        kept = lab[lab["label"].notna()]
        for ds in dict.fromkeys(samples["dataset"]):
            d = kept[kept["dataset"] == ds]
            for cls in labels.classes(scheme):
                n = int((d["label"] == cls).sum())
                if n:
                    rows.append({"dataset": ds, "scheme": scheme, "class": cls, "count": n})
            rows.append({"dataset": ds, "scheme": scheme, "class": "total", "count": len(d)})
    return pd.DataFrame(rows, columns=["dataset", "scheme", "class", "count"])


def counts_beside_published(samples: pd.DataFrame, provenance: str | None = None) -> pd.DataFrame:
    """This study's clip counts beside the papers' (``melib.published.class_counts``: PSN Table 4, C3D Table 1,
    CropNet Table 1, LocalRegions Tables 2-4, DLHN Table 3), matched on paper table, dataset (composites
    ``a+b`` summed over their members), scheme and class. Columns as ``melib.report.side_by_side``, keyed by
    paper, table, dataset, scheme and class; where a dataset is absent here the study count is NA and its
    provenance ``melib.report.NOT_RUN``."""
    from . import published, report

    provenance = provenance or report.provenance_label(samples)
    pub = published.class_counts()
    ours = class_counts(samples, sorted(set(pub["scheme"])))
    present = set(samples["dataset"])
    rows = []
    for (paper, table, dataset, scheme), grp in pub.groupby(["paper", "table", "dataset", "scheme"], sort=False):
        members = dataset.split("+")
        if not set(members) <= present:
            continue
        mine = ours[(ours["scheme"] == scheme) & ours["dataset"].isin(members)].groupby("class")["count"].sum()
        for cls in grp["class"]:
            rows.append({"paper": paper, "table": table, "dataset": dataset, "scheme": scheme, "class": cls,
                         "value": int(mine.get(cls, 0)), "metric": "count", "provenance": provenance})
    key = ["paper", "table", "dataset", "scheme", "class"]
    study = pd.DataFrame(rows, columns=key + ["value", "metric", "provenance"])
    pub = pub.rename(columns={"count": "value"})
    out = report.side_by_side(study[key + ["value", "provenance"]], pub[key + ["value", "provenance"]], on=key)
    return out


def counts_wide(counts: pd.DataFrame) -> pd.DataFrame:
    """``class_counts`` as a table: rows (scheme, class), one column per dataset, whole numbers."""
    from . import labels

    wide = counts.pivot_table(index=["scheme", "class"], columns="dataset", values="count", aggfunc="sum",
                              fill_value=0, sort=False)
    rows = [(s, c) for s in dict.fromkeys(counts["scheme"]) for c in [*labels.classes(s), "total"]
            if (s, c) in wide.index]
    return wide.reindex(index=rows, columns=list(dict.fromkeys(counts["dataset"]))).fillna(0).astype(int)


def beside_tables(beside: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``counts_beside_published`` as one table per paper table, laid out like it: rows class, columns
    (dataset, published | this study); the caption names the scheme and both provenances."""
    out = []
    for (paper, table), t in beside.groupby(["paper", "table"], sort=False):
        from .report import NOT_RUN

        study_prov = "; ".join(p for p in dict.fromkeys(t["study_provenance"]) if p != NOT_RUN) or NOT_RUN
        caption = (f"**{paper} {table}**, scheme `{'`, `'.join(dict.fromkeys(t['scheme']))}`: "
                   f"{t['published_provenance'].iloc[0]} beside this study: {study_prov}")
        t = t.rename(columns={"study": "this study"})
        wide = t.set_index(["class", "dataset"])[["published", "this study"]].astype("Int64").unstack("dataset")
        datasets = list(dict.fromkeys(t["dataset"]))
        wide = wide.swaplevel(axis=1).reindex(columns=pd.MultiIndex.from_product([datasets, ["published", "this study"]]))
        classes = [c for c in dict.fromkeys(t["class"]) if c != "total"] + ["total"] * ("total" in set(t["class"]))
        out.append((caption, wide.reindex(classes)))
    return out


def fixes_and_exclusions(samples: pd.DataFrame) -> pd.DataFrame:
    """Every fix and exclusion the loaders made (``attrs``), one row each: kind, dataset, subject, clip, reason."""
    rows = [{"kind": kind[:-2] if kind == "fixes" else "exclusion", **{k: e.get(k) for k in
             ("dataset", "subject", "clip", "reason")}}
            for kind in ("fixes", "exclusions") for e in samples.attrs.get(kind, [])]
    return pd.DataFrame(rows, columns=["kind", "dataset", "subject", "clip", "reason"])


def scheme_exclusions(samples: pd.DataFrame, schemes=None) -> pd.DataFrame:
    """Clips each label scheme leaves out, counted by dataset and reason (``excluded_because``)."""
    from . import labels

    parts = []
    for scheme in schemes or labels.schemes():
        lab = labels.assign(samples, scheme)
        out = lab[lab["label"].isna()]
        if len(out):
            c = out.groupby(["dataset", "excluded_because"], sort=False).size().rename("clips").reset_index()
            parts.append(c.assign(scheme=scheme))
    cols = ["scheme", "dataset", "excluded_because", "clips"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def counts_figure(counts: pd.DataFrame, schemes=("pnso", "objective", "megc2019", "c3d")):
    """Bar charts of clips per class, one panel per scheme, bars grouped by dataset (cf. DLHN Fig. 6)."""
    import seaborn as sns

    d = counts[(counts["class"] != "total") & counts["scheme"].isin(schemes)]
    shown = [s for s in schemes if s in set(d["scheme"])]
    if not shown:
        raise DataError(None, f"counts for at least one of the schemes {', '.join(schemes)}", "none")
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.2), squeeze=False)
        for ax, scheme in zip(axes[0], shown):
            sns.barplot(data=d[d["scheme"] == scheme], x="class", y="count", hue="dataset", ax=ax)
            ax.set_title(scheme)
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=45)
            if ax is not axes[0, 0] and ax.get_legend() is not None:
                ax.get_legend().remove()
        fig.tight_layout()
    return fig


# ---- frames -----------------------------------------------------------------------------------------------

def frames_allowed(rows, show_real_frames: bool = False) -> bool:
    """May frames of these clips (a samples row or table) be drawn? Synthetic ones always; real ones only when
    the user opted in. A row without a ``synthetic`` value counts as real."""
    syn = rows["synthetic"] if isinstance(rows, pd.DataFrame) else pd.Series([rows.get("synthetic")])
    all_synthetic = bool(syn.notna().all() and syn.astype(bool).all())
    return all_synthetic or bool(show_real_frames)


def example_clip(samples: pd.DataFrame, show_real_frames: bool = False) -> pd.Series:
    """The clip the preprocessing chapter follows: a synthetic one when any (so frames can be drawn), else a
    real one; of those, the earliest objective class (PSN Table 2: I happiness, II surprise, ...; VII last),
    then the longest onset-to-apex rise, then table order."""
    from . import labels

    pool = samples if show_real_frames or not samples["synthetic"].astype(bool).any() \
        else samples[samples["synthetic"].astype(bool)]
    lab = labels.assign(pool, "objective")
    rank = lab["label"].map({c: i for i, c in enumerate(labels.classes("objective"))}).fillna(99)
    rise = (lab["apex"] - lab["onset"]).fillna(0)
    order = pd.DataFrame({"rank": rank, "rise": -rise, "pos": np.arange(len(lab))}, index=lab.index)
    return lab.loc[order.sort_values(["rank", "rise", "pos"]).index[0]]


def _montage(row) -> np.ndarray:
    """Onset, apex and offset frames of a clip side by side (RGB uint8, native size)."""
    from . import datasets
    from .preprocess import temporal

    clip = datasets.read_clip(row)
    picks = [0, temporal.apex_position(row), len(clip) - 1]
    return np.concatenate([clip[i] for i in picks], axis=1)


def example_frames(samples: pd.DataFrame, show_real_frames: bool = False) -> tuple[list[tuple[str, bytes]], str | None]:
    """One clip per dataset as a PNG of its onset, apex and offset frames at native size, with a caption;
    real clips only when ``show_real_frames``. Returns ``(shown, note)``: ``note`` says what was withheld."""
    shown, hidden = [], []
    for (ds, _), d in samples.groupby(["dataset", "synthetic"], sort=False):
        row = d.iloc[0]
        if not frames_allowed(row, show_real_frames):
            hidden.append(ds)
            continue
        ok, png = cv2.imencode(".png", cv2.cvtColor(_montage(row), cv2.COLOR_RGB2BGR))
        if not ok:
            raise DataError(row["frames"][0], "frames that encode as PNG", "an encoding failure")
        kind = "synthetic" if row["synthetic"] else "real"
        shown.append((f"**{ds}** ({kind}) {row['subject']} / {row['clip']}: onset, apex, offset", png.tobytes()))
    note = f"{', '.join(hidden)}: {HIDDEN_NOTE}" if hidden else None
    return shown, note


def face_size(p: Params, paper: str) -> tuple[int, int]:
    """(height, width) a paper's pipeline aligns faces to under ``p``: DLHN always 112x112 (its ROI sizes are
    pixels of that face) and CropNet always 320x320 (CGPO's input); the others ``p.frame_size`` when set,
    else the paper's own (``melib.preprocess.face.FACE_SIZES``)."""
    from .preprocess.face import FACE_SIZES

    if paper not in FACE_SIZES:
        raise ConfigError(f"unknown paper key {paper!r}; choose one of {', '.join(FACE_SIZES)}")
    if paper in ("dlhn", "cropnet") or p.frame_size is None:
        return FACE_SIZES[paper]
    return (p.frame_size, p.frame_size)


def image_grid(images, titles=None, ncols: int = 5, cmap: str | None = None):
    """Images in a grid (e.g. CGPO's ten crops), each scaled to its own range, titled."""
    images = list(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.0 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            img = np.asarray(images[i], dtype=np.float64)
            lo, hi = img.min(), img.max()
            ax.imshow((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img), cmap=cmap or "gray")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def train_config(p: Params, model: str, **changes):
    """``melib.train.paper_config(model)`` with the profile's epochs (None: the paper's), seed and device."""
    from . import train

    kw = {"seed": p.seed, "device": p.device}
    if p.epochs is not None:
        kw["epochs"] = p.epochs
    return train.paper_config(model, **{**kw, **changes})


# ---- headline numbers ------------------------------------------------------------------------------------

HEADLINE_FIELDS = ("profile", "data", "dataset", "epochs", "frame_size", "seed")


def headline_tag(p: Params) -> str:
    """A short hash of the parameters that decide a chapter's numbers (not the device): the chapters and the
    results overview run with the same parameters share it."""
    from . import records

    return records.key({k: getattr(p, k) for k in HEADLINE_FIELDS})[:12]


def keep_headline(p: Params, rows: pd.DataFrame) -> pd.DataFrame:
    """Save a chapter's headline rows (``<experiment>.headline(...)``) for the results overview; returns them.
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


# ---- running the study -------------------------------------------------------------------------------------

def papermill_parameters(profile: str = "default", data=None, device=None, **overrides) -> dict:
    """The parameters ``run`` injects into every notebook: the profile, and whatever the user set."""
    resolve(profile, data=data, device=device, **{k: v for k, v in overrides.items() if k in PARAMETERS})
    params = {"profile": profile}
    for k, v in {"data": data, "device": device, **overrides}.items():
        if v is not None:
            params[k] = str(v) if isinstance(v, Path) else v
    return params


def toc_notebooks(book_dir=BOOK_DIR) -> list[str]:
    """The executed-notebook chapters of ``_toc.yml`` in order (names without folder or suffix)."""
    from .report import _toc_files

    path = Path(book_dir) / "_toc.yml"
    if not path.is_file():
        raise DataError(path, "the book's table of contents", "no such file")
    toc = yaml.safe_load(path.read_text())
    return [f.split("/", 1)[1] for f in _toc_files(toc) if f.startswith("executed/")]


def plan(notebooks=None, book_dir=BOOK_DIR, notebooks_dir=NOTEBOOKS_DIR) -> tuple[list[str], list[str]]:
    """``(to_run, missing)``: chapters with a source notebook (``notebooks`` or every chapter of the toc),
    and chapters of the toc whose notebook does not exist yet."""
    chapters = toc_notebooks(book_dir)
    have = {n for n in chapters if (Path(notebooks_dir) / f"{n}.ipynb").is_file()}
    missing = [n for n in chapters if n not in have]
    if notebooks is None:
        return [n for n in chapters if n in have], missing
    wanted = [Path(n).stem for n in ([notebooks] if isinstance(notebooks, str) else notebooks)]
    absent = [n for n in wanted if not (Path(notebooks_dir) / f"{n}.ipynb").is_file()]
    if absent:
        raise ConfigError(f"no notebook {', '.join(absent)} in {notebooks_dir}")
    return wanted, missing


def _code_stamp() -> float:
    return max(f.stat().st_mtime for f in (PACKAGE_ROOT / "melib").rglob("*.py"))


def _headline_files(p: Params) -> list[Path]:
    """The chapters' saved headline rows the results overview reads (:func:`kept_headlines`)."""
    from . import records

    return sorted(records.headline_dir(headline_tag(p)).glob("*.csv"))


def run_key(params: dict) -> str:
    """What an executed notebook depends on besides its source and melib's code: its parameters and the data
    they point at (the resolved roots, ``synth_params.json`` of a synthetic set)."""
    p = resolve(params["profile"], **{k: v for k, v in params.items() if k in PARAMETERS[1:]})
    root = data_root(p)
    marker = root / "synth_params.json" if root is not None else None
    ident = {"params": params, "home": str(config.home()), "root": None if root is None else str(root),
             "synth": marker.read_text() if marker is not None and marker.is_file() else None,
             "real": {n: str(config.data_root(n)) for n in configured()}}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_current(source: Path, executed: Path, key: str, inputs=()) -> bool:
    """Is ``executed`` newer than its source, melib's code and the files in ``inputs``, and run with the same
    :func:`run_key`?"""
    import nbformat

    if not executed.is_file():
        return False
    t = executed.stat().st_mtime
    if t < max([source.stat().st_mtime, _code_stamp(), *(Path(f).stat().st_mtime for f in inputs)]):
        return False
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # an unreadable executed copy is simply re-run
        return False
    return nb.metadata.get("melib", {}).get("run_key") == key


def execute(name: str, params: dict, notebooks_dir=NOTEBOOKS_DIR, executed_dir=None,
            progress: bool = True) -> Path:
    """Run ``<notebooks_dir>/<name>.ipynb`` with papermill, written to ``<executed_dir>/.partial/`` then renamed
    to ``<executed_dir>/<name>.ipynb``. A failing cell raises papermill's error; the partial notebook stays."""
    import nbformat
    import papermill as pm

    executed_dir = Path(executed_dir or Path(notebooks_dir) / "executed")
    partial = executed_dir / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / f"{name}.ipynb"
    pm.execute_notebook(str(Path(notebooks_dir) / f"{name}.ipynb"), str(tmp), parameters=params,
                        kernel_name="python3", progress_bar=progress, cwd=str(config.home()))
    nb = nbformat.read(tmp, as_version=4)
    nb.metadata["melib"] = {"run_key": run_key(params), "parameters": params}
    nbformat.write(nb, tmp)
    final = executed_dir / f"{name}.ipynb"
    os.replace(tmp, final)
    return final


def run(profile: str = "default", data=None, device=None, notebooks=None, *, force: bool = False,
        book_dir=None, executed_dir=None, notebooks_dir=None, progress: bool = True, **overrides) -> Path:
    """Execute the study's notebooks and build the book; returns the HTML index (and prints where it is).

    ``profile``: smoke | default | paper; ``data``: None (the profile's), "synth", "real" or a folder;
    ``device``: None (the profile's), "cpu", "cuda", "auto"; ``notebooks``: names to run (default: every
    chapter of ``book/_toc.yml`` that has a notebook); ``overrides``: any other notebook parameter (dataset,
    scheme, protocol, epochs, frame_size, seed, show_real_frames). A notebook whose executed copy is newer
    than its source and melib's code, with the same parameters and data, is not re-run unless ``force``.
    Chapters without a notebook yet get a placeholder page (and are listed). When a notebook fails, the
    others still run and the book is built without it; then :class:`StudyError` is raised.
    """
    from . import report

    book_dir = Path(book_dir or BOOK_DIR)
    notebooks_dir = Path(notebooks_dir or NOTEBOOKS_DIR)
    executed_dir = Path(executed_dir or notebooks_dir / "executed")
    params = papermill_parameters(profile, data=data, device=device, **overrides)
    p = resolve(profile, **{k: v for k, v in params.items() if k in PARAMETERS[1:]})
    if p.data == "real" and not (p.datasets() or configured()):
        samples(p)  # raises the ConfigError that says how to point melib at the releases
    to_run, missing = plan(notebooks, book_dir, notebooks_dir)
    if p.data == "synth":
        ensure_synth(p, progress=progress)  # once, before the notebooks, with its own progress bar
    key = run_key(params)
    failures = []
    bar = tqdm(to_run, desc="notebooks", unit="nb", disable=not progress, file=sys.stdout)
    for name in bar:
        bar.set_postfix_str(name)
        final = executed_dir / f"{name}.ipynb"
        inputs = _headline_files(p) if name == OVERVIEW else ()
        if not force and is_current(notebooks_dir / f"{name}.ipynb", final, key, inputs):
            continue
        try:
            execute(name, params, notebooks_dir, executed_dir, progress=progress)
        except Exception as e:  # papermill's PapermillExecutionError, a dead kernel, ...
            final.unlink(missing_ok=True)  # a stale copy from other parameters must not stand in for it
            failures.append(f"{name}: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
                            f" (partial output: {executed_dir / '.partial' / (name + '.ipynb')})")
    bar.close()
    if missing:
        print(f"not written yet (placeholder pages): {', '.join(missing)}")
    index = report.build_book(book_dir, executed_dir=executed_dir, missing="placeholder")
    print(f"book: {index}  (open file://{index.resolve()})")
    if failures:
        raise StudyError("notebook(s) failed; the book was built without them:\n  " + "\n  ".join(failures))
    return index

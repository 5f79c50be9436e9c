"""Each paper's own training recipe, apart from the input size, and what its committed checks measured.

A recipe (:class:`Recipe`) is what a paper says about training whatever the input size: the optimiser,
learning rate and schedule, batch, loss, initialisation, input normalisation, epochs and fusion. It is read
from the model registry: the trainer is ``melib.train.paper_config(model)`` with the paper's epochs (30,
melib's default, where a paper gives none), the build arguments are the paper's for every key that is not a
size (:data:`SIZE_KEYS`; e.g. DLHN's ``init_std``, which the CPU profile changes), the input pipeline keeps
its defaults. The sizes (widths, frames, input sides) come from a model profile chosen at run time:
``default`` (the CPU profile) or ``paper`` (the papers'), so that one recipe runs on a CPU and on a GPU.

- :func:`paper` gives each paper's recipe (:data:`MAIN`: its main model, scheme and data scale);
  :func:`variant` applies named changes (:data:`CHANGES`) for the diagnosis of a recipe that does not learn.
- :data:`SCALES`: each paper's data scale as a synthetic set: per layout the subjects and clips that make the
  paper's label scheme keep as many clips, from as many subjects, as the paper's datasets had.
- :func:`checks` reads the measured checks (the ledger's ``recipe_checks`` records, written by
  ``python -m melib.experiments.recipe_checks measure``: one per recipe, amplitude, sizes, device, seed and
  folds, with where, when and from which commit it ran and whether its code has changed since);
  :func:`verdict` gives per recipe the verdict by rule (``melib.verdicts``: learns, does not learn or
  undecided, with the numbers) and :func:`panel` is a model chapter's "does this recipe learn?" table.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from . import models, train
from .errors import ConfigError
from .models._registry import defaults, entry

CHECKS_FILE = Path(__file__).resolve().parent / "data" / "recipe_checks.csv"
# Build arguments that set a size (width, depth of the input, frames, classes), not how the model trains.
SIZE_KEYS = frozenset({"n_classes", "frames", "size", "in_channels", "rois", "widths", "units", "fc", "hidden",
                       "width_mult", "width", "head_channels", "whole_size", "sizes", "lstm_units", "region",
                       "profile_sizes"})
# Small frames for every scale (the known-answer sets'): 256x192, 12-16 frames a clip.
FRAMES = {"width": 256, "height": 192, "frames": (12, 16)}
# Each paper's data as synthetic layouts: subjects and clips so that the paper's scheme labels as many clips
# from as many subjects as the paper's datasets (checked by tests/test_recipes.py). The synthetic set has
# CASME II, SAMM and SMIC layouts only: CASME and CAS(ME)^2 (Chinese subjects, CASME II's lab) go into the
# CASME II layout.
SCALES = {
    # DLHN 4.1 and PSN 4.1 (Table 4): CASME, CASME II, CAS(ME)^2 and SAMM, 650 clips in 4 classes; subjects
    # CASME 19, CASME II 26, CAS(ME)^2 22 -> 67 in the CASME II layout; SAMM 29
    "pnso650": {"scheme": "pnso", "layouts": {"casme2": {"subjects": 67, "clips": 491},
                                              "samm": {"subjects": 29, "clips": 159}},
                "source": "DLHN 4.1 / PSN 4.1: 650 clips (CASME, CASME II, CAS(ME)2, SAMM), 96 subjects"},
    # C3D 3.1-3.2, Scenario-3: CASME II's 123 clips of happiness, disgust, surprise (26 subjects) + SMIC's 164
    "c3d287": {"scheme": "c3d", "layouts": {"casme2": {"subjects": 26, "clips": 290},
                                           "smic": {"subjects": 16, "clips": 164}},
               "source": "C3D 3.1-3.2 (Scenario-3): CASME II 123 + SMIC 164 clips, 42 subjects"},
    # MEGC2019 composite (CropNet 4.1, LocalRegions 4.1): CASME II 145 / 24, SAMM 133 / 28, SMIC 164 / 16
    "megc442": {"scheme": "megc2019", "layouts": {"casme2": {"subjects": 24, "clips": 169},
                                                 "samm": {"subjects": 28, "clips": 155},
                                                 "smic": {"subjects": 16, "clips": 164}},
                "source": "MEGC2019 composite (CropNet 4.1, LocalRegions 4.1): 442 clips, 68 subjects"},
    # the known-answer chapter's set (melib.experiments.known_answer.KA_SYNTH): 5 subjects per layout, 7 clips
    "ka": {"scheme": None, "layouts": {lay: {"subjects": 5, "clips_per_subject": 7} for lay in ("casme2", "samm", "smic")},
           "source": "the known-answer set: 5 subjects x 7 clips per layout (105 clips)"},
}
# Each paper's main model, its scheme and data scale; DLHN trains HCRNN and RPRNN apart, then fuses them.
MAIN = {
    "DLHN": {"parts": {"HCRNN": "dlhn_hcrnn", "RPRNN": "dlhn_rprnn"}, "pipeline_of": "dlhn", "fusion": 0.45,
             "scale": "pnso650"},
    "PSN": {"parts": {"PSN": "psn"}, "scale": "pnso650"},
    "C3D": {"parts": {"Model-A": "c3d_model_a"}, "scale": "c3d287"},
    "CropNet": {"parts": {"CropNet+ARS": "cropnet"}, "inputs": {"kind": "ars"}, "scale": "megc442"},
    "LocalRegions": {"parts": {"LocalRegions": "localregions_2stage"}, "scale": "megc442"},
}
# Recipes whose check at their data scale is not in the checks file yet, with what was measured of them.
PENDING: dict[str, str] = {}  # none left: DLHN's went once subnormal floats stopped slowing its 1500 epochs
DEFAULT_EPOCHS = train.TrainConfig.epochs  # what a recipe whose paper gives no epochs trains for
# Named changes to a recipe: per part, "trainer" / "inputs" / "model" changes replace the recipe's, "scale_lr"
# multiplies its learning rate, "scale_epochs" its epochs; "scale" swaps the data scale; "parts" limits a
# change to those parts.
CHANGES = {
    "onset difference": {"inputs": {"onset_difference": True}},  # frames minus the onset frame (C3D, LocalRegions)
    "per-clip sd": {"inputs": {"scale": "clip_sd"}},  # inputs scaled to unit sd per clip
    "E per-clip sd": {"inputs": {"sparse_scale": "clip_sd"}},  # DLHN: RPCA's sparse E scaled per clip, as PSN's is
    "class weights": {"trainer": {"class_weights": "balanced"}},
    "lr x10": {"scale_lr": 10.0},
    "lr /10": {"scale_lr": 0.1},
    "lr /100": {"scale_lr": 0.01},
    "epochs x3": {"scale_epochs": 3.0},
    "epochs /10": {"scale_epochs": 0.1},  # DLHN: 150 of its 1500 epochs (the CPU cannot run many variants of 1500)
    "adam 1e-3": {"trainer": {"optimizer": "adam", "lr": 1e-3, "momentum": 0.9, "nesterov": False,
                              "lr_decay": 1.0, "time_decay": 0.0}},
    "batch 8": {"trainer": {"batch_size": 8}},
    "weight decay 0.05": {"trainer": {"weight_decay": 0.05}},
    "no L2": {"trainer": {"l2": 0.0}},  # DLHN's RPRNN: without Eq. 7's penalty
    "torch init": {"model": {"init_std": None}},  # DLHN: torch's initialisation instead of N(0, 0.1)
    "known-answer scale": {"scale": "ka"},
}


@dataclass(frozen=True)
class Part:
    """One training of a recipe: registered ``model`` with trainer ``trainer`` (every field that differs from
    ``TrainConfig``'s defaults: the paper's, then the recipe's changes), non-size build arguments
    ``model_params`` and input-pipeline settings ``inputs``."""
    name: str
    model: str
    trainer: Mapping
    model_params: Mapping = field(default_factory=dict)
    inputs: Mapping = field(default_factory=dict)

    def config(self) -> dict:
        """Every trainer field as the part trains (``TrainConfig``'s identity with the part's values)."""
        return {**train.TrainConfig().identity(), **self.trainer}


@dataclass(frozen=True)
class Recipe:
    """A paper's training recipe (:func:`paper`) or a variant of it (:func:`variant`; ``changes`` names what
    differs from the paper's); ``fusion``: the weight of DLHN Eq. 8 over the first part, or None."""
    paper: str
    parts: tuple[Part, ...]
    scheme: str
    scale: str
    fusion: float | None = None
    pipeline_of: str | None = None  # the registered model whose pipeline feeds every part (DLHN: dlhn)
    changes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "paper" if not self.changes else "paper + " + " + ".join(self.changes)


def _paper_trainer(model: str) -> dict:
    cfg = train.paper_config(model)
    base = train.TrainConfig()
    out = {k: v for k, v in cfg.identity().items() if v != base.identity().get(k)}
    out["epochs"] = cfg.epochs
    return out


def _paper_model_params(model: str) -> dict:
    """The paper's values of the build arguments that the CPU profile changes and that are not sizes."""
    e = entry(model)
    paper = {**defaults(e.signature or e.factory), **e.profiles["paper"]}
    return {k: paper.get(k) for k in e.profiles["default"] if k not in SIZE_KEYS}


def paper(name: str) -> Recipe:
    """Paper ``name``'s own recipe (:data:`MAIN`)."""
    if name not in MAIN:
        raise ConfigError(f"no recipe for paper {name!r}; choose one of {', '.join(MAIN)}")
    m = MAIN[name]
    parts = tuple(Part(part, model, _paper_trainer(model), _paper_model_params(model), dict(m.get("inputs", {})))
                  for part, model in m["parts"].items())
    return Recipe(name, parts, SCALES[m["scale"]]["scheme"], m["scale"], m.get("fusion"), m.get("pipeline_of"))


def _change(part: Part, change: Mapping) -> Part:
    trainer = {**part.trainer, **change.get("trainer", {})}
    if "scale_lr" in change:
        trainer["lr"] = float(trainer.get("lr", train.TrainConfig.lr)) * change["scale_lr"]
    if "scale_epochs" in change:
        trainer["epochs"] = int(round(trainer["epochs"] * change["scale_epochs"]))
    return replace(part, trainer=trainer, model_params={**part.model_params, **change.get("model", {})},
                   inputs={**part.inputs, **change.get("inputs", {})})


def variant(recipe: Recipe, *changes: str, parts: tuple[str, ...] | None = None) -> Recipe:
    """``recipe`` with the named :data:`CHANGES` applied in order (to ``parts`` only, when given)."""
    unknown = [c for c in changes if c not in CHANGES]
    if unknown:
        raise ConfigError(f"unknown recipe change(s) {unknown}; choose from {', '.join(CHANGES)}")
    out = recipe
    for c in changes:
        ch = CHANGES[c]
        if "scale" in ch:
            out = replace(out, scale=ch["scale"])
            continue
        out = replace(out, parts=tuple(_change(p, ch) if parts is None or p.name in parts else p for p in out.parts))
    label = [c if parts is None else f"{c} ({', '.join(parts)})" for c in changes]
    return replace(out, changes=(*recipe.changes, *label))


def recipe(paper_name: str, name: str = "paper") -> Recipe:
    """The recipe called ``name`` (:attr:`Recipe.name`, e.g. ``"paper + lr /10"``) of ``paper_name``."""
    base = paper(paper_name)
    if name == "paper":
        return base
    if not name.startswith("paper + "):
        raise ConfigError(f"a recipe name is 'paper' or 'paper + <change> + ...', not {name!r}")
    out = base
    for text in name[len("paper + "):].split(" + "):
        change, _, parts = text.partition(" (")
        out = variant(out, change, parts=tuple(parts.rstrip(")").split(", ")) if parts else None)
    return out


def describe(r: Recipe) -> pd.DataFrame:
    """One row per part: model, optimiser, lr and schedule, batch, loss, epochs, init and inputs as run."""
    rows = []
    for p in r.parts:
        t = p.config()
        sched = (f", x{t['lr_decay']:.4g} per epoch" if t["lr_decay"] != 1 else "") + \
                (f", lr / (1 + {t['time_decay']:g} step)" if t["time_decay"] else "")
        loss = t["loss"] + (f" (smoothing {t['label_smoothing']:g})" if t["label_smoothing"] else "") + \
            (f" + {t['l2']:g} L2" if t["l2"] else "") + (", class weights" if t["class_weights"] else "")
        opt = t["optimizer"] + (f" (momentum {t['momentum']:g}{', nesterov' if t['nesterov'] else ''})"
                                if t["optimizer"] == "sgd" and t["momentum"] else "") + \
            (f", weight decay {t['weight_decay']:g}" if t["weight_decay"] else "")
        rows.append({"recipe": r.name, "part": p.name, "model": p.model, "optimiser": opt,
                     "lr": f"{t['lr']:g}{sched}", "batch": t["batch_size"], "loss": loss, "epochs": t["epochs"],
                     "model settings": ", ".join(f"{k}={v}" for k, v in p.model_params.items()) or "the paper's",
                     "inputs": ", ".join(f"{k}={v}" for k, v in p.inputs.items()) or "the pipeline's defaults",
                     "fusion": "-" if r.fusion is None else f"a = {r.fusion:g} (DLHN Eq. 8)"})
    return pd.DataFrame(rows)


def scale_params(scale: str) -> dict:
    """``melib.experiments.common.amplitude_samples`` keyword arguments of a data scale (:data:`SCALES`)."""
    if scale not in SCALES:
        raise ConfigError(f"unknown data scale {scale!r}; choose one of {', '.join(SCALES)}")
    return {"layouts": SCALES[scale]["layouts"], **FRAMES}


def check_models() -> None:
    """Every recipe's models are registered (a renamed model fails here, not in a long run)."""
    missing = sorted({m for spec in MAIN.values() for m in spec["parts"].values()} - set(models.names()))
    if missing:
        raise ConfigError(f"recipe models not registered: {missing}")


# ---- the measured checks ---------------------------------------------------------------------------------

CHECK_COLUMNS = ("paper", "recipe", "changes", "scale", "scheme", "n_clips", "n_subjects", "amplitude", "uar", "uf1",
                 "null_low", "null_high", "chance", "top_class", "top_share", "collapsed", "train_loss", "protocol",
                 "subject_overlap", "sizes", "epochs", "clip_steps", "seed", "device", "torch", "seconds", "date",
                 "commit", "command")
# What the diagnosis reads beside the scores: the most frequent prediction and the share of clips given it
# (1: one class for every clip, ``collapsed``) and each part's training loss at its last epoch (mean over folds).
DIAGNOSTIC_COLUMNS = ("top_class", "top_share", "collapsed", "train_loss")


def checks(root: str | Path | None = None) -> pd.DataFrame:
    """The measured checks: the ledger's ``recipe_checks`` records (``root``: another ledger's), one row per
    unit (paper, recipe, amplitude, sizes, device, seed, folds) with :data:`CHECK_COLUMNS` and the record's
    ``state`` and ``record`` (``melib.ledger.table``); an empty table when none were measured."""
    from . import ledger

    df = ledger.table("recipe_checks", root)
    if not len(df):
        return pd.DataFrame(columns=[*CHECK_COLUMNS, "state", "record"])
    for c in DIAGNOSTIC_COLUMNS:
        if c not in df.columns:
            df[c] = None
    return df


def _collapse(t: pd.DataFrame) -> str | None:
    """The collapse label of rows at one amplitude (a row from before ``collapsed`` was recorded: from its share)."""
    said = [c for c in t["collapsed"] if isinstance(c, str) and c]
    if said:
        return said[0]
    full = t["top_share"].astype(float) >= 1
    return "collapsed: predicts one class for every clip (the class was not recorded)" if full.any() else None


def verdict(df: pd.DataFrame) -> pd.DataFrame:
    """Per (paper, recipe, scale, sizes, device, protocol), its seeds together: UAR (mean over seeds) and null
    band (widest) at 0 and at the top amplitude, the verdict by rule (``melib.verdicts.known_answer``:
    ``verdict`` the word, ``verdict_text`` with its numbers), ``above`` (every seed above its band at the top
    amplitude and inside it at 0), the collapse label at the top amplitude, and the records' worst state."""
    from .ledger import STATES
    from .verdicts import known_answer, verdict_of

    rows = []
    keys = ["paper", "recipe", "changes", "scale", "sizes", "device", "protocol"]
    rank = {s: i for i, s in enumerate(STATES)}
    for key, g in df.groupby(keys, sort=False, dropna=False):
        top_amp = float(g["amplitude"].max())
        t, z = g[g["amplitude"] == top_amp], g[g["amplitude"] == 0.0]
        vt = verdict_of(t)
        vz = verdict_of(z) if top_amp > 0 and len(z) else None
        word, text = known_answer(vt, vz, top_amp)
        worst = g.loc[g["state"].map(rank).idxmax()] if "state" in g else g.iloc[0]
        rows.append(dict(zip(keys, key), n_clips=int(t["n_clips"].iloc[0]), n_subjects=int(t["n_subjects"].iloc[0]),
                         top_share=t["top_share"].astype(float).mean(), train_loss=t["train_loss"].iloc[0],
                         collapsed=_collapse(t), top=top_amp, seeds=vt.seeds, uar_top=vt.mean,
                         band_top=(float(t["null_low"].min()), vt.top), epochs=t["epochs"].iloc[0],
                         date=g["date"].max(), commit="/".join(sorted(set(map(str, g["commit"])))),
                         torch=t["torch"].iloc[0], record=worst.get("record", f"commit {worst['commit']}"),
                         uar_0=vz.mean if vz else None, band_0=(float(z["null_low"].min()), vz.top) if vz else None,
                         verdict=word, verdict_text=text,
                         above=vt.above == vt.seeds and (vz is None or vz.inside == vz.seeds),
                         subject_overlap=float(g["subject_overlap"].max())))
    return pd.DataFrame(rows, columns=[*keys, "n_clips", "n_subjects", "top_share", "train_loss", "collapsed", "top",
                                       "seeds", "uar_top", "band_top", "epochs", "date", "commit", "torch", "record",
                                       "uar_0", "band_0", "verdict", "verdict_text", "above", "subject_overlap"])


def nearest(v: pd.DataFrame, paper_name: str, scale: str | None = None) -> pd.Series | None:
    """The variant of ``paper_name``'s recipe with the fewest changes (then the highest UAR) that learns by rule,
    else that rises above its band on every seed measured (undecided for want of seeds); at the paper's scale
    unless ``scale``; None when there is none."""
    scale = scale or MAIN[paper_name]["scale"]
    mine = v[(v["paper"] == paper_name) & (v["scale"] == scale) & (v["recipe"] != "paper")]
    ok = mine[mine["verdict"] == "learns"]
    ok = ok if len(ok) else mine[mine["above"].astype(bool)]
    if not len(ok):
        return None
    ok = ok.assign(n=ok["changes"].fillna("").map(lambda s: len([c for c in str(s).split("; ") if c])))
    return ok.sort_values(["n", "uar_top"], ascending=[True, False]).iloc[0]


def _band(b) -> str:
    return "-" if b is None or (isinstance(b, float) and pd.isna(b)) else f"[{b[0]:.2f}, {b[1]:.2f}]"


def _uar(x) -> str:
    return "-" if x is None or pd.isna(x) else f"{x:.2f}"


def _row(r: pd.Series) -> dict:
    share = "-" if pd.isna(r["top_share"]) else f"{r['top_share']:.0%} of clips"
    return {"paper": r["paper"], "recipe": r["recipe"], "verdict (by rule)": r["verdict"], "seeds": r["seeds"],
            "UAR at 0": _uar(r["uar_0"]), "null band at 0": _band(r["band_0"]),
            "top amplitude": f"{r['top']:g}", "UAR at top": _uar(r["uar_top"]), "null band at top": _band(r["band_top"]),
            "most frequent prediction at top": r["collapsed"] if isinstance(r["collapsed"], str) else share,
            "last training loss": "-" if pd.isna(r["train_loss"]) else str(r["train_loss"]),
            "data": f"{SCALES[r['scale']]['source']}; synthetic, {r['n_clips']} clips, {r['n_subjects']} subjects",
            "protocol": f"{r['protocol']}, subject overlap {r['subject_overlap']:g}",
            "measured": f"{r['device']} ({r['sizes']} sizes, torch {r['torch']}), {r['date']}; record {r['record']}"}


def panel(paper_name: str, sizes: str = "default", root: str | Path | None = None) -> pd.DataFrame:
    """A model chapter's "does this recipe learn?" table: the paper's recipe at its data scale (and the
    nearest variant that learns or rises above its band, when the paper's does not learn), its verdict by rule,
    UAR at amplitude 0 and at the top amplitude with their 99 % null bands, the collapse label, data,
    protocol and where, when and from which record it was measured; ``attrs["finding"]`` says it in one
    sentence (:func:`finding`). Rows measured at the model profile ``sizes`` when there are any, else the CPU
    profile's (the ``measured`` column says which)."""
    v = verdict(checks(root))
    v = v[v["paper"] == paper_name]
    if sizes in set(v["sizes"]):
        v = v[v["sizes"] == sizes]
    scale = MAIN[paper_name]["scale"]
    picked = [r for _, r in v[(v["recipe"] == "paper") & (v["scale"] == scale)].iterrows()]
    if picked and picked[0]["verdict"] != "learns":
        near = nearest(v, paper_name)
        if near is not None:
            picked.append(near)
    if not picked:  # the paper's own recipe is not measured yet: what was (PENDING says why)
        picked = [r for _, r in v[v["scale"] == scale].iterrows()]
    out = pd.DataFrame([_row(r) for r in picked]).drop(columns="paper", errors="ignore")
    out.attrs["finding"] = finding(paper_name, v)
    return out


def findings(root: str | Path | None = None) -> str:
    """Every paper's :func:`panel` finding, a Markdown paragraph each."""
    return "\n\n".join(f"**{n}**: {panel(n, root=root).attrs['finding']}" for n in MAIN)


def described() -> pd.DataFrame:
    """:func:`describe` of every paper's own recipe, one table with a ``paper`` column."""
    return pd.concat([describe(paper(n)).assign(paper=n) for n in MAIN], ignore_index=True)


def overview(root: str | Path | None = None) -> pd.DataFrame:
    """Every measured recipe (the papers' and the variants of the diagnosis), as :func:`panel` shows them."""
    v = verdict(checks(root))
    if not len(v):
        return pd.DataFrame()
    v = v.assign(_n=v["changes"].fillna("").map(lambda c: len([x for x in str(c).split("; ") if x])),
                 _p=v["paper"].map(list(MAIN).index))
    return pd.DataFrame([_row(r) for _, r in v.sort_values(["_p", "scale", "_n", "recipe"]).iterrows()])


# How a finding names a paper's recipe: the papers state some of its settings; melib chose the rest.
OWN = "recipe (the paper's settings where it states them, melib's choices where it is silent)"


def _said(r: pd.Series, column: str, text: str) -> str:
    """``text``, the value of verdict row ``r``'s ``column`` in :func:`panel`, marked as that quantity
    (``melib.quantities``: the book states it once)."""
    from .quantities import mark

    return mark("recipe check", {"paper": r["paper"], "recipe": r["recipe"], "top amplitude": f"{r['top']:g}",
                                 "column": column}, text)


def finding(paper_name: str, v: pd.DataFrame) -> str:
    """One sentence from the verdicts ``v``: the verdict by rule on the paper's recipe with its numbers, and
    when it does not learn, the smallest change that learns or rises above its band (or that none measured
    does)."""
    scale = MAIN[paper_name]["scale"]
    own = v[(v["paper"] == paper_name) & (v["recipe"] == "paper") & (v["scale"] == scale)]
    if not len(own):
        return f"{paper_name}'s recipe has not been measured at its data scale yet" + \
            (f": {PENDING[paper_name]}." if paper_name in PENDING else ".")
    r = own.iloc[0]
    word = _said(r, "verdict (by rule)", r["verdict"])
    verb = word if r["verdict"] != "undecided" else f"is {word}"
    head = f"{paper_name}'s {OWN} {verb}{r['verdict_text'][len(r['verdict']):]}"
    if isinstance(r["collapsed"], str):
        head += f"; at {r['top']:g} px the run is {r['collapsed']}"
    if r["verdict"] == "learns":
        return head + "."
    near = nearest(v, paper_name)
    tried = sorted(set(v[(v["paper"] == paper_name) & (v["recipe"] != "paper")]["changes"].dropna()))
    if near is None:
        return head + (f". None of the changes measured learns or rises above its band: {', '.join(tried)}."
                       if tried else ". No change has been measured yet.")
    change = near["recipe"][len("paper + "):]
    how = "learns" if near["verdict"] == "learns" else \
        f"rises above its band on every seed measured ({near['seeds']}; undecided by rule)"
    return head + f". The smallest change measured that {how} is {change} (UAR " \
                  f"{_said(near, 'UAR at top', _uar(near['uar_top']))} at amplitude {near['top']:g}, " \
                  f"{_said(near, 'UAR at 0', _uar(near['uar_0']))} at 0)."


def learns(paper_name: str):
    """The chapter contract's ``learns(p)`` of ``paper_name``'s chapter: its :func:`panel` at ``p``'s model
    profile."""
    if paper_name not in MAIN:
        raise ConfigError(f"no recipe for paper {paper_name!r}; choose one of {', '.join(MAIN)}")
    return lambda p: panel(paper_name, p.model_profile)

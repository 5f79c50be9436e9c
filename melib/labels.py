"""Label schemes: the papers' ways of turning a clip's emotion and AUs into a class.

``assign(samples, scheme)`` adds a ``label`` column (None where the clip is excluded) and an
``excluded_because`` column (None where it is kept). ``schemes()`` lists the names and
``classes(scheme)`` gives each scheme's class order (the index a model's logits use).
"""
from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from .config import MANIFESTS
from .errors import ConfigError, DataError


def _combos(*specs: str) -> tuple[frozenset[int], ...]:
    return tuple(frozenset(int(a) for a in s.split("+")) for s in specs)


# PSN Table 2: objective classes I–VII and their AU combinations (VII = every other AU set).
OBJECTIVE_AU_COMBOS: dict[str, tuple[frozenset[int], ...]] = {
    "I": _combos("6", "12", "6+12", "6+7+12", "7+12"),
    "II": _combos("1+2", "5", "25", "1+2+25", "25+26", "5+24"),
    "III": _combos("23", "4", "4+7", "4+5+7", "17+24", "4+6+7", "4+38"),
    "IV": _combos("10", "9", "4+9", "4+40", "4+5+40", "4+7+9", "4+9+17", "4+7+10", "4+5+7+9", "7+10"),
    "V": _combos("1", "15", "1+4", "6+15", "15+17"),
    "VI": _combos("1+2+4", "20"),
    "VII": (),
}
OBJECTIVE_EMOTION = {"I": "happiness", "II": "surprise", "III": "anger", "IV": "disgust",
                     "V": "sadness", "VI": "fear", "VII": "others"}
OBJECTIVE_CLASSES = tuple(OBJECTIVE_AU_COMBOS)
_ROMAN = {str(i): c for i, c in enumerate(OBJECTIVE_CLASSES, start=1)}

# The MEGC2019 emotion rule (used for clips that are not on the official list, i.e. synthetic ones).
MEGC2019_EMOTION = {
    "happiness": "positive", "positive": "positive",
    "disgust": "negative", "repression": "negative", "anger": "negative", "contempt": "negative",
    "fear": "negative", "sadness": "negative", "negative": "negative",
    "surprise": "surprise",
}
MEGC2019_LIST = MANIFESTS / "megc2019_composite_3class.csv"

# Every emotion word the releases write (lower-cased), the class order of scheme ``original``; spellings of
# one word are counted as one (SAMM's "Other" is CASME II's "others", and CropNet Table 1 prints both "Other";
# CAS(ME)³ writes "happy" and "sad").
ORIGINAL_EMOTIONS = ("amusement", "anger", "contempt", "disgust", "fear", "happiness", "negative",
                     "others", "positive", "repression", "sadness", "surprise", "tense")
EMOTION_SPELLINGS = {"other": "others", "happy": "happiness", "sad": "sadness"}

_AU_TOKEN = re.compile(r"\d+")
_AU_SPLIT = re.compile(r"[+,;/&\s]+")
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_PLUS = re.compile(r"\+")


def parse_aus(text) -> frozenset[int]:
    """The set of AU numbers in an AU string as the releases write it.

    ``'4+L10'`` -> {4, 10}; ``'R12'`` -> {12}; ``'AU4+AU7'`` -> {4, 7}; ``'1+2'`` -> {1, 2};
    side (L/R), intensity (A–E) and 'AU' prefixes are dropped; a token without a number (``'?'``)
    is ignored; empty or missing gives the empty set.
    """
    if text is None or (isinstance(text, float) and text != text):
        return frozenset()
    if isinstance(text, (int, float)):
        return frozenset({int(text)})
    out = set()
    for token in _AU_SPLIT.split(str(text)):
        m = _AU_TOKEN.search(token)
        if m:
            out.add(int(m.group()))
    return frozenset(out)


def objective_class(au_set: Iterable[int]) -> str:
    """The objective class (I-VII) of a clip's AU set: the class of the PSN Table 2 combination the set equals,
    else VII ("others").

    Where the paper is silent (AUs beyond a listed combination) the rule is the one the owners' labels
    support: on the releases that ship an Objective Class column it agrees with CASME II on 251 of 255 clips
    and with SAMM on 144 of 159, where "the largest listed combination contained" agrees on 220 and 143.
    """
    # PSN Table 2
    aus = frozenset(au_set)
    return next((cls for cls, combos in OBJECTIVE_AU_COMBOS.items() if aus in combos), "VII")


def au_readings(text) -> list[frozenset[int]]:
    """The readings of an AU cell: one AU set, or one per alternative when the coders wrote several
    (SAMM's ``'R6 or R12'`` -> [{6}, {12}]). A bracketed group of alternatives is one term of the sum:
    ``'(R6 or R12)+R15'`` -> [{6, 15}, {12, 15}]."""
    if not (isinstance(text, str) and _OR.search(text)):
        return [parse_aus(text)]
    readings = []
    for alternative in _top_level(text, _OR):
        terms = [_group_readings(t) for t in _top_level(alternative, _PLUS)]
        readings += [frozenset().union(*choice) for choice in itertools.product(*terms)]
    return list(dict.fromkeys(readings))


def _top_level(text: str, sep: re.Pattern) -> list[str]:
    """``text`` split at the matches of ``sep`` that are outside brackets."""
    masked, depth = [], 0
    for c in text:
        depth += c == "("
        masked.append("#" if depth else c)
        depth -= c == ")" and depth > 0
    parts, start = [], 0
    for m in sep.finditer("".join(masked)):
        parts.append(text[start:m.start()])
        start = m.end()
    return parts + [text[start:]]


def _group_readings(term: str) -> list[frozenset[int]]:
    """The readings of one term of a sum: a bracketed group of alternatives, or plain AUs."""
    term = term.strip()
    if term.startswith("(") and term.endswith(")") and _OR.search(term):
        return au_readings(term[1:-1])
    return [parse_aus(term)]


def certain_aus(text) -> frozenset[int]:
    """The AUs every reading of an AU cell has (``'4+R10 or 4+R9'`` -> {4}); the cell's set when it has one."""
    return frozenset.intersection(*au_readings(text))


def derived_objective(aus) -> tuple[str | None, str | None]:
    """(class, None), or (None, why) when an AU cell (text, or a set) gives no class: no AUs, or alternatives
    whose classes differ. Alternatives that agree give their class."""
    readings = [r for r in (au_readings(aus) if not isinstance(aus, (set, frozenset)) else [frozenset(aus)]) if r]
    if not readings:
        return None, "no AUs annotated"
    found = sorted({objective_class(r) for r in readings}, key=OBJECTIVE_CLASSES.index)
    if len(found) > 1:
        return None, f"the AU alternatives {aus!r} give classes {', '.join(found)}"
    return found[0], None


def normalise_objective(value) -> str | None:
    """A release's objective-class cell (``'I'``, ``'iv'``, ``3``, ``'3'``) as a roman numeral, None if blank."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().upper()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _ROMAN:
        return _ROMAN[text]
    if text in OBJECTIVE_CLASSES:
        return text
    return None


PNSO_GROUPS = {"I": "positive", "II": "surprise", "III": "negative", "IV": "negative", "V": "negative",
               "VI": "negative", "VII": "others"}


def pnso_class(au_set: Iterable[int], objective: str | None = None) -> str:
    """Positive / Negative / Surprise / Others from AUs (PSN Table 3; DLHN Eq. 9).

    Table 3 describes the four classes by the emotions of Table 2 (positive: happiness, at least AU6 or
    AU12; negative: anger, disgust, sadness, fear; surprise: AU1+AU2, AU25, AU2; others), so the class is
    the group of the objective class (``objective``, else ``objective_class(au_set)``): I -> positive,
    II -> surprise, III–VI -> negative, VII -> others, except that a class-VII clip with AU2 (Table 3's
    "AU2", in no Table 2 combination on its own) is surprise. A choice where the paper is silent: when the
    AU6/AU12 hint and Table 2 disagree (e.g. 6+15, sadness in Table 2), Table 2 wins.
    """
    aus = frozenset(au_set)
    cls = objective or objective_class(aus)
    if cls == "VII" and 2 in aus:
        return "surprise"
    return PNSO_GROUPS[cls]


_CLASSES = {
    "original": list(ORIGINAL_EMOTIONS),
    "megc2019": ["negative", "positive", "surprise"],
    "objective": list(OBJECTIVE_CLASSES),
    "pnso": ["positive", "negative", "surprise", "others"],
    "c3d": ["happiness", "disgust", "surprise"],
    "cropnet5": ["others", "disgust", "happiness", "repression", "surprise"],
    "localregions5": ["I", "II", "III", "IV", "V"],
}


def schemes() -> list[str]:
    """The names of the label schemes."""
    return list(_CLASSES)


def classes(scheme: str) -> list[str]:
    """The class order of ``scheme`` (label index i is ``classes(scheme)[i]``)."""
    _check_scheme(scheme)
    return list(_CLASSES[scheme])


def _check_scheme(scheme: str) -> None:
    if scheme not in _CLASSES:
        raise ConfigError(f"unknown label scheme {scheme!r}; choose one of {', '.join(_CLASSES)}")


def megc2019_list(path: str | Path = MEGC2019_LIST) -> dict[tuple[str, str, str], str]:
    """The official MEGC2019 composite list: (dataset, subject key, clip key) -> class name."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "the MEGC2019 composite list (melib/manifests/megc2019_composite_3class.csv)",
                        "no such file")
    names = _CLASSES["megc2019"]
    out = {}
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if len(row) != 4 or row[3].strip() not in ("0", "1", "2"):
                raise DataError(path, "4 columns dataset,subject,clip,label (0/1/2)", f"line {n}: {row}")
            ds, sub, clip, lab = (c.strip() for c in row)
            out[_megc_key(ds, sub, clip)] = names[int(lab)]
    return out


def _megc_key(dataset: str, subject: str, clip: str) -> tuple[str, str, str]:
    """A matching key that ignores zero-padding (smic s1 = s01, samm 6 = 006)."""
    def unpad(text: str) -> str:
        return re.sub(r"\d+", lambda m: str(int(m.group())), str(text).strip().lower())

    subject = str(subject).split("/")[-1]
    return dataset, unpad(subject), unpad(clip)


# --- the schemes: each returns (label, reason) for one row -------------------------------------

def _row_aus(row) -> frozenset[int]:
    aus = row.get("au_set")
    if isinstance(aus, (set, frozenset, list, tuple)):
        return frozenset(int(a) for a in aus)
    return parse_aus(row.get("aus"))


def _emotion(row) -> str:
    """A clip's emotion word, lower-cased, one spelling per word (:data:`EMOTION_SPELLINGS`)."""
    e = row.get("emotion")
    e = "" if e is None or (isinstance(e, float) and e != e) else str(e).strip().lower()
    return EMOTION_SPELLINGS.get(e, e)


def _original(row, ctx):
    e = _emotion(row)
    if not e:
        return None, "no emotion annotated"
    return (e, None) if e in ORIGINAL_EMOTIONS else (None, f"emotion {e!r} is not one of the releases' words")


def _megc2019(row, ctx):
    if row.get("synthetic"):
        lab = MEGC2019_EMOTION.get(_emotion(row))
        return (lab, None) if lab else (None, f"emotion {_emotion(row)!r} not in the MEGC2019 rule")
    if row["dataset"] not in ("smic", "casme2", "samm"):
        return None, "MEGC2019 uses SMIC, CASME II and SAMM only"
    lab = ctx["list"].get(_megc_key(row["dataset"], row["subject"], row["clip"]))
    return (lab, None) if lab else (None, "not on the MEGC2019 composite list")


def _objective(row, ctx):
    cls = normalise_objective(row.get("objective_class"))
    if cls is not None:
        return cls, None
    aus = row.get("aus")
    return derived_objective(aus if isinstance(aus, str) and aus.strip() else _row_aus(row))


def _pnso(row, ctx):
    cls, why = _objective(row, ctx)
    return (pnso_class(_row_aus(row), cls), None) if cls else (None, why)


_C3D_MAP = {"happiness": "happiness", "positive": "happiness", "disgust": "disgust",
            "negative": "disgust", "surprise": "surprise"}


def _c3d(row, ctx):
    if row["dataset"] not in ("casme2", "smic", "samm"):
        return None, "C3D uses CASME II, SMIC and SAMM only"
    e = _emotion(row)
    if row["dataset"] != "smic" and e in ("positive", "negative"):
        return None, f"emotion {e!r} not one of happiness/disgust/surprise"
    lab = _C3D_MAP.get(e)
    return (lab, None) if lab else (None, f"emotion {e!r} not one of the C3D classes")


def _cropnet5(row, ctx):
    if row["dataset"] != "casme2":
        return None, "CropNet's 5-class protocol uses CASME II only"
    e = _emotion(row)
    return (e, None) if e in _CLASSES["cropnet5"] else (None, f"emotion {e!r} not one of the 5 classes")


def _localregions5(row, ctx):
    if row["dataset"] not in ("casme2", "samm"):
        return None, "LocalRegions' 5-class protocol uses CASME II and SAMM only"
    cls, why = _objective(row, ctx)
    if cls is None:
        return None, why
    return (cls, None) if cls in _CLASSES["localregions5"] else (None, f"objective class {cls} (VI, VII dropped)")


_RULES: dict[str, Callable] = {
    "original": _original, "megc2019": _megc2019, "objective": _objective, "pnso": _pnso,
    "c3d": _c3d, "cropnet5": _cropnet5, "localregions5": _localregions5,
}

_NOTES = {
    "original": "label = the emotion as the release writes it (lower-cased; SAMM's 'other' counted as 'others').",
    "megc2019": "real clips: the official MEGC2019 composite list (442 clips); synthetic clips, not on the "
                "list: the MEGC2019 emotion rule (positive <- happiness; negative <- disgust, repression, "
                "anger, contempt, fear, sadness; surprise <- surprise).",
    "objective": "objective class I-VII (PSN Table 2): the release's column where it has one, else derived from "
                 "AUs (the class of the combination the AU set equals, else VII).",
    "pnso": "Positive/Negative/Surprise/Others (PSN Table 3; DLHN Eq. 9): the group of the objective class "
            "(I positive, II surprise, III-VI negative, VII others; VII with AU2 surprise).",
    "c3d": "happiness/disgust/surprise by emotion on CASME II and SAMM; SMIC positive->happiness, "
           "negative->disgust (C3D Table 1).",
    "cropnet5": "CASME II emotions others/disgust/happiness/repression/surprise (CropNet 4.3).",
    "localregions5": "objective classes I-V on CASME II and SAMM; VI and VII dropped (LocalRegions Table 4).",
}


def register(name: str, classes: Iterable[str], rule: Callable, note: str) -> None:
    """Add label scheme ``name``: its class order, ``rule(row, ctx) -> (label or None, reason or None)`` and a
    one-line note (the registry of schemes is ``_CLASSES`` / ``_RULES`` / ``_NOTES``; a new scheme is one call)."""
    if name in _CLASSES:
        raise ConfigError(f"label scheme {name!r} registered twice")
    _CLASSES[name], _RULES[name], _NOTES[name] = list(classes), rule, note


def assign(samples: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """The same rows plus ``label`` (None where excluded) and ``excluded_because`` (None where kept)."""
    _check_scheme(scheme)
    missing = [c for c in ("dataset", "subject", "clip") if c not in samples.columns]
    if missing:
        raise DataError(None, "a samples table with columns dataset, subject, clip",
                        f"missing {', '.join(missing)}")
    ctx = {}
    if scheme == "megc2019":
        real = ~samples["synthetic"].astype(bool) if "synthetic" in samples.columns else pd.Series(True, samples.index)
        ctx["list"] = megc2019_list() if real.any() else {}
    rule = _RULES[scheme]
    labels, reasons = [], []
    for _, row in samples.iterrows():
        lab, why = rule(row, ctx)
        labels.append(lab)
        reasons.append(why)
    out = samples.copy()
    out["label"] = pd.Series(labels, index=samples.index, dtype=object)
    out["excluded_because"] = pd.Series(reasons, index=samples.index, dtype=object)
    out.attrs = dict(samples.attrs)
    out.attrs["scheme"] = scheme
    out.attrs["scheme_note"] = _NOTES[scheme]
    return out

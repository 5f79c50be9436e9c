"""What a synthetic set is: layouts, classes, parameters and their defaults, presets, and the clips' labels."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..labels import OBJECTIVE_AU_COMBOS

VERSION = 1
# The default set's layouts (``generate_default``, ``melib data synth``, the study), then the ones written only
# when named (``layouts=``, ``--layouts``). The order fixes each layout's random streams (:func:`rng`): append.
DEFAULT_LAYOUTS = ("casme2", "samm", "smic")
LAYOUTS = (*DEFAULT_LAYOUTS, "casme3a", "casme3c", "4dme", "mmew")
GREY = ("samm", "4dme")  # layouts whose release ships grey frames
CLASSES = ("I", "II", "III", "IV", "V", "VI", "VII")

# Class VII: AU sets that appear in no PSN Table 2 combination (dimpler, lower-lip depressor, pucker,
# nostril compressor, eyes closed). The paper gives none ("Others").
OTHER_AU_COMBOS = tuple(frozenset(int(a) for a in s.split("+")) for s in ("14", "16", "18", "39", "43", "16+43"))

# The word each release writes for an objective class. CASME II has no "anger": class III's AUs (4, 23,
# 17+24) are closest to what its coders called repression, so III -> repression (a choice).
_CASME3 = {"I": "happy", "II": "surprise", "III": "anger", "IV": "disgust", "V": "sad", "VI": "fear",
           "VII": "others"}
NATIVE_EMOTION = {
    "casme2": {"I": "happiness", "II": "surprise", "III": "repression", "IV": "disgust", "V": "sadness",
               "VI": "fear", "VII": "others"},
    "samm": {"I": "Happiness", "II": "Surprise", "III": "Anger", "IV": "Disgust", "V": "Sadness",
             "VI": "Fear", "VII": "Other"},
    "smic": {"I": "positive", "II": "surprise", "III": "negative", "IV": "negative", "V": "negative",
             "VI": "negative"},
    # CAS(ME)³ writes happy and sad; 4DME's words are positive, negative, surprise, repression and others
    # (III -> repression as for CASME II, a choice); MMEW has the objective classes' own words.
    "casme3a": _CASME3,
    "casme3c": _CASME3,
    "4dme": {"I": "Positive", "II": "Surprise", "III": "Repression", "IV": "Negative", "V": "Negative",
             "VI": "Negative", "VII": "Others"},
    "mmew": {"I": "happiness", "II": "surprise", "III": "anger", "IV": "disgust", "V": "sadness", "VI": "fear",
             "VII": "others"},
}
SMIC_SHORT = {"positive": "po", "negative": "ne", "surprise": "sur"}

LAYOUT_DEFAULTS = {
    "casme2": {"fps": 100.0, "frames": (30, 44), "clips_per_subject": 14, "first": (1, 200), "pre": (0, 2)},
    "samm": {"fps": 100.0, "frames": (30, 44), "clips_per_subject": 14, "first": (1000, 9000), "pre": (0, 2)},
    "smic": {"fps": 50.0, "frames": (20, 30), "clips_per_subject": 9, "first": (1, 30000), "pre": (1, 4)},
    # at their releases' rates (30, 60, 90 fps): a 0.2-0.45 s expression plus lead-in and lead-out. CAS(ME)³ A's
    # clips are cut from whole recordings numbered from 0 (``first`` is not drawn there): at least one frame
    # before the onset keeps every onset a frame number (> 0).
    "casme3a": {"fps": 30.0, "frames": (10, 15), "clips_per_subject": 14, "first": (0, 1), "pre": (1, 2)},
    "casme3c": {"fps": 30.0, "frames": (10, 15), "clips_per_subject": 14, "first": (1, 3000), "pre": (0, 2)},
    "4dme": {"fps": 60.0, "frames": (18, 28), "clips_per_subject": 14, "first": (1, 3000), "pre": (0, 2)},
    "mmew": {"fps": 90.0, "frames": (30, 44), "clips_per_subject": 14, "first": (1, 2), "pre": (0, 2)},
}
# Per-layout look: gain and RGB tint (CASME II bright studio light, SAMM grey camera, SMIC darker).
LOOK = {"casme2": (1.05, (1.02, 1.0, 0.97)), "samm": (1.0, (1.0, 1.0, 1.0)), "smic": (0.8, (0.96, 1.03, 0.98)),
        "casme3a": (0.95, (0.98, 1.0, 1.03)), "casme3c": (0.9, (0.98, 1.0, 1.03)), "4dme": (1.0, (1.0, 1.0, 1.0)),
        "mmew": (1.05, (1.03, 1.0, 0.96))}

DEFAULTS = {"subjects": 5, "clips_per_subject": None, "width": 320, "height": 240, "face_width": None,
            "fps": None, "frames": None, "amplitude": 3.0, "noise": 2.0, "jitter": 0.3, "flicker": 0.01,
            "label_seed": None}
# Parameters added later: at these values they are left out of ``synth_params.json``, so that a set made
# without them keeps its bytes (and is not rebuilt).
OPTIONAL = {"clips": None, "subject_label_dependence": 0.0}

# Each release as the papers describe it. Frame size: CASME II and SMIC-HS 640x480 (C3D section 3.1,
# CropNet Table 1, LocalRegions Table 2); SAMM 960x650 as CropNet Table 1 gives it (the camera's own frames
# are 2040x1088, C3D section 3.3). Face width: LocalRegions Table 2 (CASME II 280x340, SMIC 190x230, SAMM
# 400x400). Frame rate: CASME II and SAMM 200 fps (PSN section 4.1), SMIC-HS 100 fps (LocalRegions 4.1).
# Subjects and clips: CASME II 26 / 255 (PSN 4.1), SAMM 29 / 159 (C3D 3.3, CropNet Table 1; the manifest),
# SMIC-HS 16 / 164 (LocalRegions 4.1). Clip lengths are choices: CASME II 30-140 frames (PSN 3.2 (2): the
# longest clip of the four databases has 142), SAMM 30-100 (a micro-expression lasts under 0.5 s, PSN
# section 1: 100 frames at 200 fps), SMIC 20-50 (mean 35; C3D section 5: SMIC's clips average 34 frames).
RELEASES = {
    "casme2": {"width": 640, "height": 480, "face_width": 280, "fps": 200, "frames": (30, 140),
               "subjects": 26, "clips": 255},
    "samm": {"width": 960, "height": 650, "face_width": 400, "fps": 200, "frames": (30, 100),
             "subjects": 29, "clips": 159},
    "smic": {"width": 640, "height": 480, "face_width": 190, "fps": 100, "frames": (20, 50),
             "subjects": 16, "clips": 164},
    # The releases read by name only (melib's papers use none of them). Frame rate, subjects and clips from their
    # manifests (melib/manifests/<name>.yaml); frame size from the releases' papers as they are usually cited
    # (CAS(ME)³ 1280x720, 4DME's grey frontal camera 640x480, MMEW 1920x1080), unconfirmed here; face widths and
    # clip lengths (0.3-1 s) are choices.
    "casme3a": {"width": 1280, "height": 720, "face_width": 300, "fps": 30, "frames": (10, 30),
                "subjects": 100, "clips": 860},
    "casme3c": {"width": 1280, "height": 720, "face_width": 300, "fps": 30, "frames": (10, 30),
                "subjects": 31, "clips": 166},
    "4dme": {"width": 640, "height": 480, "face_width": 250, "fps": 60, "frames": (18, 60),
             "subjects": 41, "clips": 267},
    "mmew": {"width": 1920, "height": 1080, "face_width": 450, "fps": 90, "frames": (30, 90),
             "subjects": 36, "clips": 300},
}
_SCALE = ("width", "height", "face_width", "fps", "frames")
# Per-layout parameters of each preset: ``release`` has the releases' frames at the default set's subjects
# and clips; ``release-full`` their subject and clip counts too.
PRESETS = {
    "default": {layout: {} for layout in LAYOUTS},
    "release": {layout: {k: RELEASES[layout][k] for k in _SCALE} for layout in LAYOUTS},
    "release-full": {layout: dict(RELEASES[layout]) for layout in LAYOUTS},
}


def rng(seed: int, layout: str, stream: int, *index: int) -> np.random.Generator:
    """The random stream ``stream`` of a layout (0 subjects, 1 nuisance, 2 labels, 3 subject-label mixing)."""
    return np.random.default_rng([int(seed), LAYOUTS.index(layout), stream, *map(int, index)])


def preset_params(preset: str, layout: str, params: dict) -> dict:
    """``params`` over the preset's parameters for ``layout`` (``clips_per_subject`` over its ``clips``)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown synth preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = {k: v for k, v in PRESETS[preset][layout].items() if not (k == "clips" and "clips_per_subject" in params)}
    return {**base, **params}


def resolve(layout: str, seed: int, params: dict) -> dict:
    """Every parameter of a layout, checked and with its default filled in (what ``synth_params.json`` holds)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    unknown = set(params) - set(DEFAULTS) - set(OPTIONAL)
    if unknown:
        raise ConfigError(f"unknown synth parameter(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join([*DEFAULTS, *OPTIONAL])}")
    p = {**DEFAULTS, **OPTIONAL, **params}
    d = LAYOUT_DEFAULTS[layout]
    if p["clips"] is not None:
        if p["clips_per_subject"] is not None:
            raise ConfigError("give synth parameter clips (the layout's total) or clips_per_subject, not both")
        p["clips"] = int(p["clips"])
    elif p["clips_per_subject"] is None:
        p["clips_per_subject"] = d["clips_per_subject"]
    p["fps"] = float(d["fps"] if p["fps"] is None else p["fps"])
    p["frames"] = [int(v) for v in (d["frames"] if p["frames"] is None else p["frames"])]
    p["face_width"] = float(0.4 * p["width"] if p["face_width"] is None else p["face_width"])
    p["label_seed"] = int(seed if p["label_seed"] is None else p["label_seed"])
    for k in ("subjects", "clips_per_subject", "clips", "width", "height"):
        if p[k] is not None:
            p[k] = int(p[k])
            if p[k] < 1:
                raise ConfigError(f"synth parameter {k} must be >= 1, got {p[k]}")
    if p["clips"] is not None and p["clips"] < p["subjects"]:
        raise ConfigError(f"synth parameter clips ({p['clips']}) must be at least subjects ({p['subjects']})")
    if p["width"] < 64 or p["height"] < 48:
        raise ConfigError(f"synth frames must be at least 64x48 pixels, got {p['width']}x{p['height']}")
    if not 3 <= p["frames"][0] <= p["frames"][1]:
        raise ConfigError(f"synth parameter frames must be (min, max) with 3 <= min <= max, got {p['frames']}")
    for k in ("amplitude", "noise", "jitter", "flicker", "fps", "subject_label_dependence", "face_width"):
        p[k] = float(p[k])
        if not math.isfinite(p[k]):
            raise ConfigError(f"synth parameter {k} must be a finite number, got {p[k]}")
        if p[k] < 0 or (k == "fps" and p[k] == 0):
            raise ConfigError(f"synth parameter {k} must be >= 0 (fps > 0), got {p[k]}")
    if p["subject_label_dependence"] > 1:
        raise ConfigError(f"synth parameter subject_label_dependence must be in [0, 1], "
                          f"got {p['subject_label_dependence']}")
    for k, neutral in OPTIONAL.items():
        if p[k] == neutral:
            del p[k]
    return {"layout": layout, "seed": int(seed), "version": VERSION, **p}


def clips_per_subject(p: dict) -> list[int]:
    """How many clips each subject has: ``clips_per_subject`` each, or ``clips`` spread as evenly as they go."""
    if p.get("clips") is None:
        return [p["clips_per_subject"]] * p["subjects"]
    base, extra = divmod(p["clips"], p["subjects"])
    return [base + (s < extra) for s in range(p["subjects"])]


def labels(p: dict) -> list[list[tuple[str, frozenset]]]:
    """Per subject, per clip: (objective class, AU set), from the label streams only.

    Each subject starts from a balanced cycle over the classes (SMIC: positive, surprise, negative, the
    negatives cycling over III-VI), shuffled, with an AU set drawn from the class's combinations.
    ``subject_label_dependence`` d then concentrates them: a random fraction d of all clips (in subject
    order) has its labels sorted by class, in a random order of the classes, and put back in place, so
    those labels run in blocks across consecutive subjects. The labels are only permuted: each class keeps
    its count. At d = 1 a subject shows one class, or the end of one and the start of the next; at d = 0
    nothing moves (and the mixing stream is never drawn).
    """
    layout = p["layout"]
    r = rng(p["label_seed"], layout, 2)
    kinds = ["I", "II", "NEG"] if layout == "smic" else list(CLASSES)
    neg = 0
    out = []
    for s, n in enumerate(clips_per_subject(p)):
        seq = [kinds[(s + j) % len(kinds)] for j in range(n)]
        seq = [seq[i] for i in r.permutation(len(seq))]
        row = []
        for k in seq:
            if k == "NEG":
                k, neg = ("III", "IV", "V", "VI")[neg % 4], neg + 1
            combos = OTHER_AU_COMBOS if k == "VII" else OBJECTIVE_AU_COMBOS[k]
            row.append((k, combos[int(r.integers(len(combos)))]))
        out.append(row)
    d = p.get("subject_label_dependence", 0.0)
    return _concentrate(out, d, rng(p["label_seed"], layout, 3), layout) if d > 0 else out


def _concentrate(out: list[list[tuple]], d: float, r: np.random.Generator, layout: str) -> list[list[tuple]]:
    flat = [(s, j) for s, row in enumerate(out) for j in range(len(row))]
    chosen = np.sort(r.choice(len(flat), size=int(round(d * len(flat))), replace=False))
    groups = list(dict.fromkeys(NATIVE_EMOTION[layout][c] for c in CLASSES if c in NATIVE_EMOTION[layout]))
    rank = {g: i for i, g in enumerate(groups[k] for k in r.permutation(len(groups)))}
    picked = [out[flat[i][0]][flat[i][1]] for i in chosen]
    picked.sort(key=lambda lab: (rank[NATIVE_EMOTION[layout][lab[0]]], lab[0]))
    out = [list(row) for row in out]
    for i, lab in zip(chosen, picked):
        s, j = flat[i]
        out[s][j] = lab
    return out


def label_dependence(subjects, labels) -> float:
    """Cramer's V between subject and label (0: every subject shows the classes alike, 1: one class each)."""
    from scipy.stats.contingency import association, crosstab

    table = crosstab(np.asarray(subjects), np.asarray(labels)).count
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))

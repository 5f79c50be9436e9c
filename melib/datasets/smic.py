"""SMIC: ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image000001.bmp``; labels from folder names.

HS is 100 fps, VIS and NIR 25 fps. No apex is annotated: the middle frame is used and the row is
flagged ``apex_estimated``. The ``non_micro`` sequences are not micro-expressions and are not clips.
"""
from __future__ import annotations

import re

from ..errors import ConfigError, DataError
from ._common import Log, clip_row, existing_dir, list_frames, resolve_clip, samples_frame

DATASET = "smic"
FPS = {"HS": 100, "VIS": 25, "NIR": 25}
EMOTIONS = ("negative", "positive", "surprise")
_SUBJECT = re.compile(r"s0*(\d+)$", re.IGNORECASE)


def subject_name(folder: str) -> str | None:
    """``s1`` or ``s01`` -> ``s01``; None for a folder that is not a subject."""
    m = _SUBJECT.match(folder)
    return f"s{int(m.group(1)):02d}" if m else None


def _base(root, variant):
    if root.name.upper() == variant and any(subject_name(p.name) for p in root.iterdir() if p.is_dir()):
        return root
    for cand in (root, root / "SMIC_all_raw", *root.glob("*/SMIC_all_raw")):
        if (cand / variant).is_dir():
            return cand / variant
    raise DataError(root, f"SMIC frames: a folder {variant}/ in the root or in SMIC_all_raw/", "none")


def load(root, variant: str = "HS", synthetic: bool = False):
    """SMIC micro clips of one camera (``variant`` HS, VIS or NIR); subject ``s1``/``s01`` -> ``smic/s01``."""
    variant = variant.upper()
    if variant not in FPS:
        raise ConfigError(f"unknown SMIC variant {variant!r}; choose one of {', '.join(FPS)}")
    root = existing_dir(root, "SMIC (SMIC_all_raw/HS/s1/micro/<emotion>/<clip>/)")
    base = _base(root, variant)
    subjects = sorted((subject_name(p.name), p) for p in base.iterdir() if p.is_dir() and subject_name(p.name))
    if not subjects:
        raise DataError(base, "SMIC subject folders like s1/ (or s01/)", "none (wrong layout?)")
    log = Log(DATASET)
    rows = []
    for subject, folder in subjects:
        micro = folder / "micro"
        if not micro.is_dir():
            log.exclude(subject, "", f"subject folder {folder} has no micro/ folder")
            continue
        for emo_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            emotion = emo_dir.name.lower()
            for clip_dir in sorted(p for p in emo_dir.iterdir() if p.is_dir()):
                clip = clip_dir.name
                if emotion not in EMOTIONS:
                    log.exclude(subject, clip, f"emotion folder {emo_dir.name!r} is not one of {', '.join(EMOTIONS)}")
                    continue
                res = resolve_clip(log, subject, clip, list_frames(clip_dir), None, None, None, annotated=False)
                if res is not None:
                    rows.append(clip_row(DATASET, subject, clip, res, "", emotion, None, FPS[variant], synthetic,
                                         has_aus=False))
    return samples_frame(rows, log, root=root, frames_dir=base, variant=variant)

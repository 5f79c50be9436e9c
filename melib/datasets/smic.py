"""SMIC: ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image000001.bmp``; labels from folder names.

HS is 100 fps, VIS and NIR 25 fps. No apex is annotated: the middle frame is used and the row is
flagged ``apex_estimated``. The ``non_micro`` sequences are not micro-expressions and are not clips.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError, DataError
from ._common import Log, clip_frames, clip_row, existing_dir, resolve_clip, samples_frame

DATASET = "smic"
FPS = {"HS": 100, "VIS": 25, "NIR": 25}
EMOTIONS = ("negative", "positive", "surprise")
_SUBJECT = re.compile(r"s0*(\d+)$", re.IGNORECASE)


def subject_name(folder: str) -> str | None:
    """``s1`` or ``s01`` (or ``'s1 '``, spaces around) -> ``s01``; None for a folder that is not a subject."""
    m = _SUBJECT.match(folder.strip())
    return f"s{int(m.group(1)):02d}" if m else None


def _base(root, variant):
    if root.name.upper() == variant and any(subject_name(p.name) for p in root.iterdir() if p.is_dir()):
        return root
    for cand in (root, root / "SMIC_all_raw", *root.glob("*/SMIC_all_raw")):
        if (cand / variant).is_dir():
            return cand / variant
    raise DataError(root, f"SMIC frames: a folder {variant}/ in the root or in SMIC_all_raw/", "none")


def _subjects(log: Log, base: Path) -> list[tuple[str, Path]]:
    """(subject, folder) of every subject folder; a name with spaces around is a logged fix, other folders are
    exclusions, and two folders of one subject (``s1/`` and ``s01/``) raise DataError."""
    found: dict[str, list[Path]] = {}
    for p in sorted(q for q in base.iterdir() if q.is_dir()):
        name = subject_name(p.name)
        if name is None:
            log.exclude("", p.name, f"folder {p} is not a subject folder (s1/ or s01/)")
            continue
        found.setdefault(name, []).append(p)
        if p.name != p.name.strip():
            log.fix(name, "", f"subject folder {p.name!r} has spaces around its name; read as {name}",
                    field="subject", old=p.name, new=name)
    twice = {k: v for k, v in found.items() if len(v) > 1}
    if twice:
        k, v = next(iter(twice.items()))
        raise DataError(base, "one folder per subject", f"{' and '.join(p.name + '/' for p in v)} (both subject {k}); "
                                                         "keep one")
    if not found:
        raise DataError(base, "SMIC subject folders like s1/ (or s01/)", "none (wrong layout?)")
    return sorted((k, v[0]) for k, v in found.items())


def load(root, variant: str = "HS", synthetic: bool = False):
    """SMIC micro clips of one camera (``variant`` HS, VIS or NIR); subject ``s1``/``s01`` -> ``smic/s01``."""
    variant = variant.upper()
    if variant not in FPS:
        raise ConfigError(f"unknown SMIC variant {variant!r}; choose one of {', '.join(FPS)}")
    root = existing_dir(root, "SMIC (SMIC_all_raw/HS/s1/micro/<emotion>/<clip>/)")
    base = _base(root, variant)
    log = Log(DATASET)
    rows = []
    for subject, folder in _subjects(log, base):
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
                frames = clip_frames(log, subject, clip, clip_dir)
                res = None if frames is None else resolve_clip(log, subject, clip, frames, None, None, None,
                                                               annotated=False)
                if res is not None:
                    rows.append(clip_row(log, subject, clip, res, "", emotion, None, FPS[variant], synthetic,
                                         has_aus=False))
    return samples_frame(rows, log, root=root, frames_dir=base, variant=variant)

"""Generating sets: one layout (:func:`generate`) or a set of several (:func:`generate_default`), rendered in threads."""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
from tqdm.auto import tqdm

from .. import config
from ..errors import ConfigError, DataError
from .faces import Subject, make_subject
from .layouts import plan, write_annotation, write_ground_truth
from .motion import render_clip
from .spec import DEFAULT_LAYOUTS, GREY, LAYOUTS, VERSION, preset_params, resolve
from .store import (PARAMS_FILE, building, check_replaceable, clean_stale, install, read_record, report, target,
                    verify, write_manifest)


def _render_and_write(c: dict, subject: Subject, layout_dir: Path, p: dict) -> dict:
    cv2.setNumThreads(1)
    r = render_clip(subject, c["aus"], c["nuisance"], p["amplitude"], p["noise"], p["jitter"], p["flicker"])
    folder = layout_dir / c["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(c["names"], r["frames"]):
        img = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY if p["layout"] in GREY else cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(folder / name), img):
            raise DataError(folder / name, "a writable image file")
    return {k: r[k] for k in ("landmarks", "intensity", "pose", "onset", "apex", "offset")}


def _n_jobs(n_jobs: int | None) -> int:
    return (os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))


def generate(root, layout: str, seed: int = 0, n_jobs: int | None = None, progress: bool = True,
             **params) -> Path:
    """Write the synthetic ``layout`` (one of :data:`LAYOUTS`: casme2, samm, smic, casme3a, casme3c, 4dme, mmew)
    under ``<root>/<layout>/``; returns that folder.

    ``params`` (defaults in :data:`DEFAULTS` and the package docstring): ``subjects``, ``clips_per_subject``
    (or ``clips``, the layout's total, spread over the subjects), ``width``, ``height``, ``face_width``,
    ``fps``, ``frames`` (min, max clip length), ``amplitude`` (pixels at apex; 0 = chance-level control),
    ``noise`` (sd, grey levels), ``jitter`` (sd, pixels), ``flicker`` (relative gain), ``label_seed``
    (default ``seed``), ``subject_label_dependence`` (0..1, default 0; see :func:`~melib.synth.spec.labels`).
    The same seed and params give the same bytes. The folder is built under a temporary name and swapped in;
    an existing ``<root>/<layout>/`` that melib did not write (or that holds files it did not write) is
    refused with a DataError, never deleted.
    """
    p = resolve(layout, seed, params)
    final = target(Path(root).absolute() / layout)
    clean_stale(final.parent, (final.name,))
    check_replaceable(final)
    clips, subject_keys = plan(p)
    subjects = [make_subject(*k, width=p["width"], height=p["height"], face_width=p["face_width"])
                for k in subject_keys]
    jobs = [(c, subjects[c["subject_index"]]) for c in clips]
    with building(final) as tmp:
        with ThreadPoolExecutor(_n_jobs(n_jobs)) as pool:
            results = list(tqdm(pool.map(lambda j: _render_and_write(j[0], j[1], tmp, p), jobs), total=len(jobs),
                                desc=f"synth {layout}", disable=not progress))
        write_ground_truth(tmp, p, clips, results)
        write_annotation(tmp, p, clips)
        (tmp / PARAMS_FILE).write_text(json.dumps(p, indent=1, sort_keys=True))
        write_manifest(tmp)
        install(tmp, final)
    return final


def _layouts(layouts) -> tuple[str, ...]:
    """The layouts of a set, in :data:`LAYOUTS` order; an empty, unknown or repeated name is refused."""
    given = (layouts,) if isinstance(layouts, str) else tuple(layouts)
    unknown = [x for x in given if x not in LAYOUTS]
    if not given or unknown or len(set(given)) < len(given):
        raise ConfigError(f"synth layouts={list(given)}: give each of {', '.join(LAYOUTS)} at most once, at least "
                          f"one" + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""))
    return tuple(x for x in LAYOUTS if x in given)


def default_params(seed: int = 0, preset: str = "default", layouts=DEFAULT_LAYOUTS, **params) -> dict:
    """The resolved parameters of every layout of a set (what its root's ``synth_params.json`` holds)."""
    out = {"version": VERSION, "seed": int(seed),
           "layouts": {lay: resolve(lay, seed, preset_params(preset, lay, params)) for lay in _layouts(layouts)}}
    return out if preset == "default" else {**out, "preset": preset}


def generate_default(root=None, seed: int = 0, n_jobs: int | None = None, progress: bool = True,
                     preset: str = "default", layouts=DEFAULT_LAYOUTS, **params) -> Path:
    """A set of layouts under ``root`` (default ``melib.config.synth_root()``); returns ``root``.

    ``layouts``: the default set's casme2, samm and smic (:data:`DEFAULT_LAYOUTS`), or any of :data:`LAYOUTS`
    named (casme3a, casme3c, 4dme and mmew are written only when named). ``preset``: ``default``, ``release``
    (each layout at its release's frame size, frame rate, face size and clip lengths) or ``release-full`` (also
    its subject and clip counts); ``params`` override the preset's (:data:`PRESETS`). Nothing is done when
    ``root`` already holds this set whole (:func:`verify`); a damaged one is reported and rebuilt. The set is
    built in a temporary sibling and swapped in; temporary folders an interrupted writer left are removed and
    reported first. A ``root`` that is a symbolic link stays one: the set is replaced where it points.
    """
    root = Path(config.synth_root() if root is None else root).absolute()
    real = target(root)
    want = default_params(seed, preset, layouts, **params)
    for where in dict.fromkeys((real, root)):  # beside the link too: what an older melib left there
        clean_stale(where.parent, (where.name,))
    if real.is_dir():
        clean_stale(real, LAYOUTS)
    if read_record(real) == want:
        problems = verify(real)
        if not problems:
            return root
        report(f"{root}: the synthetic set is damaged, rebuilt; {len(problems)} problem(s): "
               + "; ".join(problems[:10]) + (" ..." if len(problems) > 10 else ""))
    check_replaceable(real)
    with building(real) as tmp:
        for layout in want["layouts"]:
            generate(tmp, layout, seed, n_jobs=n_jobs, progress=progress, **preset_params(preset, layout, params))
        (tmp / PARAMS_FILE).write_text(json.dumps(want, indent=1, sort_keys=True))
        install(tmp, real)
    return root

"""Release-scale synthetic clips for the benches: CASME II's frame size (640 x 480) and clip lengths (60-80
frames), generated once under ``<MELIB_HOME>/data/synth-release-bench/`` (git-ignored) and reused."""
from __future__ import annotations

import json
import os
from pathlib import Path

# Frame size and clip lengths: CASME II's, and the quick mode's.
SIZES = {False: {"width": 640, "height": 480, "frames": (60, 80)},
         True: {"width": 320, "height": 240, "frames": (16, 20)}}


def release_samples(subjects: int = 1, clips_per_subject: int = 3, root=None, quick: bool = False):
    """The samples table of ``subjects x clips_per_subject`` release-scale CASME II-layout clips (seed 0):
    ``melib.synth.generate(root, "casme2", 0, width=640, height=480, frames=(60, 80), ...)``; ``quick``
    (the benches' quick mode): 320 x 240, 16-20 frames, under ``synth-release-bench-quick/``."""
    from melib import config, datasets, synth

    params = {"subjects": subjects, "clips_per_subject": clips_per_subject, **SIZES[quick]}
    folder = "synth-release-bench-quick" if quick else "synth-release-bench"
    root = Path(root or config.home() / "data" / folder) / f"{subjects}x{clips_per_subject}"
    stamp = root / "bench_params.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == json.loads(json.dumps(params))):
        synth.generate(root, "casme2", 0, progress=False, **params)
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(json.dumps(params))
        os.replace(tmp, stamp)
    samples = datasets.load("casme2", root / "casme2")
    samples.attrs["frame_size"] = f"{params['width']} x {params['height']}"
    return samples

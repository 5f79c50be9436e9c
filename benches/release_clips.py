"""Release-scale synthetic clips for the benches: CASME II's frame size (640 x 480) and clip lengths (60-80
frames), generated once under ``<MELIB_HOME>/data/synth-release-bench/`` (git-ignored) and reused."""
from __future__ import annotations

import json
import os
from pathlib import Path


def release_samples(subjects: int = 1, clips_per_subject: int = 3, root=None):
    """The samples table of ``subjects x clips_per_subject`` release-scale CASME II-layout clips (seed 0):
    ``melib.synth.generate(root, "casme2", 0, width=640, height=480, frames=(60, 80), ...)``."""
    from melib import config, datasets, synth

    params = {"subjects": subjects, "clips_per_subject": clips_per_subject, "width": 640, "height": 480,
              "frames": (60, 80)}
    root = Path(root or config.home() / "data" / "synth-release-bench") / f"{subjects}x{clips_per_subject}"
    stamp = root / "bench_params.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == json.loads(json.dumps(params))):
        synth.generate(root, "casme2", 0, progress=False, **params)
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(json.dumps(params))
        os.replace(tmp, stamp)
    return datasets.load("casme2", root / "casme2")

"""melib.costs and melib.calibration (``melib study --plan``): the clip-step and step arithmetic of a planned
training against a hand count, another machine's calibration file, and the CLI's refusals."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest

from melib import calibration, costs, params
from melib.experiments import common
from melib.errors import ConfigError, DataError
from melib.experiments.contract import TrainingSpec


def item(model="c3d_model_a", *, n_clips=10, n_folds=5, epochs=3, stages=2, shared=False, **config):
    """A planned training by hand: ``n_folds`` folds of ``n_clips`` clips (each clip tested once), so each fold
    trains on ``n_clips - n_clips / n_folds`` clips."""
    per_fold = n_clips - n_clips // n_folds
    spec = TrainingSpec(key=("hand", model), name="hand", model=model, pipeline="c3d", pipeline_params={},
                        protocol="group_kfold", protocol_params={}, scheme="c3d", config=config, n_clips=n_clips,
                        n_folds=n_folds, train_clips=n_folds * per_fold, epochs=epochs, stages=stages)
    return costs.Item("12_c3d", spec, params.resolve("smoke"), shared=shared, source="x")


def test_clip_steps_and_steps_match_a_hand_count():
    # 5 folds of 10 clips: 8 training clips a fold, 2 of them for validation (val_fraction 0.25), batch 4
    it = item(batch_size=4, val_fraction=0.25, track_test=False)
    assert it.spec.clip_steps() == 3 * 2 * 5 * 8 == 240
    assert costs.Plan([it], ["12_c3d"]).table()["clip_steps"].tolist() == [240]
    t = costs.training_seconds(it, {"step_s": 1.0, "forward_s": 0.0, "setup_s": 0.0})
    # a fold fits 6 clips: ceil(6 / 4) = 2 steps an epoch and stage
    assert t["steps"] == 5 * 2 * 3 * 2 == 60 and t["seconds"] == pytest.approx(60.0)
    # forward passes: the 2 validation clips each epoch and stage of each fold, and the 10 test clips once
    t = costs.training_seconds(it, {"step_s": 0.0, "forward_s": 1.0, "setup_s": 10.0})
    assert t["forward_clips"] == 5 * 2 * 3 * 2 + 10 == 70 and t["seconds"] == pytest.approx(70 + 5 * 10)
    # an earlier training that makes the same run records costs nothing again
    assert costs.Plan([item(shared=True)], ["12_c3d"]).table()["clip_steps"].tolist() == [0]


def test_a_baseline_costs_its_folds_fits():
    spec = TrainingSpec(key=("svm",), name="svm", model="lbp_svm", pipeline="lbp_top", pipeline_params={},
                        protocol="loso", protocol_params={}, scheme="c3d", n_clips=12, n_folds=4, train_clips=36)
    it = costs.Item("20_baselines", spec, params.resolve("smoke"))
    assert spec.clip_steps() == 0
    assert costs.training_seconds(it, {"fit_s": 0.5}) == {"steps": 0, "forward_clips": 0, "seconds": 2.0}


H200 = {"source": "a test machine", "device": "cuda", "cores": 16,
        "train": {"c3d_model_a": {"clips_per_s": 100.0, "batch": 8, "profile": "default"}}, "setup_s": 2.0}


def test_another_machines_calibration_prices_training_without_measuring_here(tmp_path, monkeypatch):
    f = tmp_path / "h200.json"
    f.write_text(json.dumps(H200))
    monkeypatch.setattr(calibration, "measure_training", lambda *a, **k: pytest.fail("measured here"))
    cal = calibration.Calibration("cpu", path=tmp_path / "cache.json", external=calibration.load_file(f))
    assert cal.source.startswith("a test machine")
    it = item(batch_size=4, val_fraction=0.0, track_test=False)
    cost = cal.training(it, None)
    # a batch smaller than the measured one takes as long as the measured step (launch bound): 8 / 100 s
    assert cost["step_s"] == pytest.approx(0.08) and cost["setup_s"] == 2.0
    t = costs.training_seconds(it, cost)
    assert t["steps"] == 5 * 2 * 3 * math.ceil(8 / 4)
    assert cal.speedup(4) == 4 and cal.speedup(64) == 16  # the file's cores, not this machine's
    # a model of the same family is priced from the measured one by the ratio of FLOPs
    other = cal.training(item("c3d_model_b", batch_size=4), None)
    ratio = calibration._flops("c3d_model_b", {"profile": "default"}) / \
        calibration._flops("c3d_model_a", {"profile": "default"})
    assert other["step_s"] == pytest.approx(0.08 * ratio) and ratio != pytest.approx(1.0)
    with pytest.raises(ConfigError, match="no model of 'psn'"):
        cal.training(item("psn", batch_size=4), None)


@pytest.mark.parametrize("text, found", [("{not json", "Expecting"), ('{"source": "x"}', "no device, cores, train")])
def test_a_bad_calibration_file_is_a_data_error_naming_it(tmp_path, text, found):
    f = tmp_path / "cal.json"
    f.write_text(text)
    with pytest.raises(DataError, match=found) as e:
        calibration.load_file(f)
    assert str(f) in str(e.value)
    with pytest.raises(DataError, match="cal-absent.json"):
        calibration.load_file(tmp_path / "cal-absent.json")


def cli(*args, home):
    import os
    env = {**os.environ, "MELIB_HOME": str(home), "MELIB_CONFIG": str(home / "absent.yaml")}
    env.pop("MELIB_DASK", None)
    return subprocess.run([sys.executable, "-m", "melib.cli", "study", *args], capture_output=True, text=True,
                          env=env)


@pytest.mark.parametrize("args, message", [
    (["--plan-changes", "{max_folds: 2"], "--plan-changes takes a JSON object"),
    (["--calibration", "x.json"], "--calibration .* add --plan"),
    (["--dask", "localhost:8786"], "--dask takes a Dask scheduler address"),
    (["--plan", "--calibration", "nowhere.json"], "nowhere.json"),
])
def test_study_refuses_bad_options_in_one_line(tmp_path, args, message):
    import re
    out = cli(*args, home=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert re.search(message, out.stderr), out.stderr


class FixedCosts:
    """A calibration with fixed pipeline costs: 1 s a computed clip, 0.5 s a cache hit, 2 s a face."""

    def pipeline(self, it, samples, progress=False):
        return {"clip_s": 1.0, "key_s": 0.0, "landmarks_s": 2.0, "device_s": 0.0, "hit_s": 0.5}


def test_preprocessing_counts_each_clip_once_by_its_frames(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "labelled", lambda samples, scheme: samples)

    def clips(folder, n, content=b"same"):
        rows = []
        for i in range(n):
            frames = []
            for j in range(3):
                f = tmp_path / folder / f"c{i}" / f"{j}.jpg"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(content + bytes([i, j]))
                frames.append(str(f))
            rows.append({"frames": frames})
        return pd.DataFrame(rows)

    # two sets in different folders with the same frames (labels aside), and one with other frames
    sources = {"a": clips("a", 4), "b": clips("b", 4), "c": clips("c", 4, b"other")}
    assert costs.clip_ids(sources["a"]) == costs.clip_ids(sources["b"]) != costs.clip_ids(sources["c"])
    items = [costs.Item("30_protocols", item().spec, params.resolve("smoke"), source=src) for src in "abc"]
    plan = costs.Plan(items, ["30_protocols"], sources=sources)
    pre = costs._preprocessing(plan, FixedCosts(), progress=False)
    # set a: 4 computed, 4 faces; set b: 4 cache hits; set c: 4 computed, 4 faces
    assert pre["computed"].tolist() == [4, 0, 4] and pre["new_faces"].tolist() == [4, 0, 4]
    assert pre["pool_s"].tolist() == [4 * 1 + 4 * 2, 0, 4 * 1 + 4 * 2] and pre["parent_s"].tolist() == [0, 2.0, 0]


def test_a_chapter_with_sets_of_its_own_is_planned_without_the_profiles_data(home, monkeypatch):
    # the paper profile's data is the releases, none configured here: the known-answer chapter (its own
    # amplitude sets, no data parameter) is planned all the same, each training on its set's clips
    monkeypatch.setenv("MELIB_CONFIG", str(home / "absent.yaml"))
    for var in [v for v in os.environ if v.startswith("MELIB_DATA_")]:
        monkeypatch.delenv(var)
    small = {"subjects": 2, "clips_per_subject": 7, "width": 256, "height": 192, "frames": [12, 16]}
    plan = costs.planned([("40_known_answer", {"profile": "paper", "plan": {"epochs": 2, "amplitudes": [0, 3],
                                                                         "synth": small}})])
    table = plan.table()
    assert len(table) and set(table["chapter"]) == {"40_known_answer"}
    assert {it.source.split(":")[-1] for it in plan.items} == {"amplitude 0", "amplitude 3"}
    deep = [it.spec for it in plan.items if it.spec.epochs]
    assert deep and all(s.epochs == 2 for s in deep)
    assert table["clip_steps"].sum() == sum(s.clip_steps() for s in deep) > 0
    for it in plan.items:
        assert it.spec.n_clips == len(common.labelled(plan.sources[it.source], it.spec.scheme))

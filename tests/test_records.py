"""Run records: one JSON per fold, written atomically, never recomputed, gathered into tables."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import melib
from melib import records, train
from melib.errors import ConfigError, DataError


def toy(seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([{"dataset": "casme2" if s < 2 else "samm", "subject": f"x/s{s}", "clip": f"s{s}c{c}",
                        "label": ["neg", "pos"][c % 2]} for s in range(4) for c in range(6)])
    X = rng.normal(size=(len(df), 3))
    X[:, 0] += (df["label"] == "pos") * 2
    return df, X


def test_write_is_atomic_and_round_trips_numpy(tmp_path):
    dest = tmp_path / "a" / "b.json"
    rec = {"x": np.float32(0.5), "n": np.int64(3), "arr": np.arange(3), "t": (1, 2), "na": pd.NA, "p": tmp_path}
    records.write(rec, dest)
    assert records.read(dest) == {"x": 0.5, "n": 3, "arr": [0, 1, 2], "t": [1, 2], "na": None, "p": str(tmp_path)}
    assert [p.name for p in dest.parent.iterdir()] == ["b.json"]  # no temporary file left
    dest.write_text("{broken")
    with pytest.raises(DataError, match="delete the file to recompute"):
        records.read(dest)


def test_key_is_stable_and_sensitive():
    a = records.key({"model": "m", "params": {"C": 1.0, "k": [1, 2]}})
    assert a == records.key({"params": {"k": [1, 2], "C": 1.0}, "model": "m"}) and len(a) == 16
    assert a != records.key({"model": "m", "params": {"C": 2.0, "k": [1, 2]}})
    assert records.provenance()["melib_version"] == melib.__version__


def test_evaluate_writes_one_record_per_fold_and_resumes(tmp_path, monkeypatch):
    df, X = toy()
    ev = train.evaluate(LogisticRegression(C=0.5), X, df, "loso", root=tmp_path, progress=False)
    files = sorted(tmp_path.glob("LogisticRegression/*/fold*.json"))
    assert [p.name for p in files] == ["fold000.json", "fold001.json", "fold002.json", "fold003.json"]
    rec = json.loads(files[0].read_text())
    for k in ("model_params", "seed", "melib_version", "git_commit", "metrics", "predictions", "curves",
              "wall_s", "device", "audit", "protocol", "fold_name", "labels"):
        assert k in rec
    assert rec["model_params"]["C"] == 0.5 and rec["fold_name"] == "x/s0" and rec["audit"]["leakage"] == 0
    assert [p["clip"] for p in rec["predictions"]] == [f"s0c{c}" for c in range(6)]

    calls = []
    real = train.evaluation._run_fold
    monkeypatch.setattr(train.evaluation, "_run_fold", lambda task, **kw: calls.append(task["fold"]) or real(task, **kw))
    again = train.evaluate(LogisticRegression(C=0.5), X, df, "loso", root=tmp_path, progress=False)
    assert calls == [] and again.pooled == ev.pooled  # nothing recomputed
    files[2].unlink()
    train.evaluate(LogisticRegression(C=0.5), X, df, "loso", root=tmp_path, progress=False)
    assert calls == [2]  # an interrupted run resumes with the missing fold only
    train.evaluate(LogisticRegression(C=0.6), X, df, "loso", root=tmp_path, progress=False)
    assert calls == [2, 0, 1, 2, 3]  # other parameters, other records
    train.evaluate(LogisticRegression(C=0.6), X + 1, df, "loso", root=tmp_path, progress=False)
    assert len(calls) == 9  # other features, other records
    assert len(list(tmp_path.glob("LogisticRegression/*"))) == 3


def test_results_gathers_tables(tmp_path):
    df, X = toy()
    loso = train.evaluate(LogisticRegression(), X, df, "loso", root=tmp_path, progress=False)
    kf = train.evaluate(LogisticRegression(), X, df, "stratified_kfold", protocol_params={"n_splits": 3},
                        root=tmp_path, progress=False)
    runs = records.results(tmp_path)
    assert len(runs) == 2 and runs["complete"].all()
    row = runs.set_index("protocol").loc["loso"]
    assert row["uf1"] == pytest.approx(loso.pooled["uf1"]) and row["accuracy_mean"] == pytest.approx(loso.mean["accuracy"])
    assert row["leakage_mean"] == 0 and row["folds"] == 4 and row["model.C"] == 1.0
    assert runs.set_index("protocol").loc["stratified_kfold", "leakage_mean"] > 0
    assert runs.set_index("protocol").loc["stratified_kfold", "protocol.n_splits"] == 3
    folds = records.results(tmp_path, level="fold", protocol="stratified_kfold")
    assert len(folds) == 3 and list(folds["accuracy"]) == pytest.approx(list(kf.folds()["accuracy"]))
    clips = records.results(tmp_path, level="clip", protocol="loso")
    assert len(clips) == len(df) and set(clips["dataset"]) == {"casme2", "samm"}
    next(tmp_path.glob("LogisticRegression/*/fold001.json")).unlink()
    assert (~records.results(tmp_path)["complete"]).sum() == 1
    with pytest.raises(ConfigError, match="unknown level"):
        records.results(tmp_path, level="clips")

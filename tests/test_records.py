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


# ---- #10 cases 13 and 17: a record is used only when it is the one melib wrote there ------------------

def _run(tmp_path):
    df, X = toy()
    ev = train.evaluate(LogisticRegression(C=0.5), X, df, "loso", root=tmp_path, progress=False)
    return df, X, ev, sorted(tmp_path.glob("LogisticRegression/*/fold*.json"))


def test_a_record_copied_over_another_folds_file_is_refused(tmp_path):
    _, _, _, files = _run(tmp_path)
    files[1].write_bytes(files[0].read_bytes())
    with pytest.raises(DataError, match="fold001.json") as info:
        records.read(files[1])
    assert "fold 0" in str(info.value) or "fold" in info.value.found
    with pytest.raises(DataError, match="fold001.json"):
        records.results(tmp_path)


def test_an_edited_metric_is_refused(tmp_path):
    _, _, _, files = _run(tmp_path)
    rec = json.loads(files[2].read_text())
    rec["metrics"]["uf1"] = 0.123
    files[2].write_text(json.dumps(rec, indent=1))
    with pytest.raises(DataError, match="checksum"):
        records.read(files[2])


def test_a_record_from_another_run_folder_is_refused(tmp_path):
    _, _, _, files = _run(tmp_path)
    other = files[0].parent.parent / ("f" * 16) / "fold000.json"
    other.parent.mkdir()
    other.write_bytes(files[0].read_bytes())
    with pytest.raises(DataError, match="run"):
        records.read(other)


@pytest.mark.parametrize("content", [b"{}", b"\xff\xfe\x00garbage", b"[1, 2]", b""])
def test_an_unusable_record_is_a_data_error_naming_the_file(tmp_path, content):
    _, _, _, files = _run(tmp_path)
    files[3].write_bytes(content)
    with pytest.raises(DataError, match="fold003.json"):
        records.read(files[3])
    with pytest.raises(DataError, match="fold003.json"):
        records.results(tmp_path)
    table = records.results(tmp_path, skip_bad=True)  # or counted and reported
    assert len(table) == 1 and not table["complete"].iloc[0] and table["folds_done"].iloc[0] == 3
    assert [s["path"] for s in table.attrs["skipped"]] == [str(files[3])]


def test_resume_recomputes_a_bad_record_with_a_note(tmp_path, capsys, monkeypatch):
    df, X, ev, files = _run(tmp_path)
    rec = json.loads(files[1].read_text())
    rec["metrics"]["accuracy"] = 0.123
    files[1].write_text(json.dumps(rec))
    files[2].write_bytes(files[0].read_bytes())
    calls = []
    real = train.evaluation._run_fold
    monkeypatch.setattr(train.evaluation, "_run_fold", lambda task, **kw: calls.append(task["fold"]) or real(task, **kw))
    again = train.evaluate(LogisticRegression(C=0.5), X, df, "loso", root=tmp_path, progress=False)
    assert sorted(calls) == [1, 2]
    err = capsys.readouterr().err
    assert "fold001.json" in err and "fold002.json" in err and "recomput" in err
    assert again.pooled == ev.pooled
    assert records.read(files[1])["metrics"] == ev.records[1]["metrics"]


def test_every_record_carries_a_checksum_and_the_package_versions(tmp_path):
    _, _, _, files = _run(tmp_path)
    raw = json.loads(files[0].read_text())
    assert raw["checksum"].startswith("sha256:")
    packages = records.provenance()["packages"]
    assert set(packages) >= {"torch", "numpy", "scipy", "opencv", "scikit-image", "scikit-learn", "pandas", "dlib"}
    import numpy
    import sklearn
    import torch
    assert (packages["numpy"], packages["scikit-learn"]) == (numpy.__version__, sklearn.__version__)
    assert packages["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert raw["packages"] == packages

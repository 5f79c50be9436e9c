"""Degenerate protocol and training parameters are melib errors naming the parameter (issue #10, cases 14, 18)."""
import re

import numpy as np
import pandas as pd
import pytest

from melib import params, protocols, train
from melib.errors import ConfigError, DataError


def table(subjects=3, per_subject=4):
    rows = [{"dataset": "casme2", "subject": f"casme2/sub{s:02d}", "clip": f"c{s}_{c}", "label": "abc"[c % 3]}
            for s in range(subjects) for c in range(per_subject)]
    return pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label"])


def test_loso_with_one_subject():
    with pytest.raises(DataError, match=r"loso.*at least 2 subjects.*1 \(casme2/sub00\)"):
        protocols.folds(table(subjects=1), "loso")


@pytest.mark.parametrize("protocol", ["loso", "group_kfold", "stratified_kfold", "holdout"])
def test_an_empty_table(protocol):
    with pytest.raises(DataError, match=rf"labelled clips for {protocol!r}.*none"):
        protocols.folds(table(subjects=0), protocol)


@pytest.mark.parametrize("protocol", ["group_kfold", "stratified_kfold"])
@pytest.mark.parametrize("n_splits", [0, 1, -2, "3", 2.5, True])
def test_n_splits_must_be_an_integer_of_at_least_two(protocol, n_splits):
    with pytest.raises(ConfigError, match=rf"n_splits.*{protocol}.*an integer >= 2.*{n_splits!r}"):
        protocols.folds(table(subjects=4, per_subject=6), protocol, n_splits=n_splits)


def test_cross_dataset_n_splits():
    df = pd.concat([table(), table().assign(dataset="samm", subject=lambda d: "samm/" + d["subject"])])
    with pytest.raises(ConfigError, match="n_splits"):
        protocols.folds(df, "cross_dataset", train="casme2", test="samm", n_splits=1)
    assert len(protocols.folds(df, "cross_dataset", train="casme2", test="samm")) == 1


@pytest.mark.parametrize("test_size", [0, 0.0, 1.0, -0.2, "0.2", 12])
def test_holdout_test_size(test_size):
    with pytest.raises(ConfigError, match=rf"test_size.*{test_size!r}"):
        protocols.folds(table(), "holdout", test_size=test_size)


def test_holdout_n_repeats():
    with pytest.raises(ConfigError, match="n_repeats"):
        protocols.folds(table(), "holdout", n_repeats=0)


@pytest.mark.parametrize("n", [0, 1])
def test_validation_split_of_a_tiny_training_part(n):
    df = table()
    with pytest.raises(DataError, match=rf"at least 2 clips.*validation.*{n}"):
        protocols.validation_split(df, np.arange(n))


@pytest.mark.parametrize("fraction", [0, 1.0, -0.1])
def test_validation_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        protocols.validation_split(table(), np.arange(12), fraction=fraction)


@pytest.mark.parametrize("field, value", [("epochs", 0), ("epochs", -3), ("batch_size", 0), ("batch_size", -1),
                                          ("device", "tpu")])
def test_train_config_refuses(field, value):
    with pytest.raises(ConfigError, match=field):
        train.TrainConfig(**{field: value})


@pytest.mark.parametrize("kw", [{"device": "tpu"}, {"epochs": 0}])
def test_study_parameters_are_checked_when_resolved(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        params.resolve("smoke", **kw)


@pytest.mark.parametrize("name, value", [("epochs", "ten"), ("seed", "x"), ("frame_size", "abc"), ("epochs", 2.5),
                                         ("seed", -1), ("epochs", True), ("frame_size", 4), ("seed", [1])])
def test_a_study_parameter_of_the_wrong_type_is_a_config_error_naming_it(name, value):
    """Issue 20, case 6: ``-p epochs ten`` reached int() before melib's check (a raw ValueError)."""
    with pytest.raises(ConfigError, match=rf"^{name} must be .*an integer >= \d+.*not {re.escape(repr(value))}$"):
        params.resolve("smoke", **{name: value})


def test_integers_written_as_text_are_taken():
    p = params.resolve("smoke", epochs="2", seed=" 7", frame_size=np.int64(64))
    assert (p.epochs, p.seed, p.frame_size) == (2, 7, 64) and type(p.frame_size) is int


def test_plan_counts_are_checked_before_use():
    from melib.experiments import c3d, dlhn

    with pytest.raises(ConfigError, match=r"plan\['epochs'\] must be an integer >= 1, not 'ten'"):
        dlhn.CHAPTER.settings(params.resolve("smoke", plan={"epochs": "ten"}))
    with pytest.raises(ConfigError, match=r"plan\['cross_splits'\].*2\.5"):  # a count of the chapter's own plan
        c3d.CHAPTER.settings(params.resolve("smoke", plan={"cross_splits": 2.5}))
    st = c3d.CHAPTER.settings(params.resolve("smoke", plan={"max_folds": "2", "holdout": []}))
    assert st["max_folds"] == 2 and st["holdout"] == []


def test_a_device_this_machine_lacks_is_refused(monkeypatch):
    import torch

    from melib import config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match=rf"device '{device}' is not on this machine"):
            config.check_available(device)
    assert config.check_available("auto") == "auto" and config.check_available("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert config.check_available("cuda") == "cuda"
    with pytest.raises(ConfigError, match="'cuda:1'.*1 CUDA device"):
        config.check_available("cuda:1")


@pytest.mark.parametrize("key", ["subject_label_dependence", "amplitude", "noise", "fps", "face_width"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_synth_parameters_are_refused(key, value):
    from melib.synth import spec

    with pytest.raises(ConfigError, match=rf"synth parameter {key} must be a finite number"):
        spec.resolve("casme2", 0, {key: value})


def test_a_plan_for_another_machine_may_name_its_device(monkeypatch, synth_small):
    """``melib study --plan --calibration <the H200's> --device cuda`` prices a GPU run from a CPU machine: the
    plan is enumerated there; only a notebook that runs here refuses the device."""
    import torch

    from melib import costs
    from melib.experiments import dlhn

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    given = {"profile": "smoke", "data": str(synth_small), "device": "cuda"}
    plan = costs.planned([("10_dlhn", given)])
    assert plan.items and plan.params["10_dlhn"].device == "cuda"
    with pytest.raises(ConfigError, match="device 'cuda' is not on this machine"):
        dlhn.CHAPTER.setup(**given)

"""The trainer: seeds, losses, schedule, selection on validation only, stages, evaluation of torch and sklearn models."""
import functools

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

import trainer_reference as ref
from melib import train
from melib.errors import ConfigError, DataError

QUIET = dict(progress=False, threads=1)


def toy(n_subjects=6, per_subject=6, d=5, seed=0, shift=2.0):
    """Three classes, one feature dimension per class shifted by ``shift``; every subject has every class."""
    rng = np.random.default_rng(seed)
    rows = [{"dataset": "d1" if s < n_subjects // 2 else "d2", "subject": f"d/s{s}", "clip": f"s{s}c{c}",
             "label": ["neg", "pos", "sur"][c % 3]} for s in range(n_subjects) for c in range(per_subject)]
    df = pd.DataFrame(rows)
    y = df["label"].map({"neg": 0, "pos": 1, "sur": 2}).to_numpy()
    return df, ref.shifted_features(y, d, shift, rng), y


class Mlp(nn.Module):
    def __init__(self, d=5, k=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, k))

    def forward(self, x):
        return self.net(x)


class DictModel(nn.Module):
    """Forward takes a dict of tensors, as the two-stream models do."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(2, 3)

    def forward(self, x):
        return self.a(x["a"]) + self.b(x["b"])


def test_same_seed_same_predictions_and_training_learns():
    df, X, _ = toy()
    cfg = train.TrainConfig(epochs=15, lr=0.05, batch_size=8, **QUIET)
    runs = [train.evaluate(Mlp, X, df, "loso", config=cfg, save=False, progress=False) for _ in range(2)]
    p0, p1 = (r.predictions() for r in runs)
    pd.testing.assert_frame_equal(p0, p1)
    assert runs[0].pooled["accuracy"] > 0.8  # shift 2 on 5-d noise is easy
    assert runs[0].leakage() == {"leakage_mean": 0.0, "leakage_max": 0.0}
    other = train.evaluate(Mlp, X, df, "loso", config=cfg.replace(seed=1), save=False, progress=False)
    assert not np.allclose(other.proba(), runs[0].proba())


def test_focal_loss_is_localregions_eq5():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    y = torch.tensor([0, 2])
    ce = nn.functional.cross_entropy(logits, y)
    assert train.FocalLoss(gamma=0.0)(logits, y) == pytest.approx(float(ce))
    p = torch.softmax(logits, 1)[torch.arange(2), y]
    alpha = torch.tensor([0.2, 0.3, 0.5])
    hand = -(alpha[y] * (1 - p) ** 2 * torch.log(p)).mean()
    assert train.FocalLoss(2.0, alpha)(logits, y) == pytest.approx(float(hand))
    ignored = train.FocalLoss(2.0, alpha)(torch.cat([logits, logits[:1]]), torch.tensor([0, 2, -100]))
    assert ignored == pytest.approx(float(hand))
    assert train.inverse_frequency(np.array([0, 0, 0, 1, 2, 2]), 4) == pytest.approx(
        np.array([1 / 3, 1, 1 / 2, 0]) / (1 / 3 + 1 + 1 / 2))


def test_loss_configuration():
    y = np.array([0, 0, 0, 1])
    ce = train.make_loss(train.TrainConfig(class_weights="balanced"), y, 2)
    assert ce.weight.tolist() == pytest.approx([4 / 6, 4 / 2])
    ls = train.make_loss(train.TrainConfig(label_smoothing=0.1), y, 2)
    logits, t = torch.tensor([[1.0, -1.0]]), torch.tensor([0])
    logp = torch.log_softmax(logits, 1)[0]
    assert float(ls(logits, t)) == pytest.approx(float(-(0.95 * logp[0] + 0.05 * logp[1])))
    fl = train.make_loss(train.TrainConfig(loss="focal", focal_alpha=0.5), y, 2)
    assert fl.alpha.tolist() == [0.5, 0.5]
    fl = train.make_loss(train.TrainConfig(loss="focal"), y, 2)
    assert fl.alpha.tolist() == pytest.approx([0.25, 0.75])


def test_optimisers_schedule_and_l2():
    m = Mlp()
    sgd = train.make_optimizer(train.TrainConfig(optimizer="sgd", momentum=0.9, nesterov=True), m.parameters())
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    from adamp import AdamP
    assert isinstance(train.make_optimizer(train.TrainConfig(optimizer="adamp"), m.parameters()), AdamP)
    with pytest.raises(ConfigError, match="nesterov"):
        train.TrainConfig(optimizer="adam", nesterov=True)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        train.TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="val_fraction"):
        train.TrainConfig(patience=3)
    df, X, y = toy(n_subjects=2)
    res = train.fit(Mlp(), X, y, train.TrainConfig(epochs=4, lr=0.1, lr_decay=0.5, optimizer="sgd", **QUIET))
    assert res.curves["main"]["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    torch.manual_seed(0)
    big = train.fit(Mlp(), X, y, train.TrainConfig(epochs=30, lr=0.05, l2=0.5, **QUIET)).model
    torch.manual_seed(0)
    free = train.fit(Mlp(), X, y, train.TrainConfig(epochs=30, lr=0.05, **QUIET)).model
    norm = lambda mod: sum(float(p.detach().pow(2).sum()) for p in mod.parameters())  # noqa: E731
    assert norm(big) < 0.5 * norm(free)  # DLHN Eq. 7 penalty shrinks the weights


def test_paper_configs_and_time_decay():
    c = train.paper_config("c3d_model_c")
    assert (c.optimizer, c.lr, c.momentum, c.nesterov, c.batch_size, c.epochs, c.time_decay) == \
        ("sgd", 1e-3, 0.9, True, 4, 100, 1e-6)  # C3D 6.3
    assert train.paper_config("cropnet").optimizer == "adamp" and train.paper_config("cropnet").label_smoothing > 0
    assert train.paper_config("localregions", epochs=3).loss == "focal"
    h = train.paper_config("dlhn_hcrnn")
    assert (h.lr, h.batch_size, h.epochs) == (0.85, 45, 1500) and h.lr_decay < 1  # DLHN 4.2.2
    df, X, y = toy(n_subjects=2)
    res = train.fit(Mlp(), X, y, train.TrainConfig(epochs=3, lr=0.1, time_decay=1.0, batch_size=len(y), **QUIET))
    assert res.curves["main"]["lr"] == pytest.approx([0.1, 0.1 / 2, 0.1 / 3])  # one iteration per epoch


def test_class_order_follows_the_label_scheme():
    from melib import labels
    scheme = labels.schemes()[0]
    order = labels.classes(scheme)[:3]
    df, X, y = toy()
    df["label"] = [order[::-1][i] for i in y]
    df.attrs["scheme"] = scheme
    ev = train.evaluate(LogisticRegression(), X, df, "loso", save=False, progress=False)
    assert ev.labels == order and ev.records[0]["scheme"] == scheme


def test_selection_and_early_stopping_use_validation_only():
    df, X, y = toy(n_subjects=4)
    idx = np.arange(len(y))
    torch.manual_seed(0)
    cfg = train.TrainConfig(epochs=40, lr=0.2, val_fraction=0.2, patience=3, select="val_loss", **QUIET)
    res = train.fit(Mlp(), X, y, cfg, train=idx[:16], val=idx[16:])
    c = res.curves["main"]
    best = res.best_epoch["main"]
    assert len(c["train_loss"]) == best + 4 < 40  # stopped 3 epochs after the best
    assert best == int(np.argmin(c["val_loss"]))
    f = train.Feed(train.Inputs(X), y, torch.device("cpu"))
    again = train.loop._score_pass(res.model, train.Stage("main"), f, f.index([idx[16:]]), cfg,
                                   nn.CrossEntropyLoss(), 3)
    assert again["loss"] == pytest.approx(c["val_loss"][best], rel=1e-5)  # the best epoch's weights came back


class Spy(torch.utils.data.Dataset):
    """Records which clips are read, in order."""

    def __init__(self, X):
        self.X, self.seen = torch.as_tensor(X), []

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.seen.append(i)
        return self.X[i]


def test_training_and_validation_never_read_the_test_fold():
    df, X, y = toy(n_subjects=4)
    spy = Spy(X)
    fold = next(iter(train.evaluation.protocols.folds(df, "loso")))
    cfg = train.TrainConfig(epochs=3, val_fraction=0.25, patience=2, **QUIET)
    task = {"labels": ["neg", "pos", "sur"], "train": fold.train, "test": fold.test, "kind": "torch",
            "config": cfg.identity(), "runtime": {"progress": False, "device": "cpu", "threads": None},
            "model": Mlp, "build_params": {}, "name": "mlp", "fold_name": fold.name, "run": "r", "params": {},
            "protocol": "loso", "protocol_params": {}, "fold": 0, "n_folds": 4, "data": "x", "audit": fold.audit}
    table = df.assign(code=y)
    rec = train.evaluation._run_fold(task, X=spy, table=table)
    n_test = len(fold.test)
    during_fit, predicting = spy.seen[:-n_test], spy.seen[-n_test:]
    assert set(during_fit) <= set(fold.train) and sorted(predicting) == sorted(fold.test)
    assert rec["validation"] == "subject" and rec["n_val"] > 0
    assert set(rec["curves"]["main"]) >= {"train_loss", "val_loss", "val_uf1"}
    assert not any(k.startswith("test_") for k in rec["curves"]["main"])
    task["config"] = cfg.replace(track_test=True).identity()
    rec = train.evaluation._run_fold(task, X=X, table=table)
    assert len(rec["curves"]["main"]["test_accuracy"]) == len(rec["curves"]["main"]["train_loss"])


class TwoStage(ref.TwoStage):
    """Stage 1 trains the encoder through an auxiliary head on per-clip targets (y > 0); stage 2 the head."""

    def target(self, x, y):
        return (y > 0).long()


def test_two_stage_hooks(monkeypatch):
    df, X, y = toy(n_subjects=2)
    m = TwoStage()
    enc0, head0 = m.enc.weight.detach().clone(), m.head.weight.detach().clone()
    calls, losses = [], []
    orig_opt, orig_loss = train.make_optimizer, train.make_loss

    def spy(cfg, params):
        params = list(params)
        calls.append({id(p) for p in params})
        return orig_opt(cfg, params)

    monkeypatch.setattr(train.loop, "make_optimizer", spy)
    monkeypatch.setattr(train.loop, "make_loss", lambda *a: losses.append(orig_loss(*a)) or losses[-1])
    res = train.fit(m, X, y, train.TrainConfig(epochs=10, lr=0.1, **QUIET))
    assert list(res.curves) == ["regions", "classifier"]
    assert losses[0].alpha.shape == (2,) and isinstance(losses[1], nn.CrossEntropyLoss)
    assert len(res.curves["regions"]["train_loss"]) == 3 and len(res.curves["classifier"]["train_loss"]) == 2
    assert calls[0] == {id(p) for p in [*m.enc.parameters(), *m.aux.parameters()]}
    assert calls[1] == {id(p) for p in m.head.parameters()}
    assert not torch.equal(m.enc.weight, enc0) and not torch.equal(m.head.weight, head0)


def test_sklearn_estimator_and_dict_inputs_go_through_the_same_evaluation():
    df, X, y = toy()
    ev = train.evaluate(LogisticRegression(max_iter=500), X, df, "stratified_kfold",
                        protocol_params={"n_splits": 3, "seed": 0}, save=False, progress=False)
    assert len(ev.records) == 3 and ev.pooled["accuracy"] > 0.8
    assert ev.proba().sum(1) == pytest.approx(np.ones(len(df)), abs=1e-5)
    assert ev.leakage()["leakage_mean"] == 1.0  # 6 clips/subject in 3 sample-level folds
    assert list(ev.by_dataset().index) == ["d1", "d2", "all"]
    s = ev.summary()
    assert s["n_clips"] == len(df) and s["accuracy_mean"] == pytest.approx(np.mean(ev.folds()["accuracy"]))
    Xd = {"a": X[:, :3], "b": X[:, 3:5]}
    ev = train.evaluate(DictModel, Xd, df, "loso", config=train.TrainConfig(epochs=5, lr=0.05, **QUIET),
                        save=False, progress=False)
    assert ev.pooled["n"] == len(df)


def test_fusion_is_dlhn_eq8():
    from melib.experiments.dlhn import fuse  # DLHN's late fusion is the chapter's, not the trainer's

    df, X, _ = toy()
    kw = dict(save=False, progress=False, protocol_params={"n_splits": 3})
    a = train.evaluate(LogisticRegression(max_iter=500), X, df, "stratified_kfold", **kw)
    b = train.evaluate(functools.partial(Mlp, 5, 3), X, df, "stratified_kfold",
                       config=train.TrainConfig(epochs=2, **QUIET), **kw)
    f = fuse(a, b, weight=0.45)
    assert f.proba() == pytest.approx(0.45 * a.proba() + 0.55 * b.proba(), abs=1e-5)
    assert (fuse(a, b, 1.0).predictions()["y_pred"] == a.predictions()["y_pred"]).all()
    assert (fuse(a, b, 0.0).predictions()["y_pred"] == b.predictions()["y_pred"]).all()
    c = train.evaluate(LogisticRegression(max_iter=500), X, df, "loso", save=False, progress=False)
    with pytest.raises(DataError, match="same classes and folds"):
        fuse(a, c)


def test_compare_and_ci_on_the_same_folds():
    df, X, _ = toy(per_subject=9)
    kw = dict(save=False, progress=False, protocol_params={"n_splits": 6, "seed": 0})
    good = train.evaluate(LogisticRegression(max_iter=500), X, df, "stratified_kfold", **kw)
    blind = train.evaluate(LogisticRegression(max_iter=500), np.random.default_rng(1).normal(size=X.shape), df,
                           "stratified_kfold", **kw)
    r = train.compare(good, blind, "accuracy", n_boot=200)
    assert r["bootstrap"]["diff"] == pytest.approx(good.pooled["accuracy"] - blind.pooled["accuracy"])
    assert r["bootstrap"]["low"] > 0 and r["mcnemar"]["p"] < 0.01 and r["wilcoxon"]["p"] < 0.05
    ci = good.ci("uf1", n_boot=200)
    assert ci["low"] <= good.pooled["uf1"] <= ci["high"] and ci["value"] == pytest.approx(good.pooled["uf1"])


def test_bad_model_and_inputs_are_refused():
    df, X, _ = toy(n_subjects=2)
    with pytest.raises(ConfigError, match="name="):
        train.evaluate(lambda: Mlp(), X, df, "loso", save=False)
    with pytest.raises(ConfigError, match="melib.models name"):
        train.evaluate(42, X, df, "loso", save=False)
    with pytest.raises(DataError, match="one input row per samples row"):
        train.evaluate(Mlp, X[:-1], df, "loso", save=False)
    with pytest.raises(DataError, match=r"\(n_clips, n_features\)"):
        train.evaluate(LogisticRegression(), X[:, :, None], df, "loso", save=False)
    with pytest.raises(DataError, match="add them to labels="):
        train.evaluate(Mlp, X, df, "loso", labels=["neg", "pos"], save=False)
    with pytest.raises(ConfigError, match="data_tag"):
        train.evaluate(Mlp, Spy(X), df, "loso", root="/nonexistent")
    assert train.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("n, size", [(5, 4), (9, 4), (13, 4), (8, 4), (1, 4)])
def test_batches_cover_every_clip_once_and_never_leave_a_lone_clip(n, size):
    from melib.train.feed import batches

    out = batches(np.arange(n), size, np.random.default_rng(0))
    assert sorted(np.concatenate(out).tolist()) == list(range(n))
    assert n == 1 or all(len(b) > 1 for b in out)


def test_trainer_gives_the_recorded_curves_and_predictions():
    """The device-resident loop (losses summed on the device, batch indices sent once an epoch) trains as the
    per-batch loop did: the curves and predictions recorded with it (tests/trainer_reference.py). The margin
    allows for another CPU's float rounding, not for a different batch order or update."""
    import json


    want = json.loads(ref.PATH.read_text())
    got = json.loads(json.dumps(ref.cases()))

    def same(a, b, where):
        if isinstance(a, dict):
            assert sorted(a) == sorted(b), where
            for k in a:
                same(a[k], b[k], f"{where}/{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), where
            for i, (u, v) in enumerate(zip(a, b)):
                same(u, v, f"{where}[{i}]")
        else:
            assert a == pytest.approx(b, rel=1e-4, abs=1e-6), where

    same(got, want, "")


def test_autocast_is_cuda_only_and_keeps_existing_run_keys():
    assert "autocast" not in train.TrainConfig().identity()  # records made before it keep their keys
    assert train.TrainConfig(autocast="bf16", device="cuda").identity()["autocast"] == "bf16"
    with pytest.raises(ConfigError, match="autocast must be one of"):
        train.TrainConfig(autocast="fp16")
    with pytest.raises(ConfigError, match="CUDA only"):
        train.TrainConfig(autocast="bf16", device="cpu")
    if not torch.cuda.is_available():
        df, X, y = toy(n_subjects=2)
        with pytest.raises(ConfigError, match="CUDA only"):
            train.fit(Mlp(), X, y, train.TrainConfig(epochs=1, autocast="bf16", device="auto", **QUIET))


def test_inputs_stay_on_the_device_when_they_fit_else_batches_come_through_pinned_memory():
    from melib.train import feed

    df, X, y = toy(n_subjects=2)
    inputs = train.Inputs({"a": X, "b": X[:, :2]})
    assert inputs.nbytes() == X.nbytes + X[:, :2].nbytes
    cuda = torch.device("cuda")
    assert feed.placement(inputs, torch.device("cpu")) == "device"
    assert feed.placement(inputs, cuda, free_bytes=4 * inputs.nbytes()) == "device"
    assert feed.placement(inputs, cuda, free_bytes=inputs.nbytes()) == "pinned"  # over RESIDENT_SHARE
    assert feed.placement(train.Inputs(Spy(X)), cuda, free_bytes=10**12) == "host"
    f = train.Feed(inputs, y, torch.device("cpu"))
    parts = feed.batches(np.arange(len(y)), 5, np.random.default_rng(0))
    idx = f.index(parts)
    assert all(isinstance(b, torch.Tensor) for b in idx) and [len(b) for b in idx] == [len(p) for p in parts]
    xb, yb = f.batch(idx[1])
    assert torch.equal(xb["a"], torch.as_tensor(X[parts[1]])) and yb.tolist() == y[parts[1]].tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_resident_and_pinned_agree_with_bf16_allowed():
    df, X, y = toy()
    cfg = train.TrainConfig(epochs=3, lr=0.05, batch_size=8, device="cuda", **QUIET)
    from melib.train import feed
    torch.manual_seed(0)
    a = train.fit(Mlp(), X, y, cfg)
    real = feed.RESIDENT_SHARE
    try:
        feed.RESIDENT_SHARE = 0.0  # every batch through pinned memory
        torch.manual_seed(0)
        b = train.fit(Mlp(), X, y, cfg)
    finally:
        feed.RESIDENT_SHARE = real
    assert a.curves["main"]["train_loss"] == pytest.approx(b.curves["main"]["train_loss"], rel=1e-5)
    torch.manual_seed(0)
    c = train.fit(Mlp(), X, y, cfg.replace(autocast="bf16"))
    assert np.isfinite(c.curves["main"]["train_loss"]).all()


def test_a_fit_flushes_subnormal_floats_and_restores_the_mode():
    """torch_state flushes denormals (a decayed DLHN run slowed 25x without it) and leaves the mode as torch's."""
    tiny = torch.tensor([1e-39])
    with train.torch_state(False, 1):
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() > 0.0

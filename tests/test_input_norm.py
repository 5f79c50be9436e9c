"""melib.input_norm and TrainConfig(input_norm=...): C3D Model-B's official-code normalisation, fitted on the
training clips only and carried by the trained model."""
import numpy as np
import pytest
import torch
from torch import nn

from melib import input_norm, train
from melib.errors import ConfigError, DataError


class Probe(nn.Module):
    """Records the inputs it sees; logits from their mean."""

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(1, 2)
        self.seen = []

    def forward(self, x):
        v = x["a"] if isinstance(x, dict) else x
        self.seen.append(v.detach().clone())
        return self.w(v.flatten(1).mean(1, keepdim=True))


def test_mean_max_uses_the_given_clips_only():
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)          # clips 0-1: 0..5, clips 2-3: 6..11
    take = lambda idx: x[torch.as_tensor(idx)]                        # noqa: E731
    mean, top = input_norm.mean_max(take, [0, 1])
    assert mean == {"": 2.5} and top == {"": 2.5}                    # max(0..5) - 2.5
    mean, top = input_norm.mean_max(lambda idx: {"a": x[torch.as_tensor(idx)]}, [0, 1, 2, 3])
    assert mean == {"a": 5.5} and top == {"a": 5.5}
    with pytest.raises(DataError, match="constant"):
        input_norm.mean_max(lambda idx: torch.ones(len(idx), 3), [0, 1])


def test_fit_normalises_with_training_statistics_and_the_model_keeps_them():
    rng = np.random.default_rng(0)
    x = rng.random((8, 5)).astype(np.float32)
    x[6:] += 10.0                                                    # "test" clips far from the training ones
    y = np.array([0, 1] * 4)
    probe = Probe()
    cfg = train.TrainConfig(epochs=1, batch_size=8, input_norm="mean_max", progress=False)
    res = train.fit(probe, x, y, cfg, train=np.arange(6))
    tr = x[:6]
    want = (tr - tr.mean()) / (tr - tr.mean()).max()
    np.testing.assert_allclose(probe.seen[0].sort(0).values.numpy(), np.sort(want, 0), rtol=1e-5)
    assert isinstance(res.model, input_norm.Normalised)
    train.predict_proba(res.model, x, [6, 7])
    np.testing.assert_allclose(probe.seen[-1].numpy(), (x[6:] - tr.mean()) / (tr - tr.mean()).max(), rtol=1e-5)
    plain = train.fit(Probe(), x, y, cfg.replace(input_norm=None), train=np.arange(6))
    assert not isinstance(plain.model, input_norm.Normalised)


def test_input_norm_is_checked_and_keeps_old_run_keys():
    with pytest.raises(ConfigError, match="input_norm"):
        train.TrainConfig(input_norm="zscore")
    assert "input_norm" not in train.TrainConfig().identity()       # records made before it keep their keys
    assert train.TrainConfig(input_norm="mean_max").identity()["input_norm"] == "mean_max"
    with pytest.raises(ConfigError, match="stages"):
        m = Probe()
        m.training_stages = lambda: []
        input_norm.wrap(m, lambda idx: torch.rand(len(idx), 2), [0, 1], "mean_max")

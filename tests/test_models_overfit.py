"""Every model, default (CPU) profile, memorises four random-but-fixed clips: the loss falls and the training
accuracy (eval mode, dropout off) reaches 100 %. Catches broken gradients, dead paths and detached branches."""
import pytest
import torch
import torch.nn.functional as F

from melib.models import build, example_input, names

torch.set_num_threads(1)

N = 4
# (Adam learning rate, extra build kwargs): lower rates where 3e-3 kills ReLUs / saturates the tanh BRNNs
SETTINGS = {"dlhn_hcrnn": (3e-4, {}), "dlhn": (3e-4, {}), "c3d_model_b": (1e-3, {}),
            # stage 2 with frozen *untrained* CNNs sees near-constant features; end to end it must learn
            "localregions": (1e-3, {"freeze_cnn": False}), "localregions_2stage": (1e-3, {"freeze_cnn": False})}


def fixed_inputs(model, n=N):
    """Uniform noise (20 %) over a per-clip brightness level (80 %), seeded."""
    x = example_input(model, batch=n, seed=1)
    level = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)
    shift = lambda v: 0.2 * v + 0.8 * level.view(-1, *[1] * (v.dim() - 1))  # noqa: E731
    return {k: shift(v) for k, v in x.items()} if isinstance(x, dict) else shift(x)


@pytest.mark.parametrize("name", sorted(names()))
def test_default_profile_overfits_a_handful_of_clips(name):
    torch.manual_seed(0)
    lr, kw = SETTINGS.get(name, (3e-3, {}))
    m = build(name, profile="default", **kw)
    x = fixed_inputs(m)
    with torch.no_grad():
        k = m.eval()(x).shape[1]
    y = torch.arange(N) % k
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=lr)
    first, acc = None, 0.0
    for step in range(300):
        m.train()
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        if step % 5 == 4:
            m.eval()
            with torch.no_grad():
                out = m(x)
            acc = (out.argmax(1) == y).float().mean().item()
            if acc == 1.0:
                break
    assert acc == 1.0, f"{name}: training accuracy {acc} after {step + 1} steps"
    assert F.cross_entropy(out, y).item() < first

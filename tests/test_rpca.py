"""RPCA (inexact ALM): planted recovery, agreement with the textbook NumPy version, batching, kinds, dtypes."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from melib.errors import DataError
from melib.preprocess.rpca import RPCAConvergenceWarning, retain, rpca, rpca_clips, rpca_frames

sys.path.insert(0, str(Path(__file__).parents[1] / "benches"))  # the bench imports benches/_common.py
_spec = importlib.util.spec_from_file_location("bench_rpca", Path(__file__).parents[1] / "benches" / "bench_rpca.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def planted(m=400, n=40, rank=1, p=0.05, seed=1):
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    S = np.zeros((m, n))
    mask = rng.random((m, n)) < p
    S[mask] = rng.choice([-1, 1], mask.sum()) * rng.uniform(5, 10, mask.sum())
    return L, S


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


@pytest.mark.parametrize("m,n,rank", [(400, 40, 1), (600, 60, 2)])
def test_recovers_planted_low_rank_plus_sparse(m, n, rank):
    L, S = planted(m, n, rank)
    A, E, info = rpca(L + S)
    assert info["converged"] and info["rank"] == rank
    assert rel(A, L) < 1e-5 and rel(E, S) < 1e-5
    assert info["residual"] < 1e-7


def test_agrees_with_textbook_numpy_reference():
    D = bench.clip_matrix(h=24, w=20, n=30, seed=3)
    A_ref, E_ref, it_ref, ok_ref = bench.rpca_reference(D)
    A, E, info = rpca(D)
    assert ok_ref and info["converged"]
    assert abs(info["iterations"] - it_ref) <= 1
    assert rel(E, E_ref) < 1e-6 and rel(A, A_ref) < 1e-8
    lam = 0.02
    _, E_ref2, _, _ = bench.rpca_reference(D, lam=lam)
    _, E2, info2 = rpca(D, lam=lam)
    assert info2["lam"] == lam and rel(E2, E_ref2) < 1e-6
    assert rel(E2, E) > 1e-3  # lam matters


def test_batched_equals_per_item_with_independent_stopping():
    L1, S1 = planted(300, 30, 1, seed=2)
    D = np.stack([L1 + S1, bench.clip_matrix(h=15, w=20, n=30, seed=4), np.zeros((300, 30))])
    A, E, info = rpca(D)
    assert info["iterations"].shape == (3,) and info["converged"].all()
    assert info["iterations"][2] == 0 and not A[2].any() and not E[2].any()
    assert info["iterations"][0] != info["iterations"][1]
    for i in range(2):
        Ai, Ei, info_i = rpca(D[i])
        assert info_i["iterations"] == info["iterations"][i]
        assert rel(E[i], Ei) < 1e-7 and rel(A[i], Ai) < 1e-9


def test_torch_and_numpy_agree_and_kind_is_kept():
    L, S = planted(seed=5)
    D = L + S
    D_copy = D.copy()
    A, E, _ = rpca(D)
    np.testing.assert_array_equal(D, D_copy)  # input untouched
    At, Et, info = rpca(torch.from_numpy(L + S))
    assert isinstance(At, torch.Tensor) and isinstance(Et, torch.Tensor) and Et.dtype == torch.float64
    assert isinstance(A, np.ndarray)
    np.testing.assert_allclose(Et.numpy(), E, atol=1e-12)


def test_float32_input_gives_float32_close_to_float64():
    D = bench.clip_matrix(h=20, w=20, n=24, seed=6)
    A64, E64, _ = rpca(D)
    A32, E32, info = rpca(D.astype(np.float32))
    assert A32.dtype == np.float32 and E32.dtype == np.float32 and info["converged"]
    assert rel(E32, E64) < 1e-4
    At, Et, _ = rpca(torch.from_numpy(D.astype(np.float32)))
    assert Et.dtype == torch.float32


def test_integer_input_is_read_as_float64():
    D = np.round(bench.clip_matrix(h=10, w=10, n=12, seed=7)).astype(np.uint8)
    A, E, info = rpca(D)
    assert E.dtype == np.float64 and info["converged"]
    np.testing.assert_allclose(A + E, D, atol=1e-4 * np.abs(D).max())


def test_non_convergence_is_flagged_and_warned():
    L, S = planted(seed=8)
    with pytest.warns(RPCAConvergenceWarning, match="did not converge"):
        _, _, info = rpca(L + S, max_iter=3)
    assert info["converged"] is False and info["iterations"] == 3 and info["residual"] > 1e-7


@pytest.mark.parametrize("bad,what", [
    (np.zeros((0, 5)), "2 frame columns"),
    (np.ones((10, 1)), "2 frame columns"),
    (np.ones(10), "2-D"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "finite"),
])
def test_bad_input_raises_data_error(bad, what):
    with pytest.raises(DataError, match=what):
        rpca(bad)


def test_rpca_frames_keeps_clip_shape():
    rng = np.random.default_rng(9)
    clip = (100 + rng.normal(0, 1, (12, 8, 10))).astype(np.float32)
    A, E, info = rpca_frames(clip)
    assert A.shape == E.shape == clip.shape and E.dtype == np.float32
    D = clip.reshape(12, -1).T
    _, E_direct, _ = rpca(D)
    np.testing.assert_array_equal(E, E_direct.T.reshape(clip.shape))


def test_retain_keeps_the_largest_share_per_frame():
    E = np.array([[0.0, 5.0], [3.0, -1.0], [-4.0, 2.0], [1.0, 0.0], [2.0, -3.0]])
    out = retain(E, 0.5)  # column 0: 4 non-zeros -> 2 kept; column 1: 4 non-zeros -> 2 kept
    np.testing.assert_array_equal(out, [[0, 5], [3, 0], [-4, 0], [0, 0], [0, -3]])
    assert not retain(E, 0.0).any()
    np.testing.assert_array_equal(retain(E, 1.0), E)
    t = retain(torch.from_numpy(np.stack([E, -E])), 0.25)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_array_equal(t[1].numpy(), -retain(E, 0.25))
    with pytest.raises(ValueError):
        retain(E, 1.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    D = np.stack([bench.clip_matrix(h=30, w=30, n=40, seed=s) for s in (10, 11)])
    A, E, info = rpca(D)
    Ac, Ec, info_c = rpca(torch.from_numpy(D).cuda())
    assert Ec.is_cuda
    np.testing.assert_array_equal(info_c["iterations"], info["iterations"])
    assert rel(Ec.cpu().numpy(), E) < 1e-8
    _, E32, _ = rpca(torch.from_numpy(D).float().cuda())
    assert E32.dtype == torch.float32 and rel(E32.cpu().numpy(), E) < 1e-4


def test_rpca_frames_rejects_frames_of_different_sizes():
    with pytest.raises(DataError, match="one size"):
        rpca_frames([np.zeros((4, 4)), np.zeros((4, 5))])


def test_only_the_unconverged_batch_item_is_flagged():
    L, S = planted(300, 30, 1, seed=12)
    D = np.stack([L + S, bench.clip_matrix(h=15, w=20, n=30, seed=13)])
    _, _, full = rpca(D)
    cap = int(full["iterations"].min())
    assert full["iterations"].max() > cap
    with pytest.warns(RPCAConvergenceWarning, match=r"item\(s\) \[1\]"):
        _, _, info = rpca(D, max_iter=cap)
    assert list(info["converged"]) == [True, False]
    np.testing.assert_array_equal(info["iterations"], [cap, cap])


def test_mixed_precision_agrees_with_float64():
    """float32 input runs the early iterations in float32 and ends in float64: E within 1e-4 of the float64
    route (the module docstring states what was measured on PSN's clips), the stop decided in float64."""
    D = bench.clip_matrix(h=48, w=40, n=60, seed=14).astype(np.float32) / 255
    A64, E64, info64 = rpca(D, precision="float64")
    A, E, info = rpca(D)
    assert info["precision"] == "mixed" and info64["precision"] == "float64"
    assert info["converged"] and info["residual"] < 1e-7 and abs(info["iterations"] - info64["iterations"]) <= 1
    assert E.dtype == np.float32 and rel(E, E64) < 1e-4 and rel(A, A64) < 1e-6
    # float64 input may ask for the mixed route too; a looser tol can end inside the float32 iterations
    _, E_m, info_m = rpca(D.astype(np.float64), precision="mixed")
    assert info_m["precision"] == "mixed" and rel(E_m, E64) < 1e-4
    _, _, loose = rpca(D, tol=1e-3)
    assert loose["converged"] and 1e-4 <= loose["residual"] < 1e-3


def test_precision_is_checked():
    from melib.errors import ConfigError

    with pytest.raises(ConfigError, match="precision"):
        rpca(np.ones((10, 4)), precision="float16")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_result_does_not_depend_on_the_thread_count(dtype):
    """Row blocks are summed in block order whatever the threads: a worker (1 thread) and a process with
    several threads give the same bits."""
    D = bench.clip_matrix(h=56, w=48, n=40, seed=15).astype(dtype)  # 2688 rows: three blocks
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        A1, E1, info1 = rpca(D)
        torch.set_num_threads(2)
        A2, E2, info2 = rpca(D)
    finally:
        torch.set_num_threads(before)
    assert info1["iterations"] == info2["iterations"]
    np.testing.assert_array_equal(E1, E2)
    np.testing.assert_array_equal(A1, A2)


def test_rpca_clips_batches_like_one_clip_at_a_time():
    rng = np.random.default_rng(16)
    clips = [(0.5 + 0.01 * rng.standard_normal((24, 20, 18))).astype(np.float32) for _ in range(3)]
    clips[1][10:14, 5:9, 5:9] += 0.2  # a moving patch: something sparse
    clips.insert(2, (0.4 + 0.01 * rng.standard_normal((16, 12, 10))).astype(np.float32))  # another shape
    Es, info = rpca_clips(clips, device="cpu", batch_size=2)
    assert len(Es) == 4 and info["iterations"].shape == (4,) and info["converged"].all()
    for clip, E, it in zip(clips, Es, info["iterations"]):
        _, E_one, info_one = rpca_frames(clip)
        assert E.shape == clip.shape and E.dtype == np.float32 and it == info_one["iterations"]
        assert rel(E, E_one) < 1e-6
    with pytest.raises(DataError, match="one size"):
        rpca_clips([[np.zeros((4, 4)), np.zeros((4, 5))]])


def test_whole_batch_route_agrees_with_the_cpu_route(monkeypatch):
    """The route a GPU takes (whole-batch calls, broadcast per-item scalars, batched products at the largest
    rank), run here on the CPU, gives the CPU route's answer: to rounding in float64; within the mixed
    route's tolerance in mixed precision (its float32 iterations amplify an ulp to about 1e-5 of E)."""
    import melib.preprocess.rpca as rpca_mod

    D = np.stack([bench.clip_matrix(h=30, w=24, n=32, seed=s) / 255 for s in (17, 18)])
    D[1, :, 20:] *= 1.5  # the items differ in rank and in when they stop
    ref = {p: rpca(D.astype(np.float32), precision=p) for p in ("float64", "mixed")}
    monkeypatch.setattr(rpca_mod, "_on_cpu", lambda t: False)
    for p, (A_ref, E_ref, info_ref) in ref.items():
        A, E, info = rpca(D.astype(np.float32), precision=p)
        np.testing.assert_array_equal(info["iterations"], info_ref["iterations"])
        tol = 1e-6 if p == "float64" else 1e-4  # float64: float32 output rounding; mixed: its stated tolerance
        assert rel(E, E_ref) < tol and rel(A, A_ref) < tol

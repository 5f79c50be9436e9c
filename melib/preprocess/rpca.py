"""Robust PCA by the inexact augmented Lagrange multiplier method, and PSN's retention-ratio knob.

RPCA splits a data matrix D (one column per frame, DLHN 3.2.1, PSN 2.1) into a low-rank part A (identity,
lighting) and a sparse part E (the subtle motion the networks are fed):

    min ||A||_* + lam ||E||_1  subject to  D = A + E          # DLHN Eq. 5, PSN Eq. 2

solved by the inexact ALM of Lin, Chen & Ma (2010, DLHN ref. [47]) with the constants of their reference
code: Y0 = D / max(||D||_2, ||D||_inf / lam), mu0 = 1.25 / ||D||_2, mu_bar = 1e7 mu0, rho = 1.5, stop when
||D - A - E||_F / ||D||_F < tol.

The iteration is the textbook one; only the arithmetic is rearranged for speed on tall matrices
(pixels m >> frames n):

- the singular value thresholding of the m x n matrix M goes through the n x n Gram matrix M^T M
  (eigendecomposition in float64): A = M V diag((s - 1/mu)_+ / s) V^T, kept as a rank-r factor;
- E is never needed inside the loop: with T = D + Y/mu - A, the textbook M = D - E + Y/mu equals
  A + clip(T, -lam/mu, lam/mu), and the new multiplier is Y' = mu (M - A'), so E = T - clip(T) is formed once
  at the end.

Computation is in float64 whatever the input precision (float32 results are cast back).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import DataError
from .residual import as_clip

RHO = 1.5
MU_BAR_FACTOR = 1e7
MU_FACTOR = 1.25


class RPCAConvergenceWarning(RuntimeWarning):
    """An RPCA problem stopped at ``max_iter`` before reaching ``tol``."""


def _as_tensor(D, path=None) -> tuple[torch.Tensor, bool]:
    is_numpy = not isinstance(D, torch.Tensor)
    t = torch.from_numpy(np.ascontiguousarray(D)) if is_numpy else D
    if t.ndim not in (2, 3):
        raise DataError(path, "a 2-D (pixels x frames) or 3-D (batch x pixels x frames) matrix",
                        f"shape {tuple(t.shape)}")
    m, n = t.shape[-2:]
    if t.numel() == 0 or m < 1 or n < 2:
        raise DataError(path, "at least 1 pixel row and 2 frame columns", f"shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex():
        raise DataError(path, "a real-valued matrix", f"dtype {t.dtype}")
    if t.is_floating_point() and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise DataError(path, "finite values", f"{int((~torch.isfinite(t)).sum())} NaN/inf entries")
    return t, is_numpy


def _gram(M: torch.Tensor, rows: int = 1024) -> torch.Tensor:
    """M^T M for a batch (b, m, n). On CPU the long m axis is split into chunks (bmm then sum): with a
    single long inner dimension the CPU GEMM runs several times slower."""
    b, m, n = M.shape
    if M.device.type != "cpu" or m < 2 * rows:
        return M.mT @ M
    c = m // rows
    head = M[:, : c * rows].reshape(b * c, rows, n)
    G = torch.bmm(head.mT, head).view(b, c, n, n).sum(1)
    if c * rows < m:
        tail = M[:, c * rows:]
        G += tail.mT @ tail
    return G


def _axpy(X: torch.Tensor, Y: torch.Tensor, a: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """X_i + a_i Y_i per batch item, with scalar factors."""
    for i, f in enumerate(a.tolist()):
        torch.add(X[i], Y[i], alpha=f, out=out[i])
    return out


def _clamp(T: torch.Tensor, tau: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """clip(T_i, -tau_i, tau_i) per batch item, with scalar bounds (faster than broadcast tensor bounds)."""
    for i, t in enumerate(tau.tolist()):
        torch.clamp(T[i], -t, t, out=out[i])
    return out


def _eigh(G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.linalg.eigh, single-threaded on CPU: an n x n problem (n = frames) gains nothing from threads and
    loses badly when the cores are shared."""
    if G.device.type != "cpu" or torch.get_num_threads() == 1:
        return torch.linalg.eigh(G)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(G)
    finally:
        torch.set_num_threads(threads)


def _svt_factor(M: torch.Tensor, thresh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Singular value thresholding of M (b, m, n) at ``thresh`` (b,), as factors B (b, m, r), V (b, n, r) with
    A = B V^T, plus the rank of each item. Lin et al.'s step A = U (S - 1/mu)_+ V^T."""
    w, V = _eigh(_gram(M))          # ascending eigenvalues of M^T M
    s = w.clamp_min(0).sqrt()
    keep = s > thresh[:, None]
    rank = keep.sum(1)
    r = int(rank.max())
    if r == 0:
        return M.new_zeros(M.shape[0], M.shape[1], 0), V[:, :, :0], rank
    s, V, keep = s[:, -r:], V[:, :, -r:], keep[:, -r:]
    g = torch.where(keep, (s - thresh[:, None]) / torch.where(keep, s, 1.0), 0.0)
    return M @ (V * g[:, None, :]), V, rank


@torch.no_grad()
def rpca(D, lam: float | None = None, tol: float = 1e-7, max_iter: int = 1000, path=None):
    """Split D = A + E, A low rank, E sparse, by the inexact ALM (Lin, Chen & Ma; DLHN 3.2.1, PSN 2.1).

    ``D`` is a numpy array or torch tensor, (m, n) with frames as columns or a batch (b, m, n), on CPU or
    CUDA, float32/float64 (integers are read as float64). ``lam`` defaults to 1/sqrt(max(m, n)).
    Returns ``(A, E, info)`` of the same kind, device and (floating) dtype as D; ``info`` holds
    ``iterations``, ``converged``, ``rank`` (of A) and ``residual`` (||D - A - E||_F / ||D||_F), each a
    scalar for 2-D input and a numpy array (one entry per batch item) for 3-D input, and ``lam``.
    A problem that stops at ``max_iter`` keeps ``converged = False`` and raises an RPCAConvergenceWarning.
    Batch items stop independently, each as if solved alone. An all-zero item gives A = E = 0.
    """
    # DLHN Eq. 5 / PSN Eq. 2 by the inexact ALM (DLHN ref. [47]); see the module docstring.
    t, is_numpy = _as_tensor(D, path)
    batched = t.ndim == 3
    out_dtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float64
    X = (t if batched else t[None]).to(torch.float64)
    b, m, n = X.shape
    lam = 1.0 / math.sqrt(max(m, n)) if lam is None else float(lam)
    if lam <= 0 or max_iter < 1:
        raise ValueError(f"need lam > 0 and max_iter >= 1, got lam={lam}, max_iter={max_iter}")

    A_out = torch.zeros_like(X)
    E_out = torch.zeros_like(X)
    iterations = np.zeros(b, dtype=np.int64)
    converged = np.zeros(b, dtype=bool)
    rank_out = np.zeros(b, dtype=np.int64)
    residual = np.zeros(b)

    # per-item scalars live on the host (numpy float64)
    norm_two = _eigh(_gram(X))[0][:, -1].clamp_min(0).sqrt().cpu().numpy()
    d_norm = torch.linalg.vector_norm(X, dim=(1, 2))
    lo, hi = torch.aminmax(X.flatten(1), dim=1)
    norm_inf = torch.maximum(lo.abs(), hi.abs()).cpu().numpy() / lam
    nonzero = norm_two > 0
    converged[~nonzero] = True
    idx = torch.as_tensor(np.flatnonzero(nonzero), device=X.device)

    D_ = X[idx]
    norm_two, norm_inf, d_norm = norm_two[nonzero], norm_inf[nonzero], d_norm[idx]
    mu = MU_FACTOR / norm_two
    mu_bar = mu * MU_BAR_FACTOR
    # The scaled multiplier Y_k / mu_k is kept as scale * U: Y0 / mu0 = D / (max(||D||_2, ||D||_inf / lam) mu0).
    U, scale = D_, 1.0 / (np.maximum(norm_two, norm_inf) * mu)
    B = D_.new_zeros(len(idx), m, 0)
    V = D_.new_zeros(len(idx), n, 0)
    buf = {}
    k = 0
    while len(idx) and k < max_iter:
        k += 1
        if not buf:  # (re)allocated when items leave the batch
            buf = {name: torch.empty_like(D_) for name in ("T", "M0", "M1", "Z")}
        r = B.shape[2]
        T = _axpy(D_, U, scale, buf["T"])                                  # D + Y/mu
        if r:
            T.baddbmm_(B, V.mT, alpha=-1)                                  # D + Y/mu - A
        tau = lam / mu
        M = _clamp(T, tau, buf["M1"] if U is buf["M0"] else buf["M0"])
        if r:
            M.baddbmm_(B, V.mT)                                            # D - E + Y/mu
        B, V, rank = _svt_factor(M, torch.as_tensor(1.0 / mu, device=X.device))
        if B.shape[2]:
            M.baddbmm_(B, V.mT, alpha=-1)                                  # now Y_{k+1} / mu_k
        # Z = D - A - E = Y_{k+1} / mu_k - Y_k / mu_k
        crit = torch.linalg.vector_norm(_axpy(M, U, -scale, buf["Z"]), dim=(1, 2)) / d_norm
        mu_next = np.minimum(mu * RHO, mu_bar)
        U, scale, mu = M, mu / mu_next, mu_next

        done = (crit < tol).cpu().numpy()
        if k == max_iter:
            done[:] = True
        if done.any():
            where = torch.as_tensor(np.flatnonzero(done), device=X.device)
            out = idx[where]
            A_out[out] = torch.bmm(B[where], V[where].mT) if B.shape[2] else 0.0
            T_done = T[where]
            E_out[out] = T_done - _clamp(T_done, tau[done], torch.empty_like(T_done))
            o = out.cpu().numpy()
            iterations[o] = k
            converged[o] = (crit[where] < tol).cpu().numpy()
            rank_out[o] = rank[where].cpu().numpy()
            residual[o] = crit[where].cpu().numpy()
            if done.all():
                break
            keep = torch.as_tensor(np.flatnonzero(~done), device=X.device)
            idx, D_, U, B, V = idx[keep], D_[keep], U[keep], B[keep], V[keep]
            scale, mu, mu_bar, d_norm = scale[~done], mu[~done], mu_bar[~done], d_norm[keep]
            buf = {}

    if not converged.all():
        bad = np.flatnonzero(~converged)
        warnings.warn(f"RPCA did not converge to tol={tol} in {max_iter} iterations for batch item(s) "
                      f"{bad.tolist()} (residual {residual[bad].max():.3g})"
                      + (f" of {path}" if path is not None else ""), RPCAConvergenceWarning, stacklevel=2)

    A_out, E_out = A_out.to(out_dtype), E_out.to(out_dtype)
    if not batched:
        A_out, E_out = A_out[0], E_out[0]
    if is_numpy:
        A_out, E_out = A_out.numpy(), E_out.numpy()
    pick = (lambda a: a) if batched else (lambda a: a[0].item())
    info = {"iterations": pick(iterations), "converged": pick(converged), "rank": pick(rank_out),
            "residual": pick(residual), "lam": lam}
    return A_out, E_out, info


def rpca_frames(frames, **kwargs):
    """RPCA of a clip (T, H, W) or a batch of clips (b, T, H, W): frames become the columns of D
    (DLHN 3.2.1) and A, E come back in the clip's shape. Keyword arguments go to :func:`rpca`."""
    is_numpy = not isinstance(frames, torch.Tensor)
    if is_numpy and not isinstance(frames, np.ndarray):
        frames = as_clip(frames, 2, kwargs.get("path"), ndim=(3,))
    x = torch.from_numpy(np.asarray(frames)) if is_numpy else frames
    if x.ndim not in (3, 4):
        raise DataError(kwargs.get("path"), "a clip (T, H, W) or a batch of clips (b, T, H, W)",
                        f"shape {tuple(x.shape)}")
    shape = x.shape
    D = x.flatten(-2).mT
    A, E, info = rpca(D if not is_numpy else D.numpy(), **kwargs)
    back = (lambda a: a.swapaxes(-1, -2).reshape(shape)) if is_numpy else (lambda a: a.mT.reshape(shape))
    return back(A), back(E), info


def retain(E, ratio: float):
    """Keep, in each frame (column of E, last axis = frames), the ``ratio`` share of its non-zero entries
    largest in magnitude and zero the rest (PSN 3.5, Fig. 10: "retain different percentages of non-zero
    information"; the paper does not say how, so ranking by |E| within a frame is our choice). The count kept
    is ceil(ratio * nonzeros); ties at the cut are broken by position (stable order). numpy or torch in, same
    kind out.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    is_numpy = not isinstance(E, torch.Tensor)
    e = torch.from_numpy(np.asarray(E)) if is_numpy else E
    if e.ndim < 2:
        raise ValueError(f"E must have pixels x frames as its last two axes, got shape {tuple(e.shape)}")
    mag = e.abs()
    k = torch.ceil(ratio * (mag > 0).sum(-2, keepdim=True).to(torch.float64)).to(torch.int64)
    order = torch.argsort(mag, dim=-2, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-2, order, torch.arange(e.shape[-2], device=e.device).view(-1, 1).expand_as(order))
    out = torch.where(ranks < k, e, torch.zeros_like(e))
    return out.numpy() if is_numpy else out

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
  (eigendecomposition): A = (M W) V^T with W = V diag((s - 1/mu)_+ / s), V the r kept eigenvectors;
- E is never needed inside the loop: with T = D + Y/mu - A, the textbook M = D - E + Y/mu equals
  A + clip(T, -lam/mu, lam/mu), and the new multiplier is Y' = mu (M - A'), so E = T - clip(T) is formed once
  at the end. A is kept whole (two m x n x r products an iteration);
- on CPU an iteration is two passes over blocks of rows (:class:`_Blocks`) shared by as many threads as
  torch is set to use, every thread computing single-threaded while a block's arrays are in its core's cache:
  the threads meet twice an iteration, not at every operation (an OpenMP team waiting at each operation
  took several times the work whenever other jobs shared the cores). Block results are added in block
  order, so the answer does not depend on the thread count. On a GPU the steps run on the whole batch.

``precision="float64"`` computes every iteration in float64. ``"mixed"`` (the default for float32 input)
keeps the arrays in float32 while the residual is above :data:`MIXED_SWITCH` (1e-4), then goes on in float64,
so the stopping test at ``tol`` is made in float64. Its Gram matrices are summed in float64 (a float32 sum
errs by about eps32 ||M||_2^2, which puts noise singular values above small thresholds), except while the
threshold is above :data:`COARSE_GRAM` ||D||_2. The float32 iterations move E: on release-scale PSN
matrices (12,544 x 150, ``benches/bench_rpca.py``) by 4-5e-5 relative (Frobenius) and at most 2e-6 in absolute
value (frames in [0, 1]), with the same iteration count; this module's tests hold it within 1e-4.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, DataError
from .residual import as_clip

RHO = 1.5
MU_BAR_FACTOR = 1e7
MU_FACTOR = 1.25
MIXED_SWITCH = 1e-4
BLOCK_ROWS = 1024  # CPU: rows of D per block (a block's arrays fit a core's cache)
COARSE_GRAM = 1e-2  # mixed: float32 Gram sums while the threshold 1/mu is above this share of ||D||_2
PRECISIONS = ("float64", "mixed")


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


def _on_cpu(t: torch.Tensor) -> bool:
    """Whether ``t`` takes the CPU's route (row blocks, loops of scalar calls) rather than whole-batch calls."""
    return t.device.type == "cpu"


def _gram(M: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """M^T M for a batch (b, m, n), computed in ``dtype`` (default M's) as the product's upper half rows and
    its lower right corner, the rest mirrored: three quarters of the full product's work."""
    M = M.to(dtype or M.dtype)
    n = M.shape[-1]
    h = n // 2
    G = M.new_empty(M.shape[0], n, n)
    top = M[..., :h].mT @ M
    G[:, :h] = top
    G[:, h:, :h] = top[:, :, h:].mT
    low = M[..., h:]
    G[:, h:, h:] = low.mT @ low
    return G


def _per_item(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Host scalars (b,) as a (b, 1, 1) tensor beside ``like``."""
    return torch.as_tensor(a, dtype=like.dtype, device=like.device).view(-1, 1, 1)


def _axpy(X: torch.Tensor, Y: torch.Tensor, a: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """X_i + a_i Y_i per batch item: a loop of scalar calls on CPU (faster there), one broadcast elsewhere."""
    if not _on_cpu(X):
        return torch.addcmul(X, Y, _per_item(a, X), out=out)
    for i, f in enumerate(a.tolist()):
        torch.add(X[i], Y[i], alpha=f, out=out[i])
    return out


def _clamp(T: torch.Tensor, tau: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """clip(T_i, -tau_i, tau_i) per batch item, as :func:`_axpy` splits CPU and other devices."""
    if not _on_cpu(T):
        t = _per_item(tau, T)
        return torch.clamp(T, -t, t, out=out)
    for i, t in enumerate(tau.tolist()):
        torch.clamp(T[i], -t, t, out=out[i])
    return out


def _gram64(M: torch.Tensor, coarse: np.ndarray) -> torch.Tensor:
    """M^T M in float64; summed in M's float32 for the ``coarse`` items (those whose threshold dwarfs the
    rounding of a float32 sum: an eigenvalue error near eps32 ||M||_2^2)."""
    if M.dtype == torch.float64 or not coarse.any():
        return _gram(M, torch.float64)
    if coarse.all():
        return _gram(M).double()
    return torch.cat([_gram(M[i:i + 1], None if c else torch.float64).double() for i, c in enumerate(coarse)])


def _take(x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """``x[idx]`` along the batch axis; ``x`` itself (no copy) when ``idx`` is every item in order."""
    if len(idx) == len(x) and (idx == np.arange(len(x))).all():
        return x
    return x[torch.as_tensor(idx, device=x.device)]


def _put(dst: torch.Tensor, idx: np.ndarray, src: torch.Tensor) -> None:
    """``dst[idx] = src`` along the batch axis, cast to ``dst``'s dtype."""
    if len(idx) == len(dst) and (idx == np.arange(len(dst))).all():
        dst.copy_(src)
    else:
        dst[torch.as_tensor(idx, device=dst.device)] = src.to(dst.dtype)


@contextlib.contextmanager
def _threads(n: int):
    """torch's thread count set to ``n`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _threshold(G: torch.Tensor, thresh: np.ndarray, dtype: torch.dtype):
    """Lin et al.'s singular value thresholding A = U (S - 1/mu)_+ V^T through the Gram matrix G = M^T M:
    A = (M W) V^T with W = V diag((s - thresh)_+ / s), V the kept eigenvectors. Returns W, V (in ``dtype``;
    None when nothing is kept) and the rank of each item."""
    w, V = torch.linalg.eigh(G)          # ascending eigenvalues of M^T M
    s = w.clamp_min(0).sqrt()
    t = torch.as_tensor(thresh, dtype=s.dtype, device=s.device)[:, None]
    keep = s > t
    rank = keep.sum(1)
    r = int(rank.max())
    if r == 0:
        return None, None, rank
    s, V, keep = s[:, -r:], V[:, :, -r:], keep[:, -r:]
    g = torch.where(keep, (s - t) / torch.where(keep, s, 1.0), 0.0)
    return (V * g[:, None, :]).to(dtype), V.to(dtype), rank


class _Blocks:
    """The rows of an (b, m, n) batch in blocks of :data:`BLOCK_ROWS` on CPU (one block elsewhere): ``sum(fn)``
    adds ``fn(rows)`` over the blocks, in block order whatever the threads, so the result does not depend on
    them. On CPU the blocks are shared among this process's torch threads, each block computed single-threaded
    (its arrays stay in the core's cache, and the threads meet once per pass, not once per operation)."""

    def __init__(self, like: torch.Tensor, pool: ThreadPoolExecutor | None):
        m, cpu = like.shape[1], _on_cpu(like)
        self.rows = [slice(lo, min(lo + BLOCK_ROWS, m)) for lo in range(0, m, BLOCK_ROWS)] if cpu else [slice(0, m)]
        self.cpu, self.pool = cpu, pool if cpu and len(self.rows) > 1 else None

    def sum(self, fn: Callable[[slice], torch.Tensor]) -> torch.Tensor:
        parts = list(map(fn, self.rows) if self.pool is None else self.pool.map(fn, self.rows))
        total = parts[0].clone()
        for part in parts[1:]:
            total += part
        return total


def _alm(D, U, A, pos, st, lam, tol, max_iter, leave, pool) -> None:
    """Inexact ALM iterations on the batch D (b, m, n) of items ``pos`` from their state: U * st["scale"] =
    Y / mu, A (None: zero), st["mu"], st["mu_bar"], st["k"] iterations made (host arrays indexed by item).
    Each item runs until its residual is below ``tol`` or its count reaches ``max_iter``; then
    ``leave(items, residual, rank, U, A, T, tau)`` gets it, with E = T - clip(T, -tau, tau) (T may be the
    iteration's buffer, free to overwrite).
    Each iteration is two passes over the row blocks (:class:`_Blocks`) around one eigendecomposition."""
    blocks = _Blocks(D, pool)
    buf = {}
    while len(pos):
        if not buf:  # (re)allocated when items leave the batch
            buf = {name: torch.empty_like(D) for name in ("T", "M0", "M1")}
        scale, mu = st["scale"][pos], st["mu"][pos]
        tau = lam / mu
        coarse = 1.0 / mu >= COARSE_GRAM * st["norm_two"][pos]
        T, M = buf["T"], buf["M1"] if U is buf["M0"] else buf["M0"]
        if A is None:
            A = torch.zeros_like(D)

        def first(r):
            t = _axpy(D[:, r], U[:, r], scale, T[:, r]).sub_(A[:, r])       # T = D + Y/mu - A
            mm = _clamp(t, tau, M[:, r]).add_(A[:, r])                      # M = D - E + Y/mu
            return _gram64(mm, coarse)

        W, V, rank = _threshold(blocks.sum(first), 1.0 / mu, D.dtype)
        ranks = rank.tolist()

        def second(r):
            mm, a = M[:, r], A[:, r]
            if W is None:
                a.zero_()
            elif not blocks.cpu:
                a.baddbmm_(mm @ W, V.mT, beta=0)                           # A' = (M W) V^T
            else:  # item by item at its own rank: the same arithmetic as the item alone
                for i, k in enumerate(ranks):
                    if k:
                        torch.mm(mm[i] @ W[i, :, -k:], V[i, :, -k:].mT, out=a[i])
                    else:
                        a[i].zero_()
            mm.sub_(a)                                                      # M - A' = Y_{k+1} / mu_k
            z = _axpy(mm, U[:, r], -scale, torch.empty_like(mm))            # Z = D - A' - E
            return torch.linalg.vector_norm(z, dim=(1, 2)).double() ** 2

        crit = blocks.sum(second).sqrt().cpu().numpy() / st["d_norm"][pos]
        mu_next = np.minimum(mu * RHO, st["mu_bar"][pos])
        st["scale"][pos], st["mu"][pos] = mu / mu_next, mu_next
        st["k"][pos] += 1
        U = M
        done = (crit < tol) | (st["k"][pos] >= max_iter)
        if done.any():
            out, keep = np.flatnonzero(done), np.flatnonzero(~done)
            leave(pos[out], crit[out], rank.cpu().numpy()[out], _take(U, out), _take(A, out), _take(T, out),
                  tau[out])
            pos, D, U, A = pos[keep], _take(D, keep), _take(U, keep), _take(A, keep)
            buf = {}


@torch.no_grad()
def rpca(D, lam: float | None = None, tol: float = 1e-7, max_iter: int = 1000, path=None,
         precision: str | None = None):
    """Split D = A + E, A low rank, E sparse, by the inexact ALM (Lin, Chen & Ma; DLHN 3.2.1, PSN 2.1).

    ``D`` is a numpy array or torch tensor, (m, n) with frames as columns or a batch (b, m, n), on CPU or
    CUDA, float32/float64 (integers are read as float64). ``lam`` defaults to 1/sqrt(max(m, n)).
    ``precision``: ``"float64"`` or ``"mixed"`` (float32 while the residual is above 1e-4; see the module
    docstring); default ``"mixed"`` for float32 input, else ``"float64"``.
    Returns ``(A, E, info)`` of the same kind, device and (floating) dtype as D; ``info`` holds
    ``iterations``, ``converged``, ``rank`` (of A) and ``residual`` (||D - A - E||_F / ||D||_F), each a
    scalar for 2-D input and a numpy array (one entry per batch item) for 3-D input, ``lam`` and ``precision``.
    A problem that stops at ``max_iter`` keeps ``converged = False`` and raises an RPCAConvergenceWarning.
    Batch items stop independently, each as if solved alone. An all-zero item gives A = E = 0. On CPU the
    work is spread over ``torch.get_num_threads()`` threads, with the same result for any count.
    """
    # DLHN Eq. 5 / PSN Eq. 2 by the inexact ALM (DLHN ref. [47]); see the module docstring.
    t, is_numpy = _as_tensor(D, path)
    batched = t.ndim == 3
    out_dtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float64
    precision = precision or ("mixed" if t.dtype == torch.float32 else "float64")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    X = (t if batched else t[None]).to(torch.float64).contiguous()
    b, m, n = X.shape
    lam = 1.0 / math.sqrt(max(m, n)) if lam is None else float(lam)
    if lam <= 0 or max_iter < 1:
        raise ValueError(f"need lam > 0 and max_iter >= 1, got lam={lam}, max_iter={max_iter}")

    A_out = torch.zeros_like(X, dtype=out_dtype)
    E_out = torch.zeros_like(X, dtype=out_dtype)
    converged = np.zeros(b, dtype=bool)
    rank_out = np.zeros(b, dtype=np.int64)
    residual = np.zeros(b)

    threads = torch.get_num_threads()
    workers = threads if _on_cpu(X) else 1
    # On CPU every thread, this one and the block workers, computes single-threaded (torch's thread count is
    # per OS thread for OpenMP): the parallelism is the blocks', with no OpenMP team waiting at each operation.
    with (ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) if workers > 1
          else contextlib.nullcontext()) as pool, _threads(1 if _on_cpu(X) else threads):
        blocks = _Blocks(X, pool)
        # per-item scalars live on the host (numpy float64)
        norm_two = torch.linalg.eigvalsh(blocks.sum(lambda r: _gram(X[:, r])))[:, -1].clamp_min(0).sqrt().cpu().numpy()
        d_norm = blocks.sum(lambda r: torch.linalg.vector_norm(X[:, r], dim=(1, 2)) ** 2).sqrt().cpu().numpy()
        lo, hi = torch.aminmax(X.flatten(1), dim=1)
        norm_inf = torch.maximum(lo.abs(), hi.abs()).cpu().numpy() / lam
        nonzero = norm_two > 0
        converged[~nonzero] = True
        safe = np.where(nonzero, norm_two, 1.0)
        mu = MU_FACTOR / safe
        # The scaled multiplier Y_k / mu_k is kept as scale * U: Y0 / mu0 = D / (max(||D||_2, ||D||_inf / lam) mu0).
        st = {"k": np.zeros(b, dtype=np.int64), "mu": mu, "mu_bar": mu * MU_BAR_FACTOR, "norm_two": norm_two,
              "scale": 1.0 / (np.maximum(safe, norm_inf) * mu), "d_norm": d_norm}
        mixed = precision == "mixed"
        ahead = {}  # a mixed run's state where its float32 iterations end: the float64 ones go on from it

        def leave(items, crit, rank, U, A, T, tau):
            final = (crit < tol) | (st["k"][items] >= max_iter)
            go_on, f = np.flatnonzero(~final), np.flatnonzero(final)
            if len(go_on):
                for name, x in (("U", U), ("A", A)):
                    _put(ahead.setdefault(name, torch.empty_like(X)), items[go_on], _take(x, go_on))
            if len(f):
                T = _take(T, f)
                _put(E_out, items[f], T.sub_(_clamp(T, tau[f], torch.empty_like(T))))  # E = T - clip(T)
                _put(A_out, items[f], _take(A, f))
                j = items[f]
                converged[j], rank_out[j], residual[j] = crit[f] < tol, rank[f], crit[f]

        pos = np.flatnonzero(nonzero)
        if mixed:
            D32 = _take(t if batched else t[None], pos) if t.dtype == torch.float32 else _take(X, pos)
            D32 = D32.float().contiguous()
            _alm(D32, D32, None, pos, st, lam, max(tol, MIXED_SWITCH), max_iter, leave, pool)
            del D32
            pos = np.flatnonzero(~converged & (st["k"] < max_iter))
            if len(pos):
                _alm(_take(X, pos), _take(ahead["U"], pos), _take(ahead["A"], pos), pos, st, lam, tol, max_iter,
                     leave, pool)
        elif len(pos):
            _alm(_take(X, pos), _take(X, pos), None, pos, st, lam, tol, max_iter, leave, pool)

    if not converged.all():
        bad = np.flatnonzero(~converged)
        warnings.warn(f"RPCA did not converge to tol={tol} in {max_iter} iterations for batch item(s) "
                      f"{bad.tolist()} (residual {residual[bad].max():.3g})"
                      + (f" of {path}" if path is not None else ""), RPCAConvergenceWarning, stacklevel=2)

    if not batched:
        A_out, E_out = A_out[0], E_out[0]
    if is_numpy:
        A_out, E_out = A_out.numpy(), E_out.numpy()
    pick = (lambda a: a) if batched else (lambda a: a[0].item())
    info = {"iterations": pick(st["k"]), "converged": pick(converged), "rank": pick(rank_out),
            "residual": pick(residual), "lam": lam, "precision": precision}
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


def rpca_clips(clips: Sequence, device: str | torch.device = "cpu", batch_size: int = 32, progress: bool = False,
               **kwargs):
    """RPCA's sparse part E of several clips (each (T, H, W); frames as the columns of D, DLHN 3.2.1), computed
    ``batch_size`` clips at a time on ``device`` (``"cuda"`` for throughput on a GPU), with a progress bar
    over the batches when ``progress``. Clips of one shape and dtype share a batch; each stops as if solved
    alone: on CPU its E is :func:`rpca_frames`'s for that clip, bit for bit; on a GPU it differs by rounding
    (float64) or within the mixed route's tolerance (module docstring). Keyword arguments go to :func:`rpca`.
    Returns ``(Es, info)``: a numpy E per clip (its shape and floating dtype) in input order, and ``info`` with
    ``iterations``, ``converged``, ``rank``, ``residual`` as arrays of one entry per clip.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    arrays = [as_clip(c, 2, kwargs.get("path"), ndim=(3,)) for c in clips]
    Es: list = [None] * len(arrays)
    info = {k: np.zeros(len(arrays), dtype=d) for k, d in
            (("iterations", np.int64), ("converged", bool), ("rank", np.int64), ("residual", np.float64))}
    groups: dict = {}
    for i, a in enumerate(arrays):
        groups.setdefault((a.shape, a.dtype.str), []).append(i)
    chunks = [members[i:i + batch_size] for members in groups.values() for i in range(0, len(members), batch_size)]
    for chunk in tqdm(chunks, desc="rpca batches", disable=not progress):
        x = torch.from_numpy(np.stack([arrays[i] for i in chunk])).to(device)
        _, E, part = rpca_frames(x, **kwargs)
        E = E.cpu().numpy()
        for j, i in enumerate(chunk):
            Es[i] = E[j]
            for k in info:
                info[k][i] = part[k][j]
    return Es, info


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

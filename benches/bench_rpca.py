"""melib's RPCA vs the textbook NumPy inexact ALM on a clip-sized matrix (12544 x 150).

Run: python benches/bench_rpca.py [--repeats N]. Prints both times, their ratio and the relative difference of
the sparse parts E (targets: >= 8x faster, difference <= 1e-4).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def rpca_reference(D: np.ndarray, lam: float | None = None, tol: float = 1e-7, max_iter: int = 1000):
    """Textbook inexact ALM RPCA (Lin, Chen & Ma 2010, their reference code) with a full thin SVD each
    iteration. Returns (A, E, iterations, converged)."""
    m, n = D.shape
    lam = 1.0 / np.sqrt(max(m, n)) if lam is None else lam
    norm_two = np.linalg.norm(D, 2)
    norm_inf = np.abs(D).max() / lam
    Y = D / max(norm_two, norm_inf)
    A = np.zeros_like(D)
    E = np.zeros_like(D)
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    rho = 1.5
    d_norm = np.linalg.norm(D, "fro")
    for it in range(1, max_iter + 1):
        T = D - A + Y / mu
        E = np.maximum(T - lam / mu, 0) + np.minimum(T + lam / mu, 0)
        U, s, Vt = np.linalg.svd(D - E + Y / mu, full_matrices=False)
        svp = int((s > 1 / mu).sum())
        A = (U[:, :svp] * (s[:svp] - 1 / mu)) @ Vt[:svp]
        Z = D - A - E
        Y = Y + mu * Z
        mu = min(mu * rho, mu_bar)
        if np.linalg.norm(Z, "fro") / d_norm < tol:
            return A, E, it, True
    return A, E, max_iter, False


def clip_matrix(h: int = 112, w: int = 112, n: int = 150, seed: int = 0) -> np.ndarray:
    """A synthetic clip as a (h*w) x n matrix: a smooth face-like image under slowly changing light and a
    drifting shading (low rank), a small moving blob in the middle frames (sparse), sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    face = 120 + 60 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.08) + 15 * np.sin(9 * x) * np.cos(7 * y)
    t = np.linspace(0, 1, n)
    light = 1 + 0.05 * np.sin(2 * np.pi * t)
    shade = (x - 0.5).ravel()[:, None] * (20 * t)[None, :]
    L = face.ravel()[:, None] * light[None, :] + shade
    S = np.zeros((h * w, n))
    for j in range(n // 3, 2 * n // 3):
        cy, cx = 0.7 * h, 0.35 * w + 0.3 * w * (j - n // 3) / (n // 3)
        blob = np.exp(-((np.arange(h)[:, None] - cy) ** 2 + (np.arange(w)[None, :] - cx) ** 2) / 18.0)
        S[:, j] = 25 * np.where(blob > 0.05, blob, 0).ravel()
    return L + S + rng.normal(0, 1.0, (h * w, n))


def main() -> None:
    import torch

    from melib.preprocess.rpca import rpca

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3, help="timed runs of melib's rpca (best is kept)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP threads for both sides (default: libraries' own; 1 is steadier on a busy machine)")
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    D = clip_matrix()
    print(f"D: {D.shape[0]} x {D.shape[1]}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    A_ref, E_ref, it_ref, ok_ref = rpca_reference(D)
    t_ref = time.perf_counter() - t0

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        A, E, info = rpca(D)
        times.append(time.perf_counter() - t0)
    t_fast = min(times)

    diff_E = np.linalg.norm(E - E_ref) / np.linalg.norm(E_ref)
    diff_A = np.linalg.norm(A - A_ref) / np.linalg.norm(A_ref)
    print(f"textbook numpy inexact ALM: {t_ref:8.3f} s  ({it_ref} iterations, converged={ok_ref})")
    print(f"melib rpca (best of {args.repeats}):   {t_fast:8.3f} s  ({info['iterations']} iterations, "
          f"converged={info['converged']}, rank {info['rank']})")
    print(f"speed-up: {t_ref / t_fast:.1f}x   (target >= 8x)")
    print(f"relative difference of E: {diff_E:.2e}, of A: {diff_A:.2e}   (target <= 1e-4)")
    print(f"non-zeros in E: {np.mean(E != 0):.3f} (reference {np.mean(E_ref != 0):.3f})")


if __name__ == "__main__":
    main()

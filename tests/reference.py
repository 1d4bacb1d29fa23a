"""Slow, obviously correct references for the tests: dense linear solves in numpy.

Never used on real data (``O(n^2)`` memory, ``O(n^3)`` time); every fast path is tested
against these, and these are tested against networkx.
"""

from __future__ import annotations

import numpy as np


def dense_transition(citing: np.ndarray, cited: np.ndarray, n: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Row-stochastic ``P[i, j] = sum of w over rows i->j / sum of w over rows from i`` (zero rows for dangling).

    Repeated rows add up; apply the duplicate and self-citation policies before calling.
    """
    a = np.zeros((n, n))
    np.add.at(a, (np.asarray(citing), np.asarray(cited)), 1.0 if weight is None else np.asarray(weight, float))
    out = a.sum(1)
    nz = out > 0
    a[nz] /= out[nz, None]
    return a


def dense_pagerank(p: np.ndarray, teleport: np.ndarray, alpha: float) -> np.ndarray:
    """Exact PageRank for each teleport column by one linear solve.

    Parameters
    ----------
    p : ndarray, shape [n, n]
        Row-stochastic transition (all-zero rows for dangling papers).
    teleport : ndarray, shape [n, B]
        Teleport distributions (columns summing to 1); dangling mass follows them.
    alpha : float

    Returns
    -------
    ndarray, shape [n, B]

    Notes
    -----
    The fixed point of ``x = alpha (P^T x + v d^T x) + (1 - alpha) v`` with ``1^T x = 1`` is
    ``x = (1 - alpha) (I - alpha (P^T + v d^T))^{-1} v``, ``d`` the dangling indicator.
    """
    n = p.shape[0]
    v = np.asarray(teleport, float).reshape(n, -1)
    dangling = (p.sum(1) == 0).astype(float)
    out = np.empty_like(v)
    for b in range(v.shape[1]):
        m = np.eye(n) - alpha * (p.T + np.outer(v[:, b], dangling))
        out[:, b] = (1 - alpha) * np.linalg.solve(m, v[:, b])
    return out

"""Compiled CPU kernel (numba): the exact sweep of :mod:`ranker.kernels.sweep`, one column per year's record.

Column ``b`` solves ``(I - alpha P_b^T) y = v_b`` on the citation record as it stood at the end
of year ``caps[b]``: papers dated after it hold nothing, and a paper that cites newer papers
passes its score on through its citations to papers of that record only, each scaled by
``fscale[fidx[j], b]`` (its whole out-weight over the out-weight left in that record; 0 when
nothing is left: the paper is dangling in that year). The plan (levels and strongly connected
components of the whole graph) stays valid for every record: a record's citations are a subset
of the graph's, so every order that is topological for the graph is one for the record.

Reference: the power iteration of :func:`ranker.trajectories.snapshot_pagerank` with
``method = "power"`` (torch, any device); both are tested against networkx on each year's
induced subgraph (``tests/test_trajectories.py``).

Bits: each column is computed alone, in a fixed order (rows in plan order, each row's citations
in CSR order), so its scores do not depend on the batch, the chunking or the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def sweep_snapshots(crow, col, val, col_scale, kinds, starts, ends, year, caps, fidx, fscale, self_share, v, alpha,
                    tol, max_iter, direct_max, y, iters, resid):  # pragma: no cover - compiled
    """``(I - alpha P_b^T) y_b = v_b`` for every column ``b`` (columns in parallel).

    ``crow``/``col``: ``P^T`` in plan order (row = cited paper); ``val`` its values (weighted)
    or empty (``col_scale[j] = 1 / out_weight_j`` stands for them); ``kinds``/``starts``/``ends``
    the plan's slices (0: papers on no cycle, 1: one strongly connected component);
    ``year[i]`` each paper's year and ``caps[b]`` column ``b``'s last year; ``fidx[j]`` the row of
    ``fscale`` of a paper that cites newer papers (-1 for others); ``self_share[i]`` =
    ``P^T[i, i]``. ``y`` (zeros on entry) gets each column's unnormalized solution;
    ``iters``/``resid`` (zeros) the most Gauss-Seidel sweeps and the largest last L1 change over
    the components larger than ``direct_max`` (smaller ones are solved by elimination).
    """
    for b in prange(y.shape[1]):
        _sweep_column(b, crow, col, val, col_scale, kinds, starts, ends, year, caps[b], fidx, fscale, self_share, v,
                      alpha, tol, max_iter, direct_max, y, iters, resid)


@njit(cache=True, nogil=True, inline="always")
def _factor(j, b, fidx, fscale):  # pragma: no cover - compiled
    f = fidx[j]
    return 1.0 if f < 0 else fscale[f, b]


@njit(cache=True, nogil=True)
def _sweep_column(b, crow, col, val, col_scale, kinds, starts, ends, year, cap, fidx, fscale, self_share, v, alpha,
                  tol, max_iter, direct_max, y, iters, resid):  # pragma: no cover - compiled
    n = y.shape[0]
    weighted = val.shape[0] > 0
    # read[j]: what a citation from j carries per unit of transition value: y_j times j's factor
    # (and 1 / out_weight_j when unweighted); 0 until j is solved, and for papers after ``cap``
    read = np.zeros(n, np.float64)
    for g in range(kinds.shape[0]):
        s, e = starts[g], ends[g]
        if kinds[g] == 0:
            for i in range(s, e):
                if year[i] > cap:
                    continue
                acc = 0.0
                if weighted:
                    for k in range(crow[i], crow[i + 1]):
                        acc += val[k] * read[col[k]]  # a self-citation reads 0 here: it is on the diagonal
                else:
                    for k in range(crow[i], crow[i + 1]):
                        acc += read[col[k]]
                f = _factor(i, b, fidx, fscale)
                yi = (v[i, b] + alpha * acc) / (1.0 - alpha * self_share[i] * f)
                y[i, b] = yi
                read[i] = yi * f * (1.0 if weighted else col_scale[i])
            continue
        _component(b, s, e, crow, col, val, col_scale, weighted, year, cap, fidx, fscale, self_share, v, alpha, tol,
                   max_iter, direct_max, y, read, iters, resid)


@njit(cache=True, nogil=True)
def _component(b, s, e, crow, col, val, col_scale, weighted, year, cap, fidx, fscale, self_share, v, alpha, tol,
               max_iter, direct_max, y, read, iters, resid):  # pragma: no cover - compiled
    """One strongly connected component ``s:e`` for column ``b``: inputs from earlier slices fixed,
    then Gaussian elimination (at most ``direct_max`` papers) or Gauss-Seidel sweeps to an L1
    change below ``tol``. Papers after ``cap`` stay 0 (identity rows, no input)."""
    m = e - s
    ext = np.zeros(m, np.float64)
    alive = np.zeros(m, np.bool_)
    diag = np.ones(m, np.float64)  # 1 - alpha P_b^T[i, i]
    mul = np.zeros(m, np.float64)  # what a citation from the component's paper carries per unit of value
    any_alive = False
    for r in range(m):
        i = s + r
        if year[i] > cap:
            continue
        alive[r] = True
        any_alive = True
        f = _factor(i, b, fidx, fscale)
        diag[r] = 1.0 - alpha * self_share[i] * f
        mul[r] = f * (1.0 if weighted else col_scale[i])
        acc = 0.0
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            if j < s:
                acc += (val[k] if weighted else 1.0) * read[j]
        ext[r] = v[i, b] + alpha * acc
    if not any_alive:
        return
    loc = np.zeros(m, np.float64)
    if m <= direct_max:
        a = np.zeros((m, m), np.float64)
        for r in range(m):
            a[r, r] = diag[r]
            if not alive[r]:
                continue
            i = s + r
            for k in range(crow[i], crow[i + 1]):
                j = col[k]
                if j >= s and j != i and alive[j - s]:
                    a[r, j - s] -= alpha * (val[k] if weighted else 1.0) * mul[j - s]
        # strictly diagonally dominant by columns (a column of P_b^T sums to at most 1 over the
        # record): elimination without pivoting is stable
        for k in range(m):
            for r in range(k + 1, m):
                if a[r, k] != 0.0:
                    a[r, k] /= a[k, k]
                    fct = a[r, k]
                    for c in range(k + 1, m):
                        a[r, c] -= fct * a[k, c]
        for r in range(m):
            t = ext[r]
            for c in range(r):
                t -= a[r, c] * loc[c]
            loc[r] = t
        for r in range(m - 1, -1, -1):
            t = loc[r]
            for c in range(r + 1, m):
                t -= a[r, c] * loc[c]
            loc[r] = t / a[r, r]
    else:
        it = 0
        change = 0.0
        while True:
            it += 1
            change = 0.0
            for r in range(m):
                if not alive[r]:
                    continue
                i = s + r
                acc = 0.0
                for k in range(crow[i], crow[i + 1]):
                    j = col[k]
                    if j >= s and j != i:
                        acc += (val[k] if weighted else 1.0) * loc[j - s] * mul[j - s]
                new = (ext[r] + alpha * acc) / diag[r]
                change += abs(new - loc[r])
                loc[r] = new
            if change < tol or it >= max_iter:
                break
        iters[b] = max(iters[b], it)
        resid[b] = max(resid[b], change)
    for r in range(m):
        if alive[r]:
            y[s + r, b] = loc[r]
            read[s + r] = loc[r] * mul[r]

"""Compiled CPU kernel (numba): the exact sweep of :mod:`ranker.kernels.sweep`, one column per year's record.

Column ``b`` solves ``(I - alpha P_b^T) y = v_b`` on the citation record as it stood at the end
of year ``caps[b]``: papers dated after it hold nothing, and a paper that cites newer papers
passes its score on through its citations to papers of that record only, each scaled by
``fscale[fidx[j], b]`` (its whole out-weight over the out-weight left in that record; 0 when
nothing is left: the paper is dangling in that year). The plan (levels and strongly connected
components of the whole graph) stays valid for every record: a record's citations are a subset
of the graph's, so every order that is topological for the graph is one for the record.

Reference: the power iteration of :func:`ranker.solvers.snapshots.snapshot_pagerank` with
``method = "power"`` (torch, any device); both are tested against networkx on each year's
induced subgraph (``tests/solvers/test_snapshots.py``).

Bits: each column is computed alone, in a fixed order (rows in plan order, each row's citations
in CSR order), so its scores do not depend on the batch, the chunking or the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sweep import extrapolation, lu_in_place, lu_solve

#: Most columns one thread carries through the plan together: one read of a citer's row serves them all.
CHUNK = 8


@njit(parallel=True, cache=True)
def sweep_snapshots(crow, col, val, col_scale, kinds, starts, ends, icrow, icol, ival, year, caps, fidx, fscale,
                    self_share, v, alpha, tol, max_iter, direct_max, threads, y, iters,
                    resid):  # pragma: no cover - compiled
    """``(I - alpha P_b^T) y_b = v_b`` for every column ``b``.

    ``crow``/``col``: ``P^T`` in plan order (row = cited paper); ``val`` its values (weighted)
    or empty (``col_scale[j] = 1 / out_weight_j`` stands for them); ``kinds``/``starts``/``ends``
    the plan's slices (0: papers on no cycle, 1: one strongly connected component);
    ``year[i]`` each paper's year and ``caps[b]`` column ``b``'s last year; ``fidx[j]`` the row of
    ``fscale`` of a paper that cites newer papers (-1 for others); ``self_share[i]`` =
    ``P^T[i, i]``; ``icrow``/``icol``/``ival`` the citations inside components
    (:func:`ranker.kernels.sweep.internal_block`). ``y`` (zeros on entry) gets each column's
    unnormalized solution;
    ``iters``/``resid`` (zeros) the most Gauss-Seidel sweeps and the largest last L1 change over
    the components larger than ``direct_max`` (smaller ones are solved by elimination).

    The columns are cut into chunks of at most :data:`CHUNK`, at least one per thread, and each
    thread carries its chunks through the whole plan: each row reads its citers once for the
    chunk, and no thread waits for another.
    """
    n_cols = y.shape[1]
    n_chunks = max(min(threads, n_cols), (n_cols + CHUNK - 1) // CHUNK)
    width = (n_cols + n_chunks - 1) // n_chunks if n_cols else 1
    n_chunks = (n_cols + width - 1) // width if n_cols else 0
    for ch in prange(n_chunks):
        _sweep_chunk(ch * width, min(n_cols, (ch + 1) * width), crow, col, val, col_scale, kinds, starts, ends, icrow,
                     icol, ival, year, caps, fidx, fscale, self_share, v, alpha, tol, max_iter, direct_max, y, iters,
                     resid)


@njit(cache=True, nogil=True)
def _sweep_chunk(c0, c1, crow, col, val, col_scale, kinds, starts, ends, icrow, icol, ival, year, caps, fidx, fscale,
                 self_share, v, alpha, tol, max_iter, direct_max, y, iters, resid):  # pragma: no cover - compiled
    """Columns ``c0..c1-1`` through the plan, in order."""
    n = y.shape[0]
    w = c1 - c0
    weighted = val.shape[0] > 0
    # read[j, q]: what a citation from j carries per unit of transition value in column c0 + q:
    # y_j times j's factor (and 1 / out_weight_j unweighted); 0 until j is solved, and after the cap
    read = np.zeros((n, w), np.float64)
    for g in range(kinds.shape[0]):
        s, e = starts[g], ends[g]
        if kinds[g] == 0:
            for i in range(s, e):
                _level_row(i, c0, w, crow, col, val, col_scale, weighted, year, caps, fidx, fscale, self_share, v,
                           alpha, y, read)
            continue
        for q in range(w):
            _component(c0 + q, q, s, e, crow, col, val, col_scale, weighted, icrow, icol, ival, year, caps[c0 + q],
                       fidx, fscale, self_share, v, alpha, tol, max_iter, direct_max, y, read, iters, resid)


@njit(cache=True, nogil=True, inline="always")
def _level_row(i, c0, w, crow, col, val, col_scale, weighted, year, caps, fidx, fscale, self_share, v, alpha, y,
               read):  # pragma: no cover - compiled
    """Paper ``i`` (on no cycle) in columns ``c0..c0+w-1``: its citers are final. A self-citation
    reads 0 here (``i`` is not solved yet): it is on the diagonal."""
    yi = year[i]
    alive = False
    for q in range(w):
        if yi <= caps[c0 + q]:
            alive = True
    if not alive:
        return
    # y[i, :] (zeros) accumulates the citers' reads, in CSR order for every column alike
    if weighted:
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            t = val[k]
            for q in range(w):
                y[i, c0 + q] += t * read[j, q]
    else:
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            for q in range(w):
                y[i, c0 + q] += read[j, q]
    f = fidx[i]
    unit = 1.0 if weighted else col_scale[i]
    for q in range(w):
        b = c0 + q
        if yi > caps[b]:
            y[i, b] = 0.0
            continue
        fb = 1.0 if f < 0 else fscale[f, b]
        yb = (v[i, b] + alpha * y[i, b]) / (1.0 - alpha * self_share[i] * fb)
        y[i, b] = yb
        read[i, q] = yb * fb * unit


@njit(cache=True, nogil=True)
def forward_scales(crow, col, val, col_scale, year, caps):  # pragma: no cover - compiled
    """The papers citing a newer paper, and each one's factor per column
    (:func:`ranker.solvers.snapshots.snapshot_columns`).

    Returns ``(fidx, forward, scale)``: ``fidx[j]`` the row of ``scale`` of paper ``j`` (-1 for
    papers citing no newer paper), ``forward`` those papers in increasing order, and
    ``scale[f, b] = 1 / sum_{i <= caps[b]} P^T[i, j]`` (0 where the sum is 0). Sums run over the
    citations in CSR order.
    """
    n = crow.shape[0] - 1
    weighted = val.shape[0] > 0
    cites_newer = np.zeros(n, np.bool_)
    for i in range(n):
        yi = year[i]
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            if yi > year[j]:
                cites_newer[j] = True
    fidx = np.full(n, -1, np.int64)
    f = 0
    for j in range(n):
        if cites_newer[j]:
            fidx[j] = f
            f += 1
    forward = np.empty(f, np.int64)
    for j in range(n):
        if fidx[j] >= 0:
            forward[fidx[j]] = j
    n_cols = caps.shape[0]
    kept = np.zeros((f, n_cols), np.float64)
    for i in range(n):
        yi = year[i]
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            r = fidx[j]
            if r < 0:
                continue
            t = val[k] if weighted else col_scale[j]
            for b in range(n_cols):
                if yi <= caps[b]:
                    kept[r, b] += t
    for r in range(f):
        for b in range(n_cols):
            kept[r, b] = 1.0 / kept[r, b] if kept[r, b] > 0.0 else 0.0
    return fidx, forward, kept


@njit(cache=True, nogil=True, inline="always")
def _factor(j, b, fidx, fscale):  # pragma: no cover - compiled
    f = fidx[j]
    return 1.0 if f < 0 else fscale[f, b]


@njit(cache=True, nogil=True)
def _component(b, q, s, e, crow, col, val, col_scale, weighted, icrow, icol, ival, year, cap, fidx, fscale, self_share,
               v, alpha, tol, max_iter, direct_max, y, read, iters, resid):  # pragma: no cover - compiled
    """One strongly connected component ``s:e`` for column ``b``: inputs from earlier slices fixed,
    then Gaussian elimination (at most ``direct_max`` papers) or Gauss-Seidel sweeps to an L1
    change below ``tol``. Papers after ``cap`` stay 0 (identity rows, no input). ``q``: the column's
    place in ``read``. ``icrow``/``icol``/``ival``: the citations inside components, self-citations
    left out (:func:`ranker.kernels.sweep.internal_block`)."""
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
                acc += (val[k] if weighted else 1.0) * read[j, q]
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
            for k in range(icrow[i], icrow[i + 1]):
                c = icol[k] - s
                if alive[c]:
                    a[r, c] -= alpha * (ival[k] if weighted else 1.0) * mul[c]
        # strictly diagonally dominant by columns (a column of P_b^T sums to at most 1 over the
        # record): elimination without pivoting is stable
        lu_in_place(a)
        lu_solve(a, ext, loc)
    else:  # Gauss-Seidel over the citations inside the component, Aitken jumps as in ranker.kernels.sweep
        rd = np.zeros(m, np.float64)  # loc * mul: what the citations read
        prev = np.zeros(m, np.float64)
        it = 0
        change = last = ratio = 0.0
        while True:
            it += 1
            change = 0.0
            for r in range(m):
                if not alive[r]:
                    continue
                i = s + r
                acc = 0.0
                if weighted:
                    for k in range(icrow[i], icrow[i + 1]):
                        acc += ival[k] * rd[icol[k] - s]
                else:
                    for k in range(icrow[i], icrow[i + 1]):
                        acc += rd[icol[k] - s]
                new = (ext[r] + alpha * acc) / diag[r]
                change += abs(new - loc[r])
                prev[r] = loc[r]
                loc[r] = new
                rd[r] = new * mul[r]
            if change < tol or it >= max_iter:
                break
            factor, ratio = extrapolation(it, change, last, ratio)
            last = change
            if factor > 0.0:
                for r in range(m):  # never below 0, where no score lies: the sweeps stay nonnegative
                    loc[r] = max(0.0, loc[r] + factor * (loc[r] - prev[r]))
                    rd[r] = loc[r] * mul[r]
        iters[b] = max(iters[b], it)
        resid[b] = max(resid[b], change)
    for r in range(m):
        if alive[r]:
            y[s + r, b] = loc[r]
            read[s + r, q] = loc[r] * mul[r]

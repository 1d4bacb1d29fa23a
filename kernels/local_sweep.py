"""Compiled CPU kernels for one seed set's personalized PageRank over only the papers it reaches.

The sweep of :func:`ranker.kernels.sweep.sweep` *pulls*: each paper reads every citer's score,
so a paper cited by millions reads millions of zeros when a single seed's walk reaches few of
them. :func:`local_sweep` *pushes* instead, in the same condensation order: a paper whose score
is final hands ``alpha P^T[i, j] y_j`` to each paper ``i`` it cites, so the work is the
references of the papers the walk reaches, nothing else: no search for them first, no subgraph
built, no plan made again (the whole graph's plan serves every seed set, since a strongly
connected component is reached whole or not at all).

The order is found by a scan over positions, skipping blocks of :data:`BLOCK` positions where
nothing waits: references always point to later slices of the plan, so a paper's score is final
when the scan reaches it. A component is solved as the sweep solves it
(:func:`ranker.kernels.sweep.direct_solve` or :func:`ranker.kernels.sweep.gauss_seidel_column`),
from what the papers before it pushed in, and then pushes out.

The references (``P^T`` transposed, rows of citing papers) come from :func:`references`. The
plain reference of the whole is :func:`ranker.solvers.dag.dag_pagerank` on the whole graph, to
which ``tests/solvers/test_local_sweep.py`` holds it, and networkx.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sweep import direct_solve, gauss_seidel_column

#: log2 of the scan's block: a block where no paper waits is skipped in one step.
BLOCK_SHIFT = 12
BLOCK = 1 << BLOCK_SHIFT

#: Paper states in :func:`local_sweep`'s ``state`` (zeros between calls).
UNREACHED, WAITING, FINAL = 0, 1, 2


@njit(parallel=True, cache=True)
def references(crow, col, val, rcrow, rcol, rval, parts):  # pragma: no cover - compiled
    """The transpose of the CSR ``crow``/``col``/``val`` (``val`` empty: no values): ``rcrow``
    (zeros on entry, ``n + 1``), ``rcol`` and ``rval`` (``val``'s size) are filled; row ``j`` lists
    the rows ``i`` whose row holds ``j``, in increasing order (a counting sort; scipy's ``.T.tocsr()``
    is its reference).

    ``parts`` threads (1 below a few million citations) each own a range of rows of the transpose
    and read every citation, writing only their own: no atomics, no per-thread counts, and the
    same result whatever ``parts``."""
    n = crow.shape[0] - 1
    nnz = crow[n]
    weighted = val.shape[0] > 0
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)  # count: ranges of papers
    for t in prange(parts):
        lo, hi = bounds[t], bounds[t + 1]
        for k in range(nnz):
            j = col[k]
            if lo <= j < hi:
                rcrow[j + 1] += 1
    for j in range(n):
        rcrow[j + 1] += rcrow[j]
    for t in range(1, parts):  # fill: ranges holding equal shares of the citations
        bounds[t] = np.searchsorted(rcrow, nnz * t // parts)
    fill = rcrow[:n].copy()
    for t in prange(parts):
        lo, hi = bounds[t], bounds[t + 1]
        for i in range(n):
            for k in range(crow[i], crow[i + 1]):
                j = col[k]
                if lo <= j < hi:
                    q = fill[j]
                    rcol[q] = i
                    if weighted:
                        rval[q] = val[k]
                    fill[j] = q + 1


@njit(cache=True, nogil=True)
def _push(j, yj, lo, hi, rcrow, rcol, rval, weighted, col_scale, alpha, acc, state, waiting, order,
          count):  # pragma: no cover - compiled
    """``acc[i] += alpha P^T[i, j] y_j`` for every reference ``i`` of ``j`` outside ``lo..hi-1``
    (its own component, or itself); newly reached papers are listed in ``order``. Returns the count."""
    w = col_scale[j]
    for k in range(rcrow[j], rcrow[j + 1]):
        i = rcol[k]
        if lo <= i < hi:
            continue
        if state[i] == UNREACHED:
            state[i] = WAITING
            waiting[i >> BLOCK_SHIFT] += 1
            order[count] = i
            count += 1
        acc[i] += alpha * ((rval[k] if weighted else w) * yj)
    return count


@njit(cache=True, nogil=True, inline="always")
def _teleport(seeds, weights, p):  # pragma: no cover - compiled
    """``v_p``: ``weights`` at ``p`` when ``p`` is one of the sorted ``seeds``, else 0."""
    q = np.searchsorted(seeds, p)
    return weights[q] if q < seeds.shape[0] and seeds[q] == p else 0.0


@njit(cache=True, nogil=True)
def local_sweep(rcrow, rcol, rval, col_scale, kinds, starts, ends, sc, seeds, weights, alpha, tol, max_iter,
                direct_max, icrow, icol, ival, limit, acc, y, state, waiting, order, out_pos, out_val, iters,
                resid):  # pragma: no cover - compiled
    """``(I - alpha P^T) y = v`` for one column ``v`` (``weights`` at the sorted, distinct plan
    positions ``seeds``), touching only the papers ``v``'s walk reaches.

    ``rcrow``/``rcol``/``rval``: the references of each paper (:func:`references` of the plan's
    ``P^T``; ``rval`` empty when unweighted, ``col_scale = 1 / out_weight`` then); ``kinds``,
    ``starts``, ``ends``, ``icrow``/``icol``/``ival``, ``sc``: the plan's slices (components one
    each), its citations inside components and its diagonal scale, as :func:`ranker.kernels.sweep.sweep`
    reads them. Scratch, all zeros on entry and on return: ``acc`` (float64, what was pushed into
    each paper), ``y`` (float64 ``[n, 1]``), ``state`` (int8), ``waiting`` (per block of
    :data:`BLOCK` positions); ``order`` lists the papers reached (``n`` entries).

    Returns how many papers were reached, their positions in ``out_pos`` (increasing) and
    their ``y`` in ``out_val``; or -1, with nothing written, as soon as more than ``limit`` are
    reached. ``iters``/``resid`` (one entry) get the most Gauss-Seidel sweeps of a component and
    their last L1 change.
    """
    weighted = rval.shape[0] > 0
    count = 0
    for q in range(seeds.shape[0]):
        p = seeds[q]
        state[p] = WAITING
        waiting[p >> BLOCK_SHIFT] += 1
        order[count] = p
        count += 1
    left = count
    out = 0
    cols = np.zeros(1, np.int64)
    p = seeds[0] if seeds.shape[0] else sc.shape[0]
    g = np.searchsorted(starts, p, side="right") - 1
    while left > 0 and count <= limit:
        b = p >> BLOCK_SHIFT
        if waiting[b] == 0:
            p = (b + 1) << BLOCK_SHIFT
            continue
        if state[p] != WAITING:
            p += 1
            continue
        while ends[g] <= p:
            g += 1
        if kinds[g] == 0:  # on no cycle: every citer's push is in
            yp = (_teleport(seeds, weights, p) + acc[p]) * sc[p]
            y[p, 0] = yp
            state[p] = FINAL
            waiting[b] -= 1
            left -= 1
            out_pos[out] = p
            out_val[out] = yp
            out += 1
            reached = _push(p, yp, p, p + 1, rcrow, rcol, rval, weighted, col_scale, alpha, acc, state, waiting,
                            order, count)
            left += reached - count
            count = reached
            p += 1
            continue
        s, e = starts[g], ends[g]  # a component, reached first at p: solved whole from what was pushed in
        ext = np.zeros((e - s, 1), np.float64)
        for i in range(s, e):
            ext[i - s, 0] = acc[i] + _teleport(seeds, weights, i)
        if e - s <= direct_max:
            direct_solve(s, e, cols, icrow, icol, ival, sc, alpha, ext, y)
        else:
            gauss_seidel_column(s, e, 0, icrow, icol, ival, col_scale, weighted, sc, alpha, tol, max_iter, ext, y,
                                iters, resid)
        for i in range(s, e):
            if state[i] == UNREACHED:
                order[count] = i
                count += 1
            else:
                waiting[i >> BLOCK_SHIFT] -= 1
                left -= 1
            state[i] = FINAL
            out_pos[out] = i
            out_val[out] = y[i, 0]
            out += 1
        for i in range(s, e):
            reached = _push(i, y[i, 0], s, e, rcrow, rcol, rval, weighted, col_scale, alpha, acc, state, waiting,
                            order, count)
            left += reached - count
            count = reached
        p = e
    for q in range(count):  # the scratch back to zeros
        i = order[q]
        acc[i] = 0.0
        y[i, 0] = 0.0
        state[i] = UNREACHED
        waiting[i >> BLOCK_SHIFT] = 0
    return out if count <= limit else -1

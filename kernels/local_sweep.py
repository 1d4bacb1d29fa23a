"""Compiled CPU kernels for seed sets' personalized PageRank over only the papers they reach.

The sweep of :func:`ranker.kernels.sweep.sweep` *pulls*: each paper reads every citer's score,
so a paper cited by millions reads millions of zeros when a single seed's walk reaches few of
them. :func:`local_sweep` *pushes* instead, in the same condensation order: a paper whose score
is final hands ``alpha P^T[i, j] y_j`` to each paper ``i`` it cites, so the work is the
references of the papers the walks reach, nothing else: no search for them first, no subgraph
built, no plan made again (the whole graph's plan serves every seed set, since a strongly
connected component is reached whole or not at all).

Up to 64 seed sets share one sweep, a column each: the papers many of them reach (the hubs) are
read once for all, and a bit per column says which columns reach a paper. Each column's
operations are those of a sweep of its own, in the same order, so its numbers do not depend on
the other columns.

The order is found by a scan over positions, skipping blocks of :data:`BLOCK` positions where
nothing waits: references always point to later slices of the plan, so a paper's score is final
when the scan reaches it. A component is solved as the sweep solves it
(:func:`ranker.kernels.sweep.direct_solve` or :func:`ranker.kernels.sweep.gauss_seidel_column`),
from what the papers before it pushed in, and then pushes out.

The references (``P^T`` transposed, rows of citing papers) come from :func:`references`. The
plain reference of the whole is :func:`ranker.solvers.dag.dag_pagerank` on the whole graph, to
which ``tests/kernels/test_local_sweep.py`` holds it, and networkx.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sweep import direct_solve, gauss_seidel_column

#: log2 of the scan's block: a block where no paper waits is skipped in one step.
BLOCK_SHIFT = 12
BLOCK = 1 << BLOCK_SHIFT

#: The lowest set bit of a uint64 ``x`` is ``_LOWEST_BIT[((x & -x) * _DE_BRUIJN) >> 58]`` (Leiserson,
#: Prokop, Randall, *Using de Bruijn sequences to index a 1 in a computer word*, 1998).
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_LOWEST_BIT = np.zeros(64, np.int64)
for _b in range(64):
    _LOWEST_BIT[((1 << _b) * 0x03F79D71B4CB0A89 % (1 << 64)) >> 58] = _b
del _b

#: Paper states in :func:`local_sweep`'s ``state`` (zeros between calls), under the mask ``STATE``;
#: ``SEED`` marks a waiting paper that some column teleports to.
UNREACHED, WAITING, FINAL, STATE, SEED = 0, 1, 2, 3, 4


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
def _push(j, em, lo, hi, rcrow, rcol, rval, weighted, col_scale, alpha, val, mask, state, waiting, order, count,
          reach, limit, active):  # pragma: no cover - compiled
    """``y_i += alpha P^T[i, j] y_j`` (``val[., c + 1]`` for column ``c``; ``y_j`` final) for every
    reference ``i`` of ``j`` outside ``lo..hi-1`` (its own component, or itself); the columns ``em``
    (a bit each) now reach ``i`` (``mask[i, 0]``): newly reached papers are listed in ``order``, each
    column's count is kept in ``reach``, and a column past ``limit`` leaves ``active[0]``. Returns the
    count of ``order``.

    Only the columns that reach ``j`` are updated: any other holds ``y_j = 0`` there and would add
    ``+0.0``, which changes no bit, so each column's numbers are those it would get alone."""
    w = col_scale[j]
    for k in range(rcrow[j], rcrow[j + 1]):
        i = rcol[k]
        if lo <= i < hi:
            continue
        new = em & ~mask[i, 0]
        if new:
            mask[i, 0] |= new
            if state[i] == UNREACHED:
                state[i] = WAITING
                waiting[i >> BLOCK_SHIFT] += 1
                order[count] = i
                count += 1
            _count_columns(new, reach, limit, active)
        f = rval[k] if weighted else w
        x = em
        while x:  # the columns that reach j, lowest first
            low = x & (~x + np.uint64(1))
            c = _LOWEST_BIT[(low * _DE_BRUIJN) >> np.uint64(58)] + 1
            val[i, c] += alpha * (f * val[j, c])
            x ^= low
    return count


@njit(cache=True, nogil=True, inline="always")
def _count_columns(new, reach, limit, active):  # pragma: no cover - compiled
    """One more reached paper for each column of the bits ``new``; a column past ``limit`` is dropped
    from ``active[0]``."""
    c = 0
    while new:
        if new & np.uint64(1):
            reach[c] += 1
            if reach[c] > limit:
                active[0] &= ~(np.uint64(1) << np.uint64(c))
        new >>= np.uint64(1)
        c += 1


@njit(cache=True, nogil=True, inline="always")
def _teleport(set_ptr, seeds, weights, c, p):  # pragma: no cover - compiled
    """``v_p`` of column ``c``: its weight at ``p`` when ``p`` is one of the set's sorted seeds, else 0."""
    lo, hi = set_ptr[c], set_ptr[c + 1]
    q = lo + np.searchsorted(seeds[lo:hi], p)
    return weights[q] if q < hi and seeds[q] == p else 0.0


@njit(cache=True, nogil=True)
def local_sweep(rcrow, rcol, rval, col_scale, kinds, starts, ends, sc, set_ptr, seeds, weights, alpha, tol, max_iter,
                direct_max, icrow, icol, ival, limit, val, mask, state, waiting, order, done, reach, iters,
                resid):  # pragma: no cover - compiled
    """``(I - alpha P^T) Y = V`` for up to 64 columns ``V`` at once (column ``c``: ``weights`` at the
    sorted, distinct plan positions ``seeds[set_ptr[c]:set_ptr[c + 1]]``), touching only the papers
    the columns' walks reach.

    The columns share one forward sweep: a paper is taken once for every column that reaches it
    (``mask``, a bit per column), so papers reached by many seed sets (the hubs) are read once, and
    each column's operations are those of a sweep of its own, in the same order (bit-identical
    whatever else is in the group).

    ``rcrow``/``rcol``/``rval``: the references of each paper (:func:`references` of the plan's
    ``P^T``; ``rval`` empty when unweighted, ``col_scale = 1 / out_weight`` then); ``kinds``,
    ``starts``, ``ends``, ``icrow``/``icol``/``ival``, ``sc``: the plan's slices (components one
    each), its citations inside components and its diagonal scale, as :func:`ranker.kernels.sweep.sweep`
    reads them. Scratch, all zeros on entry and on return: ``mask`` and ``val``, one buffer seen as
    uint64 and as float64 ``[n, columns + 1]`` (a paper's row: a bit per column that reaches it in
    ``mask[i, 0]``, then column ``c``'s value in ``val[i, c + 1]``, what was pushed in and then its
    ``y``; so a push touches one row), ``state`` (int8), ``waiting`` (per block of :data:`BLOCK`
    positions); ``order`` and ``done`` list the papers reached and finished (``n`` entries each).

    Returns ``offsets`` (columns + 1), ``positions`` and ``values``: column ``c``'s reached papers
    (increasing plan positions) and their ``y`` at ``offsets[c]:offsets[c + 1]``. ``reach[c]`` (zeros
    on entry) is how many papers column ``c`` reached, or -1, with nothing listed, when it reached
    more than ``limit`` (such a column is dropped as soon as it does). ``iters``/``resid`` (column
    ``c`` at ``c + 1``) get the most Gauss-Seidel sweeps of a component and their last L1 change.
    """
    weighted = rval.shape[0] > 0
    width = set_ptr.shape[0] - 1
    active = np.zeros(1, np.uint64)
    active[0] = ~np.uint64(0) if width == 64 else (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    count = 0
    first = sc.shape[0]
    for c in range(width):
        bit = np.uint64(1) << np.uint64(c)
        for q in range(set_ptr[c], set_ptr[c + 1]):
            p = seeds[q]
            first = min(first, p)
            if state[p] == UNREACHED:
                state[p] = WAITING | SEED
                waiting[p >> BLOCK_SHIFT] += 1
                order[count] = p
                count += 1
            mask[p, 0] |= bit
            reach[c] += 1
            if reach[c] > limit:
                active[0] &= ~bit
    left = count
    finished = 0
    cols = np.empty(width, np.int64)
    p = first
    g = np.searchsorted(starts, p, side="right") - 1
    while left > 0 and active[0] != 0:
        b = p >> BLOCK_SHIFT
        if waiting[b] == 0:
            p = (b + 1) << BLOCK_SHIFT
            continue
        if state[p] & STATE != WAITING:
            p += 1
            continue
        while ends[g] <= p:
            g += 1
        if kinds[g] == 0:  # on no cycle: every citer's push is in
            seeded = state[p] & SEED
            state[p] = FINAL
            waiting[b] -= 1
            left -= 1
            em = mask[p, 0] & active[0]
            if em:  # else reached only by dropped columns
                sp = sc[p]
                for c in range(width):
                    if (em >> np.uint64(c)) & np.uint64(1):
                        val[p, c + 1] = ((_teleport(set_ptr, seeds, weights, c, p) if seeded else 0.0)
                                         + val[p, c + 1]) * sp
                done[finished] = p
                finished += 1
                reached = _push(p, em, p, p + 1, rcrow, rcol, rval, weighted, col_scale, alpha, val, mask, state,
                                waiting, order, count, reach, limit, active)
                left += reached - count
                count = reached
            p += 1
            continue
        s, e = starts[g], ends[g]  # a component, reached first at p: solved whole from what was pushed in
        em = np.uint64(0)
        for i in range(s, e):
            em |= mask[i, 0]
        em &= active[0]
        for i in range(s, e):  # every column of em reaches the whole component
            st = state[i]
            if st == UNREACHED:
                if em:
                    order[count] = i
                    count += 1
                else:
                    continue
            else:
                waiting[i >> BLOCK_SHIFT] -= 1
                left -= 1
            state[i] = FINAL
            new = em & ~mask[i, 0]
            mask[i, 0] |= new
            _count_columns(new, reach, limit, active)
            for c in range(width):  # the seeds' teleport joins what was pushed in
                if (st & SEED) and (em >> np.uint64(c)) & np.uint64(1):
                    val[i, c + 1] += _teleport(set_ptr, seeds, weights, c, i)
        em &= active[0]
        if em:
            m = 0
            for c in range(width):
                if (em >> np.uint64(c)) & np.uint64(1):
                    cols[m] = c + 1  # its place in val
                    m += 1
            ext = np.empty((e - s, m), np.float64)
            for i in range(s, e):
                for q in range(m):
                    ext[i - s, q] = val[i, cols[q]]
            if e - s <= direct_max:
                direct_solve(s, e, cols[:m], icrow, icol, ival, sc, alpha, ext, val)
            else:
                one = np.empty((e - s, 1), np.float64)
                for q in range(m):
                    one[:, 0] = ext[:, q]
                    gauss_seidel_column(s, e, cols[q], icrow, icol, ival, col_scale, weighted, sc, alpha, tol,
                                        max_iter, one, val, iters, resid)
            for i in range(s, e):
                done[finished] = i
                finished += 1
            for i in range(s, e):
                reached = _push(i, em, s, e, rcrow, rcol, rval, weighted, col_scale, alpha, val, mask, state, waiting,
                                order, count, reach, limit, active)
                left += reached - count
                count = reached
        p = e
    offsets = np.zeros(width + 1, np.int64)
    for c in range(width):
        if not (active[0] >> np.uint64(c)) & np.uint64(1):
            reach[c] = -1
        offsets[c + 1] = offsets[c] + max(reach[c], 0)
    positions = np.empty(offsets[width], np.int64)
    values = np.empty(offsets[width], np.float64)
    fill = offsets[:width].copy()
    for q in range(finished):  # each column's papers in the order they were finished: increasing positions
        i = done[q]
        em = mask[i, 0] & active[0]
        c = 0
        while em:
            if em & np.uint64(1):
                positions[fill[c]] = i
                values[fill[c]] = val[i, c + 1]
                fill[c] += 1
            em >>= np.uint64(1)
            c += 1
    for q in range(count):  # the scratch back to zeros
        i = order[q]
        for c in range(width + 1):
            mask[i, c] = 0
        state[i] = UNREACHED
        waiting[i >> BLOCK_SHIFT] = 0
    return offsets, positions, values

"""Compiled CPU kernels over the condensation plan (numba): the exact sweep, and the renumbering.

The plan itself is made by :mod:`ranker.kernels.condensation`. The plain references here are
:func:`ranker.solvers.dag.dag_pagerank` with ``kernel="torch"`` (one sparse x dense product per
level, Jacobi iteration inside large components), :meth:`ranker.graph.CitationGraph.permute`
and :func:`ranker.solvers.dag.self_shares` with ``compiled=False`` (torch's gathers and masks). Each
is tested against its kernel (``tests/kernels/test_sweep.py``), the solvers also against
networkx.

Why compiled loops: a citation graph has tens to thousands of levels, and a torch or numpy
call per level costs 10-100 us whatever the level's size; on hep-th (132 levels) that
overhead alone exceeds PRPACK's whole solve. Inside a strongly connected component a
Gauss-Seidel sweep (each paper reads its citers' newest scores, PRPACK's method) needs fewer
sweeps than Jacobi (hep-th's largest component: 17 against 37), but it is sequential: it has
no tensor form. numba compiles both
loops to machine code (``cache=True``: compiled once per machine, then loaded).

Bits: every column is computed alone, in a fixed order (rows in plan order, each row's
citations in CSR order), so a column's scores do not depend on the other columns of its
batch, the column chunking or the thread count. Adding an unreached citer's zero is skipped,
which changes no bit.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's own scheduler, not OpenMP: torch's wheel brings its own OpenMP runtime, and two
    # runtimes spinning on the same cores stalled a 12 ms sweep for up to 3 s (measured on 2 cores)
    numba.config.THREADING_LAYER = "workqueue"

#: Columns one thread carries through a component's Gauss-Seidel sweeps at once.
CHUNK = 8
#: Components of at most this many papers are solved exactly, by Gaussian elimination (a tight
#: cycle such as two papers citing only each other takes Gauss-Seidel 70 sweeps to 1e-10).
DIRECT_MAX = 64
#: Gauss-Seidel from zero converges monotonically, its error ever closer to ``rho^k u`` (the
#: iteration matrix of this M-matrix splitting is nonnegative: ``rho`` is its Perron root).
#: Once the ratio of two successive L1 changes holds steady (within this relative drift, from
#: the fourth sweep on, and below :data:`RATIO_MAX`), the sweep jumps to the limit of that
#: geometric tail: ``x += rho / (1 - rho) (x - x_prev)`` (Aitken; clipped at 0, below every
#: score, so the iterates stay nonnegative), then sweeps on until the
#: change is below ``tol`` as before. hep-th's largest component: 17 sweeps -> 12, and a 4x
#: smaller error at the end.
RATIO_STEADY = 0.02
RATIO_MAX = 0.95
#: A level runs its rows in parallel when it reads at least this many citation x column
#: entries (below, starting the threads costs more than they save).
PARALLEL_MIN = 1 << 17
#: A pass over the whole graph (renumbering, self-citation shares) runs on one thread below this
#: many citations: starting numba's threads costs about a millisecond.
SERIAL_MAX = 1 << 21


@njit(cache=True, nogil=True)
def _row_chunks(starts, ends, rows):  # pragma: no cover - compiled
    """The rows of slices ``starts[g]:ends[g]`` cut into chunks of at most ``rows``:
    ``(slice start, first row, end row)`` per chunk."""
    count = 0
    for g in range(starts.shape[0]):
        count += (ends[g] - starts[g] + rows - 1) // rows
    chunks = np.empty((count, 3), np.int64)
    q = 0
    for g in range(starts.shape[0]):
        for lo in range(starts[g], ends[g], rows):
            chunks[q, 0] = starts[g]
            chunks[q, 1] = lo
            chunks[q, 2] = min(lo + rows, ends[g])
            q += 1
    return chunks


@njit(parallel=True, cache=True)
def internal_block(crow, col, val, col_scale, starts, ends):  # pragma: no cover - compiled
    """Citations inside each component slice ``starts[g]:ends[g]`` (self-citations left out),
    as a CSR over all rows (rows outside the slices empty), with their transition values
    (``val[k]``, or ``col_scale[citer]`` when ``val`` is empty), and the number of
    self-citations in the slices (solved on the diagonal). Rows in parallel, in chunks (a
    citation graph's giant component is one slice of half a million rows)."""
    n = crow.shape[0] - 1
    weighted = val.shape[0] > 0
    chunks = _row_chunks(starts, ends, 1 << 14)
    icrow = np.zeros(n + 1, np.int64)
    loops = 0
    for q in prange(chunks.shape[0]):
        s, lo, hi = chunks[q, 0], chunks[q, 1], chunks[q, 2]
        here = 0
        for i in range(lo, hi):
            m = 0
            for k in range(crow[i], crow[i + 1]):
                j = col[k]
                if j >= s and j != i:
                    m += 1
                elif j == i:
                    here += 1
            icrow[i + 1] = m
        loops += here
    for i in range(n):
        icrow[i + 1] += icrow[i]
    icol = np.empty(icrow[n], col.dtype)  # int32 on every graph below 2^31 papers: half the bytes per sweep
    ival = np.empty(icrow[n], col_scale.dtype)
    for q in prange(chunks.shape[0]):
        s, lo, hi = chunks[q, 0], chunks[q, 1], chunks[q, 2]
        for i in range(lo, hi):
            p = icrow[i]
            for k in range(crow[i], crow[i + 1]):
                j = col[k]
                if j >= s and j != i:
                    icol[p] = j
                    ival[p] = val[k] if weighted else col_scale[j]
                    p += 1
    return icrow, icol, ival, loops


@njit(cache=True, nogil=True, inline="always")
def _level_row(i, crow, col, val, col_scale, weighted, sc, v, alpha, y, reached):  # pragma: no cover
    """``y_i = (v_i + alpha sum_{j != i} P^T[i, j] y_j) / (1 - alpha P^T[i, i])`` for every column."""
    n_cols = y.shape[1]
    hit = False
    for b in range(n_cols):
        if v[i, b] != 0.0:
            hit = True
    for k in range(crow[i], crow[i + 1]):
        j = col[k]
        if j == i or not reached[j]:
            continue
        hit = True
        w = val[k] if weighted else col_scale[j]
        for b in range(n_cols):
            y[i, b] += w * y[j, b]
    if hit:
        for b in range(n_cols):
            y[i, b] = (v[i, b] + alpha * y[i, b]) * sc[i]
    reached[i] = hit


@njit(cache=True, nogil=True, inline="always")
def _level_row_read(i, crow, col, col_scale, sc, v, alpha, y, reached, read):  # pragma: no cover
    """:func:`_level_row` for one column of an unweighted graph: each citation reads
    ``read[j] = col_scale[j] * y[j]`` (-1 while ``j`` holds no mass), one gather instead of
    three. The same products added in the same order: the same bits."""
    hit = v[i, 0] != 0.0
    for k in range(crow[i], crow[i + 1]):
        j = col[k]
        if j == i:
            continue
        r = read[j]
        if r < 0:
            continue
        hit = True
        y[i, 0] += r
    if hit:
        y[i, 0] = (v[i, 0] + alpha * y[i, 0]) * sc[i]
        read[i] = col_scale[i] * y[i, 0]
    reached[i] = hit


@njit(cache=True, nogil=True)
def split_components(icrow, icol, starts, ends):  # pragma: no cover - compiled
    """Each component slice cut into its components: a component's papers are contiguous, and
    no citation inside a slice crosses a cut between two components (inside a component, one
    always does). Returns the new ``(starts, ends)``."""
    n = icrow.shape[0] - 1
    cover = np.zeros(n + 1, np.int64)  # cover[p]: citations spanning the cut between p - 1 and p
    for g in range(starts.shape[0]):
        for i in range(starts[g], ends[g]):
            for k in range(icrow[i], icrow[i + 1]):
                lo, hi = min(i, icol[k]), max(i, icol[k])
                cover[lo + 1] += 1
                cover[hi + 1] -= 1
    for p in range(n):
        cover[p + 1] += cover[p]
    cuts = 0
    for g in range(starts.shape[0]):
        for p in range(starts[g] + 1, ends[g]):
            if cover[p] == 0:
                cuts += 1
    new_starts = np.empty(starts.shape[0] + cuts, np.int64)
    new_ends = np.empty(starts.shape[0] + cuts, np.int64)
    q = 0
    for g in range(starts.shape[0]):
        new_starts[q] = starts[g]
        for p in range(starts[g] + 1, ends[g]):
            if cover[p] == 0:
                new_ends[q] = p
                q += 1
                new_starts[q] = p
        new_ends[q] = ends[g]
        q += 1
    return new_starts, new_ends


@njit(cache=True, nogil=True)
def direct_solve(s, e, cols, icrow, icol, ival, sc, alpha, ext, y):  # pragma: no cover - compiled
    """``y_C = (I - alpha A_CC)^-1 b_C`` by Gaussian elimination in float64, for the columns ``cols``.

    ``I - alpha A_CC`` (self-citations on the diagonal as ``1 / sc``) is strictly diagonally
    dominant by columns (each column of ``A`` sums to at most 1), so elimination without
    pivoting is stable; the factors are computed alike whatever the columns, so each column's
    bits do not depend on its batch.
    """
    m = e - s
    a = np.zeros((m, m), np.float64)
    for r in range(m):
        i = s + r
        a[r, r] = 1.0 / sc[i]
        for k in range(icrow[i], icrow[i + 1]):
            a[r, icol[k] - s] -= alpha * ival[k]
    lu_in_place(a)
    x = np.empty(m, np.float64)
    for b in range(cols.shape[0]):
        lu_solve(a, ext[:, b], x)
        for r in range(m):
            y[s + r, cols[b]] = x[r]


@njit(cache=True, nogil=True)
def lu_in_place(a):  # pragma: no cover - compiled
    """Gaussian elimination without pivoting, in place: the unit lower factor below the diagonal,
    the upper factor on and above it. Stable for the matrices here, strictly diagonally dominant
    by columns (``I - alpha A_CC``, each column of ``A`` summing to at most 1)."""
    m = a.shape[0]
    for k in range(m):
        for r in range(k + 1, m):
            if a[r, k] != 0.0:
                a[r, k] /= a[k, k]
                f = a[r, k]
                for c in range(k + 1, m):
                    a[r, c] -= f * a[k, c]


@njit(cache=True, nogil=True)
def lu_solve(a, b, x):  # pragma: no cover - compiled
    """``x = (L U)^-1 b`` with the factors :func:`lu_in_place` left in ``a`` (float64 vectors)."""
    m = a.shape[0]
    for r in range(m):
        t = np.float64(b[r])
        for c in range(r):
            t -= a[r, c] * x[c]
        x[r] = t
    for r in range(m - 1, -1, -1):
        t = x[r]
        for c in range(r + 1, m):
            t -= a[r, c] * x[c]
        x[r] = t / a[r, r]


@njit(cache=True, nogil=True)
def _mass_columns(s, e, crow, col, v, y, reached):  # pragma: no cover - compiled
    """Columns with teleport mass in papers ``s:e`` or mass in a reached earlier citer of them."""
    n_cols = y.shape[1]
    mass = np.zeros(n_cols, np.bool_)
    found = 0
    for i in range(s, e):  # until every column has shown mass (global PageRank: the first paper)
        for b in range(n_cols):
            if v[i, b] != 0.0 and not mass[b]:
                mass[b] = True
                found += 1
        if found == n_cols:
            break
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            if j < s and reached[j]:
                for b in range(n_cols):
                    if y[j, b] != 0.0 and not mass[b]:
                        mass[b] = True
                        found += 1
        if found == n_cols:
            break
    return np.flatnonzero(mass)


@njit(cache=True, nogil=True, inline="always")
def _external_read(i, s, crow, col, v, alpha, read, ext):  # pragma: no cover - compiled
    """``ext[i - s] = v_i + alpha sum_{j < s} P^T[i, j] y_j`` for one column of an unweighted
    graph, from ``read[j] = col_scale[j] * y[j]`` (-1 while ``j`` holds no mass): the inputs
    :func:`_component_chunk` gathers, the same products added in the same order (the same bits),
    one gather per citation instead of three."""
    acc = np.float64(v[i, 0])
    for k in range(crow[i], crow[i + 1]):
        j = col[k]
        if j >= s:
            continue
        r = read[j]
        if r < 0:
            continue
        acc += alpha * r
    ext[i - s, 0] = acc


@njit(cache=True, nogil=True, inline="always")
def extrapolation(it, change, last, ratio_before):  # pragma: no cover - compiled
    """``(factor, ratio)`` after a sweep that has not converged: ``factor`` > 0 when the L1
    changes shrink at a steady ratio (see :data:`RATIO_STEADY`); ``ratio`` is what the next
    sweep compares with (0 after a jump: the ratio must settle again)."""
    if last <= 0.0:
        return 0.0, 0.0
    ratio = change / last
    if it > 3 and abs(ratio - ratio_before) < RATIO_STEADY * ratio and ratio < RATIO_MAX:
        return ratio / (1.0 - ratio), 0.0
    return 0.0, ratio


@njit(cache=True, nogil=True)
def _component_chunk(s, e, cols, crow, col, val, col_scale, weighted, icrow, icol, ival, sc, v, alpha,
                     tol, max_iter, direct_max, y, reached, iters, resid):  # pragma: no cover - compiled
    """``(I - alpha A_CC) y_C = b_C`` for the columns ``cols`` (each with mass here): by Gaussian
    elimination when the component is small, else Gauss-Seidel, each column until its L1
    change < tol. Computed in float64 and stored in ``y``'s dtype.
    """
    m = e - s
    w_ = cols.shape[0]
    # float64 whatever the scores' dtype: a float32 iteration can stall above tol on rounding
    ext = np.zeros((m, w_), np.float64)  # b_C = v_C + alpha A_C,before y: fixed inputs
    for i in range(s, e):
        for b in range(w_):
            ext[i - s, b] = v[i, cols[b]]
        for k in range(crow[i], crow[i + 1]):
            j = col[k]
            if j >= s or not reached[j]:
                continue
            w = val[k] if weighted else col_scale[j]
            for b in range(w_):
                ext[i - s, b] += alpha * (w * y[j, cols[b]])
    if m <= direct_max:
        direct_solve(s, e, cols, icrow, icol, ival, sc, alpha, ext, y)
        return
    if w_ == 1:
        gauss_seidel_column(s, e, cols[0], icrow, icol, ival, col_scale, weighted, sc, alpha, tol, max_iter, ext, y,
                       iters, resid)
        return
    active = np.ones(w_, np.bool_)
    left = w_
    change = np.zeros(w_, np.float64)
    last = np.zeros(w_, np.float64)
    ratio = np.zeros(w_, np.float64)
    acc = np.zeros(w_, np.float64)
    loc = np.zeros((m, w_), np.float64)  # the component's scores for these columns, contiguous
    prev = np.zeros((m, w_), np.float64)  # the sweep before: the extrapolation's step
    it = 0
    while left > 0:
        it += 1
        change[:] = 0.0
        for r in range(m):
            i = s + r
            acc[:] = 0.0
            for k in range(icrow[i], icrow[i + 1]):
                j = icol[k] - s
                w = ival[k]
                for b in range(w_):
                    acc[b] += w * loc[j, b]
            for b in range(w_):
                if active[b]:
                    new = (ext[r, b] + alpha * acc[b]) * sc[i]
                    change[b] += abs(new - loc[r, b])
                    prev[r, b] = loc[r, b]
                    loc[r, b] = new
        for b in range(w_):
            if not active[b]:
                continue
            if change[b] < tol or it == max_iter:
                active[b] = False
                left -= 1
                iters[cols[b]] = max(iters[cols[b]], it)
                resid[cols[b]] = max(resid[cols[b]], change[b])
                continue
            factor, ratio[b] = extrapolation(it, change[b], last[b], ratio[b])
            last[b] = change[b]
            if factor > 0.0:
                for r in range(m):  # never below 0, where no score lies: the sweeps stay nonnegative
                    loc[r, b] = max(0.0, loc[r, b] + factor * (loc[r, b] - prev[r, b]))
    for r in range(m):
        for b in range(w_):
            y[s + r, cols[b]] = loc[r, b]


@njit(cache=True, nogil=True)
def gauss_seidel_column(s, e, b, icrow, icol, ival, col_scale, weighted, sc, alpha, tol, max_iter, ext, y, iters,
                   resid):  # pragma: no cover - compiled
    """The Gauss-Seidel sweeps of :func:`_component_chunk` for its one column ``b``: the same
    operations in the same order on a contiguous vector (so the bits match a wider chunk's).

    Unweighted, every citation from ``j`` carries ``col_scale[j]``, so the sweep reads
    ``loc[j] * col_scale[j]``, kept beside ``loc`` (the same product, so the same bits), and
    touches 4 bytes per citation instead of 12 (PRPACK stores ``x / outdegree`` alike).
    """
    m = e - s
    loc = np.zeros(m, np.float64)
    prev = np.zeros(m, np.float64)
    read = np.zeros(m, np.float64)  # loc * col_scale: what citations read when unweighted
    it = 0
    change = 0.0
    last = 0.0
    ratio = 0.0
    while True:
        it += 1
        change = 0.0
        for r in range(m):
            i = s + r
            acc = 0.0
            if weighted:
                for k in range(icrow[i], icrow[i + 1]):
                    acc += ival[k] * loc[icol[k] - s]
            else:
                for k in range(icrow[i], icrow[i + 1]):
                    acc += read[icol[k] - s]
            new = (ext[r, 0] + alpha * acc) * sc[i]
            change += abs(new - loc[r])
            prev[r] = loc[r]
            loc[r] = new
            read[r] = col_scale[i] * new
        if change < tol or it == max_iter:
            break
        factor, ratio = extrapolation(it, change, last, ratio)
        last = change
        if factor > 0.0:
            for r in range(m):  # as in _component_chunk
                loc[r] = max(0.0, loc[r] + factor * (loc[r] - prev[r]))
                read[r] = col_scale[s + r] * loc[r]
    iters[b] = max(iters[b], it)
    resid[b] = max(resid[b], change)
    for r in range(m):
        y[s + r, b] = loc[r]


@njit(parallel=True, cache=True)
def sweep(crow, col, val, col_scale, kinds, starts, ends, sc, v, alpha, tol, max_iter, direct_max, icrow, icol,
          ival, y, iters, resid):  # pragma: no cover - compiled
    """``(I - alpha P^T) y = v`` over the plan's slices, in order, for every column of ``v``.

    ``kinds[g]`` 0: slice ``starts[g]:ends[g]`` holds papers on no cycle, each solved once
    from its citers' final scores (rows in parallel when the slice is large). 1: one
    component, solved with its inputs from earlier slices fixed, for the columns with mass
    in it (chunks of :data:`CHUNK` columns in parallel): by Gaussian elimination when it has
    at most ``direct_max`` papers (:data:`DIRECT_MAX`), else by Gauss-Seidel sweeps (one column
    of an unweighted graph: the component's inputs from earlier slices gathered row by row, in
    parallel when it is cited often, by :func:`_external_read`; the same bits). ``y``
    (zeros on entry) gets the solution; ``iters``/``resid`` (zeros on entry) each column's
    most Gauss-Seidel sweeps and largest last L1 change over the components (a column with
    no mass in a component runs none there). ``sc[i] = 1 / (1 - alpha P^T[i, i])`` solves
    self-citations exactly.
    """
    n, n_cols = y.shape
    weighted = val.shape[0] > 0
    reached = np.zeros(n, np.bool_)  # any column has mass here: others add nothing to the papers they cite
    one = n_cols == 1 and not weighted
    read = np.full(n if one else 0, -1.0, y.dtype)  # one column: col_scale * y where reached, else -1
    for g in range(kinds.shape[0]):
        s, e = starts[g], ends[g]
        if kinds[g] == 0:
            if one and (crow[e] - crow[s]) >= PARALLEL_MIN:
                for i in prange(s, e):
                    _level_row_read(i, crow, col, col_scale, sc, v, alpha, y, reached, read)
            elif one:
                for i in range(s, e):
                    _level_row_read(i, crow, col, col_scale, sc, v, alpha, y, reached, read)
            elif (crow[e] - crow[s]) * n_cols >= PARALLEL_MIN:
                for i in prange(s, e):
                    _level_row(i, crow, col, val, col_scale, weighted, sc, v, alpha, y, reached)
            else:
                for i in range(s, e):
                    _level_row(i, crow, col, val, col_scale, weighted, sc, v, alpha, y, reached)
            continue
        cols = _mass_columns(s, e, crow, col, v, y, reached)
        if cols.shape[0] == 0:
            continue
        if one and e - s > direct_max:
            # one column through a large component: its inputs from earlier slices gathered
            # row by row in parallel (the giant component of a citation graph is cited by
            # millions), then the Gauss-Seidel sweeps (sequential)
            ext = np.empty((e - s, 1), np.float64)
            if (crow[e] - crow[s]) >= PARALLEL_MIN:
                for i in prange(s, e):
                    _external_read(i, s, crow, col, v, alpha, read, ext)
            else:
                for i in range(s, e):
                    _external_read(i, s, crow, col, v, alpha, read, ext)
            gauss_seidel_column(s, e, 0, icrow, icol, ival, col_scale, weighted, sc, alpha, tol, max_iter, ext, y,
                                iters, resid)
        else:
            n_chunks = (cols.shape[0] + CHUNK - 1) // CHUNK
            if n_chunks == 1:  # no threads to start (a parallel region costs tens of microseconds)
                _component_chunk(s, e, cols, crow, col, val, col_scale, weighted, icrow, icol, ival, sc, v, alpha, tol,
                                 max_iter, direct_max, y, reached, iters, resid)
            else:
                for ch in prange(n_chunks):
                    _component_chunk(s, e, cols[ch * CHUNK:min(cols.shape[0], (ch + 1) * CHUNK)], crow, col, val,
                                     col_scale, weighted, icrow, icol, ival, sc, v, alpha, tol, max_iter, direct_max,
                                     y, reached, iters, resid)
        for i in range(s, e):
            reached[i] = True
            if one:
                read[i] = col_scale[i] * y[i, 0]


def set_threads(threads: int) -> None:
    """Run the parallel loops on ``threads`` threads (at most numba's pool size)."""
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


@njit(parallel=True, cache=True)
def permute_rows(crow, col, inv, new_crow, with_source):  # pragma: no cover - compiled
    """The CSR with row ``p`` moved to row ``inv[p]`` and every column ``c`` renamed ``inv[c]``.

    ``new_crow`` holds the new row pointers. Returns ``(new_col, source)``: the renamed
    columns, and (``with_source``, else empty) for each new entry the position it came from,
    to carry values along.
    Columns keep their order within a row. Rows are read in storage order and written to
    their new places (a scatter: its writes do not stall the way a gather's reads do, 0.5 s
    to 0.3 s on a 24M-citation graph). The plain-torch reference is
    :meth:`ranker.graph.CitationGraph.permute` on any device.
    """
    n = inv.shape[0]
    nnz = new_crow[n]
    new_col = np.empty(nnz, col.dtype)
    source = np.empty(nnz if with_source else 0, np.int64)
    if nnz < SERIAL_MAX:  # starting the threads would cost more than the pass
        for p in range(n):
            _permute_row(p, crow, col, inv, new_crow, with_source, new_col, source)
    else:
        for p in prange(n):
            _permute_row(p, crow, col, inv, new_crow, with_source, new_col, source)
    return new_col, source


@njit(cache=True, nogil=True, inline="always")
def _permute_row(p, crow, col, inv, new_crow, with_source, new_col, source):  # pragma: no cover
    q = new_crow[inv[p]]
    for k in range(crow[p], crow[p + 1]):
        new_col[q] = inv[col[k]]
        if with_source:
            source[q] = k
        q += 1


@njit(parallel=True, cache=True)
def self_citation_share(crow, col, val, col_scale, out):  # pragma: no cover - compiled
    """``out[i] = P^T[i, i]``: the share of paper ``i``'s citations that are to itself
    (``val[k]``, or ``col_scale[i]`` when ``val`` is empty), summed over repeated entries."""
    weighted = val.shape[0] > 0
    if crow[crow.shape[0] - 1] < SERIAL_MAX:
        for i in range(crow.shape[0] - 1):
            _self_share(i, crow, col, val, col_scale, weighted, out)
    else:
        for i in prange(crow.shape[0] - 1):
            _self_share(i, crow, col, val, col_scale, weighted, out)


@njit(cache=True, nogil=True, inline="always")
def _self_share(i, crow, col, val, col_scale, weighted, out):  # pragma: no cover - compiled
    t = 0.0
    for k in range(crow[i], crow[i + 1]):
        if col[k] == i:
            t += val[k] if weighted else col_scale[i]
    out[i] = t

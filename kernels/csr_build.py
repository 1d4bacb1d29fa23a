"""The transposed CSR of (citing, cited) index pairs by counting (numba): rows counted, entries placed, rows sorted.

The plain reference is :func:`ranker.graph_build.build_from_pairs` with ``compiled=False``: the
pairs read as ``int64`` keys ``cited * 2**32 + citing`` and sorted in place (numpy's sort on two
threads, then a merge). Both give the same CSR, columns ascending within each row (tested in
``tests/test_graph.py``).

Why counting: a comparison sort of E keys costs ``E log E``, and numpy's merge of the two halves
runs on one thread; a counting placement reads the pairs twice and writes each entry once, and
the rows (a dozen entries on average) are then sorted on every core. On 239M citations, 20M
papers: 10.8-18.3 s against 27.1 s (measured in one process). The count and the placement are
misses into arrays far larger than the caches, one per pair: they run over row ranges on every
core, each asking for its rows a few pairs ahead (on 240M pairs, 20M rows, two cores: 6.5 s
against 10-10.9 s serial without prefetching; BENCHMARKS.md, session 18).
"""

from __future__ import annotations

from numba import get_num_threads, njit, prange

from .prefetch import prefetch

#: Pairs ahead of the one being counted or placed whose row is asked for (:func:`ranker.kernels.prefetch.prefetch`).
AHEAD = 16
#: Rows from which the count and the placement split the rows into ranges, one per thread.
PARALLEL_ROWS = 1 << 16


def row_ranges(rows: int) -> int:
    """Row ranges for :func:`row_starts` and :func:`place_entries`: one per numba thread from
    :data:`PARALLEL_ROWS` rows, else one."""
    return get_num_threads() if rows >= PARALLEL_ROWS else 1


@njit(parallel=True, cache=True)
def row_starts(pairs, crow, drop_loops, parts):  # pragma: no cover - compiled
    """``crow`` (``[n + 1]``, zeros on entry) set to where each cited paper's row starts: the
    pairs counted by cited paper (self-citations skipped with ``drop_loops``). Returns the
    number of self-citations among the pairs, dropped or not.

    The rows are split into ``parts`` ranges, one per thread; each thread reads every pair and
    counts those cited in its range, so no two threads write one count and no thread needs a
    copy of the counts (memory stays ``4 (n + 1)`` bytes). The count a row gets does not depend
    on ``parts``. Each thread asks for the count of the pair :data:`AHEAD` of it, so the misses
    into a ``crow`` far larger than the caches overlap."""
    n = crow.shape[0] - 1
    e = pairs.shape[0]
    loops = 0
    for part in prange(parts):
        lo, hi = n * part // parts, n * (part + 1) // parts
        for k in range(e):
            if k + AHEAD < e:
                ahead = pairs[k + AHEAD, 1]
                if lo <= ahead < hi:
                    prefetch(crow, ahead + 1)
            cited = pairs[k, 1]
            if cited < lo or cited >= hi:
                continue
            if pairs[k, 0] == cited:
                loops += 1
                if drop_loops:
                    continue
            crow[cited + 1] += 1
    for i in range(n):
        crow[i + 1] += crow[i]
    return loops


@njit(parallel=True, cache=True)
def place_entries(pairs, crow, col, drop_loops, parts):  # pragma: no cover - compiled
    """Each pair's citing paper written into its cited paper's row of ``col``, in pair order.

    Rows in ``parts`` ranges, one per thread, as in :func:`row_starts`: each thread places the
    pairs cited in its range, in pair order, so ``col`` does not depend on ``parts``. Two
    prefetches ahead: the row's fill pointer :data:`AHEAD` pairs further on twice that
    distance, and the place in ``col`` it points at for the pair :data:`AHEAD` on (a hint: a
    place past a full row is never written, and a prefetch never faults)."""
    n = crow.shape[0] - 1
    e = pairs.shape[0]
    fill = crow[:-1].copy()
    for part in prange(parts):
        lo, hi = n * part // parts, n * (part + 1) // parts
        for k in range(e):
            if k + 2 * AHEAD < e:
                ahead = pairs[k + 2 * AHEAD, 1]
                if lo <= ahead < hi:
                    prefetch(fill, ahead)
            if k + AHEAD < e:
                ahead = pairs[k + AHEAD, 1]
                if lo <= ahead < hi:
                    prefetch(col, fill[ahead])
            citing, cited = pairs[k, 0], pairs[k, 1]
            if cited < lo or cited >= hi or (drop_loops and citing == cited):
                continue
            col[fill[cited]] = citing
            fill[cited] += 1


#: Rows longer than this are sorted by numpy's sort; shorter ones by insertion, which is faster there.
INSERTION_MAX = 32


@njit(parallel=True, cache=True)
def sort_rows(crow, col, distinct):  # pragma: no cover - compiled
    """Every row of ``col`` sorted in place (rows in parallel); ``distinct[i]``: row ``i``'s distinct entries."""
    n = crow.shape[0] - 1
    for i in prange(n):
        s, e = crow[i], crow[i + 1]
        if e - s > INSERTION_MAX:
            col[s:e].sort()
        else:
            for a in range(s + 1, e):
                v = col[a]
                b = a - 1
                while b >= s and col[b] > v:
                    col[b + 1] = col[b]
                    b -= 1
                col[b + 1] = v
        u = 0
        for a in range(s, e):
            if a == s or col[a] != col[a - 1]:
                u += 1
        distinct[i] = u


@njit(cache=True, nogil=True)
def drop_repeats(crow, col, counts):  # pragma: no cover - compiled
    """Sorted rows without their repeats, moved to the front of ``col`` in place (entries only
    move left, so one pass in order is safe); ``crow`` rewritten to match. With ``counts`` not
    empty: how often each kept entry appeared. Returns the entries kept."""
    n = crow.shape[0] - 1
    with_counts = counts.shape[0] > 0
    q = 0
    start = crow[0]
    for i in range(n):
        end = crow[i + 1]
        crow[i] = q
        for a in range(start, end):
            v = col[a]
            if a == start or v != col[q - 1]:
                col[q] = v
                if with_counts:
                    counts[q] = 1.0
                q += 1
            elif with_counts:
                counts[q - 1] += 1.0
        start = end
    crow[n] = q
    return q

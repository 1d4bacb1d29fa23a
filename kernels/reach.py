"""The papers a seed set's walk can reach, and the references among them (numba, with scipy references).

:func:`reach` is a breadth-first search along references from several seeds at once. scipy's
``breadth_first_order`` is the reference (one seed at a time, unions taken): it validates and
copies the whole graph on every call (O(citations), measured as most of the cost of a seed on a
24M-citation graph), where this touches only what it reaches. A generation stamp per paper marks
what was reached, so the marks need no clearing between searches. :func:`induced_rows` builds the
subgraph a set closed under references induces (scipy's submatrix is its reference).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def reach(indptr, indices, seeds, mark, stamp, out):  # pragma: no cover - compiled
    """Every paper reachable from ``seeds`` along the rows of ``indptr``/``indices`` (references),
    the seeds included, written to ``out`` in the order reached; returns how many. ``mark`` (int64,
    one per paper) is set to ``stamp`` for each one reached: a fresh ``stamp`` per search."""
    count = 0
    for s in seeds:
        if mark[s] != stamp:
            mark[s] = stamp
            out[count] = s
            count += 1
    head = 0
    while head < count:
        u = out[head]
        head += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            if mark[v] != stamp:
                mark[v] = stamp
                out[count] = v
                count += 1
    return count


@njit(cache=True, nogil=True)
def induced_rows(ref_indptr, ref_indices, ref_entry, rows, pos, out_crow, out_col, out_entry):  # pragma: no cover
    """The transposed CSR (rows: cited papers; columns: their citers) of the subgraph that ``rows``
    (sorted, closed under references) induce, from their references (``ref_*``: rows citing papers,
    ``ref_entry`` each reference's position in the graph's own CSR), renumbered by ``pos``.

    A counting sort over the references of ``rows`` alone: citers come out in increasing order
    within each row, as in the graph's CSR. ``out_entry`` is each entry's position there."""
    m = rows.size
    for i in range(m + 1):
        out_crow[i] = 0
    for i in range(m):
        r = rows[i]
        for k in range(ref_indptr[r], ref_indptr[r + 1]):
            out_crow[pos[ref_indices[k]] + 1] += 1
    for i in range(m):
        out_crow[i + 1] += out_crow[i]
    fill = out_crow[:m].copy()
    for i in range(m):
        r = rows[i]
        for k in range(ref_indptr[r], ref_indptr[r + 1]):
            j = pos[ref_indices[k]]
            out_col[fill[j]] = i
            out_entry[fill[j]] = ref_entry[k]
            fill[j] += 1
    return out_crow[m]

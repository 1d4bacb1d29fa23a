"""The condensation plan: strongly connected components in topological levels.

Citation graphs are nearly acyclic; only the papers on cycles (revised preprints citing newer
work) need iteration. Collapsing each strongly connected component to one node leaves a DAG,
the *condensation*. :func:`plan_components` numbers the papers level by level of that DAG, so
that every paper's citers lie in earlier levels or in its own component:

- a paper on no cycle (a component of one, a self-citation allowed) is solved exactly, once;
- the papers of nontrivial components of one level are solved together, with their inputs
  from earlier levels fixed (:func:`ranker.solvers.dag.dag_pagerank`).

Each level is two contiguous slices of CSR rows: ``("level", s, c)`` for its papers on no
cycle and ``("core", c, e)`` for its cyclic components (grouped by component). The plan is
structure only, computed once per graph and reused by every solve and every batch.

References
----------
R. Tarjan, "Depth-first search and linear graph algorithms", SIAM J. Computing 1972 (strong
components; the compiled plan, :mod:`ranker.kernels.condensation`, runs it; scipy's
``csgraph.connected_components``, the reference, implements Pearce's iterative variant).
PRPACK (D. Gleich et al.) solves PageRank component by component in topological order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..graph import CitationGraph
from ..kernels import compiled_pays

if TYPE_CHECKING:  # scipy is the reference path's, imported when it runs (0.3 s a process otherwise)
    import scipy.sparse


def _structure(graph: CitationGraph) -> scipy.sparse.csr_array:
    """``M[j, i] = 1`` when ``i`` cites ``j``: the graph's CSR as scipy sees it (no copy of the indices)."""
    import scipy.sparse

    n = graph.n
    crow = graph.crow.cpu().numpy()
    col = graph.col.cpu().numpy()
    return scipy.sparse.csr_array((np.ones(col.size, dtype=np.int8), col, crow), shape=(n, n))


def strong_components(graph: CitationGraph,
                      structure: scipy.sparse.csr_array | None = None) -> tuple[int, torch.Tensor]:
    """Strongly connected components of the citation graph.

    Parameters
    ----------
    graph : CitationGraph
    structure : scipy.sparse.csr_array, optional
        The graph's structure as scipy sees it, when the caller already made it.

    Returns
    -------
    count : int
        Number of components (papers on no cycle are components of one).
    label : torch.Tensor
        ``int64 [n]`` component of each paper, on the graph's device.

    Notes
    -----
    The graph's CSR is ``M[j, i] = 1`` when ``i`` cites ``j``: the transpose of the citation
    graph, which has the same strong components. scipy works on the CPU in linear time.
    """
    m = _structure(graph) if structure is None else structure
    from scipy.sparse.csgraph import connected_components

    count, label = connected_components(m, directed=True, connection="strong", return_labels=True)
    return int(count), torch.from_numpy(label.astype(np.int64)).to(graph.device)


def _ranges(crow: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry positions of CSR ``rows`` and the row each belongs to."""
    starts = crow[rows]
    lengths = crow[rows + 1] - starts
    owner = np.repeat(rows, lengths)
    pos = np.arange(owner.size, dtype=np.int64) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return pos, owner


def plan_components(graph: CitationGraph, *,
                    compiled: bool | None = None) -> tuple[torch.Tensor, list[tuple[str, int, int]], dict]:
    """Topological levels of the condensation, as a renumbering of the papers.

    Parameters
    ----------
    graph : CitationGraph
    compiled : bool, optional
        Components, levels and the order inside each component in one compiled pass of
        Tarjan's algorithm (:func:`ranker.kernels.condensation.condensation`). False: scipy's
        strong components and Kahn's algorithm in numpy (one round of array operations per
        level), the reference the compiled pass is tested against; a component's papers
        then keep their index order. None: compiled when it pays
        (:func:`ranker.kernels.compiled_pays`).

    Returns
    -------
    perm : torch.Tensor
        ``int64 [n]``: new index ``r`` is old paper ``perm[r]``.
    segments : list of (kind, start, end)
        Row ranges in the new numbering, in solve order: ``"level"`` (papers on no cycle)
        and ``"core"`` (the level's nontrivial components, each contiguous).
    facts : dict
        ``components`` (nontrivial), ``largest_component``, ``papers_on_cycles``, ``levels``.

    Notes
    -----
    A component's level is one more than the largest level of the components citing it (0
    when none): the round in which Kahn's algorithm would release it. Numbering: level by
    level, papers on no cycle by index, then the level's components, the papers of a
    component in the search's postorder along "is cited by" (citers first, which is the
    order a Gauss-Seidel sweep wants). Deterministic; linear in papers and citations.
    """
    n = graph.n
    if compiled is None:
        compiled = compiled_pays(graph.nnz)  # the plan runs on the CPU whatever the graph's device
    if compiled:
        from ..kernels import condensation as kernels
    if compiled and n:
        label, level, grouped, start = kernels.condensation(graph.crow.cpu().numpy(), graph.col.cpu().numpy())
        count = int(level.size)
        size = np.diff(start)
    else:
        m = _structure(graph)
        count, label_t = strong_components(graph, m)
        label = label_t.cpu().numpy()
        size = np.bincount(label, minlength=count)
        level = _kahn_levels(graph, m, label, size, count)
        grouped = np.argsort(label, kind="stable")  # a component's papers by index
    cyclic = (size > 1).astype(np.int8)
    n_levels = int(level.max()) + 1 if count else 0
    if n:
        order = kernels.level_order if compiled else level_order
        perm, offsets = order(label, level, cyclic, grouped, n_levels)
    else:
        perm, offsets = np.zeros(0, np.int64), np.zeros(1, np.int64)
    segments = [("core" if k % 2 else "level", int(offsets[k]), int(offsets[k + 1]))
                for k in range(2 * n_levels) if offsets[k + 1] > offsets[k]]
    nontrivial = size[size > 1]
    facts = {"components": int(nontrivial.size), "largest_component": int(nontrivial.max()) if nontrivial.size else 1,
             "papers_on_cycles": int(nontrivial.sum()), "levels": n_levels}
    return torch.from_numpy(perm.astype(np.int64)).to(graph.device), segments, facts


def level_order(label: np.ndarray, level: np.ndarray, cyclic: np.ndarray, grouped: np.ndarray,
                n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The plan's numbering in numpy: the reference of :func:`ranker.kernels.condensation.level_order`.

    Bucket ``2 * level + cyclic`` of each paper's component; a stable sort by bucket of the papers
    on no cycle in index order followed by the papers on cycles in ``grouped``'s order. Returns
    ``(perm, offsets)``: bucket ``k`` holds new indices ``offsets[k]:offsets[k + 1]``.
    """
    bucket = 2 * level[label].astype(np.int64) + cyclic[label]
    offsets = np.zeros(2 * n_levels + 1, np.int64)
    np.cumsum(np.bincount(bucket, minlength=2 * n_levels), out=offsets[1:])
    acyclic = cyclic[label] == 0
    papers = np.concatenate([np.flatnonzero(acyclic), grouped[~acyclic[grouped]]])
    return papers[np.argsort(bucket[papers], kind="stable")].astype(np.int64), offsets


def _kahn_levels(graph: CitationGraph, m: scipy.sparse.csr_array, label: np.ndarray, size: np.ndarray,
                 count: int) -> np.ndarray:
    """Level of each component by Kahn's algorithm on the condensation (numpy, one round per level).

    Each component counts the citations it receives from other components; a level is every
    component whose count fell to zero, and placing it releases the components its papers
    cite. Per citation one gather; per level a few array operations.
    """
    n = graph.n
    label = label.astype(np.int32 if count < 2**31 else np.int64)  # gathers touch half the bytes
    cyclic = size[label] > 1
    crow, col = m.indptr, m.indices
    # the citation graph itself: row i lists the papers i cites. torch's sort runs on every thread
    order = torch.sort(graph.col.cpu(), stable=True).indices
    f_col = graph.row_index().cpu().index_select(0, order).numpy()
    del order
    f_crow = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(col, minlength=n), out=f_crow[1:])
    remaining = np.zeros(count, dtype=np.int64)
    on_cycle = np.flatnonzero(cyclic)
    single = np.flatnonzero(~cyclic)
    remaining[label[single]] = np.diff(crow)[single] - m.diagonal()[single]
    if on_cycle.size:
        pos, owner = _ranges(crow.astype(np.int64), on_cycle)
        outside = label[col[pos]] != label[owner]
        np.add.at(remaining, label[owner[outside]], 1)
    first = np.empty(count, dtype=np.int64)  # a component's first paper (the paper itself, for one of one)
    first[label[::-1]] = np.arange(n - 1, -1, -1)
    grouped = on_cycle[np.argsort(label[on_cycle], kind="stable")]  # papers on cycles, grouped by component
    group_crow = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.where(size > 1, size, 0), out=group_crow[1:])
    level = np.full(count, -1, dtype=np.int64)
    frontier = np.flatnonzero(remaining == 0)
    levels = 0
    while frontier.size:
        level[frontier] = levels
        levels += 1
        big = frontier[size[frontier] > 1]
        papers = first[frontier[size[frontier] == 1]]
        if big.size:
            papers = np.concatenate([papers, grouped[_ranges(group_crow, big)[0]]])
        pos, owner = _ranges(f_crow, papers)
        tgt = label[f_col[pos]]
        tgt = tgt[tgt != label[owner]]
        if not tgt.size:
            break
        comps, hits = np.unique(tgt, return_counts=True)
        remaining[comps] -= hits
        frontier = comps[remaining[comps] == 0]
    assert (level >= 0).all(), "the condensation of a graph is acyclic"
    return level

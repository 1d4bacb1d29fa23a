"""Personalized PageRank of one seed set over only the papers its walk reaches.

A walk that restarts at a seed set ``S`` and follows references never leaves ``A(S)``, the papers
reachable from ``S`` along references (its ancestors): dangling papers hand their score back to
``S``. So the personalized scores are zero outside ``A(S)``:

    x = alpha P^T x + (alpha d(x) + 1 - alpha) v,   supp(v) = S,   x = 0 off A(S).

With ``x = y / 1^T y`` and ``(I - alpha P^T) y = v`` (as in :mod:`ranker.solvers.dag`), ``y``
is found by the whole graph's condensation sweep run *forward*: papers in the plan's order, each
paper's final score pushed to the papers it cites, components solved whole when reached
(:func:`ranker.kernels.local_sweep.local_sweep`). The cost is the references of ``A(S)``, not
the citations into it: a hub reached by one seed reads none of its millions of other citers,
and no search, subgraph or plan is made per seed set. Every reached paper's score is exact
(Gauss-Seidel to ``tol`` inside large components, as the whole sweep), and each set is solved
alone, so its numbers do not depend on the other sets of its batch.

References
----------
Haveliwala, *Topic-sensitive PageRank* (WWW 2002), for the personalized walk. Andersen, Chung,
Lang, *Local graph partitioning using PageRank vectors* (FOCS 2006), for pushing residual
score to a paper's neighbours so the work stays where the walk goes; here each paper pushes once,
when its score is final, so nothing is approximated. PRPACK (Gleich et al.) for the sweep over
the strongly connected components in topological order.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import CitationGraph
from .dag import compiled_plan, diagonal_scale, leveled
from .iteration import PageRankResult


def _operator(graph: CitationGraph, dtype: torch.dtype, width: int) -> dict:
    """The plan's arrays (:func:`ranker.solvers.dag.compiled_plan`) with each paper's references
    (:func:`ranker.kernels.local_sweep.references`) and the sweep's scratch for ``width`` columns:
    made once per graph and dtype (the scratch again for a wider group), cached on the graph. The
    references cost 4 bytes per citation (12 when weighted), the scratch :func:`scratch_bytes`."""
    from ..kernels import local_sweep as kernels
    from ..kernels.sweep import SERIAL_MAX, set_threads

    g = graph if graph.segments is not None else leveled(graph)[0]  # a graph in level order is its own plan
    cache = g.__dict__.setdefault("_local_sweep", {})
    if dtype not in cache:
        plan = leveled(graph)[1]
        arrays = compiled_plan(g, plan, dtype)
        rcrow = np.zeros(g.n + 1, np.int64)
        rcol = np.empty(arrays["col"].size, arrays["col"].dtype)
        rval = np.empty(arrays["val"].size, arrays["val"].dtype)
        parts = torch.get_num_threads() if rcol.size >= SERIAL_MAX else 1
        set_threads(parts)
        kernels.references(arrays["crow"], arrays["col"], arrays["val"], rcrow, rcol, rval, parts)
        cache.clear()  # one dtype at a time: the scratch is per graph
        cache[dtype] = {"arrays": arrays, "rcrow": rcrow, "rcol": rcol, "rval": rval, "width": 0}
    op = cache[dtype]
    if op["width"] < width:
        n = g.n
        op.update(width=width, rows=np.zeros(n * (width + 1), np.uint64),
                  state=np.zeros(n, np.int8), waiting=np.zeros((n >> kernels.BLOCK_SHIFT) + 1, np.int64),
                  order=np.empty(n, np.int64), done=np.empty(n, np.int64))
    return op


def scratch_bytes(n: int, width: int) -> int:
    """Bytes of :func:`local_pagerank_sets`' scratch for ``n`` papers and groups of ``width`` sets:
    a float64 per paper and column, a bit mask, a state and two lists of papers."""
    return n * (8 * (width + 1) + 1 + 8 + 8)


#: Seed sets solved together by one forward sweep (:func:`local_pagerank_sets`). Measured on a
#: generated 239M-citation graph (64 random single-paper sets, in process): 387 ms a set alone, 306
#: in sweeps of 16, 232 of 32, 266 of 64; 32 random papers' walks reach together 0.14 of the
#: references they reach one at a time. On its 24M-citation graph, where a set's scratch fits in the
#: cache, sharing neither gains nor loses.
GROUP = 32


def local_pagerank_sets(graph: CitationGraph, set_index: np.ndarray, paper_index: np.ndarray, weights: np.ndarray,
                        n_sets: int, *, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 1000,
                        dtype: torch.dtype = torch.float64, limit: int | None = None,
                        width: int = GROUP) -> list[tuple[np.ndarray, np.ndarray, PageRankResult] | None]:
    """Seed sets' personalized PageRank, each computed over only the papers its walk reaches.

    Sets are solved ``width`` at a time by one forward sweep, a column each: the papers several of
    them reach are read once. Each set's numbers are those it gets alone (bit for bit).

    Parameters
    ----------
    graph : CitationGraph
        On the CPU. Its condensation plan, each paper's references and the sweep's scratch are
        made once and cached on it, so calls on one graph must not run in several threads at once.
    set_index, paper_index, weights : numpy.ndarray
        One row per (set, paper): sets ``0..n_sets-1``, each with at least one row and a positive
        weight (repeats add up); a set's teleport vector is ``v = w / sum(w)`` over its papers.
    alpha, tol, max_iter :
        As :func:`ranker.solvers.dag.dag_pagerank`: ``tol`` bounds the L1 change of the
        Gauss-Seidel sweeps inside large components; everything else is exact.
    dtype : torch.dtype
        Of the scores: the sweep runs in float64 and rounds to ``dtype`` at the end.
    limit : int, optional
        A set whose walk reaches more than this many papers is dropped from its sweep as soon as it
        does, and its entry is None: the caller solves it over the whole graph instead. Default:
        never.
    width : int
        Sets per sweep (1 to 64); the scratch costs ``8 width`` bytes per paper
        (:func:`scratch_bytes`).

    Returns
    -------
    list
        Per set: the reached papers (in the plan's order: sort them for any other; a job's graph is
        in level order already, so they are increasing), their scores (float64, summing to 1; every
        other paper scores 0) and a :class:`PageRankResult` (``scores [len(papers), 1]``, the most
        Gauss-Seidel sweeps of a component and their last L1 change); or None past ``limit``.
    """
    from ..kernels import local_sweep as kernels
    from ..kernels.sweep import DIRECT_MAX

    width = max(1, min(int(width), 64, n_sets))
    op = _operator(graph, dtype, width)
    arrays = op["arrays"]
    g, plan = leveled(graph) if graph.segments is None else (graph, None)  # cached: nothing made per call
    pos = np.asarray(paper_index, np.int64)
    if plan is not None:
        pos = plan.position.numpy()[pos]
    sets = np.asarray(set_index, np.int64)
    w = np.asarray(weights, np.float64)
    key, where = np.unique(sets * g.n + pos, return_inverse=True)  # (set, position), sorted: each set's seeds
    top = np.zeros(n_sets, np.float64)
    np.maximum.at(top, sets, w)
    v: np.ndarray = np.bincount(where.reshape(-1), weights=w / top[sets], minlength=key.size).astype(np.float64)
    # relative weights, as seed_teleport
    key_set, key_pos = key // g.n, key % g.n
    bounds = np.searchsorted(key_set, np.arange(n_sets + 1))
    for c in range(n_sets):
        part = v[bounds[c]:bounds[c + 1]]
        part /= part.sum()
    sc = diagonal_scale(g, dtype, alpha).reshape(-1).numpy()
    lim = graph.n if limit is None else int(limit)
    perm = None if plan is None else plan.perm.numpy()
    out: list[tuple[np.ndarray, np.ndarray, PageRankResult] | None] = []
    for a in range(0, n_sets, width):
        b = min(a + width, n_sets)
        cols = b - a
        mask = op["rows"][:g.n * (cols + 1)].reshape(g.n, cols + 1)  # a paper's bits, then its values
        reach = np.zeros(cols, np.int64)
        iters, resid = np.zeros(cols + 1, np.int64), np.zeros(cols + 1, np.float64)
        offsets, positions, values = kernels.local_sweep(
            op["rcrow"], op["rcol"], op["rval"], arrays["col_scale"], arrays["kinds"], arrays["starts"],
            arrays["ends"], sc, bounds[a:b + 1] - bounds[a], key_pos[bounds[a]:bounds[b]], v[bounds[a]:bounds[b]],
            alpha, tol, max_iter, DIRECT_MAX, arrays["icrow"], arrays["icol"], arrays["ival"], lim,
            mask.view(np.float64), mask, op["state"], op["waiting"], op["order"], op["done"], reach, iters, resid)
        for c in range(cols):
            if reach[c] < 0:
                out.append(None)
                continue
            at, y = positions[offsets[c]:offsets[c + 1]], values[offsets[c]:offsets[c + 1]]
            papers = at.copy() if perm is None else perm[at]
            scores = y / y.sum()
            if dtype != torch.float64:
                scores = scores.astype(np.dtype(str(dtype)[6:])).astype(np.float64)
            result = PageRankResult(scores=torch.from_numpy(scores).unsqueeze(1),
                                    iterations=torch.from_numpy(iters[c + 1:c + 2].copy()),
                                    residuals=torch.from_numpy(resid[c + 1:c + 2].copy()),
                                    converged=torch.from_numpy(resid[c + 1:c + 2] < tol))
            out.append((papers, scores, result))
    return out


def local_pagerank(graph: CitationGraph, seeds: np.ndarray, weights: np.ndarray, *, alpha: float = 0.85,
                   tol: float = 1e-10, max_iter: int = 1000, dtype: torch.dtype = torch.float64,
                   limit: int | None = None) -> tuple[np.ndarray, np.ndarray, PageRankResult] | None:
    """One seed set's personalized PageRank, computed over only the papers its walk reaches:
    :func:`local_pagerank_sets` of the one set (``seeds`` and their non-negative ``weights``, not
    all zero). Returns its papers, scores and result, or None past ``limit``."""
    seeds = np.asarray(seeds, np.int64).reshape(-1)
    return local_pagerank_sets(graph, np.zeros(seeds.size, np.int64), seeds, np.asarray(weights, np.float64),
                               1, alpha=alpha, tol=tol, max_iter=max_iter, dtype=dtype, limit=limit, width=1)[0]

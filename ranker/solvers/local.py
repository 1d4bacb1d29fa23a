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


def _operator(graph: CitationGraph, dtype: torch.dtype) -> dict:
    """The plan's arrays (:func:`ranker.solvers.dag.compiled_plan`) with each paper's references
    (:func:`ranker.kernels.local_sweep.references`) and the sweep's scratch: made once per graph
    and dtype, cached on the graph (the references cost 4 bytes per citation, 12 when weighted)."""
    from ..kernels import local_sweep as kernels
    from ..kernels.sweep import SERIAL_MAX, set_threads

    g = graph if graph.segments is not None else leveled(graph)[0]  # a graph in level order is its own plan
    cache = g.__dict__.setdefault("_local_sweep", {})
    if dtype not in cache:
        plan = leveled(graph)[1]
        arrays = compiled_plan(g, plan, dtype)
        n = g.n
        rcrow = np.zeros(n + 1, np.int64)
        rcol = np.empty(arrays["col"].size, arrays["col"].dtype)
        rval = np.empty(arrays["val"].size, arrays["val"].dtype)
        parts = torch.get_num_threads() if rcol.size >= SERIAL_MAX else 1
        set_threads(parts)
        kernels.references(arrays["crow"], arrays["col"], arrays["val"], rcrow, rcol, rval, parts)
        cache.clear()  # one dtype at a time: the scratch is per graph
        cache[dtype] = {
            "arrays": arrays, "rcrow": rcrow, "rcol": rcol, "rval": rval,
            "acc": np.zeros(n, np.float64), "y": np.zeros((n, 1), np.float64), "state": np.zeros(n, np.int8),
            "waiting": np.zeros((n >> kernels.BLOCK_SHIFT) + 1, np.int64), "order": np.empty(n, np.int64),
            "out_pos": np.empty(n, np.int64), "out_val": np.empty(n, np.float64),
        }
    return cache[dtype]


def local_pagerank(graph: CitationGraph, seeds: np.ndarray, weights: np.ndarray, *, alpha: float = 0.85,
                   tol: float = 1e-10, max_iter: int = 1000, dtype: torch.dtype = torch.float64,
                   limit: int | None = None) -> tuple[np.ndarray, np.ndarray, PageRankResult] | None:
    """One seed set's personalized PageRank, computed over only the papers its walk reaches.

    Parameters
    ----------
    graph : CitationGraph
        On the CPU. Its condensation plan, each paper's references and the sweep's scratch are
        made once and cached on it, so calls on one graph must not run in several threads at once.
    seeds, weights : numpy.ndarray
        The set's papers (repeats add up) and their non-negative weights, not all zero; the
        teleport vector is ``v = w / sum(w)`` over them.
    alpha, tol, max_iter :
        As :func:`ranker.solvers.dag.dag_pagerank`: ``tol`` bounds the L1 change of the
        Gauss-Seidel sweeps inside large components; everything else is exact.
    dtype : torch.dtype
        Of the scores: the sweep runs in float64 and rounds to ``dtype`` at the end.
    limit : int, optional
        Give up (return None) as soon as the walk reaches more than this many papers: the
        caller solves such a set over the whole graph instead. Default: never.

    Returns
    -------
    papers, scores : numpy.ndarray
        The reached papers (sorted) and their scores (float64, summing to 1); every other
        paper scores 0.
    result : PageRankResult
        ``scores [len(papers), 1]``, and the most Gauss-Seidel sweeps of a component and their
        last L1 change; or None past ``limit``.
    """
    from ..kernels import local_sweep as kernels
    from ..kernels.sweep import DIRECT_MAX

    op = _operator(graph, dtype)
    arrays = op["arrays"]
    g, plan = leveled(graph) if graph.segments is None else (graph, None)  # cached: nothing made per call
    pos = np.asarray(seeds, np.int64)
    if plan is not None:
        pos = plan.position.numpy()[pos]
    w = np.asarray(weights, np.float64)
    pos, where = np.unique(pos, return_inverse=True)
    v = np.bincount(where.reshape(-1), weights=w / w.max(), minlength=pos.size).astype(np.float64)
    v /= v.sum()  # relative weights, as seed_teleport
    sc = diagonal_scale(g, dtype, alpha).reshape(-1).numpy()
    iters, resid = np.zeros(1, np.int64), np.zeros(1, np.float64)
    reached = kernels.local_sweep(
        op["rcrow"], op["rcol"], op["rval"], arrays["col_scale"], arrays["kinds"], arrays["starts"], arrays["ends"],
        sc, pos, v, alpha, tol, max_iter, DIRECT_MAX, arrays["icrow"], arrays["icol"], arrays["ival"],
        graph.n if limit is None else int(limit), op["acc"], op["y"], op["state"], op["waiting"], op["order"],
        op["out_pos"], op["out_val"], iters, resid)
    if reached < 0:
        return None
    at, y = op["out_pos"][:reached], op["out_val"][:reached]
    papers = at.copy() if plan is None else plan.perm.numpy()[at]
    order = np.argsort(papers, kind="stable")
    papers, scores = papers[order], y[order] / y.sum()
    if dtype != torch.float64:
        scores = scores.astype(np.dtype(str(dtype)[6:])).astype(np.float64)
    result = PageRankResult(scores=torch.from_numpy(scores).unsqueeze(1), iterations=torch.from_numpy(iters),
                            residuals=torch.from_numpy(resid), converged=torch.from_numpy(resid < tol))
    return papers, scores, result

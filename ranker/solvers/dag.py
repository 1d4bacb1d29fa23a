"""Exact PageRank on near-acyclic graphs: a sweep over the condensation, iteration only inside cycles.

Citation graphs are close to acyclic: papers cite older papers. With dangling score returned
to the teleport vector ``v``, PageRank is ``x = y / sum(y)`` where ``(I - alpha A) y = v`` and
``A = P^T``. On an acyclic graph that is one triangular solve in topological order.

**Plan** (once per graph, :func:`plan_levels`): the strongly connected components in
topological levels of the condensation (:func:`ranker.solvers.components.plan_components`). Each level
is a slice of papers on no cycle and a slice of the level's nontrivial components.

**Solve** (:func:`dag_pagerank`): for each slice ``L`` in order,
``y_L = (v_L + alpha A_L y) / (1 - alpha diag_L)`` for papers on no cycle: one sparse x dense
product over the slice's rows, reading only earlier, final scores (the diagonal term solves
self-citations exactly). A slice of components gets its inputs ``b_C = v_C + alpha A_C,before y``
the same way and then solves ``(I - alpha A_CC) y_C = b_C``: directly (a dense inverse,
computed once per plan) when the slice holds at most :data:`DENSE_MAX` papers, else by Jacobi
iteration ``y_C <- b_C + alpha A_CC y_C`` to an L1 change below ``tol``. Every citation outside
the components is used once.

References
----------
PRPACK (D. Gleich, P. Constantine, A. Flaxman, A. Gunawardana) solves PageRank on a graph's
strongly connected components in topological order; ``../shared/NOTES.md`` measures the
near-acyclic structure of citation graphs (hep-th: 28% of papers on cycles, one component of 7,464).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from ..graph import CitationGraph, csr_tensor, inverse_out_weight
from ..kernels import compiled_pays
from ..kernels.step import column_sums
from .components import plan_components
from .iteration import IterationCallback, PageRankResult, iterate, pad_columns
from .power import LANES, check_teleport, check_walk

log = logging.getLogger("ranker")


@dataclass
class LevelPlan:
    """Topological renumbering of a graph.

    Attributes
    ----------
    perm : torch.Tensor
        ``int64 [n]``: new index ``r`` is old paper ``perm[r]``.
    segments : list of (kind, start, end)
        Row ranges in the new numbering, in solve order; ``kind`` is ``"level"`` (papers on no
        cycle) or ``"core"`` (nontrivial strongly connected components).
    facts : dict
        Size of the plan: ``components``, ``largest_component``, ``papers_on_cycles``, ``levels``.
    """

    perm: torch.Tensor
    segments: list[tuple[str, int, int]]
    facts: dict = field(default_factory=dict)

    @property
    def levels(self) -> int:
        """Levels of the condensation (a level has a slice of papers on no cycle, of components, or both)."""
        return int(self.facts.get("levels", sum(1 for k, _, _ in self.segments if k == "level")))

    @property
    def position(self) -> torch.Tensor:
        """``int64 [n]``: the new index of old paper ``p`` (the inverse of ``perm``; computed once)."""
        if "position" not in self.__dict__:
            inv = torch.empty_like(self.perm)
            inv[self.perm] = torch.arange(self.perm.numel(), device=self.perm.device)
            self.__dict__["position"] = inv
        return self.__dict__["position"]

    @property
    def core_papers(self) -> int:
        return sum(e - s for k, s, e in self.segments if k == "core")


def plan_levels(graph: CitationGraph) -> LevelPlan:
    """The condensation plan of ``graph`` (:func:`ranker.solvers.components.plan_components`): deterministic."""
    perm, segments, facts = plan_components(graph)
    return LevelPlan(perm=perm, segments=segments, facts=facts)


def _slice(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, s: int, e: int, ncols: int) -> torch.Tensor:
    """Rows ``s:e`` of a CSR matrix as a CSR tensor sharing ``col``/``val`` storage."""
    a, b = int(crow[s]), int(crow[e])
    return csr_tensor(crow[s:e + 1] - crow[s], col[a:b], val[a:b], (e - s, ncols))


def _core_block(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, s: int, e: int,
                col_scale: torch.Tensor | None = None) -> torch.Tensor:
    """``A_CC``: rows and columns ``s:e`` of a CSR matrix, columns relabelled from 0; values
    ``val`` times ``col_scale[column]`` when given (a structure-only matrix gets its values)."""
    a, b = int(crow[s]), int(crow[e])
    c, v = col[a:b], val[a:b]
    rows = torch.repeat_interleave(torch.arange(e - s, device=col.device), (crow[s + 1:e + 1] - crow[s:e]).long())
    keep = (c >= s) & (c < e)
    rows, c, v = rows[keep], c[keep], v[keep]
    if col_scale is not None:
        v = v * col_scale.index_select(0, c.long())
    c = c - s
    sub_crow = torch.searchsorted(rows, torch.arange(e - s + 1, device=col.device)).to(crow.dtype)
    return csr_tensor(sub_crow, c.to(crow.dtype), v, (e - s, e - s))


#: Implementations of :func:`dag_pagerank`.
KERNELS = ("auto", "compiled", "torch")

#: Slices of components up to this many papers are solved directly (a dense inverse, 8 MiB at
#: most); larger ones by Jacobi iteration.
DENSE_MAX = 1024


def _dense_inverse(a_cc: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(I - alpha A_CC)^-1`` in float64 (``A_CC`` a sparse block of ``P^T``).

    An explicit inverse rather than LU factors: one dense product per solve, whose result for a
    column does not depend on the batch's width once it is a multiple of
    :data:`ranker.solvers.power.LANES` (LAPACK's triangular solves do depend on it, measured). The
    matrix is an M-matrix with condition number at most ``(1 + alpha) / (1 - alpha)``, so the
    inverse loses no accuracy that matters (tested against networkx to 1e-12).
    """
    m = a_cc.to_dense().to(torch.float64).mul_(-alpha)
    m.diagonal().add_(1.0)
    return torch.linalg.inv(m)


def diagonal_scale(g: CitationGraph, dtype: torch.dtype, alpha: float) -> torch.Tensor:
    """``[n, 1]``: ``1 / (1 - alpha P^T[j, j])``, solving self-citations exactly (cached on ``g``)."""
    scale = g.__dict__.setdefault("_diag_scale", {})
    key = (dtype, alpha)
    if key not in scale:
        scale.clear()
        scale[key] = (1.0 / (1.0 - alpha * cached_self_shares(g))).to(dtype).unsqueeze(1)
    return scale[key]


def cached_self_shares(g: CitationGraph) -> torch.Tensor:
    """:func:`self_shares` of ``g``, computed once per graph (cached on it)."""
    if "_self_share" not in g.__dict__:
        g.__dict__["_self_share"] = self_shares(g)
    return g.__dict__["_self_share"]


def self_shares(g: CitationGraph, *, compiled: bool | None = None) -> torch.Tensor:
    """``float64 [n]``: ``P^T[j, j] = w_jj / out_weight_j``, the share of ``j``'s citations to itself.

    Weighted, the transition's own values (computed without overflow, :mod:`ranker.graph`).
    On the CPU one compiled pass (:func:`ranker.kernels.sweep.self_citation_share`); else, or
    with ``compiled=False``, torch's masks (the reference). None: compiled when it pays
    (:func:`ranker.kernels.compiled_pays`).
    """
    weighted = g.weight is not None
    inv_out = inverse_out_weight(g.out_weight)
    if compiled is None:
        compiled = compiled_pays(g.nnz, g.device)
    if compiled and g.device.type == "cpu":
        from ..kernels.sweep import self_citation_share

        diag = torch.zeros(g.n, dtype=torch.float64)
        val = g.transition(torch.float64).values() if weighted else torch.zeros(0, dtype=torch.float64)
        self_citation_share(g.crow.numpy(), g.col.numpy(), val.numpy(), inv_out.to(torch.float64).numpy(),
                            diag.numpy())
        return diag
    diag = torch.zeros(g.n, dtype=torch.float64, device=g.device)
    rows = g.row_index()
    loops = rows == g.col
    w = g.transition(torch.float64).values()[loops] if weighted else inv_out.index_select(0, g.col[loops].long())
    return diag.index_add_(0, rows[loops].long(), w.to(torch.float64))


def leveled(graph: CitationGraph) -> tuple[CitationGraph, LevelPlan]:
    """``graph`` renumbered in level order, with its plan (computed once, cached on ``graph``).

    A graph already in level order (``graph.segments`` set) is returned as it is, with an
    identity permutation.
    """
    if graph.segments is not None:
        return graph, LevelPlan(perm=torch.arange(graph.n, device=graph.device), segments=graph.segments,
                                facts=graph.stats.get("plan", {}))
    cache = graph.__dict__.setdefault("_level_cache", {})
    if "plan" not in cache:
        plan = plan_levels(graph)
        cache["plan"] = plan
        cache["graph"] = graph.permute(plan.perm, segments=plan.segments)
        cache["graph"].stats["plan"] = dict(plan.facts)
    return cache["graph"], cache["plan"]


def dag_pagerank(graph: CitationGraph, teleport: torch.Tensor, *, alpha: float = 0.85, tol: float = 1e-10,
                 max_iter: int = 1000, callback: IterationCallback | None = None,
                 stored_values: bool | None = None, batch_invariant: bool = False,
                 kernel: str = "auto") -> tuple[PageRankResult, dict]:
    """Batched (personalized) PageRank by a sweep over the condensation, iterating only inside large components.

    Parameters
    ----------
    graph : CitationGraph
        Any graph; one renumbered in level order (``graph.segments`` set, as the pipeline
        builds it) skips the planning and the permutations.
    teleport : torch.Tensor
        ``[n, B]`` float32/float64, non-negative columns summing to 1 (else ``ValueError``);
        dangling score follows them.
    alpha, tol, max_iter :
        As :func:`ranker.solvers.power.personalized_pagerank`; ``tol`` bounds the L1 change of
        the Jacobi iteration inside large components (everything else is exact).
    callback : callable, optional
        Called per Jacobi iteration.
    stored_values : bool, optional
        Multiply by the stored values of ``P^T`` (8 bytes more per citation in float64), or by
        its structure alone, scaling each finished score by ``1 / out_weight`` instead. Default:
        structure alone for unweighted graphs on the CPU (each citation is used once, so
        the slower stride-0 product costs little), stored values elsewhere.
    batch_invariant : bool
        Each column's scores bit-identical whatever the other columns of the batch (see
        :func:`ranker.solvers.power.personalized_pagerank`): the batch is padded to a multiple of
        :data:`ranker.solvers.power.LANES` columns, in the sweep, the direct solves and the Jacobi iteration.
        The compiled kernel is batch-invariant by construction (each column computed alone).
    kernel : {"auto", "compiled", "torch"}
        ``compiled``: :func:`ranker.kernels.sweep.sweep` (numba, CPU), one call for the whole
        plan, Gauss-Seidel inside components. ``torch``: one sparse x dense product per slice,
        a dense inverse or Jacobi inside components; any device, and the reference the compiled
        kernel is tested against. ``auto``: compiled on the CPU when it pays
        (:func:`ranker.kernels.compiled_pays`: a million citations, or 64M citations times
        columns, or numba already loaded), torch elsewhere.

    Returns
    -------
    result : PageRankResult
        ``scores [n, B]`` (each column sums to 1); ``iterations`` are the most Jacobi
        iterations of any component slice (0 when every component was solved directly, and on
        an acyclic graph), ``residuals`` their last L1 change (Gauss-Seidel sweeps with the
        compiled kernel; a column into which nothing flows runs none).
    facts : dict
        ``levels``, ``core_papers`` (papers on cycles), ``core_citations`` (citations inside
        components), ``direct_papers`` and ``iterated_papers`` (solved by LU or by Jacobi), and
        the plan's ``components``, ``largest_component``, ``papers_on_cycles``.

    Notes
    -----
    ``x = y / 1^T y`` with ``(I - alpha P^T) y = v``: with dangling score returned to ``v``,
    PageRank is ``x = c (I - alpha P^T)^{-1} v`` for the scalar ``c = alpha d^T x + 1 - alpha``.
    """
    check_walk(alpha, tol, max_iter)
    check_teleport(teleport, graph.n)
    n, n_cols = teleport.shape
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "compiled" or (kernel == "auto" and compiled_pays(graph.nnz, graph.device, n_cols)):
        return _compiled_pagerank(graph, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback)
    lanes = LANES if batch_invariant else 1
    if lanes > 1 and n_cols % lanes:
        res, facts = dag_pagerank(graph, pad_columns(teleport, lanes), alpha=alpha, tol=tol, max_iter=max_iter,
                                  callback=callback, stored_values=stored_values, batch_invariant=True,
                                  kernel="torch")
        return PageRankResult(scores=res.scores[:, :n_cols].contiguous(), iterations=res.iterations[:n_cols],
                              residuals=res.residuals[:n_cols], converged=res.converged[:n_cols]), facts
    g, plan = leveled(graph)
    permuted = graph.segments is None
    v = teleport.index_select(0, plan.perm) if permuted else teleport
    dtype = v.dtype
    if stored_values is None:
        stored_values = g.weight is not None or g.device.type != "cpu"
    assert stored_values or g.weight is None, "a weighted graph needs its stored values"
    crow, col, val, col_scale, stored_as = _operator(g, dtype, stored_values)
    sc = diagonal_scale(g, dtype, alpha)
    y = torch.zeros_like(v)
    facts = {"levels": plan.levels, "core_papers": plan.core_papers, "core_citations": 0, "direct_papers": 0,
             "iterated_papers": 0, **{k: v for k, v in plan.facts.items() if k != "levels"}}
    iters = torch.zeros(n_cols, dtype=torch.int64)
    resid = torch.zeros(n_cols, dtype=torch.float64)
    for kind, s, e in plan.segments:
        if kind == "level":  # written in place: a level's papers cite no paper of their level but themselves,
            # and a self-citation reads its own row while it is still zero (the diagonal is in sc)
            z = torch.mm(_slice(crow, col, val, s, e, n), y, out=y[s:e])
            z.mul_(alpha).add_(v[s:e]).mul_(sc[s:e])
            if stored_as is not None:
                z.mul_(stored_as[s:e])
            continue
        z = torch.sparse.mm(_slice(crow, col, val, s, e, n), y)  # a slice of components: their inputs
        z.mul_(alpha).add_(v[s:e])
        blocks = g.__dict__.setdefault("_core_blocks", {})  # the same for every solve of this graph
        if (dtype, s, e) not in blocks:
            blocks[(dtype, s, e)] = _core_block(crow, col, val, s, e, col_scale)
        a_cc = blocks[(dtype, s, e)]
        facts["core_citations"] += int(a_cc.values().numel())
        z, jacobi = _solve_components(g, a_cc, z, s, e, alpha=alpha, tol=tol, max_iter=max_iter,
                                      callback=callback, lanes=lanes)
        if jacobi is None:
            facts["direct_papers"] += e - s
        else:
            iters = torch.maximum(iters, jacobi.iterations)
            resid = torch.maximum(resid, jacobi.residuals)
            facts["iterated_papers"] += e - s
        y[s:e] = z if stored_as is None else z.mul_(stored_as[s:e])
    if stored_as is not None:
        y.div_(stored_as)
    y = _scores_in_input_order(y, plan, permuted)
    return PageRankResult(scores=y, iterations=iters, residuals=resid, converged=resid < tol), facts


def _operator(g: CitationGraph, dtype: torch.dtype, stored_values: bool) -> tuple:
    """What the sweep multiplies by: ``(crow, col, val, col_scale, stored_as)``.

    With stored values, ``P^T`` itself (``col_scale`` and ``stored_as`` None). Structure-only,
    ``P^T y = S (y / out_weight)``: ones of stride 0 stand for the values (nothing stored per
    citation), and the one score matrix holds ``y / out_weight`` for papers that cite something
    (what the product reads) and ``y`` itself for dangling papers (never read: they cite
    nothing); ``stored_as`` is that factor, and ``y`` comes back by one multiplication at the end.
    """
    inv_out = inverse_out_weight(g.out_weight)
    if stored_values:
        t = g.transition(dtype)
        return t.crow_indices(), t.col_indices(), t.values(), None, None
    val = torch.ones(1, dtype=dtype, device=g.device).expand(g.nnz)
    stored_as = torch.where(g.out_weight > 0, inv_out, torch.ones_like(inv_out)).to(dtype).unsqueeze(1)
    return g.crow, g.col, val, inv_out.to(dtype), stored_as


def _solve_components(g: CitationGraph, a_cc: torch.Tensor, b: torch.Tensor, s: int, e: int, *, alpha: float,
                      tol: float, max_iter: int, callback: IterationCallback | None, lanes: int
                      ) -> tuple[torch.Tensor, PageRankResult | None]:
    """``y_C = (I - alpha A_CC)^-1 b_C`` for a slice ``s:e`` of strongly connected components: by the
    dense inverse (computed once per plan) up to :data:`DENSE_MAX` papers, else by Jacobi
    iteration (``y <- alpha A_CC y + b`` is one pagerank_step with teleport ``b / (1 - alpha)``
    and no dangling papers), whose result is returned with it."""
    dtype = b.dtype
    if e - s <= DENSE_MAX:
        inverses = g.__dict__.setdefault("_core_inverse", {})
        if (dtype, alpha, s, e) not in inverses:
            inverses[(dtype, alpha, s, e)] = _dense_inverse(a_cc, alpha)
        return torch.mm(inverses[(dtype, alpha, s, e)], b.to(torch.float64)).to(dtype), None
    res = iterate(a_cc, b, b / (1.0 - alpha), torch.empty(0, dtype=torch.int64, device=g.device),
                  alpha=alpha, tol=tol, max_iter=max_iter, callback=callback, lanes=lanes)
    return res.scores, res


def _scores_in_input_order(y: torch.Tensor, plan: LevelPlan, permuted: bool) -> torch.Tensor:
    """``x = y / 1^T y`` per column, rows back in the caller's numbering when the solve permuted them."""
    y /= column_sums(y).to(y.dtype)
    if not permuted:
        return y
    return _rows(y, plan.position)


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` for ``x [n, B]``: one column gathered as a vector (torch walks an ``[n, 1]``
    tensor row by row, 7x slower on hep-th's 27,770 rows, measured)."""
    if x.shape[1] == 1:
        return x.reshape(-1).index_select(0, index).unsqueeze(1)
    return x.index_select(0, index)


def compiled_plan(g: CitationGraph, plan: LevelPlan, dtype: torch.dtype) -> dict:
    """Arrays the compiled sweeps read, made once per graph and dtype (cached on ``g``): the CSR parts
    (``crow``, ``col``, ``val`` (empty when unweighted), ``col_scale``), the slices in solve order
    (``kinds``, ``starts``, ``ends``: component slices cut into single components) and the
    citations inside components (``icrow``, ``icol``, ``ival``)."""
    from ..kernels import sweep as kernels

    cache = g.__dict__.setdefault("_compiled_plan", {})
    if dtype not in cache:
        inv_out = inverse_out_weight(g.out_weight).to(dtype)
        crow, col = g.crow.numpy(), g.col.numpy()
        val = g.transition(dtype).values().numpy() if g.weight is not None else np.zeros(0, np.dtype(str(dtype)[6:]))
        kinds = np.array([k == "core" for k, _, _ in plan.segments], dtype=np.int8)
        starts = np.array([s for _, s, _ in plan.segments], dtype=np.int64)
        ends = np.array([e for _, _, e in plan.segments], dtype=np.int64)
        core = kinds == 1
        icrow, icol, ival, loops = kernels.internal_block(crow, col, val, inv_out.numpy(), starts[core], ends[core])
        c_starts, c_ends = kernels.split_components(icrow, icol, starts[core], ends[core])
        # every slice in solve order, component slices cut into their components
        order = np.argsort(np.concatenate([starts[~core], c_starts]), kind="stable")
        cache[dtype] = {
            "crow": crow, "col": col, "val": val, "col_scale": inv_out.numpy(),
            "kinds": np.concatenate([np.zeros((~core).sum(), np.int8), np.ones(c_starts.size, np.int8)])[order],
            "starts": np.concatenate([starts[~core], c_starts])[order],
            "ends": np.concatenate([ends[~core], c_ends])[order],
            "icrow": icrow, "icol": icol, "ival": ival, "core_citations": int(icol.size) + int(loops),
        }
    return cache[dtype]


def _compiled_pagerank(graph: CitationGraph, teleport: torch.Tensor, *, alpha: float, tol: float, max_iter: int,
                       callback: IterationCallback | None) -> tuple[PageRankResult, dict]:
    """:func:`dag_pagerank` by the compiled kernel (:func:`ranker.kernels.sweep.sweep`), on the CPU."""
    from ..kernels import sweep as kernels

    n, n_cols = teleport.shape
    g, plan = leveled(graph)
    permuted = graph.segments is None
    v = _rows(teleport, plan.perm) if permuted else teleport
    dtype = v.dtype
    arrays = compiled_plan(g, plan, dtype)
    sc = diagonal_scale(g, dtype, alpha).reshape(-1).numpy()
    v = v.contiguous()
    y = torch.zeros_like(v)
    iters = torch.zeros(n_cols, dtype=torch.int64)
    resid = torch.zeros(n_cols, dtype=torch.float64)
    # slices before the first paper with teleport mass hold none: nothing cites into them from below
    mass = np.flatnonzero(v.numpy().any(1))
    first = int(mass[0]) if mass.size else n
    live = arrays["ends"] > first
    threads = torch.get_num_threads()
    kernels.set_threads(threads)
    kernels.sweep(arrays["crow"], arrays["col"], arrays["val"], arrays["col_scale"], arrays["kinds"][live],
                  arrays["starts"][live], arrays["ends"][live], sc, v.numpy(), alpha, tol, max_iter,
                  kernels.DIRECT_MAX, arrays["icrow"], arrays["icol"], arrays["ival"], y.numpy(), iters.numpy(),
                  resid.numpy())
    if callback is not None:
        callback(int(iters.max()) if n_cols else 0, float(resid.max()) if n_cols else 0.0, 0)
    y = _scores_in_input_order(y, plan, permuted)
    sizes = (arrays["ends"] - arrays["starts"])[arrays["kinds"] == 1]
    direct = int(sizes[sizes <= kernels.DIRECT_MAX].sum())
    facts = {"levels": plan.levels, "core_papers": plan.core_papers, "core_citations": arrays["core_citations"],
             "direct_papers": direct, "iterated_papers": plan.core_papers - direct,
             **{k: val for k, val in plan.facts.items() if k != "levels"}}
    return PageRankResult(scores=y, iterations=iters, residuals=resid, converged=resid < tol), facts

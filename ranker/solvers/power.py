"""Global and batched personalized PageRank by power iteration over CSR tensors.

Pure functions: tensors and parameters in, tensors out. No files, ids or configuration. The
iteration itself (columns leaving as they converge, Aitken jumps, the float32 start) is in
:mod:`ranker.solvers.iteration`.
"""

from __future__ import annotations

import logging
import math

import torch

from ..graph import CitationGraph, inverse_out_weight, largest_weight
from ..kernels.step import pagerank_step
from .iteration import (
    IterationCallback,
    PageRankResult,
    Step,
    power_iteration,
)

log = logging.getLogger("ranker")


def uniform_teleport(n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[n, 1]`` uniform teleport column (global PageRank)."""
    return torch.full((n, 1), 1.0 / n, dtype=dtype, device=device)


def seed_teleport(n: int, set_index: torch.Tensor, paper_index: torch.Tensor, weight: torch.Tensor, n_sets: int, *,
                  dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
                  rows: tuple[int, int] | None = None) -> torch.Tensor:
    """Dense ``[n, n_sets]`` teleport matrix from seed triplets, each column normalized to sum 1.

    Repeated (set, paper) rows add up. Each set's weights are first divided by the set's
    largest weight, so that weights near the float64 limits (``1e308``, ``1e-320``) neither
    overflow nor underflow in the sum. Each set's total comes from its own rows only, so a
    column is bit-identical whatever other sets share its batch. With ``rows = (lo, hi)`` only
    rows ``lo..hi-1`` are returned (``[hi - lo, n_sets]``: one process's block of papers; the
    shares are those of the whole columns).
    """
    set_index, paper_index = set_index.to(device), paper_index.to(device)
    share = seed_shares(set_index, weight.to(device), n_sets)
    lo, hi = (0, n) if rows is None else rows
    if rows is not None:
        mine = (paper_index >= lo) & (paper_index < hi)
        set_index, paper_index, share = set_index[mine], paper_index[mine] - lo, share[mine]
    t = torch.zeros((hi - lo, n_sets), dtype=torch.float64, device=device)
    t.index_put_((paper_index, set_index), share, accumulate=True)
    return t.to(dtype)


def seed_shares(set_index: torch.Tensor, weight: torch.Tensor, n_sets: int) -> torch.Tensor:
    """``float64``: each seed row's weight over its set's total, computed without overflow or
    underflow (weights are first divided by their set's largest weight)."""
    weight = weight.to(torch.float64)
    weight = weight / largest_weight(set_index, weight, n_sets)[set_index]  # a set's largest, as for citations
    totals = torch.zeros(n_sets, dtype=torch.float64, device=weight.device).index_add_(0, set_index, weight)
    return weight / totals[set_index]


#: Columns the CPU's sparse x dense product takes in one vector lane group. Its result for a
#: column depends on whether the batch width is a multiple of this (measured: widths 4, 8, 12
#: agree bit for bit, other widths differ in the last bit), so batch-invariant solves keep
#: every product's width a multiple of it (:func:`personalized_pagerank`, ``batch_invariant``).
LANES = 4


def check_teleport(teleport: torch.Tensor, n: int) -> None:
    """Raise ``ValueError`` unless ``teleport`` is ``[n, B]`` float, non-negative, each column summing to 1.

    A column summing to 3 would return scores summing to 3, silently; one with a negative
    entry is no distribution. The sums are taken in float64, to within ``1e-6`` (float32
    rounds each of ``n`` entries) or ``1e-9`` (float64).
    """
    if teleport.dim() != 2 or teleport.shape[0] != n:
        raise ValueError(f"teleport must be [n, B] with n = {n} papers, got shape {tuple(teleport.shape)}")
    if teleport.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"teleport must be float32 or float64, got {teleport.dtype}")
    if not teleport.numel():
        return
    # two reductions: the smallest entry (NaN propagates) and the column sums (an infinity shows)
    sums = teleport.sum(0, dtype=torch.float64)
    if not float(teleport.amin()) >= 0 or not bool(torch.isfinite(sums).all()):
        bad = int(torch.nonzero(~torch.isfinite(teleport) | (teleport < 0))[0, 1])
        raise ValueError(f"teleport column {bad} has a negative or non-finite entry: each column must be a "
                         "distribution over the papers")
    slack = 1e-6 if teleport.dtype == torch.float32 else 1e-9
    off = torch.nonzero((sums - 1.0).abs() > slack).flatten()
    if off.numel():
        b = int(off[0])
        raise ValueError(f"teleport column {b} sums to {float(sums[b]):.6g}, not 1: divide each column by its "
                         "sum (seed_teleport and uniform_teleport do)")


def check_walk(alpha: float, tol: float, max_iter: int) -> None:
    """Raise ``ValueError`` unless ``0 < alpha < 1``, ``tol`` is finite and positive and ``max_iter >= 1``.

    ``alpha = 1`` has no unique fixed point on a graph with cycles or dangling papers (and
    divides by ``1 - alpha`` in the exact solver); ``alpha`` outside ``[0, 1]`` gives negative
    scores; an infinite ``tol`` stops after one iteration and calls it converged.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0.0 < tol < math.inf:
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")


def tolerance_floor(dtype: torch.dtype, n: int) -> float:
    """The smallest L1 change per iteration a solve in ``dtype`` over ``n`` papers can be asked for.

    Each iteration rounds every score with a relative error of a few machine epsilons, so
    the L1 change of a converged vector (whose entries sum to 1) stalls near
    ``eps * log2(n)``: about ``2e-6`` for float32 and ``4e-15`` for float64 at 27k papers.
    A ``tol`` below that could never be reached.
    """
    eps = torch.finfo(dtype).eps
    return float(eps * max(1.0, math.log2(max(n, 2))))


def personalized_pagerank(
    graph: CitationGraph,
    teleport: torch.Tensor,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    callback: IterationCallback | None = None,
    kernel: str = "torch",
    batch_invariant: bool = False,
    float32_start: bool | None = None,
) -> PageRankResult:
    """Batched personalized PageRank: one column per teleport distribution, solved together.

    Parameters
    ----------
    graph : CitationGraph
        On the device of ``teleport``.
    teleport : torch.Tensor
        ``[n, B]`` float32 or float64; column ``b`` is the distribution ``v_b`` a walker
        restarts from (and where dangling papers send their score). Columns must be
        non-negative and sum to 1 (else ``ValueError``, :func:`check_teleport`).
    alpha : float
        Probability of following a citation, in (0, 1).
    tol : float
        A column stops when the L1 change of one iteration falls below ``tol``.
    max_iter : int
        Most iterations per column.
    callback : callable, optional
        ``callback(iteration, max_residual, active_columns)`` after every iteration.
    kernel : {"torch", "triton"}
        The step: :func:`ranker.kernels.pagerank_step` (torch's CSR product) or the fused
        Triton kernel (:mod:`ranker.kernels.triton_step`; CUDA, or the CPU interpreter).
    batch_invariant : bool
        Make each column's scores bit-identical whatever the other columns of the batch, by
        keeping every product's width a multiple of :data:`LANES` (padding columns cost a
        little work). The job sets it for seed sets and credit targets.
    float32_start : bool, optional
        Solve float64 mostly in float32: a float32 start, then float32 corrections of float64
        residuals (:func:`power_iteration`; None: when ``tol`` is below
        :data:`FLOAT32_START_TOL` and the kernel is torch's). The fixed point and the stopping
        rule are float64's.

    Returns
    -------
    PageRankResult
        Scores ``[n, B]`` in ``teleport.dtype``.

    Notes
    -----
    Power iteration ``x <- alpha P^T x + (alpha d(x) + 1 - alpha) v`` from ``x_0 = v``, with
    ``P^T[j, i] = w_ij / sum_k w_ik`` and ``d(x)`` the score on dangling papers. Every
    iteration is one sparse x dense product over the columns still running: a column
    leaves the batch as soon as it converges, so the others pay nothing for it. A column whose
    changes shrink at a steady ratio jumps to the limit of that geometric tail (Aitken,
    :class:`Extrapolation`), and a float64 solve runs mostly in float32 (:func:`power_iteration`).
    The fixed point is the networkx ``pagerank(G, alpha, personalization=v)`` vector.

    References
    ----------
    L. Page, S. Brin, R. Motwani, T. Winograd, "The PageRank citation ranking: bringing order
    to the web", Stanford InfoLab, 1999. T. Haveliwala, "Topic-sensitive PageRank", WWW 2002.
    """
    check_walk(alpha, tol, max_iter)
    check_teleport(teleport, graph.n)
    step = pagerank_step
    if kernel == "triton":  # the fused kernel has no correction term (``rhs``)
        if float32_start:
            raise ValueError("float32_start needs kernel = 'torch': the Triton step has no correction term")
        step, float32_start = _triton_step(graph), False
    return power_iteration(graph.transition, teleport, graph.dangling, alpha=alpha, tol=tol, max_iter=max_iter,
                           callback=callback, step=step, lanes=LANES if batch_invariant else 1,
                           float32_start=float32_start)


def _triton_step(graph: CitationGraph) -> Step:
    """The fused Triton step bound to ``graph``: structure-only (no stored values) when unweighted."""
    from ..kernels.triton_step import pagerank_step_triton

    inv = inverse_out_weight(graph.out_weight)
    weighted = graph.weight is not None

    def step(transition: torch.Tensor, x: torch.Tensor, v: torch.Tensor, dangling: torch.Tensor,
             alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        return pagerank_step_triton(graph.crow, graph.col, transition.values() if weighted else None,
                                    None if weighted else inv.to(x.dtype), x, v, dangling, alpha)

    return step


def pagerank(graph: CitationGraph, *, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 1000,
             dtype: torch.dtype = torch.float64, callback: IterationCallback | None = None) -> PageRankResult:
    """Global PageRank (uniform teleport): :func:`personalized_pagerank` with one uniform column."""
    return personalized_pagerank(graph, uniform_teleport(graph.n, dtype=dtype, device=graph.device),
                                 alpha=alpha, tol=tol, max_iter=max_iter, callback=callback)

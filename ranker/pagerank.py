"""Global and batched personalized PageRank by power iteration over CSR tensors.

Pure functions: tensors and parameters in, tensors out. No files, ids or configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .graph import CitationGraph, inverse_out_weight
from .kernels import pagerank_step

log = logging.getLogger("ranker")

#: Called after each iteration with (iteration, largest residual among active columns, active columns).
IterationCallback = Callable[[int, float, int], None]


@dataclass
class PageRankResult:
    """Scores and convergence facts, one entry per column.

    Attributes
    ----------
    scores : torch.Tensor
        ``[n, B]`` in the requested dtype; each column sums to 1.
    iterations : torch.Tensor
        ``int64 [B]`` iterations each column ran.
    residuals : torch.Tensor
        ``float64 [B]`` L1 change of the column's last iteration.
    converged : torch.Tensor
        ``bool [B]``: ``residuals < tol``.
    """

    scores: torch.Tensor
    iterations: torch.Tensor
    residuals: torch.Tensor
    converged: torch.Tensor


def uniform_teleport(n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[n, 1]`` uniform teleport column (global PageRank)."""
    return torch.full((n, 1), 1.0 / n, dtype=dtype, device=device)


def seed_teleport(n: int, set_index: torch.Tensor, paper_index: torch.Tensor, weight: torch.Tensor, n_sets: int, *,
                  dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """Dense ``[n, n_sets]`` teleport matrix from seed triplets, each column normalized to sum 1.

    Repeated (set, paper) rows add up. Each set's total comes from its own rows only, so a
    column is bit-identical whatever other sets share its batch.
    """
    set_index, paper_index = set_index.to(device), paper_index.to(device)
    weight = weight.to(device, torch.float64)
    totals = torch.zeros(n_sets, dtype=torch.float64, device=device).index_add_(0, set_index, weight)
    t = torch.zeros((n, n_sets), dtype=torch.float64, device=device)
    t.index_put_((paper_index, set_index), weight / totals[set_index], accumulate=True)
    return t.to(dtype)


def personalized_pagerank(
    graph: CitationGraph,
    teleport: torch.Tensor,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    callback: IterationCallback | None = None,
    kernel: str = "torch",
) -> PageRankResult:
    """Batched personalized PageRank: one column per teleport distribution, solved together.

    Parameters
    ----------
    graph : CitationGraph
        On the device of ``teleport``.
    teleport : torch.Tensor
        ``[n, B]`` float32 or float64; column ``b`` is the distribution ``v_b`` a walker
        restarts from (and where dangling papers send their score). Columns must sum to 1.
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

    Returns
    -------
    PageRankResult
        Scores ``[n, B]`` in ``teleport.dtype``.

    Notes
    -----
    Power iteration ``x <- alpha P^T x + (alpha d(x) + 1 - alpha) v`` from ``x_0 = v``, with
    ``P^T[j, i] = w_ij / sum_k w_ik`` and ``d(x)`` the score on dangling papers. Every
    iteration is one sparse x dense product over the columns still running: a column
    leaves the batch as soon as it converges, so the others pay nothing for it.
    The fixed point is the networkx ``pagerank(G, alpha, personalization=v)`` vector.

    References
    ----------
    L. Page, S. Brin, R. Motwani, T. Winograd, "The PageRank citation ranking: bringing order
    to the web", Stanford InfoLab, 1999. T. Haveliwala, "Topic-sensitive PageRank", WWW 2002.
    """
    n, n_cols = teleport.shape
    assert n == graph.n, f"teleport has {n} rows, graph has {graph.n} papers"
    assert teleport.dtype in (torch.float32, torch.float64)
    step = pagerank_step
    if kernel == "triton":
        step = _triton_step(graph, teleport.dtype)
    return iterate(graph.transition(teleport.dtype), teleport, teleport, graph.dangling, alpha=alpha, tol=tol,
                   max_iter=max_iter, callback=callback, step=step)


def _triton_step(graph: CitationGraph, dtype: torch.dtype):
    """The fused Triton step bound to ``graph``: structure-only (no stored values) when unweighted."""
    from .kernels.triton_step import pagerank_step_triton

    inv = inverse_out_weight(graph.out_weight).to(dtype)
    weighted = graph.weight is not None

    def step(transition, x, v, dangling, alpha):
        return pagerank_step_triton(graph.crow, graph.col, transition.values() if weighted else None,
                                    None if weighted else inv, x, v, dangling, alpha)

    return step


class ColumnTracker:
    """Bookkeeping of a batch whose columns leave as they converge.

    Keeps each column's scores, iterations and residuals; :meth:`update` after every
    iteration says which columns go on. Shared by every iteration in the package.
    """

    def __init__(self, x0: torch.Tensor, *, tol: float, max_iter: int,
                 callback: IterationCallback | None = None) -> None:
        n_cols = x0.shape[1]
        self.scores = x0.clone()
        self.iterations = torch.zeros(n_cols, dtype=torch.int64)
        self.residuals = torch.full((n_cols,), float("inf"), dtype=torch.float64)
        self.active = torch.arange(n_cols)  # original column of each running column (CPU)
        self.tol, self.max_iter, self.callback = tol, max_iter, callback

    def update(self, it: int, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor | None:
        """Record iteration ``it`` (scores ``x`` and L1 changes ``residual`` of the running columns).

        Returns None when every running column goes on, else the mask (on ``x``'s device) of
        those that do: finished columns are stored; an all-false mask means stop.
        """
        res_cpu = residual.cpu()
        self.iterations[self.active] = it
        self.residuals[self.active] = res_cpu
        done = res_cpu < self.tol
        if self.callback is not None:
            self.callback(it, float(res_cpu.max()), int(self.active.numel()))
        if not (bool(done.any()) or it == self.max_iter):
            return None
        finished = torch.ones_like(done) if it == self.max_iter else done
        self.scores[:, self.active[finished].to(x.device)] = x[:, finished.to(x.device)]
        keep = ~finished
        self.active = self.active[keep]
        return keep.to(x.device)

    def result(self) -> PageRankResult:
        return PageRankResult(scores=self.scores, iterations=self.iterations, residuals=self.residuals,
                              converged=self.residuals < self.tol)


def iterate(transition: torch.Tensor, x0: torch.Tensor, teleport: torch.Tensor, dangling: torch.Tensor, *,
            alpha: float, tol: float, max_iter: int, callback: IterationCallback | None = None,
            step=pagerank_step) -> PageRankResult:
    """Repeat :func:`ranker.kernels.pagerank_step` from ``x0``, each column until its L1 change < ``tol``.

    A column leaves the batch as soon as it converges. Shared by the power solver and the
    cyclic-core iteration of :mod:`ranker.dag`.
    """
    cols = ColumnTracker(x0, tol=tol, max_iter=max_iter, callback=callback)
    x = x0.clone()
    v = teleport
    for it in range(1, max_iter + 1):
        x, res = step(transition, x, v, dangling, alpha)
        keep = cols.update(it, x, res)
        if keep is None:
            continue
        if not bool(keep.any()):
            break
        x, v = x[:, keep].contiguous(), v[:, keep].contiguous()
    return cols.result()


def pagerank(graph: CitationGraph, *, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 1000,
             dtype: torch.dtype = torch.float64, callback: IterationCallback | None = None) -> PageRankResult:
    """Global PageRank (uniform teleport): :func:`personalized_pagerank` with one uniform column."""
    return personalized_pagerank(graph, uniform_teleport(graph.n, dtype=dtype, device=graph.device),
                                 alpha=alpha, tol=tol, max_iter=max_iter, callback=callback)

"""PageRank over row blocks: per iteration one local sparse x dense product, one ``all_gather``
of the score blocks and small ``all_gather`` s of partial sums (dangling mass and residual).

Everything here equals the single-process solver to rounding: the tests compare 2 and 3
processes with one, to 1e-12 in float64.
"""


from __future__ import annotations

import logging

import torch

from ..kernels.step import column_sums, pagerank_step
from ..solvers.iteration import IterationCallback, PageRankResult, power_iteration
from .comm import Comm
from .partition import PartitionedGraph

log = logging.getLogger("ranker")


# --------------------------------------------------------------------------- the solver


def partitioned_pagerank(graph: PartitionedGraph, teleport: torch.Tensor, comm: Comm, *, alpha: float = 0.85,
                         tol: float = 1e-10, max_iter: int = 1000,
                         callback: IterationCallback | None = None) -> PageRankResult:
    """Batched personalized PageRank over the ranks: this rank's rows of every column.

    Parameters
    ----------
    graph : PartitionedGraph
    teleport : torch.Tensor
        ``[m, B]`` this block's rows of the teleport columns (each whole column sums to 1;
        :func:`ranker.solvers.power.seed_teleport` with ``rows = (graph.lo, graph.hi)``).
    comm : Comm or SoloComm
    alpha, tol, max_iter, callback :
        As :func:`ranker.solvers.power.personalized_pagerank`; ``tol`` applies to the L1 change of a
        whole column, summed over the ranks.

    Returns
    -------
    PageRankResult
        ``scores [m, B]`` (this block's rows); iterations, residuals and convergence are the
        same on every rank.

    Notes
    -----
    :func:`ranker.solvers.power.power_iteration` with the row-block hooks of :func:`ranker.kernels.pagerank_step`:
    ``x_r <- alpha P^T_r x + (alpha d(x) + 1 - alpha) v_r``. Each rank multiplies its row block
    by the whole ``x`` (one ``all_gather`` of the blocks, padded to the largest), and the partial
    sums of the dangling mass and of ``|x'_r - x_r|`` are gathered and summed in rank order, so
    every rank takes the same decisions. A column leaves the batch once it converges, on every
    rank at once. On one process (:class:`ranker.parallel.comm.SoloComm`) both hooks are the
    identity and the iteration is :func:`ranker.solvers.power.personalized_pagerank`'s, bit for bit.
    """
    m = teleport.shape[0]
    assert m == graph.m and teleport.dtype in (torch.float32, torch.float64)
    comm.stage = "solve"
    rows = graph.max_rows

    def step(transition: torch.Tensor, x: torch.Tensor, v: torch.Tensor, dangling: torch.Tensor, a: float,
             rhs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return pagerank_step(transition, x, v, dangling, a, gather=lambda block: comm.all_gather_rows(block, rows),
                             reduce=comm.sum_in_rank_order, rhs=rhs)

    return power_iteration(graph.transition, teleport, graph.dangling.to(graph.device), alpha=alpha, tol=tol,
                           max_iter=max_iter, callback=callback, step=step, reduce=comm.sum_in_rank_order)


def column_totals(graph: PartitionedGraph, block: torch.Tensor, comm: Comm) -> torch.Tensor:
    """``float64 [B]`` whole-column sums of a row-partitioned ``[m, B]`` tensor, the same on every rank."""
    return comm.sum_in_rank_order(column_sums(block).to(graph.device)).cpu()

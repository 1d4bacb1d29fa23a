"""Global and batched personalized PageRank by power iteration over CSR tensors.

Pure functions: tensors and parameters in, tensors out. No files, ids or configuration.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import ConfigError
from .graph import CitationGraph, inverse_out_weight, largest_weight
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


def tolerance_floor(dtype: torch.dtype, n: int) -> float:
    """The smallest L1 change per iteration a solve in ``dtype`` over ``n`` papers can be asked for.

    Each iteration rounds every score with a relative error of a few machine epsilons, so
    the L1 change of a converged vector (whose entries sum to 1) stalls near
    ``eps * log2(n)``: about ``2e-6`` for float32 and ``4e-15`` for float64 at 27k papers.
    A ``tol`` below that could never be reached.
    """
    eps = torch.finfo(dtype).eps
    return float(eps * max(1.0, math.log2(max(n, 2))))


def check_tolerance(tol: float, dtype: torch.dtype, n: int) -> None:
    """Raise :class:`ranker.errors.ConfigError` when ``tol`` is below :func:`tolerance_floor`."""
    floor = tolerance_floor(dtype, n)
    if tol < floor:
        name = str(dtype).removeprefix("torch.")
        raise ConfigError(f"[rank] tol = {tol:g} cannot be reached in {name} over {n:,} papers: the L1 change of an "
                          f"iteration stalls near {floor:.1e} from rounding; set tol >= {floor:.1e} or "
                          "dtype = 'float64'")


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
    check_teleport(teleport, graph.n)
    step = pagerank_step
    if kernel == "triton":
        step = _triton_step(graph, teleport.dtype)
    return iterate(graph.transition(teleport.dtype), teleport, teleport, graph.dangling, alpha=alpha, tol=tol,
                   max_iter=max_iter, callback=callback, step=step, lanes=LANES if batch_invariant else 1)


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

    With ``lanes > 1`` the running width stays a multiple of ``lanes``: finished columns are
    kept in the batch as padding (their results are already stored and no longer recorded),
    so that every product a column takes part in has a width the kernel treats alike
    (:data:`LANES`). ``x0``'s width must then be a multiple of ``lanes``; columns
    ``n_real..`` are padding from the start.
    """

    def __init__(self, x0: torch.Tensor, *, tol: float, max_iter: int,
                 callback: IterationCallback | None = None, lanes: int = 1, n_real: int | None = None) -> None:
        n_cols = x0.shape[1]
        n_real = n_cols if n_real is None else n_real
        assert lanes == 1 or n_cols % lanes == 0, "a padded batch's width is a multiple of its lanes"
        self.scores = x0[:, :n_real].clone()
        self.iterations = torch.zeros(n_real, dtype=torch.int64)
        self.residuals = torch.full((n_real,), float("inf"), dtype=torch.float64)
        # original column of each running column, -1 for padding (CPU)
        self.active = torch.cat([torch.arange(n_real), torch.full((n_cols - n_real,), -1)])
        self.tol, self.max_iter, self.callback, self.lanes = tol, max_iter, callback, lanes

    def update(self, it: int, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor | None:
        """Record iteration ``it`` (scores ``x`` and L1 changes ``residual`` of the running columns).

        Returns None when every running column goes on, else the mask (on ``x``'s device) of
        those that do (padding included): finished columns are stored; a mask with no real
        column left means stop.
        """
        res_cpu = residual.cpu()
        real = self.active >= 0
        cols = self.active[real]
        self.iterations[cols] = it
        self.residuals[cols] = res_cpu[real]
        done = (res_cpu < self.tol) & real
        if self.callback is not None:
            self.callback(it, float(res_cpu[real].max()), int(cols.numel()))
        if not (bool(done.any()) or it == self.max_iter):
            return None
        finished = real.clone() if it == self.max_iter else done
        self.scores[:, self.active[finished].to(x.device)] = x[:, finished.to(x.device)]
        keep = real & ~finished
        n_keep = int(keep.sum())
        if n_keep and n_keep % self.lanes:  # pad back to a multiple of the lanes with columns not kept
            spare = torch.nonzero(~keep).flatten()[: self.lanes - n_keep % self.lanes]
            self.active[spare] = -1
            keep[spare] = True
        elif not n_keep:
            keep[:] = False
        self.active = self.active[keep]
        return keep.to(x.device)

    def result(self) -> PageRankResult:
        return PageRankResult(scores=self.scores, iterations=self.iterations, residuals=self.residuals,
                              converged=self.residuals < self.tol)


def pad_columns(t: torch.Tensor, lanes: int) -> torch.Tensor:
    """``t [n, B]`` widened to a multiple of ``lanes`` columns with copies of its first column."""
    missing = (-t.shape[1]) % lanes
    if not missing:
        return t
    return torch.cat([t, t[:, :1].expand(t.shape[0], missing)], 1)


def iterate(transition: torch.Tensor, x0: torch.Tensor, teleport: torch.Tensor, dangling: torch.Tensor, *,
            alpha: float, tol: float, max_iter: int, callback: IterationCallback | None = None,
            step=pagerank_step, lanes: int = 1) -> PageRankResult:
    """Repeat :func:`ranker.kernels.pagerank_step` from ``x0``, each column until its L1 change < ``tol``.

    A column leaves the batch as soon as it converges. Shared by the power solver and the
    Jacobi iteration inside the components of :mod:`ranker.dag`. With ``lanes > 1`` every product has a width
    that is a multiple of ``lanes`` (columns are padded, see :class:`ColumnTracker`), which
    makes each column's result independent of its batch.
    """
    n_real = x0.shape[1]
    if lanes > 1:
        x0, teleport = pad_columns(x0, lanes), pad_columns(teleport, lanes)
    cols = ColumnTracker(x0, tol=tol, max_iter=max_iter, callback=callback, lanes=lanes, n_real=n_real)
    x = x0.clone()
    v = teleport
    for it in range(1, max_iter + 1):
        x, res = step(transition, x, v, dangling, alpha)
        keep = cols.update(it, x, res)
        if keep is None:
            continue
        if not bool((cols.active >= 0).any()):
            break
        x, v = x[:, keep].contiguous(), v[:, keep].contiguous()
    return cols.result()


def pagerank(graph: CitationGraph, *, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 1000,
             dtype: torch.dtype = torch.float64, callback: IterationCallback | None = None) -> PageRankResult:
    """Global PageRank (uniform teleport): :func:`personalized_pagerank` with one uniform column."""
    return personalized_pagerank(graph, uniform_teleport(graph.n, dtype=dtype, device=graph.device),
                                 alpha=alpha, tol=tol, max_iter=max_iter, callback=callback)

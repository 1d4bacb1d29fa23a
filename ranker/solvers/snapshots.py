"""PageRank of the citation record as it stood at the end of each year, every year in one batched solve.

Pure functions over a :class:`ranker.graph.CitationGraph` and each paper's year; the job's
``[trajectories]`` stage (:mod:`ranker.job.trajectories`) reads the years and writes the table.

The record at the end of year ``Y`` is the subgraph of papers dated ``<= Y`` and the citations
among them. Its PageRank solves ``(I - alpha P_Y^T) y = v_Y`` (then ``x = y / 1^T y``), where
``v_Y`` teleports over papers ``<= Y`` only. Papers cite older papers, so ``P_Y^T`` is ``P^T``
with two corrections, the same for every year but for their extent:

- rows of papers after ``Y`` are zero (they hold no score in that year);
- a paper that cites *newer* papers (revised preprints, in press lists) has fewer references in
  year ``Y``'s record than in the whole graph: its column of ``P^T`` is scaled by its whole
  out-weight over the out-weight left in the record, ``1 / sum_{i <= Y} P^T[i, j]``, and it is
  dangling in that year when nothing is left.

So every year is one column of a batched solve over the same graph: the power method
(:func:`snapshot_pagerank`, ``method="power"``, any device) or the exact sweep over the
condensation (``method="sweep"``, :mod:`ranker.kernels.snapshot_sweep`, the CPU), each column
alone. The plan of the whole graph is valid for every year's record (its citations are a subset).

References
----------
L. Page, S. Brin, R. Motwani, T. Winograd, "The PageRank citation ranking: bringing order to the
web", Stanford InfoLab, 1999. M. S. Mariani, M. Medo, Y.-C. Zhang, "Ranking nodes in growing
networks: when PageRank fails", Scientific Reports 5, 16181 (2015): rankings of a citation
network's past states.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import torch

from ..graph import CitationGraph, inverse_out_weight
from ..kernels.step import column_sums
from .iteration import IterationCallback, PageRankResult, iterate
from .paper_rankers import DAYS_PER_YEAR, citerank_teleport
from .power import LANES, check_teleport, check_walk

#: Implementations of :func:`snapshot_pagerank`.
METHODS = ("auto", "sweep", "power")


@dataclass
class Snapshots:
    """What differs between the columns of a trajectory solve.

    Attributes
    ----------
    year : torch.Tensor
        ``int64 [n]``: each paper's year.
    caps : torch.Tensor
        ``int64 [B]``: the last year of each column's record.
    forward : torch.Tensor
        ``int64 [f]``: the papers that cite a newer paper.
    scale : torch.Tensor
        ``float64 [f, B]``: the factor of each such paper's column of ``P^T`` in each record
        (``1 / sum_{i <= cap} P^T[i, j]``), 0 where it cites nothing in the record.
    row : torch.Tensor
        ``int64 [n]``: each paper's row of ``scale`` (-1 for papers citing no newer paper).
    """

    year: torch.Tensor
    caps: torch.Tensor
    forward: torch.Tensor
    scale: torch.Tensor
    row: torch.Tensor


def snapshot_columns(graph: CitationGraph, year: torch.Tensor, caps: torch.Tensor, *,
                     compiled: bool = True) -> Snapshots:
    """The per-column corrections of :func:`snapshot_pagerank` (see :class:`Snapshots`).

    On the CPU two compiled passes over the citations
    (:func:`ranker.kernels.snapshot_sweep.forward_scales`); elsewhere, or with ``compiled=False``,
    torch's gathers (the reference): the citations to newer papers, then those of the papers
    making them summed per column.
    """
    year = year.to(graph.device, torch.int64)
    caps = caps.to(graph.device, torch.int64)
    if compiled and graph.device.type == "cpu":
        from ..kernels.snapshot_sweep import forward_scales

        val = (graph.transition(torch.float64).values() if graph.weight is not None
               else torch.zeros(0, dtype=torch.float64))
        row, forward, scale = forward_scales(graph.crow.numpy(), graph.col.numpy(), val.numpy(),
                                             inverse_out_weight(graph.out_weight).to(torch.float64).numpy(),
                                             year.numpy(), caps.numpy())
        return Snapshots(year=year, caps=caps, forward=torch.from_numpy(forward), scale=torch.from_numpy(scale),
                         row=torch.from_numpy(row))
    cited = graph.row_index().long()
    citing = graph.col.long()
    forward = torch.unique(citing[year.index_select(0, cited) > year.index_select(0, citing)])
    f = int(forward.numel())
    scale = torch.zeros((f, int(caps.numel())), dtype=torch.float64, device=graph.device)
    position = torch.full((graph.n,), -1, dtype=torch.int64, device=graph.device)
    position[forward] = torch.arange(f, device=graph.device)
    if f:
        mine = position.index_select(0, citing) >= 0
        who = position.index_select(0, citing[mine])
        value = graph.transition(torch.float64).values()[mine]
        when = year.index_select(0, cited[mine])
        for b in range(int(caps.numel())):
            kept = torch.zeros(f, dtype=torch.float64, device=graph.device)
            kept.index_add_(0, who, torch.where(when <= caps[b], value, torch.zeros_like(value)))
            scale[:, b] = torch.where(kept > 0, 1.0 / kept.clamp_min(torch.finfo(torch.float64).tiny),
                                      torch.zeros_like(kept))
    return Snapshots(year=year, caps=caps, forward=forward, scale=scale, row=position)


def year_end_day(year: int) -> float:
    """Days from 1970-01-01 to the first day after ``year`` (the end of that year)."""
    return float((datetime.date(int(year) + 1, 1, 1) - datetime.date(1970, 1, 1)).days)


def snapshot_teleport(year: torch.Tensor, caps: torch.Tensor, *, days: torch.Tensor | None = None,
                      tau: float | None = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[n, B]`` teleport columns, each over the papers of its year's record.

    Uniform (PageRank), or with ``days`` (each paper's publication day) and ``tau`` CiteRank's
    ``exp(-age / tau)`` with ages measured from the end of each column's year
    (:func:`ranker.solvers.paper_rankers.citerank_teleport`).
    """
    alive = year.unsqueeze(1) <= caps.unsqueeze(0).to(year.device)
    if days is None:
        v = alive.to(torch.float64)
        v /= v.sum(0).clamp_min(1.0)
        return v.to(dtype)
    assert tau is not None
    v = torch.zeros(alive.shape, dtype=torch.float64, device=year.device)
    for b, cap in enumerate(caps.tolist()):
        rows = torch.nonzero(alive[:, b]).flatten()
        if rows.numel():
            age = (year_end_day(cap) - days.index_select(0, rows).to(torch.float64)) / DAYS_PER_YEAR
            v[rows, b] = citerank_teleport(age, tau)[:, 0]
    return v.to(dtype)


def snapshot_pagerank(graph: CitationGraph, year: torch.Tensor, caps: torch.Tensor,
                      teleport: torch.Tensor | None = None, *, alpha: float = 0.85, tol: float = 1e-10,
                      max_iter: int = 1000, method: str = "auto", callback: IterationCallback | None = None,
                      batch_invariant: bool = False) -> PageRankResult:
    """PageRank of each year's citation record: one column per year, solved together.

    Parameters
    ----------
    graph : CitationGraph
        The whole graph (any numbering; one in level order skips the plan).
    year : torch.Tensor
        ``int64 [n]``: each paper's year.
    caps : torch.Tensor
        ``int64 [B]``: column ``b`` is the record at the end of year ``caps[b]``.
    teleport : torch.Tensor, optional
        ``[n, B]`` float64 (or float32 with ``method="power"``): each column a distribution over
        its record's papers (:func:`snapshot_teleport`; the default is uniform over them).
    alpha, tol, max_iter :
        As :func:`ranker.solvers.power.personalized_pagerank`.
    method : {"auto", "sweep", "power"}
        ``sweep``: the exact sweep over the condensation, each column alone
        (:func:`ranker.kernels.snapshot_sweep.sweep_snapshots`, CPU); ``tol`` bounds the
        Gauss-Seidel change inside components of more than 64 papers, everything else is solved
        exactly. ``power``: power iteration on any device, every column to an L1 change below
        ``tol``. ``auto``: ``sweep`` on the CPU, ``power`` elsewhere.
    callback : callable, optional
        As :func:`ranker.solvers.power.personalized_pagerank` (the sweep calls it once, at the end).
    batch_invariant : bool
        ``power``: each column bit-identical whatever its batch (products padded to
        :data:`ranker.solvers.power.LANES` columns). The sweep always is.

    Returns
    -------
    PageRankResult
        ``scores [n, B]``: column ``b`` sums to 1 over the papers dated ``<= caps[b]`` and is 0
        after; equal to ``networkx.pagerank`` on that year's induced subgraph.

    Notes
    -----
    Column ``b`` is ``x = alpha P_b^T x + (alpha d_b(x) + 1 - alpha) v_b`` with
    ``P_b^T = M_b P^T S_b``: ``M_b`` keeps the rows of papers ``<= caps[b]`` and ``S_b`` scales
    the columns of papers citing newer ones (:func:`snapshot_columns`); ``d_b(x)`` is the score
    on papers that cite nothing in the record.
    """
    check_walk(alpha, tol, max_iter)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    year = year.to(graph.device, torch.int64)
    caps = torch.as_tensor(caps, dtype=torch.int64).to(graph.device)
    if year.shape != (graph.n,):
        raise ValueError(f"year must be [n] with n = {graph.n} papers, got shape {tuple(year.shape)}")
    if teleport is None:
        teleport = snapshot_teleport(year, caps)
    check_teleport(teleport, graph.n)
    if teleport.shape[1] != caps.numel():
        raise ValueError(f"teleport has {teleport.shape[1]} columns for {caps.numel()} years")
    after = year.unsqueeze(1) > caps.unsqueeze(0)
    if bool(((teleport != 0) & after).any()):
        raise ValueError("a teleport column has mass on a paper after its year: a record holds only papers up to "
                         "its year")
    snaps = snapshot_columns(graph, year, caps)
    if method == "auto":
        method = "sweep" if graph.device.type == "cpu" else "power"
    if method == "sweep":
        if graph.device.type != "cpu":
            raise ValueError("method = 'sweep' runs on the CPU; use 'power' on a GPU")
        return _sweep(graph, snaps, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback)
    return _power(graph, snaps, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                  lanes=LANES if batch_invariant else 1)


def _sweep(graph: CitationGraph, snaps: Snapshots, teleport: torch.Tensor, *, alpha: float, tol: float,
           max_iter: int, callback: IterationCallback | None) -> PageRankResult:
    """:func:`snapshot_pagerank` by the compiled sweep, in float64."""
    from ..kernels import snapshot_sweep, sweep
    from .dag import cached_self_shares, compiled_plan, leveled

    g, plan = leveled(graph)
    permuted = graph.segments is None
    perm = plan.perm
    n, n_cols = teleport.shape
    arrays = compiled_plan(g, plan, torch.float64)
    year, fidx, v = snaps.year, snaps.row, teleport.to(torch.float64)
    if permuted:
        year, fidx, v = year.index_select(0, perm), fidx.index_select(0, perm), v.index_select(0, perm)
    shares = cached_self_shares(g)
    y = torch.zeros((n, n_cols), dtype=torch.float64)
    iters = torch.zeros(n_cols, dtype=torch.int64)
    resid = torch.zeros(n_cols, dtype=torch.float64)
    sweep.set_threads(torch.get_num_threads())
    snapshot_sweep.sweep_snapshots(arrays["crow"], arrays["col"], arrays["val"], arrays["col_scale"], arrays["kinds"],
                                   arrays["starts"], arrays["ends"], arrays["icrow"], arrays["icol"], arrays["ival"],
                                   year.numpy(), snaps.caps.numpy(), fidx.numpy(),
                                   snaps.scale.numpy(), shares.numpy(), v.contiguous().numpy(), alpha, tol, max_iter,
                                   sweep.DIRECT_MAX, torch.get_num_threads(), y.numpy(), iters.numpy(),
                                   resid.numpy())
    if callback is not None:
        callback(int(iters.max()) if n_cols else 0, float(resid.max()) if n_cols else 0.0, 0)
    y /= column_sums(y).clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(0)
    if permuted:
        y = y.index_select(0, plan.position)
    return PageRankResult(scores=y.to(teleport.dtype), iterations=iters, residuals=resid, converged=resid < tol)


def _power(graph: CitationGraph, snaps: Snapshots, teleport: torch.Tensor, *, alpha: float, tol: float,
           max_iter: int, callback: IterationCallback | None, lanes: int) -> PageRankResult:
    """:func:`snapshot_pagerank` by power iteration (:func:`ranker.solvers.iteration.iterate`), the corrections
    applied around each product; the step follows which years its running columns are."""
    n_real = teleport.shape[1]
    dtype = teleport.dtype
    a = graph.transition(dtype)
    forward = snaps.forward
    scale = snaps.scale.to(dtype)
    # the year of each running column (padding copies column 0, as iterate pads)
    running = {"column": torch.cat([torch.arange(n_real), torch.zeros((-n_real) % lanes, dtype=torch.int64)])}

    def step(transition: torch.Tensor, x: torch.Tensor, v: torch.Tensor, dangling: torch.Tensor,
             alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        on = running["column"].to(graph.device)
        s = scale.index_select(1, on)
        caps = snaps.caps.index_select(0, on)
        xf = x.index_select(0, forward)
        xs = x.clone()
        xs[forward] = xf * s
        # column sums that do not depend on the batch's width (each column summed alone)
        lost = (column_sums(x.index_select(0, dangling)) + column_sums(xf * (s == 0))).to(x.device, dtype)
        y = torch.sparse.mm(transition, xs)
        del xs
        y.mul_(alpha).masked_fill_(snaps.year.unsqueeze(1) > caps.unsqueeze(0), 0.0)
        y.add_(v * (alpha * lost + (1.0 - alpha)).unsqueeze(0))
        return y, column_sums((y - x).abs_())

    def narrowed(keep: torch.Tensor) -> None:
        running["column"] = running["column"][keep.cpu()]

    res = iterate(a, teleport, teleport, graph.dangling, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                  step=step, lanes=lanes, on_narrow=narrowed)
    res.scores /= column_sums(res.scores).clamp_min(math.ulp(0.0)).to(res.scores.device, dtype).unsqueeze(0)
    return res

"""Citation-specific paper rankers beside plain PageRank: CiteRank, ArticleRank, rescaled PageRank.

Pure functions over tensors; the pipeline chooses one with ``[rank] algorithm``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import CitationGraph, csr_tensor
from .iteration import IterationCallback, PageRankResult, iterate

DAYS_PER_YEAR = 365.25


def citerank_teleport(age_years: torch.Tensor, tau: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[n, 1]`` CiteRank teleport: ``v_i`` proportional to ``exp(-age_i / tau)``.

    Parameters
    ----------
    age_years : torch.Tensor
        ``float64 [n]`` age of each paper in years at the reference date (may be negative
        for papers after it).
    tau : float
        Decay time in years (> 0). Walker et al. fit about 2.6 years on Physical Review.

    Notes
    -----
    The walk restarts at recent papers: a reader starts from a new paper and follows
    references. Dangling papers hand their score to this same teleport, as the solvers do.
    Computed as ``exp(-(age - min age) / tau)`` before normalizing, so that no weight
    underflows to zero for old papers relative to new ones unless it truly is negligible.

    References
    ----------
    D. Walker, H. Xie, K.-K. Yan, S. Maslov, "Ranking scientific publications using a model of
    network traffic", J. Stat. Mech. (2007) P06010.
    """
    assert tau > 0
    w = torch.exp(-(age_years - age_years.min()) / tau)
    return (w / w.sum()).to(dtype).unsqueeze(1)


def articlerank(graph: CitationGraph, *, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 1000,
                dtype: torch.dtype = torch.float64, callback: IterationCallback | None = None) -> PageRankResult:
    """ArticleRank, as Neo4j GDS defines it.

    Returns
    -------
    PageRankResult
        ``scores [n, 1]``, not normalized (a paper nobody cites scores ``1 - alpha``).

    Notes
    -----
    ``x_j = (1 - alpha) + alpha * sum_{i cites j} x_i w_ij / (W_i + mean(W))`` where ``W_i`` is
    paper ``i``'s total out-weight (its number of references when unweighted) and ``mean(W)``
    the mean over all papers. Adding the mean damps the credit a citation from a paper with
    few references passes on. Solved by Jacobi iteration (``x <- b + alpha A' x`` from
    ``x = b``) until the L1 change is below ``tol``; ``A'`` is substochastic, so it converges.

    References
    ----------
    J. Li, P. Willett, "ArticleRank: a PageRank-based alternative to numbers of citations for
    analysing citation networks", Aslib Proceedings 61(6), 2009; Neo4j Graph Data Science,
    "ArticleRank".
    """
    out_w = graph.out_weight
    mean = out_w.mean()
    col = graph.col.long()
    num = torch.ones(graph.nnz, dtype=torch.float64, device=graph.device) if graph.weight is None else graph.weight
    values = (num / (out_w.index_select(0, col) + mean)).to(dtype)
    a = csr_tensor(graph.crow, graph.col, values, (graph.n, graph.n))
    b = torch.full((graph.n, 1), 1.0 - alpha, dtype=dtype, device=graph.device)
    # x <- alpha A' x + b is a pagerank_step with teleport b / (1 - alpha) and no dangling papers
    return iterate(a, b, b / (1.0 - alpha), torch.empty(0, dtype=torch.int64, device=graph.device), alpha=alpha,
                   tol=tol, max_iter=max_iter, callback=callback)


#: The smallest standard deviation of a window, as a fraction of its mean (:func:`rescale_by_time`).
MIN_WINDOW_CV = 0.1


def rescale_by_time(scores: np.ndarray, dates: np.ndarray, window: int, *, whole_ties: bool = False,
                    min_cv: float = MIN_WINDOW_CV) -> np.ndarray:
    """Rescaled PageRank: each score as a z-score among the ``window`` papers closest in time.

    Parameters
    ----------
    scores : numpy.ndarray
        ``float64 [n]`` PageRank scores.
    dates : numpy.ndarray
        ``[n]`` publication times (any sortable numbers, e.g. days); ties keep index order.
    window : int
        Papers per window (``>= 2``); paper ``i`` at position ``r`` in date order is compared
        with positions ``r - window // 2 .. r - window // 2 + window - 1``, shifted to stay
        inside ``0..n-1`` (the whole list when ``n <= window``).
    whole_ties : bool
        Papers with equal dates cannot be told apart in age (dates known only as years): each
        paper's window is widened to hold every paper of its date, and centred on them. Without
        it, a window inside one year is a run of papers in file order, most of them uncited, whose
        standard deviation is near zero: a paper with one citation gets ``z = sqrt(window - 1)``
        (31.6 at 1,000) and tops the ranking.
    min_cv : float
        Floor of each window's standard deviation, as a fraction of the window's mean score:
        ``std_i >= min_cv * mean_i``. A window whose scores vary by less than that holds papers
        cited about equally (in a recent year: nearly all uncited); a difference there is not
        evidence of a milestone, and without the floor one citation gives ``z = sqrt(w - 1)``.
        Real windows vary far more (PageRank is heavy-tailed: a coefficient of variation above
        1), so the floor binds only in such degenerate windows. 0 turns it off.

    Returns
    -------
    numpy.ndarray
        ``float64 [n]``: ``(p_i - mean_i) / max(std_i, min_cv mean_i)``; 0 where the window's scores are all equal.

    Notes
    -----
    Old papers have had longer to collect citations, so plain PageRank favours them. Comparing
    each paper only with papers of the same age removes that bias (Mariani, Medo, Zhang).
    Window means and (population) standard deviations come from prefix sums in float64.

    References
    ----------
    M. S. Mariani, M. Medo, Y.-C. Zhang, "Identification of milestone papers through
    time-balanced network centrality", J. Informetrics 10(4), 2016.
    """
    n = scores.size
    order = np.argsort(dates, kind="stable")
    p = scores[order].astype(np.float64)
    w = np.full(n, min(window, n), dtype=np.int64)
    start = np.clip(np.arange(n) - w // 2, 0, n - w)
    if whole_ties and n:
        d = np.asarray(dates)[order]
        first = np.r_[True, d[1:] != d[:-1]]
        group = np.cumsum(first) - 1
        lo = np.flatnonzero(first)
        hi = np.r_[lo[1:], n]
        g_lo, g_hi = lo[group], hi[group]
        w = np.maximum(w, g_hi - g_lo)
        start = np.clip((g_lo + g_hi) // 2 - w // 2, 0, n - w)
        start = np.minimum(np.maximum(start, g_hi - w), g_lo)  # the whole group lies inside the window
    c1 = np.concatenate([[0.0], np.cumsum(p)])
    c2 = np.concatenate([[0.0], np.cumsum(p * p)])
    mean = (c1[start + w] - c1[start]) / w
    var = np.maximum((c2[start + w] - c2[start]) / w - mean * mean, 0.0)
    std = np.maximum(np.sqrt(var), min_cv * np.abs(mean))
    z = np.divide(p - mean, std, out=np.zeros(n), where=std > 1e-300 + 1e-12 * np.abs(mean))
    out = np.empty(n)
    out[order] = z
    return out

"""The job's side of the registered paper rankers (:mod:`ranker.registry`): what each needs from the job.

Each function here is named by a registry entry; the pure rankers are in :mod:`ranker.solvers.paper_rankers`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..io import has_dates
from ..solvers.iteration import PageRankResult
from ..solvers.paper_rankers import DAYS_PER_YEAR, articlerank, citerank_teleport, rescale_by_time
from .context import JobContext
from .solve_options import walk_settings

log = logging.getLogger("ranker")


def reference_day(reference_date: str, days: np.ndarray) -> float:
    """``[rank] reference_date`` in days since 1970-01-01; the newest paper's day when not given."""
    if not reference_date:
        return float(days.max())
    import datetime

    return float((datetime.date.fromisoformat(reference_date) - datetime.date(1970, 1, 1)).days)


def citerank_teleport_of(ctx: JobContext, graph: Any, dtype: torch.dtype) -> torch.Tensor:
    """CiteRank's teleport: ages from ``[rank] reference_date`` (default the newest paper's day)."""
    rank_cfg = ctx.cfg.rank
    assert ctx.days is not None
    ages = (reference_day(rank_cfg.reference_date, ctx.days) - ctx.days) / DAYS_PER_YEAR
    return citerank_teleport(torch.from_numpy(ages), rank_cfg.tau, dtype=dtype).to(graph.device)


def citerank_snapshots_of(ctx: JobContext, year: torch.Tensor, caps: torch.Tensor, dtype: torch.dtype
                          ) -> torch.Tensor:
    """CiteRank's teleport in each year's record: ages from the end of that year."""
    from ..solvers.snapshots import snapshot_teleport

    assert ctx.days is not None
    days = torch.from_numpy(ctx.days).to(year.device)
    return snapshot_teleport(year, caps, days=days, tau=ctx.cfg.rank.tau, dtype=dtype)


def articlerank_of(graph: Any, rank_cfg: Any, dtype: torch.dtype, callback: Any) -> PageRankResult:
    """ArticleRank with the job's walk settings."""
    return articlerank(graph, **walk_settings(rank_cfg), dtype=dtype, callback=callback)


def rescaled_of(ctx: JobContext, scores: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rescaled PageRank: each score as a z-score within its time window; the PageRank written beside it."""
    cfg = ctx.cfg
    rank_cfg, inp = cfg.rank, cfg.input
    assert ctx.days is not None
    years_only = not has_dates(inp.papers, inp.date_column)
    if years_only:
        log.warning("rescaled_pagerank: %s gives years but no dates (no %r column with values); papers of "
                    "one year cannot be told apart in age, so each is compared with its whole year (at "
                    "least [rank] window papers)", inp.papers, inp.date_column)
    ctx.meta["rescaled"] = {"window": rank_cfg.window, "times": "years" if years_only else "dates"}
    return rescale_by_time(scores, ctx.days, rank_cfg.window, whole_ties=years_only), {"pagerank": scores}

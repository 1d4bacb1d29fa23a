"""The paper rankers a job can run (``[rank] algorithm``): one entry each.

The configuration checks, the engines, the stages and ``rank-citations init``'s template read
what a ranker needs and does from its entry, so adding a ranker is one module with its
functions, one :func:`register` call and its tests. Functions are named as ``"module:function"``
(imported when first used, so reading the configuration imports no solver) or given directly.

Light on purpose: importing this module imports nothing heavy (``ranker.config`` reads the
names at start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PaperRanker:
    """What a paper ranker needs and does.

    Attributes
    ----------
    name : str
        Its ``[rank] algorithm``.
    summary : str
        One line: the formula or what it measures (messages, the template).
    needs_dates : bool
        Every paper needs a date or year in ``[input] papers`` (``ctx.days`` is read at ingest).
    distributed : bool
        It runs under ``torchrun`` (the partitioned power method with a uniform teleport).
    through_time : bool
        ``[trajectories]`` can rank each year's record with it.
    teleport : str or callable
        ``teleport(ctx, graph, dtype) -> [n, 1]`` on the graph's device; empty: uniform.
    snapshot_teleport : str or callable
        ``snapshot_teleport(ctx, year, caps, dtype) -> [n, B]`` for ``[trajectories]``; empty:
        uniform over each year's record.
    solver : str or callable
        ``solver(graph, rank_cfg, dtype, callback) -> PageRankResult``: its own iteration instead
        of :func:`ranker.solvers.choose.solve` with the teleport.
    solver_name : str
        How ``run.json`` names that solver.
    finish : str or callable
        ``finish(ctx, scores) -> (scores, columns)``: papers.parquet's ``score`` from the solved
        scores, and columns to write beside it (name -> array, before ``citations``).
    """

    name: str
    summary: str
    needs_dates: bool = False
    distributed: bool = False
    through_time: bool = False
    teleport: str | Callable[..., Any] = ""
    snapshot_teleport: str | Callable[..., Any] = ""
    solver: str | Callable[..., Any] = ""
    solver_name: str = ""
    finish: str | Callable[..., Any] = ""


#: Every registered ranker, by name, in registration order.
RANKERS: dict[str, PaperRanker] = {}


def register(ranker: PaperRanker) -> PaperRanker:
    """Add ``ranker`` (replacing an entry of the same name) and return it."""
    RANKERS[ranker.name] = ranker
    return ranker


def get_ranker(name: str) -> PaperRanker:
    """The entry of ``name`` (``KeyError`` naming the known ones if there is none)."""
    try:
        return RANKERS[name]
    except KeyError:
        raise KeyError(f"no paper ranker {name!r}; known: {', '.join(RANKERS)}") from None


def function(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """The function an entry names (``"module:function"``), imported on first use; a callable as it is."""
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


register(PaperRanker(
    name="pagerank", summary="x = alpha P^T x + (alpha d(x) + 1 - alpha) / n (Page, Brin, Motwani, Winograd 1999)",
    distributed=True, through_time=True))
register(PaperRanker(
    name="citerank", summary="PageRank teleporting to paper i in proportion to exp(-age_i / tau) (Walker et al. 2007)",
    needs_dates=True, through_time=True, teleport="ranker.job.ranking:citerank_teleport_of",
    snapshot_teleport="ranker.job.ranking:citerank_snapshots_of"))
register(PaperRanker(
    name="articlerank", summary="x_j = (1 - alpha) + alpha sum_i x_i w_ij / (W_i + mean W) (Li, Willett 2009)",
    solver="ranker.job.ranking:articlerank_of", solver_name="power iteration (ArticleRank)"))
register(PaperRanker(
    name="rescaled_pagerank", summary="PageRank as a z-score among the window papers closest in date "
    "(Mariani, Medo, Zhang 2016)", needs_dates=True, finish="ranker.job.ranking:rescaled_of"))

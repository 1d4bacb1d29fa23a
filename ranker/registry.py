"""The paper rankers (``[rank] algorithm``) and author rankers (``[authors] algorithm``) a job can run: one entry each.

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


@dataclass(frozen=True)
class AuthorRanker:
    """What an author ranker needs and does.

    Attributes
    ----------
    name : str
        Its ``[authors] algorithm``.
    summary : str
        One line: what it measures.
    scores : str or callable
        ``scores(ctx, authorships, weight, coauthor_edges, facts) -> [authors]``: each author's
        score (``weight``: each authorship's share under ``[authors] counting``;
        ``coauthor_edges``: the pairs of ``[input] coauthorships``, or None; ``facts``: what
        ``run.json`` records, filled in).
    needs : str
        The input it needs beyond the citations: ``"authorships"``, ``"authorships or
        coauthorships"`` or nothing.
    distributed : bool
        It runs under ``torchrun`` (from the global scores alone, on rank 0).
    """

    name: str
    summary: str
    scores: str | Callable[..., Any]
    needs: str = "authorships"
    distributed: bool = False


#: Every registered author ranker, by name, in registration order.
AUTHOR_RANKERS: dict[str, AuthorRanker] = {}


def register_author(ranker: AuthorRanker) -> AuthorRanker:
    """Add an author ranker (replacing an entry of the same name) and return it."""
    AUTHOR_RANKERS[ranker.name] = ranker
    return ranker


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

register_author(AuthorRanker(
    name="paper_scores", summary="S_A = C^T S_P: the papers' scores shared by the counting rule",
    scores="ranker.job.authors:paper_scores_of", needs="", distributed=True))
register_author(AuthorRanker(
    name="author_pagerank", summary="PageRank on the author citation graph W = C^T E C",
    scores="ranker.job.authors:author_citation_walk"))
register_author(AuthorRanker(
    name="coauthor_pagerank", summary="PageRank on the undirected coauthorship graph",
    scores="ranker.job.authors:coauthor_walk", needs="authorships or coauthorships"))
register_author(AuthorRanker(
    name="coranking", summary="papers and authors ranked by one coupled walk (Zhou et al. 2007)",
    scores="ranker.job.authors:coranking_walk"))

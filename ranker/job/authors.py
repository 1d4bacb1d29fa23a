"""The author stage: credit for authors under ``[authors] algorithm`` and ``counting``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..errors import InputError
from ..graph import CitationGraph, csr_tensor
from ..graph_build import build_graph
from ..io import Authorships, id_kind, read_authorships, read_coauthorships
from ..registry import AUTHOR_RANKERS, function
from ..solvers.author_rankers import author_citation_edges, author_scores, coauthor_edges, coranking, counting_weights
from ..solvers.choose import solve
from ..solvers.iteration import PageRankResult
from ..solvers.power import uniform_teleport
from .checks import convergence_check
from .context import JobContext
from .exclusions import exclude_index
from .solve_options import walk_settings
from .tables import ranked_table

log = logging.getLogger("ranker")


def read_job_authorships(ctx: JobContext) -> Authorships | None:
    """``[input] authorships`` mapped to the graph's papers (collective on several processes), or None."""
    inp = ctx.cfg.input
    if not inp.authorships:
        return None
    return read_authorships(inp.authorships, ctx.engine.lookup(ctx), paper_column=inp.authorship_paper_column,
                            author_column=inp.author_column, position_column=inp.position_column)


def read_job_coauthorships(ctx: JobContext) -> tuple[pa.Array, pa.Array, np.ndarray] | None:
    """``[input] coauthorships`` when the author algorithm walks on them, else None."""
    inp = ctx.cfg.input
    if not inp.coauthorships or ctx.cfg.authors.algorithm not in ("coauthor_pagerank", "coranking"):
        return None
    return read_coauthorships(inp.coauthorships)


def merge_coauthorships(path: str, pairs: tuple[pa.Array, pa.Array, np.ndarray], auth: Authorships,
                        have_authorships: bool) -> tuple:
    """Authors of ``auth`` plus those of the coauthorships ``pairs`` in one dictionary (``auth``'s
    first, indices unchanged), and the coauthorship edges in both directions, self-pairs dropped."""
    a, b, w = pairs
    if have_authorships:
        ka, kb = id_kind(auth.authors.type), id_kind(a.type)
        if len(a) and ka != kb:
            raise InputError(f"{path}: {kb} author ids, but the authorships have {ka} ids")
    base = auth.authors if len(auth.authors) else pa.array([], a.type)
    merged = pc.dictionary_encode(pa.concat_arrays([base.cast(a.type), a, b]))
    codes = merged.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    k, m = len(base), len(a)
    ca, cb = codes[k:k + m], codes[k + m:]
    keep = ca != cb
    ca, cb, w = ca[keep], cb[keep], w[keep]
    auth = Authorships(auth.paper, auth.author, auth.position, merged.dictionary, auth.skipped_rows)
    return auth, (np.concatenate([ca, cb]), np.concatenate([cb, ca]), np.concatenate([w, w]))


def rank_authors(ctx: JobContext) -> None:
    """Author credit under ``[authors] counting``; stages authors.parquet (and coranking_papers.parquet)."""
    cfg, ids = ctx.cfg, ctx.ids
    assert ids is not None and ctx.scores is not None
    inp = cfg.input
    algo = cfg.authors.algorithm
    auth, co_edges = ctx.authorships, None
    if auth is None:
        none = np.zeros(0, np.int64)
        auth = Authorships(none, none, none, pa.array([], pa.large_string()))
    if ctx.coauthorships is not None:
        auth, co_edges = merge_coauthorships(inp.coauthorships, ctx.coauthorships, auth, bool(inp.authorships))
    rule = cfg.authors.counting
    weight = counting_weights(auth.paper, auth.position, rule)
    n_authors = len(auth.authors)
    facts: dict[str, Any] = {"algorithm": algo, "counting": rule}
    scores = function(AUTHOR_RANKERS[algo].scores)(ctx, auth, weight, co_edges, facts)
    scores_np = scores.cpu().numpy()
    papers = np.bincount(auth.author, minlength=n_authors)
    kind = id_kind(auth.authors.type) or "string"
    excl = exclude_index(cfg.output.exclude_ids, auth.authors, kind)
    authors_out = auth.authors.cast(pa.string()) if kind == "string" else auth.authors
    table = ranked_table(authors_out, scores_np, scores_np, excl, {"papers": papers.astype(np.float64)})
    table = table.rename_columns(["author", "score", "rank", "share", "papers"])
    table = table.set_column(4, "papers", table.column("papers").cast(pa.int64()))
    facts.update(authors=n_authors, authorships=int(auth.paper.size), skipped_rows=auth.skipped_rows)
    log.info("authors: %d authors over %d authorships (%s counting), %d rows naming papers outside the graph "
             "skipped", n_authors, auth.paper.size, rule, auth.skipped_rows)
    ctx.meta["authors"] = facts
    ctx.write_table("authors", table, authors=facts)


def paper_scores_of(ctx: JobContext, auth: Authorships, weight: np.ndarray, co_edges: Any,
                    facts: dict[str, Any]) -> torch.Tensor:
    """``paper_scores``: each author's share of the papers' global scores (``S_A = C^T S_P``)."""
    assert ctx.scores is not None
    return author_scores(auth.paper, auth.author, weight, torch.from_numpy(ctx.scores)[:, None],
                         len(auth.authors))[:, 0]


def author_citation_walk(ctx: JobContext, auth: Authorships, weight: np.ndarray, co_edges: Any,
                         facts: dict[str, Any]) -> torch.Tensor:
    """``author_pagerank``: PageRank on the author citation graph (author A cites B through their papers,
    weighted by the counting rule)."""
    graph = ctx.engine.graph
    assert graph is not None
    values = (torch.ones(graph.nnz, dtype=torch.float64, device=graph.device) if graph.weight is None
              else graph.weight)
    cited_t = csr_tensor(graph.crow.long(), graph.col.long(), values, (graph.n, graph.n))
    citing, cited, w = author_citation_edges(cited_t, auth.paper, auth.author, weight, len(auth.authors))
    return _walk(ctx, _author_graph(ctx, auth, citing, cited, w), facts)


def coauthor_walk(ctx: JobContext, auth: Authorships, weight: np.ndarray, co_edges: Any,
                  facts: dict[str, Any]) -> torch.Tensor:
    """``coauthor_pagerank``: PageRank on the undirected coauthorship graph."""
    return _walk(ctx, _coauthor_graph(ctx, auth, co_edges, facts), facts)


def coranking_walk(ctx: JobContext, auth: Authorships, weight: np.ndarray, co_edges: Any,
                   facts: dict[str, Any]) -> torch.Tensor:
    """``coranking``: papers and authors ranked by one coupled walk over the citation and coauthorship
    graphs; the papers' side is staged as coranking_papers.parquet."""
    cfg, ids, graph = ctx.cfg, ctx.ids, ctx.engine.graph
    assert ids is not None and graph is not None
    rank_cfg = cfg.rank
    ag = _coauthor_graph(ctx, auth, co_edges, facts)
    p_scores, scores, it, resid = coranking(graph.transition(torch.float64), graph.dangling,
                                            ag.transition(torch.float64), ag.dangling, auth.paper,
                                            auth.author, jump=cfg.authors.jump, **walk_settings(rank_cfg))
    res = PageRankResult(scores=scores[:, None], iterations=torch.tensor([it]),
                         residuals=torch.tensor([resid], dtype=torch.float64),
                         converged=torch.tensor([resid < rank_cfg.tol]))
    convergence_check(res, ["coranking"], rank_cfg.tol, rank_cfg.on_nonconvergence)
    p_np = p_scores.cpu().numpy()
    facts["paper_output"] = str(ctx.out_dir / "coranking_papers.parquet")
    facts["jump"] = cfg.authors.jump
    ctx.write_table("coranking_papers", ranked_table(ids.output_ids(), p_np, p_np, ctx.excluded), authors=facts)
    return _walked(ag, res, facts, "coranking")


def _author_graph(ctx: JobContext, auth: Authorships, citing: Any, cited: Any, w: Any) -> CitationGraph:
    graph = ctx.engine.graph
    assert graph is not None
    return build_graph(citing, cited, len(auth.authors), w, duplicates="sum", device=graph.device)


def _coauthor_graph(ctx: JobContext, auth: Authorships, co_edges: Any, facts: dict[str, Any]) -> CitationGraph:
    """The coauthorship graph: from ``[input] coauthorships`` when given, else from the authorships."""
    cfg, graph = ctx.cfg, ctx.engine.graph
    assert graph is not None
    if co_edges is not None:
        citing, cited, w = co_edges
        facts["coauthorships"] = cfg.input.coauthorships
    else:
        cited, citing, w = coauthor_edges(auth.paper, auth.author, graph.n, len(auth.authors),
                                          cfg.authors.coauthor_weight)
        facts["coauthor_weight"] = cfg.authors.coauthor_weight
    return _author_graph(ctx, auth, citing, cited, w)


def _walk(ctx: JobContext, ag: CitationGraph, facts: dict[str, Any]) -> torch.Tensor:
    """Global PageRank on an author graph, by the job's method and settings."""
    rank_cfg, algo = ctx.cfg.rank, ctx.cfg.authors.algorithm
    res = solve(ag, uniform_teleport(ag.n, device=ag.device), method=rank_cfg.method, **walk_settings(rank_cfg))
    convergence_check(res, [algo], rank_cfg.tol, rank_cfg.on_nonconvergence)
    return _walked(ag, res, facts, algo)


def _walked(ag: CitationGraph, res: PageRankResult, facts: dict[str, Any], algo: str) -> torch.Tensor:
    facts.update(author_edges=ag.nnz, iterations=int(res.iterations[0]), residual=float(res.residuals[0]))
    log.info("%s: %d authors, %d author edges, %d iterations", algo, ag.n, ag.nnz, int(res.iterations[0]))
    return res.scores[:, 0]

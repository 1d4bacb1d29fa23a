"""The stages of a job, in order, with what each needs: the one list a job on one process and on many runs.

A :class:`Stage` says when it runs (from the configuration), whether rank 0 runs it alone
(it writes files; the other ranks wait for its outcome, :meth:`ranker.parallel.comm.Comm.phase`)
or every rank together (it is collective), and why it needs one process, if it does. The
runner (:mod:`ranker.job.runner`) walks the list; nothing else decides where work happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from ..config import JobConfig
from ..errors import ConfigError, InputError
from ..io import id_kind, open_parquet, read_paper_facts, read_seeds
from ..io.checkpoints import job_fingerprint
from ..io.listing import citation_files
from ..percentiles import as_nullable, group_percentiles
from ..registry import AUTHOR_RANKERS, function, get_ranker
from .authors import rank_authors, read_job_authorships, read_job_coauthorships
from .checks import check_finite
from .context import JobContext
from .credit import assign_credit, read_targets
from .exclusions import exclude_matches, unmatched_excluded
from .personalize import rank_seed_sets
from .tables import RankedRows, with_facts_by_row, with_paper_facts
from .trajectories import YEAR_KEY, check_trajectories, key_codes, rank_years

log = logging.getLogger("ranker")


@dataclass(frozen=True)
class Stage:
    """One step of a job.

    Attributes
    ----------
    name : str
        For logs and messages.
    run : callable
        ``run(ctx)``.
    enabled : callable
        ``enabled(cfg)``: whether this job has the stage.
    root_only : bool
        Rank 0 runs it alone (it reads or writes files the others do not need).
    one_process : callable
        ``one_process(cfg)``: why the stage cannot run on several processes under this
        configuration, as the start of a message (``"[credit]"``); empty when it can.
    validates : bool
        A check before the first solve: ``rank-citations validate`` runs it (and nothing after).
    """

    name: str
    run: Callable[[JobContext], None]
    enabled: Callable[[JobConfig], bool] = lambda cfg: True
    root_only: bool = False
    one_process: Callable[[JobConfig], str] = lambda cfg: ""
    validates: bool = False


def check_input_files(ctx: JobContext) -> None:
    """Every input file opened and its columns checked (names and types from the parquet footers),
    before the citations are read."""
    cfg = ctx.cfg
    inp = cfg.input
    ctx.files = citation_files(inp.citations)
    if inp.papers:
        open_parquet(inp.papers, {inp.paper_id_column: "id"}, role="papers")
    if inp.authorships:  # an author id inside a list of records (OpenAlex) is checked as it is read
        nested = "." in inp.author_column
        open_parquet(inp.authorships, {inp.authorship_paper_column: "id", **({} if nested else {
            inp.author_column: "id"})}, role="authorships")
    if inp.coauthorships:
        open_parquet(inp.coauthorships, {"author_a": "id", "author_b": "id"}, role="coauthorships")
    if cfg.personalize is not None:
        pers_cfg = cfg.personalize
        open_parquet(pers_cfg.seeds, {pers_cfg.seed_set_column: "text", pers_cfg.paper_id_column: "id"}, role="seeds")
    if cfg.credit is not None:
        open_parquet(cfg.credit.targets, {cfg.credit.target_column: "id"}, role="targets")
    if cfg.output.normalize_by or cfg.trajectories is not None:
        names = open_parquet(inp.papers, {inp.paper_id_column: "id"}, role="papers").file.schema_arrow.names
        if not {inp.year_column, inp.date_column} & set(names):
            what = "[trajectories]" if cfg.trajectories is not None else "[output] normalize_by"
            raise InputError(f"{inp.papers}: {what} needs each paper's year, from a {inp.year_column!r} or "
                             f"{inp.date_column!r} column; columns are {', '.join(names)}")
        for key in cfg.output.normalize_by:
            if key != YEAR_KEY and key not in names:
                raise InputError(f"{inp.papers}: no column {key!r} (named in [output] normalize_by); columns are "
                                 f"{', '.join(names)}")


def generate(ctx: JobContext) -> None:
    from ..progress import progress_bar
    from ..synthetic import SyntheticSpec
    from ..synthetic import generate as generate_graph

    syn = ctx.cfg.input.synthetic
    assert syn is not None
    spec = SyntheticSpec(papers=syn.papers, mean_references=syn.mean_references, seed=syn.seed,
                         seed_sets=syn.seed_sets)
    with ctx.stages("generate"), progress_bar("generate", syn.papers, enabled=ctx.show) as advance:
        manifest = generate_graph(syn.dir, spec, progress=advance)
    log.info("synthetic data in %s: %d papers, %d citations", syn.dir, manifest["papers"], manifest["citations"])


def list_inputs(ctx: JobContext) -> None:
    """The input files, checked; the personalized checkpoints are bound to them (and to the job's settings)."""
    check_input_files(ctx)
    ctx.meta["input_files"] = ctx.files
    if ctx.cfg.personalize is not None or ctx.cfg.trajectories is not None:
        ctx.checkpoint_job = job_fingerprint(ctx.cfg, ctx.files, ctx.comm.world_size)


def ingest(ctx: JobContext) -> None:
    ctx.engine.ingest(ctx)


def check_ids(ctx: JobContext) -> None:
    """Every id the job names, looked up in the graph before any solve: excluded ids, authorships,
    coauthorships, seeds and credit targets. A bad one stops the job here, with nothing solved."""
    cfg, engine = ctx.cfg, ctx.engine
    ctx.excluded, matched = engine.exclude_index(ctx)
    if ctx.excluded.size >= engine.n:
        raise ConfigError(f"[output] exclude_ids covers all {engine.n} papers of the graph: nothing would be left "
                          "to rank")
    ctx.authorships = read_job_authorships(ctx)
    ctx.coauthorships = read_job_coauthorships(ctx)
    if cfg.output.exclude_ids and not matched.all():
        authors = [a for a in (ctx.authorships.authors if ctx.authorships is not None else None,
                               *(ctx.coauthorships[:2] if ctx.coauthorships is not None else ())) if a is not None]
        for names in authors:
            matched |= exclude_matches(cfg.output.exclude_ids, names, id_kind(names.type) or "string")[1]
        unmatched_excluded(cfg.output.exclude_ids, matched, "paper or author" if authors else "paper")
    if cfg.personalize is not None:
        pers_cfg = cfg.personalize
        ctx.seeds = read_seeds(pers_cfg.seeds, engine.lookup(ctx), seed_set_column=pers_cfg.seed_set_column,
                               paper_id_column=pers_cfg.paper_id_column, weight_column=pers_cfg.weight_column)
    if cfg.credit is not None:
        ctx.targets = read_targets(ctx)
    if cfg.trajectories is not None:
        check_trajectories(ctx)


def order(ctx: JobContext) -> None:
    ctx.engine.order(ctx)


def rank(ctx: JobContext) -> None:
    ctx.engine.rank(ctx)
    assert ctx.result is not None
    ctx.meta["global"] = {"iterations": int(ctx.result.iterations[0]), "residual": float(ctx.result.residuals[0]),
                          "converged": bool(ctx.result.converged[0])}


def write_papers(ctx: JobContext) -> None:
    """papers.parquet: every paper (less the excluded) by global score, with its citations and the
    papers file's year, date and title where it has them."""
    cfg = ctx.cfg
    rank_cfg, inp = cfg.rank, cfg.input
    assert ctx.ids is not None and ctx.scores is not None and ctx.citations is not None
    check_finite(torch.from_numpy(ctx.scores), rank_cfg.algorithm)
    with ctx.stages("write papers"):
        scores, mass, columns = ctx.scores, ctx.scores, {}
        entry = get_ranker(rank_cfg.algorithm)
        if entry.finish:  # papers.parquet's score from the solved one (rescaled PageRank's z-scores)
            scores, columns = function(entry.finish)(ctx, scores)
            columns = dict(columns)
        columns["citations"] = ctx.citations
        if cfg.output.normalize_by:  # within year (and field): NaN here, null in the file
            codes = key_codes(ctx).copy()
            codes[ctx.excluded] = -1
            columns["percentile"] = group_percentiles(scores, codes)
            columns["citations_percentile"] = group_percentiles(ctx.citations.astype(np.float64), codes)
        by_row = bool(inp.papers) and ctx.file_papers > 0  # the papers file's rows are known nodes, one process
        if by_row:
            columns["__row"] = ctx.ingest_perm if ctx.ingest_perm is not None else np.arange(len(ctx.ids))
        rows = RankedRows.sort(ctx.ids, scores, mass, ctx.excluded, columns, ties=cfg.output.ties)
        del scores, mass, columns
        facts = None
        if inp.papers:
            facts = read_paper_facts(inp.papers, inp.paper_id_column, {inp.year_column: "year",
                                                                        inp.date_column: "date",
                                                                        inp.title_column: "title"})
        if facts is not None and not (by_row and facts.num_rows == ctx.file_papers):  # joined on the ids: whole
            table = _nullable_percentiles(rows.table(0, len(rows)))
            ctx.write_table("papers", with_paper_facts(table.drop_columns(["__row"]) if by_row else table, facts))
            return

        def slices() -> Iterator[pa.Table]:
            for start, stop in rows.slices():
                table = _nullable_percentiles(rows.table(start, stop))
                if by_row:
                    table = with_facts_by_row(table, facts) if facts is not None else table.drop_columns(["__row"])
                yield table

        ctx.write_batches("papers", slices(), size_hint=len(rows) * 64)


def _nullable_percentiles(table: pa.Table) -> pa.Table:
    """papers.parquet's percentiles with NaN (a paper outside every group) as null."""
    for name in ("percentile", "citations_percentile"):
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name,
                                     as_nullable(table.column(name).to_numpy()))
    return table


def authors(ctx: JobContext) -> None:
    with ctx.stages("authors"):
        rank_authors(ctx)


def personalized(ctx: JobContext) -> None:
    with ctx.stages("personalize"):
        rank_seed_sets(ctx)


def snapshots(ctx: JobContext) -> None:
    with ctx.stages("trajectories"):
        rank_years(ctx)


def credited(ctx: JobContext) -> None:
    with ctx.stages("credit"):
        assign_credit(ctx)


def report(ctx: JobContext) -> None:
    """report.html: the run as a page (:mod:`ranker.report`), committed with the other outputs."""
    from ..io import write_text_atomic
    from ..report import render_report

    with ctx.stages("report"):
        page = render_report({name: ctx.table(name) for name in ctx.tables}, ctx.file_meta(), ctx.curves)
        path = ctx.out_dir / "report.html"
        write_text_atomic(page, path, staging=ctx.staging)
        ctx.outputs["report"] = str(path)


def _not_pagerank(cfg: JobConfig) -> str:
    a = cfg.rank.algorithm
    return "" if get_ranker(a).distributed else f"[rank] algorithm = {a!r}"


def _author_walk(cfg: JobConfig) -> str:
    a = cfg.authors.algorithm
    return "" if AUTHOR_RANKERS[a].distributed else f"[authors] algorithm = {a!r}"


#: The job, in order.
STAGES: tuple[Stage, ...] = (
    Stage("generate", generate, enabled=lambda cfg: cfg.input.synthetic is not None, root_only=True),
    Stage("check inputs", list_inputs, validates=True),
    Stage("ingest", ingest, validates=True),
    Stage("check ids", check_ids, validates=True),
    Stage("order", order, enabled=lambda cfg: cfg.rank.method != "power"),
    Stage("rank", rank, one_process=_not_pagerank),
    Stage("write papers", write_papers, root_only=True),
    Stage("authors", authors, enabled=lambda cfg: bool(cfg.input.authorships or cfg.input.coauthorships),
          root_only=True, one_process=_author_walk),
    Stage("personalize", personalized, enabled=lambda cfg: cfg.personalize is not None),
    Stage("trajectories", snapshots, enabled=lambda cfg: cfg.trajectories is not None, root_only=True,
          one_process=lambda cfg: "[trajectories]"),
    Stage("credit", credited, enabled=lambda cfg: cfg.credit is not None, root_only=True,
          one_process=lambda cfg: "[credit]"),
    Stage("report", report, enabled=lambda cfg: cfg.output.report, root_only=True),
)

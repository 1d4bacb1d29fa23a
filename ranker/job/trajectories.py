"""The trajectories stage and the normalized percentiles: rankings through time, and within year and field.

``[trajectories]``: the ranking of the citation record at the end of each year, all years in one
batched solve (:func:`ranker.solvers.snapshots.snapshot_pagerank`), each finished batch checkpointed
as personalized batches are; ``trajectories.parquet`` holds each year's top papers.

``[output] normalize_by``: each paper's percentile within its group (its year, its field),
:mod:`ranker.percentiles`, in papers.parquet, trajectories.parquet and personalized.parquet.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ..errors import ConfigError, GraphError
from ..io import IdMap, read_paper_columns, read_paper_years
from ..io.checkpoints import Checkpoints, checkpoint_schema
from ..percentiles import as_nullable, group_codes, group_percentiles
from .batches import run_batches
from .context import JobContext
from .local_engine import single_process_engine
from .tables import tie_ranks, top_k

log = logging.getLogger("ranker")

#: ``[output] normalize_by`` names this key for each paper's year (``[input] year_column``, else the
#: year of ``date_column``).
YEAR_KEY = "year"


def index_of(ids: IdMap, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``int64``: each id's index among ``ids``, -1 where it is not one of them."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.int64() if ids.kind == "integer" else pa.large_string())
    return ids.lookup(values).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def file_rows(ctx: JobContext, ids: IdMap) -> np.ndarray:
    """``int64 [len(ids)]``: each paper's row in ``[input] papers``, -1 where the file does not list it."""
    inp = ctx.cfg.input
    index = index_of(ids, read_paper_columns(inp.papers, [inp.paper_id_column], inp.paper_id_column).column(0))
    listed = index >= 0
    rows = np.full(len(ids), -1, np.int64)
    rows[index[listed]] = np.flatnonzero(listed)
    return rows


def paper_years(ctx: JobContext) -> np.ndarray:
    """``float64 [n]``: each paper's year in the solve's numbering, NaN where the papers file has none."""
    inp = ctx.cfg.input
    assert ctx.ids is not None
    years = read_paper_years(inp.papers, inp.paper_id_column, inp.date_column, inp.year_column)
    rows = file_rows(ctx, ctx.ids)
    return np.where(rows >= 0, years[np.maximum(rows, 0)], np.nan)


def check_trajectories(ctx: JobContext) -> None:
    """Each paper's year, and the years to rank, checked before any solve.

    Refused: a paper of the graph without a year (how many, and the first), and a year of
    ``[trajectories] years`` that no paper has.
    """
    cfg = ctx.cfg
    traj, inp = cfg.trajectories, cfg.input
    assert traj is not None and ctx.ids is not None
    years = paper_years(ctx)
    missing = np.isnan(years)
    if missing.any():
        first = ctx.ids.output_ids(np.flatnonzero(missing)[:1])[0].as_py()
        raise GraphError(f"[trajectories]: {int(missing.sum()):,} papers of the graph have no {inp.year_column!r} or "
                         f"{inp.date_column!r} in {inp.papers} (first: {first!r}); every paper needs a year (add "
                         "them, or set [input] unknown_papers = 'drop' for papers the file does not list)")
    present = np.unique(years.astype(np.int64))
    if traj.years:
        absent = [y for y in traj.years if y not in set(present.tolist())]
        if absent:
            raise ConfigError(f"[trajectories] years names {absent[0]}, a year no paper has (the papers' years run "
                              f"{present[0]}..{present[-1]}; {present.size} distinct)")
        caps = np.array(traj.years, np.int64)
    else:
        caps = present
    ctx.years = years
    ctx.snapshot_years = caps


def key_codes(ctx: JobContext) -> np.ndarray:
    """``int64 [len(ctx.ids)]``: each paper's group under ``[output] normalize_by`` (-1 for a null key).

    Read from the papers file once per job (papers.parquet, trajectories.parquet and
    personalized.parquet group alike); read again only if ``ctx.ids`` was replaced since.
    """
    assert ctx.ids is not None
    if ctx.group_codes is not None and ctx.group_codes[0] is ctx.ids:
        return ctx.group_codes[1]
    inp = ctx.cfg.input
    keys = ctx.cfg.output.normalize_by
    others = [k for k in keys if k != YEAR_KEY]
    table = read_paper_columns(inp.papers, others, inp.paper_id_column) if others else None
    rows = file_rows(ctx, ctx.ids)
    take = pa.array(rows, mask=rows < 0)  # papers the file does not list have a null key
    columns = []
    for k in keys:
        if k == YEAR_KEY:
            values = pa.array(read_paper_years(inp.papers, inp.paper_id_column, inp.date_column, inp.year_column),
                              from_pandas=True)
        else:
            assert table is not None
            values = table.column(k).combine_chunks()
        columns.append(values.take(take))
    codes = group_codes(columns)
    ctx.group_codes = (ctx.ids, codes)
    return codes


def rank_years(ctx: JobContext) -> None:
    """Rank every year's record in batches of years, checkpointing each finished batch
    (:func:`ranker.job.batches.run_batches`), and stage ``trajectories.parquet``: ``year``,
    ``paper_id``, ``score``, ``rank`` (and ``percentile``)."""
    cfg = ctx.cfg
    traj = cfg.trajectories
    assert traj is not None and ctx.ids is not None and ctx.years is not None and ctx.snapshot_years is not None
    engine = single_process_engine(ctx, "[trajectories]")
    caps = ctx.snapshot_years
    years = ctx.years.astype(np.int64)
    batch = engine.snapshot_batch(ctx, caps.size)
    excluded = np.zeros(len(ctx.ids), bool)
    excluded[ctx.excluded] = True
    in_record = np.array([int(((years <= c) & ~excluded).sum()) for c in caps], np.int64)
    counts = np.minimum(in_record, traj.top_k) if traj.top_k else in_record
    codes = key_codes(ctx) if cfg.output.normalize_by else None
    names = [str(int(c)) for c in caps]
    log.info("trajectories: %d years (%s..%s), %d batch(es) of up to %d; records of %d..%d papers", caps.size,
             names[0], names[-1], (caps.size + batch - 1) // batch, batch, int(in_record.min()),
             int(in_record.max()))
    ckpt = Checkpoints(ctx.out_dir, ctx.checkpoint_job, stage="trajectories")
    ckpt.create()
    schema = checkpoint_schema(ctx.ids.kind, "trajectories", percentile=codes is not None)
    year_t = torch.from_numpy(years)

    def solve(bi: int, lo: int, hi: int, callback: Any) -> tuple[Any, Any]:
        res = engine.rank_snapshots(ctx, year_t, torch.from_numpy(caps[lo:hi]), callback=callback)
        return res, lambda: snapshot_rows(ctx, res.scores, caps[lo:hi], years, excluded, counts[lo:hi], codes,
                                          schema)

    done = run_batches(ctx, ckpt, what="trajectories", unit="years", names=names, batch=batch,
                       keep=counts.tolist(), schema=schema, solve=solve, collective=False)
    table = pa.concat_tables(done.tables)
    ranks = tie_ranks(table.column("score").to_numpy(), cfg.output.ties, groups=table.column("year").to_numpy())
    table = table.set_column(table.column_names.index("rank"), "rank", pa.array(ranks))
    iters, resid = done.iterations, done.residuals
    ctx.meta["trajectories"] = {
        "years": [int(c) for c in caps], "top_k": traj.top_k, "batch_size": batch, "batches": done.batches,
        "resumed_batches": done.resumed, "papers": dict(zip(names, in_record.tolist())),
        "solver": engine.snapshot_solver(ctx), "iterations": dict(zip(names, iters.tolist())),
        "residuals": dict(zip(names, resid.tolist()))}
    ctx.write_table("trajectories", table)
    log.info("trajectories: %d rows; iterations %d..%d, max residual %.3e", table.num_rows, int(iters.min()),
             int(iters.max()), float(resid.max()))


def snapshot_rows(ctx: JobContext, scores: torch.Tensor, caps: np.ndarray, years: np.ndarray, excluded: np.ndarray,
                  counts: np.ndarray, codes: np.ndarray | None, schema: pa.Schema) -> pa.Table:
    """One batch's rows: each year's ``counts[b]`` best papers of its record (less the excluded),
    ranked ``1..k`` (ties by id), with their percentile within the record when ``codes`` is given."""
    assert ctx.ids is not None
    s = scores.to(torch.float64)
    out = s.clone()
    gone = torch.from_numpy((years[:, None] > caps[None, :]) | excluded[:, None])
    out[gone] = -1.0
    k = int(counts.max()) if counts.size else 0
    idx, val = top_k(out, max(k, 1), ctx.ids)
    parts: dict[str, list[np.ndarray]] = {"year": [], "index": [], "score": [], "rank": [], "percentile": []}
    for b, cap in enumerate(caps):
        kb = int(counts[b])
        parts["year"].append(np.full(kb, cap, np.int64))
        parts["index"].append(idx[:kb, b])
        parts["score"].append(val[:kb, b])
        parts["rank"].append(np.arange(1, kb + 1, dtype=np.int64))
        if codes is not None:
            alive = np.flatnonzero(~gone[:, b].numpy())
            pct = np.full(len(years), np.nan)
            pct[alive] = group_percentiles(s[alive, b].numpy(), codes[alive])
            parts["percentile"].append(pct[idx[:kb, b]])
    cols = {"year": pa.array(np.concatenate(parts["year"]), pa.int64()),
            "paper_id": ctx.ids.output_ids(np.concatenate(parts["index"])).cast(schema.field("paper_id").type),
            "score": pa.array(np.concatenate(parts["score"]), pa.float64()),
            "rank": pa.array(np.concatenate(parts["rank"]), pa.int64())}
    if codes is not None:
        cols["percentile"] = as_nullable(np.concatenate(parts["percentile"]))
    return pa.table(cols, schema=schema)


def personalized_percentiles(ctx: JobContext, table: pa.Table) -> pa.Table:
    """personalized.parquet's rows with ``percentile``: within the seed set's listed papers, by ``[output]
    normalize_by``."""
    assert ctx.ids is not None
    index = index_of(ctx.ids, table.column("paper_id"))
    codes = key_codes(ctx)
    keys = np.where(index >= 0, codes[np.maximum(index, 0)], -1)
    sets = table.column("seed_set").combine_chunks()
    groups = group_codes([sets, pa.array(np.where(keys >= 0, keys, 0), mask=keys < 0)])
    return table.append_column("percentile", as_nullable(group_percentiles(table.column("score").to_numpy(), groups)))


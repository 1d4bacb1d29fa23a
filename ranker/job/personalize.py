"""The personalized stage: every seed set solved in batches, each finished batch checkpointed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import OutputError
from ..io import IdMap, free_bytes
from ..io.checkpoints import Checkpoints, checkpoint_schema
from .batches import BatchResults, run_batches
from .context import JobContext
from .tables import tie_ranks

log = logging.getLogger("ranker")


def rank_seed_sets(ctx: JobContext) -> None:
    """Solve every seed set of ``ctx.seeds`` in batches, checkpointing each finished batch, and stage
    ``personalized.parquet`` on rank 0.

    Every rank runs the loop (the engine's batches are collective on several processes); rank 0
    alone reads and writes files, and the others follow its resume decisions
    (:func:`ranker.job.batches.run_batches`). A batch is taken from its checkpoint only when the
    checkpoint verifies against the job's fingerprint (:class:`ranker.io.checkpoints.Checkpoints`).
    """
    cfg, comm, seeds = ctx.cfg, ctx.comm, ctx.seeds
    pers_cfg = cfg.personalize
    assert pers_cfg is not None and seeds is not None and ctx.ids is not None
    n_sets = len(seeds)
    batch = ctx.engine.batch_size(ctx, n_sets)
    log.info("personalized PageRank: %d seed sets from %s, %d batch(es) of up to %d", n_sets, pers_cfg.seeds,
             (n_sets + batch - 1) // batch, batch)
    ckpt = Checkpoints(ctx.out_dir, ctx.checkpoint_job)
    k = min(pers_cfg.top_k, ctx.engine.n - int(ctx.excluded.size))
    with comm.phase("checkpoint directory"):
        if comm.is_root:
            ckpt.create()
            check_space(ctx.out_dir, ckpt, n_sets * k * (id_bytes(ctx.ids) + 40 + 24))
    order = np.argsort(seeds.set_index, kind="stable")
    set_sorted = seeds.set_index[order]

    def solve(bi: int, lo: int, hi: int, callback: Any) -> tuple[Any, Any]:
        a, b = np.searchsorted(set_sorted, [lo, hi])
        rows = order[a:b]
        sub = (seeds.set_index[rows] - lo, seeds.paper_index[rows], seeds.weight[rows])
        res, paper_ids, val, remaining = ctx.engine.rank_batch(ctx, sub, hi - lo, k, callback=callback)
        return res, lambda: batch_table(seeds.names[lo:hi], paper_ids, val, remaining, k)

    done = run_batches(ctx, ckpt, what="personalized", unit="seed sets", names=seeds.names, batch=batch, keep=k,
                       schema=checkpoint_schema(ctx.ids.kind), solve=solve, collective=True)
    with comm.phase("write personalized"):
        if comm.is_root:
            write_personalized(ctx, done, batch)


def write_personalized(ctx: JobContext, done: BatchResults, batch: int) -> None:
    """Stage ``personalized.parquet`` from the batches' rows: the listed papers ranked within their set
    (ties under ``[output] ties``), with ``is_seed`` and, under ``normalize_by``, ``percentile``."""
    cfg, seeds = ctx.cfg, ctx.seeds
    assert seeds is not None and cfg.personalize is not None
    iters, resid = done.iterations, done.residuals
    ctx.meta["personalized"] = {
        "seed_sets": len(seeds), "batch_size": batch, "batches": done.batches, "resumed_batches": done.resumed,
        "top_k": cfg.personalize.top_k, "iterations": dict(zip(seeds.names, iters.tolist())),
        "residuals": dict(zip(seeds.names, resid.tolist()))}
    solves = ctx.meta.pop("personalized_solves", None)
    if solves is not None:  # the batches solved in this run (not those taken from checkpoints)
        ctx.meta["personalized"]["solved"] = solves
        log.info("personalized: %d seed set(s) solved over the papers they reach, %d over the whole graph",
                 solves["over_the_papers_reached"], solves["over_the_whole_graph"])
    table = pa.concat_tables(done.tables)
    # rows set aside (excluded: -1) and papers the seed set cannot reach (0) are not listed
    table = mark_seeds(ctx, table.filter(pc.greater(table.column("score"), 0.0)))
    ranks = tie_ranks(table.column("score").to_numpy(), cfg.output.ties,
                      groups=table.column("seed_set").to_numpy(zero_copy_only=False))
    table = table.set_column(table.column_names.index("rank"), "rank", pa.array(ranks))
    if cfg.output.normalize_by:
        from .trajectories import personalized_percentiles

        table = personalized_percentiles(ctx, table)
    ctx.write_table("personalized", table)
    log.info("personalized: iterations %d..%d, max residual %.3e", int(iters.min()), int(iters.max()),
             float(resid.max()))


def mark_seeds(ctx: JobContext, table: pa.Table) -> pa.Table:
    """``table`` with ``is_seed``: whether the paper is one of its seed set's seeds (rank 0)."""
    seeds, ids = ctx.seeds, ctx.ids
    assert seeds is not None and ids is not None
    names = np.array(seeds.names, dtype=object)[seeds.set_index]
    pairs = pa.table({"seed_set": pa.array(names, pa.string()),
                      "paper_id": ids.output_ids(seeds.paper_index).cast(table.schema.field("paper_id").type)})
    pairs = pairs.group_by(["seed_set", "paper_id"]).aggregate([])
    pairs = pairs.append_column("is_seed", pa.array(np.ones(pairs.num_rows, bool)))
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    joined = table.append_column("__order", order).join(pairs, keys=["seed_set", "paper_id"], join_type="left outer")
    joined = joined.sort_by("__order").drop_columns(["__order"])
    is_seed = pc.fill_null(joined.column("is_seed"), False)
    return joined.set_column(joined.column_names.index("is_seed"), "is_seed", is_seed)


def batch_table(names: list[str], paper_ids: pa.Array, val: np.ndarray, remaining: np.ndarray, k: int) -> pa.Table:
    """One batch's rows: each seed set's top ``k`` with rank and share of the column's mass."""
    return pa.table({
        "seed_set": pa.array(np.repeat(np.array(names, dtype=object), k), pa.string()),
        "paper_id": paper_ids,
        "score": pa.array(val.T.reshape(-1), pa.float64()),
        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int64), len(names))),
        "share": pa.array((val / np.where(remaining > 0, remaining, 1.0)).T.reshape(-1), pa.float64()),
    })


def id_bytes(ids: IdMap | None) -> int:
    """Average bytes of one paper id in parquet (8 for integers, 16 when unknown)."""
    if ids is None:
        return 16
    if ids.kind == "integer" or len(ids) == 0:
        return 8
    sample = ids.output_ids(np.arange(min(len(ids), 10_000)))
    return int(pc.sum(pc.binary_length(sample)).as_py() / len(sample)) + 4


def check_space(out_dir: Path, ckpt: Checkpoints, needed: int) -> None:
    """Refuse to start the personalized batches when the disk cannot hold their checkpoints and the
    final file together (the checkpoints already there count as written)."""
    try:
        free = free_bytes(out_dir)
    except OSError:
        return
    need = max(0, 2 * needed - ckpt.bytes_held())
    if need > free:
        raise OutputError(f"{out_dir}: not enough free space for the personalized results: about {need / 1e6:,.1f} MB "
                          f"needed (checkpoints and personalized.parquet), {free / 1e6:,.1f} MB free; free some "
                          f"space (finished batches in {ckpt.dir} are kept for a resume)")

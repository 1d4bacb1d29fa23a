"""Where the graph lives and how it is solved: the one difference between a job on one process and on many.

The job's stages (:mod:`ranker.job.stages`) run the same on one process and on several; they
reach the graph only through an engine:

- :class:`ranker.job.local_engine.LocalEngine`: the whole graph on this process's device. The
  condensation plan and the exact DAG solvers (:mod:`ranker.solvers.dag`), the Triton step, and
  batches of seed sets that split in halves on out-of-memory (and move to the CPU when one column
  does not fit).
- :class:`ranker.job.partitioned_engine.PartitionedEngine`: row blocks over the ranks of a
  :class:`ranker.parallel.comm.Comm` (:mod:`ranker.parallel.partition`); power iteration with the
  row-block hooks; each column's top k merged on rank 0.

This module holds what both share: the :class:`Engine` protocol they implement, and the helpers
they call. Both answer the same calls: ``ingest``, ``lookup``, ``exclude_index``, ``order``, ``rank``,
``rank_batch`` and ``solve_columns`` (local only: the credit stage needs one process).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import ConfigError, GraphError
from ..io import IdMap, read_paper_days
from ..solvers.power import tolerance_floor
from .context import JobContext

log = logging.getLogger("ranker")

DTYPES = {"float64": torch.float64, "float32": torch.float32}

#: ``rank_batch(seeds, n_cols, k)`` solves seed columns ``0..n_cols-1`` (triplets of set, paper, weight) and
#: returns the result, on rank 0 the top ``k`` papers' ids (``[n_cols * k]``, column by column) and their
#: scores ``[k, n_cols]`` (None elsewhere), and each column's positive mass outside the excluded papers.


@runtime_checkable
class Engine(Protocol):
    """What the stages ask of an engine; :class:`LocalEngine` and :class:`PartitionedEngine` provide it.

    ``ingest`` reads the citations into ``graph`` on ``device``; ``lookup`` maps ids to indices
    (collectively under several processes); ``exclude_index`` finds ``[output] exclude_ids``;
    ``order`` renumbers the graph for its solver; ``rank`` solves the global ranking into the
    context; ``batch_size`` and ``rank_batch`` solve personalized columns, each column's top ``k``
    gathered on rank 0. The local engine also answers ``solve_columns`` (credit) and the
    trajectories' ``rank_snapshots``.
    """

    device: torch.device
    graph: Any

    @property
    def n(self) -> int: ...
    def ingest(self, ctx: JobContext) -> None: ...
    def lookup(self, ctx: JobContext) -> Any: ...
    def exclude_index(self, ctx: JobContext) -> tuple[np.ndarray, np.ndarray]: ...
    def order(self, ctx: JobContext) -> None: ...
    def rank(self, ctx: JobContext) -> None: ...
    def batch_size(self, ctx: JobContext, n_sets: int) -> int: ...
    def rank_batch(self, ctx: JobContext, seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n_cols: int, k: int,
                   callback: Any = None) -> tuple[Any, ...]: ...


def ids_stats(ids: IdMap) -> dict[str, Any]:
    return {"id_kind": ids.kind, "papers_listed": ids.n_known, "papers": len(ids)}


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def check_tolerance(tol: float, dtype: torch.dtype, n: int) -> None:
    """Raise :class:`ranker.errors.ConfigError` when ``[rank] tol`` is below what ``dtype`` can reach over
    ``n`` papers (:func:`ranker.solvers.power.tolerance_floor`)."""
    floor = tolerance_floor(dtype, n)
    if tol < floor:
        name = str(dtype).removeprefix("torch.")
        raise ConfigError(f"[rank] tol = {tol:g} cannot be reached in {name} over {n:,} papers: the L1 change of an "
                          f"iteration stalls near {floor:.1e} from rounding; set tol >= {floor:.1e} or "
                          "dtype = 'float64'")


def exclude_seeds(ctx: JobContext) -> bool:
    """``[personalize] exclude_seeds``: each set's seeds are left out of its list and of its shares."""
    return ctx.cfg.personalize is not None and ctx.cfg.personalize.exclude_seeds


def log_graph(ctx: JobContext, st: dict[str, Any], n: int, nnz: int, nbytes: int, weighted: bool | None,
              block: tuple[int, int] | None = None) -> None:
    """One line with the graph's sizes, what was done to self-citations and duplicates, and where it lives."""
    inp = ctx.cfg.input
    where = (f"over {ctx.comm.world_size} ranks; this rank: {block[0]} papers, {block[1]} citations, "
             if block is not None else "")
    log.info("graph: %d papers, %d citations (%s indices%s), %d self-citations %s, %d duplicate rows %s, "
             "%d dangling papers; %s%.1f MB on %s", n, nnz, st["index_dtype"],
             "" if weighted is None else ", weighted" if weighted else ", unweighted", st["self_citations"],
             "dropped" if inp.self_citations == "drop" else "kept", st["duplicate_rows"],
             "summed" if inp.duplicates == "sum" else "counted once", st["dangling_papers"], where, nbytes / 1e6,
             ctx.engine.device)


def paper_days(ctx: JobContext) -> np.ndarray:
    """Publication day of every paper (ingest numbering: the papers file's rows come first)."""
    cfg, ids = ctx.cfg, ctx.ids
    assert ids is not None
    inp = cfg.input
    known = read_paper_days(inp.papers, inp.paper_id_column, inp.date_column, inp.year_column)
    days = np.full(len(ids), np.nan)
    days[:known.size] = known[:len(ids)]
    missing = np.isnan(days)
    if missing.any():
        first = ids.output_ids(np.flatnonzero(missing)[:1])[0].as_py()
        raise GraphError(f"[rank] algorithm = {cfg.rank.algorithm!r}: {int(missing.sum())} papers have no "
                         f"{inp.date_column!r} or {inp.year_column!r} in {inp.papers} (first: {first!r}); "
                         "add them or set [input] unknown_papers = 'drop'")
    return days

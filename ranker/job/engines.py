"""Where the graph lives and how it is solved: the one difference between a job on one process and on many.

The job's stages (:mod:`ranker.job.stages`) run the same on one process and on several; they
reach the graph only through an engine:

- :class:`LocalEngine`: the whole graph on this process's device. The condensation plan and
  the exact DAG solvers (:mod:`ranker.solvers.dag`), the Triton step, and batches of seed sets that
  split in halves on out-of-memory (and move to the CPU when one column does not fit).
- :class:`PartitionedEngine`: row blocks over the ranks of a :class:`ranker.parallel.comm.Comm`
  (:mod:`ranker.parallel.partition`); power iteration with the row-block hooks; each column's
  top k merged on rank 0.

Both answer the same calls: ``ingest``, ``lookup``, ``exclude_index``, ``order``, ``rank``,
``rank_batch`` and ``solve_columns`` (local only: the credit stage needs one process).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..errors import ConfigError, GraphError
from ..graph import CitationGraph, graph_from_edges
from ..io import IdMap, read_citations, read_paper_days
from ..kernels import column_sums
from ..progress import progress_bar, residual_bar
from ..registry import function, get_ranker
from ..solvers.choose import choose_method, describe, solve
from ..solvers.iteration import PageRankResult
from ..solvers.power import seed_teleport, tolerance_floor, uniform_teleport
from .context import JobContext
from .tables import auto_batch, check_finite, convergence_check, exclude_matches, top_k, walk_settings

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


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


class LocalEngine:
    """The whole graph on one process (CPU or one GPU)."""

    device: torch.device
    graph: CitationGraph | None

    def __init__(self, cfg: Any, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.dtype = DTYPES[cfg.rank.dtype]
        self.graph: CitationGraph | None = None
        if cfg.rank.kernel == "triton":
            from ..kernels.triton_step import available

            if not available(device):
                raise ConfigError(f"[rank] kernel = 'triton' cannot run on {device}: it needs triton and a CUDA "
                                  "device (or TRITON_INTERPRET=1 on the CPU, for testing)")
        log.info("device: %s%s", device, f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")

    # -- graph

    def ingest(self, ctx: JobContext) -> None:
        """Read the citations, number the ids and build the CSR graph on the device."""
        inp, rank_cfg = ctx.cfg.input, ctx.cfg.rank
        files = ctx.files
        try:  # only for the progress bar: a bad file is reported, with its name, by read_citations
            total_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files) if len(files) < 10_000 else None
        except (pa.ArrowException, OSError):
            total_rows = None
        with ctx.stages("ingest"), progress_bar("ingest", total_rows, enabled=ctx.show) as advance:
            edges = read_citations(files, citing_column=inp.citing_column, cited_column=inp.cited_column,
                                   weight_column=inp.weight_column, papers=inp.papers,
                                   paper_id_column=inp.paper_id_column, unknown_papers=inp.unknown_papers,
                                   batch_rows=inp.batch_rows, advance=advance, fmt=inp.format,
                                   weight_offset=inp.weight_offset, compact_ids=inp.compact_ids)
        ctx.ids = edges.ids
        ctx.file_papers = edges.ids.n_known
        ctx.meta["ingest"] = {**ids_stats(edges.ids), **edges.stats}
        log.info("read %d citation rows from %d file(s): %d papers (%s ids)", edges.stats["citation_rows"],
                 len(files), len(edges.ids), edges.ids.kind)
        with ctx.stages("build"):
            self.graph = graph_from_edges(edges, self_citations=inp.self_citations, duplicates=inp.duplicates,
                                          index_dtype=rank_cfg.index_dtype, device=self.device)
            del edges
        check_tolerance(rank_cfg.tol, self.dtype, self.graph.n)
        if get_ranker(rank_cfg.algorithm).needs_dates:
            ctx.days = paper_days(ctx)

    @property
    def n(self) -> int:
        assert self.graph is not None
        return self.graph.n

    def lookup(self, ctx: JobContext) -> IdMap:
        """Id -> index lookups (for the seeds and authorships readers)."""
        assert ctx.ids is not None
        return ctx.ids

    def exclude_index(self, ctx: JobContext) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the ``[output] exclude_ids`` that are papers, and which entries matched a paper."""
        assert ctx.ids is not None
        return exclude_matches(ctx.cfg.output.exclude_ids, ctx.ids.lookup, ctx.ids.kind)

    def order(self, ctx: JobContext) -> None:
        """Renumber the graph in condensation-level order (method ``dag`` or ``auto``), and with it
        every paper index the job holds."""
        from ..solvers.dag import leveled

        with ctx.stages("order"), progress_bar("order (strongly connected components, levels)", None,
                                                enabled=ctx.show):
            assert self.graph is not None
            self.graph, plan = leveled(self.graph)
            ctx.renumber(plan.perm.cpu().numpy())
        f = plan.facts
        log.info("condensation: %d levels; %d papers on cycles in %d strongly connected components (largest %d)",
                 plan.levels, f["papers_on_cycles"], f["components"], f["largest_component"])

    # -- solves

    def rank(self, ctx: JobContext) -> None:
        """The global ranking under ``[rank] algorithm``: ``ctx.result`` and ``ctx.scores``."""
        graph, rank_cfg, dtype = self.graph, ctx.cfg.rank, self.dtype
        assert graph is not None
        log_graph(ctx, graph.stats, graph.n, graph.nnz, graph.nbytes(), graph.weight is not None)
        algorithm = rank_cfg.algorithm
        curve = ctx.curves.setdefault("global", [])
        entry = get_ranker(algorithm)
        with ctx.stages(algorithm), residual_bar(algorithm, rank_cfg.tol, enabled=ctx.show, history=curve) as progress:
            if entry.solver:
                result = function(entry.solver)(graph, rank_cfg, dtype, progress)
            else:
                teleport = (function(entry.teleport)(ctx, graph, dtype) if entry.teleport else
                            uniform_teleport(graph.n, dtype=dtype, device=graph.device))
                result = solve(graph, teleport, method=rank_cfg.method, **walk_settings(rank_cfg),
                               callback=progress, kernel=rank_cfg.kernel)
        method = "power" if entry.solver else choose_method(graph, rank_cfg.method)
        solver = (entry.solver_name or f"{algorithm}'s own") if entry.solver else describe(method, rank_cfg.kernel,
                                                                                           self.device)
        log.info("%s: %d iterations, L1 residual %.3e; solver: %s", rank_cfg.algorithm, result.iterations[0].item(),
                 result.residuals[0].item(), solver)
        convergence_check(result, ["global"], rank_cfg.tol, rank_cfg.on_nonconvergence)
        check_finite(result.scores, rank_cfg.algorithm)
        ctx.meta.update(method=method, solver=solver, papers=graph.n, citations=graph.nnz, graph=graph.stats)
        ctx.result = result
        ctx.scores = result.scores[:, 0].to(torch.float64).cpu().numpy()
        ctx.citations = np.diff(graph.crow.cpu().numpy()).astype(np.int64)  # rows are cited papers

    def solve_columns(self, seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n_cols: int,
                      callback: Any = None) -> PageRankResult:
        """Solve seed columns ``0..n_cols-1`` (:meth:`split_on_oom`). Returns the scores on the CPU."""
        set_index, paper_index, weight = seeds
        rank_cfg = self.cfg.rank

        def columns(a: int, b: int) -> PageRankResult:
            graph = self.graph
            assert graph is not None
            m = (set_index >= a) & (set_index < b)
            teleport = seed_teleport(graph.n, torch.from_numpy(set_index[m] - a), torch.from_numpy(paper_index[m]),
                                     torch.from_numpy(weight[m]), b - a, dtype=self.dtype, device=graph.device)
            res = solve(graph, teleport, method=rank_cfg.method, **walk_settings(rank_cfg),
                        kernel=rank_cfg.kernel, batch_invariant=True, callback=callback)
            del teleport
            res.scores = res.scores.cpu()
            return res

        return self.split_on_oom(columns, 0, n_cols, "seed set")

    def split_on_oom(self, columns: Any, a: int, b: int, what: str) -> PageRankResult:
        """``columns(a, b)``, the result of columns ``a..b-1``; on out-of-memory the columns split in
        halves, and when a single column does not fit on a GPU the graph moves to the CPU. Every
        step is logged. Columns are independent (bit-identical whatever their batch), so splitting
        changes no number; ``columns`` must read ``self.graph`` when it runs."""
        try:
            return columns(a, b)
        except (RuntimeError, MemoryError) as exc:
            if not _is_oom(exc):
                raise
            graph = self.graph
            assert graph is not None
            if graph.device.type == "cuda":
                torch.cuda.empty_cache()
            n_cols = b - a
            if n_cols > 1:
                half = n_cols // 2
                log.warning("out of memory solving %d %ss on %s: retrying as batches of %d and %d", n_cols, what,
                            graph.device, half, n_cols - half)
                parts = [self.split_on_oom(columns, a, a + half, what), self.split_on_oom(columns, a + half, b, what)]
                return PageRankResult(scores=torch.cat([p.scores for p in parts], 1),
                                      iterations=torch.cat([p.iterations for p in parts]),
                                      residuals=torch.cat([p.residuals for p in parts]),
                                      converged=torch.cat([p.converged for p in parts]))
            if graph.device.type != "cpu":
                log.warning("out of memory on %s with a single %s: falling back to the CPU", graph.device, what)
                self.graph = graph.to("cpu")
                return self.split_on_oom(columns, a, b, what)
            raise

    def rank_batch(self, ctx: JobContext, seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n_cols: int,
                   k: int, callback: Any = None) -> tuple[PageRankResult, pa.Array, np.ndarray, np.ndarray]:
        """Solve a batch of seed sets and take each column's top ``k`` outside the excluded papers."""
        assert ctx.ids is not None
        res = self.solve_columns(seeds, n_cols, callback)
        scores = res.scores
        if ctx.excluded.size or exclude_seeds(ctx):  # left out of the top k, and of the mass the shares divide
            scores = scores.clone()
            scores[torch.from_numpy(ctx.excluded)] = -1.0
            if exclude_seeds(ctx):
                scores[torch.from_numpy(seeds[1]), torch.from_numpy(seeds[0])] = -1.0
        remaining = column_sums(torch.where(scores > 0, scores, torch.zeros_like(scores))).numpy()
        idx, val = top_k(scores, k, ctx.ids)
        return res, ctx.ids.output_ids(idx.T.reshape(-1)), val, remaining

    def batch_size(self, ctx: JobContext, n_sets: int) -> int:
        pers_cfg = ctx.cfg.personalize
        return (pers_cfg.batch_size if pers_cfg is not None and pers_cfg.batch_size else
                auto_batch(self.n, self.dtype, self.device, n_sets))

    # -- rankings through time

    def snapshot_method(self, ctx: JobContext) -> str:
        """``sweep`` (exact, CPU) unless ``[rank] method = 'power'`` or the graph is on a GPU."""
        assert self.graph is not None
        return "power" if ctx.cfg.rank.method == "power" or self.graph.device.type != "cpu" else "sweep"

    def snapshot_solver(self, ctx: JobContext) -> str:
        return {"sweep": "exact sweep over the condensation, one column per year (compiled, CPU)",
                "power": f"power iteration, one column per year ({self.device})"}[self.snapshot_method(ctx)]

    def snapshot_batch(self, ctx: JobContext, n_years: int) -> int:
        """Years solved together: ``[trajectories] batch_size``, else what fits in memory."""
        traj = ctx.cfg.trajectories
        if traj is not None and traj.batch_size:
            return traj.batch_size
        return auto_batch(self.n, torch.float64, self.device, n_years)

    def rank_snapshots(self, ctx: JobContext, year: torch.Tensor, caps: torch.Tensor,
                       callback: Any = None) -> PageRankResult:
        """Each year's record ranked (:func:`ranker.solvers.snapshots.snapshot_pagerank`), the years split on
        out-of-memory as seed sets are (:meth:`split_on_oom`): scores ``[n, B]`` on the CPU."""
        from ..solvers import snapshots

        rank_cfg = ctx.cfg.rank
        entry = get_ranker(rank_cfg.algorithm)

        def columns(a: int, b: int) -> PageRankResult:
            graph = self.graph
            assert graph is not None
            method = self.snapshot_method(ctx)
            dtype = torch.float64 if method == "sweep" else self.dtype
            on = year.to(graph.device), caps[a:b].to(graph.device)
            teleport = (function(entry.snapshot_teleport)(ctx, *on, dtype) if entry.snapshot_teleport else
                        snapshots.snapshot_teleport(*on, dtype=dtype))
            res = snapshots.snapshot_pagerank(graph, *on, teleport, **walk_settings(rank_cfg), method=method,
                                                 callback=callback, batch_invariant=True)
            del teleport
            res.scores = res.scores.cpu()
            return res

        return self.split_on_oom(columns, 0, int(caps.numel()), "year")


class PartitionedEngine:
    """The graph in row blocks over the ranks of a :class:`ranker.parallel.comm.Comm`."""

    device: torch.device
    graph: Any  # this rank's ranker.parallel.partition.PartitionedGraph

    def __init__(self, cfg: Any, comm: Any) -> None:
        self.cfg, self.comm = cfg, comm
        self.dtype = DTYPES[cfg.rank.dtype]
        self.device = comm.device
        self.graph: Any = None
        self._ids: Any = None
        rank_cfg = cfg.rank
        if rank_cfg.method == "dag" and comm.is_root:
            log.warning("[rank] method = 'dag' runs on one process; this distributed job uses the power method")
        if rank_cfg.kernel == "triton" and comm.is_root:
            log.warning("[rank] kernel = 'triton' runs on one process; this distributed job uses torch's CSR product")
        log.info("distributed: rank %d of %d, %s backend, device %s", comm.rank, comm.world_size, comm.backend,
                 comm.device)

    def ingest(self, ctx: JobContext) -> None:
        from ..parallel.ingest import read_partitioned
        from ..parallel.partition import PartitionedIds

        inp, rank_cfg, comm = ctx.cfg.input, ctx.cfg.rank, self.comm
        with ctx.stages("ingest"), progress_bar("ingest", None, enabled=ctx.show) as advance:
            graph = read_partitioned(ctx.files, comm, citing_column=inp.citing_column, cited_column=inp.cited_column,
                                     weight_column=inp.weight_column, papers=inp.papers,
                                     paper_id_column=inp.paper_id_column, unknown_papers=inp.unknown_papers,
                                     self_citations=inp.self_citations, duplicates=inp.duplicates,
                                     index_dtype=rank_cfg.index_dtype, batch_rows=inp.batch_rows, advance=advance,
                                     fmt=inp.format, weight_offset=inp.weight_offset)
        self.graph, self._ids = graph, PartitionedIds(graph, comm)
        ctx.ids = IdMap(ids=graph.ids, kind=graph.kind)
        st = graph.stats
        ctx.meta["ingest"] = {"id_kind": graph.kind, "papers": graph.n, **{
            k: v for k, v in st.items() if k in ("citation_rows", "files", "id_numbering", "unknown_paper_rows",
                                                 "unknown_papers")}}
        check_tolerance(rank_cfg.tol, self.dtype, graph.n)  # the same decision on every rank

    @property
    def n(self) -> int:
        return self.graph.n

    def lookup(self, ctx: JobContext) -> Any:
        """Collective id -> global index lookups (:class:`ranker.parallel.partition.PartitionedIds`)."""
        return self._ids

    def exclude_index(self, ctx: JobContext) -> tuple[np.ndarray, np.ndarray]:
        return self._ids.index_of(ctx.cfg.output.exclude_ids)

    def order(self, ctx: JobContext) -> None:
        """Nothing: the partitioned solver is the power method, in any numbering."""

    def rank(self, ctx: JobContext) -> None:
        from ..parallel.distributed_power import partitioned_pagerank

        graph, rank_cfg, comm = self.graph, ctx.cfg.rank, self.comm
        st = graph.stats
        log_graph(ctx, st, graph.n, st["citations"], graph.nbytes(), None, block=(graph.m, graph.nnz))
        sent0 = comm.bytes_sent
        curve = ctx.curves.setdefault("global", [])
        with ctx.stages("pagerank"), residual_bar("pagerank", rank_cfg.tol, enabled=ctx.show, history=curve) as bar:
            teleport = torch.full((graph.m, 1), 1.0 / graph.n, dtype=self.dtype, device=graph.device)
            result = partitioned_pagerank(graph, teleport, comm, **walk_settings(rank_cfg), callback=bar)
        iters = int(result.iterations[0])
        per_iteration = (comm.bytes_sent - sent0) / max(1, iters)
        log.info("pagerank: %d iterations, L1 residual %.3e, %.3g MB sent by this rank per iteration", iters,
                 result.residuals[0].item(), per_iteration / 1e6)
        convergence_check(result, ["global"], rank_cfg.tol, rank_cfg.on_nonconvergence)
        blocks = comm.all_gather_ints([graph.m, graph.nnz])
        ctx.meta.update(method="power", solver="power iteration over row blocks", papers=graph.n,
                        citations=st["citations"], graph=st)
        ctx.meta["distributed"] = {"world_size": comm.world_size, "backend": comm.backend,
                                   "block_papers": blocks[:, 0].tolist(), "block_citations": blocks[:, 1].tolist(),
                                   "bytes_sent_per_iteration_rank0": per_iteration}
        block = result.scores[:, 0].to(torch.float64).cpu().numpy()
        citations = np.diff(graph.crow.cpu().numpy()).astype(np.int64)
        gathered = comm.gather_tables(pa.table({"paper_id": graph.ids, "score": block, "citations": citations}))
        ctx.result, ctx.scores, ctx.citations = result, block, citations
        if comm.is_root:  # the whole graph's ids and scores, in global numbering
            table = pa.concat_tables(gathered)
            ctx.ids = IdMap(ids=table.column("paper_id").combine_chunks(), kind=graph.kind)
            ctx.scores = table.column("score").to_numpy()
            ctx.citations = table.column("citations").to_numpy()
            ctx.meta["ingest"].update(ids_stats(ctx.ids))
            ctx.result = PageRankResult(scores=torch.from_numpy(ctx.scores)[:, None], iterations=result.iterations,
                                        residuals=result.residuals, converged=result.converged)

    def rank_batch(self, ctx: JobContext, seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n_cols: int,
                   k: int, callback: Any = None) -> tuple[PageRankResult, pa.Array | None, np.ndarray | None,
                                                           np.ndarray]:
        """Solve a batch over the ranks; rank 0 merges each column's top ``k`` from every block."""
        from ..parallel.distributed_power import column_totals, partitioned_pagerank

        graph, rank_cfg, comm = self.graph, ctx.cfg.rank, self.comm
        set_index, paper_index, weight = seeds
        teleport = seed_teleport(graph.n, torch.from_numpy(set_index), torch.from_numpy(paper_index),
                                 torch.from_numpy(weight), n_cols, dtype=self.dtype, device=graph.device,
                                 rows=(graph.lo, graph.hi))
        res = partitioned_pagerank(graph, teleport, comm, **walk_settings(rank_cfg), callback=callback)
        scores = res.scores.to(torch.float64).cpu()
        mine = ctx.excluded[(ctx.excluded >= graph.lo) & (ctx.excluded < graph.hi)] - graph.lo
        if mine.size:
            scores[torch.from_numpy(mine)] = -1.0
        if exclude_seeds(ctx):
            here = (paper_index >= graph.lo) & (paper_index < graph.hi)
            scores[torch.from_numpy(paper_index[here] - graph.lo), torch.from_numpy(set_index[here])] = -1.0
        remaining = column_totals(graph, torch.where(scores > 0, scores, torch.zeros_like(scores)), comm).numpy()
        block_ids = IdMap(ids=graph.ids, kind=graph.kind)
        kk = min(k, graph.m)
        if kk:
            idx, val = top_k(scores, kk, block_ids)
            cand = pa.table({"column": np.repeat(np.arange(n_cols), kk), "paper_id": block_ids.output_ids(
                idx.T.reshape(-1)).cast(graph.ids.type), "score": val.T.reshape(-1)})
        else:
            cand = pa.table({"column": np.zeros(0, np.int64), "paper_id": graph.ids.slice(0, 0),
                             "score": np.zeros(0)})
        got = comm.gather_tables(cand)
        if got is None:
            return res, None, None, remaining
        allc = pa.concat_tables(got).sort_by([("column", "ascending"), ("score", "descending"),
                                               ("paper_id", "ascending")])
        starts = np.searchsorted(allc.column("column").to_numpy(), np.arange(n_cols))
        take = (starts[:, None] + np.arange(k)[None, :]).reshape(-1)  # the first k of each column
        top = allc.take(pa.array(take))
        val = top.column("score").to_numpy().reshape(n_cols, k).T
        return res, IdMap(ids=top.column("paper_id").combine_chunks(), kind=graph.kind).output_ids(), val, remaining

    def batch_size(self, ctx: JobContext, n_sets: int) -> int:
        pers_cfg = ctx.cfg.personalize
        batch = (pers_cfg.batch_size if pers_cfg is not None and pers_cfg.batch_size else
                 auto_batch(max(self.graph.n_pad, 1), self.dtype, self.graph.device, n_sets))
        return int(self.comm.all_gather_ints([batch]).min())  # the same batches on every rank


def local_engine(ctx: JobContext, what: str) -> LocalEngine:
    """The job's engine, for a stage that runs on one process only (``what`` names it): the
    stages' table holds such a stage off torchrun jobs, so this is the :class:`LocalEngine`."""
    engine = ctx.engine
    if not isinstance(engine, LocalEngine):
        raise AssertionError(f"{what} runs on one process only; the engine is {type(engine).__name__}")
    return engine


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

"""The whole graph on this process's device: the engine of every job on one process.

The condensation plan and the exact DAG solvers (:mod:`ranker.solvers.dag`), the Triton step,
batches of seed sets (and of years) that split in halves on out-of-memory, and move to the CPU
when one column does not fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..errors import ConfigError
from ..graph import CitationGraph
from ..graph_build import graph_from_edges
from ..io import IdMap, read_citations
from ..kernels import compiled_pays
from ..kernels.step import column_sums
from ..progress import progress_bar, residual_bar
from ..registry import function, get_ranker
from ..solvers.choose import choose_method, describe, solve
from ..solvers.iteration import PageRankResult
from ..solvers.power import seed_teleport, uniform_teleport
from .checks import check_finite, convergence_check
from .context import JobContext
from .engines import DTYPES, check_tolerance, exclude_seeds, ids_stats, is_oom, log_graph, paper_days
from .exclusions import exclude_matches
from .solve_options import auto_batch, walk_settings
from .tables import top_k, top_of_column

log = logging.getLogger("ranker")

#: A seed set is solved over the papers its walk reaches alone (:func:`ranker.solvers.local.local_pagerank`)
#: unless it reaches more than this share of the graph: such sets are solved together as columns of one
#: whole-graph sweep, which shares each pass over the citations among them. On a generated 24M-citation
#: graph (1,000 random papers, measured) a set reaching 25-28% of the papers cost 72 ms alone, where a
#: whole-graph column costs 0.2-0.85 s (a fraction of that in a full batch); the median set reaches 2.3%.
LOCAL_SHARE = 0.5

#: Seed sets per batch, at least, when they are solved over the papers they reach (a batch is what a
#: checkpoint holds: at 239M citations the whole-graph size was 5 sets, 200 checkpoints for 1,000 sets).
LOCAL_BATCH = 64


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
                                                                                           self.device, graph.nnz)
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
        """Solve seed columns ``0..n_cols-1`` together over the whole graph (:meth:`split_on_oom`).
        Returns the scores on the CPU."""
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

    def local_columns(self, set_index: np.ndarray, paper_index: np.ndarray, weight: np.ndarray, a: int, b: int,
                      keep: Callable[[int, np.ndarray, np.ndarray, PageRankResult], None]) -> set[int]:
        """The seed columns ``a..b-1`` whose walks reach at most :data:`LOCAL_SHARE` of the papers, each
        solved over the papers it reaches alone (:func:`ranker.solvers.local.local_pagerank`, exact; on
        the CPU) and handed to ``keep(column, papers, scores, result)`` at once (so a batch holds one
        set's scores at a time). Returns those columns; a set that reaches more is left to the
        whole-graph batch."""
        graph = self.graph
        assert graph is not None
        if not self.solves_locally():
            return set()
        from ..solvers.local import local_pagerank

        walk = walk_settings(self.cfg.rank)
        limit = int(LOCAL_SHARE * graph.n)
        solved = set()
        order = np.argsort(set_index, kind="stable")
        bounds = np.searchsorted(set_index[order], np.arange(a, b + 1))
        for c in range(a, b):
            rows = order[bounds[c - a]:bounds[c - a + 1]]
            seeds, w = paper_index[rows], weight[rows].astype(np.float64)
            if not rows.size or not w.max() > 0:
                continue  # the whole solve says what is wrong with it
            one = local_pagerank(graph, seeds, w, **walk, dtype=self.dtype, limit=limit)
            if one is not None:
                keep(c, *one)
                solved.add(c)
        return solved

    def solves_locally(self) -> bool:
        """Whether seed sets are solved over the papers they reach (:meth:`local_columns`): on the CPU
        with the torch kernel, where the compiled kernels pay (:func:`ranker.kernels.compiled_pays`;
        a small graph's sets are solved together over the whole graph, by the references)."""
        assert self.graph is not None
        return compiled_pays(self.graph.nnz, self.graph.device) and self.cfg.rank.kernel == "torch"

    def split_on_oom(self, columns: Any, a: int, b: int, what: str) -> PageRankResult:
        """``columns(a, b)``, the result of columns ``a..b-1``; on out-of-memory the columns split in
        halves, and when a single column does not fit on a GPU the graph moves to the CPU. Every
        step is logged. Columns are independent (bit-identical whatever their batch), so splitting
        changes no number; ``columns`` must read ``self.graph`` when it runs."""
        try:
            return columns(a, b)
        except (RuntimeError, MemoryError) as exc:
            if not is_oom(exc):
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
        """Solve a batch of seed sets and take each column's top ``k`` outside the excluded papers.

        A set that reaches few papers is solved over them alone and its top ``k`` taken from them
        (:meth:`local_columns`: nothing here costs a pass over all papers); the others are solved
        together over the whole graph. ``res.scores`` is empty: the caller reads the rows."""
        assert ctx.ids is not None and self.graph is not None
        set_index, paper_index, weight = seeds
        idx, val = np.zeros((k, n_cols), np.int64), np.zeros((k, n_cols), np.float64)
        remaining = np.zeros(n_cols, np.float64)
        res = PageRankResult(scores=torch.zeros((0, n_cols), dtype=self.dtype),
                             iterations=torch.zeros(n_cols, dtype=torch.int64),
                             residuals=torch.zeros(n_cols, dtype=torch.float64),
                             converged=torch.ones(n_cols, dtype=torch.bool))
        n, ids = self.graph.n, ctx.ids

        def keep(c: int, papers: np.ndarray, scores_c: np.ndarray, one: PageRankResult) -> None:
            s = scores_c.astype(np.float64, copy=True)
            if ctx.excluded.size:
                s[np.isin(papers, ctx.excluded)] = -1.0
            if exclude_seeds(ctx):
                s[np.isin(papers, paper_index[set_index == c])] = -1.0
            remaining[c] = float(s[s > 0].sum())
            idx[:, c], val[:, c] = top_of_column(papers, s, k, ids, n)
            res.iterations[c], res.residuals[c], res.converged[c] = (one.iterations[0], one.residuals[0],
                                                                     one.converged[0])

        local = self.local_columns(set_index, paper_index, weight, 0, n_cols, keep)
        whole = np.array([c for c in range(n_cols) if c not in local], dtype=np.int64)
        log.debug("%d seed set(s) solved over the papers they reach, %d over the whole graph", len(local), whole.size)
        tally = ctx.meta.setdefault("personalized_solves", {"over_the_papers_reached": 0, "over_the_whole_graph": 0})
        tally["over_the_papers_reached"] += len(local)
        tally["over_the_whole_graph"] += int(whole.size)
        step = auto_batch(n, self.dtype, self.device, whole.size)  # whole-graph columns at a time
        for part in (whole[i:i + step] for i in range(0, whole.size, step)):
            m = np.isin(set_index, part)
            sub = (np.searchsorted(part, set_index[m]), paper_index[m], weight[m])
            full = self.solve_columns(sub, part.size, callback)
            scores = full.scores
            if ctx.excluded.size or exclude_seeds(ctx):  # left out of the top k, and of the mass shares divide
                scores = scores.clone()
                scores[torch.from_numpy(ctx.excluded)] = -1.0
                if exclude_seeds(ctx):
                    scores[torch.from_numpy(sub[1]), torch.from_numpy(sub[0])] = -1.0
            remaining[part] = column_sums(torch.where(scores > 0, scores, torch.zeros_like(scores))).numpy()
            idx[:, part], val[:, part] = top_k(scores, k, ctx.ids)
            at = torch.from_numpy(part)
            res.iterations[at], res.residuals[at], res.converged[at] = (full.iterations, full.residuals,
                                                                        full.converged)
        return res, ctx.ids.output_ids(idx.T.reshape(-1)), val, remaining

    def batch_size(self, ctx: JobContext, n_sets: int) -> int:
        """Seed sets per batch (and per checkpoint): ``[personalize] batch_size``, else what fits as
        whole-graph columns (:func:`auto_batch`), and at least :data:`LOCAL_BATCH` when sets are solved
        over the papers they reach (the far-reaching ones of a batch are then solved that many at a time)."""
        pers_cfg = ctx.cfg.personalize
        if pers_cfg is not None and pers_cfg.batch_size:
            return pers_cfg.batch_size
        batch = auto_batch(self.n, self.dtype, self.device, n_sets)
        return max(batch, min(n_sets, LOCAL_BATCH)) if self.solves_locally() else batch

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


def single_process_engine(ctx: JobContext, what: str) -> LocalEngine:
    """The job's engine, for a stage that runs on one process only (``what`` names it): the
    stages' table holds such a stage off torchrun jobs, so this is the :class:`LocalEngine`."""
    engine = ctx.engine
    if not isinstance(engine, LocalEngine):
        raise AssertionError(f"{what} runs on one process only; the engine is {type(engine).__name__}")
    return engine



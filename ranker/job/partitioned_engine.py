"""The graph in row blocks over the ranks of a :class:`ranker.parallel.comm.Comm`: the engine under torchrun.

Power iteration with the row-block hooks (:mod:`ranker.parallel.distributed_power`); each
column's top k merged on rank 0.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ..io import IdMap
from ..progress import progress_bar, residual_bar
from ..solvers.iteration import PageRankResult
from ..solvers.power import seed_teleport
from .checks import convergence_check
from .context import JobContext
from .engines import DTYPES, check_tolerance, exclude_seeds, ids_stats, log_graph
from .solve_options import auto_batch, walk_settings
from .tables import top_k

log = logging.getLogger("ranker")


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



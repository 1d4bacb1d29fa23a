"""The job on several processes (``torchrun``): same job file, same output files, written by rank 0.

:func:`ranker.pipeline.run_job` comes here when ``torchrun`` started several processes
(``WORLD_SIZE`` > 1). The stages are the single-process ones over the partitioned graph of
:mod:`ranker.distributed`:

ingest (each rank its share of the rows) -> global PageRank -> papers.parquet (rank 0) ->
author credit from paper scores (rank 0) -> personalized PageRank (all ranks, rank 0 merges
the top k) -> run.json.

Outputs are staged: rank 0 renames them to their final names only after every rank has
finished, so a failure anywhere leaves no new output (checkpoints of finished personalized
batches stay, and a rerun resumes from them).
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from .config import JobConfig, citation_files
from .distributed import (Comm, PartitionedGraph, PartitionedIds, block_teleport, column_totals, partitioned_pagerank,
                          read_partitioned)
from .errors import ConfigError
from .io import IdMap, read_seeds, staged_outputs, write_json_atomic, write_parquet_atomic
from .pagerank import PageRankResult, check_tolerance
from .checkpoints import Checkpoints, fingerprint
from .output_dir import OutputDir, check_inputs_apart
from .pipeline import (DTYPES, RunResult, _authors, _auto_batch, _convergence_check, _exclude_index, _file_meta,
                       _ranked_table, _read_authorships, _versions, check_finite, ids_stats, job_inputs,
                       personalize_batches, top_k)
from .report import Stages, progress_bar

log = logging.getLogger("ranker")


def check_supported(cfg: JobConfig) -> None:
    """Raise :class:`ConfigError` for what a distributed job cannot do (the same on every rank)."""
    rk = cfg.rank
    one = "needs one process (run without torchrun)"
    if rk.algorithm != "pagerank":
        raise ConfigError(f"[rank] algorithm = {rk.algorithm!r} {one}; distributed jobs rank with 'pagerank'")
    if cfg.credit is not None:
        raise ConfigError(f"[credit] {one}")
    if (cfg.input.authorships or cfg.input.coauthorships) and cfg.authors.algorithm != "paper_scores":
        raise ConfigError(f"[authors] algorithm = {cfg.authors.algorithm!r} {one}; distributed jobs support "
                          "'paper_scores'")


def run_distributed_job(cfg: JobConfig, comm: Comm, *, show_progress: bool = True) -> RunResult:
    """Run a validated job as one rank of a distributed job; collective (every rank calls it).

    Returns
    -------
    RunResult
        On rank 0 the whole graph's ids and global scores (global numbering); on the other
        ranks their block's. ``graph`` is this rank's :class:`ranker.distributed.PartitionedGraph`.

    Raises
    ------
    RankerError
        On every rank when any rank fails (:meth:`ranker.distributed.Comm.phase`).
    """
    t_start = time.perf_counter()
    stages = Stages()
    check_supported(cfg)
    rk = cfg.rank
    root = comm.is_root
    show = show_progress and root
    if rk.method == "dag" and root:
        log.warning("[rank] method = 'dag' runs on one process; this distributed job uses the power method")
    if rk.kernel == "triton" and root:
        log.warning("[rank] kernel = 'triton' runs on one process; this distributed job uses torch's CSR product")
    log.info("distributed: rank %d of %d, %s backend, device %s", comm.rank, comm.world_size, comm.backend,
             comm.device)

    out_dir = Path(cfg.output.dir)
    with contextlib.ExitStack() as held:
        with comm.phase("output directory"):
            if root:  # rank 0 alone writes: it checks the directory and holds its lock for the job
                check_inputs_apart(cfg.output.dir, *job_inputs(cfg))
                out_dir = held.enter_context(OutputDir(cfg.output.dir)).path
        return _run_stages(cfg, comm, out_dir, stages, t_start, show_progress=show)


def _run_stages(cfg: JobConfig, comm: Comm, out_dir: Path, stages: Stages, t_start: float, *,
                show_progress: bool) -> RunResult:
    """The stages of :func:`run_distributed_job` once the output directory is held."""
    rk, inp = cfg.rank, cfg.input
    dtype = DTYPES[rk.dtype]
    root = comm.is_root
    show = show_progress
    if inp.synthetic is not None:
        with comm.phase("generate"), stages("generate"):
            if root:
                from .synthetic import SyntheticSpec, generate

                syn = inp.synthetic
                spec = SyntheticSpec(papers=syn.papers, mean_references=syn.mean_references, seed=syn.seed,
                                     seed_sets=syn.seed_sets)
                with progress_bar("generate", syn.papers, enabled=show) as adv:
                    generate(syn.dir, spec, progress=adv)
    with comm.phase("list inputs"):
        files = citation_files(inp.citations)

    with stages("ingest"), progress_bar("ingest", None, enabled=show) as adv:
        graph = read_partitioned(files, comm, citing_column=inp.citing_column, cited_column=inp.cited_column,
                                 weight_column=inp.weight_column, papers=inp.papers,
                                 paper_id_column=inp.paper_id_column, unknown_papers=inp.unknown_papers,
                                 self_citations=inp.self_citations, duplicates=inp.duplicates,
                                 index_dtype=rk.index_dtype, batch_rows=inp.batch_rows, advance=adv)
    st = graph.stats
    log.info("graph: %d papers, %d citations over %d ranks (%s indices), %d self-citations %s, %d duplicate rows "
             "%s, %d dangling papers; this rank: %d papers, %d citations, %.1f MB on %s", graph.n, st["citations"],
             comm.world_size, st["index_dtype"], st["self_citations"],
             "dropped" if inp.self_citations == "drop" else "kept", st["duplicate_rows"],
             "summed" if inp.duplicates == "sum" else "counted once", st["dangling_papers"], graph.m, graph.nnz,
             graph.nbytes() / 1e6, graph.device)

    check_tolerance(rk.tol, dtype, graph.n)  # the same decision on every rank
    sent0 = comm.bytes_sent
    with stages("pagerank"), progress_bar("pagerank", rk.max_iter, enabled=show) as adv:
        teleport = torch.full((graph.m, 1), 1.0 / graph.n, dtype=dtype, device=graph.device)
        result = partitioned_pagerank(graph, teleport, comm, alpha=rk.alpha, tol=rk.tol, max_iter=rk.max_iter,
                                      callback=lambda it, res, act: adv(1, residual=f"{res:.2e}"))
    iters = int(result.iterations[0])
    log.info("pagerank: %d iterations, L1 residual %.3e, %.3g MB sent by this rank per iteration", iters,
             result.residuals[0].item(), (comm.bytes_sent - sent0) / max(1, iters) / 1e6)
    _convergence_check(result, ["global"], rk.tol, rk.on_nonconvergence)

    blocks = comm.all_gather_ints([graph.m, graph.nnz])
    meta: dict[str, Any] = {
        "config": cfg.to_dict(), "versions": _versions(), "device": str(comm.device),
        "device_name": (torch.cuda.get_device_name(comm.device) if comm.device.type == "cuda"
                        else platform.processor() or "cpu"),
        "threads": torch.get_num_threads(), "input_files": files, "papers": graph.n, "citations": st["citations"],
        "graph": st, "method": "power",
        "distributed": {"world_size": comm.world_size, "backend": comm.backend,
                        "block_papers": blocks[:, 0].tolist(), "block_citations": blocks[:, 1].tolist(),
                        "bytes_sent_per_iteration_rank0": (comm.bytes_sent - sent0) / max(1, iters)},
        "ingest": {"id_kind": graph.kind, "papers": graph.n, **{k: v for k, v in st.items() if k in
                                                                 ("citation_rows", "files", "id_numbering",
                                                                  "unknown_paper_rows", "unknown_papers")}},
        "global": {"iterations": iters, "residual": float(result.residuals[0]),
                   "converged": bool(result.converged[0])},
    }
    outputs: dict[str, str] = {}
    scores_block = result.scores[:, 0].to(torch.float64).cpu().numpy()
    gathered = comm.gather_tables(pa.table({"paper_id": graph.ids, "score": scores_block}))
    ids = IdMap(ids=graph.ids, kind=graph.kind)
    scores = scores_block
    if root:
        assert gathered is not None
        table = pa.concat_tables(gathered)
        ids = IdMap(ids=table.column("paper_id").combine_chunks(), kind=graph.kind)
        scores = table.column("score").to_numpy()
        meta["ingest"].update(ids_stats(ids))
        del gathered, table

    with staged_outputs() as staging:
        with comm.phase("write papers"), stages("write papers"):
            if root:
                excluded = _exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind)
                if excluded.size >= graph.n:
                    raise ConfigError(f"[output] exclude_ids covers all {graph.n} papers of the graph: nothing "
                                      "would be left to rank")
                check_finite(torch.from_numpy(scores), "pagerank")
                path = out_dir / "papers.parquet"
                write_parquet_atomic(_ranked_table(ids.output_ids(), scores, scores, excluded), path,
                                     _file_meta(meta, stages))
                outputs["papers"] = str(path)
        if inp.authorships or inp.coauthorships:
            with comm.phase("authors"), stages("authors"):
                if root:
                    auth = _read_authorships(cfg, ids)
                    meta["authors"] = _authors(cfg, ids, auth, torch.from_numpy(scores)[:, None], None, out_dir,
                                               meta, stages)
                    outputs["authors"] = str(out_dir / "authors.parquet")
        job = fingerprint(cfg, files + [cfg.personalize.seeds], f"distributed:{comm.world_size}") \
            if cfg.personalize is not None else ""
        if cfg.personalize is not None:
            with stages("personalize"):
                facts = _personalize(cfg, graph, comm, dtype, out_dir, show, job)
            if root:
                meta["personalized"] = facts
                outputs["personalized"] = str(out_dir / "personalized.parquet")
        with comm.phase("write run.json"):
            if root:
                meta["seconds"] = dict(stages.seconds)
                meta["seconds"]["total"] = time.perf_counter() - t_start
                meta["outputs"] = {**outputs, "run": str(out_dir / "run.json")}
                write_json_atomic(meta, out_dir / "run.json")
        with comm.phase("commit outputs"):
            if root:
                staging.commit()  # every rank finished: the outputs take their final names
                if cfg.personalize is not None:
                    Checkpoints(out_dir, job).remove()
    outputs["run"] = str(out_dir / "run.json")
    if root:
        log.info("wrote %s in %.2f s", ", ".join(outputs.values()), time.perf_counter() - t_start)
    global_result = result if not root else PageRankResult(
        scores=torch.from_numpy(scores)[:, None], iterations=result.iterations, residuals=result.residuals,
        converged=result.converged)
    return RunResult(graph=graph, ids=ids, global_result=global_result, metadata=meta if root else {},  # type: ignore[arg-type]
                     outputs=outputs if root else {})


def _personalize(cfg: JobConfig, graph: PartitionedGraph, comm: Comm, dtype: torch.dtype, out_dir: Path, show: bool,
                 job: str) -> dict[str, Any] | None:
    """Personalized PageRank over the ranks; rank 0 merges each column's top k from every block."""
    pc_cfg = cfg.personalize
    assert pc_cfg is not None
    lookup = PartitionedIds(graph, comm)
    # every rank reads the (small) seeds file; its id lookups are collective, so a bad row fails on every rank
    seeds = read_seeds(pc_cfg.seeds, lookup, seed_set_column=pc_cfg.seed_set_column,  # type: ignore[arg-type]
                       paper_id_column=pc_cfg.paper_id_column, weight_column=pc_cfg.weight_column)
    excluded = lookup.index_of(cfg.output.exclude_ids)
    mine = excluded[(excluded >= graph.lo) & (excluded < graph.hi)] - graph.lo
    mine_t = torch.from_numpy(mine)
    block_ids = IdMap(ids=graph.ids, kind=graph.kind)
    rk = cfg.rank

    def rank_batch(sub, n_cols, k):
        teleport = block_teleport(graph, *sub, n_cols, dtype=dtype)
        res = partitioned_pagerank(graph, teleport, comm, alpha=rk.alpha, tol=rk.tol, max_iter=rk.max_iter)
        scores = res.scores.to(torch.float64).cpu()
        if mine.size:
            scores[mine_t] = -1.0
        remaining = column_totals(graph, torch.where(scores > 0, scores, torch.zeros_like(scores)), comm).numpy()
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
        cols = allc.column("column").to_numpy()
        starts = np.searchsorted(cols, np.arange(n_cols))
        take = (starts[:, None] + np.arange(k)[None, :]).reshape(-1)  # the first k of each column
        top = allc.take(pa.array(take))
        val = top.column("score").to_numpy().reshape(n_cols, k).T
        paper_ids = IdMap(ids=top.column("paper_id").combine_chunks(), kind=graph.kind).output_ids()
        return res, paper_ids, val, remaining

    batch = pc_cfg.batch_size or _auto_batch(max(graph.n_pad, 1), dtype, graph.device, len(seeds))
    batch = comm.all_gather_ints([batch]).min()  # the same batches on every rank
    return personalize_batches(cfg, seeds, graph.n - int(excluded.size), int(batch), rank_batch, graph.kind, None,
                               job, out_dir, show, coord=comm)

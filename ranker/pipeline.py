"""The job: parquet in, ranked parquet out. Calls io for files and the pure solvers for math."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from . import __version__
from .checkpoints import Checkpoints, checkpoint_schema, fingerprint
from .config import JobConfig, citation_files
from .errors import ConfigError, ConvergenceError, GraphError, InputError, OutputError
from .graph import CitationGraph, build_graph, csr_tensor, graph_from_edges
from .authors import author_citation_edges, author_scores, coauthor_edges, coranking, counting_weights
from .io import (Authorships, IdMap, SeedSets, free_bytes, id_kind, open_parquet, read_authorships, read_citations,
                 read_coauthorships, read_columns, read_paper_days, read_seeds, staged_outputs, write_json_atomic,
                 write_parquet_atomic)
from .rankers import DAYS_PER_YEAR, articlerank, citerank_teleport, rescale_by_time
from .output_dir import OutputDir, check_inputs_apart
from .pagerank import PageRankResult, check_tolerance, seed_teleport, uniform_teleport
from .solve import choose_method, describe, solve
from .kernels import column_sums
from .report import Stages, progress_bar

log = logging.getLogger("ranker")

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` without a GPU is a :class:`ConfigError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("[rank] device = 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


@dataclass
class RunResult:
    """What a job produced: the graph, the ids, the scores and the metadata written to run.json."""

    graph: CitationGraph
    ids: IdMap
    global_result: PageRankResult
    metadata: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)


def check_finite(scores: torch.Tensor, what: str) -> None:
    """Refuse to write scores that are not all finite (a defect: say so rather than write NaN)."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        raise GraphError(f"{what}: {int(bad.sum())} scores are not finite (NaN or infinite); nothing was written. "
                         "This is a bug: please report it with the input")


def _convergence_check(result: PageRankResult, names: list[str], tol: float, policy: str) -> None:
    bad = torch.nonzero(~result.converged).flatten().tolist()
    if not bad:
        return
    j = bad[0]
    msg = (f"{len(bad)} of {len(names)} score columns did not converge; first: {names[j]!r} stopped at "
           f"L1 residual {result.residuals[j].item():.3e} > tol {tol:.1e} after {result.iterations[j].item()} "
           "iterations (raise [rank] max_iter or tol, or set on_nonconvergence = 'warn')")
    if policy == "error":
        raise ConvergenceError(msg)
    log.warning(msg)


def _ranked_table(ids: pa.Array, scores: np.ndarray, mass: np.ndarray, excluded: np.ndarray | None = None,
                  extra: dict[str, np.ndarray] | None = None) -> pa.Table:
    """Rows sorted by score (descending), ties by id; rank 1 is the highest.

    ``share`` is ``mass`` over its sum across the rows kept; rows whose index is in
    ``excluded`` are left out (and do not count in the shares).
    """
    cols = {"paper_id": ids, "score": pa.array(scores, pa.float64())}
    share = mass.astype(np.float64)
    keep = None
    if excluded is not None and excluded.size:
        keep = np.ones(len(scores), dtype=bool)
        keep[excluded] = False
    total = share[keep].sum() if keep is not None else share.sum()
    cols["share"] = pa.array(share / total if total else np.zeros_like(share), pa.float64())
    for k, v in (extra or {}).items():
        cols[k] = pa.array(v, pa.float64())
    table = pa.table(cols)
    if keep is not None:
        table = table.filter(pa.array(keep))
    table = table.sort_by([("score", "descending"), ("paper_id", "ascending")])
    table = table.append_column("rank", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
    order = ["paper_id", "score", "rank", "share"] + list(extra or {})
    return table.select(order)


def _paper_days(cfg: JobConfig, ids: IdMap) -> np.ndarray:
    """Publication day of every node (ingest numbering: the papers file's rows come first)."""
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


def _reference_day(reference_date: str, days: np.ndarray) -> float:
    if not reference_date:
        return float(days.max())
    import datetime

    return float((datetime.date.fromisoformat(reference_date) - datetime.date(1970, 1, 1)).days)


def _exclude_index(values: tuple, dictionary: pa.Array, kind: str) -> np.ndarray:
    """Indices in ``dictionary`` of the ``[output] exclude_ids`` of its kind (the list may mix
    paper and author ids: the other kind's and unknown ids are skipped)."""
    want = int if kind == "integer" else str
    mine = [v for v in values if isinstance(v, want)]
    if not mine:
        return np.zeros(0, np.int64)
    arr = pa.array(mine, pa.int64() if kind == "integer" else pa.large_string()).cast(dictionary.type)
    idx = pc.index_in(arr, value_set=dictionary).to_numpy(zero_copy_only=False)
    return idx[~np.isnan(idx)].astype(np.int64) if idx.dtype.kind == "f" else idx.astype(np.int64)


def _read_authorships(cfg: JobConfig, ids: IdMap) -> Authorships | None:
    """``[input] authorships`` mapped to the graph's papers, or None when not given."""
    inp = cfg.input
    if not inp.authorships:
        return None
    return read_authorships(inp.authorships, ids, paper_column=inp.authorship_paper_column,
                            author_column=inp.author_column, position_column=inp.position_column)


def _merge_coauthorships(path: str, auth: Authorships, have_authorships: bool):
    """Authors of ``auth`` plus those of the coauthorships file in one dictionary (``auth``'s
    first, indices unchanged), and the coauthorship edges in both directions, self-pairs dropped."""
    a, b, w = read_coauthorships(path)
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


def _authors(cfg: JobConfig, ids: IdMap, auth: Authorships | None, paper_scores: torch.Tensor,
             paper_graph: CitationGraph, out_dir: Path, meta: dict[str, Any], stages: Stages) -> dict[str, Any]:
    """Author credit under ``[authors] counting``; writes authors.parquet and returns run facts."""
    inp = cfg.input
    algo = cfg.authors.algorithm
    co_edges = None
    if auth is None:
        none = np.zeros(0, np.int64)
        auth = Authorships(none, none, none, pa.array([], pa.large_string()))
    if inp.coauthorships and algo in ("coauthor_pagerank", "coranking"):
        auth, co_edges = _merge_coauthorships(inp.coauthorships, auth, bool(inp.authorships))
    rule = cfg.authors.counting
    weight = counting_weights(auth.paper, auth.position, rule)
    n_authors = len(auth.authors)
    facts: dict[str, Any] = {"algorithm": algo, "counting": rule}
    if algo == "paper_scores":
        scores = author_scores(auth.paper, auth.author, weight, paper_scores.to(torch.float64), n_authors)[:, 0]
    else:
        graph = paper_graph
        if algo == "author_pagerank":  # coauthor_pagerank and coranking use the coauthorship graph
            values = (torch.ones(graph.nnz, dtype=torch.float64, device=graph.device) if graph.weight is None
                      else graph.weight)
            cited_t = csr_tensor(graph.crow.long(), graph.col.long(), values, (graph.n, graph.n))
            citing, cited, w = author_citation_edges(cited_t, auth.paper, auth.author, weight, n_authors)
        elif co_edges is not None:
            citing, cited, w = co_edges
            facts["coauthorships"] = inp.coauthorships
        else:
            cited, citing, w = coauthor_edges(auth.paper, auth.author, graph.n, n_authors,
                                             cfg.authors.coauthor_weight)
            facts["coauthor_weight"] = cfg.authors.coauthor_weight
        ag = build_graph(citing, cited, n_authors, w, duplicates="sum", device=graph.device)
        rk = cfg.rank
        if algo == "coranking":
            p_scores, scores, it, resid = coranking(graph.transition(torch.float64), graph.dangling,
                                                    ag.transition(torch.float64), ag.dangling, auth.paper,
                                                    auth.author, jump=cfg.authors.jump, alpha=rk.alpha, tol=rk.tol,
                                                    max_iter=rk.max_iter)
            res = PageRankResult(scores=scores[:, None], iterations=torch.tensor([it]),
                                 residuals=torch.tensor([resid], dtype=torch.float64),
                                 converged=torch.tensor([resid < rk.tol]))
            _convergence_check(res, [algo], rk.tol, rk.on_nonconvergence)
            p_np = p_scores.cpu().numpy()
            write_parquet_atomic(_ranked_table(ids.output_ids(), p_np, p_np,
                                               _exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind)),
                                 out_dir / "coranking_papers.parquet", {**_file_meta(meta, stages), "authors": facts})
            facts["paper_output"] = str(out_dir / "coranking_papers.parquet")
            facts["jump"] = cfg.authors.jump
        else:
            res = solve(ag, uniform_teleport(n_authors, device=graph.device), method=rk.method, alpha=rk.alpha,
                        tol=rk.tol, max_iter=rk.max_iter)
            _convergence_check(res, [algo], rk.tol, rk.on_nonconvergence)
        scores = res.scores[:, 0]
        facts.update(author_edges=ag.nnz, iterations=int(res.iterations[0]), residual=float(res.residuals[0]))
        log.info("%s: %d authors, %d author edges, %d iterations", algo, n_authors, ag.nnz, int(res.iterations[0]))
    scores_np = scores.cpu().numpy()
    papers = np.bincount(auth.author, minlength=n_authors)
    kind = id_kind(auth.authors.type) or "string"
    excl = _exclude_index(cfg.output.exclude_ids, auth.authors, kind)
    authors_out = auth.authors.cast(pa.string()) if kind == "string" else auth.authors
    table = _ranked_table(authors_out, scores_np, scores_np, excl, {"papers": papers.astype(np.float64)})
    table = table.rename_columns(["author", "score", "rank", "share", "papers"])
    table = table.set_column(4, "papers", table.column("papers").cast(pa.int64()))
    facts.update(authors=n_authors, authorships=int(auth.paper.size), skipped_rows=auth.skipped_rows)
    log.info("authors: %d authors over %d authorships (%s counting), %d rows naming papers outside the graph "
             "skipped", n_authors, auth.paper.size, rule, auth.skipped_rows)
    write_parquet_atomic(table, out_dir / "authors.parquet", {**_file_meta(meta, stages), "authors": facts})
    return facts


def top_k(scores: torch.Tensor, k: int, ids: IdMap | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows of each column, ties broken by paper id (by index when ``ids`` is None).

    Returns
    -------
    index, value : numpy.ndarray
        ``[k, B]`` paper indices and their scores (float64), best first.
    """
    n, n_cols = scores.shape
    k = min(k, n)
    s = scores.to(torch.float64).cpu()
    # Exact tie-breaking: find the k-th value per column, keep every row >= it, sort those.
    kth = torch.topk(s, k, dim=0).values[-1]
    idx_out = np.empty((k, n_cols), np.int64)
    val_out = np.empty((k, n_cols), np.float64)
    for b in range(n_cols):
        cand = torch.nonzero(s[:, b] >= kth[b]).flatten().numpy()
        vals = s[cand, b].numpy()
        if ids is None:
            order = np.lexsort((cand, -vals))[:k]
        else:
            t = pa.table({"i": cand, "s": vals, "id": ids.output_ids(cand)})
            order = pc.sort_indices(t, [("s", "descending"), ("id", "ascending")]).to_numpy()[:k]
        idx_out[:, b] = cand[order]
        val_out[:, b] = vals[order]
    return idx_out, val_out


def _auto_batch(n: int, dtype: torch.dtype, device: torch.device, n_sets: int) -> int:
    """Seed sets per batch: what fits in a quarter of free memory at ~5 dense columns each."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
            free = 4 << 30
    per_col = max(1, n) * torch.finfo(dtype).bits // 8 * 5
    return int(max(1, min(n_sets, 256, (free // 4) // per_col)))


def _versions() -> dict[str, str]:
    return {"rank_citations": __version__, "torch": torch.__version__, "pyarrow": pa.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def run_job(cfg: JobConfig, *, show_progress: bool = True) -> RunResult:
    """Run a validated job end to end and write its outputs (see :func:`_run_job`).

    Before any work the output directory is checked against the inputs (no output may
    replace or be read as an input), created, proved writable and locked for the job
    (:class:`ranker.output_dir.OutputDir`). Outputs are staged under temp names and committed
    together when the job has finished, ``run.json`` last: whatever stops the job (an error,
    Ctrl-C, SIGTERM), the previous complete run's files stay as they were and no temp file is
    left behind.

    Started by ``torchrun`` with several processes (``WORLD_SIZE`` > 1), every process runs
    the job together (:mod:`ranker.distributed_job`) and rank 0 writes the outputs.
    """
    from .distributed import launched

    if launched():
        return _run_distributed(cfg, show_progress=show_progress)
    check_inputs_apart(cfg.output.dir, *job_inputs(cfg))
    with OutputDir(cfg.output.dir) as out, staged_outputs() as staged:
        result = _run_job(cfg, out.path, show_progress=show_progress)
        staged.commit()
    if cfg.personalize is not None:
        Checkpoints(out.path, result.metadata["checkpoint_job"]).remove()
    log.info("wrote %s in %.2f s", ", ".join(result.outputs.values()), result.metadata["seconds"]["total"])
    return result


def job_inputs(cfg: JobConfig) -> tuple[list[str], list[str]]:
    """The job's input files and the directories it reads as a whole (for :func:`check_inputs_apart`)."""
    inp = cfg.input
    files = [f for f in (inp.papers, inp.authorships, inp.coauthorships,
                         cfg.personalize.seeds if cfg.personalize else "",
                         cfg.credit.targets if cfg.credit else "") if f]
    dirs = []
    if inp.synthetic is not None:
        dirs.append(inp.synthetic.dir)
    elif os.path.isdir(inp.citations):
        dirs.append(inp.citations)
    else:
        files += citation_files(inp.citations)
    return files, dirs


def _run_distributed(cfg: JobConfig, *, show_progress: bool = True) -> RunResult:
    from .distributed import Comm
    from .distributed_job import run_distributed_job

    comm = Comm.from_env(cfg.rank.device)
    try:
        return run_distributed_job(cfg, comm, show_progress=show_progress)
    finally:
        comm.close()


def _run_job(cfg: JobConfig, out_dir: Path, *, show_progress: bool = True) -> RunResult:
    """Run a validated job end to end and write (stage) its outputs.

    Parameters
    ----------
    cfg : JobConfig
        From :func:`ranker.config.load_config`.
    out_dir : Path
        The checked, locked output directory.
    show_progress : bool
        Progress bars on a terminal.

    Returns
    -------
    RunResult

    Raises
    ------
    RankerError
        Any documented input, graph or convergence error.
    """
    t_start = time.perf_counter()
    stages = Stages()
    device = resolve_device(cfg.rank.device)
    if cfg.rank.kernel == "triton":
        from .kernels.triton_step import available

        if not available(device):
            raise ConfigError(f"[rank] kernel = 'triton' cannot run on {device}: it needs triton and a CUDA device "
                              "(or TRITON_INTERPRET=1 on the CPU, for testing)")
    dtype = DTYPES[cfg.rank.dtype]
    log.info("device: %s%s", device, f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    inp = cfg.input

    if inp.synthetic is not None:
        from .synthetic import SyntheticSpec, generate

        syn = inp.synthetic
        spec = SyntheticSpec(papers=syn.papers, mean_references=syn.mean_references, seed=syn.seed,
                             seed_sets=syn.seed_sets)
        with stages("generate"), progress_bar("generate", syn.papers, enabled=show_progress) as adv:
            manifest = generate(syn.dir, spec, progress=adv)
        log.info("synthetic data in %s: %d papers, %d citations", syn.dir, manifest["papers"], manifest["citations"])

    files = citation_files(inp.citations)
    try:  # only for the progress bar: a bad file is reported, with its name, by read_citations
        total_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files) if len(files) < 10_000 else None
    except (pa.ArrowException, OSError):
        total_rows = None
    with stages("ingest"), progress_bar("ingest", total_rows, enabled=show_progress) as adv:
        edges = read_citations(files, citing_column=inp.citing_column, cited_column=inp.cited_column,
                               weight_column=inp.weight_column, papers=inp.papers,
                               paper_id_column=inp.paper_id_column, unknown_papers=inp.unknown_papers,
                               batch_rows=inp.batch_rows, advance=adv)
    ids = edges.ids
    ingest_stats = dict(edges.stats)
    log.info("read %d citation rows from %d file(s): %d papers (%s ids)", edges.stats["citation_rows"], len(files),
             len(ids), ids.kind)

    with stages("build"):
        graph = graph_from_edges(edges, self_citations=inp.self_citations, duplicates=inp.duplicates,
                                 index_dtype=cfg.rank.index_dtype, device=device)
        del edges
    rk = cfg.rank
    check_tolerance(rk.tol, dtype, graph.n)
    if len(cfg.output.exclude_ids) >= graph.n and _exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind).size \
            >= graph.n:
        raise ConfigError(f"[output] exclude_ids covers all {graph.n} papers of the graph: nothing would be left "
                          "to rank")
    days = _paper_days(cfg, ids) if rk.algorithm in ("citerank", "rescaled_pagerank") else None
    if rk.method != "power":
        with stages("order"):
            from .dag import leveled

            graph, plan = leveled(graph)
            perm_np = plan.perm.cpu().numpy()
            ids = ids.permute(perm_np)
            days = None if days is None else days[perm_np]
        f = plan.facts
        log.info("condensation: %d levels; %d papers on cycles in %d strongly connected components (largest %d)",
                 plan.levels, f["papers_on_cycles"], f["components"], f["largest_component"])
    st = graph.stats
    log.info("graph: %d papers, %d citations (%s indices, %s), %d self-citations %s, %d duplicate rows %s, "
             "%d dangling papers, %.1f MB on %s", graph.n, graph.nnz, st["index_dtype"],
             "weighted" if graph.weight is not None else "unweighted", st["self_citations"],
             "dropped" if inp.self_citations == "drop" else "kept", st["duplicate_rows"],
             "summed" if inp.duplicates == "sum" else "counted once", st["dangling_papers"], graph.nbytes() / 1e6,
             device)

    with stages(rk.algorithm), progress_bar(rk.algorithm, rk.max_iter, enabled=show_progress) as adv:
        progress = lambda it, res, act: adv(1, residual=f"{res:.2e}")  # noqa: E731
        if rk.algorithm == "articlerank":
            result = articlerank(graph, alpha=rk.alpha, tol=rk.tol, max_iter=rk.max_iter, dtype=dtype,
                                 callback=progress)
        else:
            if rk.algorithm == "citerank":
                assert days is not None
                ref = _reference_day(rk.reference_date, days)
                teleport = citerank_teleport(torch.from_numpy((ref - days) / DAYS_PER_YEAR), rk.tau, dtype=dtype)
                teleport = teleport.to(graph.device)
            else:
                teleport = uniform_teleport(graph.n, dtype=dtype, device=graph.device)
            result = solve(graph, teleport, method=rk.method, alpha=rk.alpha, tol=rk.tol, max_iter=rk.max_iter,
                           callback=progress, kernel=rk.kernel)
    solver = "power iteration (ArticleRank)" if rk.algorithm == "articlerank" else describe(
        choose_method(graph, rk.method), rk.kernel, device)
    log.info("%s: %d iterations, L1 residual %.3e; solver: %s", rk.algorithm, result.iterations[0].item(),
             result.residuals[0].item(), solver)
    _convergence_check(result, ["global"], rk.tol, rk.on_nonconvergence)
    check_finite(result.scores, rk.algorithm)

    meta: dict[str, Any] = {
        "config": cfg.to_dict(), "versions": _versions(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "input_files": files,
        "papers": graph.n, "citations": graph.nnz, "graph": st, "method": rk.method,
        "solver": solver,
        "ingest": {**ids_stats(ids), **ingest_stats},
        "global": {"iterations": int(result.iterations[0]), "residual": float(result.residuals[0]),
                   "converged": bool(result.converged[0])},
    }
    outputs: dict[str, str] = {}

    scores = result.scores[:, 0].to(torch.float64).cpu().numpy()
    excluded = _exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind)
    with stages("write papers"):
        extra = {}
        mass = scores
        if rk.algorithm == "rescaled_pagerank":
            assert days is not None
            extra["pagerank"] = scores
            scores = rescale_by_time(scores, days, rk.window)
        path = out_dir / "papers.parquet"
        write_parquet_atomic(_ranked_table(ids.output_ids(), scores, mass, excluded, extra), path,
                             _file_meta(meta, stages))
        outputs["papers"] = str(path)

    auth = _read_authorships(cfg, ids) if cfg.input.authorships else None
    if cfg.input.authorships or cfg.input.coauthorships:
        with stages("authors"):
            meta["authors"] = _authors(cfg, ids, auth, result.scores[:, :1], graph, out_dir, meta, stages)
        outputs["authors"] = str(out_dir / "authors.parquet")

    if cfg.personalize is not None:
        meta["checkpoint_job"] = fingerprint(cfg, files + [cfg.personalize.seeds])
        with stages("personalize"):
            meta["personalized"] = _personalize(cfg, graph, ids, dtype, out_dir, meta["checkpoint_job"],
                                                show_progress)
        outputs["personalized"] = str(out_dir / "personalized.parquet")

    if cfg.credit is not None:
        with stages("credit"):
            meta["credit"] = _credit(cfg, graph, ids, auth, dtype, out_dir, meta, stages, show_progress)
        outputs["credit"] = str(out_dir / "credit.parquet")

    meta["seconds"] = dict(stages.seconds)
    meta["seconds"]["total"] = time.perf_counter() - t_start
    meta["outputs"] = outputs
    write_json_atomic(meta, out_dir / "run.json")
    outputs["run"] = str(out_dir / "run.json")
    return RunResult(graph=graph, ids=ids, global_result=result, metadata=meta, outputs=outputs)


def ids_stats(ids: IdMap) -> dict[str, Any]:
    return {"id_kind": ids.kind, "papers_listed": ids.n_known, "papers": len(ids)}


def _file_meta(meta: dict[str, Any], stages: Stages) -> dict[str, Any]:
    return {**meta, "seconds": dict(stages.seconds)}


def _read_targets(cfg: JobConfig, ids: IdMap, auth: Authorships | None, a_weight: np.ndarray | None):
    """Targets as (kind, index, seed papers, seed weights), in file order, each target once."""
    cr = cfg.credit
    assert cr is not None
    src = open_parquet(cr.targets, {cr.target_column: "id"}, role="targets")
    has_kind = "kind" in src.file.schema_arrow.names
    table = read_columns(src, [cr.target_column] + (["kind"] if has_kind else []))
    raw = table.column(0).combine_chunks()
    kinds = table.column(1).to_pylist() if has_kind else ["paper"] * len(raw)
    out, seen = [], set()
    for i, (value, kind) in enumerate(zip(raw.to_pylist(), kinds)):
        at = f"{cr.targets}, column {cr.target_column!r}, row {i}"
        if value is None:
            raise InputError(f"{at}: null target")
        if kind not in ("paper", "author"):
            raise InputError(f"{cr.targets}, column 'kind', row {i}: must be 'paper' or 'author', got {kind!r}")
        if kind == "author" and auth is None:
            raise InputError(f"{at}: author target {value!r} needs [input] authorships")
        dictionary = ids.ids if kind == "paper" else auth.authors
        want = str if (id_kind(dictionary.type) or "string") == "string" else int
        try:
            idx = (pc.index_in(pa.array([value], dictionary.type), value_set=dictionary)[0].as_py()
                   if isinstance(value, want) else None)
        except (pa.ArrowInvalid, OverflowError):  # an unsigned id beyond int64: in no graph
            idx = None
        if idx is None:
            what = "a paper of the citation graph" if kind == "paper" else "an author"
            raise InputError(f"{at}: target {value!r} is not {what}")
        if (kind, idx) in seen:
            continue
        seen.add((kind, idx))
        if kind == "paper":
            out.append((kind, idx, np.array([idx]), np.ones(1)))
        else:
            rows = np.flatnonzero(auth.author == idx)
            out.append((kind, idx, auth.paper[rows], a_weight[rows]))
    return out


def _credit(cfg: JobConfig, graph: CitationGraph, ids: IdMap, auth: Authorships | None, dtype: torch.dtype,
            out_dir: Path, meta: dict[str, Any], stages: Stages, show_progress: bool) -> dict[str, Any]:
    """Credit for each target's impact, owed to the papers it builds on and to their authors.

    A personalized walk restarting at the target paper (or at an author's papers, by their
    counting-rule share) and following references, batched over targets. The target's own
    papers (and, for an author target, the author) and excluded ids are set aside; each
    remaining paper's share is its score over the credit that left the target, and authors
    share their papers' credit under ``[authors] counting``.
    """
    cr = cfg.credit
    assert cr is not None
    a_weight, a_kind, a_excl = None, ids.kind, np.zeros(0, np.int64)
    if auth is not None:
        a_weight = counting_weights(auth.paper, auth.position, cfg.authors.counting)
        a_kind = id_kind(auth.authors.type) or "string"
        a_excl = _exclude_index(cfg.output.exclude_ids, auth.authors, a_kind)
    targets = _read_targets(cfg, ids, auth, a_weight)
    p_excl = torch.from_numpy(_exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind))
    id_type = (pa.int64() if ids.kind == "integer" else pa.string()) if a_kind == ids.kind else pa.string()
    rk = cfg.rank
    batch = _auto_batch(graph.n, dtype, graph.device, len(targets))
    tables, no_credit = [], 0
    n_batches = (len(targets) + batch - 1) // batch
    ticker = BatchTicker("credit", n_batches, unit="targets")
    with progress_bar("credit", n_batches, enabled=show_progress) as adv:
        for lo in range(0, len(targets), batch):
            chunk = targets[lo:lo + batch]
            b = len(chunk)
            set_idx = np.concatenate([np.full(len(t[2]), j) for j, t in enumerate(chunk)])
            seeds = (set_idx, np.concatenate([t[2] for t in chunk]), np.concatenate([t[3] for t in chunk]))
            res, graph = _solve_batch(graph, seeds, b, dtype, rk)
            names = [str((ids.output_ids(np.array([t[1]])) if t[0] == "paper" else auth.authors.take([t[1]]))[0])
                     for t in chunk]
            _convergence_check(res, names, rk.tol, rk.on_nonconvergence)
            x = res.scores.to(torch.float64)
            x[torch.from_numpy(seeds[1]), torch.from_numpy(set_idx)] = 0.0  # the target's own papers
            if p_excl.numel():
                x[p_excl] = 0.0
            views = [("paper", x, ids)]
            if auth is not None:
                ax = author_scores(auth.paper, auth.author, a_weight, x, len(auth.authors))
                for j, t in enumerate(chunk):
                    if t[0] == "author":
                        ax[t[1], j] = 0.0  # an author owes nothing to themself
                if a_excl.size:
                    ax[torch.from_numpy(a_excl)] = 0.0
                views.append(("author", ax, IdMap(auth.authors, a_kind)))
            for kind, scores, dictionary in views:
                tot = scores.sum(0)
                top, val = top_k(scores, cr.top_k, dictionary)
                for j, t in enumerate(chunk):
                    keep = val[:, j] > 0
                    if not keep.any() or tot[j] <= 0:
                        no_credit += kind == "paper"
                        continue
                    m = int(keep.sum())
                    target_id = (ids.output_ids(np.array([t[1]])) if t[0] == "paper"
                                 else auth.authors.take([t[1]]))
                    tables.append(pa.table({
                        "target": pa.concat_arrays([target_id.cast(id_type)] * m),
                        "target_kind": pa.array([t[0]] * m, pa.string()),
                        "credited": dictionary.output_ids(top[keep, j]).cast(id_type),
                        "kind": pa.array([kind] * m, pa.string()),
                        "score": pa.array(val[keep, j], pa.float64()),
                        "share": pa.array(val[keep, j] / float(tot[j]), pa.float64()),
                        "rank": pa.array(np.arange(1, m + 1, dtype=np.int64)),
                    }))
            adv(1)
            ticker.tick(b, iterations=int(res.iterations.max()))
    schema = pa.schema([("target", id_type), ("target_kind", pa.string()), ("credited", id_type),
                        ("kind", pa.string()), ("score", pa.float64()), ("share", pa.float64()), ("rank", pa.int64())])
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    facts = {"targets": len(targets), "targets_without_references": int(no_credit), "top_k": cr.top_k,
             "authors": auth is not None}
    if no_credit:
        log.info("credit: %d target(s) cite nothing reachable, so owe no credit", no_credit)
    write_parquet_atomic(table, out_dir / "credit.parquet", {**_file_meta(meta, stages), "credit": facts})
    return facts


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def _solve_batch(graph: CitationGraph, seeds: tuple[np.ndarray, np.ndarray, np.ndarray], n_cols: int,
                 dtype: torch.dtype, rk: Any) -> tuple[PageRankResult, CitationGraph]:
    """Solve seed columns ``0..n_cols-1``; on out-of-memory split the batch in halves, and when a
    single column does not fit on a GPU move the graph to the CPU. Every step is logged.

    Columns are independent (bit-identical whatever their batch), so splitting changes no number.
    Returns the result (scores on the CPU) and the graph, which may now live on the CPU.
    """
    set_index, paper_index, weight = seeds
    try:
        teleport = seed_teleport(graph.n, torch.from_numpy(set_index), torch.from_numpy(paper_index),
                                 torch.from_numpy(weight), n_cols, dtype=dtype, device=graph.device)
        res = solve(graph, teleport, method=rk.method, alpha=rk.alpha, tol=rk.tol, max_iter=rk.max_iter,
                    kernel=rk.kernel, batch_invariant=True)
        del teleport
        res.scores = res.scores.cpu()
        return res, graph
    except (RuntimeError, MemoryError) as exc:
        if not _is_oom(exc):
            raise
        if graph.device.type == "cuda":
            torch.cuda.empty_cache()
        if n_cols > 1:
            half = n_cols // 2
            log.warning("out of memory solving %d seed sets on %s: retrying as batches of %d and %d",
                        n_cols, graph.device, half, n_cols - half)
            parts = []
            for a, b in ((0, half), (half, n_cols)):
                m = (set_index >= a) & (set_index < b)
                r, graph = _solve_batch(graph, (set_index[m] - a, paper_index[m], weight[m]), b - a, dtype, rk)
                parts.append(r)
            return PageRankResult(scores=torch.cat([p.scores for p in parts], 1),
                                  iterations=torch.cat([p.iterations for p in parts]),
                                  residuals=torch.cat([p.residuals for p in parts]),
                                  converged=torch.cat([p.converged for p in parts])), graph
        if graph.device.type != "cpu":
            log.warning("out of memory on %s with a single seed set: falling back to the CPU", graph.device)
            return _solve_batch(graph.to("cpu"), seeds, n_cols, dtype, rk)
        raise


class _Solo:
    """The coordination :func:`personalize_batches` needs, for one process (see ranker.distributed.Comm)."""

    is_root = True

    @staticmethod
    def phase(name: str):
        return contextlib.nullcontext()

    @staticmethod
    def decide(flag: bool) -> bool:
        return flag


#: ``rank_batch(seeds, n_cols, k)`` solves seed columns ``0..n_cols-1`` (triplets of set, paper, weight) and
#: returns the result, the top ``k`` papers' ids (``[n_cols * k]``, column by column), their scores
#: ``[k, n_cols]`` and each column's positive mass outside the excluded papers ``[n_cols]``.
BatchRanker = Callable[[tuple[np.ndarray, np.ndarray, np.ndarray], int, int],
                       tuple[PageRankResult, pa.Array, np.ndarray, np.ndarray]]


def _personalize(cfg: JobConfig, graph: CitationGraph, ids: IdMap, dtype: torch.dtype, out_dir: Path, job: str,
                 show_progress: bool) -> dict[str, Any]:
    """Personalized PageRank on one process: every seed set, in batches (see :func:`personalize_batches`)."""
    pc_cfg = cfg.personalize
    assert pc_cfg is not None
    seeds = read_seeds(pc_cfg.seeds, ids, seed_set_column=pc_cfg.seed_set_column,
                       paper_id_column=pc_cfg.paper_id_column, weight_column=pc_cfg.weight_column)
    excluded = _exclude_index(cfg.output.exclude_ids, ids.ids, ids.kind)
    excluded_t = torch.from_numpy(excluded)
    state = {"graph": graph}

    def rank_batch(sub, n_cols, k):
        res, state["graph"] = _solve_batch(state["graph"], sub, n_cols, dtype, cfg.rank)
        scores = res.scores
        if excluded.size:  # left out of the top k, and of the mass the shares divide
            scores = scores.clone()
            scores[excluded_t] = -1.0
        remaining = column_sums(torch.where(scores > 0, scores, torch.zeros_like(scores))).numpy()
        idx, val = top_k(scores, k, ids)
        return res, ids.output_ids(idx.T.reshape(-1)), val, remaining

    batch = pc_cfg.batch_size or _auto_batch(graph.n, dtype, graph.device, len(seeds))
    return personalize_batches(cfg, seeds, graph.n - int(excluded.size), batch, rank_batch, ids.kind, ids, job,
                               out_dir, show_progress)


def personalize_batches(cfg: JobConfig, seeds: SeedSets, n_candidates: int, batch: int, rank_batch: BatchRanker,
                        id_kind: str, ids: IdMap | None, job: str, out_dir: Path, show_progress: bool,
                        coord: Any = _Solo) -> dict[str, Any] | None:
    """Solve every seed set in batches, checkpointing each finished batch; returns run facts.

    ``coord`` is :class:`_Solo` or a :class:`ranker.distributed.Comm`: then every rank runs the
    loop, rank 0 alone reads and writes files, and the others follow its resume decisions.
    ``job`` is the job's :func:`ranker.checkpoints.fingerprint`; a batch is taken from its
    checkpoint only when the checkpoint verifies against it (:class:`ranker.checkpoints.Checkpoints`:
    ``id_kind`` fixes its schema; ``ids``, when given, proves its papers are in the graph). Without a
    terminal, one log line per batch (at most one every 10 s past 100 batches) shows the progress.
    Returns the facts on rank 0, None elsewhere.
    """
    pc_cfg = cfg.personalize
    assert pc_cfg is not None
    rk = cfg.rank
    n_sets = len(seeds)
    n_batches = (n_sets + batch - 1) // batch
    log.info("personalized PageRank: %d seed sets from %s, %d batch(es) of up to %d", n_sets, pc_cfg.seeds,
             n_batches, batch)
    ckpt = Checkpoints(out_dir, job)
    k = min(pc_cfg.top_k, n_candidates)
    with coord.phase("checkpoint directory"):
        if coord.is_root:
            ckpt.create()
            _check_space(out_dir, ckpt, n_sets * k * ((_id_bytes(ids) if ids is not None else 16) + 40 + 24))
    schema = checkpoint_schema(id_kind)
    order = np.argsort(seeds.set_index, kind="stable")
    set_sorted = seeds.set_index[order]
    iters = np.zeros(n_sets, np.int64)
    resid = np.zeros(n_sets, np.float64)
    tables: list[pa.Table] = []
    resumed = 0
    ticker = BatchTicker("personalized", n_batches, enabled=coord.is_root)
    with progress_bar("personalized", n_batches, enabled=show_progress and coord.is_root) as adv:
        for bi in range(n_batches):
            lo, hi = bi * batch, min(n_sets, (bi + 1) * batch)
            names = seeds.names[lo:hi]
            info = ckpt.read(bi, names, k, ids, schema) if coord.is_root else None
            if coord.decide(info is not None):
                if coord.is_root:
                    iters[lo:hi], resid[lo:hi] = info["iterations"], info["residuals"]
                    tables.append(info["table"])
                resumed += 1
                adv(1)
                ticker.tick(hi - lo, resumed=True)
                continue
            a, b = np.searchsorted(set_sorted, [lo, hi])
            rows = order[a:b]
            sub = (seeds.set_index[rows] - lo, seeds.paper_index[rows], seeds.weight[rows])
            res, paper_ids, val, remaining = rank_batch(sub, hi - lo, k)
            _convergence_check(res, names, rk.tol, rk.on_nonconvergence)
            iters[lo:hi], resid[lo:hi] = res.iterations.numpy(), res.residuals.numpy()
            with coord.phase("write checkpoint"):
                if coord.is_root:
                    table = pa.table({
                        "seed_set": pa.array(np.repeat(np.array(names, dtype=object), k), pa.string()),
                        "paper_id": paper_ids,
                        "score": pa.array(val.T.reshape(-1), pa.float64()),
                        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int64), hi - lo)),
                        "share": pa.array((val / np.where(remaining > 0, remaining, 1.0)).T.reshape(-1),
                                          pa.float64()),
                    })
                    ckpt.write(bi, table, names, iters[lo:hi].tolist(), resid[lo:hi].tolist())
                    tables.append(table)
            adv(1, iterations=int(iters[lo:hi].max()))
            ticker.tick(hi - lo, iterations=int(iters[lo:hi].max()), residual=float(resid[lo:hi].max()))
    facts = None
    with coord.phase("write personalized"):
        if coord.is_root:
            if resumed:
                log.info("resumed: %d of %d batch(es) taken from checkpoints in %s", resumed, n_batches, ckpt.dir)
            facts = {"seed_sets": n_sets, "batch_size": batch, "batches": n_batches, "resumed_batches": resumed,
                     "top_k": pc_cfg.top_k, "iterations": dict(zip(seeds.names, iters.tolist())),
                     "residuals": dict(zip(seeds.names, resid.tolist()))}
            table = pa.concat_tables(tables)
            write_parquet_atomic(table, out_dir / "personalized.parquet",
                                 {"personalized": facts, "config": cfg.to_dict(), "versions": _versions()})
            log.info("personalized: iterations %d..%d, max residual %.3e", int(iters.min()), int(iters.max()),
                     float(resid.max()))
    return facts


class BatchTicker:
    """Progress of a batch loop as log lines, for logs that are not a terminal (no progress bar).

    One INFO line per batch, or at most one every ``every_s`` seconds when there are more than
    100 batches (the last batch always logs): done/total, seed sets, iterations, residual,
    elapsed time and an estimate of the time left.
    """

    def __init__(self, what: str, total: int, *, unit: str = "seed sets", enabled: bool = True,
                 every_s: float = 10.0) -> None:
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.every_s = every_s if total > 100 else 0.0
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self, columns: int, **facts: Any) -> None:
        self.done += 1
        now = time.perf_counter()
        if not self.enabled or (now - self.last < self.every_s and self.done < self.total):
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed / self.done * (self.total - self.done)
        extra = "".join(f", {k} {v:.2e}" if isinstance(v, float) else f", {k} {v}" for k, v in facts.items())
        log.info("%s batch %d/%d: %d %s%s; %.1f s elapsed, about %.1f s left", self.what, self.done,
                 self.total, columns, self.unit, extra, elapsed, left)


def _id_bytes(ids: IdMap) -> int:
    """Average bytes of one paper id in parquet (8 for integers)."""
    if ids.kind == "integer" or len(ids) == 0:
        return 8
    return int(pc.sum(pc.binary_length(ids.ids.slice(0, 10_000))).as_py() / min(len(ids), 10_000)) + 4


def _check_space(out_dir: Path, ckpt: Checkpoints, needed: int) -> None:
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


__all__ = ["RunResult", "run_job", "resolve_device", "top_k", "personalize_batches", "job_inputs"]

"""One call from a table of citations to a table of ranked papers: the API for notebooks.

:func:`rank` takes what a notebook holds (a pandas or polars DataFrame, an Arrow table, or a
path to a parquet/CSV/JSON Lines file) with ids of any kind, and returns an Arrow table
(``.to_pandas()`` and ``polars.from_arrow`` are one call away), as cuGraph's ``renumber=True``
does. It runs the same solvers as a job (:func:`ranker.solvers.choose.solve`) without writing files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from .config import DEVICES, METHODS, TIES
from .dense_ids import renumber
from .devices import resolve_device
from .graph import CitationGraph
from .graph_build import build_graph, graph_from_edges
from .io import IdMap
from .io.text_batches import first_repeated
from .solvers.choose import solve
from .solvers.power import check_walk, seed_teleport, uniform_teleport


def rank(citations: Any, *, citing: str = "citing", cited: str = "cited", weight: str | None = None,
         seeds: Mapping[str, Any] | None = None, top_k: int = 100, alpha: float = 0.85, tol: float = 1e-10,
         max_iter: int = 1000, method: str = "auto", device: str = "cpu", ties: str = "ordinal",
         on_nonconvergence: str = "error", years: Any = None, at_years: list[int] | None = None) -> pa.Table:
    """PageRank (or personalized PageRank) of a citation table, as a ranked Arrow table.

    Parameters
    ----------
    citations : pandas.DataFrame, polars.DataFrame, pyarrow.Table, or path
        One row per citation, with columns ``citing`` and ``cited`` (ids: strings or integers)
        and optionally ``weight``. A path is read as a job reads its citations file (parquet,
        CSV, TSV, JSON Lines, gzipped or not; a list column of cited ids is exploded).
    citing, cited, weight : str
        Column names.
    seeds : mapping of str to ids, optional
        Seed sets for personalized PageRank: name -> paper ids (each seed weighs 1; a single
        id, string or integer, is a set of one). Solved together as the columns of one product.
    top_k : int
        Papers kept per seed set (personalized), or per year (with ``years``), at most: papers a
        set cannot reach by citations have score 0 and are not listed.
    alpha, tol, max_iter, method :
        As :func:`ranker.solvers.choose.solve`: ``x = alpha P^T x + (1 - alpha) v``, dangling papers'
        mass to ``v``; stop when the L1 change is below ``tol``. ``alpha`` in (0, 1), ``tol``
        finite and positive, ``max_iter >= 1``.
    device : {"cpu", "cuda", "auto"}
    ties : {"ordinal", "min", "dense"}
        Rank of equal scores (:func:`ranker.job.tables.tie_ranks`).
    on_nonconvergence : {"error", "warn"}
        A solve that stops at ``max_iter`` above ``tol`` raises :class:`ranker.errors.ConvergenceError`
        (as a job does by default), or logs a warning and returns its scores.
    years : mapping, pandas.Series or table, optional
        Each paper's year (id -> year; a Series indexed by id; or a table with columns
        ``paper_id`` and ``year``): rank the citation record as it stood at the end of each year
        (:func:`ranker.solvers.snapshots.snapshot_pagerank`, all years in one batched solve). Every
        paper of the citations needs a year.
    at_years : list of int, optional
        With ``years``: the years to rank (each must be some paper's year); default every year.

    Returns
    -------
    pyarrow.Table
        Without seeds: every paper, ``paper_id, score, rank, share, citations``, best first.
        With seeds: ``seed_set, paper_id, score, rank, share, is_seed``, the top papers of each
        set (at most ``top_k``). With ``years``: ``year, paper_id, score, rank``, the top papers
        of each year's record (rank within the year).

    Raises
    ------
    ValueError
        A parameter out of its range, no citations, a missing column, a null id, a seed that is
        not a paper of the graph.
    ConvergenceError
        With ``on_nonconvergence = "error"``: a column did not reach ``tol`` within ``max_iter``.

    References
    ----------
    L. Page, S. Brin, R. Motwani, T. Winograd, "The PageRank citation ranking: bringing order to
    the web", Stanford InfoLab (1999).
    """
    from .io.formats import remove_converted
    from .job.checks import convergence_check
    from .job.personalize import batch_table
    from .job.tables import ranked_table, tie_ranks
    from .job.tables import top_k as top_rows

    _check_arguments(top_k=top_k, alpha=alpha, tol=tol, max_iter=max_iter, method=method, device=device, ties=ties,
                     on_nonconvergence=on_nonconvergence)
    seed_lists = _seed_lists(seeds) if seeds is not None else None
    try:
        graph, ids = _graph(citations, citing, cited, weight, resolve_device(device))
    finally:
        remove_converted()  # the parquet copy of a text file, if one was made: never reused by a later call
    if graph.n == 0:
        raise ValueError("citations: no rows; there is nothing to rank")
    if years is not None:
        if seed_lists is not None:
            raise ValueError("seeds and years cannot be combined: rank seed sets or years, one per call")
        return _rank_years(graph, ids, years, at_years, top_k=top_k, alpha=alpha, tol=tol, max_iter=max_iter,
                           method=method, ties=ties, on_nonconvergence=on_nonconvergence)
    if at_years is not None:
        raise ValueError("at_years needs years (each paper's year)")
    kw: dict[str, Any] = dict(method=method, alpha=alpha, tol=tol, max_iter=max_iter)
    citations_of = np.diff(graph.crow.cpu().numpy()).astype(np.int64)
    if seed_lists is None:
        res = solve(graph, uniform_teleport(graph.n, device=graph.device), **kw)
        convergence_check(res, ["global"], tol, on_nonconvergence)
        scores = res.scores[:, 0].to(torch.float64).cpu().numpy()
        return ranked_table(ids, scores, scores, columns={"citations": citations_of}, ties=ties)
    names = list(seed_lists)
    set_index, paper_index = [], []
    for j, name in enumerate(names):
        idx = _index(ids, seed_lists[name], name)
        set_index.append(np.full(idx.size, j))
        paper_index.append(idx)
    s, p = np.concatenate(set_index), np.concatenate(paper_index)
    teleport = seed_teleport(graph.n, torch.from_numpy(s), torch.from_numpy(p), torch.ones(len(s)), len(names),
                             device=graph.device)
    res = solve(graph, teleport, batch_invariant=True, **kw)
    convergence_check(res, names, tol, on_nonconvergence)
    columns = res.scores.to(torch.float64).cpu()
    k = min(top_k, graph.n)
    idx, val = top_rows(columns, k, IdMap(ids=ids, kind="integer" if pa.types.is_integer(ids.type) else "string"))
    seed_sets = {(j, q) for j, q in zip(s.tolist(), p.tolist())}
    table = batch_table(names, ids.take(pa.array(idx.T.reshape(-1))), val, columns.sum(0).numpy(), k)
    table = table.append_column("is_seed", pa.array([(j, int(q)) in seed_sets for j in range(len(names))
                                                     for q in idx[:, j]]))
    table = table.filter(pa.array(val.T.reshape(-1) > 0))  # papers a set cannot reach are not listed
    ranks = tie_ranks(table.column("score").to_numpy(), ties, table.column("seed_set").to_numpy(zero_copy_only=False))
    return table.set_column(table.column_names.index("rank"), "rank", pa.array(ranks))


def _rank_years(graph: Any, ids: pa.Array, years: Any, at_years: list[int] | None, *, top_k: int, alpha: float,
                tol: float, max_iter: int, method: str, ties: str, on_nonconvergence: str) -> pa.Table:
    """:func:`rank` with ``years``: each year's record ranked, the long table of each year's top papers."""
    from .job.checks import convergence_check
    from .job.tables import tie_ranks
    from .job.tables import top_k as top_rows
    from .solvers.snapshots import snapshot_pagerank

    year = _year_of(ids, years)
    present = np.unique(year)
    if at_years is None:
        caps = present
    else:
        if isinstance(at_years, (int, np.integer)) or not all(isinstance(y, (int, np.integer)) and not
                                                              isinstance(y, bool) for y in at_years) or not at_years:
            raise ValueError(f"at_years must be a non-empty list of years (integers), got {at_years!r}")
        absent = [int(y) for y in at_years if int(y) not in set(present.tolist())]
        if absent:
            raise ValueError(f"at_years names {absent[0]}, a year no paper has (years run {present[0]}..{present[-1]})")
        caps = np.unique(np.asarray(at_years, np.int64))
    res = snapshot_pagerank(graph, torch.from_numpy(year).to(graph.device), torch.from_numpy(caps), alpha=alpha,
                            tol=tol, max_iter=max_iter, method="power" if method == "power" or
                            graph.device.type != "cpu" else "sweep", batch_invariant=True)
    convergence_check(res, [str(c) for c in caps], tol, on_nonconvergence)
    scores = res.scores.to(torch.float64).cpu()
    scores[torch.from_numpy(year[:, None] > caps[None, :])] = -1.0  # not in that year's record
    counts = np.minimum([(year <= c).sum() for c in caps], top_k)
    idx, val = top_rows(scores, int(counts.max()), IdMap(ids=ids, kind="integer" if pa.types.is_integer(ids.type)
                                                         else "string"))
    pick = [np.arange(c) for c in counts]
    table = pa.table({"year": pa.array(np.repeat(caps, counts), pa.int64()),
                      "paper_id": ids.take(pa.array(np.concatenate([idx[p, b] for b, p in enumerate(pick)]))),
                      "score": pa.array(np.concatenate([val[p, b] for b, p in enumerate(pick)]), pa.float64())})
    ranks = tie_ranks(table.column("score").to_numpy(), ties, table.column("year").to_numpy())
    return table.append_column("rank", pa.array(ranks))


def _year_of(ids: pa.Array, years: Any) -> np.ndarray:
    """``int64 [n]``: the year of each paper of ``ids`` from :func:`rank`'s ``years``."""
    import pyarrow.compute as pc

    if isinstance(years, Mapping):
        keys, values = list(years.keys()), list(years.values())
    elif hasattr(years, "index") and hasattr(years, "to_numpy") and not hasattr(years, "columns"):  # a Series
        keys, values = list(years.index), years.to_numpy().tolist()
    else:
        try:
            table = _as_arrow(years)
        except ValueError:
            raise ValueError("years must be a mapping of paper id to year, a Series indexed by paper id, or a table "
                             f"with columns paper_id and year; got {type(years).__name__}") from None
        if not {"paper_id", "year"} <= set(table.column_names):
            raise ValueError(f"years: a table needs columns paper_id and year; it has {', '.join(table.column_names)}")
        keys, values = table.column("paper_id").to_pylist(), table.column("year").to_pylist()
    try:
        key_arr = pa.array(keys).cast(ids.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise ValueError(f"years: paper ids of another kind than the citations' ({ids.type})") from None
    val = np.array([np.nan if v is None else v for v in values], np.float64)
    if np.isnan(val).any() or (val != np.round(val)).any():
        bad = int(np.flatnonzero(np.isnan(val) | (val != np.round(np.nan_to_num(val))))[0])
        raise ValueError(f"years: paper {keys[bad]!r} has year {values[bad]!r}, not a whole number")
    found = pc.index_in(ids, value_set=key_arr)
    missing = found.is_null().to_numpy(zero_copy_only=False)
    pos = found.fill_null(0).to_numpy(zero_copy_only=False)
    if missing.any():
        raise ValueError(f"years: {int(missing.sum())} papers of the citations have no year (first: "
                         f"{ids[int(np.flatnonzero(missing)[0])].as_py()!r})")
    return val[pos.astype(np.int64)].astype(np.int64)


def _check_arguments(*, top_k: Any, alpha: Any, tol: Any, max_iter: Any, method: Any, device: Any, ties: Any,
                     on_nonconvergence: Any) -> None:
    """The API's parameters, checked at its edge as the job file's are (``ValueError`` naming the parameter)."""
    check_walk(alpha, tol, max_iter)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    for name, value, choices in (("method", method, METHODS), ("device", device, DEVICES), ("ties", ties, TIES),
                                 ("on_nonconvergence", on_nonconvergence, ("error", "warn"))):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _seed_lists(seeds: Any) -> dict[str, list]:
    """``seeds`` as name -> list of ids; a single id (a string or an integer) is a set of one."""
    if not isinstance(seeds, Mapping):
        raise ValueError(f"seeds must be a mapping of seed-set name to paper ids, got {type(seeds).__name__}")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed set, or leave seeds out for global PageRank")
    out = {}
    for name, values in seeds.items():
        if isinstance(values, (str, bytes, int, np.integer)):
            values = [values]
        elif isinstance(values, pa.Array):
            values = values.to_pylist()
        else:
            try:
                values = list(values)
            except TypeError:
                raise ValueError(f"seed set {name!r}: expected paper ids (a list, or one id), got "
                                 f"{type(values).__name__}") from None
        out[str(name)] = values
    return out


def _graph(citations: Any, citing: str, cited: str, weight: str | None, device: torch.device
           ) -> tuple[CitationGraph, pa.Array]:
    """The graph and its ids (an Arrow array, index order) from a path or an in-memory table."""
    if isinstance(citations, (str, Path)):
        from .io import read_citations

        edges = read_citations([str(citations)], citing_column=citing, cited_column=cited,
                               weight_column=weight or "")
        return graph_from_edges(edges, device=device), edges.ids.output_ids()
    table = _as_arrow(citations)
    twice = first_repeated(table.column_names)
    if twice is not None:
        raise ValueError(f"citations: column {twice!r} appears twice")
    for name in [citing, cited] + ([weight] if weight else []):
        if name not in table.column_names:
            raise ValueError(f"missing column {name!r}; columns are {', '.join(table.column_names)}")
    if table.num_rows == 0:
        raise ValueError("citations: no rows; there is nothing to rank")
    r = renumber(table.column(citing), table.column(cited))
    w = None
    if weight:
        w = torch.from_numpy(table.column(weight).cast(pa.float64()).to_numpy(zero_copy_only=False).copy())
    return build_graph(r.citing, r.cited, r.n, w, device=device), r.ids


def _as_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (TypeError, AttributeError, pa.ArrowException):
        pass
    try:
        return pa.table(data)  # a dict of columns
    except (TypeError, pa.ArrowException) as exc:
        raise ValueError(f"citations: expected a DataFrame, an Arrow table, a dict of columns or a path "
                         f"({exc})") from None


def _index(ids: pa.Array, values: Any, name: str) -> np.ndarray:
    import pyarrow.compute as pc

    want = pa.array(list(values)).cast(ids.type) if not isinstance(values, pa.Array) else values.cast(ids.type)
    pos = pc.index_in(want, value_set=ids)
    if pos.null_count or len(want) == 0:
        if len(want) == 0:
            raise ValueError(f"seed set {name!r} is empty")
        missing = want.filter(pc.is_null(pos))[0].as_py()
        raise ValueError(f"seed set {name!r}: paper {missing!r} is not in the graph")
    return pos.to_numpy(zero_copy_only=False).astype(np.int64)

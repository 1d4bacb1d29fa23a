"""The job's tables and checks on results: ranked tables, top k per column, excluded ids."""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from .. import __version__
from ..errors import ConfigError, ConvergenceError, GraphError
from ..io import IdMap
from ..io.ids import coerce_ids
from ..solvers.iteration import PageRankResult

log = logging.getLogger("ranker")


def check_finite(scores: torch.Tensor, what: str) -> None:
    """Refuse to write scores that are not all finite (a defect: say so rather than write NaN)."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        raise GraphError(f"{what}: {int(bad.sum())} scores are not finite (NaN or infinite); nothing was written. "
                         "This is a bug: please report it with the input")


def convergence_check(result: PageRankResult, names: list[str], tol: float, policy: str) -> None:
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


def tie_ranks(sorted_scores: np.ndarray, ties: str = "ordinal", groups: np.ndarray | None = None) -> np.ndarray:
    """Ranks ``int64`` of scores sorted best first (within each run of equal ``groups``, when given).

    ``ordinal``: 1, 2, 3, ... (equal scores ordered by id); ``min``: equal scores share the best
    rank of their run (1, 1, 3); ``dense``: equal scores share a rank and the next score takes
    the next one (1, 1, 2).
    """
    m = len(sorted_scores)
    if m == 0:
        return np.zeros(0, np.int64)
    start = np.zeros(m, bool)  # the first row of each group
    start[0] = True
    if groups is not None:
        start[1:] = groups[1:] != groups[:-1]
    group_first = np.maximum.accumulate(np.where(start, np.arange(m), 0))
    ordinal = np.arange(m, dtype=np.int64) - group_first + 1
    if ties == "ordinal":
        return ordinal
    new_value = start.copy()
    new_value[1:] |= sorted_scores[1:] != sorted_scores[:-1]
    run_first = np.maximum.accumulate(np.where(new_value, np.arange(m), 0))
    if ties == "min":
        return ordinal[run_first]
    runs = np.cumsum(new_value)
    return (runs - runs[group_first] + 1).astype(np.int64)


def ranked_table(ids: pa.Array | IdMap, scores: np.ndarray, mass: np.ndarray, excluded: np.ndarray | None = None,
                 columns: dict[str, np.ndarray] | None = None, ties: str = "ordinal") -> pa.Table:
    """Rows sorted by score (descending), ties by id; rank 1 is the highest (equal scores ranked
    under ``ties``, see :func:`tie_ranks`).

    ``share`` is ``mass`` over its sum across the rows kept; rows whose index is in
    ``excluded`` are left out (and do not count in the shares); ``columns`` are added after ``share``.
    Given an :class:`ranker.io.IdMap` whose ids sort as numbers (:meth:`ranker.io.IdMap.sort_keys`:
    integer ids, compact string ids), the rows are sorted on those numbers and the ids written
    out in that order only (on 20M OpenAlex ids with 40% of the scores tied: 7.8 s to sort and
    2.2 s to write the ids, against 23 s for Arrow's sort on (score, text id) after 4.7 s
    spent writing every id; measured).
    """
    id_keys = ids.sort_keys() if isinstance(ids, IdMap) else None
    if isinstance(ids, IdMap) and id_keys is None:
        ids = ids.output_ids()
    if id_keys is not None:
        return _ranked_by_keys(ids, id_keys, scores, mass, excluded, columns, ties)
    cols = {"paper_id": ids, "score": pa.array(scores, pa.float64())}
    share = mass.astype(np.float64)
    keep = None
    if excluded is not None and excluded.size:
        keep = np.ones(len(scores), dtype=bool)
        keep[excluded] = False
    total = share[keep].sum() if keep is not None else share.sum()
    cols["share"] = pa.array(share / total if total else np.zeros_like(share), pa.float64())
    for k, v in (columns or {}).items():
        cols[k] = pa.array(v) if np.asarray(v).dtype.kind in "iub" else pa.array(v, pa.float64())
    table = pa.table(cols)
    if keep is not None:
        table = table.filter(pa.array(keep))
    table = table.sort_by([("score", "descending"), ("paper_id", "ascending")])
    table = table.append_column("rank", pa.array(tie_ranks(table.column("score").to_numpy(), ties)))
    order = ["paper_id", "score", "rank", "share"] + list(columns or {})
    return table.select(order)


def _ranked_by_keys(ids: IdMap, id_keys: list[np.ndarray], scores: np.ndarray, mass: np.ndarray,
                    excluded: np.ndarray | None, columns: dict[str, np.ndarray] | None, ties: str) -> pa.Table:
    """:func:`ranked_table` sorted on numbers: the scores, then the ids' sort keys."""
    n = len(scores)
    rows = np.arange(n)
    if excluded is not None and excluded.size:
        keep = np.ones(n, dtype=bool)
        keep[excluded] = False
        rows = np.flatnonzero(keep)
    keys = pa.table({"s": np.asarray(scores, np.float64)[rows], **{f"k{i}": k[rows] for i, k in enumerate(id_keys)}})
    order = rows[pc.sort_indices(keys, [("s", "descending")] + [(f"k{i}", "ascending") for i in range(len(id_keys))]
                                 ).to_numpy()]
    share = mass.astype(np.float64)
    total = share[rows].sum()
    sorted_scores = np.asarray(scores, np.float64)[order]
    cols = {"paper_id": ids.output_ids(order), "score": pa.array(sorted_scores, pa.float64()),
            "rank": pa.array(tie_ranks(sorted_scores, ties)),
            "share": pa.array(share[order] / total if total else np.zeros(order.size), pa.float64())}
    for k, v in (columns or {}).items():
        v = np.asarray(v)[order]
        cols[k] = pa.array(v) if v.dtype.kind in "iub" else pa.array(v, pa.float64())
    return pa.table(cols)


def exclude_matches(values: tuple, ids: Any, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``[output] exclude_ids`` among ``ids``, and which entries matched.

    Parameters
    ----------
    values : tuple
        The job file's ids (strings and integers).
    ids : pyarrow.Array or callable
        The ids (index ``i`` is id ``ids[i]``), or a lookup ``ids(values) -> indices``
        (:meth:`ranker.io.IdMap.lookup`: null where unknown).
    kind : {"string", "integer"}

    Returns
    -------
    index : numpy.ndarray
        ``int64``: indices of the matching entries.
    matched : numpy.ndarray
        ``bool [len(values)]``: whether each entry is one of ``ids`` (after :func:`ranker.io.ids.coerce_ids`).
    """
    matched = np.zeros(len(values), bool)
    want, pos = coerce_ids(values, kind)
    if not len(want):
        return np.zeros(0, np.int64), matched
    if callable(ids):
        idx = ids(want)
    else:
        if not len(ids):
            return np.zeros(0, np.int64), matched
        idx = pc.index_in(want.cast(ids.type), value_set=ids)
    found = idx.is_valid().to_numpy(zero_copy_only=False)
    matched[pos[found]] = True
    return np.unique(idx.filter(idx.is_valid()).to_numpy().astype(np.int64)), matched


def exclude_index(values: tuple, dictionary: pa.Array, kind: str) -> np.ndarray:
    """Indices in ``dictionary`` of the ``[output] exclude_ids`` that are in it (the list may mix
    paper and author ids; the job checks beforehand that every entry is one or the other)."""
    return exclude_matches(values, dictionary, kind)[0]


def unmatched_excluded(values: tuple, matched: np.ndarray, what: str) -> None:
    """Refuse ``[output] exclude_ids`` entries that match nothing, naming the first few.

    Raises
    ------
    ConfigError
        Some entry is not an id of a paper (or author) of the job.
    """
    missing = [values[i] for i in np.flatnonzero(~matched)]
    if missing:
        shown = ", ".join(repr(v) for v in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ConfigError(f"[output] exclude_ids: {len(missing)} of {len(values)} entries match no {what} of the "
                          f"job: {shown}; check the ids (they are looked up as the input's ids: text or integers)")


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


def auto_batch(n: int, dtype: torch.dtype, device: torch.device, n_sets: int) -> int:
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


def walk_settings(rank_cfg: Any) -> dict[str, Any]:
    """``alpha``, ``tol`` and ``max_iter`` of ``[rank]``, as the solvers take them."""
    return {"alpha": rank_cfg.alpha, "tol": rank_cfg.tol, "max_iter": rank_cfg.max_iter}


def versions() -> dict[str, str]:
    """Versions of this package and of the libraries whose numbers it reports (run metadata)."""
    return {"rank_citations": __version__, "torch": torch.__version__, "pyarrow": pa.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def with_facts_by_row(table: pa.Table, facts: pa.Table, row: str = "__row") -> pa.Table:
    """``table`` and the papers file's facts, taken by position: ``table[row]`` is each paper's row in
    the file (a row past its end: a paper the file does not list, facts null); ``row`` is dropped.

    Equal to :func:`with_paper_facts` when the rows are right, without hashing the ids (20M
    URL ids: the join took about 25 s).
    """
    rows = table.column(row).to_numpy()
    missing = rows >= facts.num_rows
    taken = facts.drop_columns(["paper_id"]).take(pa.array(np.where(missing, 0, rows), mask=missing))
    out = table.drop_columns([row])
    for name in taken.column_names:
        out = out.append_column(name, taken.column(name))
    return out


def with_paper_facts(table: pa.Table, facts: pa.Table | None) -> pa.Table:
    """``table`` (sorted, with ``paper_id``) and the papers file's facts for each row (year, date,
    title; null for a paper the file does not list), in the same row order."""
    if facts is None or table.num_rows == 0:
        return table
    facts = facts.set_column(0, "paper_id", facts.column("paper_id").cast(table.schema.field("paper_id").type))
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    joined = table.append_column("__order", order).join(facts, keys="paper_id", join_type="left outer",
                                                        use_threads=True)
    joined = joined.sort_by("__order").drop_columns(["__order"])
    return joined.select(table.column_names + [c for c in facts.column_names if c != "paper_id"])

"""The job's ranked tables: ranks with ties, top k per column, paper facts joined by row."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..io import IdMap

log = logging.getLogger("ranker")


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
    The whole table at once: :class:`RankedRows` builds it a slice at a time.
    """
    rows = RankedRows.sort(ids, scores, mass, excluded, columns, ties)
    return rows.table(0, len(rows))


class RankedRows:
    """A ranked table (:func:`ranked_table`) in its final order, built a slice at a time.

    Only the order, the sorted scores and the ranks are held (24 bytes a row); each slice
    takes its ids and columns by index, so a table of 20M papers is written in row groups
    without ever being whole in memory (:meth:`ranker.job.context.JobContext.write_batches`).

    Given an :class:`ranker.io.IdMap` whose ids sort as numbers (:meth:`ranker.io.IdMap.sort_keys`:
    integer ids, compact string ids), the rows are sorted on those numbers and each id is
    written out once, in its slice (on 20M OpenAlex ids with 40% of the scores tied: 7.8 s to
    sort and 2.2 s to write the ids, against 23 s for Arrow's sort on (score, text id) after
    4.7 s spent writing every id; measured). Other ids are sorted as text.
    """

    def __init__(self, ids: pa.Array | IdMap, order: np.ndarray, scores: np.ndarray, share: np.ndarray,
                 columns: dict[str, np.ndarray], ties: str) -> None:
        self.ids, self.order, self.columns = ids, order, columns
        self.scores = scores  # sorted, best first
        self.ranks = tie_ranks(scores, ties)
        self.share = share  # per row index: mass over the kept rows' total

    @classmethod
    def sort(cls, ids: pa.Array | IdMap, scores: np.ndarray, mass: np.ndarray, excluded: np.ndarray | None = None,
             columns: dict[str, np.ndarray] | None = None, ties: str = "ordinal") -> "RankedRows":
        """Order the rows of :func:`ranked_table`'s arguments (same meaning)."""
        n = len(scores)
        rows = np.arange(n)
        if excluded is not None and excluded.size:
            keep = np.ones(n, dtype=bool)
            keep[excluded] = False
            rows = np.flatnonzero(keep)
        scores = np.asarray(scores, np.float64)
        id_keys = ids.sort_keys() if isinstance(ids, IdMap) else None
        if id_keys is not None:
            keys = pa.table({"s": scores[rows], **{f"k{i}": k[rows] for i, k in enumerate(id_keys)}})
            by = [("s", "descending")] + [(f"k{i}", "ascending") for i in range(len(id_keys))]
        else:
            text = ids.output_ids(rows) if isinstance(ids, IdMap) else ids.take(pa.array(rows))
            keys = pa.table({"s": scores[rows], "id": text})
            by = [("s", "descending"), ("id", "ascending")]
        del id_keys
        order = rows[pc.sort_indices(keys, by).to_numpy()]  # a stable sort: equal keys keep row order
        del keys
        share = np.asarray(mass, np.float64)
        total = share[rows].sum() if rows.size < n else share.sum()
        del rows
        share = share / total if total else np.zeros_like(share)
        return cls(ids, order, scores[order], share, dict(columns or {}), ties)

    def __len__(self) -> int:
        return int(self.order.size)

    def table(self, start: int, stop: int) -> pa.Table:
        """Rows ``[start, stop)`` of the ranked table."""
        at = self.order[start:stop]
        ids = self.ids.output_ids(at) if isinstance(self.ids, IdMap) else self.ids.take(pa.array(at))
        cols = {"paper_id": ids, "score": pa.array(self.scores[start:stop], pa.float64()),
                "rank": pa.array(self.ranks[start:stop]), "share": pa.array(self.share[at], pa.float64())}
        for k, v in self.columns.items():
            v = np.asarray(v)[at]
            cols[k] = pa.array(v) if v.dtype.kind in "iub" else pa.array(v, pa.float64())
        return pa.table(cols)

    def slices(self, rows: int = 1 << 20) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of consecutive slices of at most ``rows`` rows (one when empty)."""
        n = len(self)
        yield from ((s, min(n, s + rows)) for s in range(0, max(n, 1), rows))


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


def top_of_column(papers: np.ndarray, scores: np.ndarray, k: int, ids: IdMap, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of one column given on ``papers`` alone (every other paper scores 0): the ``k``
    best, ties by paper id, padded with the first papers outside ``papers`` (score 0) when fewer."""
    if scores.size > k:  # the candidates: every paper scoring at least the k-th score
        keep = np.flatnonzero(scores >= np.partition(scores, scores.size - k)[scores.size - k])
        papers, scores = papers[keep], scores[keep]
    t = pa.table({"s": scores, "id": ids.output_ids(papers)})
    order = pc.sort_indices(t, [("s", "descending"), ("id", "ascending")]).to_numpy()[:k]
    idx, val = papers[order], scores[order]
    if idx.size < k:
        outside = np.setdiff1d(np.arange(min(n, k + papers.size), dtype=np.int64), papers)[:k - idx.size]
        idx, val = np.concatenate([idx, outside]), np.concatenate([val, np.zeros(outside.size)])
    return idx, val


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

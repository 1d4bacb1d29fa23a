"""Streaming ingest across the ranks: each reads its share of the rows, ids are numbered by their
hash owners, papers are cut into contiguous blocks, and each citation travels to its cited paper's block.

No rank ever holds the whole edge list. :func:`read_partitioned` is the entry point; its steps
are the functions below, in order.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..errors import GraphError, InputError, where
from ..graph_build import build_from_pairs, build_graph
from ..io.citations import EdgeList, locate_row, read_citations, read_papers
from ..io.sources import open_parquet, shard
from .comm import Comm
from .partition import PartitionedGraph, owner_of

log = logging.getLogger("ranker")


def read_partitioned(files: list[str], comm: Comm, *, citing_column: str = "citing", cited_column: str = "cited",
                     weight_column: str = "", papers: str = "", paper_id_column: str = "paper_id",
                     unknown_papers: str = "keep", self_citations: str = "keep", duplicates: str = "once",
                     index_dtype: str = "auto", batch_rows: int = 1_000_000,
                     advance: Callable[[int], None] | None = None, fmt: str = "auto",
                     weight_offset: float = 0.0) -> PartitionedGraph:
    """Read the citations across the ranks and build this rank's block of the graph.

    Collective: every rank calls it with the same arguments.

    Parameters
    ----------
    files, citing_column, cited_column, weight_column, papers, paper_id_column, unknown_papers,
    batch_rows, advance, fmt, weight_offset :
        As :func:`ranker.io.read_citations`.
    self_citations, duplicates, index_dtype :
        As :func:`ranker.graph_build.build_graph`.

    Returns
    -------
    PartitionedGraph

    Raises
    ------
    InputError, GraphError
        On every rank, with the message of the first rank that found the problem.

    Notes
    -----
    1. Each rank reads rows ``[r E / W, (r + 1) E / W)`` of the files' concatenation and
       dictionary-encodes them (:func:`ranker.io.read_citations`).
    2. Each distinct id goes to its hash owner (:func:`owner_of`) with its local in-degree;
       owners sort their ids and number them: owner 0's first, then owner 1's...
    3. The numbering is cut into ``W`` contiguous blocks of about equal ``citations + papers``
       (the work of a block's rows in one product), from prefix sums across owners.
    4. Each citation goes to the rank whose block holds its cited paper, in source rank order,
       so a block sees its rows in file order (``duplicates = "once"`` keeps the first, as on
       one process). Each rank then builds its CSR block, and an ``all_reduce`` sums the
       out-weights of citing papers.
    """
    clock = _Clock()
    with comm.phase("ingest"):
        edges = read_citations(files, citing_column=citing_column, cited_column=cited_column,
                               weight_column=weight_column, batch_rows=batch_rows, advance=advance,
                               shard_of=(comm.rank, comm.world_size), fmt=fmt, weight_offset=weight_offset)
        kind = edges.ids.kind
        known, known_rows = ((pa.array([], pa.large_string() if kind == "string" else pa.int64()),
                              np.zeros(0, np.int64)) if not papers
                             else _read_papers_shard(papers, paper_id_column, kind, comm, batch_rows))
    assert edges.pairs is not None
    (total_rows,) = comm.sum_ints([len(edges.pairs)])
    if total_rows == 0:
        raise GraphError(f"{', '.join(files)}: no citations (0 rows)")
    clock.lap("read")
    numbering = _number_ids(edges, known, known_rows, comm, papers, paper_id_column, unknown_papers)
    stats: dict[str, Any] = {"citation_rows": total_rows, "files": len(files), "id_numbering": "hash owners"}
    citing, cited, weights = _settle_unknown_papers(edges, numbering, comm, files, stats, papers, unknown_papers,
                                                    citing_column, cited_column)
    clock.lap("number")
    bounds, block_ids = _cut_blocks(numbering, comm)
    clock.lap("partition")
    received, weights_t = _exchange_citations(citing, cited, weights, bounds, numbering.n, comm)
    clock.lap("exchange")
    graph = _build_block(received, weights_t, bounds, numbering, comm, stats, self_citations=self_citations,
                         duplicates=duplicates, index_dtype=index_dtype)
    graph.ids, graph.kind = block_ids, kind
    clock.lap("build")
    log.info("partition: %d papers in %d blocks (this rank: papers %d..%d, %d citations); seconds: %s",
             numbering.n, comm.world_size, graph.lo, graph.hi, graph.nnz, clock)
    return graph


class _Clock:
    """Seconds per step, for the log."""

    def __init__(self) -> None:
        self.took: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.took[name], self.last = now - self.last, now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in self.took.items())


def _read_papers_shard(path: str, id_column: str, kind: str, comm: Comm,
                       batch_rows: int) -> tuple[pa.Array, np.ndarray]:
    """This rank's share of the ``[input] papers`` ids and their row numbers in the file."""
    ids, pkind, first_row = read_papers(path, id_column, batch_rows, shard_of=(comm.rank, comm.world_size))
    if pkind != kind:
        raise InputError(f"{where(path, id_column)}: {pkind} ids, but the citations have {kind} ids; "
                         "all id columns must share one type")
    return ids, np.arange(first_row, first_row + len(ids), dtype=np.int64)


def _by_owner(owner: np.ndarray, world_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order grouping rows by owner, and the group boundaries ``[W + 1]``."""
    order = np.argsort(owner.astype(np.int16 if world_size < 2**15 else np.int64), kind="stable")
    counts = np.bincount(owner, minlength=world_size)
    return order, np.concatenate([[0], np.cumsum(counts)])


@dataclass
class _Numbering:
    """The global numbering as this rank sees it.

    ``index``/``known``: global index (-1 when dropped) and papers-file membership of each id of
    this rank's rows; ``owned``/``owned_indeg``: the ids this rank owns (sorted, numbered from
    ``offset``) and their in-degrees; ``n`` papers in all; ``unknown`` owned ids absent from the
    papers file.
    """

    n: int
    offset: int
    index: np.ndarray
    known: np.ndarray
    owned: pa.Array
    owned_indeg: np.ndarray
    unknown: int


def _number_ids(edges: EdgeList, known: pa.Array, known_rows: np.ndarray, comm: Comm, papers: str,
                paper_id_column: str, unknown_papers: str) -> _Numbering:
    """Step 2: every id to its hash owner with its in-degree (and papers-file row); the owners number
    their ids, settle duplicates and unknown papers, and answer each rank's ids with their index."""
    W, r = comm.world_size, comm.rank
    comm.stage = "numbering"
    local_ids, codes = edges.ids.ids, edges.pairs
    assert codes is not None
    n_local = len(local_ids)
    indeg = np.bincount(codes[:, 1], minlength=n_local).astype(np.int64) if len(codes) else np.zeros(n_local,
                                                                                                     np.int64)
    all_ids = pa.concat_arrays([local_ids, known.cast(local_ids.type)])
    indeg_all = np.concatenate([indeg, np.zeros(len(known), np.int64)])
    row_all = np.concatenate([np.full(n_local, -1, np.int64), known_rows])
    order, starts = _by_owner(owner_of(all_ids, W), W)
    sorted_ids = all_ids.take(pa.array(order))
    got = comm.all_to_all_tables([pa.table({"id": sorted_ids.slice(starts[o], starts[o + 1] - starts[o]),
                                            "indeg": indeg_all[order[starts[o]:starts[o + 1]]],
                                            "row": row_all[order[starts[o]:starts[o + 1]]]}) for o in range(W)])
    del sorted_ids
    recv = pa.concat_tables(got)
    sent_sizes = [t.num_rows for t in got]
    del got
    recv_ids = recv.column("id").combine_chunks() if recv.num_rows else all_ids.slice(0, 0)
    uniq = pc.unique(recv_ids)
    uniq = uniq.take(pc.sort_indices(uniq))
    code = pc.index_in(recv_ids, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    n_uniq = len(uniq)
    indeg_tot = np.bincount(code, weights=recv.column("indeg").to_numpy(), minlength=n_uniq).astype(np.int64)
    known_mask, unknown_count = _owned_in_papers_file(code, recv.column("row").to_numpy(), uniq, comm, papers,
                                                      paper_id_column)
    numbered = known_mask if (papers and unknown_papers == "drop") else np.ones(n_uniq, bool)
    counts_all = comm.all_gather_ints([int(numbered.sum()), unknown_count, int(indeg_tot[numbered].sum())])
    offset = int(counts_all[:r, 0].sum())
    local_index = np.where(numbered, np.cumsum(numbered) - 1 + offset, -1)
    reply_index, reply_known = local_index[code], known_mask[code].astype(np.int64)
    pieces = np.cumsum([0] + sent_sizes)
    replies = comm.all_to_all([torch.from_numpy(np.stack([reply_index[a:b], reply_known[a:b]], 1).reshape(-1))
                               for a, b in zip(pieces[:-1], pieces[1:])])
    del recv, recv_ids, code, reply_index, reply_known
    answer = torch.cat(replies).numpy().reshape(-1, 2)
    g_all = np.empty(len(all_ids), np.int64)
    k_all = np.empty(len(all_ids), bool)
    g_all[order] = answer[:, 0]
    k_all[order] = answer[:, 1].astype(bool)
    return _Numbering(n=int(counts_all[:, 0].sum()), offset=offset, index=g_all[:n_local], known=k_all[:n_local],
                      owned=uniq.filter(pa.array(numbered)), owned_indeg=indeg_tot[numbered], unknown=unknown_count)


def _owned_in_papers_file(code: np.ndarray, rows: np.ndarray, uniq: pa.Array, comm: Comm, papers: str,
                          paper_id_column: str) -> tuple[np.ndarray, int]:
    """Which owned ids the papers file lists, and how many it does not; a duplicate paper id in the
    file is an :class:`InputError` on every rank, naming the earliest second row."""
    n_uniq = len(uniq)
    if not papers:
        comm.all_gather_object(None)  # the same collectives on every path
        return np.ones(n_uniq, bool), 0
    is_row = rows >= 0
    kc, kr = code[is_row], rows[is_row]
    counts = np.bincount(kc, minlength=n_uniq)
    known_mask = counts > 0
    found = None
    if (counts > 1).any():  # the second row of each repeated id; report the earliest such row
        o = np.lexsort((kr, kc))
        kc, kr = kc[o], kr[o]
        second = np.flatnonzero(kc[1:] == kc[:-1]) + 1
        found = (int(kr[second].min()), uniq[int(kc[second][np.argmin(kr[second])])].as_py())
    dups = [f for f in comm.all_gather_object(found) if f is not None]
    if dups:
        row, value = min(dups)
        raise InputError(f"{where(papers, paper_id_column, row)}: duplicate paper id {value!r}")
    return known_mask, int((~known_mask).sum())


def _settle_unknown_papers(edges: EdgeList, numbering: _Numbering, comm: Comm, files: list[str],
                           stats: dict[str, Any], papers: str, unknown_papers: str, citing_column: str,
                           cited_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Global (citing, cited) of this rank's rows and their weights, after ``unknown_papers``: rows
    naming papers absent from the papers file are kept, dropped, or an error naming the first."""
    W, r = comm.world_size, comm.rank
    codes, weights = edges.pairs, edges.weight
    assert codes is not None
    g_local, k_local = numbering.index, numbering.known
    citing_g, cited_g = g_local[codes[:, 0]], g_local[codes[:, 1]]
    read_rows, source_rows = edges.read_rows or len(codes), edges.source_rows
    edges.release()
    if not papers:
        return citing_g, cited_g, weights
    unknown = ~(k_local[codes[:, 0]] & k_local[codes[:, 1]])
    first = int(np.argmax(unknown)) if unknown.any() else -1
    row_offset = comm.all_gather_ints([read_rows])[:r, 0].sum()
    if first >= 0 and source_rows is not None:  # rows of records citing nothing were dropped after reading
        first_read = int(source_rows[first])
    else:
        first_read = first
    unknown_rows, unknown_papers_n = comm.sum_ints([int(unknown.sum()), numbering.unknown])
    stats["unknown_paper_rows"] = unknown_rows
    stats["unknown_papers"] = unknown_papers_n
    if unknown_rows and unknown_papers == "error":
        msg = None
        if first >= 0:
            sources = shard([open_parquet(f, {}, role="citations") for f in files], r, W)
            file, frow = locate_row(sources, first_read)
            bad = citing_column if not k_local[codes[first, 0]] else cited_column
            missing = edges.ids.ids[int(codes[first, 0] if bad == citing_column else codes[first, 1])].as_py()
            msg = (int(row_offset + first_read), f"{where(file, bad, frow)}: paper {missing!r} is not in {papers}")
        found = [f for f in comm.all_gather_object(msg) if f is not None]
        raise InputError(min(found)[1])
    if unknown_rows and unknown_papers == "drop":
        keep = ~unknown
        citing_g, cited_g = citing_g[keep], cited_g[keep]
        weights = None if weights is None else weights[keep]
        log.info("dropped %d citation rows naming %d papers absent from %s", unknown_rows, unknown_papers_n, papers)
    elif unknown_rows:
        log.info("kept %d papers named by citations but absent from %s", unknown_papers_n, papers)
    return citing_g, cited_g, weights


def _cut_blocks(numbering: _Numbering, comm: Comm) -> tuple[np.ndarray, pa.Array]:
    """Step 3: contiguous blocks of about equal citations + papers; returns the bounds ``[W + 1]``
    and the ids of this rank's block, in global order (sent by their owners)."""
    W, r = comm.world_size, comm.rank
    comm.stage = "partition"
    offset, owned = numbering.offset, numbering.owned
    cost = np.cumsum(numbering.owned_indeg + 1)
    totals = comm.all_gather_ints([int(cost[-1]) if cost.size else 0])[:, 0]
    before, grand = int(totals[:r].sum()), int(totals.sum())
    cuts = np.zeros(W + 1, np.int64)
    for k in range(1, W):
        t = k * grand / W
        if before < t <= before + (int(cost[-1]) if cost.size else 0):
            cuts[k] = offset + int(np.searchsorted(cost, t - before, side="left")) + 1
    cuts = comm.all_reduce_(torch.from_numpy(cuts)).numpy()
    cuts[W] = numbering.n
    bounds = np.maximum.accumulate(cuts)
    mine = [owned.slice(max(0, int(bounds[q]) - offset), max(0, min(int(bounds[q + 1]), offset + len(owned))
                                                                 - max(int(bounds[q]), offset)))
            for q in range(W)]
    block_ids = pa.concat_tables(comm.all_to_all_tables([pa.table({"id": a}) for a in mine])).column("id")
    return bounds, block_ids.combine_chunks() if block_ids.num_chunks else owned.slice(0, 0)


def _exchange_citations(citing_g: np.ndarray, cited_g: np.ndarray, weights: np.ndarray | None, bounds: np.ndarray,
                        n: int, comm: Comm) -> tuple[np.ndarray, torch.Tensor | None]:
    """Step 4: each citation to the block of its cited paper; sources in rank order keep file order.
    Returns the ``[e, 2]`` (citing, cited) global pairs this rank received, and their weights."""
    W = comm.world_size
    comm.stage = "edge exchange"
    eorder, estarts = _by_owner(np.searchsorted(bounds, cited_g, side="right") - 1, W)
    pairs = np.empty((len(eorder), 2), np.int32 if n < 2**31 else np.int64)  # 8 bytes a citation on the wire
    pairs[:, 0] = citing_g[eorder]
    pairs[:, 1] = cited_g[eorder]
    del citing_g, cited_g
    got = comm.all_to_all([torch.from_numpy(pairs[estarts[q]:estarts[q + 1]].reshape(-1)) for q in range(W)])
    del pairs
    received = torch.cat(got).view(-1, 2).long().numpy()
    weights_t = None
    if weights is not None:  # the same on every rank: a weight column is named or found in the same files
        w_sorted = weights[eorder]
        weights_t = torch.cat(comm.all_to_all([torch.from_numpy(w_sorted[estarts[q]:estarts[q + 1]])
                                               for q in range(W)]))
    return received, weights_t


def _build_block(recv: np.ndarray, w_t: torch.Tensor | None, bounds: np.ndarray, numbering: _Numbering, comm: Comm,
                 stats: dict[str, Any], *, self_citations: str, duplicates: str,
                 index_dtype: str) -> PartitionedGraph:
    """This rank's CSR block of rows ``lo..hi`` with every citing paper as a padded column, and the
    whole graph's out-weights and counts (the ids are set by the caller)."""
    W, r, n = comm.world_size, comm.rank, numbering.n
    lo, hi = int(bounds[r]), int(bounds[r + 1])
    citing_np = recv[:, 0].astype(np.int64)
    loops = citing_np == recv[:, 1]
    n_loops = int(loops.sum())
    if self_citations == "drop" and n_loops:
        keep = ~loops
        recv, citing_np = recv[keep], citing_np[keep]
        w_t = None if w_t is None else w_t[torch.from_numpy(keep)]
    del loops
    max_rows = max(1, int(np.diff(bounds).max()))
    n_pad = W * max_rows
    cpart = np.searchsorted(bounds, citing_np, side="right") - 1
    col_pad = cpart * max_rows + (citing_np - bounds[cpart])
    del cpart, citing_np
    device = comm.device
    if w_t is not None:  # each citing paper's weights over its largest, over every block: sums of duplicate rows
        # then stay finite whatever the weights (1e308...), and every block scales a paper alike
        col_t = torch.from_numpy(col_pad)
        largest = torch.zeros(n_pad, dtype=torch.float64).scatter_reduce_(0, col_t, w_t, "amax")
        largest = comm.all_reduce_(largest, "max")
        w_t = w_t / torch.where(largest > 0, largest, torch.ones_like(largest)).index_select(0, col_t)
        del col_t, largest
    if (w_t is None and device.type == "cpu" and n_pad < 2**31 and index_dtype != "int64"
            and sys.byteorder == "little"):
        # the single-process builder: the block's CSR sorted in place in an int32 (column, row) buffer
        buf = np.empty((len(recv), 2), np.int32)
        buf[:, 0] = col_pad
        np.subtract(recv[:, 1], lo, out=buf[:, 1], casting="unsafe")
        del col_pad, recv
        block = build_from_pairs(buf, hi - lo, self_citations="keep", duplicates=duplicates,
                                 index_dtype=index_dtype, n_cols=n_pad)
    else:
        block = build_graph(torch.from_numpy(col_pad), torch.from_numpy(recv[:, 1].astype(np.int64) - lo), hi - lo,
                            w_t, self_citations="keep", duplicates=duplicates, index_dtype=index_dtype, device=device,
                            n_cols=n_pad)
        del col_pad, recv
    out_weight = comm.all_reduce_(block.out_weight)
    weight = block.weight  # None where this block's weights are all one: each block's values are its own
    # weights were scaled per citing paper before the blocks were built, so out-weights are finite sums over
    # every block: a block's weighted values are w / out_weight (largest 1), as on one process
    scale = None if weight is None else (torch.ones_like(out_weight), out_weight)
    self_loops, dup_rows, nnz = comm.sum_ints([n_loops, block.stats["duplicate_rows"], block.nnz])
    stats.update(self_citations=self_loops, duplicate_rows=dup_rows, citations=nnz, papers=n,
                 dangling_papers=int((out_weight == 0).sum()) - (W * max_rows - n),
                 index_dtype=str(block.col.dtype).removeprefix("torch."))
    return PartitionedGraph(n=n, bounds=bounds, rank=r, crow=block.crow, col=block.col, weight=weight,
                            out_weight=out_weight, ids=numbering.owned.slice(0, 0), kind="", owned=numbering.owned,
                            owned_offset=numbering.offset, stats=stats, scale=scale)

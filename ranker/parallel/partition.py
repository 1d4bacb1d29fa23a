"""The graph in contiguous row blocks over the ranks of a :class:`ranker.parallel.comm.Comm`.

:func:`read_partitioned` is a streaming ingest where each rank reads its share of the parquet
rows, ids are numbered by hash owners (no rank sees every id), papers are split into
contiguous blocks balanced by citations, and each citation is sent to the rank owning its
cited paper. No rank ever holds the whole edge list. :class:`PartitionedIds` answers id
lookups through the owners.
"""


from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..errors import GraphError, InputError, where
from ..graph import build_from_pairs, build_graph, transition_csr
from ..io.citations import locate_row, read_citations, read_papers
from ..io.ids import normalize_ids
from ..io.sources import open_parquet, shard
from .comm import Comm

log = logging.getLogger("ranker")



# --------------------------------------------------------------------------- hashing ids to owners

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_P = np.uint64(0x100000001B3)  # odd: invertible modulo 2**64
_P_INV = np.uint64(pow(0x100000001B3, -1, 2**64))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64 -> uint64, a bijection with good avalanche)."""
    with np.errstate(over="ignore"):
        x = x + _GOLD
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _string_hash(arr: pa.Array) -> np.ndarray:
    """``uint64`` hash of each string: the polynomial ``sum_k (b_k + 1) P**k`` (mod 2**64) of its
    bytes, mixed with its length. Vectorized: prefix sums of ``(b + 1) P**i`` over the data buffer,
    a difference per string, and a multiplication by ``P**-start`` to make it position-free."""
    arr = arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset:arr.offset + n + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8)[start:stop] if data_buf is not None else np.zeros(0, np.uint8)
    rel = offsets - start
    with np.errstate(over="ignore"):
        powers = np.full(data.size, _P, dtype=np.uint64)
        powers[:1] = 1
        np.cumprod(powers, out=powers)  # P**i
        prefix = np.zeros(data.size + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers, out=prefix[1:])
        inv = np.full(data.size + 1, _P_INV, dtype=np.uint64)
        inv[:1] = 1
        np.cumprod(inv, out=inv)  # P**-i
        h = (prefix[rel[1:]] - prefix[rel[:-1]]) * inv[rel[:-1]]
        return _mix(h ^ _mix(np.diff(rel).astype(np.uint64)))


def owner_of(ids: pa.Array, world_size: int, chunk: int = 1 << 20) -> np.ndarray:
    """``int64`` rank owning each id: a fixed hash of the id modulo ``world_size``.

    The same on every rank and machine (no Python ``hash``, no seed), for ``int64`` and string ids.
    """
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    if pa.types.is_integer(ids.type):
        h = _mix(ids.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64))
    else:
        h = np.concatenate([_string_hash(ids.slice(s, chunk)) for s in range(0, len(ids), chunk)])
    return (h % np.uint64(world_size)).astype(np.int64)


# --------------------------------------------------------------------------- the partitioned graph


@dataclass
class PartitionedGraph:
    """This rank's block of the transposed citation CSR.

    Papers are numbered ``0..n-1`` globally and split into contiguous blocks
    ``bounds[r]..bounds[r+1]``; this rank holds the rows (cited papers) of its block with every
    citing paper as a column. Columns use the *padded* numbering ``r * max_rows + (i - bounds[r])``,
    which is where :func:`partitioned_pagerank`'s ``all_gather`` puts paper ``i``'s score.

    Attributes
    ----------
    n : int
        Papers in the whole graph.
    bounds : numpy.ndarray
        ``int64 [W + 1]`` block boundaries.
    rank : int
    crow, col : torch.Tensor
        ``[m + 1]`` and ``[nnz]``: the block's rows, columns padded.
    weight : torch.Tensor or None
        ``float64 [nnz]`` citation weights; None when all are 1.
    out_weight : torch.Tensor
        ``float64 [W * max_rows]`` total out-weight of every paper (padded numbering), summed over ranks.
    ids : pyarrow.Array
        Ids of the block's papers (``int64`` or ``large_string``), in row order.
    kind : str
        ``"integer"`` or ``"string"``.
    owned, owned_offset :
        The ids this rank owns by hash, sorted, and the global index of the first: answers
        id lookups (:class:`PartitionedIds`).
    stats : dict
        Whole-graph counts, the same on every rank.
    scale : (torch.Tensor, torch.Tensor) or None
        Blocks with weights: ``(1, out_weight)`` per paper, so that the block's transition
        divides by the whole graph's out-weights (see :func:`ranker.graph.transition_csr`);
        the weights were scaled per citing paper at ingest, so those sums are finite.
    """

    n: int
    bounds: np.ndarray
    rank: int
    crow: torch.Tensor
    col: torch.Tensor
    weight: torch.Tensor | None
    out_weight: torch.Tensor
    ids: pa.Array
    kind: str
    owned: pa.Array
    owned_offset: int
    stats: dict[str, Any] = field(default_factory=dict)
    scale: tuple[torch.Tensor, torch.Tensor] | None = None
    _transition: dict[torch.dtype, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def lo(self) -> int:
        return int(self.bounds[self.rank])

    @property
    def hi(self) -> int:
        return int(self.bounds[self.rank + 1])

    @property
    def m(self) -> int:
        """Rows (papers) in this rank's block."""
        return self.hi - self.lo

    @property
    def max_rows(self) -> int:
        return max(1, int(np.diff(self.bounds).max()))

    @property
    def n_pad(self) -> int:
        return (len(self.bounds) - 1) * self.max_rows

    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    @property
    def dangling(self) -> torch.Tensor:
        """``int64 [d]`` rows of the block whose paper cites nothing."""
        start = self.rank * self.max_rows
        return torch.nonzero(self.out_weight[start:start + self.m] == 0).flatten()

    def transition(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The block ``[m, W * max_rows]`` of ``P^T`` as a sparse CSR tensor of ``dtype`` (cached)."""
        if dtype not in self._transition:
            self._transition[dtype] = transition_csr(self.crow, self.col, self.weight, self.out_weight, dtype,
                                                     (self.m, self.n_pad), scale=self.scale)
        return self._transition[dtype]

    def nbytes(self) -> int:
        total = self.crow.nbytes + self.col.nbytes + self.out_weight.nbytes
        total += 0 if self.weight is None else self.weight.nbytes
        return total + sum(t.values().nbytes for t in self._transition.values())


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


def read_partitioned(files: list[str], comm: Comm, *, citing_column: str = "citing", cited_column: str = "cited",
                     weight_column: str = "", papers: str = "", paper_id_column: str = "paper_id",
                     unknown_papers: str = "keep", self_citations: str = "keep", duplicates: str = "once",
                     index_dtype: str = "auto", batch_rows: int = 1_000_000,
                     advance: Callable[[int], None] | None = None) -> PartitionedGraph:
    """Read the citations across the ranks and build this rank's block of the graph.

    Collective: every rank calls it with the same arguments.

    Parameters
    ----------
    files, citing_column, cited_column, weight_column, papers, paper_id_column, unknown_papers,
    batch_rows, advance :
        As :func:`ranker.io.read_citations`.
    self_citations, duplicates, index_dtype :
        As :func:`ranker.graph.build_graph`.

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
    W, r = comm.world_size, comm.rank
    took: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        took[name] = now - clock[0]
        clock[0] = now

    with comm.phase("ingest"):
        edges = read_citations(files, citing_column=citing_column, cited_column=cited_column,
                               weight_column=weight_column, batch_rows=batch_rows, advance=advance,
                               shard_of=(r, W))
        kind = edges.ids.kind
        known, known_rows = ((pa.array([], pa.large_string() if kind == "string" else pa.int64()),
                              np.zeros(0, np.int64)) if not papers
                             else _read_papers_shard(papers, paper_id_column, kind, comm, batch_rows))
    local_ids = edges.ids.ids
    codes = edges.pairs
    weights = edges.weight
    rows_read = len(codes)
    (total_rows,) = comm.sum_ints([rows_read])
    if total_rows == 0:
        raise GraphError(f"{', '.join(files)}: no citations (0 rows)")

    lap("read")

    # 2. ids to their owners, with in-degrees and (papers file) row numbers
    comm.stage = "numbering"
    n_local = len(local_ids)
    indeg = np.bincount(codes[:, 1], minlength=n_local).astype(np.int64) if rows_read else np.zeros(n_local, np.int64)
    all_ids = pa.concat_arrays([local_ids, known.cast(local_ids.type)])
    indeg_all = np.concatenate([indeg, np.zeros(len(known), np.int64)])
    row_all = np.concatenate([np.full(n_local, -1, np.int64), known_rows])
    order, starts = _by_owner(owner_of(all_ids, W), W)
    sorted_ids = all_ids.take(pa.array(order))
    out = [pa.table({"id": sorted_ids.slice(starts[o], starts[o + 1] - starts[o]),
                     "indeg": indeg_all[order[starts[o]:starts[o + 1]]],
                     "row": row_all[order[starts[o]:starts[o + 1]]]}) for o in range(W)]
    got = comm.all_to_all_tables(out)
    del out, sorted_ids
    recv = pa.concat_tables(got)
    sent_sizes = [t.num_rows for t in got]
    del got
    recv_ids = recv.column("id").combine_chunks() if recv.num_rows else all_ids.slice(0, 0)
    uniq = pc.unique(recv_ids)
    uniq = uniq.take(pc.sort_indices(uniq))
    code = pc.index_in(recv_ids, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    n_uniq = len(uniq)
    indeg_tot = np.bincount(code, weights=recv.column("indeg").to_numpy(), minlength=n_uniq).astype(np.int64)
    rows = recv.column("row").to_numpy()
    known_mask = np.ones(n_uniq, bool)
    dup_row = np.iinfo(np.int64).max
    unknown_count = 0
    if papers:
        is_row = rows >= 0
        kc, kr = code[is_row], rows[is_row]
        counts = np.bincount(kc, minlength=n_uniq)
        known_mask = counts > 0
        if (counts > 1).any():  # the second row of each repeated id; report the earliest such row
            o = np.lexsort((kr, kc))
            kc, kr = kc[o], kr[o]
            second = np.flatnonzero(kc[1:] == kc[:-1]) + 1
            dup_row = int(kr[second].min())
        unknown_count = int((~known_mask).sum())
    numbered = known_mask if (papers and unknown_papers == "drop") else np.ones(n_uniq, bool)
    found = comm.all_gather_object(None if dup_row == np.iinfo(np.int64).max else (
        dup_row, uniq[int(kc[second][np.argmin(kr[second])])].as_py()))
    dups = [f for f in found if f is not None]
    if dups:
        row, value = min(dups)
        raise InputError(f"{where(papers, paper_id_column, row)}: duplicate paper id {value!r}")
    counts_all = comm.all_gather_ints([int(numbered.sum()), unknown_count, int(indeg_tot[numbered].sum())])
    offset = int(counts_all[:r, 0].sum())
    n = int(counts_all[:, 0].sum())
    local_index = np.where(numbered, np.cumsum(numbered) - 1 + offset, -1)
    reply_index = local_index[code]
    reply_known = known_mask[code].astype(np.int64)
    pieces = np.cumsum([0] + sent_sizes)
    replies = comm.all_to_all([torch.from_numpy(np.stack([reply_index[a:b], reply_known[a:b]], 1).reshape(-1))
                               for a, b in zip(pieces[:-1], pieces[1:])])
    del recv, recv_ids, code, reply_index, reply_known
    answer = torch.cat(replies).numpy().reshape(-1, 2)
    g_all = np.empty(len(all_ids), np.int64)
    k_all = np.empty(len(all_ids), bool)
    g_all[order] = answer[:, 0]
    k_all[order] = answer[:, 1].astype(bool)
    g_local, k_local = g_all[:n_local], k_all[:n_local]
    owned = uniq.filter(pa.array(numbered))
    owned_indeg = indeg_tot[numbered]
    del uniq, g_all, k_all, all_ids, answer

    stats: dict[str, Any] = {"citation_rows": total_rows, "files": len(files), "id_numbering": "hash owners"}
    citing_g = g_local[codes[:, 0]]
    cited_g = g_local[codes[:, 1]]
    edges.pairs = edges.citing = edges.cited = None
    if papers:
        unknown = ~(k_local[codes[:, 0]] & k_local[codes[:, 1]])
        first = int(np.argmax(unknown)) if unknown.any() else -1
        row_offset = comm.all_gather_ints([rows_read])[:r, 0].sum()
        unknown_rows, unknown_papers_n = comm.sum_ints([int(unknown.sum()), unknown_count])
        stats["unknown_paper_rows"] = unknown_rows
        stats["unknown_papers"] = unknown_papers_n
        if unknown_rows and unknown_papers == "error":
            msg = None
            if first >= 0:
                sources = shard([open_parquet(f, {}, role="citations") for f in files], r, W)
                file, frow = locate_row(sources, first)
                bad = citing_column if not k_local[codes[first, 0]] else cited_column
                missing = local_ids[int(codes[first, 0] if bad == citing_column else codes[first, 1])].as_py()
                msg = (int(row_offset + first), f"{where(file, bad, frow)}: paper {missing!r} is not in {papers}")
            found = [f for f in comm.all_gather_object(msg) if f is not None]
            raise InputError(min(found)[1])
        if unknown_rows and unknown_papers == "drop":
            keep = ~unknown
            citing_g, cited_g = citing_g[keep], cited_g[keep]
            weights = None if weights is None else weights[keep]
            log.info("dropped %d citation rows naming %d papers absent from %s", unknown_rows, unknown_papers_n,
                     papers)
        elif unknown_rows:
            log.info("kept %d papers named by citations but absent from %s", unknown_papers_n, papers)
    del codes, k_local, g_local

    lap("number")

    # 3. contiguous blocks of about equal citations + papers
    comm.stage = "partition"
    cost = np.cumsum(owned_indeg + 1)
    totals = comm.all_gather_ints([int(cost[-1]) if cost.size else 0])[:, 0]
    before, grand = int(totals[:r].sum()), int(totals.sum())
    cuts = np.zeros(W + 1, np.int64)
    for k in range(1, W):
        t = k * grand / W
        if before < t <= before + (int(cost[-1]) if cost.size else 0):
            cuts[k] = offset + int(np.searchsorted(cost, t - before, side="left")) + 1
    cuts = comm.all_reduce_(torch.from_numpy(cuts)).numpy()
    cuts[W] = n
    bounds = np.maximum.accumulate(cuts)

    # ids of each block from their owners, in global order
    mine = [owned.slice(max(0, int(bounds[q]) - offset), max(0, min(int(bounds[q + 1]), offset + len(owned))
                                                                 - max(int(bounds[q]), offset)))
            for q in range(W)]
    block_ids = pa.concat_tables(comm.all_to_all_tables([pa.table({"id": a}) for a in mine])).column("id")
    block_ids = block_ids.combine_chunks() if block_ids.num_chunks else owned.slice(0, 0)
    del mine

    lap("partition")

    # 4. each citation to the block of its cited paper; sources in rank order keep file order
    comm.stage = "edge exchange"
    part = np.searchsorted(bounds, cited_g, side="right") - 1
    eorder, estarts = _by_owner(part, W)
    del part
    pairs = np.empty((len(eorder), 2), np.int32 if n < 2**31 else np.int64)  # 8 bytes a citation on the wire
    pairs[:, 0] = citing_g[eorder]
    pairs[:, 1] = cited_g[eorder]
    del citing_g, cited_g
    got = comm.all_to_all([torch.from_numpy(pairs[estarts[q]:estarts[q + 1]].reshape(-1)) for q in range(W)])
    del pairs
    pairs_t = torch.cat(got).view(-1, 2).long()
    del got
    w_t = None
    if weights is not None:  # the same on every rank: a weight column is named or found in the same files
        w_sorted = weights[eorder]
        w_t = torch.cat(comm.all_to_all([torch.from_numpy(w_sorted[estarts[q]:estarts[q + 1]]) for q in range(W)]))
        del w_sorted
    del eorder

    lap("exchange")
    lo, hi = int(bounds[r]), int(bounds[r + 1])
    recv = pairs_t.numpy()
    citing_np = recv[:, 0].astype(np.int64)
    loops = citing_np == recv[:, 1]
    n_loops = int(loops.sum())
    if self_citations == "drop" and n_loops:
        keep = ~loops
        recv, citing_np = recv[keep], citing_np[keep]
        w_t = None if w_t is None else w_t[torch.from_numpy(keep)]
    del loops, pairs_t
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
    del w_t
    out_weight = comm.all_reduce_(block.out_weight)
    weight = block.weight  # None where this block's weights are all one: each block's values are its own
    # weights were scaled per citing paper before the blocks were built, so out-weights are finite sums over
    # every block: a block's weighted values are w / out_weight (largest 1), as on one process
    scale = None if weight is None else (torch.ones_like(out_weight), out_weight)
    self_loops, dup_rows, nnz = comm.sum_ints([n_loops, block.stats["duplicate_rows"], block.nnz])
    idt = block.col.dtype
    stats.update(self_citations=self_loops, duplicate_rows=dup_rows, citations=nnz, papers=n,
                 dangling_papers=int((out_weight == 0).sum()) - (W * max_rows - n),
                 index_dtype=str(idt).removeprefix("torch."))
    lap("build")
    log.info("partition: %d papers in %d blocks (this rank: papers %d..%d, %d citations); seconds: %s", n, W, lo,
             hi, block.nnz, ", ".join(f"{k} {v:.2f}" for k, v in took.items()))
    return PartitionedGraph(n=n, bounds=bounds, rank=r, crow=block.crow, col=block.col, weight=weight,
                            out_weight=out_weight, ids=block_ids, kind=kind, owned=owned, owned_offset=offset,
                            stats=stats, scale=scale)


# --------------------------------------------------------------------------- ids across ranks


class PartitionedIds:
    """Id -> global index lookups answered by the ids' hash owners (duck-types :class:`ranker.io.IdMap`
    for :func:`ranker.io.read_seeds`). Collective: every rank must look up the same values."""

    def __init__(self, graph: PartitionedGraph, comm: Comm) -> None:
        self.graph, self.comm, self.kind = graph, comm, graph.kind

    def __len__(self) -> int:
        return self.graph.n

    def lookup(self, values: pa.Array) -> pa.Array:
        """Global index of each value (``int64``), null where the id is not a paper of the graph."""
        values = normalize_ids(values, self.kind)
        out = np.full(len(values), -1, np.int64)
        mine = np.flatnonzero(owner_of(values, self.comm.world_size) == self.comm.rank)
        if mine.size and len(self.graph.owned):
            idx = pc.index_in(values.take(pa.array(mine)), value_set=self.graph.owned)
            found = idx.is_valid().to_numpy(zero_copy_only=False)
            out[mine[found]] = idx.filter(idx.is_valid()).to_numpy().astype(np.int64) + self.graph.owned_offset
        got = self.comm.all_reduce_(torch.from_numpy(out), "max").numpy()
        return pa.array(got, pa.int64(), mask=got < 0)

    def index_of(self, values: tuple) -> np.ndarray:
        """Global indices of those ``[output] exclude_ids`` that are papers of the graph."""
        want = int if self.kind == "integer" else str
        mine = [v for v in values if isinstance(v, want)]
        arr = pa.array(mine, pa.int64() if self.kind == "integer" else pa.large_string())
        idx = self.lookup(arr)
        return idx.filter(idx.is_valid()).to_numpy().astype(np.int64) if len(arr) else np.zeros(0, np.int64)



"""The graph in contiguous row blocks over the ranks of a :class:`ranker.parallel.comm.Comm`.

:class:`PartitionedGraph` is one rank's block; ids belong to a hash owner (:func:`owner_of`),
which numbers them and answers lookups (:class:`PartitionedIds`). The blocks are built by
:func:`ranker.parallel.ingest.read_partitioned`.
"""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..graph import transition_csr
from ..io.ids import coerce_ids, normalize_ids
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

    def index_of(self, values: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Global indices of those ``[output] exclude_ids`` that are papers of the graph, and which
        entries matched one (collective)."""
        arr, pos = coerce_ids(values, self.kind)
        matched = np.zeros(len(values), bool)
        if not len(arr):  # the same on every rank: none takes part in the lookup
            return np.zeros(0, np.int64), matched
        idx = self.lookup(arr)
        found = idx.is_valid().to_numpy(zero_copy_only=False)
        matched[pos[found]] = True
        return np.unique(idx.filter(idx.is_valid()).to_numpy().astype(np.int64)), matched



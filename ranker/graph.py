"""The citation graph as torch tensors: the CSR of the transposed transition matrix.

Row ``j`` of the CSR lists the papers that cite ``j`` (its citers), so one sparse x dense
product ``P^T @ X`` moves every citing paper's score to the papers it cites. Indices are
``int32`` while the node count and the citation count fit, ``int64`` beyond.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

log = logging.getLogger("ranker")

INT32_MAX = 2**31 - 1


def csr_tensor(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A sparse CSR tensor from trusted parts (no invariant checks, torch's "beta" warning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def inverse_out_weight(out_weight: torch.Tensor) -> torch.Tensor:
    """``1 / out_weight``, 0 for dangling papers (no outgoing weight), in ``out_weight``'s dtype."""
    return torch.where(out_weight > 0, 1.0 / out_weight, torch.zeros_like(out_weight))


def largest_weight(col: torch.Tensor, weight: torch.Tensor, n_cols: int) -> torch.Tensor:
    """``float64 [n_cols]``: each citing paper's largest citation weight (1 where it has none)."""
    largest = torch.zeros(n_cols, dtype=torch.float64, device=weight.device)
    largest.scatter_reduce_(0, col.long(), weight.to(torch.float64), "amax")
    return torch.where(largest > 0, largest, torch.ones_like(largest))


def transition_csr(crow: torch.Tensor, col: torch.Tensor, weight: torch.Tensor | None, out_weight: torch.Tensor,
                   dtype: torch.dtype, size: tuple[int, int],
                   scale: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Rows of ``P^T`` as a CSR tensor of ``dtype``: ``P^T[j, i] = w_ij / out_weight[i]`` (``w`` = 1 when
    ``weight`` is None); ``out_weight`` is indexed by column.

    Weighted, the quotient is taken as ``(w_ij / m_i) / sum_k (w_ik / m_i)`` with ``m_i`` the
    citing paper's largest weight, so that weights near the float64 limits (``1e308``,
    ``1e-320``) neither overflow nor underflow. ``scale = (m, sum_k w_ik / m_i)`` gives both
    per citing paper when this CSR holds only some of the citations (a row block,
    :mod:`ranker.parallel.ingest`); otherwise they are computed from this CSR.
    """
    if weight is None:
        values = inverse_out_weight(out_weight).index_select(0, col.long())
        return csr_tensor(crow, col, values.to(dtype), size)
    largest = largest_weight(col, weight, size[1]) if scale is None else scale[0]
    ws = weight / largest.index_select(0, col.long())
    scaled_out = (torch.zeros(size[1], dtype=torch.float64, device=col.device).index_add_(0, col.long(), ws)
                  if scale is None else scale[1])
    values = ws * inverse_out_weight(scaled_out).index_select(0, col.long())
    return csr_tensor(crow, col, values.to(dtype), size)


@dataclass
class CitationGraph:
    """A citation graph on one device, ready for the solvers.

    Attributes
    ----------
    n : int
        Number of papers (nodes ``0..n-1``).
    crow : torch.Tensor
        ``[n + 1]`` row pointers of the transposed adjacency (row = cited paper).
    col : torch.Tensor
        ``[nnz]`` citing paper of each stored citation, sorted within each row.
    weight : torch.Tensor or None
        ``float64 [nnz]`` citation weights after duplicate handling; None when all are 1.
    out_weight : torch.Tensor
        ``float64 [n]`` total out-weight of each paper (its number of references when unweighted).
    stats : dict
        Counts seen while building (self-citations, duplicates, dangling papers).
    segments : list of (kind, start, end), optional
        Set when the papers are numbered in topological level order (:mod:`ranker.solvers.dag`):
        the row ranges of each level's papers on no cycle and of its strongly connected
        components, in solve order.
    """

    n: int
    crow: torch.Tensor
    col: torch.Tensor
    weight: torch.Tensor | None
    out_weight: torch.Tensor
    stats: dict[str, Any] = field(default_factory=dict)
    segments: list[tuple[str, int, int]] | None = None
    _transition: dict[torch.dtype, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    @property
    def dangling(self) -> torch.Tensor:
        """``int64 [d]`` indices of papers with no outgoing weight (they cite nothing)."""
        return torch.nonzero(self.out_weight == 0).flatten()

    def row_index(self) -> torch.Tensor:
        """``[nnz]`` cited paper of each stored citation (expands ``crow``)."""
        counts = self.crow[1:] - self.crow[:-1]
        return torch.repeat_interleave(torch.arange(self.n, device=self.device, dtype=self.col.dtype), counts)

    def transition(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The column-stochastic transition ``P^T`` as a sparse CSR tensor of ``dtype``.

        ``P^T[j, i] = w_ij / out_weight_i``; columns of dangling papers are zero. Cached per dtype.
        """
        if dtype not in self._transition:
            self._transition[dtype] = transition_csr(self.crow, self.col, self.weight, self.out_weight, dtype,
                                                     (self.n, self.n))
        return self._transition[dtype]

    def to(self, device: torch.device | str) -> "CitationGraph":
        """The same graph on ``device`` (cached transitions are rebuilt there on demand)."""
        device = torch.device(device)
        if device == self.device:
            return self
        return CitationGraph(n=self.n, crow=self.crow.to(device), col=self.col.to(device),
                             weight=None if self.weight is None else self.weight.to(device),
                             out_weight=self.out_weight.to(device), stats=dict(self.stats))

    def permute(self, perm: torch.Tensor, *, segments: list[tuple[str, int, int]] | None = None,
                compiled: bool = True) -> "CitationGraph":
        """The same graph with paper ``perm[r]`` renumbered ``r``.

        Parameters
        ----------
        perm : torch.Tensor
            ``int64 [n]``, a permutation of ``0..n-1``.
        segments : list, optional
            Stored on the result (the level plan the permutation realizes).
        compiled : bool
            On the CPU, move the rows in one parallel compiled pass
            (:func:`ranker.kernels.sweep.permute_rows`); False, or another device: torch's
            gathers (the reference; the same result).
        """
        n, device = self.n, self.device
        perm = perm.to(device=device, dtype=torch.int64)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n, device=device)
        crow = self.crow.long()
        lengths = (crow[1:] - crow[:-1]).index_select(0, perm)
        new_crow = torch.zeros(n + 1, dtype=torch.int64, device=device)
        torch.cumsum(lengths, 0, out=new_crow[1:])
        if compiled and device.type == "cpu":
            from .kernels.sweep import permute_rows

            col_np, pos_np = permute_rows(self.crow.numpy(), self.col.numpy(), perm.numpy(),
                                          inv.to(self.col.dtype).numpy(), new_crow.numpy(), self.weight is not None)
            new_col, pos = torch.from_numpy(col_np), torch.from_numpy(pos_np)
        else:
            total = int(lengths.sum())
            offsets = new_crow[:-1]
            pos = torch.arange(total, device=device) + torch.repeat_interleave(
                crow[:-1].index_select(0, perm) - offsets, lengths, output_size=total)
            new_col = inv.index_select(0, self.col.long().index_select(0, pos)).to(self.col.dtype)
        weight = None if self.weight is None else self.weight.index_select(0, pos)
        # columns keep their old order within each row: the CSR kernels do not need them sorted
        return CitationGraph(n=n, crow=new_crow.to(self.col.dtype), col=new_col, weight=weight,
                             out_weight=self.out_weight.index_select(0, perm), stats=dict(self.stats),
                             segments=segments)

    def nbytes(self) -> int:
        """Bytes held by the graph's tensors, cached transitions included."""
        total = self.crow.nbytes + self.col.nbytes + self.out_weight.nbytes
        if self.weight is not None:
            total += self.weight.nbytes
        for t in self._transition.values():
            total += t.values().nbytes
        return total


def choose_index_dtype(n: int, nnz: int, requested: str = "auto") -> torch.dtype:
    """``int32`` when both ``n`` and ``nnz`` fit (and not overridden), else ``int64``."""
    if requested == "int64" or n > INT32_MAX or nnz > INT32_MAX:
        return torch.int64
    return torch.int32


def build_graph(
    citing: torch.Tensor | np.ndarray,
    cited: torch.Tensor | np.ndarray,
    n: int,
    weight: torch.Tensor | np.ndarray | None = None,
    *,
    self_citations: str = "keep",
    duplicates: str = "once",
    index_dtype: str = "auto",
    device: torch.device | str = "cpu",
    n_cols: int | None = None,
) -> CitationGraph:
    """Build the transposed CSR from citation index pairs.

    Parameters
    ----------
    citing, cited : array of int, shape [E]
        Dense paper indices in ``0..n-1``; citation ``e`` goes from ``citing[e]`` to ``cited[e]``.
    n : int
        Number of papers; papers without any citation are still nodes.
    weight : array of float, shape [E], optional
        Non-negative citation weights (validated at ingest); None means all 1.
    self_citations : {"keep", "drop"}
        Keep or drop citations of a paper to itself.
    duplicates : {"once", "sum"}
        Repeated (citing, cited) rows count once (the first row's weight) or sum their weights.
    index_dtype : {"auto", "int32", "int64"}
        Index width; ``auto`` picks ``int32`` when it fits.
    device : torch.device or str
    n_cols : int, optional
        Column count when it differs from ``n`` (``citing`` in ``0..n_cols-1``): a block of rows
        of a larger graph (:mod:`ranker.parallel.ingest`). ``out_weight`` then has ``n_cols`` entries.

    Returns
    -------
    CitationGraph
    """
    least = 1 if n_cols is None else 0  # a block of rows of a larger graph may be empty (a rank without papers)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(f"n must be an integer >= {least} (the number of papers), got {n!r}")
    for name, value, choices in (("self_citations", self_citations, ("keep", "drop")),
                                 ("duplicates", duplicates, ("once", "sum")),
                                 ("index_dtype", index_dtype, ("auto", "int32", "int64"))):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    device = torch.device(device)
    n_cols = n if n_cols is None else n_cols
    citing_t = torch.as_tensor(citing).to(device)
    cited_t = torch.as_tensor(cited).to(device)
    w = None if weight is None else torch.as_tensor(weight).to(device=device, dtype=torch.float64)
    if citing_t.shape != cited_t.shape or citing_t.dim() != 1:
        raise ValueError(f"citing and cited must be 1-d of one length, got {tuple(citing_t.shape)} and "
                         f"{tuple(cited_t.shape)}")
    if citing_t.numel() and (int(citing_t.min()) < 0 or int(citing_t.max()) >= n_cols or int(cited_t.min()) < 0
                             or int(cited_t.max()) >= n):
        raise ValueError(f"paper indices must lie in 0..{n - 1} (citing in 0..{n_cols - 1}); got citing "
                         f"{int(citing_t.min())}..{int(citing_t.max())}, "
                         f"cited {int(cited_t.min())}..{int(cited_t.max())}")
    if w is not None and (w.shape != citing_t.shape or not bool(torch.isfinite(w).all()) or bool((w < 0).any())):
        raise ValueError("weight must have one finite, non-negative value per citation")
    stats: dict[str, Any] = {"citation_rows": int(citing_t.numel())}

    stats["self_citations"] = int((citing_t == cited_t).sum())
    if self_citations == "drop" and stats["self_citations"]:
        keep = citing_t != cited_t
        citing_t, cited_t = citing_t[keep], cited_t[keep]
        w = None if w is None else w[keep]
        del keep

    # Sort by key = cited * n + citing: rows of the transposed matrix, columns sorted within a
    # row, duplicates adjacent. Built in place from one int64 temporary (8 bytes per citation).
    key = cited_t.to(torch.int64, copy=True)  # never write into the caller's array
    key.mul_(n_cols).add_(citing_t)
    del citing_t, cited_t
    need_perm = w is not None
    if need_perm:
        key, perm = torch.sort(key, stable=True)
    else:
        key = torch.sort(key).values
    first = torch.ones_like(key, dtype=torch.bool)
    if key.numel() > 1:
        torch.ne(key[1:], key[:-1], out=first[1:])
    n_unique = int(first.sum())
    stats["duplicate_rows"] = int(key.numel()) - n_unique
    if stats["duplicate_rows"]:
        if duplicates == "sum":
            group = torch.cumsum(first, 0) - 1
            src = torch.ones(key.numel(), dtype=torch.float64, device=device) if w is None else w[perm]
            w = torch.zeros(n_unique, dtype=torch.float64, device=device).index_add_(0, group, src)
            if not bool(torch.isfinite(w).all()):  # sums of weights near 1e308: each citing paper's over its largest
                citing_of = key.remainder(n_cols)
                src = src / largest_weight(citing_of, src, n_cols).index_select(0, citing_of)
                w = torch.zeros(n_unique, dtype=torch.float64, device=device).index_add_(0, group, src)
                del citing_of
            del group, src
        elif w is not None:
            w = w[perm][first]  # stable sort: the first row of each group is its first in the input
        key = key[first]
    elif w is not None:
        w = w[perm]
    if need_perm:
        del perm
    del first

    idt = choose_index_dtype(max(n, n_cols), int(key.numel()), index_dtype)
    # keys are sorted: row j spans the keys in [j * n_cols, (j + 1) * n_cols)
    crow = torch.searchsorted(key, torch.arange(n + 1, dtype=torch.int64, device=device) * n_cols).to(idt)
    col = key.remainder_(n_cols).to(idt)
    del key
    return _finish(n, crow, col, w, stats, n_cols)


def _finish(n: int, crow: torch.Tensor, col: torch.Tensor, weight: torch.Tensor | None,
            stats: dict[str, Any], n_cols: int | None = None) -> CitationGraph:
    """Out-weights and the remaining counts of a built CSR; all-one weights become structure-only."""
    n_cols = n if n_cols is None else n_cols
    if weight is None:
        out_weight = torch.bincount(col, minlength=n_cols).to(torch.float64)
    else:
        out_weight = torch.zeros(n_cols, dtype=torch.float64, device=col.device).index_add_(0, col, weight)
        if bool((weight == 1).all()):
            weight = None  # summed duplicates were absent or the weights are all one: structure-only
    stats["citations"] = int(col.numel())
    stats["papers"] = n
    stats["dangling_papers"] = int((out_weight == 0).sum())
    stats["index_dtype"] = str(col.dtype).removeprefix("torch.")
    return CitationGraph(n=n, crow=crow, col=col, weight=weight, out_weight=out_weight, stats=stats)


def _sort_inplace(a: np.ndarray) -> None:
    """Sort an int64 array in place with two threads: halves in parallel (numpy releases the
    GIL), then a stable sort that merges the two runs. No index array, ~E/2 scratch."""
    from concurrent.futures import ThreadPoolExecutor

    h = a.size // 2
    if h < 1 << 16:
        a.sort()
        return
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(np.ndarray.sort, [a[:h], a[h:]]))
    a.sort(kind="stable")  # timsort: one merge of two runs


def _compact_inplace(a: np.ndarray, keep: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """``a[keep]`` written over the front of ``a`` (a view of it), chunk by chunk."""
    out = 0
    for s in range(0, a.size, chunk):
        part = a[s:s + chunk][keep[s:s + chunk]]  # a chunk-sized temporary
        a[out:out + part.size] = part
        out += part.size
    return a[:out]


def build_from_pairs(pairs: np.ndarray, n: int, *, self_citations: str, duplicates: str,
                      index_dtype: str, n_cols: int | None = None) -> CitationGraph:
    """CPU, unweighted, ``n < 2**31``: the CSR built in the edge buffer itself.

    An interleaved ``int32`` (citing, cited) pair read as little-endian ``int64`` is
    ``cited * 2**32 + citing``: the sort key of the transposed CSR. Sorting the buffer in place
    orders rows (cited) and the columns within them, and puts duplicate rows side by side.
    Peak memory is about 16 bytes per citation. ``n_cols`` as in :func:`build_graph` (a row block).
    """
    n_cols = n if n_cols is None else n_cols
    key = pairs.view(np.int64).reshape(-1)
    stats: dict[str, Any] = {"citation_rows": int(key.size)}
    loops = pairs[:, 0] == pairs[:, 1]
    stats["self_citations"] = int(loops.sum())
    if self_citations == "drop" and stats["self_citations"]:
        key = _compact_inplace(key, ~loops)
    del loops, pairs
    _sort_inplace(key)
    first = np.empty(key.size, dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    n_unique = int(np.count_nonzero(first))
    stats["duplicate_rows"] = int(key.size) - n_unique
    weight = None
    if stats["duplicate_rows"]:
        if duplicates == "sum":
            starts = np.flatnonzero(first)
            weight = torch.from_numpy(np.diff(np.append(starts, key.size)).astype(np.float64))
        key = _compact_inplace(key, first)
    del first
    idt = choose_index_dtype(max(n, n_cols), int(key.size), index_dtype)
    np_idt = np.int32 if idt == torch.int32 else np.int64
    crow = np.searchsorted(key, np.arange(n + 1, dtype=np.int64) << 32).astype(np_idt)
    col = np.empty(key.size, dtype=np_idt)
    for s in range(0, key.size, 1 << 22):
        np.bitwise_and(key[s:s + (1 << 22)], 0xFFFFFFFF, out=col[s:s + (1 << 22)], casting="unsafe")
    del key
    return _finish(n, torch.from_numpy(crow), torch.from_numpy(col), weight, stats, n_cols)


def graph_from_edges(edges: Any, *, self_citations: str = "keep", duplicates: str = "once",
                     index_dtype: str = "auto", device: torch.device | str = "cpu") -> CitationGraph:
    """Build the graph from an :class:`ranker.io.EdgeList`, taking ownership of its buffers.

    The edge list's arrays are released (set to None) so that memory is freed as the build
    goes. On the CPU, for unweighted citations with int32 indices, the CSR is built inside the
    edge buffer (:func:`build_from_pairs`); otherwise :func:`build_graph`. Both give the same graph.
    """
    pairs, citing, cited, weight = edges.pairs, edges.citing, edges.cited, edges.weight
    edges.release(weight=True)
    n = len(edges.ids)
    device = torch.device(device)
    if (device.type == "cpu" and weight is None and pairs is not None and pairs.dtype == np.int32
            and pairs.flags.c_contiguous and sys.byteorder == "little" and index_dtype != "int64"):
        del citing, cited
        return build_from_pairs(pairs, n, self_citations=self_citations, duplicates=duplicates,
                                 index_dtype=index_dtype)
    del pairs
    return build_graph(citing, cited, n, weight, self_citations=self_citations, duplicates=duplicates,
                       index_dtype=index_dtype, device=device)

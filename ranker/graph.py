"""The citation graph as torch tensors: the CSR of the transposed transition matrix.

Row ``j`` of the CSR lists the papers that cite ``j`` (its citers), so one sparse x dense
product ``P^T @ X`` moves every citing paper's score to the papers it cites. Indices are
``int32`` while the node count and the citation count fit, ``int64`` beyond. The graph is
built from citation pairs by :mod:`ranker.graph_build`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from .kernels import compiled_pays

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
                compiled: bool | None = None) -> "CitationGraph":
        """The same graph with paper ``perm[r]`` renumbered ``r``.

        Parameters
        ----------
        perm : torch.Tensor
            ``int64 [n]``, a permutation of ``0..n-1``.
        segments : list, optional
            Stored on the result (the level plan the permutation realizes).
        compiled : bool, optional
            On the CPU, move the rows in one parallel compiled pass
            (:func:`ranker.kernels.sweep.permute_rows`); False, or another device: torch's
            gathers (the reference; the same result). None: compiled when it pays
            (:func:`ranker.kernels.compiled_pays`).
        """
        n, device = self.n, self.device
        if compiled is None:
            compiled = compiled_pays(self.nnz, device)
        perm = perm.to(device=device, dtype=torch.int64)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n, device=device)
        crow = self.crow.long()
        lengths = (crow[1:] - crow[:-1]).index_select(0, perm)
        new_crow = torch.zeros(n + 1, dtype=torch.int64, device=device)
        torch.cumsum(lengths, 0, out=new_crow[1:])
        if compiled and device.type == "cpu":
            from .kernels.sweep import permute_rows

            col_np, pos_np = permute_rows(self.crow.numpy(), self.col.numpy(), inv.to(self.col.dtype).numpy(),
                                          new_crow.numpy(), self.weight is not None)
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

"""The citation graph built from index pairs: the transposed CSR, with self-citations and duplicate
rows settled (:class:`ranker.graph.CitationGraph`).

:func:`build_graph` takes tensors or arrays on any device; :func:`build_from_pairs` builds the CSR
from ingest's own buffer on the CPU (by counting, compiled, or by sorting the buffer in place);
:func:`graph_from_edges` picks between them for an :class:`ranker.io.EdgeList`. Both give the
same graph (tested).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from .graph import INT32_MAX, CitationGraph, choose_index_dtype, largest_weight
from .kernels import compiled_pays


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
    _check_arguments(n, n_cols, self_citations, duplicates, index_dtype)
    device = torch.device(device)
    n_cols = n if n_cols is None else n_cols
    citing_t = torch.as_tensor(citing).to(device)
    cited_t = torch.as_tensor(cited).to(device)
    w = None if weight is None else torch.as_tensor(weight).to(device=device, dtype=torch.float64)
    _check_pairs(citing_t, cited_t, w, n, n_cols)
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
    key, w = _sorted_unique(key, w, duplicates, n_cols, stats)
    idt = choose_index_dtype(max(n, n_cols), int(key.numel()), index_dtype)
    # keys are sorted: row j spans the keys in [j * n_cols, (j + 1) * n_cols)
    crow = torch.searchsorted(key, torch.arange(n + 1, dtype=torch.int64, device=device) * n_cols).to(idt)
    col = key.remainder_(n_cols).to(idt)
    del key
    return _finish(n, crow, col, w, stats, n_cols)


def _check_arguments(n: int, n_cols: int | None, self_citations: str, duplicates: str, index_dtype: str) -> None:
    least = 1 if n_cols is None else 0  # a block of rows of a larger graph may be empty (a rank without papers)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(f"n must be an integer >= {least} (the number of papers), got {n!r}")
    for name, value, choices in (("self_citations", self_citations, ("keep", "drop")),
                                 ("duplicates", duplicates, ("once", "sum")),
                                 ("index_dtype", index_dtype, ("auto", "int32", "int64"))):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_pairs(citing: torch.Tensor, cited: torch.Tensor, w: torch.Tensor | None, n: int, n_cols: int) -> None:
    if citing.shape != cited.shape or citing.dim() != 1:
        raise ValueError(f"citing and cited must be 1-d of one length, got {tuple(citing.shape)} and "
                         f"{tuple(cited.shape)}")
    if citing.numel() and (int(citing.min()) < 0 or int(citing.max()) >= n_cols or int(cited.min()) < 0
                           or int(cited.max()) >= n):
        raise ValueError(f"paper indices must lie in 0..{n - 1} (citing in 0..{n_cols - 1}); got citing "
                         f"{int(citing.min())}..{int(citing.max())}, "
                         f"cited {int(cited.min())}..{int(cited.max())}")
    if w is not None and (w.shape != citing.shape or not bool(torch.isfinite(w).all()) or bool((w < 0).any())):
        raise ValueError("weight must have one finite, non-negative value per citation")


def _sorted_unique(key: torch.Tensor, w: torch.Tensor | None, duplicates: str, n_cols: int,
                   stats: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The keys sorted with each repeated one kept once, and their weights: the first row's
    (``duplicates = "once"``) or the sum (``"sum"``, counting rows when unweighted)."""
    device = key.device
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

    return key, w


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
                      index_dtype: str, n_cols: int | None = None, compiled: bool | None = None) -> CitationGraph:
    """CPU, unweighted, ``n < 2**31``: the CSR built from ingest's own buffer of ``int32`` pairs.

    Compiled (:mod:`ranker.kernels.csr_build`): the pairs counted by cited paper, each citing
    paper placed in its row, the rows sorted on every core and their repeats dropped in place:
    about 12 bytes per citation at the peak (the pairs and the columns). Else (the reference) in
    the buffer itself: an interleaved (citing, cited) pair read as little-endian ``int64`` is
    ``cited * 2**32 + citing``, the sort key of the transposed CSR; sorting the buffer in place
    orders rows (cited) and the columns within them, and puts duplicate rows side by side (about
    16 bytes per citation at the peak). The same graph either way, columns ascending in each
    row. ``n_cols`` as in :func:`build_graph` (a row block). ``compiled`` None: compiled when
    it pays (:func:`ranker.kernels.compiled_pays`) and the citations fit ``int32`` row pointers.
    """
    n_cols = n if n_cols is None else n_cols
    stats: dict[str, Any] = {"citation_rows": len(pairs)}
    if compiled is None:
        compiled = compiled_pays(len(pairs)) and len(pairs) <= INT32_MAX
    if compiled:
        return _counted(pairs, n, n_cols, stats, self_citations == "drop", duplicates, index_dtype)
    loops = pairs[:, 0] == pairs[:, 1]
    stats["self_citations"] = int(loops.sum())
    key = pairs.view(np.int64).reshape(-1)
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


def _counted(pairs: np.ndarray, n: int, n_cols: int, stats: dict[str, Any], drop_loops: bool, duplicates: str,
             index_dtype: str) -> CitationGraph:
    """:func:`build_from_pairs` by the compiled kernels: count (the self-citations too), place,
    sort rows, drop repeats."""
    from .kernels import csr_build

    # int32 row pointers and counts (the caller keeps this path under 2**31 citations): the row
    # counts and placement write at random into them, so half the bytes are half the misses
    crow = np.zeros(n + 1, np.int32)
    parts = csr_build.row_ranges(n)
    stats["self_citations"] = int(csr_build.row_starts(pairs, crow, drop_loops, parts))
    col = np.empty(int(crow[n]), np.int32)
    csr_build.place_entries(pairs, crow, col, drop_loops, parts)
    distinct = np.empty(n, np.int32)
    csr_build.sort_rows(crow, col, distinct)
    kept = int(distinct.sum(dtype=np.int64))
    del distinct
    stats["duplicate_rows"] = int(col.size) - kept
    weight = None
    if stats["duplicate_rows"]:
        counts = np.empty(kept if duplicates == "sum" else 0, np.float64)
        csr_build.drop_repeats(crow, col, counts)
        col = col[:kept].copy() if 8 * (col.size - kept) > col.size else col[:kept]  # a view unless much is left
        weight = torch.from_numpy(counts) if duplicates == "sum" else None
    idt = choose_index_dtype(max(n, n_cols), kept, index_dtype)
    np_idt = np.int32 if idt == torch.int32 else np.int64
    crow_t, col_t = (torch.from_numpy(a.astype(np_idt, copy=False)) for a in (crow, col))
    return _finish(n, crow_t, col_t, weight, stats, n_cols)


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

"""Arbitrary paper ids (strings, sparse integers) to the dense indices the solvers take, and back.

For notebook users with an edge table in memory, as cuGraph's ``renumber=True`` does; jobs
read files and renumber while they stream (:mod:`ranker.io`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch


@dataclass(frozen=True)
class Renumbered:
    """Citations as dense indices, with the ids they stand for.

    Attributes
    ----------
    citing, cited : torch.Tensor
        ``int64 [m]`` indices into ``ids``.
    ids : pyarrow.Array
        ``ids[k]`` is the paper numbered ``k``, in order of first appearance (citing before
        cited, row by row).
    """

    citing: torch.Tensor
    cited: torch.Tensor
    ids: pa.Array

    @property
    def n(self) -> int:
        """Number of distinct papers."""
        return len(self.ids)

    def labels(self, index: torch.Tensor | np.ndarray) -> pa.Array:
        """The ids of papers numbered ``index``."""
        idx = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        return self.ids.take(pa.array(idx.astype(np.int64)))

    def index(self, ids: Any) -> torch.Tensor:
        """``int64`` numbers of ``ids``; raises ``KeyError`` naming the first id not in the graph."""
        want = _as_array(ids, "ids")
        pos = pc.index_in(want, value_set=self.ids)
        if pos.null_count:
            missing = want.filter(pc.is_null(pos))[0].as_py()
            raise KeyError(f"paper {missing!r} is not in the graph")
        return torch.from_numpy(pos.to_numpy(zero_copy_only=False).astype(np.int64))


def _as_array(values: Any, name: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, torch.Tensor):
        values = values.cpu().numpy()
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise ValueError(f"{name}: cannot read the ids ({exc})") from None
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    if not (pa.types.is_integer(arr.type) or pa.types.is_string(arr.type)):
        raise ValueError(f"{name}: ids must be strings or integers, got {arr.type}")
    if pa.types.is_integer(arr.type) and arr.type != pa.int64():
        if pa.types.is_uint64(arr.type) and len(arr) and pc.max(arr).as_py() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: unsigned ids above {np.iinfo(np.int64).max} do not fit int64")
        arr = arr.cast(pa.int64())
    if arr.null_count:
        row = int(pc.index(pc.is_null(arr), True).as_py())
        raise ValueError(f"{name}, row {row}: null id")
    return arr


def renumber(citing: Any, cited: Any) -> Renumbered:
    """Number the papers of a citation list ``0..n-1``.

    Parameters
    ----------
    citing, cited : sequence of ids
        Strings or integers of one kind: lists, numpy arrays, pandas or polars series,
        Arrow arrays (dictionary-encoded too), torch tensors. Row ``r``: ``citing[r]`` cites
        ``cited[r]``.

    Returns
    -------
    Renumbered
        ``build_graph(r.citing, r.cited, r.n)`` builds the graph; ``r.labels(idx)`` and
        ``r.index(ids)`` map between numbers and ids.

    Raises
    ------
    ValueError
        Different lengths, ids of two kinds (strings and integers), nulls (naming the row),
        or values that are not ids.

    Examples
    --------
    >>> r = renumber(["W9", "W7", "W9"], ["W7", "W1", "W1"])
    >>> r.citing.tolist(), r.cited.tolist(), r.ids.to_pylist()
    ([0, 1, 0], [1, 2, 2], ['W9', 'W7', 'W1'])
    """
    a, b = _as_array(citing, "citing"), _as_array(cited, "cited")
    if len(a) != len(b):
        raise ValueError(f"citing has {len(a)} rows, cited has {len(b)}")
    if a.type != b.type:
        raise ValueError(f"citing ids are {a.type}, cited ids are {b.type}: use one kind for both")
    m = len(a)
    # row by row, citing before cited: the order a reader of the table meets the papers
    both = pa.concat_arrays([a, b]).take(pa.array(np.stack([np.arange(m), np.arange(m) + m], 1).ravel()))
    enc = both.dictionary_encode()
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64).reshape(m, 2)
    return Renumbered(citing=torch.from_numpy(idx[:, 0].copy()), cited=torch.from_numpy(idx[:, 1].copy()),
                      ids=enc.dictionary)

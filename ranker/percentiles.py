"""Percentiles within groups (year, field): the normalized indicator bibliometricians report.

A paper's percentile is its rank within its group (papers of the same year and field), average
ranks for ties, over the group's size: ``pandas.Series.groupby(keys).rank(pct=True,
method="average")``. 1.0 is the top of its group; "top 10% of its field and year" is
``percentile > 0.9``. A paper whose group key is null has none.

References
----------
L. Waltman, N. J. van Eck, "Field-normalized citation impact indicators and the choice of an
appropriate counting method", J. Informetrics 9(4), 2015; the Leiden Ranking's ``PP(top 10%)``;
OpenAlex's ``citation_normalized_percentile``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def group_codes(keys: list[pa.Array | pa.ChunkedArray | np.ndarray]) -> np.ndarray:
    """``int64 [n]``: one code per distinct combination of the key columns, -1 where any key is null
    (or NaN). Codes follow the sorted order of the combinations."""
    if not keys:
        raise ValueError("group_codes needs at least one key column")
    parts, null = [], None
    for key in keys:
        arr = key if isinstance(key, (pa.Array, pa.ChunkedArray)) else pa.array(key, from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_floating(arr.type):
            arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
        missing = arr.is_null().to_numpy(zero_copy_only=False)
        null = missing if null is None else null | missing
        if pa.types.is_null(arr.type) or not len(arr):
            parts.append(np.zeros(len(arr), np.int64))
            continue
        encoded = pc.dictionary_encode(arr)
        # codes in sorted order of the values, so that codes mean the same whatever the row order
        rank = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64) - 1
        idx = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        parts.append(rank[idx] if len(rank) else idx)
    assert null is not None
    n = parts[0].size
    if len(parts) == 1:
        codes = parts[0]
    else:
        _, codes = np.unique(np.stack(parts, 1), axis=0, return_inverse=True)
        codes = codes.reshape(n).astype(np.int64)
    return np.where(null, -1, codes).astype(np.int64)


def group_percentiles(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``float64 [n]``: each value's average rank within its group (ascending), over the group's size.

    Equal to ``pandas.Series(values).groupby(groups).rank(pct=True, method="average")`` with
    rows of group -1 (and NaN values) left NaN.
    """
    values = np.asarray(values, np.float64)
    groups = np.asarray(groups, np.int64)
    out = np.full(values.size, np.nan)
    rows = np.flatnonzero((groups >= 0) & ~np.isnan(values))
    if not rows.size:
        return out
    order = rows[np.lexsort((values[rows], groups[rows]))]
    g, v = groups[order], values[order]
    m = order.size
    pos = np.arange(m)
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_value = new_group | np.r_[True, v[1:] != v[:-1]]
    group_first = np.maximum.accumulate(np.where(new_group, pos, 0))
    run_first = np.maximum.accumulate(np.where(new_value, pos, 0))
    # the last position of each run: the next run's first, less one (read backwards)
    last_of = np.r_[np.flatnonzero(new_value)[1:] - 1, m - 1]
    run_last = last_of[np.cumsum(new_value) - 1]
    group_last = np.r_[np.flatnonzero(new_group)[1:] - 1, m - 1][np.cumsum(new_group) - 1]
    average = (run_first + run_last) / 2.0 - group_first + 1.0
    out[order] = average / (group_last - group_first + 1)
    return out


def as_nullable(values: np.ndarray) -> pa.Array:
    """``float64`` Arrow array with NaN written as null (a paper without a group has no percentile)."""
    return pa.array(np.asarray(values, np.float64), pa.float64(), from_pandas=True)

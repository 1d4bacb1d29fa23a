"""``[output] exclude_ids``: the ids left out of every output, found among papers and authors."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..io.ids import coerce_ids

log = logging.getLogger("ranker")

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

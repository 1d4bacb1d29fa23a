"""Paper ids: the dictionary that turns dense indices back into the input's ids, and their kinds."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, where
from .id_patterns import IdPattern

# --------------------------------------------------------------------------- ids


_POW10 = 10 ** np.arange(19, dtype=np.int64)
_DECIMAL = re.compile(r"\s*[+-]?[0-9]+\s*")


class IdMap:
    """Dense index -> original paper id.

    Attributes
    ----------
    ids : pyarrow.Array
        ``ids[i]`` is the id of node ``i``; ``string``/``large_string`` or ``int64``. For compact
        ids (``pattern`` set) this is made from ``numbers`` on first use: prefer
        :meth:`output_ids` with an index and :meth:`lookup`, which never build it whole.
    kind : str
        ``"string"`` or ``"integer"``.
    n_known : int
        Nodes ``0..n_known-1`` are the papers listed in ``[input] papers`` (0 if none given).
    pattern : IdPattern or None
        String ids stored as integers (:mod:`ranker.io.id_patterns`): ``numbers[i]`` is node
        ``i``'s id without its prefix, written back as exactly the same string.
    numbers : pyarrow.Array or None
        ``int64``, with ``pattern``.
    """

    def __init__(self, ids: pa.Array | None = None, kind: str = "string", n_known: int = 0, *,
                 pattern: IdPattern | None = None, numbers: pa.Array | None = None) -> None:
        if (ids is None) == (numbers is None) or (numbers is not None and pattern is None):
            raise ValueError("IdMap takes ids, or numbers with their pattern")
        self.kind, self.n_known, self.pattern, self.numbers = kind, n_known, pattern, numbers
        self._ids = ids

    @property
    def ids(self) -> pa.Array:
        if self._ids is None:
            assert self.pattern is not None and self.numbers is not None
            self._ids = self.pattern.decode(self.numbers)
        return self._ids

    @property
    def compact(self) -> bool:
        """Whether the ids are stored as integers with a pattern."""
        return self.pattern is not None

    def __len__(self) -> int:
        return len(self.numbers) if self.numbers is not None else len(self.ids)

    def __repr__(self) -> str:
        how = f", pattern={self.pattern}" if self.pattern is not None else ""
        return f"IdMap({len(self)} {self.kind} ids{how}, n_known={self.n_known})"

    def output_ids(self, index: np.ndarray | None = None) -> pa.Array:
        """Ids for output, taken at ``index`` (all when None), as ``string`` or ``int64``."""
        if self.pattern is not None and self.numbers is not None:
            numbers = self.numbers if index is None else self.numbers.take(pa.array(index))
            arr = self.pattern.decode(numbers)
        else:
            arr = self.ids if index is None else self.ids.take(pa.array(index))
        if self.kind == "string" and arr.type != pa.string():
            try:
                arr = arr.cast(pa.string())
            except pa.ArrowInvalid:  # over 2 GiB of text: keep large_string
                pass
        return arr

    def sort_keys(self) -> list[np.ndarray] | None:
        """``int64`` arrays whose lexicographic order (first array first) is the ids' order, or None.

        Integer ids are their own key. Compact string ids (``pattern`` set) sort as their text
        without building it: with a fixed width as their numbers; without leading zeros as the
        pair (number left-aligned to 18 digits, number of digits), since ``"12" < "120" < "13"``
        compares digit by digit and a prefix comes first. None for other string ids (sort the
        text).
        """
        if self.pattern is not None and self.numbers is not None:
            v = self.numbers.to_numpy(zero_copy_only=False)
            if self.pattern.width:
                return [v]
            digits = np.searchsorted(_POW10[1:], v, side="right").astype(np.int64) + 1
            return [v * _POW10[18 - digits], digits]
        if self.kind == "integer":
            return [self.ids.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)]
        return None

    def permute(self, perm: np.ndarray) -> "IdMap":
        """The map after renumbering: new index ``r`` is old index ``perm[r]``."""
        if self.numbers is not None:
            return IdMap(kind=self.kind, pattern=self.pattern, numbers=self.numbers.take(pa.array(perm)))
        return IdMap(ids=self.ids.take(pa.array(perm)), kind=self.kind, n_known=0)

    def lookup(self, values: pa.Array) -> pa.Array:
        """Index of each value, null where the id is unknown."""
        if self.pattern is not None and self.numbers is not None:
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                values = values.cast(pa.large_string())
            return pc.index_in(self.pattern.encode_each(values), value_set=self.numbers)
        return pc.index_in(values, value_set=self.ids)


def id_kind(dtype: pa.DataType) -> str | None:
    """``"string"`` or ``"integer"`` for a usable id column type, else None."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_integer(dtype):
        return "integer"
    return None


INT64_MAX = 2**63 - 1


def normalize_ids(arr: pa.Array, kind: str, at: tuple[str, str, int] | None = None) -> pa.Array:
    """Ids as ``large_string`` or ``int64``. ``at = (file, column, first row)`` locates the
    error for unsigned ids above the int64 maximum."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if kind == "string":
        return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    if pa.types.is_uint64(arr.type):
        too_big = pc.greater(arr, pa.scalar(INT64_MAX, pa.uint64()))
        if pc.any(too_big).as_py():
            i = first_true(too_big.fill_null(False))
            loc = where(at[0], at[1], at[2] + i) if at else "an id column"
            raise InputError(f"{loc}: id {arr[i].as_py()} is above the largest supported integer id "
                             f"({INT64_MAX}); store such ids as strings")
    return arr.cast(pa.int64()) if arr.type != pa.int64() else arr


def first_true(mask: pa.Array | np.ndarray) -> int:
    if isinstance(mask, np.ndarray):
        return int(np.flatnonzero(mask)[0])
    return pc.index(mask, True).as_py()


def coerce_ids(values: tuple | list, kind: str) -> tuple[pa.Array, np.ndarray]:
    """A job file's ids (strings and integers, maybe mixed) as ids of ``kind``, and where each came from.

    For string ids an integer ``5`` is the id ``"5"``; for integer ids a string of decimal digits
    ``"5"`` is ``5``, and any other string cannot be one (it is left out).

    Returns
    -------
    ids : pyarrow.Array
        ``large_string`` or ``int64``.
    position : numpy.ndarray
        ``int64``: the index in ``values`` of each id.
    """
    out: list[str | int] = []
    pos: list[int] = []
    for i, v in enumerate(values):
        if kind == "string":
            out.append(str(v))
        elif isinstance(v, int):
            out.append(v)
        elif isinstance(v, str) and _DECIMAL.fullmatch(v) and -2**63 <= int(v) < 2**63:
            out.append(int(v))
        else:
            continue
        pos.append(i)
    return pa.array(out, pa.large_string() if kind == "string" else pa.int64()), np.array(pos, np.int64)

"""Numbering ``int64`` ids in order of first appearance with one compiled hash table (numba).

The ingest numbers each distinct id ``0, 1, 2, ...`` in the order it first appears (papers of
the papers file first, then the citations' ids batch by batch: a batch's citing column, then its
cited column). pyarrow's ``dictionary_encode`` does that too, but its memo table costs 113-139
bytes and about 0.4 µs per distinct id (measured at 10M and 30M ids on this machine): 35 GB
for OpenAlex's 250M works. This table is open addressing with linear probing over two arrays,
``int64`` keys and ``int32`` codes (``-1``: empty), kept at most half full: 24 to 48 bytes per
distinct id, and the ids in numbering order (8 bytes each).

The plain reference is :func:`number_reference` (a Python dict); :class:`HashNumbering` gives
the same codes and the same order (tested under hypothesis). The hash is the finalizer of
MurmurHash3 / splitmix64 (well mixed for sequential ids, which OpenAlex's are). Lookups ask
for their slots a few values ahead (:mod:`ranker.kernels.prefetch`), so their misses overlap.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .prefetch import prefetch

#: Values ahead of the one being numbered whose slot is asked for (:func:`ranker.kernels.prefetch.prefetch`).
AHEAD = 16


@njit(cache=True, nogil=True)
def _slot(key, mask):  # pragma: no cover - compiled
    x = np.uint64(key)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return np.int64(x & np.uint64(mask))


@njit(cache=True, nogil=True)
def _number(keys, codes, order, count, values, out, start, limit):  # pragma: no cover - compiled
    """Codes of ``values[start:]`` into ``out``, new ids appended to ``order``; stops before the table
    holds more than ``limit`` ids and returns where it stopped (``values.size`` when done).

    Each lookup is a miss into a table far larger than the caches, so the slot of the value
    :data:`AHEAD` on is asked for first (a hint; on 100M values of 20M ids, 3.2 s against
    4.9-5.3 s without; BENCHMARKS.md, session 18)."""
    mask = keys.size - 1
    n = count[0]
    end = values.size
    for i in range(start, end):
        if i + AHEAD < end:
            ahead = _slot(values[i + AHEAD], mask)
            prefetch(codes, ahead)
            prefetch(keys, ahead)
        v = values[i]
        s = _slot(v, mask)
        while True:
            c = codes[s]
            if c < 0:
                if n >= limit:
                    count[0] = n
                    return i
                keys[s] = v
                codes[s] = n
                order[n] = v
                out[i] = n
                n += 1
                break
            if keys[s] == v:
                out[i] = c
                break
            s = (s + 1) & mask
    count[0] = n
    return values.size


@njit(cache=True, nogil=True)
def _rehash(keys, codes, order, n):  # pragma: no cover - compiled
    mask = keys.size - 1
    for j in range(n):
        if j + AHEAD < n:
            prefetch(codes, _slot(order[j + AHEAD], mask))
        v = order[j]
        s = _slot(v, mask)
        while codes[s] >= 0:
            s = (s + 1) & mask
        keys[s] = v
        codes[s] = j


class HashNumbering:
    """Distinct ``int64`` ids numbered in order of first appearance, across calls.

    ``number(values)`` returns each value's code (``int32``, or ``int64`` past ``2**31 - 1``
    ids is refused: the graph's indices are ``int32``); :attr:`ids` are the ids in code order.
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        cap = 1 << max(4, int(capacity - 1).bit_length())
        self.keys = np.zeros(cap, np.int64)
        self.codes = np.full(cap, -1, np.int32)
        self.order = np.zeros(cap // 2, np.int64)
        self.count = np.zeros(1, np.int64)

    def __len__(self) -> int:
        return int(self.count[0])

    @property
    def ids(self) -> np.ndarray:
        """``int64 [len]``: the id of each code (a view; copy it to keep it past later calls)."""
        return self.order[: len(self)]

    def number(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Codes of ``values`` (``int64``), written into ``out`` (``int32``) when given."""
        values = np.ascontiguousarray(values, dtype=np.int64)
        out = np.empty(values.size, np.int32) if out is None else out
        i = 0
        while True:
            i = _number(self.keys, self.codes, self.order, self.count, values, out, i, self.keys.size // 2)
            if i == values.size:
                return out
            self._grow()

    def _grow(self) -> None:
        n = len(self)
        if 2 * n > 2**31 - 1:
            raise OverflowError(f"more than {2**31 - 1:,} distinct ids")
        cap = 2 * self.keys.size
        self.keys = np.zeros(cap, np.int64)
        self.codes = np.full(cap, -1, np.int32)
        order = np.zeros(cap // 2, np.int64)
        order[:n] = self.order[:n]
        self.order = order
        _rehash(self.keys, self.codes, self.order, n)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.codes.nbytes + self.order.nbytes


def number_reference(chunks: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Plain reference: the codes of each chunk and the ids in code order, with a Python dict."""
    seen: dict[int, int] = {}
    out = []
    for chunk in chunks:
        codes = np.empty(len(chunk), np.int64)
        for i, v in enumerate(chunk.tolist()):
            codes[i] = seen.setdefault(v, len(seen))
        out.append(codes)
    return out, np.array(list(seen), np.int64)

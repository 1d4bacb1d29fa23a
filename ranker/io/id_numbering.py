"""Paper ids to dense indices ``0..n-1`` during ingest: the numbering paths of :mod:`ranker.io.citations`.

Per batch the two id columns are encoded on worker threads; how depends on the ids:

- integer ids in a compact range (the parquet statistics say so): the code is the id minus the
  smallest, and a lookup table numbers them at the end (:func:`number_dense`);
- integer ids spread wide, and string ids that are one prefix and digits (read as integers
  under an :class:`~ranker.io.id_patterns.IdPattern`): one compiled hash table numbers them in
  batch order (:mod:`ranker.kernels.numbering`);
- any other string ids: each batch dictionary encoded together (a hash pass in Arrow's C++),
  keeping ``int32`` codes per row plus the batch's small dictionary; at the end the
  dictionaries are merged with one hash pass and the codes remapped in place
  (:func:`number_hashed`).

Peak memory is about 8 bytes per citation (two ``int32`` codes) plus the ids, never a Python
object per id. The papers file's ids come first, in file order; a repeated one is an error
naming its row (:func:`duplicate_paper_error`).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, where
from ..kernels import compiled_pays
from .id_patterns import IdPattern, detect_pattern
from .ids import INT64_MAX, IdMap, first_true, normalize_ids
from .sources import ParquetSource, check_no_nulls, check_weights, iter_batches, read_ahead

log = logging.getLogger("ranker")

Advance = Callable[[int], None]


def number_citations(sources: list[ParquetSource], columns: list[str], kind: str, total: int, *,
                     known: pa.Array | None, papers: str, paper_id_column: str, batch_rows: int,
                     weight_offset: float, advance: Advance | None, compact_ids: bool
                     ) -> tuple[np.ndarray, np.ndarray | None, IdMap, dict[str, Any], np.ndarray | None]:
    """Every citation row as a pair of dense indices, by the path the ids allow (module docstring).

    Returns ``codes`` (``[E, 2]``, int32 while the ids fit), the weights (None when unweighted),
    the :class:`IdMap` (the papers file's ids first), the facts for the log (the path taken, the
    id pattern), and which rows stand for a record that cites nothing (an empty list of an
    exploded source: its id numbered as a paper, its row a placeholder the caller drops; None
    when no source was exploded).
    """
    id_range = dense_integer_range(sources, columns[:2], known, total) if kind == "integer" else None
    compiled = compiled_pays(total)  # else Arrow's kernels: a small job loads no compiled kernel
    pattern, known_numbers = (citation_pattern(sources, columns[:2], known, compiled=compiled)
                              if kind == "string" and compact_ids else (None, None))
    numbering = None
    read = (sources, columns, kind, id_range, total, batch_rows, weight_offset, advance)
    try:
        numbering = start_numbering(kind, id_range, pattern, known, known_numbers, papers, paper_id_column,
                                    compiled=compiled)
        codes, weights, dicts, spans, none = encode_batches(*read, pattern, numbering, compiled=compiled)
    except NotCompact as exc:
        log.info("%s; reading the ids as text", exc)
        pattern = numbering = None
        codes, weights, dicts, spans, none = encode_batches(*read, None, None)
    n_known = len(known) if known is not None else 0
    if id_range is not None:
        uniq = number_dense(codes, id_range, known, papers, paper_id_column)
    elif numbering is not None:
        uniq = pa.array(numbering.ids.copy(), pa.int64())
        del numbering
    else:
        codes, uniq = number_hashed(codes, dicts, spans, known, papers, paper_id_column)
    facts = numbering_facts("dense integer range" if id_range is not None else "hashed", pattern)
    ids = (IdMap(ids=uniq, kind=kind, n_known=n_known) if pattern is None
           else IdMap(kind=kind, n_known=n_known, pattern=pattern, numbers=uniq))
    return codes, weights, ids, facts, none


def numbering_facts(how: str, pattern: IdPattern | None) -> dict[str, Any]:
    """What ``run.json`` and the log say of how ids were numbered (and read as integers, under ``pattern``)."""
    facts: dict[str, Any] = {"id_numbering": how + (" (string ids as integers)" if pattern else "")}
    if pattern is not None:
        facts["id_pattern"] = {"prefix": pattern.prefix, "digits": pattern.width or "any, no leading zero"}
        log.info("string ids read as integers: %r followed by %s", pattern.prefix,
                 f"{pattern.width} digits" if pattern.width else "digits without leading zeros")
    return facts


def duplicate_paper_error(path: str, id_column: str, ids: pa.Array, codes: np.ndarray) -> InputError:
    """The error for the first row of ``papers`` whose id already appeared on an earlier row."""
    order = np.arange(len(codes))
    first_idx = np.full(int(codes.max()) + 1, len(codes))
    np.minimum.at(first_idx, codes, order)
    dup = int(np.flatnonzero(first_idx[codes] != order)[0])
    return InputError(f"{where(path, id_column, dup)}: duplicate paper id {ids[dup].as_py()!r}")


class ArrowNumbering:
    """Distinct ``int64`` ids numbered in order of first appearance, across calls, by Arrow's hash kernels.

    The codes and order of :class:`ranker.kernels.numbering.HashNumbering` (tested), with nothing
    compiled to load: for small jobs. Each call hashes its batch and looks its distinct ids up
    in all the ids so far, so it costs that many ids per call: the compiled table is for large jobs.
    """

    def __init__(self) -> None:
        self._ids = pa.array([], pa.int64())

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """``int64 [len]``: the id of each code."""
        return self._ids.to_numpy()

    def number(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Codes of ``values`` (``int64``), written into ``out`` (``int32``) when given."""
        enc = pc.dictionary_encode(pa.Array.from_buffers(pa.int64(), len(values), [
            None, pa.py_buffer(np.ascontiguousarray(values, dtype=np.int64))]))
        batch_ids = enc.dictionary  # in order of first appearance in this batch
        known = pc.index_in(batch_ids, value_set=self._ids)
        code = pc.fill_null(known, -1).to_numpy().astype(np.int64)
        new = code < 0
        code[new] = len(self) + np.arange(int(new.sum()))
        if len(self) + int(new.sum()) > 2**31 - 1:
            raise OverflowError(f"more than {2**31 - 1:,} distinct ids")
        self._ids = pa.concat_arrays([self._ids, batch_ids.filter(pc.is_null(known))])
        codes = code[enc.indices.to_numpy()]
        if out is None:
            return codes.astype(np.int32)
        out[:] = codes
        return out


class NotCompact(Exception):
    """A string id that does not follow the pattern the first rows gave."""


def start_numbering(kind: str, id_range: tuple[int, int] | None, pattern: IdPattern | None,
                     known: pa.Array | None, known_numbers: pa.Array | None, papers: str, paper_id_column: str,
                     *, compiled: bool = True) -> Any:
    """The hash table that numbers ``int64`` ids (integer ids too spread for the dense table, and string
    ids as integers: the papers file's as ``known_numbers``), with the papers file's ids first (a
    repeated one is an error naming its row); None for the other paths. ``compiled``: the compiled
    table (:class:`ranker.kernels.numbering.HashNumbering`), else :class:`ArrowNumbering` (the
    same codes)."""
    if id_range is not None or (kind == "string" and pattern is None):
        return None
    numbering: Any
    if compiled:
        from ..kernels.numbering import HashNumbering  # numba: loaded when a job needs it

        numbering = HashNumbering()
    else:
        numbering = ArrowNumbering()
    if known is not None and len(known):
        numbers = known_numbers if pattern is not None else normalize_ids(known, "integer")
        assert numbers is not None
        codes = numbering.number(numbers.to_numpy(zero_copy_only=False))
        if not np.array_equal(codes, np.arange(len(known), dtype=codes.dtype)):
            raise duplicate_paper_error(papers, paper_id_column, known, codes)
    return numbering


def citation_pattern(sources: list[ParquetSource], columns: list[str], known: pa.Array | None, *,
                     compiled: bool = True) -> tuple[IdPattern | None, pa.Array | None]:
    """The id pattern of the first rows of the citations and of the papers file, if one, and the papers
    file's ids as its numbers (None without a papers file). Every id of the papers file is encoded
    (a compiled pass, Arrow's kernels when not ``compiled``, failing on any id off the pattern);
    only when one is off is the pattern looked for in all of them (a regular expression over 20M
    ids takes about 20 s)."""
    sample = []
    for src in sources:
        if src.num_rows:
            for _, batch in iter_batches(src, columns, 1 << 16):
                sample += [normalize_ids(batch.column(0), "string"), normalize_ids(batch.column(1), "string")]
                break
            break
    known = normalize_ids(known, "string") if known is not None and len(known) else None
    if known is not None:
        sample.append(known.slice(0, 1 << 16))
    if not sample:
        return None, None
    pattern = detect_pattern(pa.concat_arrays(sample))
    if pattern is None or known is None:
        return pattern, None
    known_numbers = pattern.encode(known, compiled=compiled)
    if known_numbers is None and len(known) > 1 << 16:  # an id off the sample's pattern: try them all
        pattern = detect_pattern(pa.concat_arrays(sample[:-1] + [known]))
        known_numbers = pattern.encode(known, compiled=compiled) if pattern is not None else None
    return (pattern, known_numbers) if known_numbers is not None else (None, None)


@dataclass
class BatchEncoder:
    """Turns record batches of (citing, cited[, weight]) into rows of ``codes`` (and ``weights``).

    One of four paths, fixed for the whole read: ``id_range`` (compact integer ids: the code is
    the id minus the smallest), ``numbering`` (int64 ids, or string ids as integers under
    ``pattern``, numbered by one hash table in batch order), or per-batch dictionaries (merged
    later by :func:`number_hashed`). :meth:`encode` runs on worker threads (Arrow releases the
    GIL); :meth:`collect` runs in batch order on the calling thread.
    """

    columns: list[str]
    kind: str
    codes: np.ndarray
    weights: np.ndarray | None
    weight_offset: float
    id_range: tuple[int, int] | None
    pattern: IdPattern | None
    numbering: Any
    advance: Advance | None
    cites_nothing: np.ndarray | None = None  # rows of records whose list was empty (exploded sources)
    compiled: bool = True  # string ids parsed by the compiled pass (else Arrow's kernels)
    dicts: list[pa.Array] = field(default_factory=list)
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (row start, row end, dictionary offset)
    dict_offset: int = 0

    def encode(self, task: tuple[str, int, int, pa.RecordBatch, bool]) -> tuple[int, int, Any]:
        """Validate one batch and write its codes (or hand its ids to :meth:`collect`)."""
        path, first, row0, batch, exploded = task
        m = batch.num_rows
        citing_column, cited_column = self.columns[0], self.columns[1]
        citing, cited = batch.column(0), batch.column(1)
        check_no_nulls(citing, path, citing_column, first)
        if exploded and cited.null_count:  # records that cite nothing: numbered as papers, their rows dropped
            none = cited.is_null()
            assert self.cites_nothing is not None
            self.cites_nothing[row0:row0 + m] = none.to_numpy(zero_copy_only=False)
            if citing.type != cited.type:
                citing = normalize_ids(citing, self.kind, (path, citing_column, first))
                cited = normalize_ids(cited, self.kind, (path, cited_column, first))
            cited = pc.if_else(none, citing, cited)  # a pair the caller drops (number_citations)
        check_no_nulls(cited, path, cited_column, first)
        if self.weights is not None:
            self.weights[row0:row0 + m] = (check_weights(batch.column(2), path, self.columns[2], first)
                                           + self.weight_offset)
        if self.id_range is not None:
            self._dense(path, row0, ((citing, citing_column), (cited, cited_column)))
            return row0, m, pa.array([], pa.int64())
        if self.pattern is not None:  # string ids as integers: hashed as int64
            citing, cited = (self._as_numbers(arr, path, name, first)
                             for arr, name in ((citing, citing_column), (cited, cited_column)))
        if self.numbering is not None:  # numbered in batch order by collect, on one table
            if self.pattern is None:
                citing = normalize_ids(citing, "integer", (path, citing_column, first))
                cited = normalize_ids(cited, "integer", (path, cited_column, first))
            return row0, m, (citing.to_numpy(zero_copy_only=False), cited.to_numpy(zero_copy_only=False))
        if citing.type != cited.type or pa.types.is_uint64(citing.type):
            citing = normalize_ids(citing, self.kind, (path, citing_column, first))
            cited = normalize_ids(cited, self.kind, (path, cited_column, first))
        enc = pc.dictionary_encode(pa.chunked_array([citing, cited]))
        self.codes[row0:row0 + m, 0] = enc.chunk(0).indices.to_numpy(zero_copy_only=False)
        self.codes[row0:row0 + m, 1] = enc.chunk(1).indices.to_numpy(zero_copy_only=False)
        return row0, m, normalize_ids(enc.chunk(0).dictionary, self.kind)

    def _dense(self, path: str, row0: int, columns: tuple[tuple[pa.Array, str], ...]) -> None:
        """Compact integer ids: each code is the id minus the smallest id."""
        assert self.id_range is not None
        lo, hi = self.id_range
        for k, (arr, name) in enumerate(columns):
            vals = arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
            if vals.size and (vals.min() < lo or vals.max() > hi):
                raise InputError(f"{where(path, name)}: values outside the range its parquet statistics "
                                 f"state ({lo}..{hi}); the file's metadata is corrupt")
            np.subtract(vals, lo, out=self.codes[row0:row0 + vals.size, k], casting="unsafe")

    def _as_numbers(self, arr: pa.Array, path: str, name: str, first: int) -> pa.Array:
        """String ids as their numbers under the pattern; :class:`NotCompact` at the first id off it."""
        assert self.pattern is not None
        got = self.pattern.encode(arr, compiled=self.compiled)
        if got is None:
            bad = first_true(pc.invert(pc.fill_null(self.pattern.matches(arr), True)))
            raise NotCompact(f"{where(path, name, first + bad)}: id {arr[bad].as_py()!r} does not follow "
                             f"the pattern of the first ids ({self.pattern.prefix!r} and digits)")
        return got

    def collect(self, result: tuple[int, int, Any]) -> None:
        """Take one encoded batch, in batch order: keep its dictionary, or number its ids."""
        row0, m, got = result
        if self.numbering is None:
            self.dicts.append(got)
            self.spans.append((row0, row0 + m, self.dict_offset))
            self.dict_offset += len(got)
        else:  # in batch order: codes in order of first appearance
            citing, cited = got
            self.numbering.number(citing, out=self.codes[row0:row0 + m, 0])
            self.numbering.number(cited, out=self.codes[row0:row0 + m, 1])
            self.spans.append((row0, row0 + m, 0))
        if self.advance is not None:
            self.advance(m)


def encode_batches(sources: list[ParquetSource], columns: list[str], kind: str, id_range: tuple[int, int] | None,
                   total: int, batch_rows: int, weight_offset: float, advance: Advance | None,
                   pattern: IdPattern | None = None, numbering: Any = None, *, compiled: bool = True) -> tuple:
    """Every batch validated and encoded on a thread pool (:class:`BatchEncoder`).

    Returns ``codes`` (``int32 [E, 2]``: (citing, cited) local dictionary codes, or ids minus the
    smallest id on the dense path), the weights, and each batch's dictionary and row span.
    Interleaved pairs read as little-endian int64 are ``cited * 2**32 + citing``, the graph
    builder's sort key (see :func:`ranker.graph_build.build_from_pairs`).
    """
    encoder = BatchEncoder(columns=columns, kind=kind, codes=np.empty((total, 2), dtype=np.int32),
                           weights=np.empty(total, dtype=np.float64) if len(columns) > 2 else None,
                           weight_offset=weight_offset, id_range=id_range, pattern=pattern, numbering=numbering,
                           advance=advance, compiled=compiled)

    if any(src.exploded for src in sources):
        encoder.cites_nothing = np.zeros(total, dtype=bool)

    def tasks() -> Iterator[tuple[str, int, int, pa.RecordBatch, bool]]:
        row0 = 0
        for src in sources:
            if src.num_rows == 0:
                if src.file.metadata.num_rows == 0:
                    log.warning("%s: empty citations file (0 rows), skipped", src.path)
                continue
            for first, batch in iter_batches(src, columns, batch_rows):
                yield src.path, first, row0, batch, src.exploded
                row0 += batch.num_rows

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        # read on a thread of its own, so that the main thread's numbering (batch after batch, in
        # order) does not wait for Arrow: 239M citations with URL ids ingested in 50 s against 57 s
        # (BENCHMARKS.md, session 14)
        for task in read_ahead(tasks(), depth=2):
            pending.append(pool.submit(encoder.encode, task))
            while len(pending) > workers:  # bounded memory: workers + 1 batches in flight, 3 more read
                encoder.collect(pending.popleft().result())
        while pending:
            encoder.collect(pending.popleft().result())
    assert sum(end - start for start, end, _ in encoder.spans) == total
    return encoder.codes, encoder.weights, encoder.dicts, encoder.spans, encoder.cites_nothing


def dense_integer_range(sources: list[ParquetSource], columns: list[str], known: pa.Array | None,
                         total: int) -> tuple[int, int] | None:
    """``(min, max)`` of the integer ids when every row group has statistics and the range is
    compact enough for a lookup table (at most ``4 x`` the ids it could hold, and int32)."""
    lo, hi = None, None
    for src in sources:
        md = src.file.metadata
        names = src.file.schema_arrow.names
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for col in columns:
                st = rg.column(names.index(col)).statistics
                if st is None or not st.has_min_max or rg.num_rows == 0:
                    if rg.num_rows == 0:
                        continue
                    return None
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
                if hi > INT64_MAX:  # unsigned ids beyond int64: the hashed path reports the row
                    return None
    if known is not None and len(known):
        kmin, kmax = pc.min_max(known).values()
        lo = kmin.as_py() if lo is None else min(lo, kmin.as_py())
        hi = kmax.as_py() if hi is None else max(hi, kmax.as_py())
    if lo is None or hi is None:
        return None
    span = hi - lo + 1
    limit = max(1 << 24, 4 * (2 * total + (len(known) if known is not None else 0)))
    return (int(lo), int(hi)) if span <= min(limit, 2**31 - 1) else None


def number_dense(codes: np.ndarray, id_range: tuple[int, int], known: pa.Array | None, papers: str,
                  paper_id_column: str) -> pa.Array:
    """Number compact integer ids with a lookup table: papers first (file order), then the
    other ids by value. Remaps ``codes`` (id minus the smallest id) in place; returns the ids."""
    lo, hi = id_range
    table = np.full(hi - lo + 1, -1, dtype=np.int32)
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[codes.reshape(-1)] = True
    parts = []
    n_known = 0
    if known is not None and len(known):
        k = known.to_numpy(zero_copy_only=False).astype(np.int64) - lo
        n_known = k.size
        table[k] = np.arange(n_known, dtype=np.int32)
        if not np.array_equal(table[k], np.arange(n_known, dtype=np.int32)):
            raise duplicate_paper_error(papers, paper_id_column, known, k)
        present[k] = False
        parts.append(known.to_numpy(zero_copy_only=False).astype(np.int64))
    rest = np.flatnonzero(present)
    table[rest] = np.arange(n_known, n_known + rest.size, dtype=np.int32)
    parts.append(rest.astype(np.int64) + lo)
    for s in range(0, codes.shape[0], 1 << 22):
        seg = codes[s:s + (1 << 22)]
        np.take(table, seg, out=seg)
    return pa.array(np.concatenate(parts), pa.int64())


def number_hashed(codes: np.ndarray, dicts: list[pa.Array], spans: list[tuple[int, int, int]],
                   known: pa.Array | None, papers: str, paper_id_column: str) -> tuple[np.ndarray, pa.Array]:
    """One global dictionary: papers first (indices 0..P-1 in file order), then the other ids in
    order of first appearance; one hash pass gives the ids and every batch's mapping. Remaps
    ``codes`` (widened to int64 beyond 2**31 papers); deterministic for a sorted file list."""
    n_known = len(known) if known is not None else 0
    parts = ([known] if known is not None else []) + dicts
    all_ids = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    merged = pc.dictionary_encode(all_ids)
    del all_ids, parts
    uniq = merged.dictionary
    global_of = merged.indices.to_numpy(zero_copy_only=False)
    del merged
    if n_known and not np.array_equal(global_of[:n_known], np.arange(n_known, dtype=global_of.dtype)):
        assert known is not None
        raise duplicate_paper_error(papers, paper_id_column, known, global_of[:n_known])
    global_of = global_of[n_known:]
    if len(uniq) >= 2**31:
        codes = codes.astype(np.int64)
        global_of = global_of.astype(np.int64)
    for start, end, off in spans:
        seg = codes[start:end]
        np.take(global_of[off:], seg, out=seg)
    return codes, uniq

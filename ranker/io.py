"""Parquet <-> tensors: streaming ingest, id renumbering and atomic output.

This is the only module that knows about paper ids. Everything downstream sees dense
indices ``0..n-1``; :class:`IdMap` turns them back into the ids of the input, with their
parquet type kept (string ids stay strings, integer ids stay integers).

Ingest streams each file in record batches. Per batch the two id columns are dictionary
encoded together (a hash pass in Arrow's C++), keeping only ``int32`` codes per row plus
the batch's small dictionary. At the end the batch dictionaries are merged into one global
dictionary with a single hash-table build (``pc.unique`` + ``pc.index_in``), and the codes
are remapped in place. Peak memory is about ``8`` bytes per citation (two ``int32`` codes)
plus the dictionaries, independent of Python object counts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import GraphError, InputError, OutputError, where

log = logging.getLogger("ranker")

Advance = Callable[[int], None]


# --------------------------------------------------------------------------- ids


@dataclass
class IdMap:
    """Dense index -> original paper id.

    Attributes
    ----------
    ids : pyarrow.Array
        ``ids[i]`` is the id of node ``i``; ``string``/``large_string`` or ``int64``.
    kind : str
        ``"string"`` or ``"integer"``.
    n_known : int
        Nodes ``0..n_known-1`` are the papers listed in ``[input] papers`` (0 if none given).
    """

    ids: pa.Array
    kind: str
    n_known: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def output_ids(self, index: np.ndarray | None = None) -> pa.Array:
        """Ids for output, taken at ``index`` (all when None), as ``string`` or ``int64``."""
        arr = self.ids if index is None else self.ids.take(pa.array(index))
        if self.kind == "string" and arr.type != pa.string():
            try:
                arr = arr.cast(pa.string())
            except pa.ArrowInvalid:  # over 2 GiB of text: keep large_string
                pass
        return arr

    def permute(self, perm: np.ndarray) -> "IdMap":
        """The map after renumbering: new index ``r`` is old index ``perm[r]``."""
        return IdMap(ids=self.ids.take(pa.array(perm)), kind=self.kind, n_known=0)

    def lookup(self, values: pa.Array) -> pa.Array:
        """Index of each value, null where the id is unknown."""
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


def _normalize_ids(arr: pa.Array, kind: str, at: tuple[str, str, int] | None = None) -> pa.Array:
    """Ids as ``large_string`` or ``int64``. ``at = (file, column, first row)`` locates the
    error for unsigned ids above the int64 maximum."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if kind == "string":
        return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    if pa.types.is_uint64(arr.type):
        too_big = pc.greater(arr, pa.scalar(INT64_MAX, pa.uint64()))
        if pc.any(too_big).as_py():
            i = _first_true(too_big.fill_null(False))
            loc = where(at[0], at[1], at[2] + i) if at else "an id column"
            raise InputError(f"{loc}: id {arr[i].as_py()} is above the largest supported integer id "
                             f"({INT64_MAX}); store such ids as strings")
    return arr.cast(pa.int64()) if arr.type != pa.int64() else arr


def _first_true(mask: pa.Array | np.ndarray) -> int:
    if isinstance(mask, np.ndarray):
        return int(np.flatnonzero(mask)[0])
    return pc.index(mask, True).as_py()


# --------------------------------------------------------------------------- files


@dataclass
class ParquetSource:
    """One opened parquet file with its schema checked against the columns a role needs.

    ``ranges``, when set, restricts reading to ``(row_group, start, stop)`` row ranges of the
    file (rows counted within the group), in file order: one process's share of the file
    (:func:`shard`). ``num_rows`` is then the number of rows in those ranges.
    """

    path: str
    file: pq.ParquetFile
    num_rows: int
    ranges: list[tuple[int, int, int]] | None = None

    def file_row(self, row: int) -> int:
        """Row number in the file of the ``row``-th row this source reads."""
        if self.ranges is None:
            return row
        md = self.file.metadata
        for g, start, stop in self.ranges:
            if row < stop - start:
                return sum(md.row_group(k).num_rows for k in range(g)) + start + row
            row -= stop - start
        raise AssertionError("row beyond the source's ranges")  # pragma: no cover


def shard(sources: list[ParquetSource], rank: int, world_size: int) -> list[ParquetSource]:
    """Process ``rank``'s share of the rows of ``sources``: rows ``[rank E / W, (rank + 1) E / W)`` of
    the files' concatenation, as row-group ranges (a row group on a boundary is read by both sides,
    each keeping its own rows). Contiguous shares keep the files' row order across ranks."""
    total = sum(s.num_rows for s in sources)
    lo, hi = rank * total // world_size, (rank + 1) * total // world_size
    out, base = [], 0
    for src in sources:
        md = src.file.metadata
        ranges, g_base = [], base
        for g in range(md.num_row_groups):
            rows = md.row_group(g).num_rows
            a, b = max(lo, g_base), min(hi, g_base + rows)
            if a < b:
                ranges.append((g, a - g_base, b - g_base))
            g_base += rows
        base += src.num_rows
        out.append(ParquetSource(path=src.path, file=src.file, num_rows=sum(b - a for _, a, b in ranges),
                                 ranges=ranges))
    return out


def open_parquet(path: str, required: dict[str, str], *, role: str) -> ParquetSource:
    """Open ``path`` and check that each required column exists with a usable type.

    Parameters
    ----------
    path : str
        The parquet file.
    required : dict
        Column name -> expected kind: ``"id"`` (string or integer), ``"number"``
        (integer or floating point) or ``"text"`` (string).
    role : str
        Used in messages (``citations``, ``papers``, ``seeds``).

    Raises
    ------
    InputError
        The file is missing, not parquet, truncated, or lacks a column or its type.
    """
    try:
        f = pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError(f"{path}: {role} file not found") from None
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable parquet file ({first})") from None
    src = ParquetSource(path=path, file=f, num_rows=f.metadata.num_rows)
    check_columns(src, required, role=role)
    return src


def check_columns(src: ParquetSource, required: dict[str, str], *, role: str) -> None:
    """Raise :class:`InputError` unless each column exists with its kind (see :func:`open_parquet`)."""
    schema = src.file.schema_arrow
    for name, kind in required.items():
        if name not in schema.names:
            raise InputError(f"{src.path}: missing column {name!r} ({role}); columns are {', '.join(schema.names)}")
        t = schema.field(name).type
        ok = {
            "id": id_kind(t) is not None,
            "number": pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
            "text": id_kind(t) == "string",
        }[kind]
        if not ok:
            want = {"id": "string or integer ids", "number": "numbers", "text": "strings"}[kind]
            raise InputError(f"{where(src.path, name)}: has type {t}, expected {want}")


def _weight_column(src: ParquetSource, weight_column: str, *, role: str) -> str:
    """The weight column to use: the one named, else ``weight`` when the file has it, else none ("")."""
    if not weight_column and "weight" in src.file.schema_arrow.names:
        weight_column = "weight"
    if weight_column:
        check_columns(src, {weight_column: "number"}, role=role)
    return weight_column


def iter_batches(src: ParquetSource, columns: list[str], batch_rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield ``(first_row, batch)`` over the file (or its ``ranges``), turning read failures into
    :class:`InputError`. ``first_row`` is the batch's first row in the file."""
    if src.ranges is None:
        yield from _iter_rows(src, columns, batch_rows, None, 0, 0, src.num_rows)
        return
    md = src.file.metadata
    starts = np.concatenate([[0], np.cumsum([md.row_group(g).num_rows for g in range(md.num_row_groups)])])
    for g, start, stop in src.ranges:
        yield from _iter_rows(src, columns, batch_rows, [g], int(starts[g]), start, stop)


def _iter_rows(src: ParquetSource, columns: list[str], batch_rows: int, row_groups: list[int] | None,
               base: int, start: int, stop: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Batches of rows ``[start, stop)`` of ``row_groups`` (all when None) whose first row is file row ``base``."""
    row = 0
    kw = {} if row_groups is None else {"row_groups": row_groups}
    it = src.file.iter_batches(batch_size=batch_rows, columns=columns, use_threads=True, **kw)
    while row < stop:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{src.path}: corrupt or truncated parquet near row {base + row} ({first})") from None
        a, b = max(start, row), min(stop, row + batch.num_rows)
        if a < b:
            part = batch.slice(a - row, b - a) if (a, b) != (row, row + batch.num_rows) else batch
            yield base + a, decode_dictionaries(part)
        row += batch.num_rows


def decode_dictionaries(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with every dictionary-encoded column replaced by its plain values.

    Parquet writers (pandas categoricals, Spark, duckdb) store id columns dictionary encoded,
    and each batch of such a column carries its own dictionary: codes of two columns, or of
    two batches, mean nothing together. Every reader sees plain values only.
    """
    if not any(pa.types.is_dictionary(t) for t in batch.schema.types):
        return batch
    cols = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def plain_type(t: pa.DataType) -> pa.DataType:
    """The value type of a dictionary type; any other type as it is."""
    return t.value_type if pa.types.is_dictionary(t) else t


def read_columns(src: ParquetSource, columns: list[str]) -> pa.Table:
    """The whole of some columns, read batch by batch so that a damaged page is an :class:`InputError`."""
    batches = [b for _, b in iter_batches(src, columns, 1_000_000)]
    schema = pa.schema([src.file.schema_arrow.field(c) for c in columns])
    schema = pa.schema([f.with_type(plain_type(f.type)) for f in schema])
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def check_no_nulls(arr: pa.Array, path: str, column: str, first_row: int) -> None:
    if arr.null_count:
        raise InputError(f"{where(path, column, first_row + _first_true(arr.is_null()))}: null id")


def check_weights(arr: pa.Array, path: str, column: str, first_row: int) -> np.ndarray:
    """Return weights as float64, rejecting null, NaN, infinite and negative values."""
    if arr.null_count:
        raise InputError(f"{where(path, column, first_row + _first_true(arr.is_null()))}: null weight")
    w = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = _first_true(bad)
        raise InputError(f"{where(path, column, first_row + i)}: bad weight {float(w[i])!r} "
                         "(weights must be finite and >= 0)")
    return w


def _check_kind(kind: str | None, src_kind: str, path: str, column: str, what: str) -> str:
    if kind is not None and kind != src_kind:
        raise InputError(f"{where(path, column)}: {src_kind} ids, but {what} has {kind} ids; "
                         "all id columns must share one type")
    return src_kind


# --------------------------------------------------------------------------- citations


@dataclass
class EdgeList:
    """Citations as dense indices, before graph construction.

    Attributes
    ----------
    citing, cited : numpy.ndarray
        ``int32`` when the node count fits, else ``int64``; shape ``[E]``; columns of ``pairs``.
    weight : numpy.ndarray or None
        ``float64 [E]``, None when every citation weighs 1.
    ids : IdMap
    stats : dict
        Counts for the log and run metadata.
    """

    citing: np.ndarray
    cited: np.ndarray
    weight: np.ndarray | None
    ids: IdMap
    stats: dict[str, Any] = field(default_factory=dict)
    pairs: np.ndarray | None = None  # [E, 2] buffer that citing/cited view; see ranker.graph.graph_from_edges


def read_papers(path: str, id_column: str, batch_rows: int,
                shard_of: tuple[int, int] | None = None) -> tuple[pa.Array, str, int]:
    """Read the paper id column of ``[input] papers``, rejecting nulls.

    Returns the ids, their kind and the file row of the first id: 0, or with ``shard_of =
    (rank, world_size)`` the first row of that rank's contiguous share (:func:`shard`).

    Duplicate ids are detected later, for free, when the ids are merged with the citations'
    (:func:`read_citations`); see :func:`_duplicate_paper_error`.
    """
    src = open_parquet(path, {id_column: "id"}, role="papers")
    kind = id_kind(src.file.schema_arrow.field(id_column).type)
    assert kind is not None
    first_row = 0
    if shard_of is not None:
        first_row = shard_of[0] * src.num_rows // shard_of[1]
        (src,) = shard([src], *shard_of)
    chunks = []
    for first, batch in iter_batches(src, [id_column], batch_rows):
        col = batch.column(0)
        check_no_nulls(col, path, id_column, first)
        chunks.append(_normalize_ids(col, kind, (path, id_column, first)))
    ids = pa.concat_arrays(chunks) if chunks else pa.array([], pa.large_string() if kind == "string" else pa.int64())
    return ids, kind, first_row


def _duplicate_paper_error(path: str, id_column: str, ids: pa.Array, codes: np.ndarray) -> InputError:
    """The error for the first row of ``papers`` whose id already appeared on an earlier row."""
    order = np.arange(len(codes))
    first_idx = np.full(int(codes.max()) + 1, len(codes))
    np.minimum.at(first_idx, codes, order)
    dup = int(np.flatnonzero(first_idx[codes] != order)[0])
    return InputError(f"{where(path, id_column, dup)}: duplicate paper id {ids[dup].as_py()!r}")


def read_citations(
    files: list[str],
    *,
    citing_column: str = "citing",
    cited_column: str = "cited",
    weight_column: str = "",
    papers: str = "",
    paper_id_column: str = "paper_id",
    unknown_papers: str = "keep",
    batch_rows: int = 1_000_000,
    advance: Advance | None = None,
    shard_of: tuple[int, int] | None = None,
) -> EdgeList:
    """Stream citation parquet files into dense index arrays.

    Parameters
    ----------
    files : list of str
        Parquet files, read in this order (sorted by :func:`ranker.config.citation_files`).
    citing_column, cited_column, weight_column : str
        Column names; an empty ``weight_column`` means every citation weighs 1.
    papers : str
        Optional parquet listing every paper (column ``paper_id_column``); those papers get
        indices ``0..P-1`` in file order and a score even without citations.
    unknown_papers : {"keep", "drop", "error"}
        What to do with citations naming a paper absent from ``papers``.
    batch_rows : int
        Record batch size.
    advance : callable, optional
        Called with the number of rows read after each batch (progress).
    shard_of : (rank, world_size), optional
        Read only this process's share of the rows (:func:`shard`); indices are then local to
        the share (:mod:`ranker.distributed` numbers them globally), ``papers`` must be empty,
        and an empty share gives an empty edge list instead of an error.

    Returns
    -------
    EdgeList

    Raises
    ------
    InputError
        Missing or mistyped column, null id, bad weight, corrupt file, id types that differ
        between files, duplicate ids in ``papers``, an unknown paper with ``unknown_papers="error"``.
    GraphError
        No citations at all.
    """
    kind: str | None = None
    known = None
    if papers:
        known, kind, _ = read_papers(papers, paper_id_column, batch_rows)
        kind_from = papers

    required = {citing_column: "id", cited_column: "id"}
    if weight_column:
        required[weight_column] = "number"
    sources = [open_parquet(f, required, role="citations") for f in files]
    for src in sources:
        schema = src.file.schema_arrow
        for col in (citing_column, cited_column):
            src_kind = id_kind(schema.field(col).type)
            assert src_kind is not None
            if kind is None:
                kind, kind_from = src_kind, src.path
            else:
                _check_kind(kind, src_kind, src.path, col, kind_from)
    assert kind is not None
    if shard_of is not None:
        assert not papers, "a sharded read numbers papers locally: pass the papers file to ranker.distributed"
        sources = shard(sources, *shard_of)
    total = sum(s.num_rows for s in sources)
    if total == 0:
        if shard_of is not None:
            none = np.empty((0, 2), np.int32)
            empty = pa.array([], pa.large_string() if kind == "string" else pa.int64())
            return EdgeList(citing=none[:, 0], cited=none[:, 1], weight=np.empty(0) if weight_column else None,
                            ids=IdMap(ids=empty, kind=kind), stats={"citation_rows": 0, "files": len(files)},
                            pairs=none)
        raise GraphError(f"{', '.join(files)}: no citations (0 rows)")

    # (citing, cited) pairs, interleaved: read as little-endian int64 a pair is cited * 2**32 + citing,
    # the graph builder's sort key (see ranker.graph). Local dictionary codes, later global indices.
    id_range = _dense_integer_range(sources, [citing_column, cited_column], known, total) if kind == "integer" else None
    codes = np.empty((total, 2), dtype=np.int32)
    weights = np.empty(total, dtype=np.float64) if weight_column else None
    dicts: list[pa.Array] = []
    spans: list[tuple[int, int, int]] = []  # (row start, row end, dictionary offset)
    columns = [citing_column, cited_column] + ([weight_column] if weight_column else [])

    def encode(task: tuple[str, int, int, pa.RecordBatch]) -> tuple[int, int, pa.Array]:
        """Validate one batch and write its local codes; runs on a worker thread (Arrow releases the GIL)."""
        path, first, row0, batch = task
        m = batch.num_rows
        citing, cited = batch.column(0), batch.column(1)
        check_no_nulls(citing, path, citing_column, first)
        check_no_nulls(cited, path, cited_column, first)
        if id_range is not None:  # compact integer ids: the code is the id minus the smallest id
            lo, hi = id_range
            for k, (arr, name) in enumerate(((citing, citing_column), (cited, cited_column))):
                vals = arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
                if vals.size and (vals.min() < lo or vals.max() > hi):
                    raise InputError(f"{where(path, name)}: values outside the range its parquet statistics "
                                     f"state ({lo}..{hi}); the file's metadata is corrupt")
                np.subtract(vals, lo, out=codes[row0:row0 + m, k], casting="unsafe")
            if weights is not None:
                weights[row0:row0 + m] = check_weights(batch.column(2), path, weight_column, first)
            return row0, m, pa.array([], pa.int64())
        if citing.type != cited.type or pa.types.is_uint64(citing.type):
            citing = _normalize_ids(citing, kind, (path, citing_column, first))
            cited = _normalize_ids(cited, kind, (path, cited_column, first))
        enc = pc.dictionary_encode(pa.chunked_array([citing, cited]))
        codes[row0:row0 + m, 0] = enc.chunk(0).indices.to_numpy(zero_copy_only=False)
        codes[row0:row0 + m, 1] = enc.chunk(1).indices.to_numpy(zero_copy_only=False)
        if weights is not None:
            weights[row0:row0 + m] = check_weights(batch.column(2), path, weight_column, first)
        return row0, m, _normalize_ids(enc.chunk(0).dictionary, kind)

    def tasks() -> Iterator[tuple[str, int, int, pa.RecordBatch]]:
        row0 = 0
        for src in sources:
            if src.num_rows == 0:
                if src.file.metadata.num_rows == 0:
                    log.warning("%s: empty citations file (0 rows), skipped", src.path)
                continue
            for first, batch in iter_batches(src, columns, batch_rows):
                yield src.path, first, row0, batch
                row0 += batch.num_rows

    dict_offset = 0
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for task in tasks():
            pending.append(pool.submit(encode, task))
            while len(pending) > workers:  # bounded memory: at most workers + 1 batches in flight
                dict_offset = _collect(pending.popleft().result(), dicts, spans, dict_offset, advance)
        while pending:
            dict_offset = _collect(pending.popleft().result(), dicts, spans, dict_offset, advance)
    assert sum(end - start for start, end, _ in spans) == total

    n_known = len(known) if known is not None else 0
    if id_range is not None:
        uniq = _number_dense(codes, id_range, known, papers, paper_id_column)
        n = len(uniq)
    else:
        codes, uniq = _number_hashed(codes, dicts, spans, known, papers, paper_id_column)
        n = len(uniq)
    stats: dict[str, Any] = {"citation_rows": total, "files": len(files),
                             "id_numbering": "dense integer range" if id_range is not None else "hashed"}
    citing_idx, cited_idx = codes[:, 0], codes[:, 1]
    if known is not None:
        unknown = (citing_idx >= n_known) | (cited_idx >= n_known)
        n_unknown_rows = int(unknown.sum())
        stats["unknown_paper_rows"] = n_unknown_rows
        stats["unknown_papers"] = n - n_known
        if n_unknown_rows:
            if unknown_papers == "error":
                i = _first_true(unknown)
                file, frow = _locate(sources, i)
                bad = citing_column if citing_idx[i] >= n_known else cited_column
                missing = uniq[int(max(citing_idx[i], cited_idx[i]))].as_py()
                raise InputError(f"{where(file, bad, frow)}: paper {missing!r} "
                                 f"is not in {papers}")
            if unknown_papers == "drop":
                keep = ~unknown
                codes = codes[keep]
                citing_idx, cited_idx = codes[:, 0], codes[:, 1]
                if weights is not None:
                    weights = weights[keep]
                uniq = uniq.slice(0, n_known)
                log.info("dropped %d citation rows naming %d papers absent from %s",
                         n_unknown_rows, n - n_known, papers)
            else:
                log.info("kept %d papers named by citations but absent from %s", n - n_known, papers)
    pa.default_memory_pool().release_unused()  # hand the batches' cached memory back to the system
    return EdgeList(citing=citing_idx, cited=cited_idx, weight=weights,
                    ids=IdMap(ids=uniq, kind=kind, n_known=n_known), stats=stats, pairs=codes)


def _dense_integer_range(sources: list[ParquetSource], columns: list[str], known: pa.Array | None,
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
    if lo is None:
        return None
    span = hi - lo + 1
    limit = max(1 << 24, 4 * (2 * total + (len(known) if known is not None else 0)))
    return (int(lo), int(hi)) if span <= min(limit, 2**31 - 1) else None


def _number_dense(codes: np.ndarray, id_range: tuple[int, int], known: pa.Array | None, papers: str,
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
            raise _duplicate_paper_error(papers, paper_id_column, known, k)
        present[k] = False
        parts.append(known.to_numpy(zero_copy_only=False).astype(np.int64))
    rest = np.flatnonzero(present)
    table[rest] = np.arange(n_known, n_known + rest.size, dtype=np.int32)
    parts.append(rest.astype(np.int64) + lo)
    for s in range(0, codes.shape[0], 1 << 22):
        seg = codes[s:s + (1 << 22)]
        np.take(table, seg, out=seg)
    return pa.array(np.concatenate(parts), pa.int64())


def _number_hashed(codes: np.ndarray, dicts: list[pa.Array], spans: list[tuple[int, int, int]],
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
        raise _duplicate_paper_error(papers, paper_id_column, known, global_of[:n_known])
    global_of = global_of[n_known:]
    if len(uniq) >= 2**31:
        codes = codes.astype(np.int64)
        global_of = global_of.astype(np.int64)
    for start, end, off in spans:
        seg = codes[start:end]
        np.take(global_of[off:], seg, out=seg)
    return codes, uniq


def _collect(result: tuple[int, int, pa.Array], dicts: list[pa.Array], spans: list[tuple[int, int, int]],
             dict_offset: int, advance: Advance | None) -> int:
    row0, m, dictionary = result
    dicts.append(dictionary)
    spans.append((row0, row0 + m, dict_offset))
    if advance is not None:
        advance(m)
    return dict_offset + len(dictionary)


def _locate(sources: list[ParquetSource], row: int) -> tuple[str, int]:
    """File and file row of the ``row``-th row read from ``sources``."""
    for src in sources:
        if row < src.num_rows:
            return src.path, src.file_row(row)
        row -= src.num_rows
    raise AssertionError("row beyond input")  # pragma: no cover


# --------------------------------------------------------------------------- seeds


@dataclass
class SeedSets:
    """Seed sets for personalized PageRank, as index triplets.

    Attributes
    ----------
    names : list of str
        Seed set names in order of first appearance; column ``j`` of the teleport matrix.
    set_index, paper_index : numpy.ndarray
        ``int64 [m]``: row ``r`` puts weight ``weight[r]`` on paper ``paper_index[r]`` in set ``set_index[r]``.
    weight : numpy.ndarray
        ``float64 [m]``, ``>= 0``; each set's weights sum to a positive number.
    """

    names: list[str]
    set_index: np.ndarray
    paper_index: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def read_seeds(path: str, ids: IdMap, *, seed_set_column: str = "seed_set", paper_id_column: str = "paper_id",
               weight_column: str = "") -> SeedSets:
    """Read the ``[personalize] seeds`` parquet and map its papers to indices.

    Raises
    ------
    InputError
        Missing columns, nulls, bad weights, id type unlike the citations', a paper id that
        is not in the graph (the message names the seed set and the row).
    GraphError
        A seed set whose weights are all zero, or a file with no rows.
    """
    src = open_parquet(path, {seed_set_column: "text", paper_id_column: "id"}, role="seeds")
    weight_column = _weight_column(src, weight_column, role="seeds")
    skind = id_kind(src.file.schema_arrow.field(paper_id_column).type)
    if skind != ids.kind:
        raise InputError(f"{where(path, paper_id_column)}: {skind} ids, but the citations have {ids.kind} ids")
    if src.num_rows == 0:
        raise GraphError(f"{path}: no seeds (0 rows)")
    set_chunks, paper_chunks, weight_chunks = [], [], []
    cols = [seed_set_column, paper_id_column] + ([weight_column] if weight_column else [])
    for first, batch in iter_batches(src, cols, 1_000_000):
        names, pid = batch.column(0), batch.column(1)
        if names.null_count:
            raise InputError(f"{where(path, seed_set_column, first + _first_true(names.is_null()))}: null seed set")
        check_no_nulls(pid, path, paper_id_column, first)
        idx = ids.lookup(_normalize_ids(pid, ids.kind, (path, paper_id_column, first)))
        if idx.null_count:
            i = _first_true(idx.is_null())
            raise InputError(f"{where(path, paper_id_column, first + i)}: seed set {names[i].as_py()!r} names "
                             f"paper {pid[i].as_py()!r}, which is not in the citation graph")
        set_chunks.append(names.cast(pa.large_string()))
        paper_chunks.append(idx.to_numpy(zero_copy_only=False).astype(np.int64))
        w = (check_weights(batch.column(2), path, weight_column, first) if weight_column
             else np.ones(batch.num_rows))
        weight_chunks.append(w)
    all_names = pa.concat_arrays(set_chunks)
    uniq = pc.unique(all_names)
    set_index = pc.index_in(all_names, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    weight = np.concatenate(weight_chunks)
    totals = np.bincount(set_index, weights=weight, minlength=len(uniq))
    if (totals <= 0).any():
        j = _first_true(totals <= 0)
        raise GraphError(f"{where(path, weight_column or 'weight')}: seed set {uniq[j].as_py()!r} "
                         "has zero total weight")
    return SeedSets(names=uniq.to_pylist(), set_index=set_index, paper_index=np.concatenate(paper_chunks),
                    weight=weight)


# --------------------------------------------------------------------------- output


TEMP_SUFFIX = ".rank-citations.tmp"
#: Names of this tool's temp files: ``.<final name>.<random>.rank-citations.tmp`` (see :func:`_temp_file`).
_TEMP_NAME = re.compile(r"^\.(?P<final>[A-Za-z0-9_.-]+)\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def _temp_file(path: Path) -> tuple[int, Path]:
    """A fresh temp file beside ``path``, opened (``O_CREAT | O_EXCL``, never through a link, by
    :func:`tempfile.mkstemp`) with the permissions a plain ``open`` would give; returns ``(fd, path)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def remove_temp_files(directory: str | os.PathLike[str], is_output: Callable[[str], bool]) -> int:
    """Delete temp files this tool left in ``directory`` (not below it); returns how many.

    Only names of the form :func:`_temp_file` makes, for a final name that ``is_output``
    accepts, are touched: a user's own files, even ones ending in ``.rank-citations.tmp``,
    are never removed. Called by a job that holds the directory's lock
    (:class:`ranker.output_dir.OutputDir`) when it starts and when it fails, as a last guard: a
    signal can arrive between creating a temp file and the ``try`` that would remove it.
    """
    n = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if not m or not is_output(m.group("final")) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            n += 1
        except OSError:
            pass
    return n


def free_bytes(directory: str | os.PathLike[str]) -> int:
    """Bytes free to this user in the file system holding ``directory``."""
    return shutil.disk_usage(directory).free


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_error(directory: Path, what: str, needed: int) -> OutputError:
    """The one-line error for a write that found no room."""
    try:
        free = f"{free_bytes(directory) / 1e6:,.1f} MB free"
    except OSError:
        free = "free space unknown"
    return OutputError(f"{directory}: no space left on the device writing {what} (about {needed / 1e6:,.1f} MB "
                       f"needed, {free}); free some space and run the job again")


class StagedOutputs:
    """Outputs written to temp files and renamed to their final names only by :meth:`commit`.

    A job leaves either all of its outputs or none: they are committed together when it has
    finished, ``run.json`` last.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []

    def commit(self) -> None:
        for tmp, path in sorted(self.pending, key=lambda p: p[1].name == "run.json"):
            os.replace(tmp, path)
        self.pending.clear()

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending.clear()


_staging: StagedOutputs | None = None


@contextmanager
def staged_outputs() -> Iterator[StagedOutputs]:
    """While active, :func:`write_parquet_atomic` and :func:`write_json_atomic` (with ``staged=True``)
    leave their files under temp names; the caller commits. Uncommitted files are removed on exit."""
    global _staging
    assert _staging is None, "staged_outputs does not nest"
    _staging = StagedOutputs()
    try:
        yield _staging
    finally:
        _staging.discard()
        _staging = None


def _publish(tmp: Path, path: Path, staged: bool) -> None:
    if staged and _staging is not None:
        _staging.pending.append((tmp, path))
    else:
        os.replace(tmp, path)


def _write_atomic(path: Path, write: Callable[[Any], None], size_hint: int, staged: bool) -> None:
    """Write through a fresh temp file beside ``path`` (``write(binary file)``), fsync, publish.

    The temp file is removed when anything fails; a full disk becomes an :class:`OutputError`
    naming the directory and about how many bytes were needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = _temp_file(path)
    except OSError as exc:
        if _no_space(exc):
            raise no_space_error(path.parent, path.name, size_hint) from None
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, staged)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if _no_space(exc):
            raise no_space_error(path.parent, path.name, size_hint) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None,
                         *, staged: bool = True) -> None:
    """Write ``table`` to ``path`` through a temp file in the same directory, then rename.

    A reader never sees a partial file under the final name; the temp file is removed if
    writing fails or is interrupted. ``metadata`` lands in the schema's key-value metadata
    under ``rank_citations`` as JSON. Inside :func:`staged_outputs` the rename waits for the
    commit, unless ``staged`` is False (checkpoints, which must survive a failed run).
    """
    path = Path(path)
    if metadata is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"rank_citations": json.dumps(metadata, sort_keys=True).encode()})

    def write(fh: Any) -> None:
        try:
            pq.write_table(table, fh, compression="zstd")
        except pa.ArrowException as exc:  # Arrow wraps the file object's OSError
            if "No space left" in str(exc) or "Disk quota" in str(exc):
                raise OSError(errno.ENOSPC, str(exc)) from None
            raise

    _write_atomic(path, write, int(table.nbytes), staged)


def write_json_atomic(obj: Any, path: str | os.PathLike[str], *, staged: bool = True) -> None:
    """Write ``obj`` as indented JSON, atomically (temp file, fsync, rename; staged like parquet)."""
    data = (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    _write_atomic(Path(path), lambda fh: fh.write(data), len(data), staged)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- paper metadata and authors


def read_paper_days(path: str, id_column: str = "paper_id", date_column: str = "date",
                    year_column: str = "year") -> np.ndarray:
    """Publication time of each row of ``[input] papers``, in days since 1970-01-01.

    Uses ``date_column`` (a date or timestamp) where present and not null, else
    ``year_column`` (the middle of that year). ``NaN`` where neither is known.

    Returns
    -------
    numpy.ndarray
        ``float64 [P]`` in the file's row order (the papers' node order at ingest).

    Raises
    ------
    InputError
        Neither column exists, or one has an unusable type.
    """
    f = open_parquet(path, {id_column: "id"}, role="papers")
    names = f.file.schema_arrow.names
    cols = [c for c in (date_column, year_column) if c and c in names]
    if not cols:
        raise InputError(f"{path}: needs a {date_column!r} or {year_column!r} column for this ranking; "
                         f"columns are {', '.join(names)}")
    out = np.full(f.num_rows, np.nan)
    table = read_columns(f, cols)
    if year_column in cols:
        y = table.column(year_column)
        if not pa.types.is_integer(y.type) and not pa.types.is_floating(y.type):
            raise InputError(f"{where(path, year_column)}: has type {y.type}, expected years as numbers")
        yv = y.cast(pa.float64()).to_numpy(zero_copy_only=False)
        out = (yv - 1970.0) * 365.25 + 182.625
    if date_column in cols:
        d = table.column(date_column)
        if pa.types.is_timestamp(d.type) or pa.types.is_date64(d.type):
            d = d.cast(pa.timestamp("ms")).cast(pa.int64())
            dv = d.cast(pa.float64()).to_numpy(zero_copy_only=False) / 86_400_000.0
        elif pa.types.is_date32(d.type):
            dv = d.cast(pa.int32()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            raise InputError(f"{where(path, date_column)}: has type {d.type}, expected a date or timestamp")
        out = np.where(np.isnan(dv), out, dv)
    return out


@dataclass
class Authorships:
    """Who wrote which paper, as indices.

    Attributes
    ----------
    paper, author, position : numpy.ndarray
        ``int64 [m]``: each (paper, author) pair once (the first row of a repeated pair wins).
    authors : pyarrow.Array
        ``authors[a]`` is the author id of index ``a`` (its parquet type kept).
    skipped_rows : int
        Rows naming papers that are not in the citation graph (not counted).
    """

    paper: np.ndarray
    author: np.ndarray
    position: np.ndarray
    authors: pa.Array
    skipped_rows: int = 0


def read_authorships(path: str, ids: IdMap, *, paper_column: str = "paper_id", author_column: str = "author",
                     position_column: str = "position") -> Authorships:
    """Read ``[input] authorships`` and map papers to graph indices.

    ``position_column`` is optional in the file (0 = first author); without it the authors of
    a paper are ranked in file order. Rows naming papers outside the graph are skipped and
    counted.

    Raises
    ------
    InputError
        Missing columns, nulls, a paper id type unlike the citations', negative positions.
    """
    probe = open_parquet(path, {paper_column: "id", author_column: "id"}, role="authorships")
    has_pos = bool(position_column) and position_column in probe.file.schema_arrow.names
    if has_pos:
        check_columns(probe, {position_column: "number"}, role="authorships")
    pkind = id_kind(probe.file.schema_arrow.field(paper_column).type)
    if pkind != ids.kind:
        raise InputError(f"{where(path, paper_column)}: {pkind} ids, but the citations have {ids.kind} ids")
    akind = id_kind(probe.file.schema_arrow.field(author_column).type)
    assert akind is not None
    cols = [paper_column, author_column] + ([position_column] if has_pos else [])
    papers, authors, positions = [], [], []
    for first, batch in iter_batches(probe, cols, 1_000_000):
        check_no_nulls(batch.column(0), path, paper_column, first)
        a = batch.column(1)
        if a.null_count:
            raise InputError(f"{where(path, author_column, first + _first_true(a.is_null()))}: null author")
        papers.append(_normalize_ids(batch.column(0), ids.kind, (path, paper_column, first)))
        authors.append(_normalize_ids(a, akind, (path, author_column, first)))
        if has_pos:
            pcol = batch.column(2)
            if pcol.null_count:
                raise InputError(f"{where(path, position_column, first + _first_true(pcol.is_null()))}: null position")
            pv = pcol.cast(pa.int64()).to_numpy(zero_copy_only=False)
            if (pv < 0).any():
                i = _first_true(pv < 0)
                raise InputError(f"{where(path, position_column, first + i)}: negative position {int(pv[i])}")
            positions.append(pv)
    m = sum(len(p) for p in papers)
    if m == 0:
        empty = np.zeros(0, np.int64)
        return Authorships(empty, empty, empty, pa.array([], pa.large_string() if akind == "string" else pa.int64()))
    paper_idx = ids.lookup(pa.concat_arrays(papers))
    enc = pc.dictionary_encode(pa.concat_arrays(authors))
    author_idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    position = np.concatenate(positions) if has_pos else np.arange(m, dtype=np.int64)  # file order ranks
    known = paper_idx.is_valid().to_numpy(zero_copy_only=False)
    p = paper_idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[known]
    a, pos = author_idx[known], position[known]
    # each (paper, author) once: keep the first row of a repeated pair
    key = p * (int(author_idx.max()) + 1) + a
    _, first_rows = np.unique(key, return_index=True)
    first_rows.sort()
    # authors with no paper in the graph are dropped; the rest keep their order of first appearance
    used, author_local = np.unique(a[first_rows], return_inverse=True)
    return Authorships(paper=p[first_rows], author=author_local.astype(np.int64), position=pos[first_rows],
                       authors=enc.dictionary.take(pa.array(used)), skipped_rows=int(m - known.sum()))


def read_coauthorships(path: str, *, column_a: str = "author_a", column_b: str = "author_b",
                       weight_column: str = "") -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Read ``[input] coauthorships``: undirected author pairs with an optional weight.

    Returns
    -------
    author_a, author_b : pyarrow.Array
        Author ids (``large_string`` or ``int64``).
    weight : numpy.ndarray
        ``float64``; 1 where the file has no weight column (``weight`` is used when present).

    Raises
    ------
    InputError
        Missing columns, nulls, bad weights, the two columns of different id types.
    """
    probe = open_parquet(path, {column_a: "id", column_b: "id"}, role="coauthorships")
    weight_column = _weight_column(probe, weight_column, role="coauthorships")
    ka = id_kind(probe.file.schema_arrow.field(column_a).type)
    kb = id_kind(probe.file.schema_arrow.field(column_b).type)
    if ka != kb:
        raise InputError(f"{where(path, column_b)}: {kb} ids, but {column_a!r} has {ka} ids")
    assert ka is not None
    a_chunks, b_chunks, w_chunks = [], [], []
    cols = [column_a, column_b] + ([weight_column] if weight_column else [])
    for first, batch in iter_batches(probe, cols, 1_000_000):
        for k, name in ((0, column_a), (1, column_b)):
            c = batch.column(k)
            if c.null_count:
                raise InputError(f"{where(path, name, first + _first_true(c.is_null()))}: null author")
        a_chunks.append(_normalize_ids(batch.column(0), ka, (path, column_a, first)))
        b_chunks.append(_normalize_ids(batch.column(1), ka, (path, column_b, first)))
        w_chunks.append(check_weights(batch.column(2), path, weight_column, first) if weight_column
                        else np.ones(batch.num_rows))
    empty = pa.array([], pa.large_string() if ka == "string" else pa.int64())
    return (pa.concat_arrays(a_chunks) if a_chunks else empty, pa.concat_arrays(b_chunks) if b_chunks else empty,
            np.concatenate(w_chunks) if w_chunks else np.zeros(0))

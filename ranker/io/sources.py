"""Input files opened for a role (parquet, or other formats through a parquet copy), their columns checked,
streamed in record batches."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, where
from .formats import converted, detect_format, needs_conversion
from .ids import first_true, id_kind
from .pair_rows import SOURCE_ROW
from .text_batches import check_unique_columns

T = TypeVar("T")

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
    exploded: bool = False  # read through a copy with one row per (citing, cited) pair (ranker.io.formats)
    read_path: str = ""  # the parquet file read, when not ``path`` (a copy of a text file)

    def fresh_reader(self) -> pq.ParquetFile:
        """A reader of its own for one pass over the rows, dropped after it.

        A ``pq.ParquetFile`` keeps about 11 bytes per row it has read in Arrow buffers until the
        object is gone (``close()`` does not free them; measured with pyarrow 26: 110 MB per 10M
        rows of two URL columns). Readers kept open over the whole ingest held 2.5 GB at 239M
        citations, so every pass opens its own, reusing the parsed footer.
        """
        return pq.ParquetFile(self.read_path or self.path, metadata=self.file.metadata)

    def file_row(self, row: int) -> int:
        """Row number in the file of the ``row``-th row this source reads."""
        if self.ranges is not None:
            md = self.file.metadata
            for g, start, stop in self.ranges:
                if row < stop - start:
                    row = sum(md.row_group(k).num_rows for k in range(g)) + start + row
                    break
                row -= stop - start
            else:  # pragma: no cover
                raise AssertionError("row beyond the source's ranges")
        if self.exploded:  # the pair's row in the original file
            return int(self.file.read(columns=[SOURCE_ROW]).column(0)[row].as_py())
        return row


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
                                 ranges=ranges, exploded=src.exploded, read_path=src.read_path))
    return out


def open_parquet(path: str, required: dict[str, str], *, role: str, fmt: str = "auto",
                 explode: str = "") -> ParquetSource:
    """Open ``path`` and check that each required column exists with a usable type.

    Parameters
    ----------
    path : str
        The input file: parquet, or CSV/TSV/JSON Lines (gzipped or not), read through a parquet
        copy (:mod:`ranker.io.formats`).
    required : dict
        Column name -> expected kind: ``"id"`` (string or integer), ``"number"``
        (integer, floating point or boolean) or ``"text"`` (string).
    role : str
        Used in messages (``citations``, ``papers``, ``seeds``).
    fmt : {"auto", "parquet", "csv", "tsv", "jsonl"}
        The file's format; ``auto`` detects it (:func:`ranker.io.formats.detect_format`).
    explode : str
        A column that may hold lists of ids (the cited column of citations): exploded into
        one row per element.

    Raises
    ------
    InputError
        The file is missing, not parquet, truncated, or lacks a column or its type.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: {role} file not found")
    fmt = detect_format(path, fmt)
    exploded = False
    read_path = path
    if needs_conversion(path, fmt, (explode,) if explode else ()):
        ids = tuple(name for name, kind in required.items() if kind in ("id", "text"))
        numbers = tuple(name for name, kind in required.items() if kind == "number")
        keep = tuple(required) if explode else ()  # an exploded list repeats only what the job reads
        copy = converted(path, fmt, ids, explode, numbers, keep)
        read_path, exploded = copy.path, copy.exploded
    try:
        f = pq.ParquetFile(read_path)
    except FileNotFoundError:
        raise InputError(f"{path}: {role} file not found") from None
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable parquet file ({first})") from None
    src = ParquetSource(path=path, file=f, num_rows=f.metadata.num_rows, exploded=exploded,
                        read_path="" if read_path == path else read_path)
    check_unique_columns(f.schema_arrow.names, path)
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
            "number": (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                       or pa.types.is_boolean(t)),
            "text": id_kind(t) == "string",
        }[kind]
        if not ok:
            want = {"id": "string or integer ids", "number": "numbers", "text": "strings"}[kind]
            raise InputError(f"{where(src.path, name)}: has type {t}, expected {want}")


def checked_weight_column(src: ParquetSource, weight_column: str, *, role: str) -> str:
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


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items`` in their order, produced on a thread of their own up to ``depth`` ahead of the consumer.

    An exception raised by ``items`` is raised here, where the consumer would have met it; when the
    consumer stops early (an exception of its own, or closing this generator), the producer
    stops at its next item. For readers whose work (Arrow's decoding) releases the GIL, so that
    reading overlaps what the consumer does with each item.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as exc:  # handed to the consumer, in order
            slots.put((done, exc))

    thread = threading.Thread(target=produce, name="ranker-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = slots.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def _iter_rows(src: ParquetSource, columns: list[str], batch_rows: int, row_groups: list[int] | None,
               base: int, start: int, stop: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Batches of rows ``[start, stop)`` of ``row_groups`` (all when None) whose first row is file row ``base``."""
    row = 0
    kw = {} if row_groups is None else {"row_groups": row_groups}
    it = src.fresh_reader().iter_batches(batch_size=batch_rows, columns=columns, use_threads=True, **kw)
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
        raise InputError(f"{where(path, column, first_row + first_true(arr.is_null()))}: null id (or an empty cell)")


def check_weights(arr: pa.Array, path: str, column: str, first_row: int) -> np.ndarray:
    """Return weights as float64, rejecting null, NaN, infinite and negative values."""
    if arr.null_count:
        raise InputError(f"{where(path, column, first_row + first_true(arr.is_null()))}: null weight")
    w = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = first_true(bad)
        raise InputError(f"{where(path, column, first_row + i)}: bad weight {float(w[i])!r} "
                         "(weights must be finite and >= 0)")
    return w


def check_kind(kind: str | None, src_kind: str, path: str, column: str, what: str) -> str:
    if kind is not None and kind != src_kind:
        raise InputError(f"{where(path, column)}: {src_kind} ids, but {what} has {kind} ids; "
                         "all id columns must share one type")
    return src_kind



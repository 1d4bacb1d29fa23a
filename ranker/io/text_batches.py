"""Record batches of a citation file: parquet, or CSV, TSV and JSON Lines text (gzipped or not).

:func:`iter_text_batches` is what :mod:`ranker.io.formats` converts to parquet: CSV through Arrow's
reader, JSON Lines through its own chunker (:func:`json_batches`: blocks of whole lines, each
line's nesting checked first, then Arrow's parser on every core). A row longer than the block
raises :class:`Retry`, to read the file again with larger blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ..errors import InputError


def is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def first_repeated(names: list[str]) -> str | None:
    """The first column name that appears twice in ``names``, or None."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def check_unique_columns(names: list[str], path: str) -> None:
    """Refuse a file with a column named twice (readers would silently take one of them)."""
    twice = first_repeated(names)
    if twice is not None:
        raise InputError(f"{path}: column {twice!r} appears twice; give each column its own name")
#: Text read per block at first (grown when one row does not fit), and at most.
BLOCK_BYTES = 1 << 24
MAX_BLOCK_BYTES = 1 << 31
#: Nesting deeper than this in a JSON line is refused before parsing (pyarrow crashes near 30,000).
MAX_JSON_DEPTH = 1000


class Retry(Exception):
    """Read the file again from the start: with larger blocks, or with some columns' types widened."""

    def __init__(self, block_size: int = 0, types: dict[str, pa.DataType] | None = None) -> None:
        self.block_size, self.types = block_size, types or {}


def iter_text_batches(path: str, fmt: str, id_columns: tuple[str, ...], types: dict[str, pa.DataType] | None = None,
                      block_size: int = BLOCK_BYTES, only: tuple[str, ...] = ()) -> Iterator[pa.RecordBatch]:
    """Record batches of a parquet, CSV, TSV or JSON Lines file (gzip detected by content).

    Id columns are read as text; ``types`` fixes other columns' types (numbers the job needs,
    columns widened after a first pass). CSV allows newlines inside quoted values; an empty
    cell of a text column is null, so a blank id is refused like a null one. ``only``: the
    columns the caller keeps (JSON Lines: once the first block gave their types, the other
    fields of a record are skipped by the parser, :func:`json_batches`).
    """
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=1 << 16)
        return
    stream = pa.input_stream(path, compression="gzip" if is_gzip(path) else None)
    if fmt == "jsonl":  # JSON keeps its types: numbers are integer ids, strings string ids, arrays lists
        yield from json_batches(stream, path, dict(types or {}), block_size, only)
        return
    types = {**(types or {}), **{c: pa.large_string() for c in id_columns}}
    try:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=block_size),
                                parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",",
                                                                 newlines_in_values=True),
                                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))
        check_unique_columns(reader.schema.names, path)
        yield from reader
    except pa.ArrowInvalid as exc:
        if "straddling" in str(exc) or "block size" in str(exc):
            grow_block(block_size, path)
        raise


def grow_block(block_size: int, path: str) -> None:
    if block_size >= MAX_BLOCK_BYTES:
        raise InputError(f"{path}: a row is longer than {MAX_BLOCK_BYTES >> 20} MB; split it, or check that "
                         "quotes are closed") from None
    raise Retry(block_size=block_size * 4) from None


def first_deep_line(chunk: bytes, limit: int) -> int:
    """Index (from 0) of the first line of ``chunk`` nested deeper than ``limit``, or -1.

    A line holding at most ``limit`` opening brackets (``{`` or ``[``, inside strings too) cannot
    be nested deeper than ``limit``: numpy counts them per line, and only a block with a line over
    that count is scanned by :func:`ranker.kernels.json_depth.deep_line` (numba, loaded then).
    Records hold far fewer than :data:`MAX_JSON_DEPTH` (a generated OpenAlex-shaped work: 59,
    median of 5,000, 69 at most), so a JSON job loads nothing compiled for this check. The
    numpy count costs what the kernel's scan costs (15 ms per 16 MB block, measured).
    """
    text = np.frombuffer(chunk, np.uint8)
    opens = np.flatnonzero((text == 123) | (text == 91))  # { [
    if opens.size <= limit:
        return -1
    per_line = np.bincount(np.searchsorted(np.flatnonzero(text == 10), opens))  # a line's newline ends it
    if per_line.max() <= limit:
        return -1
    from ..kernels.json_depth import deep_line

    return deep_line(chunk, limit)


def json_batches(stream: BinaryIO, path: str, types: dict[str, pa.DataType], block_size: int,
                 only: tuple[str, ...] = ()) -> Iterator[pa.RecordBatch]:
    """JSON Lines cut into blocks of whole lines (a block grows until it holds one), each line's
    nesting checked (:func:`first_deep_line`), then parsed by pyarrow on every core.

    With ``only``, the first block is parsed in full (every field inferred) and, when it gave each
    of those columns a type, later blocks are parsed with those types and every other field
    skipped (an OpenAlex work is 3-5 KB of JSON of which ranking reads ``id`` and
    ``referenced_works``: 6x less parsing, measured). A block whose values do not fit those types
    is parsed again in full, and so are the rest, so the batches are what full parsing gives.
    """
    line0 = 0
    full = pajson.ParseOptions(explicit_schema=pa.schema(list(types.items())) if types else None,
                               unexpected_field_behavior="infer")
    narrow: pajson.ParseOptions | None = None
    first = True
    blocks = line_blocks(stream, block_size)
    while True:
        try:
            chunk = next(blocks)
        except StopIteration:
            return
        except LineTooLong:
            raise InputError(f"{path}: line {line0 + 1} is longer than {MAX_BLOCK_BYTES >> 20} MB") from None
        if not chunk.strip():
            line0 += chunk.count(b"\n")
            continue
        deep = first_deep_line(chunk, MAX_JSON_DEPTH)
        if deep >= 0:
            raise InputError(f"{path}: line {line0 + deep + 1} is nested deeper than {MAX_JSON_DEPTH} levels; "
                             "not a record this tool reads")
        lines = chunk.count(b"\n")
        table = None
        if narrow is not None:
            try:
                table = parse_json(chunk, narrow)
            except pa.ArrowInvalid:  # a value off the first block's types: this block and the rest in full
                narrow = None
        if table is None:
            try:
                table = parse_json(chunk, full)
            except pa.ArrowInvalid as exc:
                head = str(exc).strip().splitlines()[0]
                raise InputError(f"{path}: not valid JSON Lines between lines {line0 + 1} and {line0 + lines + 1} "
                                 f"({head[:300]})") from None
            check_unique_columns(table.column_names, path)
            if first and only:
                narrow = narrow_options(table.schema, only, types)
        first = False
        # one batch per block (the parser's 1 MB pieces would make as many row groups downstream)
        yield from (table.select([c for c in table.column_names if c in only]) if only else table
                    ).combine_chunks().to_batches()
        line0 += lines


class LineTooLong(Exception):
    """A line longer than :data:`MAX_BLOCK_BYTES` (the reader names it with its number)."""


def line_blocks(stream: BinaryIO, block_size: int) -> Iterator[bytes]:
    """``stream`` in blocks of whole lines, about ``block_size`` bytes each: a block grows until it
    holds a whole line (:class:`LineTooLong` past :data:`MAX_BLOCK_BYTES`); the last may end
    without a newline."""
    carry = b""
    while True:
        buf = stream.read(block_size)
        data = carry + buf if carry else buf
        if not buf:
            if data:
                yield data
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than the block: read more before cutting
            if len(data) > MAX_BLOCK_BYTES:
                raise LineTooLong
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]


def line_views(stream: BinaryIO, block_size: int) -> Iterator[memoryview]:
    """:func:`line_blocks` without copying each block twice: views of whole lines, about
    ``block_size`` bytes each. The line that spans two reads comes alone (the tail of one read
    joined to the head of the next: a copy of one line), and the rest of a read as a view of it, so
    the text is copied about once per line, not twice per block (0.15 s of a 230 MB part's
    0.30 s, measured with :func:`line_blocks`). Every view but the last ends with a newline."""
    carry = b""
    while True:
        buf = stream.read(block_size)
        if not buf:
            if carry:
                yield memoryview(carry)
            return
        head = buf.find(b"\n") + 1
        if head == 0:  # no line ends in this read: gather it
            carry += buf
            if len(carry) > MAX_BLOCK_BYTES:
                raise LineTooLong
            continue
        cut = buf.rfind(b"\n") + 1
        if carry:
            yield memoryview(carry + buf[:head])
        else:
            head = 0  # nothing carried: the first line is part of the view below
        if cut > head:
            yield memoryview(buf)[head:cut]
        carry = buf[cut:]


def narrow_options(schema: pa.Schema, only: tuple[str, ...], types: dict[str, pa.DataType]
                   ) -> pajson.ParseOptions | None:
    """Options that parse only the ``only`` columns, with the types ``schema`` (a first block) gave
    them; None when one of them is missing there or has no type yet (only nulls, empty lists), so
    that a later block could still give it one."""
    fields = []
    for name in only:
        if name not in schema.names:
            return None
        t = types.get(name, schema.field(name).type)
        if _has_null(t):
            return None
        fields.append(pa.field(name, t))
    return pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")


def _has_null(t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_null(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_null(f.type) for f in t)
    return False


def parse_json(chunk: bytes, options: pajson.ParseOptions) -> pa.Table:
    """One block of whole lines, parsed in sub-blocks of 1 MB on every core (one sub-block per line
    when a line is longer)."""
    size = 1 << 20
    while True:
        try:
            return pajson.read_json(pa.BufferReader(chunk), read_options=pajson.ReadOptions(block_size=size),
                                    parse_options=options)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or size > len(chunk):
                raise
            size *= 4

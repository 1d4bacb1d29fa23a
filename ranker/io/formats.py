"""Input files as researchers hold them: CSV, TSV and JSON Lines (gzipped or not), and list columns.

Every reader of the package reads parquet (:mod:`ranker.io.sources`): row groups for the
shares of several processes, footers for schemas and statistics. A file in another format,
or a citations file whose cited column is a list (OpenAlex's ``referenced_works``: one row per
citing paper), is first streamed into a parquet file in a temporary folder with pyarrow's own
readers (``pyarrow.csv.open_csv``, ``pyarrow.json.open_json``), one record batch at a time:

- the format comes from the name (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``/``.json``,
  ``.parquet``; a ``.gz`` suffix is gzip), else from the content (parquet magic, gzip magic,
  a leading ``{`` for JSON Lines, a tab in the first line for TSV; OpenAlex snapshot parts are
  named ``part_000.gz``), or is given by ``[input] format``;
- id columns of CSV/TSV files are read as text, so ``0001001`` keeps its zeros; JSON keeps its
  types (numbers are integer ids, strings string ids);
- a list column of cited ids is exploded into one row per (citing, cited) pair; a null list
  is a paper citing nothing, a null inside a list is an error naming the original row; the
  other columns (a weight) repeat along the pairs;
- boolean weights (Semantic Scholar's ``isinfluential``) become 0.0/1.0.

Messages name the original file and its row (data rows from 0, the header not counted). The
converted files live until the job ends (:func:`remove_converted`).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ..errors import InputError, where

log = logging.getLogger("ranker")

_EXTENSIONS = {".parquet": "parquet", ".parq": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
               ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Column of a converted file holding each row's row in the original file (exploded lists).
SOURCE_ROW = "__source_row"


@dataclass(frozen=True)
class Converted:
    """A file read through a parquet copy: where the copy is, and whether its rows were exploded."""

    path: str
    exploded: bool


_converted: dict[tuple, Converted] = {}
_folder: list[str] = []


def is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def detect_format(path: str, declared: str = "auto") -> str:
    """``parquet``, ``csv``, ``tsv`` or ``jsonl``: ``declared`` unless ``auto``, else by name, else by content."""
    if declared != "auto":
        return declared
    name = os.path.basename(path).lower()
    for suffix in (".gz", ".gzip"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    ext = os.path.splitext(name)[1]
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return "parquet"  # let the parquet reader say what is wrong with it
    if head.startswith(b"PAR1"):
        return "parquet"
    first = head.lstrip()[:1]
    if first in (b"{", b"["):
        return "jsonl"
    line = head.split(b"\n", 1)[0]
    return "tsv" if b"\t" in line else "csv"


def needs_conversion(path: str, fmt: str, list_columns: tuple[str, ...]) -> bool:
    """Whether ``path`` must be read through a parquet copy (another format, or a list id column)."""
    if fmt != "parquet":
        return True
    if not list_columns:
        return False
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError):
        return False  # the parquet reader reports it
    return any(c in schema.names and _is_list(schema.field(c).type) for c in list_columns)


def column_names(path: str, fmt: str) -> list[str]:
    """The columns of a file, from the parquet footer or the first block of a text file (no copy)."""
    try:
        if fmt == "parquet":
            return pq.read_schema(path).names
        for batch in _batches(path, fmt, ()):
            return batch.schema.names
    except (pa.ArrowException, OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
        pass  # the readers report it, with the file's name
    return []


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _copy_key(path: str, fmt: str, id_columns: tuple[str, ...], how: str) -> tuple:
    """A copy is made once per job for the same file (path, size, modification time) and reading."""
    st = os.stat(path)
    return os.path.realpath(path), st.st_size, st.st_mtime_ns, fmt, id_columns, how


def _copy_path(path: str) -> str:
    """Where the next parquet copy goes: the job's temporary folder (made on first use)."""
    if not _folder:
        _folder.append(tempfile.mkdtemp(prefix="rank-citations-inputs-"))
    return os.path.join(_folder[0], f"{len(_converted):04d}-{os.path.basename(path)}.parquet")


def converted(path: str, fmt: str, id_columns: tuple[str, ...], explode: str = "") -> Converted:
    """The parquet copy of ``path`` (made once per job): text id columns read as strings, the list
    column ``explode`` (a cited column) exploded into pairs, boolean columns as 0.0/1.0."""
    key = _copy_key(path, fmt, id_columns, explode)
    if key not in _converted:
        out = _copy_path(path)
        rows, pairs = _convert(path, fmt, id_columns, explode, out)
        log.info("read %s as %s%s: %d rows%s (a parquet copy in %s)", path, fmt,
                 ", gzipped" if is_gzip(path) else "", rows,
                 f", {pairs} (citing, cited) pairs from the list column {explode!r}" if explode else "", _folder[0])
        _converted[key] = Converted(out, bool(explode))
    return _converted[key]


def nested_ids(path: str, fmt: str, key_column: str, nested: str) -> Converted:
    """A parquet copy of ``path`` with one row per element of a list of records: ``key_column``,
    ``nested`` (the id at a dotted path, ``authorships.author.id``: list column ``authorships``,
    field ``author``, field ``id``) and ``position`` (the element's index in its list: byline order).

    OpenAlex works carry their authors so; a null id inside a list is an error naming the row.
    """
    key = _copy_key(path, fmt, (key_column,), "nested:" + nested)
    if key not in _converted:
        out = _copy_path(path)
        column, *fields = nested.split(".")
        writer, rows = None, 0
        try:
            for batch in _batches(path, fmt, (key_column,)):
                table = pa.Table.from_batches([batch])
                for name in (key_column, column):
                    if name not in table.column_names:
                        raise InputError(f"{path}: missing column {name!r} (authorships at {nested!r}); columns "
                                         f"are {', '.join(table.column_names)}")
                lists = table.column(column).combine_chunks()
                if not _is_list(lists.type):
                    raise InputError(f"{where(path, column)}: has type {lists.type}, expected a list of records")
                parents = pc.list_parent_indices(lists)
                values = pc.list_flatten(lists)
                for name in fields:
                    try:
                        values = pc.struct_field(values, name)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError):
                        raise InputError(f"{where(path, column)}: its records have no field {name!r} "
                                         f"(from {nested!r})") from None
                if values.null_count:
                    i = int(parents.to_numpy()[np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]])
                    raise InputError(f"{where(path, nested, rows + i)}: null author id in the list")
                offsets = lists.offsets.to_numpy()
                starts = np.repeat(offsets[:-1] - offsets[0], np.diff(offsets))
                position = np.arange(len(values), dtype=np.int64) - starts
                out_table = pa.table({key_column: table.column(key_column).take(parents), nested: values,
                                      "position": position, SOURCE_ROW: pc.add(parents.cast(pa.int64()), rows)})
                if writer is None:
                    writer = pq.ParquetWriter(out, out_table.schema, compression="zstd")
                writer.write_table(out_table.cast(writer.schema))
                rows += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, gzip.BadGzipFile) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: not a readable {fmt} file near data row {rows} ({first[:300]})") from None
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise InputError(f"{path}: no rows: not a readable {fmt} file")
        log.info("read %s: authorships from %r, one row per author (a parquet copy in %s)", path, nested, _folder[0])
        _converted[key] = Converted(out, True)
    return _converted[key]


def remove_converted() -> None:
    """Remove the parquet copies of this process's inputs (at the end of a job)."""
    _converted.clear()
    while _folder:
        shutil.rmtree(_folder.pop(), ignore_errors=True)


def _batches(path: str, fmt: str, id_columns: tuple[str, ...]):
    """Record batches of a parquet, CSV, TSV or JSON Lines file (gzip detected by content)."""
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=1 << 16)
        return
    stream = pa.input_stream(path, compression="gzip" if is_gzip(path) else None)
    if fmt == "jsonl":
        reader = pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=1 << 24))
    else:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
                                convert_options=pacsv.ConvertOptions(
                                    column_types={c: pa.large_string() for c in id_columns}))
    yield from reader


def _convert(path: str, fmt: str, id_columns: tuple[str, ...], explode: str, out: str) -> tuple[int, int]:
    """Stream ``path`` into the parquet file ``out``; returns (rows read, rows written)."""
    writer = None
    rows = pairs = 0
    try:
        try:
            for batch in _batches(path, fmt, id_columns):
                table = _normalize(pa.Table.from_batches([batch]), path, explode, rows)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema, compression="zstd")
                elif table.schema != writer.schema:
                    table = _cast_like(table, writer.schema, path, rows)
                writer.write_table(table, row_group_size=1 << 20)
                rows += batch.num_rows
                pairs += table.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: not a readable {fmt} file near data row {rows} ({first[:300]})") from None
        if writer is None:
            raise InputError(f"{path}: no rows and no header: not a readable {fmt} file")
    finally:
        if writer is not None:
            writer.close()
    return rows, pairs


def _normalize(table: pa.Table, path: str, explode: str, first_row: int) -> pa.Table:
    """Booleans as 0.0/1.0; the list column ``explode`` as one row per element, with each pair's row."""
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        cols[name] = col.cast(pa.float64()) if pa.types.is_boolean(col.type) else col
    table = pa.table(cols)
    if not explode or explode not in table.column_names or not _is_list(table.schema.field(explode).type):
        return table
    lists = table.column(explode).combine_chunks()
    flat = pc.list_flatten(lists)
    if flat.null_count:
        parents = pc.list_parent_indices(lists).to_numpy()
        i = int(parents[np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0]])
        raise InputError(f"{where(path, explode, first_row + i)}: null id in the list")
    parents = pc.list_parent_indices(lists)
    out = {name: (flat if name == explode else table.column(name).take(parents)) for name in table.column_names}
    out[SOURCE_ROW] = pc.add(parents.cast(pa.int64()), first_row)
    return pa.table(out)


def _cast_like(table: pa.Table, schema: pa.Schema, path: str, first_row: int) -> pa.Table:
    """A later batch whose inferred types differ from the first's (JSON: a null-only first block)."""
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise InputError(f"{path}: near data row {first_row} the columns change type or name "
                         f"({str(exc).splitlines()[0][:200]}); set the types consistently") from None

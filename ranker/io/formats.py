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

import errno
import fcntl
import gzip
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError, OutputError, where
from .outputs import folders_named
from .pair_rows import SOURCE_ROW, cast_like, is_list, rows_of_pairs
from .text_batches import (
    BLOCK_BYTES,
    Retry,
    is_gzip,
    iter_text_batches,
)

log = logging.getLogger("ranker")

_EXTENSIONS = {".parquet": "parquet", ".parq": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
               ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Column of a converted file holding each row's row in the original file (exploded lists).


@dataclass(frozen=True)
class Converted:
    """A file read through a parquet copy: where the copy is, and whether its rows were exploded."""

    path: str
    exploded: bool


_converted: dict[tuple, Converted] = {}
_folder: list[str] = []
_naming = threading.Lock()  # files are converted on several threads (ranker.io.citations)
_named: list[int] = [0]


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
    index = [schema.get_field_index(c) for c in list_columns]  # -1 when missing or twice: reported on opening
    return any(i >= 0 and is_list(schema.field(i).type) for i in index)


def column_names(path: str, fmt: str) -> list[str]:
    """The columns of a file, from the parquet footer or the first block of a text file (no copy)."""
    try:
        if fmt == "parquet":
            return pq.read_schema(path).names
        for batch in iter_text_batches(path, fmt, ()):
            return batch.schema.names
    except (pa.ArrowException, OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
        pass  # the readers report it, with the file's name
    return []


def _copy_key(path: str, fmt: str, id_columns: tuple[str, ...], how: str) -> tuple:
    """A copy is made once per job for the same file state and reading. The change time and inode
    are in the key: an edit that keeps size and modification time (``cp -p``, ``rsync -t``) still
    changes ``st_ctime``, which no user tool can set back."""
    st = os.stat(path)
    return os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, fmt, id_columns, how


#: Temp folders of parquet copies: ``rank-citations-inputs-<pid>-<random>``, each holding a locked ``.lock``.
COPY_FOLDER = re.compile(r"^rank-citations-inputs-(\d+-)?[A-Za-z0-9_]{8}$")
_folder_lock: list[int] = []


def _copy_path(path: str) -> str:
    """Where the next parquet copy goes: the job's temporary folder (made on first use, after
    sweeping the folders of processes that died without removing theirs)."""
    with _naming:
        if not _folder:
            sweep_copy_folders()
            folder = tempfile.mkdtemp(prefix=f"rank-citations-inputs-{os.getpid()}-")
            fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process lives: a sweep knows the folder is in use
            _folder.append(folder)
            _folder_lock.append(fd)
        _named[0] += 1
        return os.path.join(_folder[0], f"{_named[0]:04d}-{os.path.basename(path)}.parquet")


def sweep_copy_folders(directory: str | None = None) -> int:
    """Remove the parquet-copy folders that processes killed earlier (``kill -9``, out of memory, a
    crash) left in the temp folder; returns how many. A folder is in use while its ``.lock`` is
    locked by a living process; one without a lock file (older versions) is removed after a day."""
    directory = directory or tempfile.gettempdir()
    n = 0
    for entry in folders_named(directory, COPY_FOLDER):
        if entry.path in _folder:
            continue
        lock = os.path.join(entry.path, ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            try:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > 86400
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                n += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a running job's folder
            os.close(fd)
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        os.close(fd)
        n += 1
    if n:
        log.info("removed %d folder(s) of parquet copies left in %s by jobs that were killed", n, directory)
    return n


def converted(path: str, fmt: str, id_columns: tuple[str, ...], explode: str = "",
              number_columns: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> Converted:
    """The parquet copy of ``path`` (made once per job): text id columns read as strings, the list
    column ``explode`` (a cited column) exploded into pairs, boolean columns as 0.0/1.0.

    ``number_columns`` are read as float64 (a weight that is integral in the first rows and
    fractional later). ``keep``, when given, are the only columns copied: an exploded list
    repeats every other column once per element, so the others are left out.
    """
    key = _copy_key(path, fmt, id_columns, f"{explode}|{number_columns}|{keep}")
    if key not in _converted:
        out = _copy_path(path)
        types = {c: pa.float64() for c in number_columns} if fmt in ("csv", "tsv") else {}
        rows, pairs = _convert(path, fmt, id_columns, explode, out, types, keep)
        exploded = SOURCE_ROW in pq.read_schema(out).names  # the cited column held lists
        log.info("read %s as %s%s: %d rows%s (a parquet copy in %s)", path, fmt,
                 ", gzipped" if is_gzip(path) else "", rows,
                 f", {pairs} (citing, cited) pairs from the list column {explode!r}" if exploded else "", _folder[0])
        _converted[key] = Converted(out, exploded)
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
            for batch in iter_text_batches(path, fmt, (key_column,)):
                table = pa.Table.from_batches([batch])
                for name in (key_column, column):
                    if name not in table.column_names:
                        raise InputError(f"{path}: missing column {name!r} (authorships at {nested!r}); columns "
                                         f"are {', '.join(table.column_names)}")
                lists = table.column(column).combine_chunks()
                if not is_list(lists.type):
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
    """Remove the parquet copies of this process's inputs (at the end of a job, or of :func:`ranker.rank`)."""
    _converted.clear()
    while _folder:
        shutil.rmtree(_folder.pop(), ignore_errors=True)
    while _folder_lock:
        os.close(_folder_lock.pop())


def _convert(path: str, fmt: str, id_columns: tuple[str, ...], explode: str, out: str,
             types: dict[str, pa.DataType] | None = None, keep: tuple[str, ...] = ()) -> tuple[int, int]:
    """Stream ``path`` into the parquet file ``out``; returns (rows read, rows written).

    A column whose type changes along the file (integers, then a fraction; nulls, then text)
    gets the wider type and the file is read again from the start: types come from the whole
    column. A row longer than the block grows the block and starts again likewise.
    """
    types, block_size = dict(types or {}), BLOCK_BYTES
    for _ in range(64):
        try:
            return _convert_once(path, fmt, id_columns, explode, out, types, keep, block_size)
        except Retry as again:
            block_size = max(block_size, again.block_size)
            types.update(again.types)
            if again.types:
                log.info("%s: column(s) %s change type along the file; reading it again as %s", path,
                         ", ".join(again.types), ", ".join(str(t) for t in again.types.values()))
    raise InputError(f"{path}: the columns' types keep changing along the file; convert it to parquet first")


def _convert_once(path: str, fmt: str, id_columns: tuple[str, ...], explode: str, out: str,
                  types: dict[str, pa.DataType], keep: tuple[str, ...], block_size: int) -> tuple[int, int]:
    writer = None
    rows = pairs = 0
    try:
        try:
            for batch in iter_text_batches(path, fmt, id_columns, types, block_size, only=keep):
                table = pa.Table.from_batches([batch])
                if keep:
                    table = table.select([c for c in table.column_names if c in keep])
                table = rows_of_pairs(table, path, explode, rows)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema, compression="zstd")
                elif table.schema != writer.schema:
                    table = cast_like(table, writer.schema, path, rows)
                _write(writer, table, out, path)
                rows += batch.num_rows
                pairs += table.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: not a readable {fmt} file near data row {rows} ({first[:300]})") from None
        if writer is None:
            raise InputError(f"{path}: no rows and no header: not a readable {fmt} file")
    finally:
        if writer is not None:
            try:
                writer.close()
            except (OSError, pa.ArrowException):
                pass
    return rows, pairs


def _write(writer: pq.ParquetWriter, table: pa.Table, out: str, path: str) -> None:
    """Append to the copy; a full temp folder is said as such, not as a bad input."""
    try:
        writer.write_table(table, row_group_size=1 << 20)
    except (OSError, pa.ArrowException) as exc:
        text = str(exc)
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "quota" in text:
            folder = os.path.dirname(out)
            raise OutputError(f"{folder}: no space left in the temp folder writing the parquet copy of {path}; "
                              "point TMPDIR at a folder with room (the copy takes about the size of the "
                              "uncompressed columns) or convert the file to parquet") from None
        raise
